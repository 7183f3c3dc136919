/**
 * The composition root: the only module that knows concrete backends (ARCHITECTURE.md). It
 * builds the store, bus and logger from the configuration, for the server (`serve`) and for
 * one-shot admin commands, which open the same store without background timers.
 * @module
 */
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { JwtBearerVerifier, MemoryAuthThrottle, StoreSecretProvider, loadOrCreateSecretKey } from './auth/index.js';
import type { AuthThrottle, SaslContext } from './auth/index.js';
import { ConfigError } from './config/errors.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/types.js';
import { LocalChangeBus } from './events/local.js';
import type { ChangeBus } from './events/types.js';
import { PrettyDestination, createLogger } from './log/index.js';
import type { Logger } from './log/index.js';
import type { HttpHandlerOptions } from './http/index.js';
import type { ImapHandlerOptions } from './imap/index.js';
import type { Metrics, MetricsProtocol, PrometheusMetrics } from './metrics/index.js';
import type { MaildropLocks, Pop3HandlerOptions } from './pop3/index.js';
import { hasOutboundQueue } from './queue/types.js';
import type { OutboundTransport } from './queue/transport.js';
import type { MessageSigner, QueueWorker } from './queue/worker.js';
import type { HandlerRegistry, RunningServer, ServerContext } from './server.js';
import type { SmtpHandlerOptions, SmtpListenerName } from './smtp/index.js';
import { openSqliteStore } from './store/sqlite/index.js';
import type { MailStore } from './store/types.js';
import type { CliContext, StoreSession } from './cli/context.js';
import type { CliIo } from './cli/io.js';

interface StoreRole {
  /** A long-running server watches other processes' commits and sweeps blobs; a CLI command does not. */
  server: boolean;
}

/** Opens the configured backend. */
export async function openStore(config: Config, bus: ChangeBus, logger: Logger, role: StoreRole): Promise<MailStore> {
  switch (config.storage.backend) {
    case 'sqlite':
      return openSqliteStore({
        dataDir: config.dataDir,
        bus,
        logger,
        busyRetryMs: config.storage.busyTimeout * 1000,
        ...(role.server ? {} : { pollIntervalMs: 0, sweepIntervalMs: 0 }),
      });
    case 'postgres': {
      // Loaded here: SQLite installations never load the pg driver.
      const { openPostgresStore, postgresUrlProblem } = await import('./store/postgres/index.js');
      const problem = postgresUrlProblem(config.storage.url);
      if (problem !== null) throw new ConfigError(config.source, [{ key: 'storage.url', reason: problem }]);
      // The store forwards every node's wake-ups into `bus` (LISTEN/NOTIFY); a CLI command only notifies.
      return openPostgresStore({
        url: config.storage.url,
        bus,
        logger,
        listen: role.server,
        ...(role.server ? {} : { sweepIntervalMs: 0 }),
      });
    }
  }
}

/** What protocol handlers share: one SASL context, one throttle (docs/auth.md). */
export interface SharedAuth {
  sasl: SaslContext;
  throttle: AuthThrottle;
}

/**
 * The authentication pieces every protocol uses, made once per server: the secret key file
 * (shared secrets for CRAM-MD5/SCRAM/APOP), the OAuth verifier, one failure throttle, and a
 * SCRAM salt key derived from the secret key so salts stay stable across restarts.
 */
export async function createSharedAuth(config: Config, store: MailStore, throttle: AuthThrottle = new MemoryAuthThrottle()): Promise<SharedAuth> {
  const secretKey = await loadOrCreateSecretKey(join(config.dataDir, 'secret.key'));
  const saltKey = createHmac('sha256', secretKey).update('mailhaven scram salt key v1').digest();
  const tokens = config.auth.oauth.length > 0 ? await JwtBearerVerifier.create(config.auth.oauth) : undefined;
  const sasl: SaslContext = {
    accounts: store,
    secrets: new StoreSecretProvider(store, secretKey),
    advertiseSecretMechanisms: config.auth.secretMechanisms,
    hostname: config.hostname,
    scram: { salt: (username) => createHmac('sha256', saltKey).update(username, 'utf8').digest().subarray(0, 16) },
    ...(tokens === undefined ? {} : { tokens }),
  };
  return { sasl, throttle };
}

