/**
 * One SMTP session (RFC 5321) over a Connection: greeting, the command loop, the mapping of
 * every failure to one reply, and the limits (errors, timeouts, deadline, pipelining rules).
 *
 * Bytes go socket → Connection (pull, backpressure) → SmtpReceiver (sans-I/O) → events; each
 * command line is parsed (src/wire/smtp), checked against the dispatch table (./dispatch.ts) and
 * run by its handler under ./commands/. Handlers answer by returning a reply or by throwing an
 * SmtpReplyError; everything else is mapped here, once.
 *
 * Replies are collected and written when the session is about to wait for input, so a
 * pipelined group (RFC 2920) gets its replies in one write.
 * @module
 */
import { isIP } from 'node:net';
import type { AuthIdentity } from '../auth/types.js';
import type { Logger } from '../log/index.js';
import { commandName, commandStart, logCommand } from '../log/commands.js';
import { Connection, ConnectionClosedError, ConnectionInterrupted } from '../net/connection.js';
import type { TlsDetails } from '../net/connection.js';
import type { ConnectionInfo } from '../net/types.js';
import { StoreError } from '../store/types.js';
import {
  AUTH_LINE_LIMIT,
  EXTENDED_COMMAND_LINE_LIMIT,
  Reply,
  SmtpReceiver,
  SmtpReplyError,
  SmtpSyntaxError,
  encodeReply,
  parseCommand,
  reply,
  withText,
} from '../wire/smtp/index.js';
import type { SmtpEvent, SmtpReply } from '../wire/smtp/index.js';
import { countUnparsed, dispatch } from './dispatch.js';
import type { IncomingMessage } from './message.js';
import { SessionEnd } from './errors.js';
import { SessionReply } from './replies.js';
import type { SessionState } from './state.js';
import type { SessionSettings, SmtpServices } from './types.js';

/** Verbs whose lines may use the extended limit once EHLO advertised SIZE/DSN/AUTH (RFC 5321 4.5.3.1.4). */
const EXTENDED_LINE_VERBS = new Set(['MAIL', 'RCPT']);
/** A browser or proxy talking HTTP to the SMTP port (cross-protocol requests): close at once. */
const HTTP_REQUEST_LINE = /^(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|CONNECT|PATCH|TRACE) \S+ HTTP\/\d/i;
const HTTP_HEADER_LINE = /^(?:Host|User-Agent|Content-Type|Content-Length|Accept):/i;

export class Session {
  readonly conn: Connection;
  readonly receiver: SmtpReceiver;
  readonly log: Logger;
  state: SessionState = { kind: 'connected' };
  identity: AuthIdentity | null = null;
  /** Messages accepted in this session, for ids. */
  messageCount = 0;
  #errors = 0;
  #outgoing: Buffer[] = [];
  /** The last final reply (not 334/354) of the command running, for its log line. */
  #lastFinalReply: SmtpReply | null = null;
  /** A message being received (DATA/BDAT), aborted if the session ends first. */
  #openMessage: IncomingMessage | null = null;

  constructor(
    socket: ConstructorParameters<typeof Connection>[0],
    readonly info: ConnectionInfo,
    readonly services: SmtpServices,
    readonly settings: SessionSettings,
  ) {
    this.log = info.logger;
    this.conn = new Connection(socket, {
      idleTimeoutMs: settings.commandTimeoutMs,
      deadlineMs: settings.sessionDeadlineMs,
      interrupt: info.shutdown,
    });
    // The receiver takes lines up to the AUTH limit (RFC 4954 4: 12288 octets, for initial
    // responses and exchange lines); shorter per-verb limits are checked in #command.
    this.receiver = new SmtpReceiver({
      lineLimit: Math.max(settings.commandLine, AUTH_LINE_LIMIT),
      textLineLimit: settings.textLine,
      bareLineEndings: settings.bareLineEndings,
    });
  }

  // ---- facts handlers ask about -------------------------------------------------------------

  get secure(): boolean {
    return this.conn.secure;
  }

  get tlsDetails(): TlsDetails | null {
    return this.conn.tls;
  }

  get isLoopback(): boolean {
    const ip = this.info.remoteAddress;
    return ip === '::1' || (isIP(ip) === 4 && ip.startsWith('127.'));
  }

  /** AUTH may be used now: over TLS, or from loopback when the configuration allows plaintext. */
  get authUsable(): boolean {
    return this.secure || (this.settings.allowPlaintextOnLoopback && this.isLoopback);
  }

  /** STARTTLS is on offer: plaintext connection (RFC 3207; never on implicit TLS). */
  get startTlsOffered(): boolean {
    return !this.secure;
  }

