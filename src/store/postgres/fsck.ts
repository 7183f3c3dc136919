/**
 * StoreChecker for PostgreSQL (src/store/checker.ts): the same facts as the SQLite checker, read
 * in one REPEATABLE READ transaction (one snapshot, so other nodes committing meanwhile cannot make
 * a counter look wrong). Blobs live in the database here: a "stored blob" is a `blobs` row, its
 * size is what its chunks add up to, and its index is a column of that row (never missing).
 * Repairs run as ordinary store writes.
 * @module
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { AccountFacts, BlobReference, FsckFacts, FsckRepair, MailboxFacts, MessageLocation, StoreChecker, StoredBlob } from '../checker.js';
import { toAccountFacts, toMailboxFacts } from '../rows.js';
import type { AccountFactsRow, MailboxFactsRow } from '../rows.js';
import { SystemFlag } from '../types.js';
import type { Queryable } from './db.js';
import { rows, storeErrorOf } from './db.js';
import type { PgTx } from './tx.js';

const MESSAGE_KINDS = "('added', 'flags', 'expunged')";
const SAMPLES_PER_BLOB = 3;
const REFERENCED = (hash: string): string =>
  `(EXISTS (SELECT 1 FROM messages WHERE blob_hash = ${hash}) OR EXISTS (SELECT 1 FROM queue WHERE blob_hash = ${hash}))`;

export interface PgCheckerDeps {
  pool: pg.Pool;
  write<T>(work: (tx: PgTx) => Promise<T>): Promise<T>;
}

export class PgChecker implements StoreChecker {
  /**
   * No grace period: a `blobs` row is written by the transaction that references it, and one that
   * loses its last reference is trashed by the same transaction, so an unreferenced, untrashed row
   * is never a write in progress.
   */
  readonly blobGraceMs = 0;

  constructor(private readonly deps: PgCheckerDeps) {}

  async fsckFacts(sampleLimit: number): Promise<FsckFacts> {
    const limit = Math.max(1, Math.floor(sampleLimit));
    let client: pg.PoolClient;
    try {
      client = await this.deps.pool.connect();
    } catch (err) {
      throw storeErrorOf(err);
    }
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const facts = await readFacts(client, limit);
      await client.query('COMMIT');
      return facts;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw storeErrorOf(err);
    } finally {
      client.release();
    }
  }

  async inspectBlob(hash: string, deep: boolean): Promise<{ size: number; sha256?: string } | null> {
    const [blob] = await rows<{ data_id: number; stored: number }>(
      this.deps.pool,
      'SELECT b.data_id, (SELECT coalesce(sum(length(c.data)), 0) FROM blob_chunks c WHERE c.data_id = b.data_id) AS stored FROM blobs b WHERE b.hash = $1',
      [hash],
    );
    if (!blob) return null;
    if (!deep) return { size: blob.stored };
    const digest = createHash('sha256');
    // One chunk per query: a blob of any size is read with bounded memory.
    for (let seq = 0; ; seq++) {
      const [chunk] = await rows<{ data: Buffer }>(this.deps.pool, 'SELECT data FROM blob_chunks WHERE data_id = $1 AND seq = $2', [blob.data_id, seq]);
      if (!chunk) break;
      digest.update(chunk.data);
    }
    return { size: blob.stored, sha256: digest.digest('hex') };
  }

  async *listBlobs(): AsyncIterable<StoredBlob> {
    let after = '';
    for (;;) {
      const page = await rows<{ hash: string; created_at: number }>(this.deps.pool, 'SELECT hash, created_at FROM blobs WHERE hash > $1 ORDER BY hash LIMIT 500', [after]);
      for (const blob of page) yield { hash: blob.hash, ageMs: Date.now() - blob.created_at };
      const last = page[page.length - 1];
      if (!last || page.length < 500) return;
      after = last.hash;
    }
  }

  async blobState(hash: string): Promise<'referenced' | 'trashed' | 'unreferenced'> {
    const [state] = await rows<{ referenced: boolean; trashed: boolean }>(
      this.deps.pool,
      `SELECT ${REFERENCED('$1')} AS referenced, EXISTS (SELECT 1 FROM blob_trash WHERE hash = $1) AS trashed`,
      [hash],
    );
    return state?.referenced ? 'referenced' : state?.trashed ? 'trashed' : 'unreferenced';
  }

  repair(action: FsckRepair): Promise<void> {
    return this.deps.write((tx) => applyRepair(tx, action));
  }
}

async function readFacts(db: Queryable, limit: number): Promise<FsckFacts> {
  const blobs = await readBlobReferences(db);
  return {
    mailboxes: await readMailboxes(db),
    accounts: await readAccounts(db),
    blobs,
    // The index is a NOT NULL column of the blob row, which the foreign keys keep.
    missingIndex: [],
    unusedIndex: [],
    trash: (await rows<{ hash: string; referenced: boolean }>(db, `SELECT t.hash, ${REFERENCED('t.hash')} AS referenced FROM blob_trash t ORDER BY t.hash`)).map((row) => ({
      hash: row.hash,
      referenced: row.referenced,
    })),
    ...(await readLogConsistency(db, limit)),
  };
}

