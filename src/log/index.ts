/**
 * The logger every module receives: pino writing JSON lines to stdout synchronously (no worker
 * transports, so nothing is lost on exit), or our own one-line format on a terminal.
 *
 * Credentials are redacted by key name wherever they appear in the first two levels of a log
 * object. Message bodies are never logged: pass sizes, ids and addresses, not content.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { DestinationStream, Level, LevelWithSilent, Logger as PinoLogger } from 'pino';
import { PrettyDestination } from './pretty.js';

export type Logger = PinoLogger;
export type LogLevel = LevelWithSilent;
export type { Level };
export { formatPrettyLine, PrettyDestination } from './pretty.js';

const SECRET_KEYS = [
  'password',
  'pass',
  'secret',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'authorization',
  'credentials',
  // SASL responses carry passwords (PLAIN, LOGIN) or bearer tokens (XOAUTH2, OAUTHBEARER).
  'saslResponse',
  'initialResponse',
];

/** `password`, `*.password`, `*.*.password`… for every secret key name. */
export const REDACT_PATHS: readonly string[] = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
export const REDACTED = '[redacted]';

export interface CreateLoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to stdout (pretty when it is a terminal, JSON otherwise). */
  destination?: DestinationStream;
  /** Force the terminal format on or off for the default destination. */
  pretty?: boolean;
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      // No machine hostname in every line: the log collector knows the host, and `hostname`
      // stays free for the server's own name (config.hostname) in our fields.
      base: { pid: process.pid },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? defaultDestination(options.pretty ?? process.stdout.isTTY),
  );
}

function defaultDestination(pretty: boolean): DestinationStream {
  return pretty ? new PrettyDestination(1) : pino.destination({ dest: 1, sync: true });
}

/** A short id, unique enough to follow one connection through interleaved logs. */
export function newConnectionId(): string {
  return randomBytes(6).toString('base64url');
}

export interface ConnectionLogFields {
  protocol: string;
  /** Remote address as "ip:port" (or "[v6]:port"). */
  remote: string;
  /** Connection id; generated when absent. */
  id?: string;
}

/** Child logger for one connection: every line carries `conn`, `protocol` and `remote`. */
export function connectionLogger(base: Logger, fields: ConnectionLogFields): Logger {
  return base.child({ conn: fields.id ?? newConnectionId(), protocol: fields.protocol, remote: fields.remote });
}

/** A logger that discards everything, for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
