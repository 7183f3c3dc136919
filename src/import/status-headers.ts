/**
 * Flags that mail programs keep inside mbox messages:
 * - `Status:` (mutt, Dovecot, Pine): R = \Seen (O = "old", not recent: nothing to store);
 * - `X-Status:` (mutt, Dovecot): A = \Answered, F = \Flagged, T = \Draft, D = \Deleted;
 * - `X-Keywords:` (Dovecot, mutt): keywords separated by spaces or commas;
 * - `X-Mozilla-Status:` (Thunderbird): hex bits 0x1 read, 0x2 replied, 0x4 marked, 0x8 deleted;
 * - `X-Mozilla-Keys:` (Thunderbird): keywords separated by spaces.
 * The header fields themselves stay in the message: the bytes are kept as found.
 */
import { SystemFlag } from '../store/types.js';
import { validKeywords } from './keywords.js';

const CRLF_CRLF = Buffer.from('\r\n\r\n');
/** Headers larger than this are not scanned for status fields (they are near the top anyway). */
const MAX_HEADER_SCAN = 256 * 1024;

export interface MessageStatus {
  flags: number;
  keywords: string[];
}

/** Reads the status fields of a CRLF message header. */
export function statusFromHeader(message: Buffer): MessageStatus {
  const fields = headerFields(message, ['status', 'x-status', 'x-keywords', 'x-mozilla-status', 'x-mozilla-keys']);
  let flags = 0;
  const status = fields.get('status') ?? '';
  if (status.includes('R')) flags |= SystemFlag.Seen;
  const xStatus = fields.get('x-status') ?? '';
  if (xStatus.includes('A')) flags |= SystemFlag.Answered;
  if (xStatus.includes('F')) flags |= SystemFlag.Flagged;
  if (xStatus.includes('T')) flags |= SystemFlag.Draft;
  if (xStatus.includes('D')) flags |= SystemFlag.Deleted;
  flags |= mozillaFlags(fields.get('x-mozilla-status'));
  const keywords = validKeywords([
    ...(fields.get('x-keywords') ?? '').split(/[\s,]+/),
    ...(fields.get('x-mozilla-keys') ?? '').split(/\s+/),
  ]);
  return { flags, keywords };
}

function mozillaFlags(value: string | undefined): number {
  if (value === undefined || !/^[0-9a-f]{1,8}$/i.test(value.trim())) return 0;
  const bits = parseInt(value.trim(), 16);
  let flags = 0;
  if (bits & 0x1) flags |= SystemFlag.Seen;
  if (bits & 0x2) flags |= SystemFlag.Answered;
  if (bits & 0x4) flags |= SystemFlag.Flagged;
  if (bits & 0x8) flags |= SystemFlag.Deleted;
  return flags;
}

/** The first occurrence of each wanted field, unfolded (RFC 5322 2.2.3), names lower-cased. */
function headerFields(message: Buffer, wanted: readonly string[]): Map<string, string> {
  const end = headerEnd(message);
  const text = message.toString('latin1', 0, end);
  const fields = new Map<string, string>();
  for (const field of text.split(/\r\n(?![ \t])/)) {
    const colon = field.indexOf(':');
    if (colon <= 0) continue;
    const name = field.slice(0, colon).trim().toLowerCase();
    if (!wanted.includes(name) || fields.has(name)) continue;
    fields.set(name, field.slice(colon + 1).replace(/\r\n/g, '').trim());
  }
  return fields;
}

function headerEnd(message: Buffer): number {
  if (message[0] === 0x0d && message[1] === 0x0a) return 0; // empty header
  const blank = message.indexOf(CRLF_CRLF);
  return Math.min(blank === -1 ? message.length : blank, MAX_HEADER_SCAN);
}
