/**
 * One batch of change-log pruning on PostgreSQL (docs/storage.md, "Change-log pruning"): one
 * short transaction deleting a few hundred rows, safe while other nodes write and prune.
 *
 * Rows are taken oldest first by id and the batch stops at the first row young enough to keep.
 * Per account, ids follow MODSEQ order: a writer inserts its change rows at the end of its
 * transaction while it holds the account row lock, so the next MODSEQ of that account is inserted
 * after it commits. What goes is therefore, per account, a prefix in MODSEQ order, and
 * `changes_pruned` records the highest MODSEQ removed. Writers never touch `changes_pruned`, and
 * the batch takes no account lock, so it cannot hold up deliveries beyond its own row deletes.
 * @module
 */
import type { Id } from '../types.js';
import type { Queryable } from './db.js';
import { row } from './db.js';
import type { PgTx } from './tx.js';

interface CandidateRow {
  id: number;
  account_id: Id;
  modseq: number;
  created_at: number;
}

/** Deletes at most `limit` of the oldest rows written before `cutoffMs`; returns how many went. */
export async function pruneChangesBatch(tx: PgTx, cutoffMs: number, limit: number): Promise<number> {
  const candidates = await tx.rows<CandidateRow>('SELECT id, account_id, modseq, created_at FROM changes ORDER BY id LIMIT $1', [limit]);
  const ids: number[] = [];
  for (const candidate of candidates) {
    // Stop at the first young row, even if older ones follow (a clock set back): the prefix rule.
    if (candidate.created_at >= cutoffMs) break;
    ids.push(candidate.id);
  }
  if (ids.length === 0) return 0;
  // Rows another node deleted meanwhile are simply not returned; the marks come from what this
  // transaction deleted, in the same statement.
  const done = await tx.row<{ removed: number }>(
    `WITH gone AS (
       DELETE FROM changes WHERE id = ANY($1::bigint[]) RETURNING account_id, modseq
     ), marked AS (
       INSERT INTO changes_pruned (account_id, modseq)
       SELECT account_id, max(modseq) FROM gone GROUP BY account_id
       ON CONFLICT (account_id) DO UPDATE SET modseq = greatest(changes_pruned.modseq, EXCLUDED.modseq)
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM gone) AS removed, (SELECT count(*) FROM marked) AS marked`,
    [ids],
  );
  // Marks of deleted accounts are of no use any more (account ids are never reused).
  await tx.run('DELETE FROM changes_pruned p WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = p.account_id)');
  return done?.removed ?? 0;
}

/** The highest pruned MODSEQ of the account (0 when nothing was pruned). */
export async function prunedUpTo(db: Queryable, accountId: Id): Promise<number> {
  const found = await row<{ modseq: number }>(db, 'SELECT modseq FROM changes_pruned WHERE account_id = $1', [accountId]);
  return found?.modseq ?? 0;
}
