/**
 * The outbound queue table (src/queue/types.ts): entries written in the same transaction as the
 * local copies of a message, so the 250 for a message with remote recipients is sent only once
 * both are committed.
 * @module
 */
import type { MessageIndex } from '../../mime/types.js';
import type { CombinedDeliveryResult, LocalCopy, NewQueueEntry, QueueEntry, QueueRecipient } from '../../queue/types.js';
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

export function removeQueueEntry(tx: Tx, id: Id): void {
  const hash = tx.sql.value<string>('SELECT blob_hash FROM queue WHERE id = ?', id);
  if (hash === undefined) return;
  tx.sql.run('DELETE FROM queue WHERE id = ?', id);
  tx.dropBlobReference(hash);
}
