/**
 * The durable outbound queue, as the store keeps it. SMTP puts messages here for recipients it
 * cannot deliver locally (relay from authenticated users, alias targets on other domains, local
 * copies deferred because a mailbox was full); the outbound worker (./worker.ts) claims entries
 * with a lease, delivers them to remote MXs, retries, and sends DSNs (RFC 3464) from what is kept
 * here. Per-recipient state lives with the recipient (the recipients JSON column).
 *
 * A queue entry references the message blob (the same blob local copies use), so a message
 * for local and remote recipients is stored once.
 * @module
 */
import type { Readable } from 'node:stream';
import type { MessageIndex } from '../mime/types.js';
import type { DeliveryOutcome, DeliveryTarget, Id, StagedBlob } from '../store/types.js';

export type DsnNotify = 'NEVER' | Array<'SUCCESS' | 'FAILURE' | 'DELAY'>;

export interface QueueRecipient {
  /** Forward-path mailbox (RFC 5321 4.1.2, minimal quoting). */
  address: string;
  /**
   * Why it is queued: `remote` (another domain: relay or alias forward), or `local` (one of our
   * accounts whose copy could not be stored now, e.g. over quota: retried, then bounced).
   */
  kind: 'remote' | 'local';
  /** RFC 3461 4.1 NOTIFY, null when not given. */
  notify: DsnNotify | null;
  /** RFC 3461 4.2 ORCPT (decoded), null when not given. */
  orcpt: { addrType: string; address: string } | null;
}

/**
 * Where a recipient stands: `pending` (not tried yet), `deferred` (tried, to be retried),
 * `delivered` and `failed` (final: nothing more is tried for it).
 */
export type RecipientState = 'pending' | 'deferred' | 'delivered' | 'failed';

/** The outcome of the last attempt for one recipient (DSN fields, RFC 3464 2.3). */
export interface AttemptOutcome {
  /** SMTP reply code that decided it; 0 when no reply (DNS, connection, local delivery). */
  code: number;
  /** Enhanced status code (RFC 3463), e.g. "5.1.1". */
  enhanced: string;
  /** One line, for Diagnostic-Code and logs. */
  diagnostic: string;
  /** The host that answered (Remote-MTA), or null. */
  remoteMta: string | null;
  /** When the attempt ended (ms since the epoch: the JSON stays plain). */
  at: number;
}

/** A recipient as the queue keeps it: the envelope part plus its delivery state. */
export interface QueuedRecipient extends QueueRecipient {
  state: RecipientState;
  /** The last attempt, or null before the first. */
  last: AttemptOutcome | null;
}

export function isFinalState(state: RecipientState): boolean {
  return state === 'delivered' || state === 'failed';
}

/** The envelope of a queued message. */
export interface NewQueueEntry {
  /** Reverse-path without angle brackets; "" for the null sender. */
  sender: string;
  recipients: QueueRecipient[];
  /** RFC 3461 4.3 RET and 4.4 ENVID. */
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
  /** RFC 6152 / RFC 3030 BODY, and RFC 6531 SMTPUTF8: what the next hop must support. */
  body: '7BIT' | '8BITMIME' | 'BINARYMIME' | null;
  smtputf8: boolean;
  /** The authenticated account that submitted it, or null (MX, alias forwarding). */
  submitter: string | null;
  /** The client's IP, for logs and DSNs. */
  clientAddress: string;
}

export interface QueueEntry extends Omit<NewQueueEntry, 'recipients'> {
  id: Id;
  recipients: QueuedRecipient[];
  blobHash: string;
  /** Octets of the queued message (the blob). */
  size: number;
  createdAt: Date;
  /** When the worker may try next; a fresh entry is due at once. */
  nextAttemptAt: Date;
  attempts: number;
  /** Who holds the entry now (a worker's owner id) and until when; null when nobody does. */
  leaseOwner: string | null;
  leaseUntil: Date | null;
  /** Summary of the last attempt's failures (for `queue list`), or null. */
  lastError: string | null;
  /** A "delayed" DSN (RFC 3464 action=delayed) was sent for this entry. */
  delayNotified: boolean;
}

/** What a worker writes after an attempt (OutboundQueueStore.recordAttempt). */
export interface AttemptRecord {
  /** The whole recipient list with its new states (same addresses, same order). */
  recipients: QueuedRecipient[];
  /** When to try again (ignored when every recipient is final: the entry is removed). */
  nextAttemptAt: Date;
  lastError: string | null;
  delayNotified: boolean;
}

