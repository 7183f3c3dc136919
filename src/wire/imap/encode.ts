/**
 * Response encoding (RFC 3501 7 and 9, RFC 9051 7): writers named after the grammar build
 * ImapValue trees; `untagged`, `tagged` and `continuation` serialize them to Buffer chunks.
 * Literal contents are passed through as their own chunks, never copied. A string is quoted
 * when the grammar allows it, otherwise it goes as a literal (8-bit text always does, unless
 * the client enabled UTF8=ACCEPT, RFC 6855 3).
 * @module
 */
import { ImapEncodeError } from './errors.js';
import { encodeMailboxName, normalizeInbox } from './mutf7.js';
import { formatSequenceSet, formatUidRunsInOrder } from './sequence-set.js';

export interface EncodeOptions {
  /** The client sent ENABLE UTF8=ACCEPT: UTF-8 may be quoted, mailbox names go as UTF-8. */
  utf8?: boolean;
}

export type ImapValue =
  /** Written verbatim: atoms, numbers, flags, and server-built syntax such as `BODY[1]<0>`. */
  | { readonly kind: 'raw'; readonly text: string }
  | { readonly kind: 'nil' }
  /** `form` "auto" chooses quoted or literal; "literal8" is RFC 3516 `~{n}`. */
  | { readonly kind: 'string'; readonly value: Buffer; readonly form: 'auto' | 'quoted' | 'literal' | 'literal8' }
  | { readonly kind: 'astring'; readonly value: Buffer }
  | { readonly kind: 'list'; readonly items: readonly ImapValue[] }
  /** Items written with no separator (RFC 3501 9 `body-type-mpart` = 1*body SP ...). */
  | { readonly kind: 'concat'; readonly items: readonly ImapValue[] };

/** Quoted strings longer than this go as literals: easier for clients, no escaping cost. */
const MAX_QUOTED_LENGTH = 1024;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// ---------------------------------------------------------------------------------------------
// Writers for grammar productions

