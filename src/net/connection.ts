/**
 * A protocol-agnostic connection: the one place that reads from and writes to a client socket
 * for SMTP, IMAP and POP3 sessions.
 *
 * - Reads are pulled (`read()`), one chunk at a time. The socket is paused while a chunk waits
 *   for the session, so a client that sends faster than the session works is held back by TCP
 *   (backpressure) instead of filling memory.
 * - Writes (`write()`) resolve once the bytes are handed to the kernel or, when the socket's
 *   buffer is full, after 'drain': a client that does not read cannot make us buffer replies.
 * - An idle timeout runs only while the session waits for input (RFC 5321 4.5.3.2 counts the
 *   time the server waits for the next command), and a total deadline bounds the session.
 * - `interrupt` (the server's shutdown signal) ends a wait for input at once.
 * - `startTls()` upgrades in place (STARTTLS/STLS), after dropping every plaintext byte read
 *   but not yet consumed (see ./starttls.ts for the contract).
 * @module
 */
import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { upgradeToTls } from './starttls.js';
import type { TlsManager } from './tls.js';

export type ReadInterruption = 'idleTimeout' | 'deadline' | 'shutdown';

/** A wait for input ended without data: the session answers (421/BYE/-ERR) and closes. */
export class ConnectionInterrupted extends Error {
  readonly code = 'CONNECTION_INTERRUPTED';
  constructor(readonly reason: ReadInterruption) {
    super(`connection read interrupted: ${reason}`);
    this.name = 'ConnectionInterrupted';
  }
}

/** A write to a connection that is gone (peer reset, destroyed). */
export class ConnectionClosedError extends Error {
  readonly code = 'CONNECTION_CLOSED';
  constructor(message = 'connection closed') {
    super(message);
    this.name = 'ConnectionClosedError';
  }
}

export interface ConnectionOptions {
  /** Longest wait for input, ms; 0 disables. */
  idleTimeoutMs: number;
  /** Total lifetime from construction, ms; 0 disables. */
  deadlineMs: number;
  /** Aborting it ends a pending read with ConnectionInterrupted('shutdown'). */
  interrupt?: AbortSignal;
  /** Octets held in memory before the socket is paused. Default 64 KiB. */
  highWaterMark?: number;
  /** After end(), how long the peer gets to close before the socket is destroyed. Default 5 s. */
  lingerMs?: number;
  /**
   * Slowloris defence: a command the session has started receiving (`hasPartialInput()` true
   * when it waits for more) must be complete within this many ms, however slowly its octets
   * trickle in; the idle timeout alone restarts with every octet. The wait then ends with
   * ConnectionInterrupted('idleTimeout'). 0 or absent: no such limit.
   */
  partialInputTimeoutMs?: number;
  /** True while the session holds an unfinished command (e.g. its receiver buffers a partial line). */
  hasPartialInput?: () => boolean;
}

export interface TlsDetails {
  /** "TLSv1.3" … */
  protocol: string;
  /** OpenSSL/IANA cipher name, e.g. "TLS_AES_256_GCM_SHA384". */
  cipher: string;
}

interface PendingRead {
  resolve: (chunk: Buffer | null) => void;
  reject: (error: Error) => void;
}

const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
const DEFAULT_LINGER_MS = 5_000;

export class Connection {
  #socket: Socket | TLSSocket;
  readonly #options: ConnectionOptions;
  /** Current idle timeout; protocols change it with the session state (setIdleTimeout). */
  #idleTimeoutMs: number;
  /** Chunks received and not yet handed to the session. */
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  #ended = false;
  #closed = false;
  #pending: PendingRead | null = null;
  /** Callers of waitForInput() to tell when a chunk arrives or input ends. */
  #inputWaiters: Array<() => void> = [];
  #idleTimer: NodeJS.Timeout | null = null;
  #deadlineTimer: NodeJS.Timeout | null = null;
  #deadlinePassed = false;
  /** When the session's current unfinished command began (Date.now()), or null. */
  #partialSince: number | null = null;
  readonly #onData = (chunk: Buffer): void => this.#receive(chunk);
  readonly #onEnd = (): void => this.#markEnded();
  readonly #onClose = (): void => this.#markClosed();
  readonly #onInterrupt = (): void => this.#interruptPendingRead('shutdown');

