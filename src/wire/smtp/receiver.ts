/**
 * The SMTP receiver: bytes in (`push`), events out (`next`). Sans-I/O: it never touches a socket.
 *
 * Three modes, switched by the session:
 * - command (default): CRLF-terminated lines up to a limit, one `command` event per line, so
 *   pipelined commands (RFC 2920) come out one by one and in order;
 * - DATA (`startData()`): dot-unstuffed body bytes streamed as `data` events until the one real
 *   end-of-data indication `CRLF . CRLF` (RFC 5321 4.1.1.4, 4.5.2);
 * - BDAT (`expectChunk(size, last)`): exactly `size` raw octets (RFC 3030 2).
 *
 * Input is parsed lazily: bytes after a DATA or BDAT command line stay queued until the session
 * has answered that command and switched the mode, so a pipelining client cannot get body bytes
 * read as commands or the reverse. Nothing is accumulated beyond one command line: DATA and BDAT
 * content is handed out chunk by chunk as it arrives.
 *
 * SMTP smuggling (CVE-2023-51764 family): only `CRLF . CRLF` where both CRLFs are real ends DATA.
 * `LF.LF`, `LF.CRLF`, `CR.CR`, `CRLF.LF`, `CRLF.CR` and friends never do; in `reject` mode any
 * bare CR or LF makes the message fail with one `dataError`, and the rest of the message is still
 * consumed up to the real end so the session can answer once, in sync with the client.
 * @module
 */

export type DataErrorReason = 'bareLf' | 'bareCr' | 'lineTooLong';

export type SmtpEvent =
  /** A command line without its CRLF (raw octets: ASCII, or UTF-8 under SMTPUTF8). */
  | { type: 'command'; line: Buffer }
  /** A command line over the limit; everything up to its LF was discarded. */
  | { type: 'lineTooLong' }
  /** Message octets: dot-unstuffed (DATA) or raw (BDAT). CRLF line ends are kept. */
  | { type: 'data'; chunk: Buffer }
  /** The `CRLF . CRLF` end of DATA; the receiver is back in command mode. */
  | { type: 'dataEnd' }
  /** The message is broken (emitted once); no more `data` follows, only `dataEnd`. */
  | { type: 'dataError'; reason: DataErrorReason }
  /** The BDAT chunk is complete; the receiver is back in command mode. */
  | { type: 'chunkEnd'; last: boolean };

export type ReceiverMode = 'command' | 'data' | 'bdat';

export interface SmtpReceiverOptions {
  /** Longest command line in octets including CRLF (RFC 5321 4.5.3.1.4: at least 512). */
  lineLimit?: number;
  /** Longest DATA text line in octets including CRLF, not counting a stuffing dot (RFC 5321 4.5.3.1.6: 1000). 0 disables the check. */
  textLineLimit?: number;
  /**
   * What to do with a bare LF in DATA. `reject` (default): the message fails (`dataError`).
   * `normalize`: it becomes CRLF in the content, but a line it starts can never end DATA.
   * A bare CR always fails the message.
   */
  bareLineEndings?: 'reject' | 'normalize';
}

/** RFC 5321 4.5.3.1.4. */
export const COMMAND_LINE_LIMIT = 512;
/**
 * A command line limit for servers that advertise extensions which lengthen MAIL and RCPT:
 * SIZE +26 (RFC 1870 5), AUTH= +500 (RFC 4954 3), SMTPUTF8 +10 (RFC 6531 3.1), REQUIRETLS +11
 * (RFC 8689 2), ENVID up to 100 xtext-encoded characters and ORCPT up to 500 (RFC 3461 4.2, 4.4).
 * 2048 covers all of them together (and is what Postfix uses).
 */
export const EXTENDED_COMMAND_LINE_LIMIT = 2048;
/** RFC 4954 4: "12288 octets is considered to be a sufficient line length" for AUTH responses. */
export const AUTH_LINE_LIMIT = 12288;
/** RFC 5321 4.5.3.1.6. */
export const TEXT_LINE_LIMIT = 1000;

