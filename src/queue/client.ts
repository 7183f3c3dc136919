/**
 * The outbound SMTP client: sessions to one address of one host (RFC 5321). `openSession` does
 * the greeting, EHLO (HELO on 5xx), STARTTLS (RFC 3207) per policy then EHLO again, and AUTH
 * PLAIN/LOGIN (RFC 4954) for smarthosts; `SmtpSession.send` runs one transaction for all
 * recipients of a domain: MAIL/RCPT pipelined when offered (RFC 2920), SIZE (RFC 1870), BODY=
 * (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), DSN parameters (RFC 3461), DATA with dot-stuffing
 * streamed with backpressure, or BDAT for BINARYMIME (RFC 3030). A session that ends a
 * transaction cleanly can run the next one (RFC 5321 4.1.4; cached by ./pool.ts); `close` QUITs.
 *
 * Never throws for a remote failure: the caller gets either per-recipient answers from this host
 * or the reason the host could not be used (so it tries the next one).
 * @module
 */
import { once } from 'node:events';
import { connect as netConnect, isIP } from 'node:net';
import type { Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect } from 'node:tls';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import type { Logger } from '../log/index.js';
import { encodeXtext } from '../wire/smtp/index.js';
import { DotStuffer, ReplyParser, ReplySyntaxError, describeReply, parseExtensions } from './client-wire.js';
import type { ServerReply } from './client-wire.js';
import type { RecipientResult, TlsMode, TransactionRecipient, TransactionRequest } from './transport.js';

/** Where to connect: the host name (for TLS names and logs) and one of its addresses. */
export interface SmtpTarget {
  host: string;
  address: string;
  port: number;
}

export interface TlsPolicy {
  mode: TlsMode;
  /** Check the certificate chain and that it names the host (RFC 6125); an unverified peer is refused. */
  verify: boolean;
}

export interface SessionOptions {
  ehloName: string;
  connectTimeoutMs: number;
  /** Each reply (RFC 5321 4.5.3.2); the reply to the end of data gets twice this. */
  commandTimeoutMs: number;
  tls: TlsPolicy;
  /** Trust anchors for verified TLS instead of the system's (tests, private smarthosts). */
  ca?: SecureContextOptions['ca'];
  /** Smarthost credentials, or null. */
  auth: { username: string; password: string } | null;
  /** AUTH without TLS: only for a route with tls = "none" to a loopback address. */
  allowPlaintextAuth: boolean;
  signal?: AbortSignal;
  logger: Logger;
}

/** The host gave final answers for the transaction (per recipient, in request order). */
export interface AnsweredAttempt {
  kind: 'answered';
  recipients: RecipientResult[];
  tls: boolean;
  /** The host offered DSN (RFC 3461), so it got NOTIFY/ORCPT/RET/ENVID. */
  dsn: boolean;
}

/** The host could not take the transaction; the caller tries the next host or address. */
export interface HostFailure {
  kind: 'hostFailed';
  code: number;
  enhanced: string;
  diagnostic: string;
  /** A 5xx that another attempt would get again (for this host). */
  permanent: boolean;
  /** Opportunistic TLS failed in the handshake: a plaintext session to the same host may work. */
  retryWithoutTls: boolean;
  tls: boolean;
}

export type AttemptResult = AnsweredAttempt | HostFailure;