/**
 * What recordAttempt did: `recorded` (kept for a retry), `removed` (every recipient final: the
 * entry is gone and its blob released), or `lost` (the lease had passed to another worker, or the
 * entry was deleted meanwhile: nothing was written).
 */
export type AttemptWrite = 'recorded' | 'removed' | 'lost';

/** Queue size for metrics and `queue list`. */
export interface QueueSummary {
  entries: number;
  /** Creation time of the oldest entry, or null when the queue is empty. */
  oldestCreatedAt: Date | null;
}

/** A local copy of a combined delivery, and what to do when it cannot be stored now. */
export interface LocalCopy {
  target: DeliveryTarget;
  /** Added to the queue entry when the store refuses this copy as over quota; null: just report it. */
  retry: QueueRecipient | null;
}

export interface CombinedDeliveryResult {
  /** One per local copy, in order. */
  outcomes: DeliveryOutcome[];
  /** The queue entry created, or null when nothing was queued. */
  queueId: Id | null;
}

/**
 * The optional store capability behind SMTP relay (ARCHITECTURE.md: optional capabilities are
 * sub-interfaces). Check with `hasOutboundQueue(store)`.
 */
export interface OutboundQueueStore {
  /**
   * In one transaction: stores the local copies, and queues `entry` with its recipients plus the
   * `retry` recipient of every copy refused as over quota. Nothing is queued when the resulting
   * recipient list is empty, or when no local copy was stored and `entry` had no recipient of
   * its own (the client is then told to retry the whole message, so nothing is sent twice).
   * When this resolves, the copies and the queue entry are durable.
   */
  deliverAndEnqueue(
    blob: StagedBlob,
    index: MessageIndex,
    copies: LocalCopy[],
    entry: NewQueueEntry,
    internalDate?: Date,
  ): Promise<CombinedDeliveryResult>;
  /** Entries oldest first (admin listing, tests, the outbound worker). */
  listQueue(limit?: number): Promise<QueueEntry[]>;
  /** Removes an entry (delivered or bounced); its blob is released when nothing else uses it. */
  removeQueueEntry(id: Id): Promise<void>;
  /** One entry, or null. */
  getQueueEntry(id: Id): Promise<QueueEntry | null>;
  /**
   * Claims up to `limit` entries that are due (`nextAttemptAt <= now`) and not leased (no lease,
   * or its `leaseUntil` has passed), oldest due first: each gets `leaseOwner = owner` and
   * `leaseUntil = now + leaseMs`, durably, before this resolves. Two workers (processes, nodes)
   * never receive the same entry while its lease runs (SQLite: one write transaction;
   * PostgreSQL: FOR UPDATE SKIP LOCKED).
   */
  claimDue(owner: string, now: Date, leaseMs: number, limit: number): Promise<QueueEntry[]>;
  /**
   * Records an attempt on an entry `owner` holds: new recipient states, attempts + 1, next
   * attempt and last error, and releases the lease. When every recipient is final the entry is
   * removed in the same transaction. Nothing is written when the lease is no longer `owner`'s.
   */
  recordAttempt(id: Id, owner: string, record: AttemptRecord): Promise<AttemptWrite>;
  /**
   * Extends the lease `owner` holds on an entry to `until` (a long attempt keeps its claim);
   * false when the lease is no longer `owner`'s.
   */
  renewLease(id: Id, owner: string, until: Date): Promise<boolean>;
  /** Makes entries due now (`queue retry`, `queue flush`); `'all'` for every entry. Returns how many. */
  retryQueueEntries(target: Id | 'all', now: Date): Promise<number>;
  /** The queued message's bytes as received (the blob, without per-copy prefixes). */
  openQueueMessage(entry: Pick<QueueEntry, 'blobHash' | 'size'>): Promise<Readable>;
  /** Entry count and oldest creation time, without reading the entries. */
  queueSummary(): Promise<QueueSummary>;
}

export function hasOutboundQueue<T extends object>(store: T): store is T & OutboundQueueStore {
  const candidate = store as Partial<OutboundQueueStore>;
  return typeof candidate.deliverAndEnqueue === 'function' && typeof candidate.listQueue === 'function';
}