export interface ProtocolOptions {
  smtp?: SmtpHandlerOptions;
  imap?: ImapHandlerOptions;
  pop3?: Pop3HandlerOptions;
  http?: HttpHandlerOptions;
  /** The server's metrics, served on /metrics (default: a fresh registry without queue stats). */
  metrics?: PrometheusMetrics;
}

/**
 * Protocol handlers per listener. Listeners without one answer "not available yet"
 * (src/server.ts); each protocol module registers its factory here when it lands.
 */
export async function protocolHandlers(sharedAuth: SharedAuth, options: ProtocolOptions = {}): Promise<HandlerRegistry> {
  // Loaded here, like the server: admin commands never pay for the protocol modules.
  const { PrometheusMetrics, countAuthFailures, instrumentHandlers } = await import('./metrics/index.js');
  const metrics = options.metrics ?? new PrometheusMetrics();
  // Each protocol sees the one shared throttle through a wrapper that counts its failed logins.
  const authFor = (protocol: MetricsProtocol): SharedAuth & { metrics: Metrics } => ({
    ...sharedAuth,
    throttle: countAuthFailures(sharedAuth.throttle, metrics, protocol),
    metrics,
  });
  const auth = authFor('smtp'); // what the SMTP factory below uses
  const { SmtpHandler, sessionSettings } = await import('./smtp/index.js');
  const smtp = (listener: SmtpListenerName) => (ctx: ServerContext) =>
    new SmtpHandler(
      { store: ctx.store, sasl: auth.sasl, throttle: auth.throttle, metrics: auth.metrics, tls: ctx.tls, logger: ctx.logger },
      sessionSettings(ctx.config, listener, options.smtp),
    );
  const { imapHandlerFactories } = await import('./imap/index.js');
  const imap = imapHandlerFactories(authFor('imap'), options.imap);
  const { pop3HandlerFactories } = await import('./pop3/index.js');
  const pop3 = pop3HandlerFactories(authFor('pop3'), options.pop3);
  const { httpHandlerFactory } = await import('./http/index.js');
  return instrumentHandlers({
    smtp: smtp('smtp'),
    submission: smtp('submission'),
    submissions: smtp('submissions'),
    imap: imap.imap,
    imaps: imap.imaps,
    pop3: pop3.pop3,
    pop3s: pop3.pop3s,
    http: httpHandlerFactory(metrics, metrics, options.http),
  }, metrics);
}

/** serve: config → logger → store → recover → listeners → signal handlers. */
export async function runServer(configPath: string | undefined, io: CliIo): Promise<void> {
  const config = loadConfig({ configPath, env: { ...io.env }, cwd: io.cwd });
  const logger = createLogger({ level: config.log.level });
  const bus = new LocalChangeBus((err) => logger.error({ err }, 'change listener failed'));
  const { PrometheusMetrics, instrumentStore, queueStatsOf } = await import('./metrics/index.js');
  const backend = await openStore(config, bus, logger, { server: true });
  // Queue gauges read the backend directly: scrapes must not show up as store latency.
  const metrics = new PrometheusMetrics({ queueStats: queueStatsOf(backend) });
  const store = instrumentStore(backend, metrics);
  // Loaded here, not at the top: admin commands never pay for the network stack.
  const { installSignalHandlers, startServer } = await import('./server.js');
  let outbound: Outbound | null = null;
  try {
    const report = await store.recover();
    logger.info({ ...report }, 'store recovered');
    const shared = await nodeSharedState(config, backend, logger);
    const auth = await createSharedAuth(config, store, shared.throttle);
    const pop3 = shared.pop3Locks === undefined ? {} : { pop3: { locks: shared.pop3Locks } };
    // The outbound worker; protocols get a store that wakes it when they queue mail.
    outbound = await startOutbound(config, store, logger);
    const running = await startServer(config, { store: outbound?.store ?? store, bus, logger }, await protocolHandlers(auth, { metrics, ...pop3 }));
    installSignalHandlers(outbound === null ? running : stopsOutbound(running, outbound), store, logger, { bus });
  } catch (err) {
    await outbound?.worker.stop();
    await store.close().catch(() => undefined);
    await bus.close();
    throw err;
  }
}

