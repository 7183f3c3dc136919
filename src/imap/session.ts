/**
 * One IMAP session (RFC 3501) over a Connection: greeting, the event loop, the one place where
 * command outcomes become tagged responses, and the change flush before each of them.
 *
 * Bytes go socket → Connection (pull: nothing is read while a command runs, so a pipelining
 * client is held back by TCP) → ImapReceiver (sans-I/O, src/wire/imap) → events. A `command`
 * event is parsed (parseCommand), checked against the dispatch table (./dispatch.ts) and run;
 * APPEND literals stream through ./commands/append.ts while they arrive.
 *
 * Responses go through Output (./output.ts): queued, written before the session waits for
 * input, and written at once with drain when large (FETCH bodies are streamed).
 * @module
 */
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { availableMechanisms } from '../auth/index.js';
import type { Logger } from '../log/index.js';
import { Connection, ConnectionClosedError, ConnectionInterrupted } from '../net/connection.js';
import type { ConnectionInfo } from '../net/types.js';
import { StoreError } from '../store/types.js';
import { encode, ImapParseError, ImapReceiver, parseCommand } from '../wire/imap/index.js';
import type { ImapCommand, ImapReceiverEvent } from '../wire/imap/index.js';
import { capabilityList } from './capabilities.js';
import { AppendUpload } from './commands/append.js';
import { allowsExpungeResponses, commandSpec, countRefused, countUploadAnswer, isAllowedIn, runHandler } from './dispatch.js';
import type { CommandSpec, Completion } from './dispatch.js';
import { ImapBad, ImapBye, ImapNo, storeErrorToNo, storeFaultOf } from './errors.js';
import { Output } from './output.js';
import type { SessionState, UserContext } from './state.js';
import type { ImapServices, ImapSettings } from './types.js';
import { WakeSignal } from './wake.js';

type ResponseCode = encode.ResponseCode;

/** Unknown commands before login: a cross-protocol attempt or garbage (e.g. an HTTP request). */
const MAX_UNKNOWN_BEFORE_LOGIN = 1;

export class ImapSession {
  readonly conn: Connection;
  readonly receiver: ImapReceiver;
  readonly output: Output;
  readonly log: Logger;
  state: SessionState = { kind: 'notAuthenticated' };
  /** RFC 7162 CONDSTORE enabled (ENABLE, or SELECT (CONDSTORE), or a CONDSTORE command). */
  condstore = false;
  /** RFC 7162 QRESYNC enabled (ENABLE QRESYNC). */
  qresync = false;
  /** RFC 5182 saved search result (UIDs ascending), null when none. */
  savedSearch: number[] | null = null;
  /** Wake-ups from the change bus while idling (./commands/idle.ts). */
  readonly wake = new WakeSignal();
  #errors = 0;
  #unknownBeforeLogin = 0;
  #unsubscribe: (() => void) | null = null;
  #slotHeld: number | null = null;
  #upload: AppendUpload | null = null;
  /** The streamed literals of the APPEND command being executed (./commands/append.ts). */
  pendingUpload: AppendUpload | null = null;
  #ended = false;
  readonly #closed = new AbortController();

