/**
 * Header blocks as raw fields: split, unfolded, but not decoded.
 *
 * Values are kept as "byte strings" (latin1: one char per octet) so that structural parsing
 * (Content-Type, addresses) sees the exact bytes, and `bytesToText` turns a value into text
 * only at the end (UTF-8 when it is valid UTF-8, latin1 otherwise; RFC 6532 allows raw UTF-8).
 * @module
 */

/** One header field: the name as written and the unfolded value as a byte string. */
export interface RawField {
  /** Name as written, trailing whitespace before the colon removed (RFC 5322 4.5.2 obs-optional). */
  readonly name: string;
  /** Lower-cased name, for lookups. */
  readonly key: string;
  /** Value after the colon, unfolded (CR and LF removed, RFC 5322 2.2.3), trimmed of SP/HTAB. */
  readonly value: string;
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');

/** Removes leading and trailing SP, HTAB, CR and LF (String.trim would also eat NBSP, 0xA0). */
export function trimWsp(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isWsp(value.charCodeAt(start))) start++;
  while (end > start && isWsp(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function isWsp(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0d || code === 0x0a;
}

/** True when every char of a byte string is 7-bit. */
export function isAscii(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[^\x00-\x7f]/.test(value);
}

/**
 * Turns a byte string (latin1) into text: UTF-8 (RFC 6532) when it is UTF-8, latin1 otherwise.
 * See `bufferToText`.
 */
export function bytesToText(bytes: string): string {
  if (isAscii(bytes)) return bytes;
  return bufferToText(Buffer.from(bytes, 'latin1'));
}

/**
 * Bytes of a header value as text. Valid UTF-8 is UTF-8. Invalid UTF-8 is read as UTF-8 (with
 * U+FFFD for the bad bytes) when it is mostly UTF-8, e.g. a name cut in the middle of a
 * character, and as latin1 otherwise (8-bit bytes from a legacy charset).
 */
export function bufferToText(bytes: Uint8Array): string {
  try {
    return utf8Fatal.decode(bytes);
  } catch {
    const lenient = utf8Lenient.decode(bytes);
    let good = 0;
    let bad = 0;
    for (const ch of lenient) {
      if (ch === '\ufffd') bad++;
      else if (ch.charCodeAt(0) > 0x7f) good++;
    }
    return good > bad ? lenient : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }
}

/**
 * Splits a header block into fields. Stops at the first empty line (the end of the header).
 * Lines without a colon are not fields; like Dovecot we skip them (and the continuation lines
 * that follow them) rather than ending the header, so a stray line does not turn the rest of
 * the header into body.
 */
export function parseHeaderBlock(block: Buffer): RawField[] {
  const text = block.toString('latin1');
  const fields: RawField[] = [];
  let name: string | null = null;
  let value = '';
  const flush = (): void => {
    if (name !== null) fields.push({ name, key: name.toLowerCase(), value: trimWsp(value) });
    name = null;
    value = '';
  };
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = text.length;
    let line = text.slice(pos, end);
    pos = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0) break;
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      // RFC 5322 2.2.3 unfolding removes the CRLF; the indentation that made the fold is
      // shown as one space, as Dovecot and most clients do.
      if (name !== null) value += ' ' + trimWsp(line);
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const fieldName = trimWsp(line.slice(0, colon));
    if (fieldName.length === 0 || /[\s]/.test(fieldName)) continue;
    name = fieldName;
    value = line.slice(colon + 1);
  }
  flush();
  return fields;
}

/** Unfolds a value that may still contain line breaks (RFC 5322 2.2.3). */
export function unfold(value: string): string {
  return value.replace(/\r?\n/g, '');
}
