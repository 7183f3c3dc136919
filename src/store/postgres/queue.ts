/**
 * The outbound queue table on PostgreSQL (src/queue/types.ts), the same model as SQLite
 * (store/sqlite/queue.ts): entries are written in the same transaction as the local copies of a
 * message, and reference the message blob through a foreign key, so the blob stays while either
 * needs it.
 * @module
 */
import type { MessageIndex } from '../../mime/types.js';
import type { CombinedDeliveryResult, LocalCopy, NewQueueEntry, QueueEntry, QueueRecipient } from '../../queue/types.js';
import type { Id, StagedBlob } from '../types.js';
import type { Queryable } from './db.js';
import { rows } from './db.js';
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