/** A session called a mode switch in the wrong mode: a programming error, not client input. */
export class SmtpReceiverStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmtpReceiverStateError';
  }
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from([CR, LF]);

/** Where the DATA parser is within a line. */
const LineState = {
  /** Right after a real CRLF (or the DATA command's CRLF): a lone "." here ends the data. */
  Start: 0,
  /** Right after a bare LF (normalize mode) or in an ambiguous spot: a lone "." here is a smuggling attempt. */
  SoftStart: 1,
  Middle: 2,
} as const;
type LineState = (typeof LineState)[keyof typeof LineState];

/** Octets seen but not yet classified, carried across chunk boundaries. */
const Held = {
  None: 0,
  /** A CR waiting for its LF. */
  Cr: 1,
  /** A "." at the start of a line. */
  Dot: 2,
  /** "." CR at the start of a line. */
  DotCr: 3,
} as const;
type Held = (typeof Held)[keyof typeof Held];

export class SmtpReceiver {
  #lineLimit: number;
  readonly #textLineLimit: number;
  readonly #normalizeBareLf: boolean;

  #mode: ReceiverMode = 'command';
  /** Unconsumed input; #offset indexes into the first chunk. */
  #input: Buffer[] = [];
  #offset = 0;
  /** Events parsed but not yet handed out (DATA mode emits data + error + end from one scan). */
  #outbox: SmtpEvent[] = [];

  // Command mode.
  #line: Buffer;
  #lineLength = 0;
  #discardingLine = false;
  #lastLineEndedWithCrlf = true;

  // DATA mode.
  #lineState: LineState = LineState.Start;
  #held: Held = Held.None;
  #textLength = 0;
  #dataError: DataErrorReason | null = null;

  // BDAT mode.
  #chunkLeft = 0;
  #chunkLast = false;

