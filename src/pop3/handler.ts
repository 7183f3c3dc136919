/**
 * The ConnectionHandler for both POP3 listeners: `pop3` (110, STLS) and `pop3s` (995,
 * implicit TLS, RFC 8314). One handler object serves both, so they share the maildrop locks
 * (a session on 110 and one on 995 for the same user still exclude each other), and it owns
 * the retention scheduler.
 * @module
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AuthThrottle, SaslContext } from '../auth/index.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../log/index.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from '../net/starttls.js';
import type { ConnectionHandler, ConnectionInfo } from '../net/types.js';
import type { HandlerFactory, ServerContext } from '../server.js';
import type { MailStore } from '../store/types.js';
import { InProcessMaildropLocks } from './lock.js';
import type { MaildropLocks } from './lock.js';
import { RetentionScheduler, cachedShortestRetention } from './retention.js';
import { COMMAND_LINE_LIMIT } from '../wire/pop3/index.js';
import { Session, apopTimestamp } from './session.js';
import type { Pop3Services, Pop3Settings } from './types.js';
import type { Metrics } from '../metrics/types.js';

/** RFC 1939 3: an inactivity timer "MUST be of at least 10 minutes' duration". */
export const MIN_IDLE_TIMEOUT_MS = 10 * 60_000;

/** Overrides for tests and tuning; everything else comes from the configuration. */
export interface Pop3HandlerOptions {
  /** Default: limits.command_timeout, raised to 10 minutes (RFC 1939 3). */
  idleTimeoutMs?: number;
  tlsHandshakeTimeoutMs?: number;
  /** The APOP greeting timestamp; default `<pid.clock.random@hostname>`. */
  apopTimestamp?: () => string;
  now?: () => Date;
  /** Another lock implementation (several nodes); default: in-process. */
  locks?: MaildropLocks;
  /** Retention scheduler period, ms (default 1 h); 0 turns the scheduler off. */
  retentionIntervalMs?: number;
}

export function pop3Settings(config: Config, options: Pop3HandlerOptions = {}): Pop3Settings {
  const limits = config.limits;
  return {
    allowPlaintextOnLoopback: config.auth.allowPlaintextOnLoopback,
    commandLine: Math.max(COMMAND_LINE_LIMIT, limits.commandLine),
    idleTimeoutMs: options.idleTimeoutMs ?? Math.max(MIN_IDLE_TIMEOUT_MS, limits.commandTimeout * 1000),
    commandTimeoutMs: limits.commandTimeout * 1000,
    errorsPerSession: limits.errorsPerSession,
    tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs ?? Math.min(DEFAULT_HANDSHAKE_TIMEOUT_MS, limits.commandTimeout * 1000),
    apopTimestamp: options.apopTimestamp ?? (() => apopTimestamp(config.hostname)),
    now: options.now ?? (() => new Date()),
  };
}

export class Pop3Handler implements ConnectionHandler {
  readonly #sessions = new Set<Promise<void>>();

  constructor(
    readonly services: Pop3Services,
    readonly settings: Pop3Settings,
    readonly retention: RetentionScheduler | null = null,
  ) {
    retention?.start();
  }

  handle(socket: Socket | TLSSocket, info: ConnectionInfo): void {
    const session = new Session(socket, info, this.services, this.settings);
    const running = session.run().catch((error: unknown) => {
      info.logger.error({ err: error }, 'pop3 session crashed');
      socket.destroy();
    });
    this.#sessions.add(running);
    void running.finally(() => this.#sessions.delete(running));
  }

  /** Stops the retention scheduler and waits for sessions still running. */
  async close(): Promise<void> {
    await this.retention?.stop();
    await Promise.allSettled([...this.#sessions]);
  }
}

/** What the composition root hands over (src/compose.ts). */
export interface Pop3Dependencies {
  store: MailStore;
  logger: Logger;
  config: Config;
}

/** Builds the one POP3 handler of a server, with its locks and retention scheduler. */
export function createPop3Handler(deps: Pop3Dependencies, auth: { sasl: SaslContext; throttle: AuthThrottle; metrics?: Metrics }, options: Pop3HandlerOptions = {}): Pop3Handler {
  const locks = options.locks ?? new InProcessMaildropLocks();
  const logger = deps.logger.child({ component: 'pop3' });
  const services: Pop3Services = {
    store: deps.store,
    sasl: auth.sasl,
    throttle: auth.throttle,
    ...(auth.metrics ? { metrics: auth.metrics } : {}),
    locks,
    expireBeforeLogin: cachedShortestRetention(deps.store),
    logger,
  };
  const intervalMs = options.retentionIntervalMs ?? 3_600_000;
  const retention =
    intervalMs > 0
      ? new RetentionScheduler({ store: deps.store, locks, logger, intervalMs, firstRunMs: Math.min(60_000, intervalMs), ...(options.now ? { now: options.now } : {}) })
      : null;
  return new Pop3Handler(services, pop3Settings(deps.config, options), retention);
}

/**
 * The factories for src/compose.ts: both listeners get the same handler object (shared locks,
 * one retention scheduler, closed once by the listener set).
 */
export function pop3HandlerFactories(auth: { sasl: SaslContext; throttle: AuthThrottle; metrics?: Metrics }, options: Pop3HandlerOptions = {}): { pop3: HandlerFactory; pop3s: HandlerFactory } {
  let handler: Pop3Handler | null = null;
  const factory = (ctx: ServerContext): ConnectionHandler => (handler ??= createPop3Handler(ctx, auth, options));
  return { pop3: factory, pop3s: factory };
}
