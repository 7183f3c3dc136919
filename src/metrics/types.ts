/**
 * What the rest of the server counts: a typed interface, so protocol code never touches
 * prom-client and tests can pass the no-op implementation (./noop.ts). The Prometheus
 * implementation (./prometheus.ts) is made once per server by src/compose.ts and passed down.
 *
 * Label values are bounded by these unions (command names are normalised and capped in the
 * implementation), so a hostile client cannot grow the number of time series.
 * @module
 */
import type { ListenerName } from '../config/types.js';

/** The protocol families commands and authentications are counted by. */
export type MetricsProtocol = 'smtp' | 'imap' | 'pop3' | 'http';

/**
 * How a command ended, protocol-neutral:
 * - IMAP: tagged OK → `ok`, NO → `no`, BAD → `bad`;
 * - SMTP: 2xx/3xx → `ok`, 4xx → `tempfail`, 5xx → `permfail` (RFC 5321 4.2.1);
 * - POP3: +OK → `ok`, -ERR → `no`;
 * - `error`: the server failed (an exception answered as a server error).
 */
export type CommandResult = 'ok' | 'no' | 'bad' | 'tempfail' | 'permfail' | 'error';

/** Why SMTP refused a recipient or a message (one count per refusal). */
export type SmtpRejectionReason =
  /** RCPT for an address we do not have (550 5.1.1). */
  | 'unknownRecipient'
  /** RCPT for another domain without authentication (554 5.7.1). */
  | 'relayDenied'
  /** The mailbox is full (452 4.2.2 / 552 5.2.2). */
  | 'overQuota'
  /** SIZE or DATA beyond limits.message_size (552 5.3.4). */
  | 'messageTooLarge'
  /** More recipients than limits.recipients (452 4.5.3). */
  | 'tooManyRecipients'
  /** A command or message that breaks the protocol (501, 500, bare LF...). */
  | 'syntax'
  /** MAIL without the authentication the listener requires (530 5.7.0). */
  | 'authRequired'
  /** A sender the policy refuses (sender not owned by the authenticated user...). */
  | 'senderDenied'
  /** The store could not take the message now (451 4.3.0). */
  | 'temporaryFailure'
  | 'other';

/** Where an accepted SMTP recipient went. */
export type SmtpDeliveryKind = 'local' | 'queued';

export interface QueueStats {
  /** Messages waiting in the outbound queue. */
  messages: number;
  /** Age of the oldest entry, seconds; 0 when the queue is empty. */
  oldestAgeSeconds: number;
}

export interface Metrics {
  /** A connection accepted on a listener (after the connection limits). */
  connectionOpened(listener: ListenerName): void;
  /** The same connection closed. */
  connectionClosed(listener: ListenerName): void;
  /** A connection turned away by limits.connections / limits.connections_per_ip. */
  connectionRefused(listener: ListenerName): void;
  /** One command answered. `command` is the verb as the client sent it (normalised here). */
  command(protocol: MetricsProtocol, command: string, result: CommandResult): void;
  /** Accepted recipients of one message, by where they went. */
  smtpDelivered(kind: SmtpDeliveryKind, recipients: number): void;
  smtpRejected(reason: SmtpRejectionReason): void;
  /** A failed authentication (wrong password, unknown user, bad token...). */
  authFailure(protocol: MetricsProtocol): void;
  /** One store call: its method name, how long it took and whether it threw. */
  storeOperation(operation: string, seconds: number, failed: boolean): void;
  /** One HTTP request: the route pattern (never the raw path) and the status sent. */
  httpRequest(route: string, status: number): void;
}
