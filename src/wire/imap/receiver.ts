/**
 * The IMAP command receiver: bytes in, events out (sans-I/O, RFC 3501 2.2 / 7.5, RFC 7888).
 *
 * Usage: `push(chunk)` whatever the socket delivered, then call `next()` until it returns
 * null. Parsing is lazy: `next()` parses only as far as the event it returns, so a mode the
 * session sets after an event (IDLE, AUTHENTICATE, STARTTLS) applies to the very next byte.
 * When `next()` returns null the receiver has consumed everything it can, and at most one
 * unfinished line (≤ maxLineLength) stays buffered: the network layer can pause reading
 * whenever `bufferedBytes` is high and the session is not draining.
 *
 * Line ends: CRLF, and a bare LF is accepted too (some clients send it). This is safe in
 * IMAP, unlike SMTP's dot-terminated DATA: literals are counted in octets, so a line end
 * only ever ends a command line, and both forms end it in the same place.
 *
 * Literals: a synchronizing literal `{n}` yields `needContinuation`, and the receiver waits
 * until the session calls `acceptLiteral()` (and sends "+ ...") or `rejectLiteral()` (and
 * sends NO/BAD; the client will not send the octets). A non-synchronizing literal `{n+}`
 * (RFC 7888) arrives without asking: over the limit it is `fatal` (RFC 7888 4 option 2: BYE).
 * `~{n}` / `~{n+}` are literal8 (RFC 3516, RFC 4466). There is no `{n-}` form: LITERAL-
 * keeps the "+" (RFC 7888 5); configure `maxNonSyncLiteralSize: 4096` for it.
 *
 * APPEND message data (every top-level literal after the mailbox) is never buffered: it is
 * streamed as literalStart / literalData* / literalEnd, then parsing goes on, so the
 * MULTIAPPEND groups that follow (RFC 3502) arrive the same way. The final `command` event
 * holds `streamed` placeholders where those literals were.
 *
 * Resynchronisation: after an error the rest of the command is skipped without being
 * parsed, but a line ending in `{n+}` still has its n octets skipped (RFC 7888 3: the
 * receiver MUST check every line end), so literal data is never executed as commands.
 * @module
 */
import { ByteQueue } from './byte-queue.js';
import { ImapUsageError } from './errors.js';
import { CommandTokenizer, type TokenizeError } from './tokenizer.js';
import type { ImapToken } from './tokens.js';

export interface ImapReceiverLimits {
  /** Bytes of command text per command, CRLF and literal contents excluded. */
  maxLineLength: number;
  /** Largest literal collected in memory (every literal except APPEND message data). */
  maxLiteralSize: number;
  /** Largest APPEND message literal (streamed, never buffered). */
  maxAppendLiteralSize: number;
  /** Literals per command, streamed ones included. */
  maxLiteralsPerCommand: number;
  /** Open "(" and "[" at once. Default 32. */
  maxNestingDepth?: number;
  /** Extra cap on non-synchronizing literals: 4096 when LITERAL- is advertised (RFC 7888 5). */
  maxNonSyncLiteralSize?: number;
}

export type ImapReceiverErrorKind = 'lineTooLong' | 'nul' | 'syntax' | 'tooManyLiterals' | 'nestingTooDeep';

