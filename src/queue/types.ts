/**
 * The durable outbound queue, as the store keeps it. SMTP puts messages here for recipients it
 * cannot deliver locally (relay from authenticated users, alias targets on other domains, local
 * copies deferred because a mailbox was full); the outbound worker (a later issue) claims entries,
 * delivers them to remote MXs, retries, and sends DSNs (RFC 3461) from what is kept here.
 *
 * A queue entry references the message blob (the same blob local copies use), so a message
 * for local and remote recipients is stored once.
 * @module
 */
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

export interface QueueEntry extends NewQueueEntry {
  id: Id;
  blobHash: string;
  /** Octets of the queued message (the blob). */
  size: number;
  createdAt: Date;
  /** When the worker may try next; a fresh entry is due at once. */
  nextAttemptAt: Date;
  attempts: number;
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
}

export function hasOutboundQueue<T extends object>(store: T): store is T & OutboundQueueStore {
  const candidate = store as Partial<OutboundQueueStore>;
  return typeof candidate.deliverAndEnqueue === 'function' && typeof candidate.listQueue === 'function';
}