  constructor(options: SmtpReceiverOptions = {}) {
    this.#lineLimit = checkLimit(options.lineLimit ?? COMMAND_LINE_LIMIT, 'lineLimit');
    this.#textLineLimit = options.textLineLimit ?? TEXT_LINE_LIMIT;
    if (this.#textLineLimit !== 0) checkLimit(this.#textLineLimit, 'textLineLimit');
    this.#normalizeBareLf = (options.bareLineEndings ?? 'reject') === 'normalize';
    this.#line = Buffer.alloc(this.#lineLimit);
  }

  get mode(): ReceiverMode {
    return this.#mode;
  }

  /** Octets pushed but not yet turned into events (a partial command line counts). */
  get bufferedBytes(): number {
    return this.#unconsumedInput() + this.#lineLength;
  }

  /**
   * Queues received octets. The receiver keeps a reference (no copy): do not modify the buffer
   * afterwards. For backpressure, push the next chunk only once `next()` has returned null.
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#input.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }

  /** The next event, or null when more input is needed. */
  next(): SmtpEvent | null {
    const queued = this.#outbox.shift();
    if (queued !== undefined) return queued;
    switch (this.#mode) {
      case 'command':
        return this.#nextCommand();
      case 'data':
        return this.#nextData();
      case 'bdat':
        return this.#nextChunk();
      default: {
        const unreachable: never = this.#mode;
        return unreachable;
      }
    }
  }

  /** Changes the command line limit, e.g. to AUTH_LINE_LIMIT during an AUTH exchange (RFC 4954 4). */
  setLineLimit(limit: number): void {
    checkLimit(limit, 'lineLimit');
    if (limit === this.#lineLimit) return;
    const line = Buffer.alloc(limit);
    if (this.#lineLength > limit) {
      // The partial line is already over the new limit: report it like any other long line.
      this.#lineLength = 0;
      this.#discardingLine = true;
      this.#outbox.push({ type: 'lineTooLong' });
    } else {
      this.#line.copy(line, 0, 0, this.#lineLength);
    }
    this.#line = line;
    this.#lineLimit = limit;
  }

  /** Switches to DATA mode after the session answered DATA with 354 (RFC 5321 4.1.1.4). */
  startData(): void {
    this.#expectCommandMode('startData');
    this.#mode = 'data';
    // The DATA command's own CRLF is the first CRLF of an empty message's "CRLF . CRLF".
    // If that line ended in a bare LF, a following "." line is as ambiguous as any other.
    this.#lineState = this.#lastLineEndedWithCrlf ? LineState.Start : LineState.SoftStart;
    this.#held = Held.None;
    this.#textLength = 0;
    this.#dataError = null;
  }

  /** Switches to BDAT mode: the next `size` octets are message data (RFC 3030 2). */
  expectChunk(size: number, last: boolean): void {
    this.#expectCommandMode('expectChunk');
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid BDAT chunk size: ${size}`);
    this.#mode = 'bdat';
    this.#chunkLeft = size;
    this.#chunkLast = last;
  }

  /**
   * Throws away everything received but not yet handed out and returns to command mode.
   * Called on STARTTLS (RFC 3207 4.2 / CVE-2011-0411): plaintext that followed the command must
   * never be read as if it had come over TLS. Returns the number of octets thrown away.
   */
  discardBuffered(): number {
    const discarded = this.bufferedBytes;
    this.#input = [];
    this.#offset = 0;
    this.#outbox = [];
    this.#lineLength = 0;
    this.#discardingLine = false;
    this.#lastLineEndedWithCrlf = true;
    this.#mode = 'command';
    return discarded;
  }

  // --- command mode -------------------------------------------------------------------------

  #nextCommand(): SmtpEvent | null {
    for (;;) {
      const chunk = this.#input[0];
      if (chunk === undefined) return null;
      const start = this.#offset;
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        this.#consume(chunk.length - start);
        const event = this.#bufferPartialLine(chunk, start, chunk.length);
        if (event !== null) return event;
        continue;
      }
      this.#consume(lf + 1 - start);
      if (this.#discardingLine) {
        this.#discardingLine = false;
        this.#lastLineEndedWithCrlf = true;
        continue;
      }
      return this.#completeLine(chunk, start, lf);
    }
  }

  /** Keeps bytes of a line whose LF has not arrived; reports the line once it is over the limit. */
  #bufferPartialLine(chunk: Buffer, start: number, end: number): SmtpEvent | null {
    if (this.#discardingLine) return null;
    const room = this.#lineLimit - this.#lineLength;
    if (end - start < room) {
      chunk.copy(this.#line, this.#lineLength, start, end);
      this.#lineLength += end - start;
      return null;
    }
    // Without its LF the line already holds >= limit octets: too long whatever comes next.
    this.#lineLength = 0;
    this.#discardingLine = true;
    return { type: 'lineTooLong' };
  }

  #completeLine(chunk: Buffer, start: number, lf: number): SmtpEvent {
    const buffered = this.#lineLength;
    this.#lineLength = 0;
    // Same test as #bufferPartialLine, so a line split anywhere gives the same verdict.
    if (buffered + (lf - start) >= this.#lineLimit) {
      this.#lastLineEndedWithCrlf = true;
      return { type: 'lineTooLong' };
    }
    const line =
      buffered === 0
        ? Buffer.from(chunk.subarray(start, lf))
        : Buffer.concat([this.#line.subarray(0, buffered), chunk.subarray(start, lf)]);
    const endsWithCr = line.length > 0 && line[line.length - 1] === CR;
    this.#lastLineEndedWithCrlf = endsWithCr;
    const content = endsWithCr ? line.subarray(0, line.length - 1) : line;
    // RFC 5321 4.5.3.1.4: the limit counts the command and its CRLF.
    if (content.length + 2 > this.#lineLimit) return { type: 'lineTooLong' };
    return { type: 'command', line: content };
  }

  // --- DATA mode ----------------------------------------------------------------------------

  #nextData(): SmtpEvent | null {
    while (this.#outbox.length === 0) {
      const chunk = this.#input[0];
      if (chunk === undefined) return null;
      const start = this.#offset;
      const end = this.#scanData(chunk, start);
      this.#consume((end === -1 ? chunk.length : end) - start);
      if (end !== -1) {
        this.#outbox.push({ type: 'dataEnd' });
        this.#mode = 'command';
        this.#lastLineEndedWithCrlf = true;
      }
    }
    return this.#outbox.shift() ?? null;
  }

  /**
   * Runs the DATA state machine over chunk[start..]; queues the unstuffed octets and any error.
   * Returns the index just past the end-of-data indication, or -1 if the chunk holds none.
   */
  #scanData(chunk: Buffer, start: number): number {
    // Output is collected as runs of input octets (one slice per run, not per octet). A CR
    // belongs to the run while we wait for its LF; only a CR left over from the previous chunk
    // has to be re-emitted as a constant.
    const out: Buffer[] = [];
    let runStart = -1;
    const flushRun = (end: number): void => {
      if (runStart !== -1 && end > runStart && this.#dataError === null) out.push(chunk.subarray(runStart, end));
      runStart = -1;
    };
    const startRun = (at: number): void => {
      if (runStart === -1) runStart = at;
    };
    const emit = (bytes: Buffer): void => {
      if (this.#dataError === null) out.push(bytes);
    };
    const fail = (reason: DataErrorReason): void => {
      if (this.#dataError !== null) return;
      this.#flushData(out);
      this.#dataError = reason;
      this.#outbox.push({ type: 'dataError', reason });
    };
    // Positions of the next CR and LF at or after the scan point (-1: none left), found lazily.
    let nextCr = -2;
    let nextLf = -2;
    const nextLineBreak = (from: number): number => {
      if (nextCr !== -1 && nextCr < from) nextCr = chunk.indexOf(CR, from);
      if (nextLf !== -1 && nextLf < from) nextLf = chunk.indexOf(LF, from);
      if (nextCr === -1) return nextLf === -1 ? chunk.length : nextLf;
      return nextLf === -1 || nextCr < nextLf ? nextCr : nextLf;
    };
    /** A CR held from an earlier chunk is not in this chunk's runs. */
    let crFromEarlierChunk = this.#held === Held.Cr;
    /** A CR that turned out bare: the run stops before it, then the error. */
    const bareCr = (crIndex: number): void => {
      flushRun(crFromEarlierChunk ? crIndex + 1 : crIndex);
      crFromEarlierChunk = false;
      fail('bareCr');
      this.#lineState = LineState.Middle;
    };
    const bareLf = (at: number): void => {
      if (this.#normalizeBareLf) {
        flushRun(at);
        emit(CRLF);
        this.#lineState = LineState.SoftStart;
        this.#textLength = 0;
      } else {
        flushRun(at);
        fail('bareLf');
        this.#lineState = LineState.Middle;
      }
    };

    for (let i = start; i < chunk.length; i++) {
      const byte = chunk[i];
      switch (this.#held) {
        case Held.None:
          if (byte === CR) {
            startRun(i);
            this.#held = Held.Cr;
          } else if (byte === LF) {
            bareLf(i);
          } else if (byte === DOT && this.#lineState !== LineState.Middle) {
            flushRun(i);
            this.#held = Held.Dot;
          } else {
            // Ordinary text: take the whole run up to the next CR or LF in one go.
            const runEnd = nextLineBreak(i);
            const before = this.#textLength;
            this.#lineState = LineState.Middle;
            this.#textLength += runEnd - i;
            startRun(i);
            // RFC 5321 4.5.3.1.6: the octet that takes the line past the limit fails the message.
            const room = this.#textLineLimit - 2 - before;
            if (this.#textLineLimit !== 0 && runEnd - i > room) {
              flushRun(i + Math.max(0, room));
              fail('lineTooLong');
            }
            i = runEnd - 1;
          }
          break;
        case Held.Cr:
          this.#held = Held.None;
          if (byte === LF) {
            if (crFromEarlierChunk) {
              emit(CRLF);
              crFromEarlierChunk = false;
            } else {
              startRun(i); // CR and LF both in this chunk: the run already holds the CR.
            }
            this.#lineState = LineState.Start;
            this.#textLength = 0;
          } else {
            bareCr(i - 1);
            i--; // Look at this byte again as an ordinary one.
          }
          break;
        case Held.Dot:
          if (byte === CR) {
            this.#held = Held.DotCr;
            break;
          }
          this.#held = Held.None;
          if (byte === LF) {
            // "CRLF . LF" (or ". LF" after a bare LF): a lone dot that is not a real terminator.
            fail('bareLf');
            this.#lineState = this.#normalizeBareLf ? LineState.SoftStart : LineState.Middle;
            break;
          }
          // RFC 5321 4.5.2: a leading period followed by other characters is deleted.
          this.#lineState = LineState.Middle;
          i--;
          break;
        case Held.DotCr:
          this.#held = Held.None;
          if (byte === LF) {
            if (this.#lineState === LineState.Start) {
              this.#flushData(out);
              return i + 1;
            }
            // "LF . CRLF": would end DATA for a server that treats bare LF as a line end.
            fail('bareLf');
            this.#lineState = LineState.Start;
            this.#textLength = 0;
            break;
          }
          // ". CR x": a bare CR right after the dot.
          fail('bareCr');
          this.#lineState = LineState.Middle;
          i--;
          break;
      }
    }
    // A CR waiting for its LF stays out of this chunk's output.
    flushRun(this.#held === Held.Cr && !crFromEarlierChunk ? chunk.length - 1 : chunk.length);
    this.#flushData(out);
    return -1;
  }

  #flushData(out: Buffer[]): void {
    if (out.length === 0) return;
    const chunk = out.length === 1 ? Buffer.from(out[0] as Buffer) : Buffer.concat(out);
    out.length = 0;
    this.#outbox.push({ type: 'data', chunk });
  }

  // --- BDAT mode ----------------------------------------------------------------------------

  #nextChunk(): SmtpEvent | null {
    if (this.#chunkLeft === 0) {
      this.#mode = 'command';
      this.#lastLineEndedWithCrlf = true;
      return { type: 'chunkEnd', last: this.#chunkLast };
    }
    const chunk = this.#input[0];
    if (chunk === undefined) return null;
    const take = Math.min(this.#chunkLeft, chunk.length - this.#offset);
    const data = chunk.subarray(this.#offset, this.#offset + take);
    this.#consume(take);
    this.#chunkLeft -= take;
    return { type: 'data', chunk: data };
  }

  // --- helpers ------------------------------------------------------------------------------

  #consume(count: number): void {
    const chunk = this.#input[0];
    if (chunk === undefined) return;
    this.#offset += count;
    if (this.#offset >= chunk.length) {
      this.#input.shift();
      this.#offset = 0;
    }
  }

  #unconsumedInput(): number {
    let total = -this.#offset;
    for (const chunk of this.#input) total += chunk.length;
    return Math.max(0, total);
  }

  #expectCommandMode(operation: string): void {
    if (this.#mode !== 'command') {
      throw new SmtpReceiverStateError(`${operation}() called in ${this.#mode} mode`);
    }
    if (this.#outbox.length > 0) {
      throw new SmtpReceiverStateError(`${operation}() called with undelivered events`);
    }
  }
}

function checkLimit(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 8) throw new RangeError(`${name} must be an integer >= 8, got ${value}`);
  return value;
}