  constructor(
    socket: ConstructorParameters<typeof Connection>[0],
    readonly info: ConnectionInfo,
    readonly services: ImapServices,
    readonly settings: ImapSettings,
  ) {
    this.log = info.logger;
    this.conn = new Connection(socket, {
      idleTimeoutMs: settings.loginTimeoutMs,
      deadlineMs: 0,
      interrupt: info.shutdown,
      // Slowloris: a command line that has begun must end within the (short) command timeout,
      // even in a 30-minute authenticated session (test/exhaustion.test.ts).
      partialInputTimeoutMs: settings.loginTimeoutMs,
      hasPartialInput: () => this.receiver.bufferedBytes > 0,
    });
    this.output = new Output(this.conn, settings.outputStallTimeoutMs);
    this.receiver = new ImapReceiver({
      maxLineLength: settings.commandLine,
      maxLiteralSize: settings.literal,
      maxAppendLiteralSize: settings.messageSize,
      maxLiteralsPerCommand: settings.literalsPerCommand,
      maxNestingDepth: settings.nestingDepth,
    });
    // A client that goes away in the middle of a long command (SEARCH) stops it early.
    void this.conn.waitClosed().then(() => this.#closed.abort());
  }

  // ---- facts handlers ask about -------------------------------------------------------------

  /** Aborted when the session ends (long work such as SEARCH stops early). */
  get closedSignal(): AbortSignal {
    return this.#closed.signal;
  }

  get store(): ImapServices['store'] {
    return this.services.store;
  }

  get secure(): boolean {
    return this.conn.secure;
  }

  get isLoopback(): boolean {
    const ip = this.info.remoteAddress;
    return ip === '::1' || (isIP(ip) === 4 && ip.startsWith('127.'));
  }

  /** LOGIN and plaintext SASL may be used now (RFC 3501 6.2.3, RFC 8314). */
  get plaintextAuthAllowed(): boolean {
    return this.secure || (this.settings.allowPlaintextOnLoopback && this.isLoopback);
  }

  /** STARTTLS on offer: the plaintext listener, before TLS (never on 993). */
  get startTlsOffered(): boolean {
    return this.info.listener === 'imap' && !this.secure;
  }


  capabilities(): string[] {
    return capabilityList({
      loggedIn: this.state.kind === 'authenticated' || this.state.kind === 'selected',
      startTls: this.startTlsOffered,
      plaintextAuth: this.plaintextAuthAllowed,
      mechanisms: this.plaintextAuthAllowed ? availableMechanisms(this.services.sasl) : [],
      appendLimit: this.settings.messageSize,
    });
  }

  // ---- responses ----------------------------------------------------------------------------

  /** Queues untagged (or continuation) chunks; written before the next wait for input. */
  /**
   * Turns CONDSTORE on for the rest of the connection. RFC 7162 3.1: the first CONDSTORE enabling
   * command run with a mailbox selected reports that mailbox's HIGHESTMODSEQ.
   */
  async enableCondstore(): Promise<void> {
    if (this.condstore) return;
    this.condstore = true;
    if (this.state.kind !== 'selected') return;
    const mailbox = await this.store.getMailboxById(this.state.mailbox.mailboxId);
    if (mailbox === null) return;
    await this.send(encode.untaggedStatus('OK', { code: 'HIGHESTMODSEQ', value: Math.max(mailbox.highestModseq, 1) }, 'Highest'));
  }

  async send(chunks: readonly Buffer[]): Promise<void> {
    await this.output.send(chunks);
  }

  async sendText(line: string): Promise<void> {
    await this.output.send([Buffer.from(line, 'utf8')]);
  }

  // ---- input --------------------------------------------------------------------------------

  /** The next receiver event; writes queued output before waiting. Null when the client left. */
  async nextEvent(): Promise<ImapReceiverEvent | null> {
    for (;;) {
      const event = this.receiver.next();
      if (event !== null) return event;
      await this.output.flush();
      // RFC 3501 5.4: the 30-minute autologout is for authenticated sessions; before login the
      // short command timeout applies.
      this.conn.setIdleTimeout(this.state.kind === 'notAuthenticated' ? this.settings.loginTimeoutMs : this.settings.idleTimeoutMs);
      const chunk = await this.conn.read();
      if (chunk === null) return null;
      this.receiver.push(chunk);
    }
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  async run(): Promise<void> {
    try {
      await this.output.send(encode.untaggedStatus('OK', { code: 'CAPABILITY', capabilities: this.capabilities() }, `${this.settings.hostname} Mailhaven IMAP4rev1 ready`));
      await this.#loop();
    } catch (error) {
      await this.#endOnError(error);
    } finally {
      await this.#cleanup();
    }
  }

  async #loop(): Promise<void> {
    while (this.state.kind !== 'logout') {
      const event = await this.nextEvent();
      if (event === null) return;
      await this.#handleEvent(event);
    }
  }

  async #handleEvent(event: ImapReceiverEvent): Promise<void> {
    switch (event.type) {
      case 'command':
        if (event.name === 'APPEND' && this.#upload !== null) return this.#finishUpload(event);
        return this.#runCommand(event.tag, event.name, event);
      case 'needContinuation':
        if (event.streamed) return this.#uploadFor(event.tag).needContinuation(event);
        if (event.exceedsLimit) {
          this.receiver.rejectLiteral();
          return this.#tagged(event.tag, 'NO', 'TOOBIG', `Literal of ${event.size} octets is over the limit of ${event.limit}`);
        }
        this.receiver.acceptLiteral();
        return this.send(encode.continuation('Ready for literal data'));
      case 'literalStart':
        return this.#uploading(event.tag, () => this.#uploadFor(event.tag).start(event));
      case 'literalData':
        return this.#uploading(null, async () => this.#upload?.data(event.chunk));
      case 'literalEnd':
        return this.#uploading(null, async () => this.#upload?.end());
      case 'error':
        await this.#discardUpload();
        countRefused(this, 'UNKNOWN');
        if (event.tag === null && this.state.kind === 'notAuthenticated') return this.#garbageBeforeLogin();
        return this.#bad(event.tag, event.message);
      case 'fatal':
        await this.#discardUpload();
        // RFC 7888 4: a non-synchronizing literal over the limit cannot be skipped safely.
        throw new ImapBye(`Literal of ${event.size} octets is over the limit of ${event.limit}`, 'TOOBIG');
      case 'idleEnd':
      case 'authResponse':
        return;
    }
  }

  // ---- commands -----------------------------------------------------------------------------

  async #runCommand(tag: string, name: string, event: Extract<ImapReceiverEvent, { type: 'command' }>): Promise<void> {
    let command: ImapCommand;
    try {
      command = parseCommand(tag, name, event.args);
    } catch (error) {
      if (!(error instanceof ImapParseError)) throw error;
      countRefused(this, name);
      if (error.kind === 'unknownCommand' && this.state.kind === 'notAuthenticated') return this.#garbageBeforeLogin();
      return this.#bad(tag, error.message);
    }
    await this.execute(command);
  }

