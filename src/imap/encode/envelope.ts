/**
 * IMAP wire text of ENVELOPE (RFC 3501 7.4.2, 9 `envelope`) from the message index, and the
 * string encoding shared with BODYSTRUCTURE.
 *
 * Output is a JS string to be written as UTF-8. Without UTF8=ACCEPT (RFC 6855) it is pure
 * ASCII: RFC 3501 7.4.2 wants 7-bit header data, so non-ASCII display names and other free
 * text are sent as RFC 2047 encoded words; the few structured values that cannot be encoded
 * that way (a raw 8-bit Message-ID) go out as literals. With UTF8=ACCEPT, UTF-8 is sent as is.
 * @module
 */
import { domainToASCII } from 'node:url';
import libmime from 'libmime';
import type { Envelope, EnvelopeAddress } from '../../mime/types.js';

export interface EncodeOptions {
  /** The client enabled UTF8=ACCEPT (RFC 6855 3): send UTF-8 in quoted strings. */
  utf8?: boolean;
}

/** How a value may be re-encoded when it is not ASCII. */
export type StringKind = 'text' | 'raw';

/** RFC 3501 9 `nstring`: NIL, a quoted string, or a literal. */
export function nstring(value: string | null, kind: StringKind, options: EncodeOptions = {}): string {
  return value === null ? 'NIL' : imapString(value, kind, options);
}

/** RFC 3501 9 `string`: quoted when every char is a TEXT-CHAR, a literal otherwise. */
export function imapString(value: string, kind: StringKind, options: EncodeOptions = {}): string {
  // Header data is one line: CR, LF and NUL cannot travel in a quoted string (RFC 3501 9
  // TEXT-CHAR) and mean nothing in a header value.
  // eslint-disable-next-line no-control-regex
  let text = value.replace(/[\r\n]+/g, ' ').replace(/\x00/g, '');
  if (!options.utf8 && !isAscii(text)) {
    if (kind === 'text') text = libmime.encodeWords(text, 'Q', 52);
    if (!isAscii(text)) return literal(text);
  }
  return quoted(text);
}

/** A quoted string with `"` and `\` escaped (RFC 3501 9 `quoted`). */
export function quoted(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`;
}

/** A literal `{n}CRLF` + text; n counts UTF-8 octets. */
export function literal(text: string): string {
  return `{${Buffer.byteLength(text, 'utf8')}}\r\n${text}`;
}

function isAscii(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[^\x00-\x7f]/.test(text);
}

/** RFC 3501 9 `address`: "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")". */
export function encodeAddress(address: EnvelopeAddress, options: EncodeOptions = {}): string {
  return `(${nstring(address.name, 'text', options)} ${nstring(address.adl, 'raw', options)} ${nstring(address.mailbox, 'raw', options)} ${nstring(asciiHost(address.host, options), 'raw', options)})`;
}

/** An internationalized domain goes out as its A-label (RFC 5890) unless UTF8=ACCEPT is on. */
function asciiHost(host: string | null, options: EncodeOptions): string | null {
  if (host === null || options.utf8 || isAscii(host)) return host;
  const ascii = domainToASCII(host);
  return ascii.length > 0 ? ascii : host;
}

/** `env-from` etc.: "(" 1*address ")" / nil. */
export function encodeAddressList(list: EnvelopeAddress[] | null, options: EncodeOptions = {}): string {
  if (list === null || list.length === 0) return 'NIL';
  return `(${list.map((a) => encodeAddress(a, options)).join('')})`;
}

/** RFC 3501 9 `envelope`. */
export function encodeEnvelope(envelope: Envelope, options: EncodeOptions = {}): string {
  const members = [
    nstring(envelope.date, 'raw', options),
    nstring(envelope.subject, 'text', options),
    encodeAddressList(envelope.from, options),
    encodeAddressList(envelope.sender, options),
    encodeAddressList(envelope.replyTo, options),
    encodeAddressList(envelope.to, options),
    encodeAddressList(envelope.cc, options),
    encodeAddressList(envelope.bcc, options),
    nstring(envelope.inReplyTo, 'raw', options),
    nstring(envelope.messageId, 'raw', options),
  ];
  return `(${members.join(' ')})`;
}
