/**
 * Built-in defaults. Each value has its reason in docs/configuration.md; keep the two in step.
 */
import type { Config, Limits, ListenAddress, ListenerName } from './types.js';

export const LISTENER_NAMES: readonly ListenerName[] = [
  'smtp',
  'submission',
  'submissions',
  'imap',
  'imaps',
  'pop3',
  'pop3s',
  'http',
];

/** IANA ports (RFC 5321, RFC 6409, RFC 8314, RFC 9051, RFC 1939). */
export const STANDARD_PORTS: Readonly<Record<ListenerName, number>> = {
  smtp: 25,
  submission: 587,
  submissions: 465,
  imap: 143,
  imaps: 993,
  pop3: 110,
  pop3s: 995,
  http: 8025,
};

/**
 * Added to the standard mail ports when the server does not run as root, so that
 * `npm start` on a fresh clone binds without privileges (ports < 1024 need root).
 */
export const UNPRIVILEGED_PORT_OFFSET = 20000;

/** The HTTP admin port only listens on loopback by default: it is not for the Internet. */
const LISTEN_HOSTS: Readonly<Record<ListenerName, string>> = {
  smtp: '0.0.0.0',
  submission: '0.0.0.0',
  submissions: '0.0.0.0',
  imap: '0.0.0.0',
  imaps: '0.0.0.0',
  pop3: '0.0.0.0',
  pop3s: '0.0.0.0',
  http: '127.0.0.1',
};

/** Default listen port for a listener: standard as root (uid 0), standard + 20000 otherwise. */
export function defaultPort(listener: ListenerName, uid: number): number {
  const port = STANDARD_PORTS[listener];
  return uid === 0 || port >= 1024 ? port : port + UNPRIVILEGED_PORT_OFFSET;
}

export function defaultListen(uid: number): Record<ListenerName, ListenAddress[]> {
  const listen = {} as Record<ListenerName, ListenAddress[]>;
  for (const name of LISTENER_NAMES) {
    listen[name] = [{ host: LISTEN_HOSTS[name], port: defaultPort(name, uid) }];
  }
  return listen;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  messageSize: 50 * 1024 * 1024,
  recipients: 100, // RFC 5321 4.5.3.1.8: at least 100 must be accepted
  connections: 5000,
  connectionsPerIp: 50,
  commandLine: 512, // RFC 5321 4.5.3.1.4
  imapCommandLine: 64 * 1024, // RFC 7162 4 asks for at least 8192
  textLine: 1000, // RFC 5321 4.5.3.1.6
  literal: 64 * 1024,
  commandTimeout: 300, // RFC 5321 4.5.3.2.7: 5 minutes
  imapIdleTimeout: 1800, // RFC 3501 5.4: at least 30 minutes
  sessionDeadline: 3600,
  errorsPerSession: 20,
  sessionsPerAccount: 50,
  keywordsPerMailbox: 256,
  nestingDepth: 32,
  mimeParts: 2000,
};

/** The outbound queue (docs/outbound.md): retries for 5 days like Postfix's maximal_queue_lifetime. */
export const DEFAULT_QUEUE: Readonly<Config['queue']> = {
  lifetime: 5 * 86_400,
  retrySchedule: [60, 300, 900, 3600],
  delayWarning: 4 * 3600,
  concurrency: 20,
  perDomainConcurrency: 4,
  lease: 600,
  interval: 5,
};

/** RFC 5321 4.5.3.2: clients wait at least 5 minutes for most replies. */
export const DEFAULT_OUTBOUND_TIMEOUTS = { connect: 30, command: 300 } as const;

/** Like Postfix's smtp_connection_reuse_count_limit and smtp_connection_cache_time_limit. */
export const DEFAULT_CONNECTION_REUSE = { messages: 100, idle: 5 } as const;

/** Seconds a SQLite write waits for the lock before a temporary failure (docs/storage.md). */
export const DEFAULT_BUSY_TIMEOUT = 10;

export const DEFAULT_DATA_DIR = './data';
export const DEFAULT_LOG_LEVEL: Config['log']['level'] = 'info';
/** Seconds to let in-flight commands finish on SIGTERM before sockets are cut. */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10;
export const CONFIG_FILE_NAME = 'mailhaven.toml';
export const CONFIG_ENV_VAR = 'MAILHAVEN_CONFIG';
