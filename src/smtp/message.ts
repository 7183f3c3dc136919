/**
 * One incoming message (DATA or BDAT) on its way to the blob store: streamed to the BlobWriter
 * and through the MessageIndexer in the same pass, so the message is parsed once and never held
 * whole in memory.
 *
 * - The Received field (RFC 5321 4.4) is written first, so it is part of the stored bytes.
 * - For submission, the header block alone is buffered (capped) to see whether Date and
 *   Message-ID are present, and the missing ones are added in front of it (RFC 6409 8.2, 8.3).
 * - The size limit counts what the client sent. Past it, nothing more is stored (the blob is
 *   thrown away) but the session keeps reading to the end of the message, so it can answer 552
 *   in step with the client (RFC 1870 6.3, RFC 5321 4.5.3.1.10).
 * - An inspector (the MX's SPF/DKIM/DMARC checks, ./mail-auth.ts) sees the client's octets as
 *   they arrive and may drop header fields (forged Authentication-Results) before they are
 *   stored and indexed; the header block is then buffered (capped) as for submission.
 * @module
 */
import { MessageIndexer } from '../mime/indexer.js';
import type { MessageIndex } from '../mime/types.js';
import type { BlobWriter, StagedBlob } from '../store/types.js';
import { newMessageId, presentFields, rfc5322Date } from './trace.js';

/** Header bytes buffered to decide about Date/Message-ID; a longer header is passed through as is. */
export const HEADER_SCAN_LIMIT = 64 * 1024;

/** Looks at a message while it is received (./mail-auth.ts). */
export interface MessageInspector {
  /** The client's octets, in order (not the trace fields); may wait (backpressure). */
  write(chunk: Buffer): Promise<void>;
  /** The header fields (ending with the CRLF of the last one) as they will be stored; returns what to store. */
  filterHeader(header: Buffer): Buffer;
  /** The header was longer than HEADER_SCAN_LIMIT and went to the store without filterHeader. */
  headerPassedThrough(): void;
  /** The message will not be delivered. */
  abort(): void;
}

export interface IncomingMessageOptions {
  /** Largest message accepted, in octets sent by the client. */
  sizeLimit: number;
  /** Trace fields written before the message (the Received field). */
  trace: Buffer;
  /** Add Date / Message-ID when missing (submission). */
  completeHeader: { hostname: string; now: Date } | null;
  /** MessageIndexer limits. */
  maxDepth: number;
  maxParts: number;
  /** Sees the message and filters its header (MX checks); none by default. */
  inspector?: MessageInspector | null;
}

export interface FinishedMessage {
  blob: StagedBlob;
  index: MessageIndex;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');

export class IncomingMessage {
  readonly #writer: BlobWriter;
  readonly #indexer: MessageIndexer;
  readonly #options: IncomingMessageOptions;
  #clientBytes = 0;
  #oversized = false;
  #aborted = false;
  /** The header block seen so far, while deciding about Date/Message-ID; null once decided. */
  #header: Buffer | null;

  private constructor(writer: BlobWriter, options: IncomingMessageOptions) {
    this.#writer = writer;
    this.#options = options;
    this.#indexer = new MessageIndexer({ maxDepth: options.maxDepth, maxParts: options.maxParts });
    this.#header = options.completeHeader === null && !options.inspector ? null : Buffer.alloc(0);
  }

  /** Opens the blob and writes the trace fields. */
  static async open(writer: BlobWriter, options: IncomingMessageOptions): Promise<IncomingMessage> {
    const message = new IncomingMessage(writer, options);
    try {
      await message.#store(options.trace);
    } catch (error) {
      await message.abort();
      throw error;
    }
    return message;
  }

  /** Octets the client sent so far (the trace fields and additions not counted). */
  get clientBytes(): number {
    return this.#clientBytes;
  }

  /** True once the message went over the size limit: it will be refused with 552. */
  get oversized(): boolean {
    return this.#oversized;
  }

  /** Takes the next message octets (dot-unstuffed for DATA). */
  async write(chunk: Buffer): Promise<void> {
    if (this.#aborted || chunk.length === 0) return;
    this.#clientBytes += chunk.length;
    if (this.#clientBytes > this.#options.sizeLimit) {
      this.#oversized = true;
      await this.abort();
      return;
    }
    await this.#options.inspector?.write(chunk);
    if (this.#header === null) {
      await this.#store(chunk);
      return;
    }
    const previous = this.#header;
    const header = Buffer.concat([previous, chunk]);
    const end = headerEnd(header, previous.length);
    if (end !== -1) {
      await this.#completeHeader(header.subarray(0, end));
      await this.#store(this.#filtered(header, end));
    } else if (header.length > HEADER_SCAN_LIMIT) {
      // Too long to look at: pass it on untouched rather than risk duplicating a field.
      this.#header = null;
      this.#options.inspector?.headerPassedThrough();
      await this.#store(header);
    } else {
      this.#header = header;
    }
  }

  /** Ends the message: the staged blob (not durable yet) and its index. */
  async finish(): Promise<FinishedMessage> {
    if (this.#aborted) throw new Error('IncomingMessage.finish() after abort');
    if (this.#header !== null) {
      // The whole message was header (no empty line): decide on all of it.
      const header = this.#header;
      await this.#completeHeader(header);
      await this.#store(this.#filtered(header, header.length));
    }
    const blob = await this.#writer.finish();
    return { blob, index: this.#indexer.finish() };
  }

  /** Throws away what was written. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#header = null;
    this.#options.inspector?.abort();
    await this.#writer.abort();
  }

  /** Writes the missing Date / Message-ID fields (RFC 6409 8.2, 8.3) before the header block. */
  async #completeHeader(header: Buffer): Promise<void> {
    this.#header = null;
    const complete = this.#options.completeHeader;
    if (complete === null) return;
    const present = presentFields(header);
    let added = '';
    if (!present.date) added += `Date: ${rfc5322Date(complete.now)}\r\n`;
    if (!present.messageId) added += `Message-ID: ${newMessageId(complete.hostname, complete.now)}\r\n`;
    if (added !== '') await this.#store(Buffer.from(added, 'ascii'));
  }

  /** `buffer` with its header fields (the first `end` octets) passed through the inspector. */
  #filtered(buffer: Buffer, end: number): Buffer {
    const inspector = this.#options.inspector;
    if (!inspector) return buffer;
    return Buffer.concat([inspector.filterHeader(buffer.subarray(0, end)), buffer.subarray(end)]);
  }

  async #store(bytes: Buffer): Promise<void> {
    if (bytes.length === 0) return;
    this.#indexer.write(bytes);
    await this.#writer.write(bytes);
  }
}

/**
 * Offset just past the header fields (the CRLF that ends the last field), or -1 if the empty
 * line has not arrived. A message that starts with CRLF has an empty header (offset 0).
 * `searchFrom` skips what an earlier call already searched (minus 3 octets of overlap).
 */
function headerEnd(header: Buffer, searchFrom: number): number {
  if (header.length >= 2 && header[0] === 0x0d && header[1] === 0x0a) return 0;
  const at = header.indexOf(CRLF_CRLF, Math.max(0, searchFrom - 3));
  return at === -1 ? -1 : at + 2;
}
