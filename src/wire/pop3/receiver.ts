/**
 * The POP3 receiver: bytes in (`push`), command lines out (`next`). Sans-I/O: it never touches
 * a socket.
 *
 * POP3 has one input mode: CRLF-terminated lines (RFC 1939 3). Commands (RFC 2449 4: up to 255
 * octets with CRLF for servers announcing CAPA) and SASL responses during AUTH (RFC 5034 4:
 * "arbitrary length") are both lines, so the session picks the limit per line: the receiver
 * enforces the largest limit the session allows and reports the octet length of every line.
 *
 * Lines come out one by one and lazily: bytes after a line stay queued until the session asks,
 * so pipelined commands (RFC 2449 6.6) are handled in order, and a session can drop everything
 * that followed STLS (RFC 2595 4, CVE-2011-0411) with `discardBuffered()`.
 * @module
 */

export type Pop3Event =
  /** A line without its line end (raw octets). A bare LF is accepted as a line end too. */
  | { type: 'line'; line: Buffer }
  /** A line over the limit; everything up to its LF was discarded. */
  | { type: 'lineTooLong' };

export interface Pop3ReceiverOptions {
  /** Longest line in octets including CRLF. Default: AUTH_LINE_LIMIT. */
  lineLimit?: number;
}

/** RFC 2449 4: "Servers which support the CAPA command MUST support commands up to 255 octets". */
export const COMMAND_LINE_LIMIT = 255;
/**
 * SASL responses and AUTH initial responses: RFC 5034 4 puts no limit on challenge/response
 * lines; 12288 is the figure RFC 4954 4 calls sufficient, enough for OAuth bearer tokens.
 */
export const AUTH_LINE_LIMIT = 12288;

const CR = 0x0d;
const LF = 0x0a;

export class Pop3Receiver {
  readonly #lineLimit: number;
  /** Unconsumed input; #offset indexes into the first chunk. */
  #input: Buffer[] = [];
  #offset = 0;
  /** Octets of a line whose LF has not arrived yet. */
  #partial: Buffer[] = [];
  #partialLength = 0;
  #discardingLine = false;

  constructor(options: Pop3ReceiverOptions = {}) {
    const limit = options.lineLimit ?? AUTH_LINE_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 3) throw new RangeError(`lineLimit must be an integer >= 3, got ${limit}`);
    this.#lineLimit = limit;
  }

  /** Octets pushed but not yet handed out as lines (a partial line counts). */
  get bufferedBytes(): number {
    let total = this.#partialLength;
    for (const chunk of this.#input) total += chunk.length;
    return total - this.#offset;
  }

  /**
   * Queues received octets. The receiver keeps a reference (no copy): do not modify the buffer
   * afterwards. For backpressure, push the next chunk only once `next()` has returned null.
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#input.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }

  /** The next line event, or null when more input is needed. */
  next(): Pop3Event | null {
    for (;;) {
      const chunk = this.#input[0];
      if (chunk === undefined) return null;
      const start = this.#offset;
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        this.#consume(chunk.length - start);
        if (this.#holdPartial(chunk.subarray(start))) return { type: 'lineTooLong' };
        continue;
      }
      this.#consume(lf + 1 - start);
      if (this.#discardingLine) {
        this.#discardingLine = false;
        continue;
      }
      return this.#completeLine(chunk.subarray(start, lf));
    }
  }

  /**
   * Throws away everything received but not yet handed out. Called on STLS (RFC 2595 4): a
   * client must wait for the reply, so bytes behind the command are injected plaintext.
   * Returns the number of octets thrown away.
   */
  discardBuffered(): number {
    const discarded = this.bufferedBytes;
    this.#input = [];
    this.#offset = 0;
    this.#partial = [];
    this.#partialLength = 0;
    this.#discardingLine = false;
    return discarded;
  }

  /** Keeps octets of an unfinished line; true when that makes the line too long (reported once). */
  #holdPartial(bytes: Buffer): boolean {
    if (this.#discardingLine || bytes.length === 0) return false;
    // Without its LF the line already holds >= limit octets: too long whatever comes next.
    if (this.#partialLength + bytes.length >= this.#lineLimit) {
      this.#partial = [];
      this.#partialLength = 0;
      this.#discardingLine = true;
      return true;
    }
    this.#partial.push(Buffer.from(bytes));
    this.#partialLength += bytes.length;
    return false;
  }

  #completeLine(tail: Buffer): Pop3Event {
    const raw = this.#partialLength === 0 ? Buffer.from(tail) : Buffer.concat([...this.#partial, tail]);
    this.#partial = [];
    this.#partialLength = 0;
    const content = raw.length > 0 && raw[raw.length - 1] === CR ? raw.subarray(0, raw.length - 1) : raw;
    // The limit counts the line and its CRLF (RFC 2449 4), also when the client sent a bare LF.
    if (content.length + 2 > this.#lineLimit) return { type: 'lineTooLong' };
    return { type: 'line', line: content };
  }

  #consume(octets: number): void {
    this.#offset += octets;
    const first = this.#input[0];
    if (first !== undefined && this.#offset >= first.length) {
      this.#input.shift();
      this.#offset = 0;
    }
  }
}
