/**
 * A stored message → the body of a RETR or TOP response (RFC 1939 3, 5, 7), streaming and
 * sans-I/O: push the message in chunks, write out what comes back, then `end()`.
 *
 * - Byte-stuffing: a line that starts with "." gets one more "." (RFC 1939 3).
 * - Line ends are CRLF on the wire even when the stored message has a bare LF (RFC 1939 11
 *   counts such an LF as two octets). A CR that is not followed by LF is left as it is.
 * - A message that does not end with a line end gets one, so the terminator `.` CRLF always
 *   starts a line.
 * - TOP (`bodyLines`): the header, the blank line, then exactly that many body lines (or the
 *   whole message when it has fewer); `done` turns true as soon as nothing more will be used,
 *   so the caller can stop reading the message.
 *
 * Output is made of slices of the input (no per-byte copying): a CRLF message without dot
 * lines comes back as one slice per chunk.
 * @module
 */

export interface MessageEncoderOptions {
  /** TOP n: body lines to send after the header; undefined sends the whole message. */
  bodyLines?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const DOT_BYTE = Buffer.from('.', 'latin1');
const CR_BYTE = Buffer.from('\r', 'latin1');
const LF_BYTE = Buffer.from('\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
const TERMINATOR = Buffer.from('.\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

export class MessageEncoder {
  readonly #bodyLines: number | undefined;
  #atLineStart = true;
  /** Octets of the current line so far (including a CR waiting for its LF). */
  #lineOctets = 0;
  #lastByte = -1;
  #inHeader = true;
  #bodyLinesSent = 0;
  #done = false;
  #ended = false;
  #consumed = 0;

  constructor(options: MessageEncoderOptions = {}) {
    const lines = options.bodyLines;
    if (lines !== undefined && (!Number.isSafeInteger(lines) || lines < 0)) throw new RangeError(`bodyLines must be a non-negative integer, got ${lines}`);
    this.#bodyLines = lines;
  }

  /** True once TOP has everything it needs: further input would be ignored. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Octets of the stored message used so far (all pushed octets, or up to the last line TOP
   * sent). Equal to the message size when the whole message went out.
   */
  get consumed(): number {
    return this.#consumed;
  }

  /** Encodes the next chunk of the stored message; the result may be empty. */
  push(chunk: Uint8Array): Buffer {
    if (this.#ended) throw new Error('MessageEncoder: push() after end()');
    if (this.#done || chunk.length === 0) return EMPTY;
    const input = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: Buffer[] = [];
    // Runs of input copied as they are; broken only where an octet must be inserted.
    let runStart = 0;
    let pos = 0;
    while (pos < input.length && !this.#done) {
      if (this.#atLineStart && input[pos] === DOT) {
        if (pos > runStart) out.push(input.subarray(runStart, pos));
        out.push(DOT_BYTE);
        runStart = pos;
      }
      this.#atLineStart = false;
      const lf = input.indexOf(LF, pos);
      if (lf === -1) {
        this.#lineOctets += input.length - pos;
        this.#lastByte = input[input.length - 1] ?? this.#lastByte;
        pos = input.length;
        break;
      }
      const segmentLength = lf - pos;
      const before = segmentLength > 0 ? input[lf - 1] : this.#lineOctets > 0 ? this.#lastByte : -1;
      const hasCr = before === CR;
      if (!hasCr) {
        // RFC 1939 11: a bare LF goes out as CRLF.
        if (lf > runStart) out.push(input.subarray(runStart, lf));
        out.push(CR_BYTE);
        runStart = lf;
      }
      const content = this.#lineOctets + segmentLength - (hasCr ? 1 : 0);
      pos = lf + 1;
      this.#endLine(content);
      if (this.#done) {
        out.push(input.subarray(runStart, pos));
        runStart = pos;
      }
    }
    if (!this.#done && pos > runStart) out.push(input.subarray(runStart, pos));
    this.#consumed += pos;
    if (out.length === 0) return EMPTY;
    return out.length === 1 ? (out[0] ?? EMPTY) : Buffer.concat(out);
  }

  /** The rest of the response: a line end if the message lacked one, then `.` CRLF. */
  end(): Buffer {
    if (this.#ended) throw new Error('MessageEncoder: end() called twice');
    this.#ended = true;
    if (this.#atLineStart) return TERMINATOR;
    // The last line had no LF: finish it (a trailing CR only needs its LF).
    return Buffer.concat([this.#lastByte === CR ? LF_BYTE : CRLF, TERMINATOR]);
  }

  /** A line just ended (its LF was seen); `content` is its length without the line end. */
  #endLine(content: number): void {
    this.#atLineStart = true;
    this.#lineOctets = 0;
    this.#lastByte = LF;
    if (this.#bodyLines === undefined) return;
    if (this.#inHeader) {
      // RFC 5322 2.1: the first empty line ends the header section.
      if (content === 0) {
        this.#inHeader = false;
        if (this.#bodyLines === 0) this.#done = true;
      }
      return;
    }
    this.#bodyLinesSent++;
    if (this.#bodyLinesSent >= this.#bodyLines) this.#done = true;
  }
}
