/**
 * POP3 command lines → typed commands (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).
 *
 * Grammar (RFC 2449 3): `command = keyword *(SP param) CRLF`, `keyword = 3*4VCHAR`,
 * `param = 1*VCHAR`, keywords case-insensitive. Parsers are named after what they read
 * (`messageNumber`, `lineCount`); every failure is a Pop3SyntaxError naming the problem, which
 * the session answers with -ERR (RFC 1939 3: "syntactically invalid command").
 * @module
 */

export type Pop3Verb =
  | 'USER'
  | 'PASS'
  | 'APOP'
  | 'AUTH'
  | 'STLS'
  | 'CAPA'
  | 'STAT'
  | 'LIST'
  | 'RETR'
  | 'DELE'
  | 'NOOP'
  | 'RSET'
  | 'QUIT'
  | 'TOP'
  | 'UIDL';

export type Pop3Command =
  /** RFC 1939 7 USER name. */
  | { verb: 'USER'; name: string }
  /** RFC 1939 7 PASS string: everything after "PASS " (spaces belong to the password). */
  | { verb: 'PASS'; password: string }
  /** RFC 1939 7 APOP name digest. */
  | { verb: 'APOP'; name: string; digest: string }
  /** RFC 5034 4 AUTH mechanism [initial-response]; a bare AUTH (RFC 1734 era) lists mechanisms. */
  | { verb: 'AUTH'; mechanism: string | null; initialResponse: string | null }
  /** RFC 1939 5 LIST [msg]. */
  | { verb: 'LIST'; message: number | null }
  /** RFC 1939 7 UIDL [msg]. */
  | { verb: 'UIDL'; message: number | null }
  /** RFC 1939 5 RETR msg. */
  | { verb: 'RETR'; message: number }
  /** RFC 1939 5 DELE msg. */
  | { verb: 'DELE'; message: number }
  /** RFC 1939 7 TOP msg n. */
  | { verb: 'TOP'; message: number; lines: number }
  | { verb: 'STLS' }
  | { verb: 'CAPA' }
  | { verb: 'STAT' }
  | { verb: 'NOOP' }
  | { verb: 'RSET' }
  | { verb: 'QUIT' };

/** The command type of one verb. */
export type Pop3CommandOf<V extends Pop3Verb> = Extract<Pop3Command, { verb: V }>;

export type Pop3SyntaxKind = 'unknownCommand' | 'badArguments' | 'badCharacters';

export class Pop3SyntaxError extends Error {
  constructor(
    readonly kind: Pop3SyntaxKind,
    message: string,
    /** The keyword as sent (upper-cased), when there was one. */
    readonly verb: string | null = null,
  ) {
    super(message);
    this.name = 'Pop3SyntaxError';
  }
}

/** Largest message number or line count accepted: anything longer cannot name a real message. */
const MAX_NUMBER = 0xffffffff;
const VERBS: ReadonlySet<string> = new Set<Pop3Verb>(['USER', 'PASS', 'APOP', 'AUTH', 'STLS', 'CAPA', 'STAT', 'LIST', 'RETR', 'DELE', 'NOOP', 'RSET', 'QUIT', 'TOP', 'UIDL']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The keyword of a line, upper-cased ("" when the line has none); for logs and error mapping. */
export function keywordOf(line: Uint8Array): string {
  const text = Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('latin1');
  return /^[\x21-\x7e]{1,4}(?= |$)/.exec(text)?.[0]?.toUpperCase() ?? '';
}

/** Parses one command line (without CRLF). */
export function parseCommand(line: Uint8Array): Pop3Command {
  const text = decodeLine(line);
  const space = text.indexOf(' ');
  const keyword = (space === -1 ? text : text.slice(0, space)).toUpperCase();
  const raw = space === -1 ? null : text.slice(space + 1);
  if (!VERBS.has(keyword)) throw new Pop3SyntaxError('unknownCommand', 'unknown command', keyword === '' ? null : keyword.slice(0, 4));
  const verb = keyword as Pop3Verb;
  // Trailing spaces (some clients send "LIST ") carry nothing, except in a password.
  const trimmed = verb === 'PASS' || raw === null ? raw : trimTrailingSpaces(raw);
  const rest = trimmed === '' && verb !== 'PASS' ? null : trimmed;
  // PASS keeps its argument whole (RFC 1939 7: spaces may be part of the password), so only
  // the other commands are held to printable ASCII.
  if (verb !== 'PASS' && rest !== null && !/^[\x20-\x7e]*$/.test(rest)) {
    throw new Pop3SyntaxError('badCharacters', 'arguments must be printable ASCII', verb);
  }
  const params = rest === null ? [] : rest.split(' ');
  if (verb !== 'PASS' && params.some((param) => param === '')) {
    throw new Pop3SyntaxError('badArguments', 'arguments are separated by single spaces', verb);
  }
  return commandFor(verb, params, rest);
}

/** Drops trailing spaces. A loop, not / +$/: that regex is quadratic on a long run of spaces
 * followed by something else (fuzz/pop3-wire.fuzz.ts: 7 s for one 64 KiB line). */
function trimTrailingSpaces(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x20) end--;
  return end === text.length ? text : text.slice(0, end);
}

