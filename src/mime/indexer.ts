/**
 * The message indexer: one pass over the bytes of a message, fed in chunks as they arrive
 * (SMTP DATA, APPEND), producing the `MessageIndex` stored with the message.
 *
 * It keeps no body bytes: only the header block being read (capped), the first bytes of the
 * current line (to recognise a blank line or a boundary) and the stack of open parts.
 *
 * Structure rules (RFC 2045, RFC 2046 5.1, RFC 3501 6.4.5), matched to Dovecot 2.3:
 * - a header ends at its first empty line (which belongs to the header), at the end of the
 *   message, or, inside a multipart, at a boundary line (the newline before which then
 *   belongs to the boundary, and the part has an empty body);
 * - a boundary line is a line that starts with "--" + boundary of an open multipart (the
 *   longest match wins, so nested boundaries that share a prefix work); "--" + boundary + "--"
 *   closes it. The CRLF (or LF) before a boundary line belongs to the boundary, unless the
 *   boundary line directly follows a header or another boundary line;
 * - a boundary of an outer multipart ends every part opened inside it;
 * - preamble and epilogue belong to the multipart's own body and to no child;
 * - message/rfc822 and message/global bodies are parsed as embedded messages.
 * @module
 */
import type { Envelope, MessageIndex, MimePart } from './types.js';
import { parseHeaderBlock } from './header.js';
import { applyContentFields, buildEnvelope, buildSearchFields, emptyEnvelope, retainedChars } from './part-fields.js';

export const INDEX_VERSION = 1;

export interface IndexOptions {
  /** Deepest nesting of multiparts and embedded messages (top level is 0). Default 32. */
  maxDepth?: number;
  /** Most parts indexed (every multipart, leaf and embedded message counts). Default 2000. */
  maxParts?: number;
  /** Bytes of each header block kept for parsing; fields beyond are ignored. Default 256 KiB. */
  maxHeaderBytes?: number;
  /**
   * Characters of header-derived text (parameters, envelopes...) the whole index may hold.
   * Past it the rest of the message is not indexed. Default 4 Mi: bounds the index of a
   * message with thousands of parts that each carry a large header.
   */
  maxIndexChars?: number;
}

/** Thrown on misuse (write after finish). Bad input never throws. */
export class MimeIndexerStateError extends Error {
  readonly code = 'MIME_INDEXER_STATE';
  constructor(message: string) {
    super(message);
    this.name = 'MimeIndexerStateError';
  }
}

const DEFAULT_MAX_DEPTH = 32;
const DEFAULT_MAX_PARTS = 2000;
const DEFAULT_MAX_HEADER_BYTES = 256 * 1024;
const DEFAULT_MAX_INDEX_CHARS = 4 * 1024 * 1024;
/** Longest boundary we honour; RFC 2046 5.1.1 allows 70 characters. */
const MAX_BOUNDARY = 500;
/** Bytes of each line kept: enough for "--" + the longest boundary + "--". */
const HEAD_MAX = MAX_BOUNDARY + 4;
const MAX_WARNINGS = 50;
const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

/** One open part on the walk's stack. */
interface Frame {
  part: MimePart;
  depth: number;
  /** Top-level or embedded message: its header carries an ENVELOPE. */
  isMessageRoot: boolean;
  multipartChild: boolean;
  inDigest: boolean;
  /** Set for a multipart whose children we walk; cleared once its close-delimiter is seen. */
  boundary: Buffer | null;
  isDigest: boolean;
  /** Line feeds counted before bodyStart, to derive `lines`. */
  lfAtBodyStart: number;
  /** For an embedded message: the envelope object to fill (shared with the parent's `message`). */
  envelope: Envelope | null;
}

export class MessageIndexer {
  private readonly maxDepth: number;
  private readonly maxParts: number;
  private readonly maxHeaderBytes: number;
  private readonly maxIndexChars: number;
  private retained = 0;

  private readonly stack: Frame[] = [];
  private root: Frame;
  private inHeader = true;
  private partCount = 1;
  /** No more structure: every remaining byte is body of the open parts (limits hit). */
  private opaque = false;
  private activeBoundaries = 0;
  private finished = false;
  private readonly warnings: string[] = [];

  /** Octets seen so far; line feeds seen so far. */
  private offset = 0;
  private lf = 0;

  // The current line.
  private lineStart = 0;
  private lfAtLineStart = 0;
  private readonly head = Buffer.allocUnsafe(HEAD_MAX);
  private headLength = 0;
  private lastByte = -1;
  /** Size of the newline that ended the previous line (1 or 2), 0 at the start. */
  private previousNewline = 0;
  /** Where the current body segment began (after a header or a boundary line). */
  private segmentStart = 0;