export type ImapReceiverEvent =
  /** A complete command: its line(s) and all of its literals. `name` is upper-cased. */
  | { readonly type: 'command'; readonly tag: string; readonly name: string; readonly args: readonly ImapToken[] }
  /** A synchronizing literal was announced: call acceptLiteral() or rejectLiteral(). `args` are
   * the completed top-level tokens before it (for APPEND: mailbox, flags, date-time). */
  | {
      readonly type: 'needContinuation';
      readonly tag: string;
      readonly name: string;
      readonly size: number;
      readonly binary: boolean;
      readonly streamed: boolean;
      readonly limit: number;
      readonly exceedsLimit: boolean;
      readonly args: readonly ImapToken[];
    }
  /** A streamed literal begins (APPEND message data); `index` counts from 0 within the command. */
  | {
      readonly type: 'literalStart';
      readonly tag: string;
      readonly name: string;
      readonly index: number;
      readonly size: number;
      readonly nonSync: boolean;
      readonly binary: boolean;
      readonly args: readonly ImapToken[];
    }
  | { readonly type: 'literalData'; readonly chunk: Buffer }
  | { readonly type: 'literalEnd' }
  /** The command (or line) is rejected; answer BAD (tagged when `tag` is known). The
   * receiver has already arranged to skip the rest of the command. */
  | { readonly type: 'error'; readonly tag: string | null; readonly kind: ImapReceiverErrorKind; readonly message: string }
  /** The connection cannot continue: send BYE and close. Later calls to next() return null. */
  | { readonly type: 'fatal'; readonly reason: 'literalTooBig'; readonly tag: string | null; readonly size: number; readonly limit: number }
  /** IDLE mode: the line that ended IDLE; `done` is false when it was not "DONE" (answer BAD). */
  | { readonly type: 'idleEnd'; readonly done: boolean }
  /** AUTHENTICATE mode: the raw response line without CRLF; `cancelled` for "*" (RFC 3501 6.2.2). */
  | { readonly type: 'authResponse'; readonly data: Buffer; readonly cancelled: boolean };

type Mode = 'command' | 'idle' | 'authenticate';

interface LiteralHeader {
  /** Offset of "{" (or "~") in the line. */
  readonly start: number;
  readonly size: number;
  readonly nonSync: boolean;
  readonly binary: boolean;
}

interface CommandInProgress {
  readonly tag: string;
  readonly name: string;
  readonly tokenizer: CommandTokenizer;
  lineBytes: number;
  literals: number;
  streamed: number;
}

type State =
  | { kind: 'line'; scanned: number }
  | { kind: 'discardLine'; tail: LiteralTailTracker; literalAware: boolean }
  | { kind: 'awaitContinuation'; header: LiteralHeader; streamed: boolean; exceedsLimit: boolean }
  | { kind: 'literal'; header: LiteralHeader; streamed: boolean; index: number; remaining: number; parts: Buffer[] }
  | { kind: 'skipLiteral'; remaining: number }
  | { kind: 'closed' };

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const DEFAULT_MAX_NESTING = 32;

export class ImapReceiver {
  private readonly queue = new ByteQueue();
  private readonly events: ImapReceiverEvent[] = [];
  private state: State = { kind: 'line', scanned: 0 };
  private mode: Mode = 'command';
  private command: CommandInProgress | null = null;
  private readonly maxNestingDepth: number;

  constructor(private readonly limits: ImapReceiverLimits) {
    this.maxNestingDepth = limits.maxNestingDepth ?? DEFAULT_MAX_NESTING;
  }

  /** Bytes received but not consumed yet. */
  get bufferedBytes(): number {
    return this.queue.length;
  }

  /** True after a fatal event: the connection must be closed. */
  get closed(): boolean {
    return this.state.kind === 'closed';
  }

