/**
 * One POP3 session (RFC 1939) over a Connection: greeting, the command loop, the mapping of
 * every failure to one -ERR, writing replies (message bodies streamed with backpressure), STLS,
 * and the limits (line length, errors, inactivity, shutdown).
 *
 * Bytes go socket → Connection (pull, backpressure) → Pop3Receiver (sans-I/O) → lines; each
 * line is parsed (src/wire/pop3), checked against the dispatch table (./dispatch.ts) and run by
 * its handler under ./commands/. Handlers answer by returning a Pop3Reply or by throwing a
 * Pop3Err; everything else is mapped here, once.
 *
 * Replies are collected and written when the session is about to wait for input, so a
 * pipelined group (RFC 2449 6.6) gets its replies in one write.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { availableMechanisms, PLAINTEXT_MECHANISMS } from '../auth/index.js';
import type { SaslMechanismName } from '../auth/index.js';
import type { Logger } from '../log/index.js';
import { commandName, commandStart, logCommand } from '../log/commands.js';
import { Connection, ConnectionClosedError, ConnectionInterrupted } from '../net/connection.js';
import { TlsHandshakeError } from '../net/starttls.js';
import type { ConnectionInfo } from '../net/types.js';
import { StoreError } from '../store/types.js';
import {
  MessageEncoder,
  Pop3Receiver,
  Pop3SyntaxError,
  encodeContinuation,
  encodeErr,
  encodeMultiline,
  encodeOk,
  keywordOf,
  parseCommand,
} from '../wire/pop3/index.js';
import type { Pop3Event } from '../wire/pop3/index.js';
import { countUnparsed, dispatch, isPop3Verb } from './dispatch.js';
import { Pop3Err } from './errors.js';
import type { Pop3Reply } from './reply.js';
import type { Pop3State } from './state.js';
import type { Pop3Services, Pop3Settings } from './types.js';

/** Thrown to end the session after the replies queued so far. */
export class SessionEnd extends Error {
  constructor(readonly why: string) {
    super(`session ends: ${why}`);
    this.name = 'SessionEnd';
  }
}

/** Verbs whose lines may reach the receiver's limit (AUTH_LINE_LIMIT) rather than the command limit. */
const LONG_LINE_VERBS: ReadonlySet<string> = new Set(['AUTH', 'PASS']);
/** Replies are written once this much is queued, even in the middle of a message. */
const WRITE_BATCH = 64 * 1024;

/**
 * RFC 1939 7: the greeting timestamp is `<process-ID.clock@hostname>` and "MUST be different
 * each time"; random octets make it unique across processes and nodes too.
 */
export function apopTimestamp(hostname: string, now = Date.now()): string {
  return `<${process.pid}.${now}.${randomBytes(8).toString('hex')}@${hostname}>`;
}

export class Session {
  readonly conn: Connection;
  readonly receiver = new Pop3Receiver();
  readonly log: Logger;
  state: Pop3State = { kind: 'authorization', user: null };
  /** The APOP challenge of this session's greeting (RFC 1939 7), or null when APOP is off. */
  readonly apopTimestamp: string | null;
  #outgoing: Buffer[] = [];
  #outgoingBytes = 0;
  #errors = 0;
  #closeAfterReply = false;

  constructor(
    socket: ConstructorParameters<typeof Connection>[0],
    readonly info: ConnectionInfo,
    readonly services: Pop3Services,
    readonly settings: Pop3Settings,
  ) {
    this.log = info.logger;
    // RFC 1939 3: an inactivity autologout timer "MUST be of at least 10 minutes' duration".
    this.conn = new Connection(socket, {
      idleTimeoutMs: settings.idleTimeoutMs,
      deadlineMs: 0,
      interrupt: info.shutdown,
      // Slowloris: a command line that has begun must end within the command timeout, however
      // slowly it trickles in (the 10-minute idle timer restarts with every octet).
      partialInputTimeoutMs: settings.commandTimeoutMs ?? 0,
      hasPartialInput: () => this.receiver.bufferedBytes > 0,
    });
    this.apopTimestamp = services.sasl.secrets === undefined ? null : settings.apopTimestamp();
  }

