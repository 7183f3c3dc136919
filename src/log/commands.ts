/**
 * One structured line per command result, the same shape for SMTP, IMAP and POP3 (docs/http.md,
 * "Logs"). The connection's child logger already carries `conn`, `protocol` and `remote`; this
 * adds the verb, how it ended, how long it took and who was logged in:
 *
 *   {"level":"info","conn":"Xk3…","protocol":"imap","remote":"…","command":"UID FETCH",
 *    "result":"OK","ms":1.2,"user":"ann@example.org","msg":"command"}
 *
 * Only the verb is logged, never arguments: AUTH, LOGIN, PASS and APOP arguments carry
 * credentials, and others carry addresses or search terms that do not belong in every line.
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from './index.js';

/** A verb as it appears in logs: upper-case letters, digits, "-" and "_", at most "UID X". */
const PLAIN_VERB = /^[A-Z][A-Z0-9_-]{0,23}(?: [A-Z][A-Z0-9_-]{0,23})?$/;

export interface CommandLogEntry {
  /** The verb only (IMAP "UID FETCH"); see commandName for lines that did not parse. */
  command: string;
  /** As the protocol says it: IMAP `OK`/`NO`/`BAD`, SMTP the reply code, POP3 `+OK`/`-ERR`. */
  result: string;
  /** IMAP response code, SMTP enhanced status code or POP3 extended code, when there was one. */
  code?: string | null;
  /** performance.now() when the command started. */
  startedAt: number;
  /** The logged-in (or, before login, claimed) user, when known. */
  user?: string | null;
}

/** When a command starts, for CommandLogEntry.startedAt. */
export function commandStart(): number {
  return performance.now();
}

/** Writes the line at info level (a silent or warn-level logger drops it at no cost). */
export function logCommand(log: Logger, entry: CommandLogEntry): void {
  if (!log.isLevelEnabled('info')) return;
  const fields: Record<string, unknown> = {
    command: entry.command,
    result: entry.result,
    ms: Math.round((performance.now() - entry.startedAt) * 10) / 10,
  };
  if (entry.code !== undefined && entry.code !== null) fields.code = entry.code;
  if (entry.user !== undefined && entry.user !== null) fields.user = entry.user;
  log.info(fields, 'command');
}

/**
 * The name to log and count for a line: the verb when the protocol knows it, else `UNKNOWN`.
 * A line that is not a command may be anything (a password typed at the wrong prompt, an HTTP
 * request), so its first word is never repeated.
 */
export function commandName(verb: string, known: (verb: string) => boolean): string {
  const upper = verb.toUpperCase();
  return PLAIN_VERB.test(upper) && known(upper) ? upper : 'UNKNOWN';
}
