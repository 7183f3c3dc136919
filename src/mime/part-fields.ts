/**
 * From a parsed header block to the index fields: a part's Content-* data, a message's
 * ENVELOPE (RFC 3501 7.4.2) and its SEARCH fields.
 *
 * Duplicate fields are resolved as Dovecot 2.3 does (checked against it, see
 * docs/message-index.md): the first Content-* field wins; for Date, Subject, In-Reply-To and
 * Message-ID the last one wins (a DKIM signature covers the bottom-most instance, RFC 6376
 * 5.4.2, so the last one is the one a verifier checked); address fields are merged.
 * @module
 */
import type { Envelope, EnvelopeAddress, MimePart, SearchFields } from './types.js';
import type { RawField } from './header.js';
import { bytesToText } from './header.js';
import { parseAddressList } from './address.js';
import { parseContentType, parseDisposition, parseLanguage, parseTransferEncoding, parseUnstructured } from './content-fields.js';
import { parseDate } from './date.js';
import { decodeByteValue } from './encoded-words.js';

/** What the structure walk needs to know about a part beyond the MimePart fields. */
export interface PartShape {
  /** multipart/* with its raw boundary (null when the parameter is missing or unusable). */
  multipart: boolean;
  boundary: Buffer | null;
  /** message/rfc822 or message/global: the body is an embedded message. */
  message: boolean;
  /** multipart/digest: children default to message/rfc822 (RFC 2046 5.1.5). */
  digest: boolean;
  /** The Content-Type field had no valid type/subtype and was taken as text/plain. */
  invalidContentType: boolean;
}

export interface PartContext {
  /** A child of a multipart is always MIME; a message (top-level or embedded) only with
   * MIME-Version or Content-Type (Dovecot's rule; RFC 2045 4 makes MIME-Version mandatory). */
  multipartChild: boolean;
  /** The parent is multipart/digest. */
  inDigest: boolean;
}

/** Fills the Content-* fields of `part` from `fields` and says how to walk its body. */
export function applyContentFields(part: MimePart, fields: RawField[], context: PartContext): PartShape {
  const first = new Map<string, string>();
  for (const field of fields) {
    if ((field.key.startsWith('content-') || field.key === 'mime-version') && !first.has(field.key)) first.set(field.key, field.value);
  }
  const isMime = context.multipartChild || first.has('mime-version') || first.has('content-type');
  const contentType = isMime && first.has('content-type') ? parseContentType(first.get('content-type')!) : null;
  if (contentType) {
    // RFC 2045 5.2: an invalid type is taken as text/plain; its parameters are kept.
    part.type = contentType.type ?? 'text';
    part.subtype = contentType.subtype ?? 'plain';
    part.params = contentType.params;
  } else if (context.inDigest && !first.has('content-type')) {
    part.type = 'message';
    part.subtype = 'rfc822';
  }
  // RFC 2045 5.2: default charset us-ascii; Dovecot appends it after the other parameters.
  if (part.type === 'text' && !part.params.some(([name]) => name === 'charset')) part.params.push(['charset', 'us-ascii']);
  if (isMime) {
    const get = (key: string): string | undefined => first.get(key);
    const encoding = get('content-transfer-encoding');
    if (encoding !== undefined) part.encoding = parseTransferEncoding(encoding) ?? '7BIT';
    part.id = optional(get('content-id'));
    part.description = optional(get('content-description'));
    part.md5 = optional(get('content-md5'));
    part.location = optional(get('content-location'));
    const disposition = get('content-disposition');
    part.disposition = disposition === undefined ? null : parseDisposition(disposition);
    const language = get('content-language');
    part.language = language === undefined ? null : parseLanguage(language);
  }
  const multipart = part.type === 'multipart';
  const boundary = multipart && contentType?.boundary && contentType.boundary.length > 0 ? contentType.boundary : null;
  return {
    multipart,
    boundary,
    message: part.type === 'message' && (part.subtype === 'rfc822' || part.subtype === 'global'),
    digest: multipart && part.subtype === 'digest',
    invalidContentType: contentType !== null && contentType.type === null,
  };
}

