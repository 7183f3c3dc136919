/**
 * SMTP server sessions (RFC 5321 and extensions) for the `smtp`, `submission` and
 * `submissions` listeners. See docs/smtp.md.
 * @module
 */
export { SmtpHandler, sessionSettings, LISTENER_POLICIES } from './handler.js';
export type { SmtpHandlerOptions } from './handler.js';
export type { ListenerPolicy, SessionSettings, SmtpListenerName, SmtpServices } from './types.js';
