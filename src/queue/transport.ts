/**
 * The contract between the queue worker (what to send, when, and what to do with the outcome)
 * and the outbound SMTP transport (how to reach a domain and run one SMTP transaction there).
 * The transport never throws for a remote failure: every recipient comes back with a result.
 * @module
 */
import type { Readable } from 'node:stream';
import type { DsnNotify } from './types.js';

export type { TlsMode } from '../config/types.js';

export interface TransactionRecipient {
  address: string;
  notify: DsnNotify | null;
  orcpt: { addrType: string; address: string } | null;
}

/** One SMTP transaction to one destination domain (all its recipients on one connection). */
export interface TransactionRequest {
  /** Reverse-path without angle brackets; "" for the null sender (bounces). */
  sender: string;
  recipients: readonly TransactionRecipient[];
  /** RFC 3461 4.3 / 4.4, passed on when the remote offers DSN. */
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
  /** What the message needs from the next hop (RFC 6152, RFC 3030, RFC 6531). */
  body: '7BIT' | '8BITMIME' | 'BINARYMIME' | null;
  smtputf8: boolean;
  /** Octets that openMessage() yields (for SIZE=). */
  size: number;
  /** The message as sent (DKIM-Signature already prepended when signed); called once per attempt. */
  openMessage(): Readable;
}

export type RecipientStatus = 'delivered' | 'deferred' | 'failed';

export interface RecipientResult {
  address: string;
  /** delivered: 2xx; failed: 5xx or a permanent local decision; deferred: 4xx, network, timeouts. */
  status: RecipientStatus;
  /** The SMTP reply code that decided it (0 when no reply: DNS or connection failure). */
  code: number;
  /** Enhanced status code (RFC 3463) such as "5.1.1", from the reply or chosen by us. */
  enhanced: string;
  /** Human-readable diagnostic, for logs and the DSN's Diagnostic-Code (one line, no CR/LF). */
  diagnostic: string;
}

export interface DomainDeliveryResult {
  recipients: RecipientResult[];
  /** The host that gave the final answers (for DSN Remote-MTA), or null when none was reached. */
  remoteHost: string | null;
  /** Whether the transaction ran over TLS. */
  tls: boolean;
  /**
   * Whether the host that answered offered DSN (RFC 3461): it then got NOTIFY/ORCPT/RET/ENVID and
   * reports success itself; without it the worker sends "relayed" DSNs (RFC 3461 6.2). Absent: no.
   */
  dsn?: boolean;
}

export interface OutboundTransport {
  /**
   * Delivers one transaction to a recipient domain: chooses the route ([[routes]] or MX then
   * A/AAAA, RFC 5321 5.1; a null MX, RFC 7505, fails at once), applies the TLS policy (config,
   * MTA-STS), and tries the hosts in order until one gives final answers. Resolves with one
   * result per recipient, in request order.
   */
  deliver(domain: string, request: TransactionRequest, signal?: AbortSignal): Promise<DomainDeliveryResult>;
  /** Closes connections kept open for reuse (called by the worker's stop). */
  close?(): Promise<void>;
}
