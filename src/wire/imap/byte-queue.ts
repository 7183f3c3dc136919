/**
 * A FIFO of received chunks. Streaming reads hand out slices of the pushed chunks (no copy);
 * only reads that span chunks copy. Pushed chunks must not be mutated afterwards.
 *
 * Cost stays linear when a client trickles a line one byte per packet: chunks are consumed
 * through an index (no Array#shift), and a repeated search resumes in the chunk where the
 * previous one stopped instead of walking the queue from its start.
 * @module
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Index of the first live chunk in `chunks`. */
  private first = 0;
  /** Read offset into chunks[first]. */
  private head = 0;
  private total = 0;
  /** Search cursor: chunk index and the queue offset at which that chunk's live bytes start.
   * Valid while nothing has been consumed since it was set. */
  private cursorChunk = -1;
  private cursorBase = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Offset (from the read position) of the first `byte` at or after `from`, or -1. */
  indexOf(byte: number, from: number): number {
    let c = this.first;
    let base = 0;
    if (this.cursorChunk >= this.first && from >= this.cursorBase) {
      c = this.cursorChunk;
      base = this.cursorBase;
    }
    for (; c < this.chunks.length; c++) {
      const chunk = this.chunks[c]!;
      const start = c === this.first ? this.head : 0;
      const size = chunk.length - start;
      if (from < base + size) {
        this.cursorChunk = c;
        this.cursorBase = base;
        const found = chunk.indexOf(byte, start + Math.max(0, from - base));
        if (found >= 0) return base + found - start;
      }
      base += size;
    }
    return -1;
  }

  /** Removes and returns exactly `n` bytes (n ≤ length); copies only when they span chunks. */
  take(n: number): Buffer {
    const first = this.chunks[this.first];
    if (first !== undefined && first.length - this.head >= n) return this.takeFromFirst(n);
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const piece = this.takeFromFirst(Math.min(n - written, this.chunks[this.first]!.length - this.head));
      piece.copy(out, written);
      written += piece.length;
    }
    return out;
  }

  /** Removes and returns up to `max` bytes from the first chunk only (a slice, never a copy). */
  takeSome(max: number): Buffer {
    const first = this.chunks[this.first];
    if (first === undefined) return Buffer.alloc(0);
    return this.takeFromFirst(Math.min(max, first.length - this.head));
  }

  /** Drops up to `n` bytes; returns how many were dropped. */
  skip(n: number): number {
    let dropped = 0;
    while (dropped < n && this.total > 0) dropped += this.takeSome(n - dropped).length;
    return dropped;
  }

  /** The bytes at offsets [end - n, end) (for looking at the end of a line being dropped). */
  peekBefore(end: number, n: number): Buffer {
    const start = Math.max(0, end - n);
    const out = Buffer.allocUnsafe(end - start);
    let base = 0;
    for (let c = this.first; c < this.chunks.length && base < end; c++) {
      const chunk = this.chunks[c]!;
      const from = c === this.first ? this.head : 0;
      const size = chunk.length - from;
      const lo = Math.max(start, base);
      const hi = Math.min(end, base + size);
      if (hi > lo) chunk.copy(out, lo - start, from + lo - base, from + hi - base);
      base += size;
    }
    return out;
  }

  clear(): number {
    const dropped = this.total;
    this.chunks = [];
    this.first = 0;
    this.head = 0;
    this.total = 0;
    this.cursorChunk = -1;
    return dropped;
  }

  private takeFromFirst(n: number): Buffer {
    const first = this.chunks[this.first]!;
    const piece = first.subarray(this.head, this.head + n);
    this.head += n;
    this.total -= n;
    this.cursorChunk = -1;
    if (this.head === first.length) {
      this.first++;
      this.head = 0;
      this.compact();
    }
    return piece;
  }

  /** Drops consumed chunk references now and then, so the array does not grow forever. */
  private compact(): void {
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first >= 1024 && this.first * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}