  // ---- facts handlers ask about -------------------------------------------------------------

  get id(): string {
    return this.info.id;
  }

  get secure(): boolean {
    return this.conn.secure;
  }

  get remoteAddress(): string {
    return this.info.remoteAddress;
  }

  get isLoopback(): boolean {
    const ip = this.info.remoteAddress;
    return ip === '::1' || (isIP(ip) === 4 && ip.startsWith('127.'));
  }

  /** USER/PASS and AUTH PLAIN/LOGIN may be used now: over TLS, or from loopback when allowed. */
  get plaintextAllowed(): boolean {
    return this.secure || (this.settings.allowPlaintextOnLoopback && this.isLoopback);
  }

  /** SASL mechanisms usable on this connection now, in the order to announce them. */
  mechanisms(): SaslMechanismName[] {
    return availableMechanisms(this.services.sasl).filter((name) => this.plaintextAllowed || !PLAINTEXT_MECHANISMS.has(name));
  }

  /** The reply being built ends the session (QUIT). */
  closeAfterReply(): void {
    this.#closeAfterReply = true;
  }

  /**
   * RFC 5034 4: sends a challenge (`+ base64`) and returns the client's answer line (base64 or
   * "*"). The line may be longer than a command (AUTH_LINE_LIMIT).
   */
  async saslChallenge(challenge: Buffer): Promise<string> {
    this.#queue(encodeContinuation(challenge));
    const event = await this.#nextEvent();
    if (event === null) throw new SessionEnd('client went away during AUTH');
    if (event.type === 'lineTooLong') throw new Pop3Err(null, 'authentication response too long');
    return event.line.toString('latin1');
  }

  // ---- the session --------------------------------------------------------------------------

  async run(): Promise<void> {
    try {
      const greeting = this.apopTimestamp === null ? 'Mailhaven POP3 server ready' : `Mailhaven POP3 server ready ${this.apopTimestamp}`;
      this.#queue(encodeOk(greeting));
      await this.#commandLoop();
    } catch (error) {
      await this.#endWith(error);
    } finally {
      await this.#releaseMaildrop();
      this.conn.end();
    }
  }

