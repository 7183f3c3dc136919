/**
 * The running server: TLS, listeners, the log lines operators and tests wait for, and
 * signal handling. Storage and the change bus are made by the caller (main.ts) and passed in,
 * so this module never knows which backend runs.
 */
import { LISTENER_NAMES } from './config/defaults.js';
import { ConfigError } from './config/errors.js';
import type { Config, ListenAddress, ListenerName } from './config/types.js';
import type { ChangeBus } from './events/types.js';
import type { Logger } from './log/index.js';
import { ListenerSet } from './net/listeners.js';
import { TlsConfigError, TlsManager } from './net/tls.js';
import type { ReloadResult } from './net/tls.js';
import type { ConnectionHandler, ProtocolHandlers } from './net/types.js';
import type { MailStore } from './store/types.js';

export interface ServerDeps {
  store: MailStore;
  bus: ChangeBus;
  logger: Logger;
}

/** Everything a protocol module needs to build its handler. */
export interface ServerContext extends ServerDeps {
  config: Config;
  tls: TlsManager;
}

/** Builds a listener's handler once the server's TLS manager exists. */
export type HandlerFactory = (ctx: ServerContext) => ConnectionHandler;
/** Per listener: a ready handler, or a factory for one. Listeners left out answer "not available yet". */
export type HandlerRegistry = Partial<Record<ListenerName, ConnectionHandler | HandlerFactory>>;

export interface RunningServer {
  readonly config: Config;
  readonly tls: TlsManager;
  /** Bound addresses per listener (port 0 in the config → the real port). */
  addresses(): Record<ListenerName, ListenAddress[]>;
  /** Re-reads the certificate files (SIGHUP); on failure the old certificate stays. */
  reloadTls(): Promise<ReloadResult>;
  /**
   * Stops accepting, lets sessions finish their command in flight for up to `timeoutMs`
   * (default: config.shutdownTimeout), then destroys remaining sockets. The caller closes
   * the store and the bus afterwards. Idempotent.
   */
  close(timeoutMs?: number): Promise<void>;
}

export async function startServer(config: Config, deps: ServerDeps, handlers: HandlerRegistry = {}): Promise<RunningServer> {
  const { logger } = deps;
  const tls = await createTlsManager(config, logger);
  const context: ServerContext = { ...deps, config, tls };
  const listeners = await ListenerSet.start({ config, tls, logger, handlers: buildHandlers(handlers, context) });
  const addresses = listeners.addresses();
  for (const listener of LISTENER_NAMES) {
    for (const { host, port } of addresses[listener]) logger.info({ listener, host, port }, 'listening');
  }
  logger.info({ hostname: config.hostname, config: config.source, dataDir: config.dataDir }, 'ready');
  return {
    config,
    tls,
    addresses: () => listeners.addresses(),
    reloadTls: () => tls.reload(),
    close: (timeoutMs = config.shutdownTimeout * 1000) => listeners.close(timeoutMs),
  };
}

/**
 * Configured certificate files that cannot be used are a configuration error (exit 78), named
 * like the others: `<config file>: tls: <cert file>: cannot read certificate: file not found`.
 */
async function createTlsManager(config: Config, logger: Logger): Promise<TlsManager> {
  try {
    return await TlsManager.create({ hostname: config.hostname, dataDir: config.dataDir, cert: config.tls.cert, key: config.tls.key, logger });
  } catch (err) {
    if (err instanceof TlsConfigError && config.tls.cert !== null) {
      throw new ConfigError(config.source, [{ key: 'tls', reason: err.message }]);
    }
    throw err;
  }
}

function buildHandlers(registry: HandlerRegistry, context: ServerContext): ProtocolHandlers {
  const handlers: ProtocolHandlers = {};
  for (const name of LISTENER_NAMES) {
    const entry = registry[name];
    if (entry === undefined) continue;
    handlers[name] = typeof entry === 'function' ? entry(context) : entry;
  }
  return handlers;
}

export interface SignalHandlerOptions {
  /** Defaults to the server's config.shutdownTimeout. */
  shutdownTimeoutMs?: number;
  /** Also closed after the store (optional: the bus may be closed elsewhere). */
  bus?: ChangeBus;
  /** Injected for tests; defaults to process.exit. */
  exit?: (code: number) => void;
  /** Where signals are received; defaults to process. */
  target?: NodeJS.EventEmitter;
}

/**
 * SIGTERM/SIGINT: graceful shutdown, close the store, exit 0 (1 if shutting down failed; a
 * second signal exits 1 at once). SIGHUP: re-read the TLS certificate files.
 * Returns a function that removes the handlers.
 */
export function installSignalHandlers(server: RunningServer, store: MailStore, logger: Logger, options: SignalHandlerOptions = {}): () => void {
  const target = options.target ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let shuttingDown = false;

  const shutdown = async (signal: string): Promise<void> => {
    logger.info({ signal }, 'shutting down');
    await server.close(options.shutdownTimeoutMs);
    await store.close();
    await options.bus?.close();
    logger.info('stopped');
  };

  const onStop = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal during shutdown, exiting now');
      exit(1);
      return;
    }
    shuttingDown = true;
    shutdown(signal).then(
      () => exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };

  const onHangup = (): void => {
    logger.info({ signal: 'SIGHUP' }, 'reloading tls certificate');
    // reload() logs its own failure and keeps the old certificate; it never rejects.
    void server.reloadTls();
  };

  target.on('SIGTERM', onStop);
  target.on('SIGINT', onStop);
  target.on('SIGHUP', onHangup);
  return () => {
    target.off('SIGTERM', onStop);
    target.off('SIGINT', onStop);
    target.off('SIGHUP', onHangup);
  };
}