/**
 * What nodes sharing one PostgreSQL database must share beyond the store (docs/postgres.md): the
 * POP3 maildrop locks (advisory locks, so a maildrop open on one node is [IN-USE] on the others)
 * and the authentication throttle counters. A single SQLite node keeps both in memory.
 */
async function nodeSharedState(config: Config, backend: MailStore, logger: Logger): Promise<{ pop3Locks?: MaildropLocks; throttle?: AuthThrottle }> {
  if (config.storage.backend !== 'postgres') return {};
  const { PostgresMailStore } = await import('./store/postgres/index.js');
  if (!(backend instanceof PostgresMailStore)) return {};
  const { PostgresThrottleStore } = await import('./store/postgres/throttle.js');
  const { SharedAuthThrottle } = await import('./auth/throttle-shared.js');
  const counters = PostgresThrottleStore.open(config.storage.url, (err) => logger.warn({ err }, 'idle throttle connection failed'));
  return { pop3Locks: backend.maildropLocks(), throttle: new SharedAuthThrottle(counters, logger) };
}

export interface OutboundOptions {
  /** Default: the SMTP transport (src/queue/transport-impl.ts) on config.outbound and [[routes]]. */
  transport?: OutboundTransport;
  /** Default: DKIM keys from the store when `[mail_auth] sign` (src/queue/dkim.ts); null: never sign. */
  signer?: MessageSigner | null;
}

export interface Outbound {
  worker: QueueWorker;
  /** The store for protocol handlers: queuing through it wakes the worker at once. */
  store: MailStore;
}

/** Starts the outbound queue worker (docs/outbound.md); null when the store has no queue. */
export async function startOutbound(config: Config, store: MailStore, logger: Logger, options: OutboundOptions = {}): Promise<Outbound | null> {
  if (!hasOutboundQueue(store)) return null;
  // Loaded here: admin commands never pay for the queue and its SMTP client.
  const { QueueWorker, notifyOnEnqueue, queueSettings } = await import('./queue/index.js');
  const transport = options.transport ?? (await import('./queue/transport-impl.js')).createOutboundTransport(config, logger);
  const signer = options.signer !== undefined ? options.signer : (await import('./queue/dkim.js')).createDkimSigner(config, store, logger);
  const worker = new QueueWorker({ store, transport, signer, settings: queueSettings(config), logger });
  worker.start();
  return { worker, store: notifyOnEnqueue(store, () => worker.poke()) };
}

/** The running server whose close() also stops the worker (attempts in flight abort; leases expire). */
export function stopsOutbound(server: RunningServer, outbound: Outbound): RunningServer {
  return {
    ...server,
    close: async (timeoutMs) => {
      await Promise.all([outbound.worker.stop(), server.close(timeoutMs)]);
    },
  };
}

/** The CliContext of a real process: commands open the configured store for their duration. */
export function cliContext(io: CliIo): CliContext {
  return {
    io,
    async withStore<T>(configPath: string | undefined, run: (session: StoreSession) => Promise<T>): Promise<T> {
      const config = loadConfig({ configPath, env: { ...io.env }, cwd: io.cwd });
      // Store warnings go to stderr in the terminal format: stdout carries the command's output.
      const logger = createLogger({ level: 'warn', destination: new PrettyDestination(2) });
      const bus = new LocalChangeBus();
      const store = await openStore(config, bus, logger, { server: false });
      try {
        return await run({ config, store });
      } finally {
        await store.close();
        await bus.close();
      }
    },
    serve: (configPath) => runServer(configPath, io),
    async migrateToPostgres(configPath, url, onProgress) {
      const config = loadConfig({ configPath, env: { ...io.env }, cwd: io.cwd });
      if (config.storage.backend !== 'sqlite') {
        throw new ConfigError(config.source, [{ key: 'storage.backend', reason: 'migrate copies a SQLite installation: point --config at the SQLite one' }]);
      }
      // Open and close the SQLite store once: it applies pending schema migrations first.
      const bus = new LocalChangeBus();
      const logger = createLogger({ level: 'warn', destination: new PrettyDestination(2) });
      await (await openStore(config, bus, logger, { server: false })).close();
      const { migrateSqliteToPostgres } = await import('./store/postgres/from-sqlite.js');
      const report = await migrateSqliteToPostgres({ dataDir: config.dataDir, url, onProgress: (p) => onProgress(p.table, p.rows) });
      return { ...report };
    },
  };
}
