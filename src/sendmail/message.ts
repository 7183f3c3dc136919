/**
 * The message a local program hands to sendmail, made ready to store: the end marker honoured,
 * CRLF line endings (RFC 5322 2.1), the recipients of `-t` read from To/Cc/Bcc and Bcc removed
 * (RFC 5322 3.6.3), the fields an MSA adds when missing (From, Date, Message-ID: RFC 6409 8) and
 * a Received trace field (RFC 5321 4.4) on top.
 * @module
 */
import { normalizeMessage } from '../import/line-endings.js';
import { MISSING_DOMAIN, MISSING_MAILBOX, parseAddressList } from '../mime/address.js';
import { isAscii, parseHeaderBlock, unfold } from '../mime/header.js';
import { newMessageId, rfc5322Date } from '../smtp/trace.js';

export interface ComposeOptions {
  /** The server's name (config.hostname), for Received and Message-ID. */
  hostname: string;
  /** Envelope sender; also the address of a From field we add ("" for the null sender). */
  sender: string;
  fullName: string | null;
  readRecipientsFromHeader: boolean;
  dotEndsMessage: boolean;
  now: Date;
  /** The submitting Unix user id, shown in Received like Postfix does; null when unknown. */
  uid: number | null;
  /** Id of this submission, for the Received field (atom characters). */
  id: string;
}

export interface ComposedMessage {
  bytes: Buffer;
  /** With -t: the addresses of To, Cc and Bcc, in order (groups flattened). */
  headerRecipients: string[];
}

/** RFC 5322 3.6.8 field-name: printable ASCII except ":". */
const FIELD_LINE = /^[!-9;-~]+[ \t]*:/;

export function composeMessage(input: Buffer, options: ComposeOptions): ComposedMessage {
  const text = normalizeMessage(withFinalNewline(options.dotEndsMessage ? cutAtDot(input) : input), { unescapeFrom: false });
  const { header, body } = splitHeader(text);
  const fields = headerFields(header);
  const headerRecipients = options.readRecipientsFromHeader ? recipientsOf(fields) : [];
  // RFC 5322 3.6.3: Bcc recipients get the message without the Bcc field (the "first" method).
  const kept = options.readRecipientsFromHeader ? fields.filter((field) => field.key !== 'bcc') : fields;
  const present = new Set(kept.map((field) => field.key));
  const added: string[] = [];
  if (!present.has('from')) added.push(`From: ${fromValue(options)}\r\n`);
  if (!present.has('date')) added.push(`Date: ${rfc5322Date(options.now)}\r\n`);
  if (!present.has('message-id')) added.push(`Message-ID: ${newMessageId(options.hostname, options.now)}\r\n`);
  const bytes = Buffer.concat([
    Buffer.from(receivedField(options), 'utf8'),
    ...kept.map((field) => field.raw),
    Buffer.from(added.join(''), 'utf8'),
    Buffer.from('\r\n'),
    body,
  ]);
  return { bytes, headerRecipients };
}

/** Classic sendmail: a line holding only "." ends the input (unless -i / -oi). */
function cutAtDot(input: Buffer): Buffer {
  const text = input.toString('latin1');
  const match = /(^|\n)\.\r?(\n|$)/.exec(text);
  return match === null ? input : input.subarray(0, match.index + match[1]!.length);
}

function withFinalNewline(input: Buffer): Buffer {
  return input.length === 0 || input[input.length - 1] === 0x0a ? input : Buffer.concat([input, Buffer.from('\n')]);
}

/**
 * Header and body at the first empty line. A message whose first line is not a header field has
 * no header at all (a bare body piped in), like Postfix treats it.
 */
function splitHeader(message: Buffer): { header: Buffer; body: Buffer } {
  const firstLine = message.subarray(0, Math.max(0, message.indexOf('\r\n'))).toString('latin1');
  if (!FIELD_LINE.test(firstLine)) return { header: Buffer.alloc(0), body: message };
  const end = message.indexOf('\r\n\r\n');
  if (end === -1) return { header: message, body: Buffer.alloc(0) };
  return { header: message.subarray(0, end + 2), body: message.subarray(end + 4) };
}

interface HeaderField {
  key: string;
  value: string;
  /** The field's lines as written, CRLF included. */
  raw: Buffer;
}

/** The header's fields with their raw lines (a field and its folded continuation lines). */
function headerFields(header: Buffer): HeaderField[] {
  const fields: HeaderField[] = [];
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf('\r\n', start) + 2;
    while (end > 1 && end < header.length && (header[end] === 0x20 || header[end] === 0x09)) end = header.indexOf('\r\n', end) + 2;
    if (end <= 1) end = header.length;
    const raw = header.subarray(start, end);
    const [parsed] = parseHeaderBlock(raw);
    // Lines that are not fields (a stray continuation, garbage) are dropped, as parseHeaderBlock does.
    if (parsed !== undefined) fields.push({ key: parsed.key, value: parsed.value, raw });
    start = end;
  }
  return fields;
}

function recipientsOf(fields: readonly HeaderField[]): string[] {
  const addresses: string[] = [];
  for (const field of fields) {
    if (field.key !== 'to' && field.key !== 'cc' && field.key !== 'bcc') continue;
    for (const address of parseAddressList(unfold(field.value))) {
      // Group start/end markers have no host; placeholders mark unusable addresses.
      if (address.mailbox === null || address.host === null) continue;
      if (address.mailbox === MISSING_MAILBOX || address.host === MISSING_DOMAIN) continue;
      addresses.push(`${address.mailbox}@${address.host}`);
    }
  }
  return addresses;
}

function fromValue(options: ComposeOptions): string {
  const address = options.sender === '' ? `MAILER-DAEMON@${options.hostname}` : options.sender;
  if (options.fullName === null || options.fullName.trim() === '') return address;
  return `${displayName(options.fullName.trim())} <${address}>`;
}

/** RFC 5322 3.2.4 quoted-string for ASCII names; RFC 2047 encoded-word (UTF-8, B) otherwise. */
function displayName(name: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = name.replace(/[\x00-\x1f\x7f]/g, ' ');
  if (isAscii(clean)) return `"${clean.replace(/(["\\])/g, '\\$1')}"`;
  return `=?UTF-8?B?${Buffer.from(clean, 'utf8').toString('base64')}?=`;
}

/** RFC 5321 4.4: locally submitted, so "by" and "id" only, plus the user id as Postfix writes it. */
function receivedField(options: ComposeOptions): string {
  const from = options.uid === null ? '' : `, from userid ${options.uid}`;
  return `Received: by ${options.hostname} (Mailhaven sendmail${from})\r\n\tid ${options.id}; ${rfc5322Date(options.now)}\r\n`;
}
