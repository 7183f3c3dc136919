/**
 * The outbound queue table on PostgreSQL (src/queue/types.ts), the same model as SQLite
 * (store/sqlite/queue.ts): entries are written in the same transaction as the local copies of a
 * message, and reference the message blob through a foreign key, so the blob stays while either
 * needs it.
 * @module
 */
import type { MessageIndex } from '../../mime/types.js';
import type {
  AttemptRecord,
  AttemptWrite,
  CombinedDeliveryResult,
  LocalCopy,
  NewQueueEntry,
  QueueEntry,
  QueueRecipient,
  QueueSummary,
} from '../../queue/types.js';
import { isFinalState } from '../../queue/types.js';
import type { Id, StagedBlob } from '../types.js';
import type { Queryable } from './db.js';
import { row, rows } from './db.js';
import { deliver } from './messages.js';
import type { PgTx } from './tx.js';
import { isOverQuota, toQueueEntry } from '../rows.js';
import type { QueueRow } from '../rows.js';

/**
 * Local copies and the queue entry in one transaction (OutboundQueueStore.deliverAndEnqueue).
 * The copies go first, so account rows are locked before the blob row (PgTx lock order); the
 * entry is written when it has recipients of its own, or for copies deferred as over quota.
 */
export async function deliverAndEnqueue(
  tx: PgTx,
  blob: StagedBlob,
  index: MessageIndex,
  copies: readonly LocalCopy[],
  entry: NewQueueEntry,
  internalDate: number,
): Promise<CombinedDeliveryResult> {
  const outcomes = await deliver(
    tx,
    blob,
    index,
    copies.map((copy) => copy.target),
    internalDate,
  );
  const deferred = copies.flatMap((copy, i) => (copy.retry !== null && isOverQuota(outcomes[i]) ? [copy.retry] : []));
  if (entry.recipients.length > 0) {
    return { outcomes, queueId: await insertEntry(tx, blob, index, entry, [...entry.recipients, ...deferred]) };
  }
  // Nothing stored and nothing of its own to relay: the client retries the whole message later.
  if (deferred.length === 0 || !outcomes.some((outcome) => outcome.ok)) return { outcomes, queueId: null };
  return { outcomes, queueId: await insertEntry(tx, blob, index, entry, deferred) };
}

async function insertEntry(tx: PgTx, blob: StagedBlob, index: MessageIndex, entry: NewQueueEntry, recipients: readonly QueueRecipient[]): Promise<Id> {
  // The blob row comes with its index, as for message rows (a deferred local copy needs it).
  await tx.attachBlob(blob, index);
  const id = await tx.value<number>(
    `INSERT INTO queue (blob_hash, size, sender, recipients, ret, envid, body, smtputf8, submitter, client_address, created_at, next_attempt_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id`,
    [
      blob.hash,
      blob.size,
      entry.sender,
      JSON.stringify(recipients),
      entry.ret,
      entry.envid,
      entry.body,
      entry.smtputf8,
      entry.submitter,
      entry.clientAddress,
      tx.now,
    ],
  );
  if (id === undefined) throw new Error('queue insert returned no id');
  return id;
}

export async function listQueue(db: Queryable, limit: number): Promise<QueueEntry[]> {
  return (await rows<QueueRow>(db, 'SELECT * FROM queue ORDER BY id LIMIT $1', [limit])).map(toQueueEntry);
}

export async function removeQueueEntry(tx: PgTx, id: Id): Promise<void> {
  if (!Number.isSafeInteger(id)) return;
  const hash = await tx.value<string>('DELETE FROM queue WHERE id = $1 RETURNING blob_hash', [id]);
  if (hash !== undefined) tx.dropBlobReference(hash);
}

export async function getQueueEntry(db: Queryable, id: Id): Promise<QueueEntry | null> {
  if (!Number.isSafeInteger(id)) return null;
  const found = await row<QueueRow>(db, 'SELECT * FROM queue WHERE id = $1', [id]);
  return found === undefined ? null : toQueueEntry(found);
}

/**
 * Leases due entries to `owner` (OutboundQueueStore.claimDue). FOR UPDATE SKIP LOCKED: rows
 * another node is claiming right now are skipped, not waited for, so nodes share the work and
 * never take the same entry; the lease then keeps it theirs after this transaction commits.
 */
export async function claimDue(tx: PgTx, owner: string, now: number, leaseMs: number, limit: number): Promise<QueueEntry[]> {
  const claimed = await tx.rows<QueueRow>(
    `UPDATE queue SET lease_owner = $1, lease_until = $2
      WHERE id IN (SELECT id FROM queue
                    WHERE next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
                    ORDER BY next_attempt_at, id LIMIT $4
                    FOR UPDATE SKIP LOCKED)
      RETURNING *`,
    [owner, now + leaseMs, now, limit],
  );
  return claimed.map(toQueueEntry).sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime() || a.id - b.id);
}

/** OutboundQueueStore.recordAttempt: only the lease holder writes; all-final entries go. */
export async function recordAttempt(tx: PgTx, id: Id, owner: string, record: AttemptRecord): Promise<AttemptWrite> {
  if (!Number.isSafeInteger(id)) return 'lost';
  // The row lock makes a concurrent claim (after our lease ran out) wait, then see our write.
  const holder = await tx.row<{ lease_owner: string | null }>('SELECT lease_owner FROM queue WHERE id = $1 FOR UPDATE', [id]);
  if (holder === undefined || holder.lease_owner !== owner) return 'lost';
  if (record.recipients.every((recipient) => isFinalState(recipient.state))) {
    await removeQueueEntry(tx, id);
    return 'removed';
  }
  await tx.run(
    `UPDATE queue SET recipients = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = $3, delay_notified = $4,
                      lease_owner = NULL, lease_until = NULL
      WHERE id = $5`,
    [JSON.stringify(record.recipients), record.nextAttemptAt.getTime(), record.lastError, record.delayNotified, id],
  );
  return 'recorded';
}

export async function renewLease(tx: PgTx, id: Id, owner: string, until: number): Promise<boolean> {
  if (!Number.isSafeInteger(id)) return false;
  return (await tx.run('UPDATE queue SET lease_until = $1 WHERE id = $2 AND lease_owner = $3', [until, id, owner])) === 1;
}

/** Makes one entry, or all, due at `now`; leases are left alone (an attempt in flight finishes). */
export async function retryQueueEntries(tx: PgTx, target: Id | 'all', now: number): Promise<number> {
  if (target !== 'all') {
    if (!Number.isSafeInteger(target)) return 0;
    return tx.run('UPDATE queue SET next_attempt_at = least(next_attempt_at, $1) WHERE id = $2', [now, target]);
  }
  await tx.run('UPDATE queue SET next_attempt_at = $1 WHERE next_attempt_at > $1', [now]);
  return (await tx.value<number>('SELECT count(*)::bigint FROM queue')) ?? 0;
}

export async function queueSummary(db: Queryable): Promise<QueueSummary> {
  const found = await row<{ entries: number; oldest: number | null }>(db, 'SELECT count(*)::bigint AS entries, min(created_at) AS oldest FROM queue');
  return { entries: found?.entries ?? 0, oldestCreatedAt: found?.oldest == null ? null : new Date(found.oldest) };
}
