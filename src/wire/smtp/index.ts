/**
 * SMTP wire layer (RFC 5321 and extensions), sans-I/O: the receiver turns bytes into events,
 * the parser turns command lines into typed commands, and replies turn into bytes.
 * @module
 */
export * from './receiver.js';
export * from './command.js';
export * from './reply.js';
export { decodeXtext, encodeXtext, XtextError } from './xtext.js';
export { AddressSyntaxError, isIpv6Addr, isIpv4AddressLiteral, quoteLocalPart } from './address.js';
