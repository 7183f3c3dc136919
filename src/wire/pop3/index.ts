/**
 * POP3 wire layer (RFC 1939, RFC 2449, RFC 2595, RFC 5034), sans-I/O: the receiver turns bytes
 * into command lines, the parser turns lines into typed commands, responses and message bodies
 * turn into bytes.
 * @module
 */
export * from './receiver.js';
export * from './command.js';
export * from './response.js';
export * from './message.js';
