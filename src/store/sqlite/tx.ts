/**
 * What one write operation sees inside the shared transaction: the account MODSEQ it was given,
 * the change log, and blob references it dropped.
 * @module
 */
import type { Change, Id } from '../types.js';
import { StoreError } from '../types.js';
import type { Sql } from './db.js';

type ChangeKind = Change['kind'];

export class Tx {
  /** Account → the MODSEQ this operation assigned (one per account per operation). */
  readonly touched = new Map<Id, number>();
  /** Hashes this operation queued in blob_trash. */
  readonly trashed: string[] = [];

  constructor(
    readonly sql: Sql,
    /** Wall clock of the batch, milliseconds (injectable for tests). */
    readonly now: number,
  ) {}

  /**
   * The account's next MODSEQ, assigned once per operation: every row the operation touches gets
   * it, so MODSEQs are strictly ascending in commit order (RFC 7162 3.1).
   */
  modseq(accountId: Id): number {
    const assigned = this.touched.get(accountId);
    if (assigned !== undefined) return assigned;
    const next = this.sql.value<number>('UPDATE accounts SET modseq = modseq + 1 WHERE id = ? RETURNING modseq', accountId);
    if (next === undefined) throw new StoreError('notFound', `no account ${accountId}`);
    this.touched.set(accountId, next);
    return next;
  }

  log(accountId: Id, modseq: number, kind: ChangeKind, mailboxId: Id | null, uid: number | null, data: object | null): void {
    this.sql.run(
      'INSERT INTO changes (account_id, modseq, kind, mailbox_id, uid, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      accountId,
      modseq,
      kind,
      mailboxId,
      uid,
      data === null ? null : JSON.stringify(data),
      this.now,
    );
  }

  /**
   * Called after rows naming `hash` were deleted: the last reference gone (message rows and
   * outbound queue entries) queues the blob for deletion.
   */
  dropBlobReference(hash: string): void {
    if (this.sql.value<number>('SELECT 1 FROM messages WHERE blob_hash = ? LIMIT 1', hash) !== undefined) return;
    if (this.sql.value<number>('SELECT 1 FROM queue WHERE blob_hash = ? LIMIT 1', hash) !== undefined) return;
    this.sql.run('DELETE FROM message_index WHERE blob_hash = ?', hash);
    this.sql.run('INSERT OR REPLACE INTO blob_trash (hash, queued_at) VALUES (?, ?)', hash, this.now);
    this.trashed.push(hash);
  }
}
