/**
 * The ConnectionHandler for the `imap` (143, STARTTLS) and `imaps` (993, implicit TLS, RFC 8314)
 * listeners. Both share one \Recent registry, one per-account session count and one SEARCH
 * engine with its decoded-text cache, so they are made together by `imapHandlerFactories`.
 * @module
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AuthThrottle, SaslContext } from '../auth/index.js';
import type { Config } from '../config/types.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from '../net/starttls.js';
import type { ConnectionHandler, ConnectionInfo } from '../net/types.js';
import type { HandlerFactory, ServerContext } from '../server.js';
import { AccountSessions } from './account-sessions.js';
import { StructureCache } from './fetch/structure-cache.js';
import { RecentRegistry } from './recent.js';
import { createSearchEngine, FieldsCache, TextCache } from './search/index.js';
import { ListingCache } from './listing-cache.js';
import type { EvaluateSearch } from './search/types.js';
import { ImapSession } from './session.js';
import type { ImapServices, ImapSettings } from './types.js';
import type { Metrics } from '../metrics/types.js';

/** Overrides for tests and tuning; everything else comes from the configuration. */
export interface ImapHandlerOptions {
  idleTimeoutMs?: number;
  /** Idle timeout before login; default the command timeout (at most the autologout). */
  loginTimeoutMs?: number;
  outputStallTimeoutMs?: number;
  tlsHandshakeTimeoutMs?: number;
  /** Decoded text kept for SEARCH BODY/TEXT, octets. Default 64 MiB. */
  searchCacheBytes?: number;
  /** Decoded SUBJECT/FROM/TO/CC/BCC and sent dates kept for SEARCH, octets. Default 32 MiB. */
  searchFieldsCacheBytes?: number;
  /** Messages whose metadata is kept in shared mailbox listings (about 250 octets each). Default 400,000. */
  listingCacheMessages?: number;
  /** Encoded ENVELOPE/BODYSTRUCTURE kept for FETCH, octets. Default 96 MiB (100,000 messages). */
  structureCacheBytes?: number;
}

/** Literals per command: MULTIAPPEND batches and long SEARCH programs, but not unbounded. */
const LITERALS_PER_COMMAND = 1000;
const VERSION = '0.1.0';

export function imapSettings(config: Config, options: ImapHandlerOptions = {}): ImapSettings {
  const limits = config.limits;
  return {
    hostname: config.hostname,
    allowPlaintextOnLoopback: config.auth.allowPlaintextOnLoopback,
    messageSize: limits.messageSize,
    literal: limits.literal,
    commandLine: limits.imapCommandLine,
    literalsPerCommand: LITERALS_PER_COMMAND,
    nestingDepth: limits.nestingDepth,
    mimeParts: limits.mimeParts,
    keywordsPerMailbox: limits.keywordsPerMailbox,
    sessionsPerAccount: limits.sessionsPerAccount,
    errorsPerSession: limits.errorsPerSession,
    idleTimeoutMs: options.idleTimeoutMs ?? limits.imapIdleTimeout * 1000,
    loginTimeoutMs: options.loginTimeoutMs ?? Math.min(limits.commandTimeout, limits.imapIdleTimeout) * 1000,
    outputStallTimeoutMs: options.outputStallTimeoutMs ?? limits.commandTimeout * 1000,
    tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs ?? Math.min(DEFAULT_HANDSHAKE_TIMEOUT_MS, limits.commandTimeout * 1000),
    serverId: [
      ['name', 'Mailhaven'],
      ['version', VERSION],
    ],
  };
}

export class ImapHandler implements ConnectionHandler {
  readonly #sessions = new Set<Promise<void>>();

  constructor(
    readonly services: ImapServices,
    readonly settings: ImapSettings,
  ) {}

  handle(socket: Socket | TLSSocket, info: ConnectionInfo): void {
    const session = new ImapSession(socket, info, this.services, this.settings);
    const running = session.run().catch((error: unknown) => {
      info.logger.error({ err: error }, 'imap session crashed');
      socket.destroy();
    });
    this.#sessions.add(running);
    void running.finally(() => this.#sessions.delete(running));
  }

  /** Waits for sessions still running (the listener set has already asked them to finish). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#sessions]);
  }
}

/** What the IMAP listeners share with the other protocols (src/compose.ts SharedAuth). */
export interface ImapAuth {
  sasl: SaslContext;
  throttle: AuthThrottle;
  metrics?: Metrics;
}

/** Factories for the `imap` and `imaps` listeners, sharing one set of IMAP-wide services. */
export function imapHandlerFactories(auth: ImapAuth, options: ImapHandlerOptions = {}): { imap: HandlerFactory; imaps: HandlerFactory } {
  let shared: { recent: RecentRegistry; sessions: AccountSessions; search: EvaluateSearch; structures: StructureCache; listings: ListingCache } | null = null;
  const factory = (ctx: ServerContext): ConnectionHandler => {
    shared ??= {
      recent: new RecentRegistry(),
      sessions: new AccountSessions(ctx.config.limits.sessionsPerAccount),
      search: createSearchEngine({
        textCache: new TextCache({ maxBytes: options.searchCacheBytes ?? 64 * 1024 * 1024 }),
        fieldsCache: new FieldsCache(options.searchFieldsCacheBytes ?? 32 * 1024 * 1024),
      }),
      structures: new StructureCache(options.structureCacheBytes ?? 96 * 1024 * 1024),
      listings: new ListingCache(ctx.store, options.listingCacheMessages ?? 400_000),
    };
    const services: ImapServices = { store: ctx.store, bus: ctx.bus, sasl: auth.sasl, throttle: auth.throttle, ...(auth.metrics ? { metrics: auth.metrics } : {}), tls: ctx.tls, logger: ctx.logger, ...shared };
    return new ImapHandler(services, imapSettings(ctx.config, options));
  };
  return { imap: factory, imaps: factory };
}