function optional(value: string | undefined): string | null {
  return value === undefined ? null : parseUnstructured(value);
}

/** An ENVELOPE with every member NIL. */
export function emptyEnvelope(): Envelope {
  return { date: null, subject: null, from: null, sender: null, replyTo: null, to: null, cc: null, bcc: null, inReplyTo: null, messageId: null };
}

type AddressMember = 'from' | 'sender' | 'replyTo' | 'to' | 'cc' | 'bcc';
type StringMember = 'date' | 'subject' | 'inReplyTo' | 'messageId';

// Maps, not object literals: a header named "constructor" must not find anything.
const ADDRESS_FIELDS = new Map<string, AddressMember>([
  ['from', 'from'],
  ['sender', 'sender'],
  ['reply-to', 'replyTo'],
  ['to', 'to'],
  ['cc', 'cc'],
  ['bcc', 'bcc'],
]);
const STRING_FIELDS = new Map<string, StringMember>([
  ['date', 'date'],
  ['subject', 'subject'],
  ['in-reply-to', 'inReplyTo'],
  ['message-id', 'messageId'],
]);

/** RFC 3501 7.4.2 ENVELOPE from a message header. */
export function buildEnvelope(fields: RawField[]): Envelope {
  const envelope = emptyEnvelope();
  const addresses = new Map<AddressMember, EnvelopeAddress[]>();
  for (const field of fields) {
    const stringMember = STRING_FIELDS.get(field.key);
    if (stringMember !== undefined) {
      envelope[stringMember] = bytesToText(field.value);
      continue;
    }
    const addressMember = ADDRESS_FIELDS.get(field.key);
    if (addressMember !== undefined) {
      const list = addresses.get(addressMember) ?? [];
      for (const address of parseAddressList(bytesToText(field.value))) list.push(address);
      addresses.set(addressMember, list);
    }
  }
  for (const member of ADDRESS_FIELDS.values()) {
    const list = addresses.get(member);
    envelope[member] = list && list.length > 0 ? list : null;
  }
  // RFC 3501 7.4.2: Sender and Reply-To default to From.
  envelope.sender ??= envelope.from;
  envelope.replyTo ??= envelope.from;
  return envelope;
}

/** The decoded header values SEARCH and SORT use. */
export function buildSearchFields(fields: RawField[], envelope: Envelope): SearchFields {
  const all = (key: string): string =>
    fields
      .filter((f) => f.key === key)
      .map((f) => decodeByteValue(f.value))
      .filter((v) => v.length > 0)
      .join(', ');
  const last = (key: string): string => {
    const found = fields.filter((f) => f.key === key).at(-1);
    return found ? decodeByteValue(found.value) : '';
  };
  return {
    subject: last('subject'),
    from: all('from'),
    to: all('to'),
    cc: all('cc'),
    bcc: all('bcc'),
    date: parseDate(envelope.date),
    messageId: last('message-id'),
  };
}

/** Characters of text a part's fields (and envelope) keep in the index: for the size budget. */
export function retainedChars(part: MimePart, envelope: Envelope | null): number {
  let n = part.type.length + part.subtype.length + part.encoding.length;
  for (const [name, value] of part.params) n += name.length + value.length;
  for (const value of [part.id, part.description, part.md5, part.location]) n += value?.length ?? 0;
  if (part.disposition) for (const [name, value] of part.disposition.params) n += name.length + value.length;
  for (const tag of part.language ?? []) n += tag.length;
  if (envelope) {
    for (const value of [envelope.date, envelope.subject, envelope.inReplyTo, envelope.messageId]) n += value?.length ?? 0;
    for (const list of [envelope.from, envelope.sender, envelope.replyTo, envelope.to, envelope.cc, envelope.bcc]) {
      for (const a of list ?? []) n += 8 + (a.name?.length ?? 0) + (a.adl?.length ?? 0) + (a.mailbox?.length ?? 0) + (a.host?.length ?? 0);
    }
  }
  return n;
}