async function readMailboxes(db: Queryable): Promise<MailboxFacts[]> {
  const found = await rows<MailboxFactsRow>(
    db,
    `SELECT b.id, b.account_id, a.address, b.name, b.uidnext, b.highest_modseq, b.message_count, b.unseen_count, b.total_size,
            coalesce(m.n, 0) AS n, coalesce(m.unseen, 0) AS unseen, coalesce(m.size, 0) AS size,
            coalesce(m.max_uid, 0) AS max_uid, coalesce(m.max_modseq, 0) AS max_modseq, l.logged_uid, l.logged_modseq
       FROM mailboxes b
       JOIN accounts a ON a.id = b.account_id
       LEFT JOIN (SELECT mailbox_id, count(*) AS n, count(*) FILTER (WHERE (flags & ${SystemFlag.Seen}) = 0) AS unseen,
                         sum(size) AS size, max(uid) AS max_uid, max(modseq) AS max_modseq
                    FROM messages GROUP BY mailbox_id) m ON m.mailbox_id = b.id
       LEFT JOIN (SELECT mailbox_id, max(uid) AS logged_uid, max(modseq) AS logged_modseq FROM changes
                   WHERE kind IN ${MESSAGE_KINDS} GROUP BY mailbox_id) l ON l.mailbox_id = b.id
      ORDER BY a.address, b.name`,
  );
  return found.map(toMailboxFacts);
}

async function readAccounts(db: Queryable): Promise<AccountFacts[]> {
  const found = await rows<AccountFactsRow>(
    db,
    `SELECT a.id, a.address, a.used_bytes, a.used_messages, a.modseq,
            coalesce(u.bytes, 0) AS bytes, coalesce(u.messages, 0) AS messages,
            greatest(coalesce(u.max_modseq, 0), coalesce(b.max_modseq, 0), coalesce(c.max_modseq, 0)) AS max_modseq
       FROM accounts a
       LEFT JOIN (SELECT b.account_id, sum(m.size) AS bytes, count(*) AS messages, max(m.modseq) AS max_modseq
                    FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id GROUP BY b.account_id) u ON u.account_id = a.id
       LEFT JOIN (SELECT account_id, max(highest_modseq) AS max_modseq FROM mailboxes GROUP BY account_id) b ON b.account_id = a.id
       LEFT JOIN (SELECT account_id, max(modseq) AS max_modseq FROM changes GROUP BY account_id) c ON c.account_id = a.id
      ORDER BY a.address`,
  );
  return found.map(toAccountFacts);
}

async function readBlobReferences(db: Queryable): Promise<BlobReference[]> {
  const byHash = new Map<string, BlobReference>();
  const entry = (hash: string): BlobReference => {
    let found = byHash.get(hash);
    if (!found) {
      found = { hash, sizes: [], messages: 0, queueEntries: 0, samples: [] };
      byHash.set(hash, found);
    }
    return found;
  };
  // One row per hash and implied size, with a few places for the report.
  const grouped = await rows<{ hash: string; blob_size: number; n: number; samples: string[] }>(
    db,
    `SELECT m.blob_hash AS hash, m.size - coalesce(length(m.prefix), 0) AS blob_size, count(*) AS n,
            (array_agg(a.address || '/' || b.name || ' uid ' || m.uid ORDER BY m.id))[1:${SAMPLES_PER_BLOB}] AS samples
       FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id
      GROUP BY 1, 2`,
  );
  for (const row of grouped) {
    const ref = entry(row.hash);
    ref.messages += row.n;
    if (!ref.sizes.includes(row.blob_size)) ref.sizes.push(row.blob_size);
    for (const sample of row.samples) if (ref.samples.length < SAMPLES_PER_BLOB) ref.samples.push(sample);
  }
  for (const row of await rows<{ id: number; blob_hash: string; size: number }>(db, 'SELECT id, blob_hash, size FROM queue')) {
    const ref = entry(row.blob_hash);
    ref.queueEntries++;
    if (!ref.sizes.includes(row.size)) ref.sizes.push(row.size);
    if (ref.samples.length < SAMPLES_PER_BLOB) ref.samples.push(`queue #${row.id}`);
  }
  return [...byHash.values()].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
}

/**
 * As in the SQLite checker: a message whose "added" entry may have been pruned (its account's log
 * was pruned and its UID is below every "added" entry kept for its mailbox) is not reported.
 */
