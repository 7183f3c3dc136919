/**
 * The content accessors of a SearchContext (`loadIndex`, `readHeader`, `readText`) on top of
 * the MailStore interface, for the session to plug in.
 *
 * - Index rows are fetched in batches: lookups started in the same turn of the event loop
 *   (the engine evaluates a window of messages at once) become one `getMessages` call.
 * - HEADER reads only the header bytes (`[0, bodyStart)` of the message as clients see it, so
 *   per-recipient prefix lines such as Delivered-To are searchable too).
 * - BODY/TEXT read only the text parts (RFC 3501 6.4.4 lets a server skip non-text leaves) and
 *   the headers of embedded messages (a forwarded message's Subject and From are part of the
 *   outer body, and users search for them): one read covering them all when little else lies
 *   between them, one read per segment otherwise, so a 20 MB attachment next to a short text
 *   is not read.
 * - A message expunged meanwhile gives null, as the contract asks.
 * @module
 */
import { DEFAULT_MAX_TEXT, partText } from '../../mime/text.js';
import type { MessageIndex, MimePart } from '../../mime/types.js';
import type { Id, Messages, StoredMessage } from '../../store/types.js';
import { StoreError } from '../../store/types.js';
import { decodeHeaderFields, headerFieldsText } from './content.js';
import type { SearchContext } from './types.js';

/** A byte range of the message that contributes searchable text, and how to turn it into text. */
interface TextSegment {
  readonly start: number;
  readonly end: number;
  readonly render: (bytes: Buffer) => string;
}

export interface StoreSearchSourceOptions {
  store: Pick<Messages, 'getMessages' | 'readMessage'>;
  mailboxId: Id;
  /** Most rows per getMessages call (one synchronous query: keep it short). Default 64. */
  maxBatch?: number;
  /** Cap on the text returned per message, in UTF-16 units. Default mime/text DEFAULT_MAX_TEXT (4 Mi). */
  maxTextChars?: number;
  /** Index rows kept after use (a message's HEADER then BODY need the row twice). Default 1024. */
  keepRows?: number;
  /** Messages up to this size are read whole, once, for both header and text. Default 128 KiB. */
  smallMessageBytes?: number;
}

/** Bytes of non-text content we accept to read along with the text parts, to save a read. */
const GAP_ALLOWANCE = 64 * 1024;
/** Small messages whose bytes are kept for a second accessor call (TEXT reads header and text). */
const KEEP_WHOLE = 64;

export class StoreSearchSource implements Pick<SearchContext, 'loadIndex' | 'readHeader' | 'readText'> {
  private readonly store: Pick<Messages, 'getMessages' | 'readMessage'>;
  private readonly mailboxId: Id;
  private readonly maxBatch: number;
  private readonly maxTextChars: number;
  private readonly keepRows: number;
  private readonly smallMessageBytes: number;
  /** Bytes of recently read small messages, by UID, oldest first. */
  private readonly wholes = new Map<number, Promise<Buffer | null>>();
  /** Rows loaded or being loaded, oldest first (a Map keeps insertion order). */
  private readonly rows = new Map<number, Promise<StoredMessage | null>>();
  private queued: Array<{ uid: number; resolve: (row: StoredMessage | null) => void; reject: (err: unknown) => void }> = [];

  constructor(options: StoreSearchSourceOptions) {
    this.store = options.store;
    this.mailboxId = options.mailboxId;
    this.maxBatch = Math.max(1, options.maxBatch ?? 64);
    this.maxTextChars = options.maxTextChars ?? DEFAULT_MAX_TEXT;
    this.keepRows = Math.max(this.maxBatch, options.keepRows ?? 1024);
    this.smallMessageBytes = options.smallMessageBytes ?? 128 * 1024;
  }

  async loadIndex(uid: number): Promise<MessageIndex | null> {
    return (await this.row(uid))?.index ?? null;
  }

  async readHeader(uid: number): Promise<Buffer | null> {
    const row = await this.row(uid);
    if (row === null) return null;
    return this.read(row, 0, row.index.part.bodyStart);
  }

  async readText(uid: number): Promise<string | null> {
    const row = await this.row(uid);
    if (row === null) return null;
    const segments = boundedSegments(textSegments(row.index.part), this.maxTextChars * 2);
    const bodies = await this.readSegments(row, segments);
    if (bodies === null) return null;
    return joinCapped(
      segments.map((segment, i) => segment.render(bodies[i]!)),
      this.maxTextChars,
    );
  }

  /** The row of `uid`, batched with the other lookups of this turn. */
  private row(uid: number): Promise<StoredMessage | null> {
    let row = this.rows.get(uid);
    if (row === undefined) {
      row = new Promise((resolve, reject) => {
        if (this.queued.length === 0) queueMicrotask(() => this.flush());
        this.queued.push({ uid, resolve, reject });
      });
      this.rows.set(uid, row);
      this.forgetOldRows();
    }
    return row;
  }

