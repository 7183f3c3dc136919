/**
 * The one error a POP3 handler throws to answer `-ERR` (RFC 1939 3), with an optional
 * response code (RFC 2449 8, RFC 3206). The session maps it, and everything else, once per
 * command (./session.ts).
 * @module
 */
import type { Pop3ResponseCode } from '../wire/pop3/index.js';

export class Pop3Err extends Error {
  constructor(
    readonly code: Pop3ResponseCode | null,
    readonly text: string,
  ) {
    super(code === null ? text : `[${code}] ${text}`);
    this.name = 'Pop3Err';
  }
}

/** The negative answers used in more than one place, with stable names. */
export const Pop3Errors = {
  wrongState: () => new Pop3Err(null, 'command not valid in this state'),
  authFailed: () => new Pop3Err('AUTH', 'authentication failed'),
  plaintextRefused: () => new Pop3Err('AUTH', 'plaintext authentication is not allowed without TLS, use STLS'),
  authUnavailable: () => new Pop3Err('SYS/TEMP', 'authentication temporarily unavailable, try again later'),
  inUse: () => new Pop3Err('IN-USE', 'maildrop is locked by another POP3 session'),
  noSuchMessage: (count: number) => new Pop3Err(null, `no such message, only ${count} message${count === 1 ? '' : 's'} in maildrop`),
  alreadyDeleted: (number: number) => new Pop3Err(null, `message ${number} already deleted`),
  expunged: (number: number) => new Pop3Err(null, `message ${number} no longer exists (removed by another session)`),
} as const;
