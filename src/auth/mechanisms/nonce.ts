/** Nonces for server challenges. @module */
import { randomBytes } from 'node:crypto';

/** 24 random octets as base64: printable, no "," (RFC 5802 5.1 "r" attribute). */
export function defaultNonce(): string {
  return randomBytes(24).toString('base64');
}