  /** The EHLO extensions are in force (and with them PIPELINING and the extended line limit). */
  get extended(): boolean {
    return (this.state.kind !== 'connected' && this.state.greeting.verb === 'EHLO');
  }

  // ---- replies ------------------------------------------------------------------------------

  /** Queues a reply; it is written before the session next waits for input. */
  send(value: SmtpReply): void {
    if (value.code >= 400 && value.code !== 421) this.#errors++;
    if (value.code < 300 || value.code >= 400) this.#lastFinalReply = value;
    this.#outgoing.push(encodeReply(value));
  }

  async flush(): Promise<void> {
    if (this.#outgoing.length === 0) return;
    const data = this.#outgoing.length === 1 ? this.#outgoing[0]! : Buffer.concat(this.#outgoing);
    this.#outgoing = [];
    await this.conn.write(data);
  }

  /** The next receiver event; writes queued replies before waiting. Null when the client went away. */
  async nextEvent(): Promise<SmtpEvent | null> {
    for (;;) {
      const event = this.receiver.next();
      if (event !== null) return event;
      await this.flush();
      const chunk = await this.conn.read();
      if (chunk === null) return null;
      this.receiver.push(chunk);
    }
  }

  /** Whether more client bytes are already here (sent before our last reply). */
  get hasPendingInput(): boolean {
    return this.receiver.bufferedBytes > 0 || this.conn.hasBufferedInput;
  }

  /** The message being received, so the session can abort it if it ends early. */
  trackMessage(message: IncomingMessage | null): void {
    this.#openMessage = message;
  }

  /**
   * Back to `greeted` (RSET, EHLO, end of a transaction: RFC 5321 4.1.1.5). A BDAT message in
   * progress is thrown away.
   */
  async resetTransaction(): Promise<void> {
    const state = this.state;
    if (state.kind !== 'transaction' && state.kind !== 'chunking') return;
    this.state = { kind: 'greeted', greeting: state.greeting };
    if (state.kind === 'chunking') {
      this.trackMessage(null);
      await state.message.abort();
    }
  }

  // ---- the session --------------------------------------------------------------------------

  async run(): Promise<void> {
    try {
      if (await this.#clientTalksFirst()) {
        // RFC 5321 4.3.1: the client waits for the greeting. One that does not is no mail client.
        this.send(SessionReply.protocolViolation);
        throw new SessionEnd('input before the greeting');
      }
      this.send(reply(220, null, `${this.settings.hostname} ESMTP Mailhaven`));
      await this.#commandLoop();
    } catch (error) {
      await this.#endWith(error);
    } finally {
      await this.#abortOpenMessage();
      this.conn.end();
    }
  }

  async #clientTalksFirst(): Promise<boolean> {
    return this.conn.waitForInput(this.settings.greetingDelayMs);
  }