  private flush(): void {
    const queued = this.queued;
    this.queued = [];
    for (let at = 0; at < queued.length; at += this.maxBatch) {
      const batch = queued.slice(at, at + this.maxBatch);
      const uids = [...new Set(batch.map((q) => q.uid))].sort((a, b) => a - b);
      this.store.getMessages(this.mailboxId, uids).then(
        (found) => {
          const byUid = new Map(found.map((m) => [m.uid, m]));
          for (const q of batch) q.resolve(byUid.get(q.uid) ?? null);
        },
        (err: unknown) => {
          for (const q of batch) {
            this.rows.delete(q.uid);
            q.reject(err);
          }
        },
      );
    }
  }

  private forgetOldRows(): void {
    for (const uid of this.rows.keys()) {
      if (this.rows.size <= this.keepRows) break;
      this.rows.delete(uid);
    }
  }

  /** The bytes of `segments`, in order; null when the message is gone. */
  private async readSegments(row: StoredMessage, segments: readonly TextSegment[]): Promise<Buffer[] | null> {
    if (segments.length === 0) return [];
    let start = Infinity;
    let end = 0;
    let wanted = 0;
    for (const s of segments) {
      start = Math.min(start, s.start);
      end = Math.max(end, s.end);
      wanted += s.end - s.start;
    }
    if (end - start <= wanted + GAP_ALLOWANCE) {
      const span = await this.read(row, start, end);
      if (span === null) return null;
      return segments.map((s) => span.subarray(s.start - start, s.end - start));
    }
    const bodies: Buffer[] = [];
    for (const s of segments) {
      const body = await this.read(row, s.start, s.end);
      if (body === null) return null;
      bodies.push(body);
    }
    return bodies;
  }

  /**
   * Bytes [start, end) of the message. A small message is read whole and kept for a moment:
   * for small files the cost is the open/read/close round trips, not the bytes, and TEXT asks
   * for the header and then the text of the same message.
   */
  private async read(row: StoredMessage, start: number, end: number): Promise<Buffer | null> {
    if (row.size > this.smallMessageBytes) return this.readRange(row, start, end);
    let whole = this.wholes.get(row.uid);
    if (whole === undefined) {
      whole = this.readRange(row, 0, row.size);
      this.wholes.set(row.uid, whole);
      for (const uid of this.wholes.keys()) {
        if (this.wholes.size <= KEEP_WHOLE) break;
        this.wholes.delete(uid);
      }
    }
    return (await whole)?.subarray(start, end) ?? null;
  }

  private async readRange(row: StoredMessage, start: number, end: number): Promise<Buffer | null> {
    try {
      return await this.store.readMessage(row, start, end);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'notFound') return null;
      throw err;
    }
  }
}

/**
 * The searchable segments in document order: text/* leaves (transfer- and charset-decoded,
 * HTML reduced to text by mime/text partText) and the headers of embedded messages.
 */
function* textSegments(part: MimePart): Generator<TextSegment> {
  if (part.children) {
    for (const child of part.children) yield* textSegments(child);
  } else if (part.message) {
    const inner = part.message.part;
    yield { start: inner.headerStart, end: inner.bodyStart, render: (bytes) => headerFieldsText(decodeHeaderFields(bytes)) };
    yield* textSegments(inner);
  } else if (part.type === 'text') {
    yield { start: part.bodyStart, end: part.bodyEnd, render: (bytes) => partText(bytes, part) };
  }
}

/**
 * Non-empty segments, cut so that at most `maxBytes` are read in all: the text is capped at
 * `maxTextChars` anyway, and a decoded character takes at least one byte of any transfer
 * encoding but base64 (4 bytes per 3), so twice the cap leaves room. Bounds the memory of
 * the few messages a search has in flight whatever the size of their text parts.
 */
function boundedSegments(segments: Iterable<TextSegment>, maxBytes: number): TextSegment[] {
  const kept: TextSegment[] = [];
  let budget = maxBytes;
  for (const segment of segments) {
    if (budget <= 0) break;
    if (segment.end <= segment.start) continue;
    const end = Math.min(segment.end, segment.start + budget);
    kept.push(end === segment.end ? segment : { ...segment, end });
    budget -= end - segment.start;
  }
  return kept;
}

/** Part texts joined by newlines, like mime/text extractText, cut at `max` units. */
function joinCapped(texts: string[], max: number): string {
  const kept: string[] = [];
  let length = 0;
  for (const text of texts) {
    if (length >= max) break;
    if (text.length === 0) continue;
    kept.push(text);
    length += text.length + 1;
  }
  const all = kept.join('\n');
  return all.length > max ? all.slice(0, max) : all;
}
