/**
 * Response output with backpressure (STYLE.md 4.10): small responses are queued and written
 * together; once the queue passes FLUSH_THRESHOLD it is written at once, and every write waits
 * for the socket to drain (Connection.write). A client that stops reading therefore stops the
 * session itself, not the server: nothing more is produced until it reads, and after
 * `stallTimeoutMs` without progress the connection is closed.
 * @module
 */
import type { Readable } from 'node:stream';
import type { Connection } from '../net/connection.js';
import { ConnectionClosedError } from '../net/connection.js';

/** Queued octets beyond which the queue is written before anything more is produced. */
const FLUSH_THRESHOLD = 64 * 1024;

/** A client that did not read our output for too long. */
export class OutputStalledError extends Error {
  override readonly name = 'OutputStalledError';
}

export class Output {
  #chunks: Buffer[] = [];
  #bytes = 0;
  /** Octets written in this session (for logs and tests). */
  written = 0;

  constructor(
    private readonly conn: Connection,
    private readonly stallTimeoutMs: number,
  ) {}

  get queuedBytes(): number {
    return this.#bytes;
  }

  /** Queues response chunks; writes the queue when it has grown large. */
  async send(chunks: readonly Buffer[]): Promise<void> {
    for (const chunk of chunks) {
      this.#chunks.push(chunk);
      this.#bytes += chunk.length;
    }
    if (this.#bytes >= FLUSH_THRESHOLD) await this.flush();
  }

  /** Queues without the size check (for callers that flush right after). */
  queue(chunks: readonly Buffer[]): void {
    for (const chunk of chunks) {
      this.#chunks.push(chunk);
      this.#bytes += chunk.length;
    }
  }

  async flush(): Promise<void> {
    if (this.#bytes === 0) return;
    const data = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes);
    this.#chunks = [];
    this.#bytes = 0;
    await this.#write(data);
  }

  /** Streams `source` to the client after the queue, chunk by chunk, waiting for drain; exactly
   * `length` octets are sent (a short source is padded with spaces so the literal stays valid). */
  async stream(source: Readable, length: number): Promise<void> {
    await this.flush();
    let sent = 0;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        const piece = sent + chunk.length > length ? chunk.subarray(0, length - sent) : chunk;
        if (piece.length > 0) await this.#write(piece);
        sent += piece.length;
        if (sent >= length) break;
      }
    } finally {
      source.destroy();
    }
    // The blob was shorter than the index said (should not happen): keep the literal's length.
    if (sent < length) await this.#write(Buffer.alloc(length - sent, 0x20));
  }

  async #write(data: Buffer): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new OutputStalledError('client stopped reading')), this.stallTimeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([this.conn.write(data), stalled]);
      this.written += data.length;
    } catch (error) {
      if (error instanceof OutputStalledError) this.conn.destroy();
      throw error instanceof OutputStalledError ? new ConnectionClosedError('client stopped reading') : error;
    } finally {
      clearTimeout(timer);
    }
  }
}
