/**
 * Delivery status notifications (RFC 3464) for queued mail: which recipients the sender asked to
 * hear about (RFC 3461 NOTIFY), the multipart/report message itself, and sending it: into the
 * sender's mailbox when the sender is local, else into the queue, always from the null
 * reverse-path (RFC 5321 4.5.5) so a DSN never causes another.
 *
 * Shape (RFC 3464 2, RFC 6522):
 *   multipart/report; report-type=delivery-status
 *     1. text/plain: what happened, for people
 *     2. message/delivery-status: per-message fields, then one block per recipient
 *     3. text/rfc822-headers (RET=HDRS, the default) or message/rfc822 (RET=FULL)
 * @module
 */
import { randomBytes } from 'node:crypto';
import { deliverMessage } from '../delivery/accept.js';
import type { DeliveryReport } from '../delivery/accept.js';
import { resolveRecipient } from '../delivery/resolve.js';
import { rfc5322Date } from '../mime/date.js';
import { indexMessage } from '../mime/indexer.js';
import type { MailStore } from '../store/types.js';
import type { DsnNotify, QueueEntry, QueuedRecipient } from './types.js';

/** RFC 3464 2.3.3 action-value. */
export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed';

export interface DsnRecipientReport {
  recipient: Pick<QueuedRecipient, 'address' | 'orcpt'>;
  action: DsnAction;
  /** RFC 3463 status code, e.g. "5.1.1". */
  status: string;
  /** The MTA that gave the answer (Remote-MTA), or null. */
  remoteMta: string | null;
  /** The SMTP reply (code > 0) or our own diagnostic (code 0), or null when there is none. */
  diagnostic: { code: number; text: string } | null;
  lastAttemptAt: Date | null;
  /** For `delayed`: when we give up (Will-Retry-Until, RFC 3464 2.3.7). */
  willRetryUntil: Date | null;
}

export interface DsnInput {
  /** Our host name (Reporting-MTA, From, Message-ID). */
  reportingMta: string;
  entry: Pick<QueueEntry, 'id' | 'sender' | 'envid' | 'createdAt'>;
  recipients: readonly DsnRecipientReport[];
  /** The original message: its header block (headersOnly) or the whole message. */
  original: Buffer;
  headersOnly: boolean;
  now: Date;
}

/** Longest original returned whole (RET=FULL); above it only the header is returned. */
export const MAX_RETURNED_MESSAGE = 10 * 1024 * 1024;
/** Longest header block returned; a longer one is cut at a line end. */
export const MAX_RETURNED_HEADER = 256 * 1024;

/**
 * Whether the sender asked for a DSN with this action (RFC 3461 4.1, 6.1). No NOTIFY means
 * FAILURE,DELAY (4.1 allows either that or FAILURE). `delivered` and `relayed` need SUCCESS. A
 * message from the null sender never gets one (RFC 3461 6.1, RFC 5321 6.1: no bounce loops).
 */
export function wantsDsn(sender: string, notify: DsnNotify | null, action: DsnAction): boolean {
  if (sender === '' || notify === 'NEVER') return false;
  const keyword = action === 'failed' ? 'FAILURE' : action === 'delayed' ? 'DELAY' : 'SUCCESS';
  if (notify === null) return keyword !== 'SUCCESS';
  return notify.includes(keyword);
}

/**
 * The action for a recipient the remote accepted (RFC 3461 5.2.2.1, 6.2): when the remote
 * offered DSN, the NOTIFY went on with the message and the remote reports success itself, so we
 * send nothing; without DSN at the remote, we send "relayed" when SUCCESS was asked for.
 */
export function acceptedAction(remoteOfferedDsn: boolean): DsnAction | null {
  return remoteOfferedDsn ? null : 'relayed';
}