/** A failure of the session itself (network, timeout, protocol, TLS), mapped to a temporary result. */
class SessionError extends Error {
  constructor(
    readonly enhanced: string,
    message: string,
    readonly code = 0,
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

/** Pending replies a server may queue up before we read them (more is a flood). */
const MAX_QUEUED_REPLIES = 256;
/** QUIT is a courtesy; never wait long for its answer. */
const QUIT_TIMEOUT_MS = 2000;

/**
 * A socket plus the reply parser: `read` waits for the next reply with a timeout, `write`
 * waits for the kernel buffer to drain (backpressure), `startTls` upgrades in place.
 */
class ReplyChannel {
  private parser = new ReplyParser();
  private queued: ServerReply[] = [];
  private waiter: { resolve: (reply: ServerReply) => void; reject: (error: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onError = (error: Error): void => this.fail(new SessionError('4.4.2', `connection error: ${error.message}`));
  private readonly onClose = (): void => this.fail(new SessionError('4.4.2', 'connection closed by the remote server'));
  tls = false;

  constructor(private socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private detach(socket: Socket | TLSSocket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
  }

  private receive(chunk: Buffer): void {
    if (this.failure !== null) return;
    try {
      for (const reply of this.parser.feed(chunk)) this.deliver(reply);
    } catch (error) {
      const reason = error instanceof ReplySyntaxError ? error.message : String(error);
      this.fail(new SessionError('4.5.0', `protocol error from the remote server: ${reason}`));
      this.socket.destroy();
    }
  }

  private deliver(reply: ServerReply): void {
    if (this.waiter !== null) {
      const { resolve } = this.waiter;
      this.waiter = null;
      resolve(reply);
      return;
    }
    this.queued.push(reply);
    if (this.queued.length > MAX_QUEUED_REPLIES) {
      this.fail(new SessionError('4.5.0', 'protocol error: the remote server sent replies nobody asked for'));
      this.socket.destroy();
    }
  }

  fail(error: Error): void {
    this.failure ??= error;
    if (this.waiter !== null) {
      const { reject } = this.waiter;
      this.waiter = null;
      reject(this.failure);
    }
  }

  /** The next reply; rejects with SessionError on timeout, close or a malformed reply. */
  read(timeoutMs: number, what: string): Promise<ServerReply> {
    const next = this.queued.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise<ServerReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new SessionError('4.4.2', `timeout after ${Math.round(timeoutMs / 1000)}s waiting for the reply to ${what}`));
        this.socket.destroy();
      }, timeoutMs);
      this.waiter = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  /** Writes and waits until the socket takes more (never piles the message up in memory). */
  async write(data: Buffer | string, timeoutMs: number): Promise<void> {
    if (this.failure !== null) throw this.failure;
    if (this.socket.write(data)) return;
    await this.waitFor('drain', timeoutMs, 'the remote server to read data');
  }

  private async waitFor(event: string, timeoutMs: number, what: string, socket: Socket | TLSSocket = this.socket): Promise<void> {
    let cleanup = (): void => undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const done = (): void => resolve();
        // onClose/onError (attached first) have set `failure` by the time these run.
        const failed = (): void => reject(this.failure ?? new SessionError('4.4.2', 'connection closed by the remote server'));
        const timer = setTimeout(() => reject(new SessionError('4.4.2', `timeout after ${Math.round(timeoutMs / 1000)}s waiting for ${what}`)), timeoutMs);
        socket.once(event, done);
        socket.once('close', failed);
        socket.once('error', failed);
        cleanup = (): void => {
          clearTimeout(timer);
          socket.off(event, done);
          socket.off('close', failed);
          socket.off('error', failed);
        };
      });
    } finally {
      cleanup();
    }
  }

  /**
   * RFC 3207 4.2: the handshake starts right after the 220. Bytes that came with the 220 would
   * be plaintext injected before the TLS layer: a protocol error (CVE-2011-0411 family).
   */
  async startTls(target: SmtpTarget, options: SessionOptions, timeoutMs: number): Promise<{ authorized: boolean; reason: string | null }> {
    if (this.parser.hasBufferedInput || this.queued.length > 0) {
      throw new SessionError('4.5.0', 'protocol error: the remote server sent data after its STARTTLS reply');
    }
    const plain = this.socket;
    this.detach(plain);
    const secure = tlsConnect({
      socket: plain,
      servername: isIP(target.host) === 0 ? target.host : undefined,
      rejectUnauthorized: false, // we decide below, so a failed check is reported, not a reset
      ca: options.ca,
      minVersion: 'TLSv1.2',
      checkServerIdentity: (_name, cert) => checkServerIdentity(target.host, cert),
    });
    this.socket = secure;
    const handshakeFailure = new Promise<never>((_resolve, reject) => {
      secure.once('error', (error: Error) => reject(new SessionError('4.7.5', `TLS handshake failed: ${error.message}`)));
      secure.once('close', () => reject(new SessionError('4.7.5', 'TLS handshake failed: connection closed')));
    });
    handshakeFailure.catch(() => undefined);
    const timer = setTimeout(() => secure.destroy(new Error(`no handshake within ${Math.round(timeoutMs / 1000)}s`)), timeoutMs);
    try {
      await Promise.race([once(secure, 'secureConnect'), handshakeFailure]);
    } catch (error) {
      plain.destroy();
      throw error instanceof SessionError ? error : new SessionError('4.7.5', `TLS handshake failed: ${String(error)}`);
    } finally {
      clearTimeout(timer);
    }
    this.parser = new ReplyParser();
    this.attach(secure);
    this.tls = true;
    const reason = secure.authorizationError === null || secure.authorizationError === undefined ? null : String(secure.authorizationError);
    return { authorized: secure.authorized, reason };
  }

  /** A reply that arrived unasked (e.g. a 552 in the middle of DATA), if any. */
  takeQueued(): ServerReply | undefined {
    return this.queued.shift();
  }

