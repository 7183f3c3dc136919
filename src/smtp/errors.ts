/**
 * Control-flow errors of the SMTP session. Replies to commands are SmtpReplyError
 * (src/wire/smtp); this one ends the session.
 * @module
 */

/** Thrown to end the session after the replies queued so far (QUIT, 421, protocol violations). */
export class SessionEnd extends Error {
  constructor(readonly why: string) {
    super(`session ends: ${why}`);
    this.name = 'SessionEnd';
  }
}

/** Something thrown, as an Error (for errors kept and rethrown later). */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