function commandFor(verb: Pop3Verb, params: string[], rest: string | null): Pop3Command {
  switch (verb) {
    case 'USER':
      return { verb, name: expectArguments(verb, params, 1, 1)[0] ?? '' };
    case 'PASS':
      if (rest === null || rest === '') throw new Pop3SyntaxError('badArguments', 'PASS needs a password', verb);
      return { verb, password: rest };
    case 'APOP': {
      const [name = '', digest = ''] = expectArguments(verb, params, 2, 2);
      return { verb, name, digest };
    }
    case 'AUTH': {
      const [mechanism = null, initialResponse = null] = expectArguments(verb, params, 0, 2);
      return { verb, mechanism, initialResponse };
    }
    case 'LIST':
    case 'UIDL': {
      const [message] = expectArguments(verb, params, 0, 1);
      return { verb, message: message === undefined ? null : messageNumber(verb, message) };
    }
    case 'RETR':
    case 'DELE':
      return { verb, message: messageNumber(verb, expectArguments(verb, params, 1, 1)[0] ?? '') };
    case 'TOP': {
      const [message = '', lines = ''] = expectArguments(verb, params, 2, 2);
      return { verb, message: messageNumber(verb, message), lines: lineCount(verb, lines) };
    }
    case 'STLS':
    case 'CAPA':
    case 'STAT':
    case 'NOOP':
    case 'RSET':
    case 'QUIT':
      expectArguments(verb, params, 0, 0);
      return { verb };
    default: {
      const unreachable: never = verb;
      throw new Pop3SyntaxError('unknownCommand', `unknown command ${String(unreachable)}`);
    }
  }
}

function expectArguments(verb: Pop3Verb, params: string[], min: number, max: number): string[] {
  if (params.length < min || params.length > max) {
    const plural = (n: number): string => `${n} argument${n === 1 ? '' : 's'}`;
    const wanted = max === 0 ? 'no arguments' : min === max ? plural(max) : min === 0 ? `at most ${plural(max)}` : `${min} to ${max} arguments`;
    throw new Pop3SyntaxError('badArguments', `${verb} takes ${wanted}`, verb);
  }
  return params;
}

/** RFC 1939 3: message numbers are base-10 and start at 1. */
function messageNumber(verb: Pop3Verb, text: string): number {
  const value = decimal(text);
  if (value === null || value === 0) throw new Pop3SyntaxError('badArguments', 'invalid message number', verb);
  return value;
}

/** RFC 1939 7 TOP: "a non-negative number of lines". */
function lineCount(verb: Pop3Verb, text: string): number {
  const value = decimal(text);
  if (value === null) throw new Pop3SyntaxError('badArguments', 'invalid number of lines', verb);
  return value;
}

function decimal(text: string): number | null {
  if (!/^[0-9]{1,10}$/.test(text)) return null;
  const value = Number(text);
  return value <= MAX_NUMBER ? value : null;
}

/** UTF-8 (a password may use it); NUL and other controls are refused outright. */
function decodeLine(line: Uint8Array): string {
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    throw new Pop3SyntaxError('badCharacters', 'invalid UTF-8', keywordOf(line) || null);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(text)) throw new Pop3SyntaxError('badCharacters', 'control characters in command', keywordOf(line) || null);
  return text;
}