/** The whole DSN message, CRLF line ends, ready to be stored. */
export function buildDsn(input: DsnInput): Buffer {
  const boundary = `=_dsn_${randomBytes(12).toString('hex')}`;
  const utf8 = needsUtf8(input);
  const kind = overallKind(input.recipients);
  const header = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`,
    `To: ${angle(input.entry.sender)}`,
    `Subject: ${SUBJECTS[kind]}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: <dsn.${input.now.getTime().toString(36)}.${randomBytes(6).toString('hex')}@${input.reportingMta}>`,
    // RFC 3834 5: an automatic response; RFC 3464 does not require it, but filters rely on it.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated delivery status notification (RFC 3464).',
    '',
  ];
  const parts: Buffer[] = [Buffer.from(header.join('\r\n'), 'utf8')];
  const part = (fields: string[], body: Buffer): void => {
    parts.push(Buffer.from(`--${boundary}\r\n${fields.join('\r\n')}\r\n\r\n`, 'utf8'), body, Buffer.from('\r\n', 'utf8'));
  };
  part(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'], Buffer.from(humanText(input, kind), 'utf8'));
  // RFC 6533 3: addresses in UTF-8 need message/global-delivery-status.
  part([`Content-Type: message/${utf8 ? 'global-' : ''}delivery-status`], Buffer.from(deliveryStatus(input), 'utf8'));
  const original = withCrlfEnd(input.original);
  if (input.headersOnly) part([`Content-Type: text/rfc822-headers${utf8 ? '; charset=utf-8' : ''}`], original);
  else part(['Content-Type: message/rfc822', ...(is7bit(original) ? [] : ['Content-Transfer-Encoding: 8bit'])], original);
  parts.push(Buffer.from(`--${boundary}--\r\n`, 'utf8'));
  return Buffer.concat(parts);
}

/**
 * Delivers a DSN to `to` (the original envelope sender) from the null reverse-path: stored
 * durably in the sender's mailbox when the address is local, queued for remote delivery
 * otherwise. Returns null when the address is in a local domain but nobody receives it (the
 * DSN is then dropped: there is nobody to tell).
 */
export async function sendDsn(store: MailStore, to: string, bytes: Buffer, now: Date): Promise<DeliveryReport | null> {
  const resolution = await resolveRecipient(store, to);
  if (resolution.kind === 'unknown') return null;
  const writer = store.createBlobWriter();
  try {
    await writer.write(bytes);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const blob = await writer.finish();
  const local = resolution.kind === 'local';
  return deliverMessage(
    store,
    { blob, index: indexMessage(bytes) },
    { sender: '', ret: null, envid: null, body: is7bit(bytes) ? '7BIT' : '8BITMIME', smtputf8: !isAscii(to), submitter: null, clientAddress: '127.0.0.1' },
    [{ address: to, notify: null, orcpt: null, accounts: local ? resolution.accounts : [], forwards: local ? resolution.remote : [to] }],
    now,
  );
}

/** The header block of a message (up to and including the empty line), at most `limit` octets. */
export function headerBlock(message: Buffer, limit = MAX_RETURNED_HEADER): Buffer {
  const end = message.indexOf('\r\n\r\n');
  if (end !== -1 && end + 4 <= limit) return message.subarray(0, end + 4);
  const lfEnd = message.indexOf('\n\n');
  if (lfEnd !== -1 && lfEnd + 2 <= limit) return message.subarray(0, lfEnd + 2);
  // No end within the limit: cut at the last line end before it.
  const window = message.subarray(0, Math.min(limit, message.length));
  const lastLine = window.lastIndexOf('\n');
  return lastLine === -1 ? Buffer.alloc(0) : window.subarray(0, lastLine + 1);
}

// ---- the parts -----------------------------------------------------------------------------------

type Kind = 'failure' | 'delay' | 'success';

const SUBJECTS: Record<Kind, string> = {
  failure: 'Undelivered Mail Returned to Sender',
  delay: 'Delayed Mail (still being retried)',
  success: 'Successful Mail Delivery Report',
};

function overallKind(recipients: readonly DsnRecipientReport[]): Kind {
  if (recipients.some((r) => r.action === 'failed')) return 'failure';
  if (recipients.some((r) => r.action === 'delayed')) return 'delay';
  return 'success';
}

function humanText(input: DsnInput, kind: Kind): string {
  const lines: string[] = [`This is the mail system at ${input.reportingMta}.`, ''];
  if (kind === 'failure') {
    lines.push('Your message could not be delivered to one or more recipients.', 'It is attached below.', '');
  } else if (kind === 'delay') {
    lines.push('Your message has not been delivered yet to one or more recipients.', 'The mail system will keep trying; you do not need to send it again.', '');
  } else {
    lines.push('Your message was delivered to the recipients listed below.', '');
  }
  for (const report of input.recipients) {
    lines.push(`<${report.recipient.address}>: ${ACTION_TEXT[report.action]}`);
    if (report.diagnostic !== null) lines.push(`    ${report.remoteMta === null ? '' : `${report.remoteMta} said: `}${oneLine(diagnosticText(report.diagnostic))}`);
    if (report.willRetryUntil !== null) lines.push(`    Will keep trying until ${rfc5322Date(report.willRetryUntil)}.`);
  }
  lines.push('');
  return lines.join('\r\n');
}

const ACTION_TEXT: Record<DsnAction, string> = {
  failed: 'delivery failed',
  delayed: 'delivery delayed',
  delivered: 'delivered',
  relayed: 'relayed to a system that does not send delivery notifications',
};

/** RFC 3464 2.2 per-message fields, then 2.3 per-recipient fields, blocks separated by empty lines. */
function deliveryStatus(input: DsnInput): string {
  const message = [`Reporting-MTA: dns; ${input.reportingMta}`];
  // RFC 3464 2.2.1: ENVID as given (it was xtext-decoded at MAIL), only when the sender gave one.
  if (input.entry.envid !== null) message.push(`Original-Envelope-Id: ${oneLine(input.entry.envid)}`);
  message.push(`X-Mailhaven-Queue-ID: ${input.entry.id}`, `Arrival-Date: ${rfc5322Date(input.entry.createdAt)}`);
  const blocks = [message.join('\r\n')];
  for (const report of input.recipients) blocks.push(recipientFields(report).join('\r\n'));
  return `${blocks.join('\r\n\r\n')}\r\n`;
}

function recipientFields(report: DsnRecipientReport): string[] {
  const fields: string[] = [];
  // RFC 3464 2.3.1: Original-Recipient only from ORCPT, with the address type given there.
  if (report.recipient.orcpt !== null) {
    fields.push(`Original-Recipient: ${report.recipient.orcpt.addrType}; ${oneLine(report.recipient.orcpt.address)}`);
  }
  fields.push(`Final-Recipient: ${addressType(report.recipient.address)}; ${report.recipient.address}`, `Action: ${report.action}`, `Status: ${report.status}`);
  if (report.remoteMta !== null) fields.push(`Remote-MTA: dns; ${report.remoteMta}`);
  if (report.diagnostic !== null) {
    // RFC 3464 2.3.6: diagnostic-type "smtp" only for a reply the remote really sent.
    const type = report.diagnostic.code > 0 ? 'smtp' : 'X-Mailhaven';
    fields.push(`Diagnostic-Code: ${type}; ${oneLine(diagnosticText(report.diagnostic))}`);
  }
  if (report.lastAttemptAt !== null) fields.push(`Last-Attempt-Date: ${rfc5322Date(report.lastAttemptAt)}`);
  if (report.willRetryUntil !== null) fields.push(`Will-Retry-Until: ${rfc5322Date(report.willRetryUntil)}`);
  return fields;
}

/** The reply as the remote sent it ("550 5.1.1 ..."), found in the transport's diagnostic. */
function diagnosticText(diagnostic: { code: number; text: string }): string {
  if (diagnostic.code <= 0) return diagnostic.text;
  const at = diagnostic.text.indexOf(`${diagnostic.code} `);
  if (at !== -1) return diagnostic.text.slice(at);
  return diagnostic.text === String(diagnostic.code) ? diagnostic.text : `${diagnostic.code} ${diagnostic.text}`;
}

// ---- small helpers ---------------------------------------------------------------------------------

/** RFC 3464 2.3.2: "rfc822" for ASCII mailboxes, "utf-8" (RFC 6533 3) for internationalized ones. */
function addressType(address: string): string {
  return isAscii(address) ? 'rfc822' : 'utf-8';
}

function needsUtf8(input: DsnInput): boolean {
  return !isAscii(input.entry.sender) || input.recipients.some((r) => !isAscii(r.recipient.address));
}

function isAscii(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

function is7bit(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte > 0x7f || byte === 0) return false;
  return true;
}

/** Header field values are one line: CR/LF and other controls become spaces, length is capped. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- controls are exactly what must go
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 900);
}

function angle(address: string): string {
  return `<${address}>`;
}

function withCrlfEnd(bytes: Buffer): Buffer {
  if (bytes.length === 0 || bytes.subarray(-2).equals(Buffer.from('\r\n'))) return bytes;
  return Buffer.concat([bytes, Buffer.from('\r\n')]);
}

