/**
 * Charset → UTF-8 for body text and RFC 2231 parameter values.
 * @module
 */
import iconv from 'iconv-lite';
import { decode as libmimeDecode, normalizeCharset } from 'libmime/lib/charset.js';

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

/** Labels that promise nothing beyond ASCII; real mail under them is often UTF-8 or cp1252. */
const WEAK_LABELS = new Set(['', 'us-ascii', 'ascii', 'ansi_x3.4-1968', 'us', 'utf-8', 'utf8', 'unicode-1-1-utf-8', 'x-unknown', 'unknown', 'default']);

/** Japanese charsets libmime decodes itself (iconv-lite lacks the stateful ISO-2022-JP). */
const LIBMIME_ONLY = new Set(['ISO-2022-JP', 'ISO-2022-JP-1', 'ISO-2022-JP-2', 'ISO-2022-JP-3']);

/**
 * Decodes bytes labelled with `charset` to a string. Never throws: an unknown or missing
 * label, or invalid UTF-8 under a UTF-8/ASCII label, falls back to windows-1252 (the de facto
 * meaning of "8-bit text without a usable label").
 */
export function decodeCharset(bytes: Uint8Array, charset: string | null | undefined): string {
  const label = (charset ?? '').trim().toLowerCase();
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!WEAK_LABELS.has(label)) {
    const name = normalizeCharset(label);
    if (LIBMIME_ONLY.has(name.toUpperCase()) || iconv.encodingExists(name)) {
      try {
        return libmimeDecode(buf, name);
      } catch {
        // fall through to the lenient path
      }
    }
  }
  try {
    return utf8Fatal.decode(buf);
  } catch {
    return iconv.decode(buf, 'windows-1252');
  }
}
