/**
 * What a POP3 session is given: services shared by the whole server, and settings resolved
 * once from the configuration.
 * @module
 */
import type { AuthThrottle, SaslContext } from '../auth/index.js';
import type { Logger } from '../log/index.js';
import type { MailStore } from '../store/types.js';
import type { MaildropLocks } from './lock.js';
import type { Metrics } from '../metrics/types.js';

export interface Pop3Services {
  store: MailStore;
  /** Counters for /metrics (commands by name and result); none in unit tests. */
  metrics?: Metrics;
  /** One SASL context for all protocols; its `secrets` also serve APOP. */
  sasl: SaslContext;
  /** One throttle for SMTP, IMAP and POP3 (docs/auth.md). */
  throttle: AuthThrottle;
  locks: MaildropLocks;
  /** The shortest retention policy anywhere, for CAPA EXPIRE before login (cached). */
  expireBeforeLogin(): Promise<number | null>;
  logger: Logger;
}

export interface Pop3Settings {
  /** `auth.allow_plaintext_on_loopback`: USER/PASS and AUTH PLAIN/LOGIN without TLS from loopback. */
  allowPlaintextOnLoopback: boolean;
  /** Longest command line, octets with CRLF (RFC 2449 4: at least 255). AUTH lines may be longer. */
  commandLine: number;
  /** Inactivity autologout, ms (RFC 1939 3: at least 10 minutes). */
  idleTimeoutMs: number;
  /** A command line that has begun must be complete within this, ms (limits.command_timeout; slowloris). */
  commandTimeoutMs?: number;
  /** -ERR answers before the session is closed. */
  errorsPerSession: number;
  tlsHandshakeTimeoutMs: number;
  /** APOP greeting timestamp (RFC 1939 7); injectable so tests know it. */
  apopTimestamp: () => string;
  now: () => Date;
}
