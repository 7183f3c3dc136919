/**
 * What an SMTP session is given: services shared by the whole server, and settings resolved
 * per listener from the configuration.
 * @module
 */
import type { AuthThrottle, SaslContext } from '../auth/index.js';
import type { Logger } from '../log/index.js';
import type { TlsManager } from '../net/tls.js';
import type { MailStore } from '../store/types.js';
import type { Metrics } from '../metrics/types.js';
import type { MailAuthPolicy } from './mail-auth.js';

export type SmtpListenerName = 'smtp' | 'submission' | 'submissions';

export interface SmtpServices {
  store: MailStore;
  /** Counters for /metrics (commands, deliveries, rejections); none in unit tests. */
  metrics?: Metrics;
  sasl: SaslContext;
  /** One throttle for SMTP, IMAP and POP3 (docs/auth.md). */
  throttle: AuthThrottle;
  tls: TlsManager;
  logger: Logger;
}

/** Per-listener behaviour (docs/smtp.md "Listeners"). */
export interface ListenerPolicy {
  name: SmtpListenerName;
  /** Submission (587/465): MAIL needs AUTH first (RFC 6409 4.3). The MX takes mail for local domains from anyone. */
  requireAuth: boolean;
}

export interface SessionSettings {
  policy: ListenerPolicy;
  hostname: string;
  /** Largest message accepted, octets (SIZE, RFC 1870). */
  messageSize: number;
  /** Recipients per transaction (RFC 5321 4.5.3.1.8). */
  recipients: number;
  /** Command line limit for commands other than MAIL/RCPT, octets with CRLF (RFC 5321 4.5.3.1.4). */
  commandLine: number;
  /** DATA text line limit, octets with CRLF (RFC 5321 4.5.3.1.6); 0 disables. */
  textLine: number;
  /** Errors (4xx/5xx replies) before the session is closed with 421. */
  errorsPerSession: number;
  /** `auth.allow_plaintext_on_loopback`: AUTH without TLS from a loopback peer. */
  allowPlaintextOnLoopback: boolean;
  /** Bare LF in DATA/BDAT: refuse the message, or turn it into CRLF. A bare CR is always refused. */
  bareLineEndings: 'reject' | 'normalize';
  /** Idle wait for a command or message data, ms (RFC 5321 4.5.3.2.7: 5 minutes). */
  commandTimeoutMs: number;
  /** Total session lifetime, ms. */
  sessionDeadlineMs: number;
  /** How long to listen before greeting; a client that talks first is cut (554 5.5.0). */
  greetingDelayMs: number;
  tlsHandshakeTimeoutMs: number;
  /** MIME index limits. */
  nestingDepth: number;
  mimeParts: number;
  now: () => Date;
  /** SPF/DKIM/DMARC/ARC checks of unauthenticated mail (the MX only, ./mail-auth.ts); null: none. */
  mailAuth?: MailAuthPolicy | null;
}