  // The header block being read.
  private header = Buffer.allocUnsafe(4096);
  private headerLength = 0;
  private headerLengthAtLineStart = 0;
  private headerTruncated = false;
  /** Newline size of the last header line: given back to the boundary if one interrupts the header. */
  private headerNewline = 0;

  private topFields: ReturnType<typeof parseHeaderBlock> = [];

  constructor(options: IndexOptions = {}) {
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxParts = Math.max(1, options.maxParts ?? DEFAULT_MAX_PARTS);
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.maxIndexChars = options.maxIndexChars ?? DEFAULT_MAX_INDEX_CHARS;
    this.root = this.pushFrame(0, { depth: 0, isMessageRoot: true, multipartChild: false, inDigest: false });
  }

  /** Feeds the next bytes of the message. */
  write(chunk: Uint8Array): void {
    if (this.finished) throw new MimeIndexerStateError('write() after finish()');
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    while (pos < buf.length) {
      if (this.isDraining()) {
        this.drain(buf, pos);
        return;
      }
      const newline = buf.indexOf(LF, pos);
      const end = newline === -1 ? buf.length : newline + 1;
      this.takeLineBytes(buf, pos, end);
      if (newline !== -1) {
        const crlf = this.endsWithCrlf(buf, newline, pos);
        this.lf++;
        this.lastByte = LF;
        this.endLine(true, crlf);
      } else {
        this.lastByte = buf[end - 1]!;
      }
      pos = end;
    }
  }

  /** Ends the message and returns its index. */
  finish(): MessageIndex {
    if (this.finished) throw new MimeIndexerStateError('finish() called twice');
    if (!this.isDraining() && this.offset > this.lineStart) this.endLine(false, false);
    this.finished = true;
    if (this.inHeader) this.endHeader(this.offset, this.lf, false);
    while (this.stack.length > 0) this.closeTop(this.offset, this.lf);
    const envelope = this.root.envelope ?? emptyEnvelope();
    const index: MessageIndex = {
      version: INDEX_VERSION,
      size: this.offset,
      envelope,
      part: this.root.part,
      search: buildSearchFields(this.topFields, envelope),
    };
    if (this.warnings.length > 0) index.warnings = this.warnings;
    return index;
  }

  // ---- bytes and lines ----

  /** Body of a part with no open boundary (or past a limit): nothing but line feeds to count. */
  private isDraining(): boolean {
    return !this.inHeader && (this.opaque || this.activeBoundaries === 0);
  }

  private drain(buf: Buffer, from: number): void {
    let pos = buf.indexOf(LF, from);
    while (pos !== -1) {
      this.lf++;
      pos = buf.indexOf(LF, pos + 1);
    }
    this.offset += buf.length - from;
    this.lastByte = buf[buf.length - 1]!;
  }

  private takeLineBytes(buf: Buffer, from: number, to: number): void {
    // Only a line that may be a boundary line needs its first bytes kept. The dash must be the
    // line's first byte, not merely the first byte of a chunk that starts mid-line
    // (fuzz/mime.fuzz.ts: "text --boundary" split before the dashes became a boundary line).
    const atLineStart = this.offset === this.lineStart;
    if (this.headLength < HEAD_MAX && this.activeBoundaries > 0 && !this.opaque && (this.headLength > 0 || (atLineStart && buf[from] === DASH))) {
      const n = Math.min(to - from, HEAD_MAX - this.headLength);
      buf.copy(this.head, this.headLength, from, from + n);
      this.headLength += n;
    }
    if (this.inHeader) this.appendHeader(buf, from, to);
    this.offset += to - from;
  }

  private endsWithCrlf(buf: Buffer, newline: number, chunkStart: number): boolean {
    const lineLength = this.offset - this.lineStart;
    if (lineLength < 2) return false;
    return newline > chunkStart ? buf[newline - 1] === CR : this.lastByte === CR;
  }