  /** Runs a parsed command: state gate, handler, change flush, tagged response (STYLE.md 4.3). */
  async execute(command: ImapCommand): Promise<void> {
    const spec = commandSpec(command.name) as CommandSpec<never>;
    if (!isAllowedIn(spec, this.state)) {
      countRefused(this, command.name);
      return this.#bad(command.tag, `${command.name} is not allowed ${describeState(this.state)}`);
    }
    let status: 'OK' | 'NO' | 'BAD' = 'OK';
    let code: ResponseCode | null = null;
    let text = `${command.name} completed`;
    try {
      const completion: Completion = await runHandler(spec, this, command, this.state);
      if (completion?.answered === true) {
        await this.flushChanges(allowsExpungeResponses(command));
        return;
      }
      if (completion !== undefined) {
        code = completion.code ?? null;
        if (completion.text !== undefined) text = completion.text;
        if (completion.status !== undefined) status = completion.status;
      }
    } catch (error) {
      // Disk full, I/O error, database busy: the client sees a NO, the operator needs the cause.
      const fault = storeFaultOf(error);
      if (fault !== null) this.log[fault.code === 'busy' ? 'warn' : 'error']({ err: fault, command: command.name }, 'store error');
      if (error instanceof ImapNo) [status, code, text] = ['NO', error.code, error.message];
      else if (error instanceof ImapBad) [status, code, text] = ['BAD', error.code, error.message];
      else if (error instanceof StoreError) {
        const no = storeErrorToNo(error);
        [status, code, text] = ['NO', no.code, no.message];
      } else if (isConnectionEnd(error)) {
        throw error;
      } else {
        // A bug, not the client's fault: logged, answered, and the session goes on.
        this.log.error({ err: error, command: command.name }, 'imap command failed');
        [status, code, text] = ['NO', 'SERVERBUG', 'Internal error'];
      }
    }
    if (this.state.kind === 'logout') return;
    await this.flushChanges(allowsExpungeResponses(command));
    if (status === 'BAD') return this.#bad(command.tag, text, code);
    await this.#tagged(command.tag, status, code, text);
  }

  /** The single flush point: pending mailbox changes become untagged responses (RFC 3501 5.2). */
  async flushChanges(allowExpunge: boolean): Promise<void> {
    const state = this.state;
    if (state.kind !== 'selected') return;
    const view = state.mailbox;
    await view.pull();
    if (view.accountDeleted) throw new ImapBye('Account deleted');
    const chunks = view.flush({ allowExpunge, qresync: this.qresync, condstore: this.condstore });
    await this.send(chunks);
    if (view.deleted) throw new ImapBye('Selected mailbox was deleted');
  }

