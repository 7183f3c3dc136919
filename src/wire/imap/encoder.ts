/**
 * Everything the encoder offers, for `import { encode } from 'wire/imap'`.
 * @module
 */
export * from './encode.js';
export * from './encode-message.js';
