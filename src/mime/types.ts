/**
 * The message index: what IMAP needs to answer FETCH/SEARCH without re-parsing.
 * Everything here is plain JSON so a store can keep it as text.
 *
 * All offsets are byte offsets into the message as stored (the blob). A store that
 * prepends per-recipient header lines (Delivered-To, Return-Path) shifts them with
 * `shiftIndex` from ./shift.ts.
 */

/** RFC 3501 7.4.2 address structure: (name adl mailbox host). */
export interface EnvelopeAddress {
  /** Display name, decoded from RFC 2047 to UTF-8, or null. */
  name: string | null;
  /** Source route (obsolete), or null. */
  adl: string | null;
  /** Local part; for a group start it is the group name, for a group end null. */
  mailbox: string | null;
  /** Domain; null marks group syntax (start when mailbox is set, end when it is null). */
  host: string | null;
}

/** RFC 3501 7.4.2 ENVELOPE. Strings are the header values unfolded, not decoded (as IMAP sends them). */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[] | null;
  sender: EnvelopeAddress[] | null;
  replyTo: EnvelopeAddress[] | null;
  to: EnvelopeAddress[] | null;
  cc: EnvelopeAddress[] | null;
  bcc: EnvelopeAddress[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

/** One MIME entity with its byte ranges and its parsed Content-* fields (RFC 2045, 2183, 3501 7.4.2). */
export interface MimePart {
  /** Offset of the first byte of this part's header. */
  headerStart: number;
  /** Offset of the first byte of the body (just after the blank line, or headerEnd===bodyEnd when none). */
  bodyStart: number;
  /** Offset just past the last body byte (the CRLF before a boundary belongs to the boundary). */
  bodyEnd: number;
  /** Lower-cased media type and subtype, defaults applied ("text"/"plain", or message/rfc822 in a digest). */
  type: string;
  subtype: string;
  /** Content-Type parameters in order, names lower-cased, RFC 2231 decoded to UTF-8. */
  params: Array<[string, string]>;
  id: string | null;
  description: string | null;
  /** Content-Transfer-Encoding as written (upper-cased), default "7BIT". */
  encoding: string;
  /** Body size in octets (bodyEnd - bodyStart). */
  size: number;
  /** Number of LF in the body; IMAP sends it for text/* and message/rfc822, it is computed for every part. */
  lines: number;
  md5: string | null;
  disposition: { type: string; params: Array<[string, string]> } | null;
  language: string[] | null;
  location: string | null;
  /** Children of a multipart (at least one is not guaranteed for malformed input). */
  children?: MimePart[];
  /** For message/rfc822 (and message/global): the embedded message. */
  message?: { envelope: Envelope; part: MimePart };
}

/** Decoded header values used by SEARCH and SORT, UTF-8. */
export interface SearchFields {
  subject: string;
  from: string;
  to: string;
  cc: string;
  bcc: string;
  /** Date header as milliseconds since the epoch, or null when absent or unparsable. */
  date: number | null;
  messageId: string;
}

export interface MessageIndex {
  /** Format version of this structure, so stores can re-index old rows. */
  version: number;
  /** Total octets of the message (equals the blob size). */
  size: number;
  envelope: Envelope;
  part: MimePart;
  search: SearchFields;
  /** Problems tolerated while indexing (missing boundary, depth cap hit...), for diagnostics. */
  warnings?: string[];
}
