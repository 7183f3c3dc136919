/**
 * RFC 2047 decoding of header text, tolerant of what real mail does (encoded words glued to
 * other text, split multi-byte characters, unknown charsets, language tags as in RFC 2231 5).
 * @module
 */
import libmime from 'libmime';
import { bufferToText, bytesToText, trimWsp, unfold } from './header.js';

/**
 * Decodes a header value to UTF-8 text: unfolds it, decodes raw 8-bit bytes (UTF-8 when valid,
 * latin1 otherwise) and RFC 2047 encoded words. Never throws.
 * A string argument is taken as text already (not as a byte string).
 */
export function decodeHeaderValue(raw: string | Uint8Array): string {
  const text = typeof raw === 'string' ? raw : bufferToText(raw);
  return decodeWords(trimWsp(unfold(text)));
}

/** Decodes the encoded words in `text`; text without "=?" is returned as it is. */
export function decodeWords(text: string): string {
  if (!text.includes('=?')) return text;
  try {
    return libmime.decodeWords(text);
  } catch {
    return text;
  }
}

/** `decodeHeaderValue` for a byte string value as produced by ./header.ts. */
export function decodeByteValue(bytes: string): string {
  return decodeWords(bytesToText(bytes));
}