  /** A line is complete (with its LF, or at the end of the message without one). */
  private endLine(hasNewline: boolean, crlf: boolean): void {
    const lineEnd = this.offset;
    const length = lineEnd - this.lineStart;
    const head = this.head;
    const headLength = this.headLength;
    const owner = headLength >= 3 && head[0] === DASH && head[1] === DASH ? this.findBoundary() : -1;
    if (owner !== -1) {
      const boundary = this.stack[owner]!.boundary!;
      const close = headLength >= boundary.length + 4 && head[boundary.length + 2] === DASH && head[boundary.length + 3] === DASH;
      this.onBoundaryLine(owner, close, hasNewline, lineEnd);
    } else if (this.inHeader) {
      if (hasNewline && (length === 1 || (length === 2 && crlf))) {
        this.endHeader(lineEnd, this.lf, true);
      } else {
        this.headerNewline = hasNewline ? (crlf ? 2 : 1) : 0;
        this.headerLengthAtLineStart = this.headerLength;
      }
    }
    this.previousNewline = hasNewline ? (crlf ? 2 : 1) : 0;
    this.lineStart = lineEnd;
    this.lfAtLineStart = this.lf;
    this.headLength = 0;
  }

  /** Index in the stack of the multipart whose boundary the current line is, or -1. */
  private findBoundary(): number {
    let best = -1;
    let bestLength = -1;
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const boundary = this.stack[i]!.boundary;
      if (boundary === null || boundary.length <= bestLength) continue;
      if (this.headLength >= boundary.length + 2 && this.head.compare(boundary, 0, boundary.length, 2, boundary.length + 2) === 0) {
        best = i;
        bestLength = boundary.length;
      }
    }
    return best;
  }

  // ---- structure ----

  private onBoundaryLine(owner: number, close: boolean, hasNewline: boolean, lineEnd: number): void {
    let end: number;
    if (this.inHeader) end = this.lineStart - this.headerNewline;
    else end = this.lineStart === this.segmentStart ? this.lineStart : this.lineStart - this.previousNewline;
    const lfAtEnd = end < this.lineStart ? this.lfAtLineStart - 1 : this.lfAtLineStart;
    if (this.inHeader) {
      this.headerLength = this.headerLengthAtLineStart;
      this.endHeader(end, lfAtEnd, false);
    }
    while (this.stack.length - 1 > owner) this.closeTop(end, lfAtEnd);
    const multipart = this.stack[owner]!;
    this.segmentStart = lineEnd;
    if (close) {
      multipart.boundary = null;
      this.activeBoundaries--;
      return;
    }
    if (!hasNewline) return;
    if (this.partCount >= this.maxParts) {
      this.warn(`more than ${this.maxParts} parts: the rest of the message is not indexed`);
      this.opaque = true;
      return;
    }
    const child = this.pushFrame(lineEnd, { depth: multipart.depth + 1, isMessageRoot: false, multipartChild: true, inDigest: multipart.isDigest });
    multipart.part.children!.push(child.part);
    this.partCount++;
  }

  /**
   * The header of the top frame ends; its body starts at `bodyStart`. `properEnd` is false when
   * the header was cut short (end of message, or a boundary line): a multipart then gets no
   * children and an embedded message gets an empty part, as in Dovecot.
   */
  private endHeader(bodyStart: number, lfAtBodyStart: number, properEnd: boolean): void {
    const frame = this.stack[this.stack.length - 1]!;
    const part = frame.part;
    part.bodyStart = bodyStart;
    frame.lfAtBodyStart = lfAtBodyStart;
    this.inHeader = false;
    this.segmentStart = bodyStart;
    const fields = parseHeaderBlock(this.header.subarray(0, this.headerLength));
    this.resetHeader();
    if (frame.isMessageRoot) {
      const envelope = buildEnvelope(fields);
      if (frame.envelope) Object.assign(frame.envelope, envelope);
      else frame.envelope = envelope;
      if (frame === this.root) this.topFields = fields;
    }
    const shape = applyContentFields(part, fields, { multipartChild: frame.multipartChild, inDigest: frame.inDigest });
    if (shape.invalidContentType) this.warn(`invalid Content-Type at ${part.headerStart}: taken as text/plain`);
    this.retained += retainedChars(part, frame.isMessageRoot ? frame.envelope : null);
    if (this.retained > this.maxIndexChars && !this.opaque) {
      this.warn(`index larger than ${this.maxIndexChars} characters at ${part.headerStart}: the rest of the message is not indexed`);
      this.opaque = true;
    }
    if (shape.multipart) {
      part.children = [];
      frame.isDigest = shape.digest;
      if (!properEnd) return;
      if (shape.boundary === null) this.warn(`multipart at ${part.headerStart} has no boundary parameter`);
      else if (shape.boundary.length > MAX_BOUNDARY) this.warn(`multipart at ${part.headerStart} has a boundary longer than ${MAX_BOUNDARY}`);
      else if (frame.depth + 1 > this.maxDepth) this.warn(`nesting deeper than ${this.maxDepth} at ${part.headerStart}: kept as an opaque part`);
      else if (!this.opaque) {
        frame.boundary = shape.boundary;
        this.activeBoundaries++;
      }
      return;
    }
    if (!shape.message) return;
    if (!properEnd) {
      // The empty embedded part counts like any other, so the limits hold (fuzz/mime.fuzz.ts).
      if (frame.depth + 1 > this.maxDepth || this.opaque || this.partCount >= this.maxParts) return;
      part.message = { envelope: emptyEnvelope(), part: emptyPart(bodyStart) };
      this.partCount++;
      return;
    }
    if (frame.depth + 1 > this.maxDepth) {
      this.warn(`nesting deeper than ${this.maxDepth} at ${part.headerStart}: kept as an opaque part`);
      return;
    }
    if (this.opaque) return;
    if (this.partCount >= this.maxParts) {
      this.warn(`more than ${this.maxParts} parts: the rest of the message is not indexed`);
      this.opaque = true;
      return;
    }
    const envelope = emptyEnvelope();
    const embedded = this.pushFrame(bodyStart, { depth: frame.depth + 1, isMessageRoot: true, multipartChild: false, inDigest: false });
    embedded.envelope = envelope;
    part.message = { envelope, part: embedded.part };
    this.partCount++;
  }

  private pushFrame(headerStart: number, init: Pick<Frame, 'depth' | 'isMessageRoot' | 'multipartChild' | 'inDigest'>): Frame {
    const frame: Frame = { ...init, part: emptyPart(headerStart), boundary: null, isDigest: false, lfAtBodyStart: 0, envelope: null };
    this.stack.push(frame);
    this.inHeader = true;
    this.headerNewline = 0;
    this.resetHeader();
    return frame;
  }

  /** Closes the innermost open part at `end`. */
  private closeTop(end: number, lfAtEnd: number): void {
    // Only the innermost frame can still be in its header (cut short by a boundary or EOF).
    if (this.inHeader) this.endHeader(end, lfAtEnd, false);
    const frame = this.stack.pop()!;
    const part = frame.part;
    part.bodyEnd = end;
    part.size = end - part.bodyStart;
    part.lines = lfAtEnd - frame.lfAtBodyStart;
    if (frame.boundary !== null) {
      this.activeBoundaries--;
      frame.boundary = null;
      if (!this.opaque) this.warn(`multipart at ${part.headerStart} has no close-delimiter`);
    }
  }

  // ---- header block ----

  private appendHeader(buf: Buffer, from: number, to: number): void {
    if (this.headerTruncated) return;
    const length = to - from;
    if (this.headerLength + length > this.maxHeaderBytes) {
      // Keep whole lines only: the line that does not fit is dropped with everything after it.
      this.headerTruncated = true;
      this.headerLength = this.headerLengthAtLineStart;
      this.warn(`header at ${this.stack[this.stack.length - 1]!.part.headerStart} longer than ${this.maxHeaderBytes} bytes: the rest of its fields are ignored`);
      return;
    }
    if (this.headerLength + length > this.header.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxHeaderBytes, Math.max(this.header.length * 2, this.headerLength + length)));
      this.header.copy(grown, 0, 0, this.headerLength);
      this.header = grown;
    }
    buf.copy(this.header, this.headerLength, from, to);
    this.headerLength += length;
  }

  private resetHeader(): void {
    this.headerLength = 0;
    this.headerLengthAtLineStart = 0;
    this.headerTruncated = false;
    if (this.header.length > 64 * 1024) this.header = Buffer.allocUnsafe(4096);
  }

  private warn(message: string): void {
    if (this.warnings.length < MAX_WARNINGS && !this.warnings.includes(message)) this.warnings.push(message);
  }
}

/** A part with every field at its default (RFC 2045 5.2: text/plain; charset=us-ascii, 7bit). */
function emptyPart(headerStart: number): MimePart {
  return {
    headerStart,
    bodyStart: headerStart,
    bodyEnd: headerStart,
    type: 'text',
    subtype: 'plain',
    params: [],
    id: null,
    description: null,
    encoding: '7BIT',
    size: 0,
    lines: 0,
    md5: null,
    disposition: null,
    language: null,
    location: null,
  };
}

/** Indexes a whole message held in memory. */
export function indexMessage(bytes: Uint8Array, options?: IndexOptions): MessageIndex {
  const indexer = new MessageIndexer(options);
  indexer.write(bytes);
  return indexer.finish();
}
