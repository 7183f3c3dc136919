/**
 * Errors of the IMAP wire layer. The session maps them once, at its command boundary:
 * `ImapParseError` becomes a tagged BAD (untagged when no tag could be read); usage errors
 * are bugs in the caller and are logged as such.
 * @module
 */

/** Why a command could not be parsed. `unknownCommand` lets the session count or drop
 * unknown commands before authentication (a cross-protocol attack mitigation). */
export type ImapParseErrorKind = 'syntax' | 'unknownCommand' | 'tooDeep';

/** A client sent something that does not match the formal syntax (RFC 3501 9). → BAD. */
export class ImapParseError extends Error {
  override readonly name = 'ImapParseError';
  constructor(
    message: string,
    readonly kind: ImapParseErrorKind = 'syntax',
  ) {
    super(message);
  }
}

/** A caller used a wire API in a way that makes no sense (a bug, not bad input): a receiver
 * method in the wrong state, or a "$" sequence set used before the session resolved it. */
export class ImapUsageError extends Error {
  override readonly name = 'ImapUsageError';
}

/** An encoder was asked to write a value the grammar cannot carry (a bug in the caller). */
export class ImapEncodeError extends Error {
  override readonly name = 'ImapEncodeError';
}
