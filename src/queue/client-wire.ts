/**
 * The client side of the SMTP wire, sans-I/O: a reply parser (bytes in, replies out, with limits
 * so a hostile server cannot exhaust memory) and the DATA dot-stuffer (RFC 5321 4.5.2).
 * The outbound client (./client.ts) drives both over a socket.
 * @module
 */

/** One reply as the server sent it (RFC 5321 4.2). */
export interface ServerReply {
  code: number;
  /** RFC 3463 enhanced code from the first line ("5.1.1"), or null when absent. */
  enhanced: string | null;
  /** Text of each line, without code, separator or enhanced code. */
  lines: string[];
}

/** A reply that breaks the grammar or a limit: the connection cannot be trusted any further. */
export class ReplySyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplySyntaxError';
  }
}

export interface ReplyLimits {
  /** Octets per reply line, CRLF included. RFC 5321 4.5.3.1.5 says 512; servers exceed it a little. */
  maxLineOctets: number;
  /** Lines per multiline reply (an EHLO answer has about 15). */
  maxLines: number;
}

export const DEFAULT_REPLY_LIMITS: ReplyLimits = Object.freeze({ maxLineOctets: 2048, maxLines: 128 });

// RFC 3463 2: class "." subject "." detail; it must agree with the reply code's first digit.
const ENHANCED_PREFIX = /^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)/;
const LF = 0x0a;

/**
 * Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
 * (RFC 5321 4.2). Feed it bytes as they arrive; it returns every reply completed by them.
 */
export class ReplyParser {
  private partial: Buffer[] = [];
  private partialLength = 0;
  private pending: { code: number; lines: string[] } | null = null;

  constructor(private readonly limits: ReplyLimits = DEFAULT_REPLY_LIMITS) {}

  /** True when part of a reply has arrived (bytes that an upgrade must not carry over, RFC 3207 4.1). */
  get hasBufferedInput(): boolean {
    return this.partialLength > 0 || this.pending !== null;
  }

  feed(chunk: Buffer): ServerReply[] {
    const replies: ServerReply[] = [];
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      const end = newline === -1 ? chunk.length : newline + 1;
      this.partialLength += end - start;
      if (this.partialLength > this.limits.maxLineOctets) {
        throw new ReplySyntaxError(`reply line longer than ${this.limits.maxLineOctets} octets`);
      }
      this.partial.push(chunk.subarray(start, end));
      start = end;
      if (newline === -1) break;
      const line = Buffer.concat(this.partial).toString('utf8');
      this.partial = [];
      this.partialLength = 0;
      const reply = this.line(line.replace(/\r?\n$/, ''));
      if (reply !== null) replies.push(reply);
    }
    return replies;
  }

  private line(text: string): ServerReply | null {
    const match = /^([2-5]\d\d)([ -]|$)(.*)$/s.exec(text);
    if (match === null) throw new ReplySyntaxError(`malformed reply line: ${JSON.stringify(text.slice(0, 80))}`);
    const code = Number(match[1]);
    const last = match[2] !== '-';
    const body = match[3] ?? '';
    if (this.pending !== null && this.pending.code !== code) {
      throw new ReplySyntaxError(`reply code changed inside a multiline reply (${this.pending.code} then ${code})`);
    }
    this.pending ??= { code, lines: [] };
    this.pending.lines.push(body);
    if (this.pending.lines.length > this.limits.maxLines) {
      throw new ReplySyntaxError(`reply longer than ${this.limits.maxLines} lines`);
    }
    if (!last) return null;
    const { lines } = this.pending;
    this.pending = null;
    return splitEnhanced(code, lines);
  }
}

/** RFC 2034 4 / RFC 3463: the enhanced code leads each line of a 2xx/4xx/5xx reply; strip it. */
function splitEnhanced(code: number, lines: string[]): ServerReply {
  const first = ENHANCED_PREFIX.exec(lines[0] ?? '');
  if (first === null || first[1] !== String(code)[0]) return { code, enhanced: null, lines };
  const enhanced = `${first[1]}.${first[2]}.${first[3]}`;
  const stripped = lines.map((line) => (line.startsWith(enhanced) ? line.slice(enhanced.length).replace(/^ /, '') : line));
  return { code, enhanced, lines: stripped };
}

/** One line for logs and DSNs: "550 5.1.1 No such user" (CR/LF and controls removed, bounded). */
export function describeReply(reply: ServerReply): string {
  // eslint-disable-next-line no-control-regex -- controls from the remote must not reach logs or DSNs
  const text = reply.lines.join(' ').replace(/[\x00-\x1f\x7f]/g, ' ').trim();
  const described = `${reply.code}${reply.enhanced === null ? '' : ` ${reply.enhanced}`}${text === '' ? '' : ` ${text}`}`;
  return described.length > 500 ? `${described.slice(0, 497)}...` : described;
}

/**
 * RFC 5321 4.5.2: a line of the message that starts with "." gets one more "." before it goes
 * into DATA. Stateful across chunks (a line may start at a chunk boundary). Line starts are
 * taken after every LF, so a bare LF can never leave a lone "." line on the wire.
 */
export class DotStuffer {
  private atLineStart = true;
  private lastTwo: [number, number] = [0x0d, 0x0a];

  push(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    const pieces: Buffer[] = [];
    let from = 0;
    if (this.atLineStart && chunk[0] === 0x2e) pieces.push(DOT);
    let newline = chunk.indexOf(LF);
    while (newline !== -1 && newline + 1 < chunk.length) {
      if (chunk[newline + 1] === 0x2e) {
        pieces.push(chunk.subarray(from, newline + 1), DOT);
        from = newline + 1;
      }
      newline = chunk.indexOf(LF, newline + 1);
    }
    pieces.push(chunk.subarray(from));
    this.atLineStart = chunk[chunk.length - 1] === LF;
    this.lastTwo = chunk.length >= 2 ? [chunk[chunk.length - 2] ?? 0, chunk[chunk.length - 1] ?? 0] : [this.lastTwo[1], chunk[0] ?? 0];
    return pieces.length === 1 ? chunk : Buffer.concat(pieces);
  }

  /** The end-of-data indication (RFC 5321 4.1.1.4), with a CRLF first when the message lacks a final one. */
  finish(): Buffer {
    const endsWithCrlf = this.lastTwo[0] === 0x0d && this.lastTwo[1] === LF;
    return Buffer.from(endsWithCrlf ? '.\r\n' : '\r\n.\r\n', 'ascii');
  }
}

const DOT = Buffer.from('.', 'ascii');

/** The EHLO keywords and their parameters (RFC 5321 4.1.1.1), keyword upper-cased. */
export function parseExtensions(reply: ServerReply): Map<string, string> {
  const extensions = new Map<string, string>();
  // The first line is the server's greeting name; extensions follow, one per line.
  for (const line of reply.lines.slice(1)) {
    const match = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
    const keyword = match?.[1]?.toUpperCase();
    // The first mention wins: old servers repeat "AUTH=LOGIN" after the real AUTH line.
    if (keyword !== undefined && !extensions.has(keyword)) extensions.set(keyword, (match?.[2] ?? '').trim());
  }
  return extensions;
}
