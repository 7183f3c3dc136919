/**
 * Modified UTF-7 mailbox names (RFC 3501 5.1.3) and INBOX normalization (RFC 3501 5.1, 9 `mailbox`).
 * Decoding is strict: it rejects every form the RFC calls not permitted, so that each UTF-8
 * name has exactly one wire spelling and `encode(decode(x)) === x` for every accepted x.
 * @module
 */

/** Thrown for a malformed modified UTF-7 name. Parsers turn it into a BAD. */
export class MailboxNameError extends Error {
  override readonly name = 'MailboxNameError';
}

// RFC 3501 5.1.3: modified BASE64 uses "," instead of "/".
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const ALPHABET_INDEX = new Map<string, number>([...ALPHABET].map((ch, i) => [ch, i]));

/** RFC 3501 5.1.3: "printable US-ASCII characters, except for "&", represent themselves". */
function isDirect(codeUnit: number): boolean {
  return codeUnit >= 0x20 && codeUnit <= 0x7e;
}

/** UTF-8 (JS string) → modified UTF-7. Lone surrogates cannot be encoded and throw. */
export function encodeMailboxName(name: string): string {
  let out = '';
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    out += '&' + base64Encode(utf16BeBytes(pending)) + '-';
    pending = [];
  };
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdfff) assertPairedSurrogate(name, i);
    if (isDirect(unit)) {
      flush();
      out += unit === 0x26 ? '&-' : name[i];
    } else {
      pending.push(unit);
    }
  }
  flush();
  return out;
}

/** Modified UTF-7 → UTF-8 (JS string). Throws MailboxNameError on any form RFC 3501 5.1.3 forbids. */
export function decodeMailboxName(wire: string): string {
  let out = '';
  let i = 0;
  let previousShiftEnd = -1;
  while (i < wire.length) {
    const unit = wire.charCodeAt(i);
    if (!isDirect(unit)) throw new MailboxNameError(`Mailbox name contains a character that must be encoded (position ${i})`);
    if (unit !== 0x26) {
      out += wire[i];
      i++;
      continue;
    }
    const close = wire.indexOf('-', i + 1);
    if (close < 0) throw new MailboxNameError('Mailbox name ends inside a modified BASE64 run (missing "-")');
    if (close === i + 1) {
      out += '&';
      i = close + 1;
      continue;
    }
    if (previousShiftEnd === i) throw new MailboxNameError('Mailbox name contains a superfluous shift ("-&")');
    out += decodeShiftedRun(wire.slice(i + 1, close));
    i = close + 1;
    previousShiftEnd = i;
  }
  return out;
}

/** True when `wire` is a canonical modified UTF-7 name. */
export function isValidMailboxName(wire: string): boolean {
  try {
    decodeMailboxName(wire);
    return true;
  } catch {
    return false;
  }
}

/**
 * RFC 3501 9 `mailbox`: every case variant of INBOX means INBOX. Names below INBOX
 * ("inbox/Sub") get the same treatment for their first level, as most servers do, since that
 * level names the one INBOX. Anything else is returned unchanged (other names are case-sensitive).
 */
export function normalizeInbox(name: string, delimiter = '/'): string {
  if (name.length < 5 || name.slice(0, 5).toUpperCase() !== 'INBOX') return name;
  if (name.length === 5) return 'INBOX';
  if (delimiter !== '' && name.startsWith(delimiter, 5)) return 'INBOX' + name.slice(5);
  return name;
}

function decodeShiftedRun(run: string): string {
  const bytes = base64Decode(run);
  if (bytes.length % 2 !== 0) throw new MailboxNameError('Modified BASE64 run does not hold whole UTF-16 units');
  let text = '';
  for (let k = 0; k < bytes.length; k += 2) {
    const unit = (bytes[k]! << 8) | bytes[k + 1]!;
    // RFC 3501 5.1.3: BASE64 "MUST NOT be used to represent any printing US-ASCII character".
    if (isDirect(unit)) throw new MailboxNameError('Modified BASE64 encodes a printable US-ASCII character');
    text += String.fromCharCode(unit);
  }
  for (let k = 0; k < text.length; k++) {
    const unit = text.charCodeAt(k);
    if (unit >= 0xd800 && unit <= 0xdfff) {
      assertPairedSurrogate(text, k);
      if (unit <= 0xdbff) k++;
    }
  }
  return text;
}

function assertPairedSurrogate(text: string, index: number): void {
  const unit = text.charCodeAt(index);
  if (unit <= 0xdbff) {
    const next = text.charCodeAt(index + 1);
    if (next >= 0xdc00 && next <= 0xdfff) return;
  } else {
    const previous = text.charCodeAt(index - 1);
    if (previous >= 0xd800 && previous <= 0xdbff) return;
  }
  throw new MailboxNameError('Mailbox name contains an unpaired UTF-16 surrogate');
}

function utf16BeBytes(units: readonly number[]): number[] {
  const bytes: number[] = [];
  for (const unit of units) bytes.push(unit >> 8, unit & 0xff);
  return bytes;
}

function base64Encode(bytes: readonly number[]): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += ALPHABET[(value >> bits) & 0x3f];
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (6 - bits)) & 0x3f];
  return out;
}

function base64Decode(run: string): number[] {
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of run) {
    const digit = ALPHABET_INDEX.get(ch);
    if (digit === undefined) throw new MailboxNameError(`Invalid character "${ch}" in modified BASE64`);
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >> bits) & 0xff);
    }
    value &= (1 << bits) - 1;
  }
  // Canonical form: fewer than 6 leftover bits, all zero (no padding in modified BASE64).
  if (bits >= 6 || value !== 0) throw new MailboxNameError('Modified BASE64 run has non-zero or excess padding bits');
  return bytes;
}
