/**
 * Parsers for the MIME Content-* fields: Content-Type (RFC 2045 5.1) and Content-Disposition
 * (RFC 2183) with RFC 2231 parameter continuations and charsets, Content-Transfer-Encoding
 * (RFC 2045 6.1) and Content-Language (RFC 3282).
 *
 * Inputs are byte strings (one char per octet, see ./header.ts). Parsers are tolerant: they
 * return what can be read and never throw.
 * @module
 */
import { decodeCharset } from './charset.js';
import { decodeWords } from './encoded-words.js';
import { bytesToText, trimWsp } from './header.js';

/** One parameter as written: name lower-cased (may end in "*" or "*<n>[*]"), value unquoted. */
interface RawParam {
  name: string;
  value: string;
}

export interface ParsedContentType {
  /** Null when the field has no valid "type/subtype" (RFC 2045 5.2: treat as text/plain). */
  type: string | null;
  subtype: string | null;
  params: Array<[string, string]>;
  /** The boundary parameter as raw bytes (not decoded), or null. */
  boundary: Buffer | null;
}

export interface ParsedDisposition {
  type: string;
  params: Array<[string, string]>;
}

/** RFC 2045 5.1 token: any CHAR except SPACE, CTLs and tspecials. */
const TOKEN = /^[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+$/;

/**
 * Parses a Content-Type value. `type` and `subtype` are null when there is no valid
 * "type/subtype"; the parameters are still returned (a filename is worth keeping).
 */
export function parseContentType(value: string): ParsedContentType {
  const { head, params } = splitStructured(value);
  const slash = head.indexOf('/');
  let type: string | null = slash <= 0 ? null : head.slice(0, slash).toLowerCase();
  let subtype: string | null = slash <= 0 ? null : head.slice(slash + 1).toLowerCase();
  if (type === null || subtype === null || !TOKEN.test(type) || !TOKEN.test(subtype)) type = subtype = null;
  const rawBoundary = params.find((p) => p.name === 'boundary');
  const merged = mergeParams(params);
  let boundary: Buffer | null = null;
  if (rawBoundary) boundary = Buffer.from(rawBoundary.value, 'latin1');
  else {
    const decoded = merged.find(([name]) => name === 'boundary');
    if (decoded) boundary = Buffer.from(decoded[1], 'utf8');
  }
  return { type, subtype, params: merged, boundary };
}

/** Parses a Content-Disposition value (RFC 2183 2); null when there is no disposition type. */
export function parseDisposition(value: string): ParsedDisposition | null {
  const { head, params } = splitStructured(value);
  if (head.length === 0 || !TOKEN.test(head)) return null;
  return { type: head.toLowerCase(), params: mergeParams(params) };
}

/**
 * Content-Transfer-Encoding (RFC 2045 6.1): the mechanism upper-cased. A value that is not a
 * single token is kept as written (comments dropped, whitespace collapsed), so a client sees
 * that it cannot decode the part instead of being told it is 7bit. Null when empty.
 */
export function parseTransferEncoding(value: string): string | null {
  const text = collapse(stripComments(value));
  // A token followed by stray punctuation ("quoted-printable;") is that token.
  const token = /^([!#$%&'*+\-.^_`{|}~0-9A-Za-z]+)[\s;,]*$/.exec(text);
  if (token) return token[1]!.toUpperCase();
  return text.length === 0 ? null : bytesToText(text).toUpperCase();
}

/** Content-Language (RFC 3282): the comma-separated language tags, or null when none. */
export function parseLanguage(value: string): string[] | null {
  const tags = stripComments(value)
    .split(',')
    .map((tag) => trimWsp(tag))
    .filter((tag) => tag.length > 0 && TOKEN.test(tag));
  return tags.length > 0 ? tags : null;
}

/** Text of an unstructured Content-* field (Content-ID, -Description, -MD5, -Location). */
export function parseUnstructured(value: string): string {
  return bytesToText(value);
}

/**
 * Splits `head; name=value; ...` honouring quoted strings and comments.
 * `head` has comments and whitespace removed.
 */
function splitStructured(value: string): { head: string; params: RawParam[] } {
  const pieces = splitTopLevel(value);
  // "type/subtype name=x" (a missing ";") is common enough to recover the parameter.
  const first = trimWsp((pieces.shift() ?? '').replace(/\s*\/\s*/, '/'));
  const space = first.search(/\s/);
  const head = space === -1 ? first : first.slice(0, space);
  if (space !== -1 && first.includes('=', space)) pieces.unshift(first.slice(space + 1));
  const params: RawParam[] = [];
  for (const piece of pieces) {
    const param = parseParam(piece);
    if (param) params.push(param);
  }
  return { head, params };
}

/**
 * Splits at ";" outside quoted strings and removes comments. A "(" glued to the text before it
 * is kept as text: unquoted filenames like `name=invoice(2).pdf` are common, comments there are not.
 */
function splitTopLevel(value: string): string[] {
  const pieces: string[] = [];
  let current = '';
  let i = 0;
  while (i < value.length) {
    const ch = value[i]!;
    if (ch === '"') {
      const end = endOfQuoted(value, i);
      current += value.slice(i, end);
      i = end;
    } else if (ch === '(' && (current.length === 0 || /[\s=]$/.test(current))) {
      i = endOfComment(value, i);
      current += ' ';
    } else if (ch === ';') {
      pieces.push(current);
      current = '';
      i++;
    } else {
      current += ch;
      i++;
    }
  }
  pieces.push(current);
  return pieces;
}

function parseParam(piece: string): RawParam | null {
  const eq = piece.indexOf('=');
  if (eq === -1) return null;
  const name = trimWsp(piece.slice(0, eq)).toLowerCase();
  if (name.length === 0) return null;
  const rest = trimWsp(piece.slice(eq + 1));
  let value: string;
  if (rest.startsWith('"')) {
    const end = endOfQuoted(rest, 0);
    const closed = end <= rest.length && rest[end - 1] === '"' && end > 1;
    value = unescapeQuoted(rest.slice(1, closed ? end - 1 : end));
  } else {
    value = trimWsp(rest);
  }
  return { name, value };
}

/** Index just past the closing quote of the quoted string starting at `start` (or the end). */
function endOfQuoted(value: string, start: number): number {
  let i = start + 1;
  while (i < value.length) {
    const ch = value[i];
    if (ch === '\\') i += 2;
    else if (ch === '"') return i + 1;
    else i++;
  }
  return value.length;
}

/** Index just past the comment starting at `start`, nested comments included (RFC 5322 3.2.2). */
export function endOfComment(value: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < value.length) {
    const ch = value[i];
    if (ch === '\\') i += 2;
    else {
      if (ch === '(') depth++;
      else if (ch === ')') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
  }
  return value.length;
}

function unescapeQuoted(text: string): string {
  return text.replace(/\\(.)/gs, '$1');
}

function stripComments(value: string): string {
  let out = '';
  let i = 0;
  while (i < value.length) {
    const ch = value[i]!;
    if (ch === '(') {
      i = endOfComment(value, i);
      out += ' ';
    } else if (ch === '"') {
      const end = endOfQuoted(value, i);
      out += value.slice(i, end);
      i = end;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

function collapse(value: string): string {
  return trimWsp(value.replace(/[ \t\r\n]+/g, ' '));
}

interface Section {
  index: number;
  extended: boolean;
  value: string;
}

/**
 * RFC 2231 3-4: merges `name*0`, `name*1*`... into one parameter, decodes `charset'lang'%XX`
 * values, and decodes RFC 2047 words in plain values (not standard in parameters, but common
 * for filenames). Result in order of first appearance, first occurrence of a name wins, an
 * RFC 2231 value wins over a plain one of the same name. Names lower-cased, values UTF-8.
 */
function mergeParams(params: RawParam[]): Array<[string, string]> {
  const order: string[] = [];
  const plain = new Map<string, string>();
  const sections = new Map<string, Section[]>();
  for (const { name, value } of params) {
    const match = /^(.+?)\*(?:(\d{1,3})(\*)?)?$/.exec(name);
    const base = match ? match[1]! : name;
    if (!order.includes(base)) order.push(base);
    if (!match) {
      if (!plain.has(base)) plain.set(base, value);
      continue;
    }
    const index = match[2] === undefined ? 0 : Number(match[2]);
    const extended = match[2] === undefined ? true : match[3] === '*';
    const list = sections.get(base) ?? [];
    if (!list.some((s) => s.index === index)) list.push({ index, extended, value });
    sections.set(base, list);
  }
  const out: Array<[string, string]> = [];
  for (const base of order) {
    const list = sections.get(base);
    if (list) out.push([base, joinSections(list)]);
    else {
      const value = plain.get(base) ?? '';
      out.push([base, base === 'boundary' ? bytesToText(value) : decodeWords(bytesToText(value))]);
    }
  }
  return out;
}

/** RFC 2231 4: the first section may carry charset'language'; extended sections are %-encoded. */
function joinSections(list: Section[]): string {
  list.sort((a, b) => a.index - b.index);
  let charset: string | null = null;
  const bytes: Buffer[] = [];
  list.forEach((section, position) => {
    let value = section.value;
    if (position === 0 && section.extended) {
      const match = /^([^']*)'[^']*'(.*)$/s.exec(value);
      if (match) {
        charset = match[1]!;
        value = match[2]!;
      }
    }
    bytes.push(section.extended ? percentDecode(value) : Buffer.from(value, 'latin1'));
  });
  return decodeCharset(Buffer.concat(bytes), charset);
}

function percentDecode(value: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x25 && i + 2 < value.length && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      out.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(code & 0xff);
  }
  return Buffer.from(out);
}