  async #commandLoop(): Promise<void> {
    for (;;) {
      const event = await this.nextEvent();
      if (event === null) return;
      if (event.type === 'lineTooLong') {
        const startedAt = commandStart();
        this.send(Reply.lineTooLong);
        countUnparsed(this, 'UNKNOWN', Reply.lineTooLong);
        this.#logCommand('UNKNOWN', startedAt, Reply.lineTooLong);
      } else if (event.type === 'command') {
        await this.#command(event.line);
      }
      // data/chunk events cannot occur in command mode: the receiver only leaves it when a handler asks.
      this.#checkLimits();
    }
  }

  /** Too many errors, or a shutdown requested: say so and stop (RFC 5321 3.8, 4.2.2 421). */
  #checkLimits(): void {
    if (this.#errors >= this.settings.errorsPerSession) {
      this.send(Reply.tooManyErrors);
      throw new SessionEnd('too many errors');
    }
    if (this.info.shutdown.aborted) {
      this.send(withText(Reply.shuttingDown, `${this.settings.hostname} Service shutting down, closing connection`));
      throw new SessionEnd('shutdown');
    }
  }

  async #command(line: Buffer): Promise<void> {
    const text = line.toString('latin1');
    if (HTTP_REQUEST_LINE.test(text) || (this.state.kind === 'connected' && HTTP_HEADER_LINE.test(text))) {
      this.log.info('HTTP request on the SMTP port, closing');
      throw new SessionEnd('http request');
    }
    const verb = /^[A-Za-z]+/.exec(text)?.[0]?.toUpperCase() ?? '';
    // RFC 2920 3.1 / 3.2: without PIPELINING negotiated (EHLO answered) the client must wait
    // for each reply. Bytes already here were sent before it could have seen ours.
    if (!this.extended && this.hasPendingInput && verb !== 'QUIT') {
      this.send(SessionReply.protocolViolation);
      throw new SessionEnd('unnegotiated pipelining');
    }
    const startedAt = commandStart();
    const name = commandName(verb, isKnownVerb);
    this.#lastFinalReply = null;
    let dispatched = false;
    try {
      if (line.length + 2 > this.#lineLimitFor(verb)) throw new SmtpReplyError(SessionReply.commandTooLong);
      const command = parseCommand(line, { lenientHelo: true });
      dispatched = true;
      const answer = await dispatch(this, command);
      if (answer !== null) this.send(answer);
    } catch (error) {
      const answer = this.#replyFor(error, verb);
      // dispatch counts what it runs; a line that never got there is counted here.
      if (!dispatched) countUnparsed(this, name, answer);
      this.send(answer);
    } finally {
      this.#logCommand(name, startedAt, this.#lastFinalReply);
    }
  }

  /** The command's log line (src/log/commands.ts): reply code, or `aborted` when none was sent. */
  #logCommand(name: string, startedAt: number, answer: SmtpReply | null): void {
    logCommand(this.log, {
      command: name,
      result: answer === null ? 'aborted' : String(answer.code),
      code: answer?.enhanced ?? null,
      startedAt,
      user: this.identity?.address ?? null,
    });
  }

  /**
   * RFC 5321 4.5.3.1.4: 512 octets per command line, which extensions may raise: MAIL and RCPT
   * once EHLO advertised SIZE, DSN and AUTH (EXTENDED_COMMAND_LINE_LIMIT), and AUTH with its
   * initial response (RFC 4954 4: 12288).
   */
  #lineLimitFor(verb: string): number {
    const base = this.settings.commandLine;
    if (verb === 'AUTH') return Math.max(base, AUTH_LINE_LIMIT);
    if (this.extended && EXTENDED_LINE_VERBS.has(verb)) return Math.max(base, EXTENDED_COMMAND_LINE_LIMIT);
    return base;
  }

  /** The one mapping of failures to replies. Connection ends and SessionEnd pass through. */
  #replyFor(error: unknown, verb: string): SmtpReply {
    if (error instanceof ConnectionInterrupted || error instanceof ConnectionClosedError || error instanceof SessionEnd) throw error;
    if (error instanceof SmtpSyntaxError && error.kind === 'badCharacters' && isKnownVerb(verb)) {
      // A NUL, CR or other control inside a known command's arguments: 501, never echoed.
      return withText(Reply.syntaxArguments, 'Control characters or invalid UTF-8 in parameters');
    }
    if (error instanceof SmtpReplyError) return error.reply;
    if (error instanceof StoreError) {
      // Disk full and I/O errors need an operator; busy and over-quota pass by themselves.
      const level = error.code === 'io' || error.code === 'noSpace' ? 'error' : 'warn';
      this.log[level]({ code: error.code, err: error.message }, 'store error');
      if (error.code === 'noSpace') return SessionReply.storageFull;
      if (error.code === 'overQuota') return SessionReply.mailboxFull;
      return SessionReply.localError;
    }
    this.log.error({ err: error, verb }, 'command failed');
    return SessionReply.serverError;
  }

  async #endWith(error: unknown): Promise<void> {
    if (error instanceof ConnectionInterrupted) {
      const answer =
        error.reason === 'idleTimeout'
          ? SessionReply.idleTimeout
          : error.reason === 'deadline'
            ? SessionReply.deadline
            : withText(Reply.shuttingDown, `${this.settings.hostname} Service shutting down, closing connection`);
      this.log.info({ reason: error.reason }, 'closing session');
      this.send(answer);
    } else if (error instanceof SessionEnd) {
      this.log.debug({ why: error.why }, 'session end');
    } else if (error instanceof ConnectionClosedError) {
      return;
    } else {
      this.log.error({ err: error }, 'session failed');
      this.send(SessionReply.serverError);
    }
    try {
      await this.flush();
    } catch {
      // The peer is gone; nothing more to say.
    }
  }

  async #abortOpenMessage(): Promise<void> {
    const message = this.#openMessage;
    this.#openMessage = null;
    if (message !== null) await message.abort().catch(() => undefined);
  }
}

function isKnownVerb(verb: string): boolean {
  return ['EHLO', 'HELO', 'MAIL', 'RCPT', 'DATA', 'BDAT', 'RSET', 'NOOP', 'QUIT', 'VRFY', 'EXPN', 'HELP', 'STARTTLS', 'AUTH'].includes(verb);
}
