/**
 * Decoded text of a message for IMAP SEARCH BODY / TEXT (RFC 3501 6.4.4).
 *
 * The index stores no text: it is decoded on demand from the stored bytes and the part
 * offsets (see docs/message-index.md for why). Text parts (text/*), including those inside
 * embedded messages, are transfer-decoded (RFC 2045 6.7 quoted-printable, 6.8 base64),
 * converted from their charset to UTF-8, and HTML is reduced to its text.
 * @module
 */
import { decode as decodeQuotedPrintable } from 'libqp';
import type { MessageIndex, MimePart } from './types.js';
import { decodeCharset } from './charset.js';

export { decodeHeaderValue } from './encoded-words.js';

/** Default cap on the returned text, in UTF-16 code units. */
export const DEFAULT_MAX_TEXT = 4 * 1024 * 1024;

/**
 * The text of every text/* part of `bytes`, in document order, separated by newlines.
 * Stops at `maxChars`. Never throws on bad content.
 */
export function extractText(bytes: Uint8Array, index: MessageIndex, maxChars: number = DEFAULT_MAX_TEXT): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pieces: string[] = [];
  let length = 0;
  for (const part of textParts(index.part)) {
    if (length >= maxChars) break;
    // 12 octets per character at most (a 4-octet UTF-8 character, quoted-printable): no need
    // to decode more of a huge part than can end up in the result.
    const end = Math.min(part.bodyEnd, buf.length, part.bodyStart + (maxChars - length) * 12);
    if (part.bodyStart >= end) continue;
    const text = partText(buf.subarray(part.bodyStart, end), part);
    if (text.length === 0) continue;
    pieces.push(text);
    length += text.length + 1;
  }
  const all = pieces.join('\n');
  return all.length > maxChars ? all.slice(0, maxChars) : all;
}

/** Leaf text/* parts in document order, descending into multiparts and embedded messages. */
export function* textParts(part: MimePart): Generator<MimePart> {
  if (part.children) {
    for (const child of part.children) yield* textParts(child);
  } else if (part.message) {
    yield* textParts(part.message.part);
  } else if (part.type === 'text') {
    yield part;
  }
}

/** One part's body as text: transfer decoding, charset, HTML to text. */
export function partText(body: Buffer, part: MimePart): string {
  const decoded = decodeTransfer(body, part.encoding);
  const charset = part.params.find(([name]) => name === 'charset')?.[1] ?? null;
  const text = decodeCharset(decoded, charset);
  return part.subtype === 'html' ? htmlToText(text) : text;
}

/** RFC 2045 6: undoes the transfer encoding; unknown encodings are taken as they are. */
export function decodeTransfer(body: Buffer, encoding: string): Buffer {
  switch (encoding.toUpperCase()) {
    case 'BASE64':
      // Buffer's base64 decoder skips whitespace and stops at garbage, which is what we want.
      return Buffer.from(body.toString('latin1'), 'base64');
    case 'QUOTED-PRINTABLE':
      return decodeQuotedPrintable(body);
    default:
      return body;
  }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** A rough HTML → text: drops scripts, styles, comments and tags, decodes common entities. */
export function htmlToText(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<\/?(br|p|div|li|tr|h[1-6])\b[^>]*>/gi, '\n')
    // Inline elements join the text around them; any other tag separates words.
    .replace(/<\/?(a|b|i|u|em|strong|span|font|small|big|sub|sup|code|abbr)\b[^>]*>/gi, '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (match, entity: string) => decodeEntity(entity) ?? match)
    .replace(/[ \t\r\f\v]+/g, ' ')
    .replace(/ *\n[\n ]*/g, '\n')
    .trim();
}

function decodeEntity(entity: string): string | null {
  if (entity[0] === '#') {
    const code = entity[1] === 'x' || entity[1] === 'X' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
    return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : null;
  }
  return ENTITIES[entity.toLowerCase()] ?? null;
}
