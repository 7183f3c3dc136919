/**
 * The ConnectionHandler for the three SMTP listeners: `smtp` (MX, port 25), `submission` (587,
 * STARTTLS then AUTH) and `submissions` (465, implicit TLS, RFC 8314). One handler per listener;
 * they differ only in policy (docs/smtp.md).
 * @module
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Config } from '../config/types.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from '../net/starttls.js';
import type { ConnectionHandler, ConnectionInfo } from '../net/types.js';
import { mailAuthPolicy } from './mail-auth.js';
import type { MailAuthPolicy } from './mail-auth.js';
import { Session } from './session.js';
import type { ListenerPolicy, SessionSettings, SmtpListenerName, SmtpServices } from './types.js';

/** Overrides for tests and tuning; everything else comes from the configuration. */
export interface SmtpHandlerOptions {
  /** Default: 0 (greet at once). A positive value catches clients that talk before the greeting. */
  greetingDelayMs?: number;
  commandTimeoutMs?: number;
  sessionDeadlineMs?: number;
  bareLineEndings?: 'reject' | 'normalize';
  tlsHandshakeTimeoutMs?: number;
  now?: () => Date;
  /** MX mail authentication tuning (deadline, pct sampling); `[mail_auth] verify` still decides. */
  mailAuth?: Partial<MailAuthPolicy>;
}

export const LISTENER_POLICIES: Readonly<Record<SmtpListenerName, ListenerPolicy>> = {
  smtp: { name: 'smtp', requireAuth: false },
  submission: { name: 'submission', requireAuth: true },
  submissions: { name: 'submissions', requireAuth: true },
};

export function sessionSettings(config: Config, listener: SmtpListenerName, options: SmtpHandlerOptions = {}): SessionSettings {
  const limits = config.limits;
  return {
    policy: LISTENER_POLICIES[listener],
    hostname: config.hostname,
    messageSize: limits.messageSize,
    recipients: limits.recipients,
    commandLine: limits.commandLine,
    textLine: limits.textLine,
    errorsPerSession: limits.errorsPerSession,
    allowPlaintextOnLoopback: config.auth.allowPlaintextOnLoopback,
    bareLineEndings: options.bareLineEndings ?? config.smtp.bareLineEndings,
    commandTimeoutMs: options.commandTimeoutMs ?? limits.commandTimeout * 1000,
    sessionDeadlineMs: options.sessionDeadlineMs ?? limits.sessionDeadline * 1000,
    greetingDelayMs: options.greetingDelayMs ?? (listener === 'smtp' ? config.smtp.greetingDelay * 1000 : 0),
    tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs ?? Math.min(DEFAULT_HANDSHAKE_TIMEOUT_MS, limits.commandTimeout * 1000),
    nestingDepth: limits.nestingDepth,
    mimeParts: limits.mimeParts,
    now: options.now ?? (() => new Date()),
    // The MX checks what it receives; submission is authenticated, its mail is ours (RFC 6409).
    mailAuth: listener === 'smtp' ? mailAuthPolicy(config, options.mailAuth) : null,
  };
}

export class SmtpHandler implements ConnectionHandler {
  readonly #sessions = new Set<Promise<void>>();

  constructor(
    readonly services: SmtpServices,
    readonly settings: SessionSettings,
  ) {}

  handle(socket: Socket | TLSSocket, info: ConnectionInfo): void {
    const session = new Session(socket, info, this.services, this.settings);
    const running = session.run().catch((error: unknown) => {
      info.logger.error({ err: error }, 'smtp session crashed');
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
