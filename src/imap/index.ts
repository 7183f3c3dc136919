/**
 * IMAP4rev1 server sessions (RFC 3501 and the extensions in docs/imap.md) for the `imap` and
 * `imaps` listeners.
 * @module
 */
export { ImapHandler, imapHandlerFactories, imapSettings } from './handler.js';
export type { ImapAuth, ImapHandlerOptions } from './handler.js';
export type { ImapServices, ImapSettings } from './types.js';