const PRUNED_ADD = `(EXISTS (SELECT 1 FROM changes_pruned p WHERE p.account_id = b.account_id)
  AND m.uid < coalesce((SELECT min(f.uid) FROM logged f WHERE f.mailbox_id = m.mailbox_id AND f.added), ${Number.MAX_SAFE_INTEGER}))`;

/** Same three checks as the SQLite checker, with the logged (mailbox, uid) pairs as a CTE. */
async function readLogConsistency(db: Queryable, limit: number): Promise<Pick<FsckFacts, 'unlogged' | 'vanished' | 'reusedUids'>> {
  const logged = `logged AS (SELECT mailbox_id, uid, bool_or(kind = 'added') AS added, bool_or(kind = 'expunged') AS expunged FROM changes
                   WHERE kind IN ('added', 'expunged') AND mailbox_id IS NOT NULL AND uid IS NOT NULL GROUP BY mailbox_id, uid)`;
  const place = 'JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id';
  const locations = async (from: string, uidColumn: string): Promise<{ count: number; samples: MessageLocation[] }> => {
    const [counted] = await rows<{ n: number }>(db, `WITH ${logged} SELECT count(*) AS n ${from}`);
    const count = counted?.n ?? 0;
    if (count === 0) return { count, samples: [] };
    const samples = await rows<MessageLocation>(db, `WITH ${logged} SELECT a.address, b.name AS mailbox, ${uidColumn} AS uid ${from} ORDER BY 1, 2, 3 LIMIT $1`, [limit]);
    return { count, samples };
  };
  return {
    unlogged: await locations(
      `FROM messages m ${place} LEFT JOIN logged l ON l.mailbox_id = m.mailbox_id AND l.uid = m.uid
        WHERE NOT coalesce(l.added, false) AND NOT ${PRUNED_ADD}`,
      'm.uid',
    ),
    reusedUids: await locations(`FROM messages m ${place} JOIN logged l ON l.mailbox_id = m.mailbox_id AND l.uid = m.uid WHERE l.expunged`, 'm.uid'),
    vanished: await locations(
      `FROM logged l JOIN mailboxes b ON b.id = l.mailbox_id JOIN accounts a ON a.id = b.account_id
         LEFT JOIN messages m ON m.mailbox_id = l.mailbox_id AND m.uid = l.uid
        WHERE l.added AND NOT l.expunged AND m.id IS NULL`,
      'l.uid',
    ),
  };
}

async function applyRepair(tx: PgTx, action: FsckRepair): Promise<void> {
  switch (action.kind) {
    case 'mailboxCounters': {
      // The account row first: every writer of the account's mail takes it (lock order, tx.ts).
      await tx.run('SELECT 1 FROM accounts WHERE id = (SELECT account_id FROM mailboxes WHERE id = $1) FOR NO KEY UPDATE', [action.mailboxId]);
      await tx.run(
        `UPDATE mailboxes SET
           message_count = (SELECT count(*) FROM messages WHERE mailbox_id = mailboxes.id),
           unseen_count = (SELECT count(*) FROM messages WHERE mailbox_id = mailboxes.id AND (flags & ${SystemFlag.Seen}) = 0),
           total_size = (SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = mailboxes.id),
           uidnext = greatest(uidnext,
                              (SELECT coalesce(max(uid), 0) + 1 FROM messages WHERE mailbox_id = mailboxes.id),
                              (SELECT coalesce(max(uid), 0) + 1 FROM changes WHERE mailbox_id = mailboxes.id AND kind IN ${MESSAGE_KINDS})),
           highest_modseq = greatest(highest_modseq,
                                     (SELECT coalesce(max(modseq), 0) FROM messages WHERE mailbox_id = mailboxes.id),
                                     (SELECT coalesce(max(modseq), 0) FROM changes WHERE mailbox_id = mailboxes.id AND kind IN ${MESSAGE_KINDS}))
         WHERE id = $1`,
        [action.mailboxId],
      );
      return;
    }
    case 'accountUsage':
      await tx.run(
        `UPDATE accounts SET
           used_bytes = (SELECT coalesce(sum(m.size), 0) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = accounts.id),
           used_messages = (SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = accounts.id),
           modseq = greatest(modseq,
                             (SELECT coalesce(max(m.modseq), 0) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = accounts.id),
                             (SELECT coalesce(max(highest_modseq), 0) FROM mailboxes WHERE account_id = accounts.id),
                             (SELECT coalesce(max(modseq), 0) FROM changes WHERE account_id = accounts.id))
         WHERE id = $1`,
        [action.accountId],
      );
      return;
    case 'trashBlob':
      // finish() trashes it only if nothing references it at commit time.
      tx.dropBlobReference(action.hash);
      return;
    case 'untrash':
      await tx.run(`DELETE FROM blob_trash WHERE hash = $1 AND ${REFERENCED('$1')}`, [action.hash]);
      return;
    case 'dropIndex':
      // The index is part of the blob row: nothing to drop on its own.
      return;
  }
}