/** RFC 3501 9 `atom` (also used for flags "\Seen" and keywords): checked, written as is. */
export function atom(text: string): ImapValue {
  if (!/^[\x21-\x7e]+$/.test(text) || /[(){%*"\]]/.test(text.replace(/^\\\*$/, ''))) throw new ImapEncodeError(`Not an atom: ${JSON.stringify(text)}`);
  return { kind: 'raw', text };
}

/** Server-built syntax written verbatim (7-bit, no CR/LF). */
export function raw(text: string): ImapValue {
  if (!/^[\x20-\x7e]*$/.test(text)) throw new ImapEncodeError(`Raw response text must be printable ASCII: ${JSON.stringify(text)}`);
  return { kind: 'raw', text };
}

/** RFC 3501 9 `number` / RFC 9051 `number64`. */
export function number(value: number): ImapValue {
  if (!Number.isSafeInteger(value) || value < 0) throw new ImapEncodeError(`Not a number: ${value}`);
  return { kind: 'raw', text: String(value) };
}

export const nil: ImapValue = { kind: 'nil' };

/** RFC 3501 9 `string`: quoted when possible, otherwise a literal. */
export function string(value: string | Buffer): ImapValue {
  return { kind: 'string', value: toBuffer(value), form: 'auto' };
}

/** RFC 3501 9 `quoted`; the serializer throws if the value cannot be quoted. */
export function quoted(value: string | Buffer): ImapValue {
  return { kind: 'string', value: toBuffer(value), form: 'quoted' };
}

/** RFC 3501 9 `literal` (synchronizing form: servers never send `{n+}`, RFC 7888 3). */
export function literal(value: string | Buffer): ImapValue {
  return { kind: 'string', value: toBuffer(value), form: 'literal' };
}

/** RFC 3516 `literal8` = "~{" number "}" CRLF *OCTET, for BINARY data that may contain NUL. */
export function literal8(value: Buffer): ImapValue {
  return { kind: 'string', value, form: 'literal8' };
}

/** RFC 3501 9 `astring`: an atom when possible (never "NIL"), otherwise a string. */
export function astring(value: string | Buffer): ImapValue {
  return { kind: 'astring', value: toBuffer(value) };
}

/** RFC 3501 9 `nstring` = string / nil. */
export function nstring(value: string | Buffer | null): ImapValue {
  return value === null ? nil : string(value);
}

/** "(" items separated by SP ")" */
export function list(items: readonly ImapValue[]): ImapValue {
  return { kind: 'list', items };
}

/** Items with no separator between them. */
export function concat(items: readonly ImapValue[]): ImapValue {
  return { kind: 'concat', items };
}

/** RFC 3501 9 `flag-list` (also `flag-fetch` lists, and `flag-perm` with "\*"). */
export function flagList(flags: readonly string[]): ImapValue {
  return list(flags.map(atom));
}

/**
 * A mailbox name as sent to the client: INBOX in its canonical spelling, modified UTF-7
 * (RFC 3501 5.1.3) unless UTF-8 was enabled (RFC 6855 3), as an astring. Pass
 * `{ utf8: true }` when the client has enabled UTF8=ACCEPT.
 */
export function mailboxName(name: string, options: EncodeOptions = {}): ImapValue {
  const normalized = normalizeInbox(name);
  return astring(options.utf8 === true ? normalized : encodeMailboxName(normalized));
}

/** A sequence set from numbers, sorted and compressed: `1:5,7,9:12`. */
export function sequenceSet(numbers: Iterable<number>): ImapValue {
  const text = formatSequenceSet(numbers);
  if (text === '') throw new ImapEncodeError('An empty sequence set cannot be written');
  return { kind: 'raw', text };
}

/** RFC 3501 9 `date-time`: "dd-Mon-yyyy hh:mm:ss +zzzz" in the given zone (minutes east of UTC). */
export function dateTime(date: Date, zoneMinutes = 0): ImapValue {
  return quoted(formatDateTime(date, zoneMinutes));
}

export function formatDateTime(date: Date, zoneMinutes = 0): string {
  const local = new Date(date.getTime() + zoneMinutes * 60_000);
  const two = (n: number): string => String(n).padStart(2, '0');
  const zone = Math.abs(zoneMinutes);
  const sign = zoneMinutes < 0 ? '-' : '+';
  return (
    `${two(local.getUTCDate())}-${MONTHS[local.getUTCMonth()]}-${String(local.getUTCFullYear()).padStart(4, '0')} ` +
    `${two(local.getUTCHours())}:${two(local.getUTCMinutes())}:${two(local.getUTCSeconds())} ${sign}${two(Math.floor(zone / 60))}${two(zone % 60)}`
  );
}

// ---------------------------------------------------------------------------------------------
// Response codes (RFC 3501 7.1, RFC 5530, RFC 4315, RFC 7162, RFC 5182, RFC 6154, RFC 7888, RFC 9208)

export type SimpleResponseCode =
  | 'ALERT'
  | 'PARSE'
  | 'READ-ONLY'
  | 'READ-WRITE'
  | 'TRYCREATE'
  | 'UIDNOTSTICKY'
  | 'NOMODSEQ'
  | 'CLOSED'
  | 'NOTSAVED'
  | 'TOOBIG'
  | 'USEATTR'
  | 'UNKNOWN-CTE'
  | 'HASCHILDREN'
  | 'UNAVAILABLE'
  | 'AUTHENTICATIONFAILED'
  | 'AUTHORIZATIONFAILED'
  | 'EXPIRED'
  | 'PRIVACYREQUIRED'
  | 'CONTACTADMIN'
  | 'NOPERM'
  | 'INUSE'
  | 'EXPUNGEISSUED'
  | 'CORRUPTION'
  | 'SERVERBUG'
  | 'CLIENTBUG'
  | 'CANNOT'
  | 'LIMIT'
  | 'OVERQUOTA'
  | 'ALREADYEXISTS'
  | 'NONEXISTENT';

export type ResponseCode =
  | SimpleResponseCode
  | { readonly code: 'BADCHARSET'; readonly charsets?: readonly string[] }
  | { readonly code: 'CAPABILITY'; readonly capabilities: readonly string[] }
  | { readonly code: 'PERMANENTFLAGS'; readonly flags: readonly string[] }
  | { readonly code: 'UIDNEXT' | 'UIDVALIDITY' | 'UNSEEN' | 'HIGHESTMODSEQ'; readonly value: number }
  | { readonly code: 'APPENDUID'; readonly uidValidity: number; readonly uids: readonly number[] }
  | { readonly code: 'COPYUID'; readonly uidValidity: number; readonly sourceUids: readonly number[]; readonly destinationUids: readonly number[] }
  | { readonly code: 'MODIFIED'; readonly set: readonly number[] };

function responseCodeValues(code: ResponseCode): ImapValue[] {
  if (typeof code === 'string') return [raw(code)];
  switch (code.code) {
    case 'BADCHARSET':
      return code.charsets === undefined || code.charsets.length === 0 ? [raw('BADCHARSET')] : [raw('BADCHARSET'), list(code.charsets.map(astring))];
    case 'CAPABILITY':
      return [raw('CAPABILITY'), ...code.capabilities.map(atom)];
    case 'PERMANENTFLAGS':
      return [raw('PERMANENTFLAGS'), flagList(code.flags)];
    case 'UIDNEXT':
    case 'UIDVALIDITY':
    case 'UNSEEN':
    case 'HIGHESTMODSEQ':
      return [raw(code.code), number(code.value)];
    case 'APPENDUID':
      // RFC 4315 3: append-uid is a uid-set only for MULTIAPPEND; the order is the append order.
      return [raw('APPENDUID'), number(code.uidValidity), raw(formatUidRunsInOrder(code.uids))];
    case 'COPYUID':
      if (code.sourceUids.length !== code.destinationUids.length || code.sourceUids.length === 0) {
        throw new ImapEncodeError('COPYUID needs two non-empty UID lists of equal length');
      }
      // RFC 4315 3: the two sets correspond by position, so neither may be re-sorted.
      return [raw('COPYUID'), number(code.uidValidity), raw(formatUidRunsInOrder(code.sourceUids)), raw(formatUidRunsInOrder(code.destinationUids))];
    case 'MODIFIED':
      return [raw('MODIFIED'), sequenceSet(code.set)];
  }
}

// ---------------------------------------------------------------------------------------------
// Responses

export type StatusCondition = 'OK' | 'NO' | 'BAD';

/** RFC 3501 7.1 tagged status response: `tag OK [CODE] text`. */
export function tagged(tag: string, status: StatusCondition, code: ResponseCode | null, text: string, options: EncodeOptions = {}): Buffer[] {
  return statusLine(tag, status, code, text, options);
}

/** RFC 3501 7.1 untagged status response: `* OK|NO|BAD|PREAUTH|BYE [CODE] text`. */
export function untaggedStatus(
  status: StatusCondition | 'PREAUTH' | 'BYE',
  code: ResponseCode | null,
  text: string,
  options: EncodeOptions = {},
): Buffer[] {
  return statusLine('*', status, code, text, options);
}

/** `* ` items separated by SP, CRLF (RFC 3501 7.2–7.4 data responses). */
export function untagged(items: readonly ImapValue[], options: EncodeOptions = {}): Buffer[] {
  const writer = new ChunkWriter(options);
  writer.text('*');
  for (const item of items) {
    writer.text(' ');
    writer.value(item);
  }
  writer.text('\r\n');
  return writer.finish();
}

/** RFC 3501 7.5 `continue-req = "+" SP (resp-text / base64) CRLF` with text. */
export function continuation(text = 'Ready'): Buffer[] {
  return [Buffer.from(`+ ${sanitizeText(text, {}) || 'Ready'}\r\n`, 'ascii')];
}

/** RFC 3501 7.5 continuation carrying a base64 SASL challenge (may be empty). */
export function continuationBase64(challenge: Buffer): Buffer[] {
  return [Buffer.from(`+ ${challenge.toString('base64')}\r\n`, 'ascii')];
}

function statusLine(tag: string, status: string, code: ResponseCode | null, text: string, options: EncodeOptions): Buffer[] {
  if (tag !== '*' && !/^[\x21-\x7e]+$/.test(tag)) throw new ImapEncodeError('Invalid tag');
  const writer = new ChunkWriter(options);
  writer.text(`${tag} ${status} `);
  if (code !== null) {
    writer.text('[');
    responseCodeValues(code).forEach((value, index) => {
      if (index > 0) writer.text(' ');
      writer.value(value);
    });
    writer.text('] ');
  }
  // RFC 3501 9 resp-text requires at least one TEXT-CHAR.
  writer.text(sanitizeText(text, options) || 'Completed');
  writer.text('\r\n');
  return writer.finish();
}

/** TEXT-CHAR only: CR/LF become spaces; 8-bit text becomes "?" unless UTF-8 is enabled. */
function sanitizeText(text: string, options: EncodeOptions): string {
  const single = text.replace(/[\r\n\0]+/g, ' ');
  return options.utf8 === true ? single : single.replace(/[\u0080-\uffff]/g, '?');
}

// ---------------------------------------------------------------------------------------------
// Frequently used data responses (RFC 3501 7.2-7.4 and extensions)

export function capabilityResponse(capabilities: readonly string[]): Buffer[] {
  return untagged([raw('CAPABILITY'), ...capabilities.map(atom)]);
}

/** RFC 5161 3.1 `* ENABLED ...` */
export function enabledResponse(capabilities: readonly string[]): Buffer[] {
  return untagged([raw('ENABLED'), ...capabilities.map(atom)]);
}

export function existsResponse(count: number): Buffer[] {
  return untagged([number(count), raw('EXISTS')]);
}

export function recentResponse(count: number): Buffer[] {
  return untagged([number(count), raw('RECENT')]);
}

export function expungeResponse(sequenceNumber: number): Buffer[] {
  return untagged([number(sequenceNumber), raw('EXPUNGE')]);
}

export function flagsResponse(flags: readonly string[]): Buffer[] {
  return untagged([raw('FLAGS'), flagList(flags)]);
}

/** RFC 7162 3.2.10 `* VANISHED [(EARLIER)] uid-set`. */
export function vanishedResponse(uids: Iterable<number>, earlier: boolean): Buffer[] {
  return untagged(earlier ? [raw('VANISHED'), raw('(EARLIER)'), sequenceSet(uids)] : [raw('VANISHED'), sequenceSet(uids)]);
}

/** RFC 3501 7.2.2 / RFC 5258 `* LIST (attrs) "/" name [(extended items)]`; also LSUB. */
export function listResponse(
  entry: {
    readonly attributes: readonly string[];
    readonly delimiter: string | null;
    readonly name: string;
    /** RFC 5258 mbox-list-extended, e.g. [raw('CHILDINFO'), list([quoted('SUBSCRIBED')])]. */
    readonly extended?: readonly ImapValue[];
    readonly command?: 'LIST' | 'LSUB';
  },
  options: EncodeOptions = {},
): Buffer[] {
  const items: ImapValue[] = [
    raw(entry.command ?? 'LIST'),
    flagList(entry.attributes),
    entry.delimiter === null ? nil : quoted(entry.delimiter),
    mailboxName(entry.name, options),
  ];
  if (entry.extended !== undefined && entry.extended.length > 0) items.push(list(entry.extended));
  return untagged(items, options);
}

/** RFC 3501 7.2.4 `* STATUS mailbox (item value ...)` */
export function statusResponse(mailbox: string, values: ReadonlyArray<readonly [string, number]>, options: EncodeOptions = {}): Buffer[] {
  return untagged([raw('STATUS'), mailboxName(mailbox, options), list(values.flatMap(([item, value]) => [atom(item), number(value)]))], options);
}

/** RFC 3501 7.2.5 `* SEARCH n...`, with RFC 7162 3.1.5 `(MODSEQ n)` when given. */
export function searchResponse(numbers: readonly number[], highestModseq: number | null = null): Buffer[] {
  const items: ImapValue[] = [raw('SEARCH'), ...numbers.map(number)];
  if (highestModseq !== null && numbers.length > 0) items.push(list([raw('MODSEQ'), number(highestModseq)]));
  return untagged(items);
}

/** RFC 4731 3.1 `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] [COUNT n] [MODSEQ n]` */
export function esearchResponse(result: {
  readonly tag: string;
  readonly uid: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly all?: readonly number[];
  readonly count?: number;
  readonly modseq?: number;
}): Buffer[] {
  const items: ImapValue[] = [raw('ESEARCH'), list([raw('TAG'), quoted(result.tag)])];
  if (result.uid) items.push(raw('UID'));
  if (result.min !== undefined) items.push(raw('MIN'), number(result.min));
  if (result.max !== undefined) items.push(raw('MAX'), number(result.max));
  if (result.all !== undefined && result.all.length > 0) items.push(raw('ALL'), sequenceSet(result.all));
  if (result.count !== undefined) items.push(raw('COUNT'), number(result.count));
  if (result.modseq !== undefined) items.push(raw('MODSEQ'), number(result.modseq));
  return untagged(items);
}

/** RFC 3501 7.4.2 `* n FETCH (name value ...)`; the pairs are already encoded values. */
export function fetchResponse(sequenceNumber: number, pairs: readonly ImapValue[], options: EncodeOptions = {}): Buffer[] {
  return untagged([number(sequenceNumber), raw('FETCH'), list(pairs)], options);
}

/** RFC 2971 `* ID (...)` or `* ID NIL`. */
export function idResponse(parameters: ReadonlyArray<readonly [string, string | null]> | null): Buffer[] {
  if (parameters === null) return untagged([raw('ID'), nil]);
  return untagged([raw('ID'), list(parameters.flatMap(([field, value]) => [string(field), nstring(value)]))]);
}

/** One RFC 2342 namespace: prefix and delimiter. */
export interface NamespaceDescriptor {
  readonly prefix: string;
  readonly delimiter: string | null;
}

/** RFC 2342 5 `* NAMESPACE personal other shared` (each a list or NIL). */
export function namespaceResponse(
  personal: readonly NamespaceDescriptor[],
  other: readonly NamespaceDescriptor[],
  shared: readonly NamespaceDescriptor[],
  options: EncodeOptions = {},
): Buffer[] {
  const group = (descriptors: readonly NamespaceDescriptor[]): ImapValue =>
    descriptors.length === 0
      ? nil
      : list(
          descriptors.map((d) =>
            list([string(options.utf8 === true ? d.prefix : encodeMailboxName(d.prefix)), d.delimiter === null ? nil : quoted(d.delimiter)]),
          ),
        );
  return untagged([raw('NAMESPACE'), group(personal), group(other), group(shared)], options);
}

/** RFC 9208 5.1 `* QUOTA root (resource usage limit ...)` */
export function quotaResponse(root: string, resources: ReadonlyArray<{ readonly name: string; readonly usage: number; readonly limit: number }>): Buffer[] {
  return untagged([raw('QUOTA'), astring(root), list(resources.flatMap((r) => [atom(r.name), number(r.usage), number(r.limit)]))]);
}

/** RFC 9208 5.2 `* QUOTAROOT mailbox root...` */
export function quotaRootResponse(mailbox: string, roots: readonly string[], options: EncodeOptions = {}): Buffer[] {
  return untagged([raw('QUOTAROOT'), mailboxName(mailbox, options), ...roots.map(astring)], options);
}

// ---------------------------------------------------------------------------------------------
// Serialization

class ChunkWriter {
  private readonly chunks: Buffer[] = [];
  private pending = '';

  constructor(private readonly options: EncodeOptions) {}

  text(ascii: string): void {
    this.pending += ascii;
  }

  bytes(data: Buffer): void {
    this.flushText();
    if (data.length > 0) this.chunks.push(data);
  }

  value(value: ImapValue): void {
    switch (value.kind) {
      case 'raw':
        return this.text(value.text);
      case 'nil':
        return this.text('NIL');
      case 'list':
        this.text('(');
        value.items.forEach((item, index) => {
          if (index > 0) this.text(' ');
          this.value(item);
        });
        return this.text(')');
      case 'concat':
        return value.items.forEach((item) => this.value(item));
      case 'astring':
        if (isAtomText(value.value)) return this.text(value.value.toString('ascii'));
        return this.stringValue(value.value, 'auto');
      case 'string':
        return this.stringValue(value.value, value.form);
    }
  }

  finish(): Buffer[] {
    this.flushText();
    return this.chunks;
  }

  private stringValue(data: Buffer, form: 'auto' | 'quoted' | 'literal' | 'literal8'): void {
    const quotable = canQuote(data, this.options);
    if (form === 'quoted' && !quotable) throw new ImapEncodeError('Value cannot be sent as a quoted string');
    if (form === 'quoted' || (form === 'auto' && quotable && data.length <= MAX_QUOTED_LENGTH)) {
      return this.text(`"${data.toString(this.options.utf8 === true ? 'utf8' : 'ascii').replace(/["\\]/g, '\\$&')}"`);
    }
    if (form !== 'literal8' && data.includes(0)) throw new ImapEncodeError('NUL octets need literal8 (RFC 3516)');
    this.text(`${form === 'literal8' ? '~' : ''}{${data.length}}\r\n`);
    this.bytes(data);
  }

  private flushText(): void {
    if (this.pending === '') return;
    // pending holds ASCII only, except UTF-8 quoted strings when the client enabled UTF-8.
    this.chunks.push(Buffer.from(this.pending, 'utf8'));
    this.pending = '';
  }
}

/** 1*ASTRING-CHAR and not "NIL" (which a client would read as nil in an nstring position). */
function isAtomText(data: Buffer): boolean {
  if (data.length === 0 || data.length > MAX_QUOTED_LENGTH) return false;
  for (const byte of data) {
    if (byte <= 0x20 || byte >= 0x7f || '(){%*"\\'.includes(String.fromCharCode(byte))) return false;
  }
  return data.toString('ascii').toUpperCase() !== 'NIL';
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** QUOTED-CHAR: TEXT-CHAR (7-bit, no CR/LF/NUL); plus UTF-8 when enabled (RFC 6855 3). */
function canQuote(data: Buffer, options: EncodeOptions): boolean {
  let eightBit = false;
  for (const byte of data) {
    if (byte === 0 || byte === 0x0d || byte === 0x0a) return false;
    if (byte >= 0x80) eightBit = true;
  }
  if (!eightBit) return true;
  if (options.utf8 !== true) return false;
  try {
    strictUtf8.decode(data);
    return true;
  } catch {
    return false;
  }
}

function toBuffer(value: string | Buffer): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}