  constructor(socket: Socket | TLSSocket, options: ConnectionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#attach(socket);
    if (options.deadlineMs > 0) {
      this.#deadlineTimer = setTimeout(() => {
        this.#deadlinePassed = true;
        this.#interruptPendingRead('deadline');
      }, options.deadlineMs);
      this.#deadlineTimer.unref();
    }
    const interrupt = options.interrupt;
    if (interrupt !== undefined) {
      // One server-wide signal serves every open connection: thousands of listeners are the
      // design, not a leak (the listener is removed when the connection closes).
      setMaxListeners(0, interrupt);
      interrupt.addEventListener('abort', this.#onInterrupt, { once: true });
    }
  }

  /** The socket in use now (a TLSSocket after startTls). */
  get socket(): Socket | TLSSocket {
    return this.#socket;
  }

  get secure(): boolean {
    return this.#socket instanceof TLSSocket;
  }

  /** Protocol and cipher of the TLS layer, or null on plaintext. */
  get tls(): TlsDetails | null {
    if (!(this.#socket instanceof TLSSocket)) return null;
    const protocol = this.#socket.getProtocol();
    const cipher = this.#socket.getCipher() as { name?: string } | undefined;
    if (protocol === null || cipher?.name === undefined) return null;
    return { protocol, cipher: cipher.name };
  }

  /** True once the peer can no longer send (end of stream or closed socket). */
  get inputEnded(): boolean {
    return this.#ended || this.#closed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Octets received and not yet handed out by read(). */
  get bufferedBytes(): number {
    return this.#queuedBytes;
  }

  /** Changes the idle timeout for the next waits (a session before and after login); 0 disables. */
  setIdleTimeout(ms: number): void {
    this.#idleTimeoutMs = ms;
  }

  /** True when a chunk is waiting, so read() would not block. */
  get hasBufferedInput(): boolean {
    return this.#queue.length > 0;
  }

  /**
   * The next chunk from the peer, or null at end of input. Rejects with ConnectionInterrupted
   * when the idle timeout, the deadline or the interrupt signal ends the wait.
   */
  read(): Promise<Buffer | null> {
    if (this.#pending !== null) return Promise.reject(new Error('Connection.read() called while another read is pending'));
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      this.#queuedBytes -= chunk.length;
      this.#resumeIfRoom();
      return Promise.resolve(chunk);
    }
    const interruption = this.#interruption();
    if (interruption !== null) return Promise.reject(new ConnectionInterrupted(interruption));
    if (this.inputEnded) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#armIdleTimer();
      this.#socket.resume();
    });
  }

  /**
   * Resolves true as soon as input is buffered (now or within `timeoutMs`), false when the time
   * passes without any. Consumes nothing. Used to catch clients that talk before the greeting.
   */
  waitForInput(timeoutMs: number): Promise<boolean> {
    if (this.#queue.length > 0) return Promise.resolve(true);
    if (this.inputEnded) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#inputWaiters = this.#inputWaiters.filter((waiter) => waiter !== done);
        resolve(this.#queue.length > 0);
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.#inputWaiters.push(done);
      this.#socket.resume();
    });
  }

  /**
   * Writes bytes; resolves when the socket accepted them, or after 'drain' when its buffer is
   * full. Rejects with ConnectionClosedError when the socket is gone.
   */
  write(data: Uint8Array | string): Promise<void> {
    const socket = this.#socket;
    if (this.#closed || socket.destroyed || socket.writableEnded) return Promise.reject(new ConnectionClosedError());
    if (socket.write(data)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(new ConnectionClosedError());
      };
      const cleanup = (): void => {
        socket.off('drain', onDrain);
        socket.off('close', onClose);
      };
      socket.on('drain', onDrain);
      socket.on('close', onClose);
    });
  }

  /**
   * Stops reading the plaintext socket and drops everything received but not consumed: the
   * first two steps of the STARTTLS contract (./starttls.ts). Returns the octets dropped.
   * Call it before writing the "ready to start TLS" reply, then `startTls()`.
   */
  stopReadingForTls(): number {
    this.#socket.pause();
    this.#detach(this.#socket);
    const dropped = this.#queuedBytes;
    this.#queue = [];
    this.#queuedBytes = 0;
    return dropped;
  }

  /** Upgrades to TLS after `stopReadingForTls()`; on failure the socket is destroyed and this rejects. */
  async startTls(tls: TlsManager, handshakeTimeoutMs: number): Promise<void> {
    const plain = this.#socket;
    if (plain instanceof TLSSocket) throw new Error('Connection.startTls(): already TLS');
    try {
      const secure = await upgradeToTls(plain, tls, { handshakeTimeoutMs });
      secure.on('error', () => undefined); // errors surface as 'close'; never crash on a reset
      this.#socket = secure;
      this.#attach(secure);
    } catch (error) {
      this.#markClosed();
      throw error;
    }
  }

  /**
   * Half-closes after the pending writes: the peer reads our last reply, then the socket goes.
   * Input is drained and dropped meanwhile, so the peer's unread data cannot turn the close
   * into a reset that hides the reply. Destroyed after `lingerMs` at the latest.
   */
  end(): void {
    this.#clearTimers();
    const socket = this.#socket;
    this.#queue = [];
    this.#queuedBytes = 0;
    if (socket.destroyed) {
      this.#markClosed();
      return;
    }
    this.#detach(socket);
    socket.on('data', () => undefined);
    socket.resume();
    const linger = setTimeout(() => socket.destroy(), this.#options.lingerMs ?? DEFAULT_LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
    socket.end();
  }

  /** Closes at once, without waiting for pending writes. */
  destroy(): void {
    this.#clearTimers();
    this.#socket.destroy();
    this.#markClosed();
  }

  /** Resolves once the socket has closed. */
  waitClosed(): Promise<void> {
    if (this.#closed || this.#socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.#socket.once('close', () => resolve()));
  }

  // ---- internals ----------------------------------------------------------------------------

  #attach(socket: Socket | TLSSocket): void {
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    // Read only when the session asks: paused until then.
    socket.pause();
  }

  #detach(socket: Socket | TLSSocket): void {
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onClose);
  }

  #receive(chunk: Buffer): void {
    const pending = this.#pending;
    if (pending !== null && this.#queue.length === 0) {
      this.#pending = null;
      this.#clearIdleTimer();
      pending.resolve(chunk);
      this.#resumeIfRoom();
      return;
    }
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.length;
    if (this.#queuedBytes >= (this.#options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK)) this.#socket.pause();
    this.#notifyInputWaiters();
  }

  #notifyInputWaiters(): void {
    for (const waiter of [...this.#inputWaiters]) waiter();
  }

  /** Keeps reading while little is buffered, so a small pipelined burst is seen at once. */
  #resumeIfRoom(): void {
    if (this.#closed) return;
    if (this.#queuedBytes < (this.#options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK)) this.#socket.resume();
    else this.#socket.pause();
  }

  #markEnded(): void {
    this.#ended = true;
    this.#settleAtEnd();
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimers();
    this.#options.interrupt?.removeEventListener('abort', this.#onInterrupt);
    this.#settleAtEnd();
  }

  #settleAtEnd(): void {
    this.#notifyInputWaiters();
    const pending = this.#pending;
    if (pending === null || this.#queue.length > 0) return;
    this.#pending = null;
    this.#clearIdleTimer();
    pending.resolve(null);
  }

  #interruption(): ReadInterruption | null {
    if (this.#deadlinePassed) return 'deadline';
    if (this.#options.interrupt?.aborted === true) return 'shutdown';
    return null;
  }

  #interruptPendingRead(reason: ReadInterruption): void {
    const pending = this.#pending;
    if (pending === null) return;
    this.#pending = null;
    this.#clearIdleTimer();
    this.#socket.pause();
    pending.reject(new ConnectionInterrupted(reason));
  }

  #armIdleTimer(): void {
    const waitMs = this.#waitLimitMs();
    if (waitMs <= 0) return;
    this.#clearIdleTimer();
    this.#idleTimer = setTimeout(() => this.#interruptPendingRead('idleTimeout'), waitMs);
    this.#idleTimer.unref();
  }

  /** How long this wait for input may last: the idle timeout, shortened to what is left of the
   * partial-input budget while the session holds an unfinished command. 0: unlimited. */
  #waitLimitMs(): number {
    const budget = this.#options.partialInputTimeoutMs ?? 0;
    if (budget <= 0 || this.#options.hasPartialInput?.() !== true) {
      this.#partialSince = null;
      return this.#idleTimeoutMs;
    }
    this.#partialSince ??= Date.now();
    const left = Math.max(1, this.#partialSince + budget - Date.now());
    return this.#idleTimeoutMs > 0 ? Math.min(this.#idleTimeoutMs, left) : left;
  }

  #clearIdleTimer(): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  #clearTimers(): void {
    this.#clearIdleTimer();
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = null;
  }
}
