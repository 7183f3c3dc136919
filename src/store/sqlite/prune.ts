/**
 * One batch of change-log pruning on SQLite (docs/storage.md, "Change-log pruning"), run as one
 * operation of a group commit, so it holds the write lock for a few hundred row deletes at most.
 *
 * Rows are taken oldest first by id, which is commit order (AUTOINCREMENT, one writer at a time),
 * and the batch stops at the first row young enough to keep. So what is deleted is always a prefix
 * of the log, and for each account a prefix in MODSEQ order: everything at or below the MODSEQ
 * recorded in `changes_pruned` may be gone, everything above it is kept. `changesSince` compares
 * `since` with that mark to tell readers when their history is incomplete.
 * @module
 */
import type { Id } from '../types.js';
import type { Sql } from './db.js';
import type { Tx } from './tx.js';

interface CandidateRow {
  id: number;
  account_id: Id;
  modseq: number;
  created_at: number;
}

/** Deletes at most `limit` of the oldest rows written before `cutoffMs`; returns how many went. */
export function pruneChangesBatch(tx: Tx, cutoffMs: number, limit: number): number {
  const candidates = tx.sql.all<CandidateRow>('SELECT id, account_id, modseq, created_at FROM changes ORDER BY id LIMIT ?', limit);
  const highest = new Map<Id, number>();
  let lastId = 0;
  for (const row of candidates) {
    // Stop at the first young row, even if older ones follow (a clock set back): the prefix rule.
    if (row.created_at >= cutoffMs) break;
    lastId = row.id;
    highest.set(row.account_id, Math.max(highest.get(row.account_id) ?? 0, row.modseq));
  }
  if (lastId === 0) return 0;
  const removed = tx.sql.run('DELETE FROM changes WHERE id <= ?', lastId).changes;
  for (const [accountId, modseq] of highest) {
    tx.sql.run(
      `INSERT INTO changes_pruned (account_id, modseq) VALUES (?, ?)
       ON CONFLICT (account_id) DO UPDATE SET modseq = max(modseq, excluded.modseq)`,
      accountId,
      modseq,
    );
  }
  // Marks of deleted accounts are of no use any more (account ids are never reused).
  tx.sql.run('DELETE FROM changes_pruned WHERE account_id NOT IN (SELECT id FROM accounts)');
  return removed;
}

/** The highest pruned MODSEQ of the account (0 when nothing was pruned). */
export function prunedUpTo(sql: Sql, accountId: Id): number {
  return sql.value<number>('SELECT modseq FROM changes_pruned WHERE account_id = ?', accountId) ?? 0;
}
