/**
 * The outbound queue table (src/queue/types.ts): entries written in the same transaction as the
 * local copies of a message, so the 250 for a message with remote recipients is sent only once
 * both are committed.
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
import type { Sql } from './db.js';
import { deliver } from './messages.js';
import type { Tx } from './tx.js';
import { isOverQuota, toQueueEntry } from '../rows.js';
import type { QueueRow } from '../rows.js';

/**
 * Local copies and the queue entry in one transaction (OutboundQueueStore.deliverAndEnqueue).
 * With recipients of its own the entry is inserted first, so the blob stays referenced even when
 * no local copy is stored; without, a row is only written for copies deferred as over quota.
 */
export function deliverAndEnqueue(
  tx: Tx,
  blob: StagedBlob,
  index: MessageIndex,
  copies: readonly LocalCopy[],
  entry: NewQueueEntry,
  internalDate: number,
): CombinedDeliveryResult {
  const ownRecipients = entry.recipients.length > 0;
  const queueId = ownRecipients ? insertEntry(tx, blob, index, entry, entry.recipients) : null;
  const outcomes = deliver(
    tx,
    blob,
    index,
    copies.map((copy) => copy.target),
    internalDate,
  );
  const deferred = copies.flatMap((copy, i) => (copy.retry !== null && isOverQuota(outcomes[i]) ? [copy.retry] : []));
  if (deferred.length === 0) return { outcomes, queueId };
  if (queueId !== null) {
    tx.sql.run('UPDATE queue SET recipients = ? WHERE id = ?', JSON.stringify([...entry.recipients, ...deferred]), queueId);
    return { outcomes, queueId };
  }
  // Nothing stored and nothing of its own to relay: the client retries the whole message later.
  if (!outcomes.some((outcome) => outcome.ok)) return { outcomes, queueId: null };
  return { outcomes, queueId: insertEntry(tx, blob, index, entry, deferred) };
}

function insertEntry(tx: Tx, blob: StagedBlob, index: MessageIndex, entry: NewQueueEntry, recipients: readonly QueueRecipient[]): Id {
  // The index row comes with the blob, as for message rows (a deferred local copy needs it).
  tx.sql.run('INSERT OR IGNORE INTO message_index (blob_hash, index_json) VALUES (?, ?)', blob.hash, JSON.stringify(index));
  tx.sql.run('DELETE FROM blob_trash WHERE hash = ?', blob.hash);
  return Number(
    tx.sql.run(
      `INSERT INTO queue (blob_hash, size, sender, recipients, ret, envid, body, smtputf8, submitter, client_address, created_at, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      blob.hash,
      blob.size,
      entry.sender,
      JSON.stringify(recipients),
      entry.ret,
      entry.envid,
      entry.body,
      entry.smtputf8 ? 1 : 0,
      entry.submitter,
      entry.clientAddress,
      tx.now,
      tx.now,
    ).lastInsertRowid,
  );
}

export function listQueue(sql: Sql, limit: number): QueueEntry[] {
  return sql.all<QueueRow>('SELECT * FROM queue ORDER BY id LIMIT ?', limit).map(toQueueEntry);
}

export function getQueueEntry(sql: Sql, id: Id): QueueEntry | null {
  const row = sql.get<QueueRow>('SELECT * FROM queue WHERE id = ?', id);
  return row === undefined ? null : toQueueEntry(row);
}

/**
 * Leases due entries to `owner` (OutboundQueueStore.claimDue). The select and the update are one
 * statement inside the committer's write transaction, and SQLite has one writer at a time, so no
 * other process can claim the same rows in between.
 */
export function claimDue(tx: Tx, owner: string, now: number, leaseMs: number, limit: number): QueueEntry[] {
  const claimed = tx.sql.all<QueueRow>(
    `UPDATE queue SET lease_owner = ?, lease_until = ?
      WHERE id IN (SELECT id FROM queue
                    WHERE next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
                    ORDER BY next_attempt_at, id LIMIT ?)
      RETURNING *`,
    owner,
    now + leaseMs,
    now,
    now,
    limit,
  );
  return claimed.map(toQueueEntry).sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime() || a.id - b.id);
}

/** OutboundQueueStore.recordAttempt: only the lease holder writes; all-final entries go. */
export function recordAttempt(tx: Tx, id: Id, owner: string, record: AttemptRecord): AttemptWrite {
  const holder = tx.sql.get<{ lease_owner: string | null }>('SELECT lease_owner FROM queue WHERE id = ?', id);
  if (holder === undefined || holder.lease_owner !== owner) return 'lost';
  if (record.recipients.every((recipient) => isFinalState(recipient.state))) {
    removeQueueEntry(tx, id);
    return 'removed';
  }
  tx.sql.run(
    `UPDATE queue SET recipients = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, delay_notified = ?,
                      lease_owner = NULL, lease_until = NULL
      WHERE id = ?`,
    JSON.stringify(record.recipients),
    record.nextAttemptAt.getTime(),
    record.lastError,
    record.delayNotified ? 1 : 0,
    id,
  );
  return 'recorded';
}

export function renewLease(tx: Tx, id: Id, owner: string, until: number): boolean {
  return tx.sql.run('UPDATE queue SET lease_until = ? WHERE id = ? AND lease_owner = ?', until, id, owner).changes === 1;
}

/** Makes one entry, or all, due at `now`; leases are left alone (an attempt in flight finishes). */
export function retryQueueEntries(tx: Tx, target: Id | 'all', now: number): number {
  if (target !== 'all') return tx.sql.run('UPDATE queue SET next_attempt_at = min(next_attempt_at, ?) WHERE id = ?', now, target).changes;
  tx.sql.run('UPDATE queue SET next_attempt_at = ? WHERE next_attempt_at > ?', now, now);
  return tx.sql.value<number>('SELECT count(*) FROM queue') ?? 0;
}

export function queueSummary(sql: Sql): QueueSummary {
  const row = sql.get<{ entries: number; oldest: number | null }>('SELECT count(*) AS entries, min(created_at) AS oldest FROM queue');
  return { entries: row?.entries ?? 0, oldestCreatedAt: row?.oldest == null ? null : new Date(row.oldest) };
}

export function removeQueueEntry(tx: Tx, id: Id): void {
  const hash = tx.sql.value<string>('SELECT blob_hash FROM queue WHERE id = ?', id);
  if (hash === undefined) return;
  tx.sql.run('DELETE FROM queue WHERE id = ?', id);
  tx.dropBlobReference(hash);
}