  async #commandLoop(): Promise<void> {
    for (;;) {
      const event = await this.#nextEvent();
      if (event === null) return;
      if (event.type === 'lineTooLong') {
        const startedAt = commandStart();
        const error = new Pop3Err(null, 'command line too long');
        this.#queueError(error);
        countUnparsed(this, 'UNKNOWN');
        this.#logCommand('UNKNOWN', startedAt, error);
      } else await this.#command(event.line);
      if (this.#closeAfterReply) {
        await this.#flush();
        return;
      }
      this.#checkLimits();
    }
  }

  async #command(line: Buffer): Promise<void> {
    const keyword = keywordOf(line);
    const startedAt = commandStart();
    const name = commandName(keyword, isPop3Verb);
    const userBefore = this.#user();
    let dispatched = false;
    let outcome: Pop3Err | '+OK' | 'aborted' = 'aborted';
    try {
      // RFC 2449 4: commands of at least 255 octets. AUTH may carry a long initial response
      // (an OAuth token) and PASS a long password (up to 1024 characters, docs/cli.md).
      if (line.length + 2 > this.settings.commandLine && !LONG_LINE_VERBS.has(keyword)) throw new Pop3Err(null, 'command line too long');
      const command = parseCommand(line);
      dispatched = true;
      await this.#send(await dispatch(this, command));
      outcome = '+OK';
    } catch (error) {
      const failure = this.#errorFor(error, keyword);
      // dispatch counts what it runs; a line that never got there is counted here.
      if (!dispatched) countUnparsed(this, name);
      this.#queueError(failure);
      outcome = failure;
    } finally {
      this.#logCommand(name, startedAt, outcome, userBefore);
    }
  }

  /**
   * The command's log line (src/log/commands.ts): +OK, -ERR with its response code, or
   * `aborted` when the connection ended before an answer.
   */
  #logCommand(name: string, startedAt: number, outcome: Pop3Err | '+OK' | 'aborted', userBefore: string | null = null): void {
    const user = this.#user() ?? userBefore;
    if (outcome instanceof Pop3Err) logCommand(this.log, { command: name, result: '-ERR', code: outcome.code, startedAt, user });
    else logCommand(this.log, { command: name, result: outcome, startedAt, user });
  }

  /** The one mapping of failures to -ERR. Connection ends and SessionEnd pass through. */
  #errorFor(error: unknown, keyword: string): Pop3Err {
    if (error instanceof ConnectionInterrupted || error instanceof ConnectionClosedError || error instanceof SessionEnd || error instanceof TlsHandshakeError) {
      throw error;
    }
    if (error instanceof Pop3Err) return error;
    if (error instanceof Pop3SyntaxError) {
      if (error.kind === 'unknownCommand') return new Pop3Err(null, 'unknown command');
      if (error.kind === 'badCharacters') return new Pop3Err(null, 'invalid characters in command');
      return new Pop3Err(null, error.message);
    }
    if (error instanceof StoreError) {
      this.log.warn({ code: error.code, err: error.message, verb: keyword }, 'store error');
      const temporary = error.code === 'busy' || error.code === 'io' || error.code === 'noSpace';
      return new Pop3Err(temporary ? 'SYS/TEMP' : 'SYS/PERM', temporary ? 'mail store temporarily unavailable, try again later' : 'mail store error');
    }
    this.log.error({ err: error, verb: keyword }, 'command failed');
    return new Pop3Err('SYS/TEMP', 'internal server error');
  }

  /** The logged-in user, or the name given by USER; null before (and after QUIT). */
  #user(): string | null {
    const state = this.state;
    return state.kind === 'transaction' ? state.login.address : state.kind === 'authorization' ? state.user : null;
  }

  /** Too many errors, or a shutdown requested: say so and stop. */
  #checkLimits(): void {
    if (this.#errors >= this.settings.errorsPerSession) {
      this.#queue(encodeErr('too many errors, closing connection'));
      throw new SessionEnd('too many errors');
    }
    if (this.info.shutdown.aborted) {
      this.#queue(encodeErr('server shutting down', 'SYS/TEMP'));
      throw new SessionEnd('shutdown');
    }
  }

  async #endWith(error: unknown): Promise<void> {
    if (error instanceof ConnectionInterrupted) {
      this.log.info({ reason: error.reason }, 'closing session');
      // RFC 1939 3: on autologout "the server should close the TCP connection without removing
      // any messages or sending any response to the client".
      if (error.reason !== 'shutdown') return;
      this.#queue(encodeErr('server shutting down', 'SYS/TEMP'));
    } else if (error instanceof SessionEnd) {
      this.log.debug({ why: error.why }, 'session end');
    } else if (error instanceof ConnectionClosedError || error instanceof TlsHandshakeError) {
      this.log.debug({ err: error.message }, 'connection lost');
      return;
    } else {
      this.log.error({ err: error }, 'pop3 session failed');
      this.#queue(encodeErr('internal server error', 'SYS/TEMP'));
    }
    try {
      await this.#flush();
    } catch {
      // The peer is gone; nothing more to say.
    }
  }

  /** RFC 1939 6: a session that ends without QUIT "MUST not remove any messages": only the lock goes. */
  async #releaseMaildrop(): Promise<void> {
    if (this.state.kind !== 'transaction') return;
    const { lease, login } = this.state;
    this.state = { kind: 'update' };
    await lease.release().catch((error: unknown) => this.log.warn({ err: error, user: login.address }, 'releasing the maildrop lock failed'));
  }

  // ---- input --------------------------------------------------------------------------------

  /** The next line event; writes queued replies before waiting. Null when the client went away. */
  async #nextEvent(): Promise<Pop3Event | null> {
    for (;;) {
      const event = this.receiver.next();
      if (event !== null) return event;
      await this.#flush();
      const chunk = await this.conn.read();
      if (chunk === null) return null;
      this.receiver.push(chunk);
    }
  }

  // ---- output -------------------------------------------------------------------------------

  async #send(reply: Pop3Reply): Promise<void> {
    switch (reply.kind) {
      case 'ok':
        this.#queue(encodeOk(reply.text));
        return;
      case 'listing':
        this.#queue(encodeMultiline(reply.text, reply.lines));
        return;
      case 'message':
        await this.#sendMessage(reply);
        return;
      case 'startTls':
        await this.#startTls(reply.text);
        return;
      default: {
        const unreachable: never = reply;
        throw new Error(`unknown reply ${String(unreachable)}`);
      }
    }
  }

  /** RETR/TOP: +OK, the message through the encoder (RFC 1939 3 byte-stuffing, CRLF), ".". */
  async #sendMessage(reply: Extract<Pop3Reply, { kind: 'message' }>): Promise<void> {
    const encoder = new MessageEncoder(reply.bodyLines === undefined ? {} : { bodyLines: reply.bodyLines });
    this.#queue(encodeOk(reply.text));
    const chunks: AsyncIterable<Buffer> | Iterable<Buffer> = Buffer.isBuffer(reply.body) ? [reply.body] : (reply.body as AsyncIterable<Buffer>);
    try {
      for await (const chunk of chunks) {
        const out = encoder.push(chunk);
        if (out.length > 0) this.#queue(out);
        if (this.#outgoingBytes >= WRITE_BATCH) await this.#flush();
        if (encoder.done) break;
      }
    } catch (error) {
      if (error instanceof ConnectionClosedError) throw error;
      // +OK and part of the message are out: the only honest way on is to hang up.
      this.log.error({ err: error }, 'reading a message failed during RETR/TOP');
      throw new SessionEnd('message read failed');
    } finally {
      if (!Buffer.isBuffer(reply.body)) reply.body.destroy();
    }
    this.#queue(encoder.end());
    reply.onSent?.(encoder.consumed >= reply.size);
  }

  /**
   * RFC 2595 4 with the STARTTLS contract of src/net/starttls.ts: stop reading and drop what
   * the client sent after STLS (a client must wait for our answer: anything else is injected
   * plaintext), answer, handshake, then start over in AUTHORIZATION.
   */
  async #startTls(text: string): Promise<void> {
    const dropped = this.receiver.discardBuffered() + this.conn.stopReadingForTls();
    if (dropped > 0) this.log.warn({ octets: dropped }, 'discarded plaintext sent after STLS');
    this.#queue(encodeOk(text));
    await this.#flush();
    await this.conn.startTls(this.info.tls, this.settings.tlsHandshakeTimeoutMs);
    this.state = { kind: 'authorization', user: null };
    this.log.debug({ tls: this.conn.tls }, 'tls started');
  }

  #queueError(error: Pop3Err): void {
    this.#errors++;
    this.#queue(encodeErr(error.text, error.code));
  }

  #queue(bytes: Buffer): void {
    this.#outgoing.push(bytes);
    this.#outgoingBytes += bytes.length;
  }

  async #flush(): Promise<void> {
    if (this.#outgoing.length === 0) return;
    const data = this.#outgoing.length === 1 ? (this.#outgoing[0] ?? Buffer.alloc(0)) : Buffer.concat(this.#outgoing);
    this.#outgoing = [];
    this.#outgoingBytes = 0;
    await this.#write(data);
  }

  /** A write that the client does not take within the idle timeout closes the connection. */
  async #write(data: Buffer): Promise<void> {
    const timer = setTimeout(() => {
      this.log.info('client stopped reading, closing');
      this.conn.destroy();
    }, this.settings.idleTimeoutMs);
    timer.unref();
    try {
      await this.conn.write(data);
    } finally {
      clearTimeout(timer);
    }
  }
}
