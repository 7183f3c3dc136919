/**
 * The IMAP wire layer (sans-I/O): receiver (bytes → events), parser (tokens → typed
 * commands), encoder (typed responses → bytes), and the grammar utilities they share.
 * @module
 */
export * from './errors.js';
export * from './tokens.js';
export * from './receiver.js';
export * from './commands.js';
export { parseCommand, parsePendingAppend, parseAuthResponseLine, decodeSaslResponse, type PendingAppend } from './parse.js';
export { Decoder, HIERARCHY_DELIMITER, parseDateText, parseDateTime, parseFlag } from './decoder.js';
export { MAX_SEARCH_DEPTH } from './parse-search.js';
export * from './sequence-set.js';
export * from './mutf7.js';
export * as encode from './encoder.js';