  async #tagged(tag: string, status: 'OK' | 'NO' | 'BAD', code: ResponseCode | null, text: string): Promise<void> {
    await this.send(encode.tagged(tag, status, code, text));
  }

  async #bad(tag: string | null, text: string, code: ResponseCode | null = null): Promise<void> {
    this.#errors++;
    await this.send(tag === null ? encode.untaggedStatus('BAD', code, text) : encode.tagged(tag, 'BAD', code, text));
    if (this.#errors >= this.settings.errorsPerSession) throw new ImapBye('Too many errors');
  }

  /** Garbage before login (an HTTP request, another protocol): BYE rather than a BAD dialogue. */
  #garbageBeforeLogin(): Promise<void> {
    this.#unknownBeforeLogin++;
    if (this.#unknownBeforeLogin >= MAX_UNKNOWN_BEFORE_LOGIN) return Promise.reject(new ImapBye('Please speak IMAP'));
    return Promise.resolve();
  }

  // ---- APPEND literals ----------------------------------------------------------------------

  #uploadFor(tag: string): AppendUpload {
    if (this.#upload === null || this.#upload.tag !== tag) this.#upload = new AppendUpload(this, tag);
    return this.#upload;
  }

  async #finishUpload(event: Extract<ImapReceiverEvent, { type: 'command' }>): Promise<void> {
    const upload = this.#upload!;
    this.#upload = null;
    this.pendingUpload = upload;
    try {
      await this.#runCommand(event.tag, event.name, event);
    } finally {
      this.pendingUpload = null;
      // Staged blobs the command did not store (parse error, wrong state, a NO before or from the
      // store) go now; the ones it stored are untouched (AppendUpload.discard).
      await upload.discard();
    }
  }

  /** An upload that failed early answers its command and is dropped (./commands/append.ts). */
  dropUpload(): void {
    this.#upload = null;
  }

  /** Runs a step of an APPEND upload; a storage failure answers the command instead of ending
   * the session (the rest of its literal octets are skipped). */
  async #uploading(tag: string | null, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      if (isConnectionEnd(error)) throw error;
      const upload = this.#upload;
      const answerTag = tag ?? upload?.tag ?? null;
      const fault = storeFaultOf(error);
      this.log[fault !== null && fault.code !== 'busy' ? 'error' : 'warn']({ err: error }, 'APPEND upload failed');
      await this.#discardUpload();
      try {
        this.receiver.abortCommand();
      } catch {
        // The command had already ended: nothing left to skip.
      }
      const no = error instanceof StoreError ? storeErrorToNo(error) : new ImapNo('SERVERBUG', 'Internal error');
      if (answerTag !== null) {
        countUploadAnswer(this, 'NO', no.code);
        await this.#tagged(answerTag, 'NO', no.code, no.message);
      }
    }
  }

  async #discardUpload(): Promise<void> {
    const upload = this.#upload;
    this.#upload = null;
    await upload?.discard();
  }

  /** For the APPEND handlers: answer a command's tag from outside execute() (early refusal). */
  async answer(tag: string, status: 'NO' | 'BAD', code: ResponseCode | null, text: string): Promise<void> {
    countUploadAnswer(this, status, code);
    if (status === 'BAD') return this.#bad(tag, text, code);
    await this.#tagged(tag, status, code, text);
  }

  // ---- login --------------------------------------------------------------------------------

  /** Enters the authenticated state (RFC 3501 6.2.2/6.2.3): per-account limit, bus subscription. */
  login(user: UserContext): void {
    if (!this.services.sessions.acquire(user.accountId)) throw new ImapNo('LIMIT', 'Too many sessions for this account');
    this.#slotHeld = user.accountId;
    this.#unsubscribe = this.services.bus.subscribe(user.accountId, () => this.#onWake());
    this.state = { kind: 'authenticated', user };
    this.log.info({ user: user.address }, 'imap login');
  }

  #onWake(): void {
    if (this.state.kind === 'selected') this.state.mailbox.dirty = true;
    this.wake.notify();
  }

  /** Waits out the throttle's delay for a failed authentication (never blocks other sessions). */
  async authFailed(username: string | null): Promise<void> {
    const ip = this.info.remoteAddress;
    await this.services.throttle.recordFailure(ip, username);
    const delay = await this.services.throttle.delayFor(ip, username);
    if (delay > 0) await sleep(delay);
  }

  // ---- ending -------------------------------------------------------------------------------

  /** LOGOUT (RFC 3501 6.1.3) and BYE: the loop ends after the queued output is written. */
  logout(): void {
    this.state = { kind: 'logout' };
  }

  async #endOnError(error: unknown): Promise<void> {
    if (error instanceof ImapBye) {
      await this.#writeFinal(encode.untaggedStatus('BYE', error.code, error.message));
      return;
    }
    if (error instanceof ConnectionInterrupted) {
      const text = error.reason === 'shutdown' ? 'Server shutting down' : 'Autologout; idle for too long';
      await this.#writeFinal(encode.untaggedStatus('BYE', error.reason === 'shutdown' ? 'UNAVAILABLE' : null, text));
      return;
    }
    if (error instanceof ConnectionClosedError) return;
    this.log.error({ err: error }, 'imap session failed');
    await this.#writeFinal(encode.untaggedStatus('BYE', 'SERVERBUG', 'Internal error'));
  }

  async #writeFinal(chunks: Buffer[]): Promise<void> {
    try {
      await this.output.send(chunks);
      await this.output.flush();
    } catch {
      // The client is gone; nothing more to say.
    }
  }

  async #cleanup(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#closed.abort();
    this.wake.close();
    this.#unsubscribe?.();
    if (this.#slotHeld !== null) this.services.sessions.release(this.#slotHeld);
    await this.#discardUpload().catch(() => undefined);
    try {
      await this.output.flush();
    } catch {
      // ignore: closing anyway
    }
    this.conn.end();
  }
}

/** Errors that end the session rather than a command. */
function isConnectionEnd(error: unknown): boolean {
  return error instanceof ImapBye || error instanceof ConnectionClosedError || error instanceof ConnectionInterrupted;
}

function describeState(state: SessionState): string {
  switch (state.kind) {
    case 'notAuthenticated':
      return 'before login';
    case 'authenticated':
      return 'without a selected mailbox';
    case 'selected':
      return 'with a mailbox selected';
    case 'logout':
      return 'after LOGOUT';
  }
}