  /** Open, and nothing arrived unasked: no reply, no partial line, no close (a cached session's health). */
  get quiet(): boolean {
    return this.failure === null && this.waiter === null && this.queued.length === 0 && !this.parser.hasBufferedInput && !this.socket.destroyed && !this.socket.readableEnded;
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

async function connect(target: SmtpTarget, options: SessionOptions): Promise<ReplyChannel> {
  const socket = netConnect({ host: target.address, port: target.port });
  socket.setNoDelay(true);
  const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${options.connectTimeoutMs / 1000}s`)), options.connectTimeoutMs);
  try {
    await once(socket, 'connect');
  } catch (error) {
    socket.destroy();
    throw new SessionError('4.4.1', `cannot connect to ${target.host}[${target.address}]:${target.port}: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  return new ReplyChannel(socket);
}

/** What the remote offered in its EHLO answer (null after HELO: no extensions). */
type Extensions = Map<string, string>;

/** Per transaction on a session (a cached session serves deliveries of several queue entries). */
export interface TransactionOptions {
  signal?: AbortSignal;
  logger: Logger;
}

/**
 * A reused session turned out dead before MAIL was answered (the remote closed it while it was
 * cached, or answered 421): nothing reached the remote, so the caller reconnects once.
 */
export interface StaleSession {
  kind: 'stale';
  diagnostic: string;
}

/**
 * Opens a session: connect, greeting, EHLO (HELO), STARTTLS per policy, AUTH. Resolves with a
 * session ready for transactions, or with the reason the host could not be used.
 */
export async function openSession(target: SmtpTarget, options: SessionOptions): Promise<SmtpSession | HostFailure> {
  const log = options.logger.child({ remote: remoteName(target) });
  if (options.signal?.aborted === true) return hostFailure(new SessionError('4.4.7', 'delivery cancelled'), false);
  let channel: ReplyChannel;
  try {
    channel = await connect(target, options);
  } catch (error) {
    return hostFailure(error, false);
  }
  const stopCancelling = cancelOnAbort(channel, options.signal);
  try {
    const ready = await new Setup(channel, target, options, log).run();
    if (ready.kind === 'hostFailed') {
      channel.destroy();
      return ready;
    }
    return new SmtpSession(channel, target, ready.extensions, options.commandTimeoutMs);
  } catch (error) {
    channel.destroy();
    return hostFailure(asSessionError(error, log), channel.tls);
  } finally {
    stopCancelling();
  }
}

/** One transaction on a connection of its own, closed afterwards (no reuse; fuzzing, one-off use). */
export async function runSession(target: SmtpTarget, request: TransactionRequest, options: SessionOptions): Promise<AttemptResult> {
  const session = await openSession(target, options);
  if (!(session instanceof SmtpSession)) return session;
  try {
    const result = await session.send(request, options);
    // A fresh session is never stale; the type allows it only for reused ones.
    return result.kind === 'stale' ? hostFailure(new SessionError('4.4.2', result.diagnostic), session.tls) : result;
  } finally {
    await session.close();
  }
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function remoteName(target: SmtpTarget): string {
  return `${target.host}[${target.address}]:${target.port}`;
}

/** An abort (worker stopping) ends the exchange at once: the socket goes, waiting reads reject. */
function cancelOnAbort(channel: ReplyChannel, signal: AbortSignal | undefined): () => void {
  if (signal === undefined) return () => undefined;
  const onAbort = (): void => {
    channel.fail(new SessionError('4.4.7', 'delivery cancelled'));
    channel.destroy();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** Failures of our own code become a temporary local error (logged), never an exception to the caller. */
function asSessionError(error: unknown, log: Logger): SessionError {
  if (error instanceof SessionError) return error;
  log.error({ err: error }, 'outbound session failed unexpectedly');
  return new SessionError('4.3.0', `local error: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * An SMTP session past the greeting, EHLO, STARTTLS and AUTH: it runs one transaction at a time,
 * and after one that the remote accepted it is back in the initial state for the next MAIL
 * (RFC 5321 4.1.4: no RSET needed), so the transport may keep it for the next message (./pool.ts).
 */
export class SmtpSession {
  readonly openedAt = Date.now();
  /** Transactions started on this session. */
  transactions = 0;
  /** The remote offered DSN (RFC 3461) in the EHLO answer in force. */
  readonly dsn: boolean;
  /** Between transactions, and the last one ended with a 2xx final answer (or never reached the wire). */
  private clean = true;
  private busy = false;
  private closing = false;

  constructor(
    private readonly channel: ReplyChannel,
    readonly target: SmtpTarget,
    private readonly extensions: Extensions,
    private readonly timeout: number,
  ) {
    this.dsn = extensions.has('DSN');
  }

  get tls(): boolean {
    return this.channel.tls;
  }

  /** A new MAIL may start here: not in use, the last exchange succeeded, and the remote has not spoken or hung up since. */
  get reusable(): boolean {
    return this.clean && !this.busy && !this.closing && this.channel.quiet;
  }

  /**
   * Runs one transaction. On a reused session, a close or 421 before the MAIL reply gives
   * `stale` (nothing was sent to the remote); a fresh session never does.
   */
  async send(request: TransactionRequest, options: TransactionOptions): Promise<AttemptResult | StaleSession> {
    if (this.busy) throw new Error('an SMTP session runs one transaction at a time');
    if (options.signal?.aborted === true) return hostFailure(new SessionError('4.4.7', 'delivery cancelled'), this.tls);
    const log = options.logger.child({ remote: remoteName(this.target) });
    const reused = this.transactions > 0;
    this.busy = true;
    this.clean = false;
    this.transactions++;
    const stopCancelling = cancelOnAbort(this.channel, options.signal);
    const transaction = new Transaction(this.channel, this.extensions, this.dsn, request, reused, this.timeout, log);
    try {
      const result = await transaction.run();
      this.clean = transaction.endedCleanly;
      return result;
    } catch (error) {
      const failure = asSessionError(error, log);
      if (reused && !transaction.mailAnswered && !isAborted(options.signal)) return { kind: 'stale', diagnostic: failure.message };
      return transaction.afterFailure(failure);
    } finally {
      stopCancelling();
      this.busy = false;
      if (!this.clean) this.channel.destroy();
    }
  }

  /** Cached and waiting: the idle socket must not keep the process alive. */
  idle(): void {
    this.channel.unref();
  }

  /** Taken from the cache for a transaction. */
  resume(): void {
    this.channel.ref();
  }

  /** RFC 5321 4.1.1.10: QUIT (its answer waited for briefly), then the socket goes. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.channel.quiet && !this.busy) {
      try {
        await this.channel.write('QUIT\r\n', QUIT_TIMEOUT_MS);
        await this.channel.read(QUIT_TIMEOUT_MS, 'QUIT');
      } catch {
        // Nothing depends on the answer.
      }
    }
    this.channel.destroy();
  }
}

function hostFailure(error: unknown, tls: boolean, retryWithoutTls = false): HostFailure {
  const failure = error instanceof SessionError ? error : new SessionError('4.4.0', String(error));
  return { kind: 'hostFailed', code: failure.code, enhanced: failure.enhanced, diagnostic: failure.message, permanent: false, retryWithoutTls, tls };
}

function replyFailure(reply: ServerReply, context: string, tls: boolean): HostFailure {
  const permanent = reply.code >= 500;
  return {
    kind: 'hostFailed',
    code: reply.code,
    enhanced: enhancedOf(reply),
    diagnostic: `${context}: ${describeReply(reply)}`,
    permanent,
    retryWithoutTls: false,
    tls,
  };
}

/** The reply's enhanced code, or the RFC 3463 default for its class ("4.0.0", "5.0.0"). */
function enhancedOf(reply: ServerReply): string {
  if (reply.enhanced !== null) return reply.enhanced;
  return `${String(reply.code)[0]}.0.0`;
}

/** One command/reply exchange at a time over the channel, with QUIT as a courtesy. */
abstract class Exchange {
  constructor(
    protected readonly channel: ReplyChannel,
    protected readonly timeout: number,
    protected readonly log: Logger,
  ) {}

  protected async command(line: string, what: string, timeoutMs = this.timeout): Promise<ServerReply> {
    await this.channel.write(`${line}\r\n`, this.timeout);
    const reply = await this.channel.read(timeoutMs, what);
    this.log.trace({ command: what, reply: describeReply(reply) }, 'smtp reply');
    return reply;
  }

  /** RFC 5321 4.1.1.10; the answer does not matter, so it is not waited for long. */
  protected async quit(): Promise<void> {
    try {
      await this.channel.write('QUIT\r\n', QUIT_TIMEOUT_MS);
      await this.channel.read(QUIT_TIMEOUT_MS, 'QUIT');
    } catch {
      // The outcome is already decided.
    }
  }
}

/** The start of a session: greeting, EHLO (HELO), STARTTLS, EHLO again, AUTH. */
class Setup extends Exchange {
  constructor(
    channel: ReplyChannel,
    private readonly target: SmtpTarget,
    private readonly options: SessionOptions,
    log: Logger,
  ) {
    super(channel, options.commandTimeoutMs, log);
  }

  async run(): Promise<{ kind: 'ready'; extensions: Extensions } | HostFailure> {
    // RFC 5321 3.1 / 4.3.2: anything but 220 (e.g. 554 "no service here") means: use another host.
    const greeting = await this.channel.read(this.timeout, 'the greeting');
    if (greeting.code !== 220) {
      await this.quit();
      return replyFailure(greeting, 'greeting', false);
    }
    let hello = await this.hello();
    if (hello.kind === 'failed') return hello.failure;
    let extensions = hello.extensions;

    const tls = await this.startTlsPerPolicy(extensions);
    if (tls.kind === 'failed') return tls.failure;
    if (tls.kind === 'upgraded') {
      // RFC 3207 4.2: forget everything learnt before the handshake and ask again.
      hello = await this.hello(true);
      if (hello.kind === 'failed') return hello.failure;
      extensions = hello.extensions;
    }

    if (this.options.auth !== null) {
      const auth = await this.authenticate(this.options.auth, extensions);
      if (auth !== null) return auth;
    }
    return { kind: 'ready', extensions };
  }

  /** RFC 5321 4.1.1.1: EHLO, and HELO when EHLO is refused with a 5xx (an old server). */
  private async hello(afterTls = false): Promise<{ kind: 'ok'; extensions: Extensions } | { kind: 'failed'; failure: HostFailure }> {
    const ehlo = await this.command(`EHLO ${this.options.ehloName}`, 'EHLO');
    if (ehlo.code === 250) return { kind: 'ok', extensions: parseExtensions(ehlo) };
    if (ehlo.code >= 500 && ehlo.code <= 504 && !afterTls) {
      const helo = await this.command(`HELO ${this.options.ehloName}`, 'HELO');
      if (helo.code === 250) return { kind: 'ok', extensions: new Map() };
      await this.quit();
      return { kind: 'failed', failure: replyFailure(helo, 'HELO', this.channel.tls) };
    }
    await this.quit();
    return { kind: 'failed', failure: replyFailure(ehlo, 'EHLO', this.channel.tls) };
  }

  /** RFC 3207: STARTTLS when offered and the policy allows; required TLS that cannot happen fails the host. */
  private async startTlsPerPolicy(extensions: Extensions): Promise<{ kind: 'plain' | 'upgraded' } | { kind: 'failed'; failure: HostFailure }> {
    const { mode, verify } = this.options.tls;
    if (mode === 'none') return { kind: 'plain' };
    if (!extensions.has('STARTTLS')) {
      if (mode === 'opportunistic') return { kind: 'plain' };
      await this.quit();
      return { kind: 'failed', failure: hostFailure(new SessionError('4.7.10', 'TLS is required but the remote server does not offer STARTTLS'), false) };
    }
    const reply = await this.command('STARTTLS', 'STARTTLS');
    if (reply.code !== 220) {
      if (mode === 'opportunistic') return { kind: 'plain' }; // RFC 3207 4: carry on in plaintext
      await this.quit();
      const refused = new SessionError('4.7.10', `TLS is required but STARTTLS was refused: ${describeReply(reply)}`, reply.code);
      return { kind: 'failed', failure: hostFailure(refused, false) };
    }
    let outcome: { authorized: boolean; reason: string | null };
    try {
      outcome = await this.channel.startTls(this.target, this.options, this.timeout);
    } catch (error) {
      const failure = hostFailure(error, false, mode === 'opportunistic');
      return { kind: 'failed', failure };
    }
    if (verify && !outcome.authorized) {
      await this.quit();
      const reason = outcome.reason ?? 'unverified';
      return { kind: 'failed', failure: hostFailure(new SessionError('4.7.5', `certificate of ${this.target.host} not verified: ${reason}`), true) };
    }
    this.log.debug({ authorized: outcome.authorized, reason: outcome.reason }, 'outbound TLS established');
    return { kind: 'upgraded' };
  }

  /**
   * RFC 4954: AUTH PLAIN (initial response, 4) or LOGIN, never in plaintext unless the route
   * allows it. A refusal defers (the operator can fix the password before the message expires).
   */
  private async authenticate(credentials: { username: string; password: string }, extensions: Extensions): Promise<HostFailure | null> {
    if (!this.channel.tls && !this.options.allowPlaintextAuth) {
      await this.quit();
      return hostFailure(new SessionError('4.7.10', 'refusing to send credentials without TLS (set tls = "required" on the route)'), false);
    }
    const mechanisms = (extensions.get('AUTH') ?? '').toUpperCase().split(/\s+/);
    let reply: ServerReply;
    if (mechanisms.includes('PLAIN')) {
      const token = Buffer.from(`\0${credentials.username}\0${credentials.password}`, 'utf8').toString('base64');
      reply = await this.command(`AUTH PLAIN ${token}`, 'AUTH PLAIN');
      // RFC 4954 4: a server that does not take an initial response asks with an empty 334.
      if (reply.code === 334) reply = await this.command(token, 'AUTH PLAIN response');
    } else if (mechanisms.includes('LOGIN')) {
      reply = await this.command('AUTH LOGIN', 'AUTH LOGIN');
      if (reply.code === 334) reply = await this.command(Buffer.from(credentials.username, 'utf8').toString('base64'), 'AUTH LOGIN user name');
      if (reply.code === 334) reply = await this.command(Buffer.from(credentials.password, 'utf8').toString('base64'), 'AUTH LOGIN password');
    } else {
      await this.quit();
      return hostFailure(new SessionError('4.7.12', 'the smarthost offers neither AUTH PLAIN nor AUTH LOGIN'), this.channel.tls);
    }
    if (reply.code === 235) return null;
    if (reply.code === 334) await this.channel.write('*\r\n', this.timeout); // RFC 4954 4: cancel
    await this.quit();
    const failure = replyFailure(reply, `authentication as ${credentials.username} refused`, this.channel.tls);
    return { ...failure, permanent: false, enhanced: `4.${failure.enhanced.slice(2)}` };
  }

}

/** One mail transaction (RFC 5321 3.3) on an open session: MAIL, RCPT..., DATA or BDAT. */
class Transaction extends Exchange {
  /** Per recipient, in request order; null until answered. */
  private readonly results: Array<RecipientResult | null>;
  /** Set once the RCPT replies are in: from then on this host has given final answers. */
  private recipientsAnswered = false;
  /** The remote answered MAIL: a failure from here on is not a stale cached session. */
  mailAnswered = false;
  /** The end of data was answered with 2xx (or nothing reached the wire): the session may carry on. */
  endedCleanly = false;

  constructor(
    channel: ReplyChannel,
    private readonly extensions: Extensions,
    private readonly dsnOffered: boolean,
    private readonly request: TransactionRequest,
    private readonly reused: boolean,
    timeout: number,
    log: Logger,
  ) {
    super(channel, timeout, log);
    this.results = request.recipients.map(() => null);
  }

  async run(): Promise<AttemptResult | StaleSession> {
    const refusal = this.localRefusal(this.extensions);
    if (refusal !== null) {
      this.endedCleanly = true; // nothing was sent: the session is as it was
      return { kind: 'answered', recipients: this.request.recipients.map((r) => ({ address: r.address, ...refusal })), tls: this.channel.tls, dsn: this.dsnOffered };
    }
    return this.transaction(this.extensions);
  }

  /** What we refuse before MAIL, from what the remote offers (results for every recipient). */
  private localRefusal(extensions: Extensions): Omit<RecipientResult, 'address'> | null {
    const { request } = this;
    const size = extensions.get('SIZE');
    const limit = size === undefined || size === '' ? 0 : Number(size);
    // RFC 1870 6: a message over the declared maximum will be refused; do not send it.
    if (Number.isSafeInteger(limit) && limit > 0 && request.size > limit) {
      return { status: 'failed', code: 0, enhanced: '5.3.4', diagnostic: `message of ${request.size} octets exceeds the remote limit of ${limit} (SIZE)` };
    }
    // RFC 6531 3.2: no downgrade of internationalized addresses or headers is possible.
    if (request.smtputf8 && !extensions.has('SMTPUTF8')) {
      return { status: 'failed', code: 0, enhanced: '5.6.7', diagnostic: 'the message needs SMTPUTF8 and the remote server does not support it' };
    }
    // RFC 3030 3: binary content needs BINARYMIME, which needs CHUNKING; we do not convert it.
    if (request.body === 'BINARYMIME' && !(extensions.has('BINARYMIME') && extensions.has('CHUNKING'))) {
      return { status: 'failed', code: 0, enhanced: '5.6.3', diagnostic: 'the message is binary (BINARYMIME) and the remote server does not support BINARYMIME with CHUNKING' };
    }
    return null;
  }

  private mailCommand(extensions: Extensions, sevenBitFallback: boolean): string {
    const { request } = this;
    const parameters: string[] = [];
    if (extensions.has('SIZE')) parameters.push(`SIZE=${request.size}`);
    if (request.body !== null && request.body !== '7BIT' && !sevenBitFallback) parameters.push(`BODY=${request.body}`);
    if (request.smtputf8) parameters.push('SMTPUTF8');
    if (extensions.has('DSN')) {
      if (request.ret !== null) parameters.push(`RET=${request.ret}`);
      if (request.envid !== null) parameters.push(`ENVID=${encodeXtext(request.envid)}`);
    }
    return [`MAIL FROM:<${request.sender}>`, ...parameters].join(' ');
  }

  private rcptCommand(recipient: TransactionRecipient, extensions: Extensions): string {
    const parameters: string[] = [];
    if (extensions.has('DSN')) {
      if (recipient.notify !== null) parameters.push(`NOTIFY=${recipient.notify === 'NEVER' ? 'NEVER' : recipient.notify.join(',')}`);
      if (recipient.orcpt !== null) parameters.push(`ORCPT=${recipient.orcpt.addrType};${encodeXtext(recipient.orcpt.address)}`);
    }
    return [`RCPT TO:<${recipient.address}>`, ...parameters].join(' ');
  }

  /** MAIL, RCPT..., then DATA or BDAT (RFC 5321 3.3). */
  private async transaction(extensions: Extensions): Promise<AttemptResult | StaleSession> {
    const { request } = this;
    // RFC 6152 / RFC 1652: without 8BITMIME, send the message without BODY= and check while
    // streaming that it is in fact 7-bit; an 8-bit octet aborts before the end of data.
    const sevenBitFallback = request.body === '8BITMIME' && !extensions.has('8BITMIME');
    const mail = this.mailCommand(extensions, sevenBitFallback);
    const rcpts = request.recipients.map((recipient) => this.rcptCommand(recipient, extensions));
    let mailReply: ServerReply;
    const rcptReplies: ServerReply[] = [];
    if (extensions.has('PIPELINING')) {
      // RFC 2920 3.1: MAIL and the RCPTs go in one write; the replies come back in order.
      await this.channel.write([mail, ...rcpts].map((line) => `${line}\r\n`).join(''), this.timeout);
      mailReply = await this.channel.read(this.timeout, 'MAIL');
      if (this.isStale(mailReply)) return { kind: 'stale', diagnostic: `MAIL FROM: ${describeReply(mailReply)}` };
      for (let i = 0; i < rcpts.length; i++) rcptReplies.push(await this.channel.read(this.timeout, 'RCPT'));
    } else {
      mailReply = await this.command(mail, 'MAIL');
      if (this.isStale(mailReply)) return { kind: 'stale', diagnostic: `MAIL FROM: ${describeReply(mailReply)}` };
      if (mailReply.code === 250) {
        for (const rcpt of rcpts) rcptReplies.push(await this.command(rcpt, 'RCPT'));
      }
    }
    if (mailReply.code !== 250) {
      await this.quit();
      // RFC 5321 4.2.5: a 4xx to MAIL may be this host's trouble; another host may take it.
      if (mailReply.code < 500) return replyFailure(mailReply, 'MAIL FROM', this.channel.tls);
      return this.answeredAll(mailReply, 'MAIL FROM');
    }
    this.recipientsAnswered = true;
    const accepted: number[] = [];
    rcptReplies.forEach((reply, index) => {
      const recipient = request.recipients[index];
      if (recipient === undefined) return;
      if (reply.code === 250 || reply.code === 251) {
        accepted.push(index);
        return;
      }
      this.results[index] = fromReply(recipient.address, reply, 'RCPT TO');
    });
    if (accepted.length === 0) {
      await this.command('RSET', 'RSET').catch(() => undefined);
      await this.quit();
      return this.finish();
    }
    const binary = request.body === 'BINARYMIME';
    const final = binary ? await this.sendChunks() : await this.sendData(sevenBitFallback);
    for (const index of accepted) {
      const recipient = request.recipients[index];
      if (recipient === undefined) continue;
      this.results[index] = final.kind === 'reply' ? fromReply(recipient.address, final.reply, 'end of data') : { address: recipient.address, ...final.result };
    }
    if (final.kind === 'reply') {
      // RFC 5321 4.1.4: after the final answer a new MAIL may follow; keep only sessions that succeeded.
      if (final.complete && final.reply.code >= 200 && final.reply.code < 300) this.endedCleanly = true;
      else await this.quit();
    }
    return this.finish();
  }

  /**
   * The MAIL reply is in. On a reused session a 421 means the remote gave up on it while it was
   * cached (RFC 5321 3.8): a fresh connection is tried, nothing counts against the message.
   */
  private isStale(mailReply: ServerReply): boolean {
    if (this.reused && mailReply.code === 421) return true;
    this.mailAnswered = true;
    return false;
  }

  /** RFC 5321 4.1.1.4: DATA, the dot-stuffed message, and "." (the reply gets 10 minutes, 4.5.3.2.6). */
  private async sendData(sevenBitFallback: boolean): Promise<FinalAnswer> {
    const start = await this.command('DATA', 'DATA');
    if (start.code !== 354) return { kind: 'reply', reply: start, complete: false };
    const stuffer = new DotStuffer();
    const message = this.request.openMessage();
    try {
      for await (const chunk of message as AsyncIterable<Buffer>) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        if (sevenBitFallback && has8bit(bytes)) {
          // Never send the end of data: the remote drops the transaction with the connection.
          this.channel.destroy();
          return {
            kind: 'local',
            result: { status: 'failed', code: 0, enhanced: '5.6.3', diagnostic: 'the message has 8-bit content and the remote server does not support 8BITMIME' },
          };
        }
        await this.channel.write(stuffer.push(bytes), this.timeout);
      }
    } catch (error) {
      this.channel.destroy();
      // A server may refuse in the middle of the data (552 too big) and hang up: its reply decides.
      const early = this.channel.takeQueued();
      if (early !== undefined && error instanceof SessionError) return { kind: 'reply', reply: early, complete: false };
      if (error instanceof SessionError) throw error;
      this.log.error({ err: error }, 'reading the queued message failed');
      return { kind: 'local', result: { status: 'deferred', code: 0, enhanced: '4.3.0', diagnostic: `local error reading the message: ${(error as Error).message}` } };
    } finally {
      message.destroy();
    }
    await this.channel.write(stuffer.finish(), this.timeout);
    return { kind: 'reply', reply: await this.channel.read(this.timeout * 2, 'the end of data'), complete: true };
  }

  /** RFC 3030 2: BDAT chunks (each answered before the next), then BDAT 0 LAST. */
  private async sendChunks(): Promise<FinalAnswer> {
    const message = this.request.openMessage();
    try {
      for await (const chunk of message as AsyncIterable<Buffer>) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        if (bytes.length === 0) continue;
        await this.channel.write(`BDAT ${bytes.length}\r\n`, this.timeout);
        await this.channel.write(bytes, this.timeout);
        const reply = await this.channel.read(this.timeout, 'BDAT');
        if (reply.code !== 250) return { kind: 'reply', reply, complete: false };
      }
    } catch (error) {
      this.channel.destroy();
      if (error instanceof SessionError) throw error;
      return { kind: 'local', result: { status: 'deferred', code: 0, enhanced: '4.3.0', diagnostic: `local error reading the message: ${(error as Error).message}` } };
    } finally {
      message.destroy();
    }
    return { kind: 'reply', reply: await this.command('BDAT 0 LAST', 'BDAT LAST', this.timeout * 2), complete: true };
  }

  private answeredAll(reply: ServerReply, context: string): AnsweredAttempt {
    return { kind: 'answered', recipients: this.request.recipients.map((r) => fromReply(r.address, reply, context)), tls: this.channel.tls, dsn: this.dsnOffered };
  }

  private finish(): AnsweredAttempt {
    const recipients = this.request.recipients.map(
      (recipient, index) =>
        this.results[index] ?? { address: recipient.address, status: 'deferred' as const, code: 0, enhanced: '4.4.2', diagnostic: 'no answer for this recipient' },
    );
    return { kind: 'answered', recipients, tls: this.channel.tls, dsn: this.dsnOffered };
  }

  /**
   * A session failure. Before any recipient was answered the host is just unusable (try the next
   * one); afterwards the recipients still open are deferred (the message may not have arrived).
   */
  afterFailure(error: SessionError): AttemptResult {
    if (!this.recipientsAnswered) return hostFailure(error, this.channel.tls);
    const recipients = this.request.recipients.map(
      (recipient, index) => this.results[index] ?? { address: recipient.address, status: 'deferred' as const, code: error.code, enhanced: error.enhanced, diagnostic: error.message },
    );
    return { kind: 'answered', recipients, tls: this.channel.tls, dsn: this.dsnOffered };
  }
}

/** How the message part ended: a reply (`complete` when it is the final answer to the end of data) or a local decision. */
type FinalAnswer = { kind: 'reply'; reply: ServerReply; complete: boolean } | { kind: 'local'; result: Omit<RecipientResult, 'address'> };

function fromReply(address: string, reply: ServerReply, context: string): RecipientResult {
  const status = reply.code < 400 ? 'delivered' : reply.code < 500 ? 'deferred' : 'failed';
  return { address, status, code: reply.code, enhanced: enhancedOf(reply), diagnostic: `${context}: ${describeReply(reply)}` };
}

function has8bit(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte >= 0x80) return true;
  return false;
}