  /** Adds received bytes. The receiver keeps references to the chunks: do not reuse them. */
  push(chunk: Uint8Array): void {
    if (this.state.kind === 'closed') return;
    this.queue.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  /** The next event, or null when more input (or a session decision) is needed. */
  next(): ImapReceiverEvent | null {
    for (;;) {
      const queued = this.events.shift();
      if (queued !== undefined) return queued;
      if (!this.step()) return this.events.shift() ?? null;
    }
  }

  /** Answer to needContinuation: the session sent "+ ..." and the literal octets follow. */
  acceptLiteral(): void {
    const state = this.state;
    if (state.kind !== 'awaitContinuation') throw new ImapUsageError('acceptLiteral() without a pending needContinuation');
    if (state.exceedsLimit) throw new ImapUsageError('acceptLiteral() for a literal over the receiver limit; reject it');
    this.startLiteral(state.header, state.streamed);
  }

  /** Answer to needContinuation: the session sent NO/BAD, the client will not send the octets. */
  rejectLiteral(): void {
    if (this.state.kind !== 'awaitContinuation') throw new ImapUsageError('rejectLiteral() without a pending needContinuation');
    this.endCommand();
  }

  /**
   * Gives up the command in progress after the session has answered it (e.g. a bad APPEND
   * date seen at literalStart): its remaining literal octets and lines are skipped and no
   * further events of it are emitted.
   */
  abortCommand(): void {
    const state = this.state;
    if (state.kind === 'awaitContinuation') return this.endCommand();
    if (this.command === null) throw new ImapUsageError('abortCommand() without a command in progress');
    this.command = null;
    this.state = state.kind === 'literal' ? { kind: 'skipLiteral', remaining: state.remaining } : discardLine(true);
  }

  /** After "+ idling" (RFC 2177): the next line must be DONE; it yields an idleEnd event. */
  expectIdleDone(): void {
    this.assertBetweenCommands('expectIdleDone');
    this.mode = 'idle';
  }

  /** After a "+ challenge" (RFC 3501 6.2.2): the next line is a raw SASL response. */
  expectAuthResponse(): void {
    this.assertBetweenCommands('expectAuthResponse');
    this.mode = 'authenticate';
  }

  /** STARTTLS (RFC 3501 6.2.1, RFC 2595 3.1): plaintext that arrived after the command must
   * never be read as commands once TLS is up. Returns the number of bytes dropped. */
  discardBuffered(): number {
    this.events.length = 0;
    this.command = null;
    this.mode = 'command';
    if (this.state.kind !== 'closed') this.state = { kind: 'line', scanned: 0 };
    return this.queue.clear();
  }

  private assertBetweenCommands(method: string): void {
    if (this.command !== null || this.state.kind !== 'line') throw new ImapUsageError(`${method}() while a command is being received`);
  }

  /** Advances the state machine once; returns false when no progress is possible. */
  private step(): boolean {
    const state = this.state;
    switch (state.kind) {
      case 'closed':
      case 'awaitContinuation':
        return false;
      case 'line':
        return this.stepLine(state);
      case 'discardLine':
        return this.stepDiscardLine(state);
      case 'literal':
        return this.stepLiteral(state);
      case 'skipLiteral':
        state.remaining -= this.queue.skip(state.remaining);
        if (state.remaining > 0) return false;
        this.state = discardLine(true);
        return true;
      default: {
        const unreachable: never = state;
        return unreachable;
      }
    }
  }

  private stepLine(state: { kind: 'line'; scanned: number }): boolean {
    const used = this.mode === 'command' ? (this.command?.lineBytes ?? 0) : 0;
    const budget = this.limits.maxLineLength - used;
    const lf = this.queue.indexOf(LF, state.scanned);
    if (lf < 0) {
      state.scanned = this.queue.length;
      // A trailing CR may still turn out to be part of the line end, hence "+ 1".
      if (this.queue.length <= budget + 1) return false;
      this.lineTooLong(budget);
      return true;
    }
    const contentLength = lf > 0 && this.queue.peekBefore(lf, 1)[0] === CR ? lf - 1 : lf;
    if (contentLength > budget) {
      this.lineTooLong(budget);
      return true;
    }
    const line = this.queue.take(lf + 1).subarray(0, contentLength);
    this.state = { kind: 'line', scanned: 0 };
    switch (this.mode) {
      case 'idle':
        this.mode = 'command';
        this.events.push({ type: 'idleEnd', done: line.length === 4 && line.toString('ascii').toUpperCase() === 'DONE' });
        return true;
      case 'authenticate':
        this.mode = 'command';
        this.events.push({ type: 'authResponse', data: Buffer.from(line), cancelled: line.length === 1 && line[0] === 0x2a });
        return true;
      case 'command':
        this.commandLine(line);
        return true;
    }
  }

  private lineTooLong(budget: number): void {
    const literalAware = this.mode === 'command';
    const tag = this.command?.tag ?? (literalAware ? tagOf(this.queue.peekBefore(Math.min(budget, this.queue.length), budget)) : null);
    this.events.push({ type: 'error', tag, kind: 'lineTooLong', message: 'Command line too long' });
    this.command = null;
    this.mode = 'command';
    this.state = discardLine(literalAware);
  }

  private stepDiscardLine(state: { kind: 'discardLine'; tail: LiteralTailTracker; literalAware: boolean }): boolean {
    if (this.queue.length === 0) return false;
    const lf = this.queue.indexOf(LF, 0);
    let remaining = lf < 0 ? this.queue.length : lf;
    while (remaining > 0) {
      const piece = this.queue.takeSome(remaining);
      state.tail.feed(piece);
      remaining -= piece.length;
    }
    if (lf < 0) return false;
    this.queue.skip(1);
    const header = state.literalAware ? state.tail.header() : null;
    this.state = { kind: 'line', scanned: 0 };
    if (header !== null) this.skipAnnouncedLiteral(header);
    return true;
  }

  private stepLiteral(state: Extract<State, { kind: 'literal' }>): boolean {
    if (state.streamed) {
      if (state.remaining === 0) {
        this.command!.tokenizer.addLiteral({ type: 'streamed', index: state.index, size: state.header.size, binary: state.header.binary });
        this.state = { kind: 'line', scanned: 0 };
        this.events.push({ type: 'literalEnd' });
        return true;
      }
      if (this.queue.length === 0) return false;
      const chunk = this.queue.takeSome(state.remaining);
      state.remaining -= chunk.length;
      this.events.push({ type: 'literalData', chunk });
      return true;
    }
    while (state.remaining > 0 && this.queue.length > 0) {
      const piece = this.queue.takeSome(state.remaining);
      state.parts.push(piece);
      state.remaining -= piece.length;
    }
    if (state.remaining > 0) return false;
    this.command!.tokenizer.addLiteral({ type: 'literal', value: Buffer.concat(state.parts), binary: state.header.binary });
    this.state = { kind: 'line', scanned: 0 };
    return true;
  }

  /** One complete line of a command (the first one, or one that follows a literal). */
  private commandLine(line: Buffer): void {
    let command = this.command;
    let argsStart = 0;
    // RFC 3501 9 note (3): NUL must not be used at any time (outside literal8 contents).
    if (line.includes(0)) return this.rejectLine(command?.tag ?? tagOf(line), 'nul', 'NUL octet in command line', line);
    if (command === null) {
      // Empty lines between commands are ignored: harmless, and some clients send them.
      if (line.length === 0) return;
      const head = commandHead(line);
      if ('error' in head) return this.rejectLine(head.tag, 'syntax', head.error, line);
      command = { tag: head.tag, name: head.name, tokenizer: new CommandTokenizer(this.maxNestingDepth), lineBytes: 0, literals: 0, streamed: 0 };
      this.command = command;
      argsStart = head.argsStart;
    }
    command.lineBytes += line.length;
    const header = literalHeaderAtEnd(line, argsStart);
    const error = command.tokenizer.feed(line, argsStart, header?.start ?? line.length) ?? (header !== null ? command.tokenizer.canStartLiteral() : null);
    if (error !== null) return this.rejectLine(command.tag, error.kind, error.message, line);
    if (header !== null) return this.announceLiteral(command, header);
    const result = command.tokenizer.finish();
    this.command = null;
    if ('error' in result) return this.rejectLine(command.tag, result.error.kind, result.error.message, line);
    this.events.push({ type: 'command', tag: command.tag, name: command.name, args: result.args });
  }

  /** Reports a bad line and skips the rest of its command. */
  private rejectLine(tag: string | null, kind: TokenizeError['kind'] | 'nul', message: string, line: Buffer): void {
    this.events.push({ type: 'error', tag, kind, message });
    this.command = null;
    const header = literalHeaderAtEnd(line, 0);
    if (header !== null) this.skipAnnouncedLiteral(header);
  }

  /** The command is being dropped, but its line announced a literal: a synchronizing one will
   * not be sent (no "+" goes out), a non-synchronizing one is coming and must be skipped. */
  private skipAnnouncedLiteral(header: LiteralHeader): void {
    this.command = null;
    if (!header.nonSync) return;
    const limit = Math.max(this.limits.maxLiteralSize, this.limits.maxAppendLiteralSize);
    if (header.size > limit) return this.fatal(null, header.size, limit);
    this.state = { kind: 'skipLiteral', remaining: header.size };
  }

  private announceLiteral(command: CommandInProgress, header: LiteralHeader): void {
    command.literals++;
    if (command.literals > this.limits.maxLiteralsPerCommand) {
      this.events.push({ type: 'error', tag: command.tag, kind: 'tooManyLiterals', message: 'Too many literals in one command' });
      return this.skipAnnouncedLiteral(header);
    }
    // RFC 3501 6.3.11 / RFC 3502: in APPEND every top-level literal after the mailbox is message data.
    const streamed = command.name === 'APPEND' && command.tokenizer.atTopLevel() && command.tokenizer.topLevel().length >= 1;
    let limit = streamed ? this.limits.maxAppendLiteralSize : this.limits.maxLiteralSize;
    if (header.nonSync && this.limits.maxNonSyncLiteralSize !== undefined) limit = Math.min(limit, this.limits.maxNonSyncLiteralSize);
    if (header.nonSync) {
      if (header.size > limit) return this.fatal(command.tag, header.size, limit);
      return this.startLiteral(header, streamed);
    }
    const exceedsLimit = header.size > limit;
    this.state = { kind: 'awaitContinuation', header, streamed, exceedsLimit };
    this.events.push({
      type: 'needContinuation',
      tag: command.tag,
      name: command.name,
      size: header.size,
      binary: header.binary,
      streamed,
      limit,
      exceedsLimit,
      args: command.tokenizer.topLevel(),
    });
  }

  private startLiteral(header: LiteralHeader, streamed: boolean): void {
    const command = this.command!;
    const index = streamed ? command.streamed++ : -1;
    this.state = { kind: 'literal', header, streamed, index, remaining: header.size, parts: [] };
    if (!streamed) return;
    this.events.push({
      type: 'literalStart',
      tag: command.tag,
      name: command.name,
      index,
      size: header.size,
      nonSync: header.nonSync,
      binary: header.binary,
      args: command.tokenizer.topLevel(),
    });
  }

  private endCommand(): void {
    this.command = null;
    this.state = { kind: 'line', scanned: 0 };
  }

  private fatal(tag: string | null, size: number, limit: number): void {
    this.command = null;
    this.state = { kind: 'closed' };
    this.queue.clear();
    this.events.push({ type: 'fatal', reason: 'literalTooBig', tag, size, limit });
  }
}

function discardLine(literalAware: boolean): State {
  return { kind: 'discardLine', tail: new LiteralTailTracker(), literalAware };
}

/** RFC 3501 9 `tag`: 1*<any ASTRING-CHAR except "+">. */
function isTagByte(byte: number): boolean {
  return byte > SP && byte < 0x7f && !'(){%*"\\+'.includes(String.fromCharCode(byte));
}

/** RFC 3501 9 ATOM-CHAR (command names are atoms). */
function isAtomCharByte(byte: number): boolean {
  return byte > SP && byte < 0x7f && !'(){%*"\\]'.includes(String.fromCharCode(byte));
}

/** The tag of a line, when its first bytes hold a valid one followed by SP. */
function tagOf(start: Buffer): string | null {
  const sp = start.indexOf(SP);
  if (sp <= 0) return null;
  for (let i = 0; i < sp; i++) if (!isTagByte(start[i]!)) return null;
  return start.toString('ascii', 0, sp);
}

/** `tag SP command-name`; the arguments begin at `argsStart` (at the SP before them, if any). */
function commandHead(line: Buffer): { tag: string; name: string; argsStart: number } | { tag: string | null; error: string } {
  const sp = line.indexOf(SP);
  const tagEnd = sp < 0 ? line.length : sp;
  for (let i = 0; i < tagEnd; i++) if (!isTagByte(line[i]!)) return { tag: null, error: 'Invalid tag' };
  if (tagEnd === 0) return { tag: null, error: 'Missing tag' };
  const tag = line.toString('ascii', 0, tagEnd);
  if (sp < 0) return { tag, error: 'Missing command' };
  let nameEnd = sp + 1;
  while (nameEnd < line.length && line[nameEnd] !== SP) nameEnd++;
  if (nameEnd === sp + 1) return { tag, error: 'Missing command' };
  for (let i = sp + 1; i < nameEnd; i++) if (!isAtomCharByte(line[i]!)) return { tag, error: 'Invalid command name' };
  return { tag, name: line.toString('ascii', sp + 1, nameEnd).toUpperCase(), argsStart: nameEnd };
}

/** RFC 7888 3: a line ending in `{n}`, `{n+}` (or literal8 `~{n}`, `~{n+}`) announces a literal. */
function literalHeaderAtEnd(line: Buffer, minStart: number): LiteralHeader | null {
  let i = line.length - 1;
  if (i < minStart || line[i] !== 0x7d) return null;
  i--;
  const nonSync = line[i] === 0x2b;
  if (nonSync) i--;
  const digitsEnd = i + 1;
  while (i >= minStart && line[i]! >= 0x30 && line[i]! <= 0x39) i--;
  if (i < minStart || i + 1 === digitsEnd || line[i] !== 0x7b) return null;
  const size = Number(line.toString('ascii', i + 1, digitsEnd));
  const binary = i - 1 >= minStart && line[i - 1] === 0x7e;
  return { start: binary ? i - 1 : i, size, nonSync, binary };
}

/**
 * Follows the end of a line that is being dropped without buffering it, to find a literal
 * announcement however long its digit string (leading zeros included): `{digits[+]}` followed
 * only by an optional CR before the LF.
 */
class LiteralTailTracker {
  private inBrace = false;
  private digits = 0;
  private value = 0;
  private plus = false;
  private closed = false;
  private sawCR = false;

  feed(bytes: Buffer): void {
    for (const byte of bytes) this.byte(byte);
  }

  header(): LiteralHeader | null {
    if (!this.closed) return null;
    return { start: 0, size: this.value, nonSync: this.plus, binary: false };
  }

  private byte(byte: number): void {
    if (this.sawCR) {
      this.sawCR = false;
      this.reset();
    }
    if (byte === CR) {
      this.sawCR = true;
      return;
    }
    if (byte === 0x7b) {
      this.reset();
      this.inBrace = true;
    } else if (this.inBrace && !this.plus && !this.closed && byte >= 0x30 && byte <= 0x39) {
      this.digits++;
      this.value = Math.min(this.value * 10 + (byte - 0x30), Number.MAX_SAFE_INTEGER);
    } else if (this.inBrace && byte === 0x2b && this.digits > 0 && !this.plus && !this.closed) {
      this.plus = true;
    } else if (this.inBrace && byte === 0x7d && this.digits > 0 && !this.closed) {
      this.closed = true;
    } else {
      this.reset();
    }
  }

  private reset(): void {
    this.inBrace = false;
    this.digits = 0;
    this.value = 0;
    this.plus = false;
    this.closed = false;
  }
}
