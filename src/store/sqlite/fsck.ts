/**
 * StoreChecker for SQLite + blob files (src/store/checker.ts): the reads and repairs `mailhaven
 * fsck` needs. The facts are read in one read transaction, so a live server committing meanwhile
 * cannot make a counter look wrong; repairs go through the committer like every other write and
 * recompute from the rows inside their own transaction.
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FileBlobStore } from '../blobs/files.js';
import { errnoCode, fsStoreError } from '../blobs/fs-errors.js';
import type {
  AccountFacts,
  BlobReference,
  FsckFacts,
  FsckRepair,
  MailboxFacts,
  MessageLocation,
  StoreChecker,
  StoredBlob,
} from '../checker.js';
import { toAccountFacts, toMailboxFacts } from '../rows.js';
import type { AccountFactsRow, MailboxFactsRow } from '../rows.js';
import { SystemFlag } from '../types.js';
import { isBusy, storeErrorOf } from './db.js';
import type { Sql } from './db.js';
import type { Tx } from './tx.js';

/** Change-log kinds that name one message of one mailbox. */
const MESSAGE_KINDS = "('added', 'flags', 'expunged')";
const BUSY_RETRY_MS = 10_000;

export interface SqliteCheckerDeps {
  sql: Sql;
  blobs: FileBlobStore;
  blobGraceMs: number;
  /** Runs a write through the store's committer. */
  write<T>(run: (tx: Tx) => T): Promise<T>;
}

export class SqliteChecker implements StoreChecker {
  readonly blobGraceMs: number;

  constructor(private readonly deps: SqliteCheckerDeps) {
    this.blobGraceMs = deps.blobGraceMs;
  }

  async fsckFacts(sampleLimit: number): Promise<FsckFacts> {
    const limit = Math.max(1, Math.floor(sampleLimit));
    const read = this.deps.sql.db.transaction(() => readFacts(this.deps.sql, limit));
    const deadline = Date.now() + BUSY_RETRY_MS;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        return read.deferred();
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw storeErrorOf(err);
      }
      await sleep(delay);
    }
  }

  async inspectBlob(hash: string, deep: boolean): Promise<{ size: number; sha256?: string } | null> {
    const path = this.deps.blobs.pathOf(hash);
    try {
      const info = await stat(path);
      if (!deep) return { size: info.size };
      return { size: info.size, sha256: await sha256Of(path) };
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw fsStoreError(err, `reading blob ${hash}`);
    }
  }

  async *listBlobs(): AsyncIterable<StoredBlob> {
    for await (const hash of this.deps.blobs.listHashes()) {
      try {
        const info = await stat(this.deps.blobs.pathOf(hash));
        yield { hash, ageMs: Date.now() - info.mtimeMs };
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw fsStoreError(err, `reading blob ${hash}`);
      }
    }
  }

  blobState(hash: string): Promise<'referenced' | 'trashed' | 'unreferenced'> {
    const sql = this.deps.sql;
    return Promise.resolve(
      isReferenced(sql, hash) ? 'referenced' : sql.value<number>('SELECT 1 FROM blob_trash WHERE hash = ?', hash) !== undefined ? 'trashed' : 'unreferenced',
    );
  }

  repair(action: FsckRepair): Promise<void> {
    return this.deps.write((tx) => applyRepair(tx, action));
  }
}

function readFacts(sql: Sql, limit: number): FsckFacts {
  return {
    mailboxes: readMailboxes(sql),
    accounts: readAccounts(sql),
    blobs: readBlobReferences(sql),
    missingIndex: sql.column<string>(
      `SELECT DISTINCT m.blob_hash FROM messages m WHERE NOT EXISTS (SELECT 1 FROM message_index i WHERE i.blob_hash = m.blob_hash) ORDER BY 1`,
    ),
    unusedIndex: sql.column<string>(
      `SELECT i.blob_hash FROM message_index i WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_hash = i.blob_hash)
         AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.blob_hash = i.blob_hash) ORDER BY 1`,
    ),
    trash: sql
      .all<{ hash: string; referenced: number }>(
        `SELECT t.hash, (EXISTS (SELECT 1 FROM messages m WHERE m.blob_hash = t.hash) OR EXISTS (SELECT 1 FROM queue q WHERE q.blob_hash = t.hash)) AS referenced
           FROM blob_trash t ORDER BY t.hash`,
      )
      .map((row) => ({ hash: row.hash, referenced: row.referenced !== 0 })),
    ...readLogConsistency(sql, limit),
  };
}

function readMailboxes(sql: Sql): MailboxFacts[] {
  const rows = sql.all<MailboxFactsRow>(
    `SELECT b.id, b.account_id, a.address, b.name, b.uidnext, b.highest_modseq, b.message_count, b.unseen_count, b.total_size,
            count(m.id) AS n, coalesce(sum((m.flags & ${SystemFlag.Seen}) = 0), 0) AS unseen, coalesce(sum(m.size), 0) AS size,
            coalesce(max(m.uid), 0) AS max_uid, coalesce(max(m.modseq), 0) AS max_modseq,
            l.logged_uid, l.logged_modseq
       FROM mailboxes b
       JOIN accounts a ON a.id = b.account_id
       LEFT JOIN messages m ON m.mailbox_id = b.id
       LEFT JOIN (SELECT mailbox_id, max(uid) AS logged_uid, max(modseq) AS logged_modseq FROM changes
                   WHERE kind IN ${MESSAGE_KINDS} GROUP BY mailbox_id) l ON l.mailbox_id = b.id
      GROUP BY b.id ORDER BY a.address, b.name`,
  );
  return rows.map(toMailboxFacts);
}

function readAccounts(sql: Sql): AccountFacts[] {
  const rows = sql.all<AccountFactsRow>(
    `SELECT a.id, a.address, a.used_bytes, a.used_messages, a.modseq,
            coalesce(u.bytes, 0) AS bytes, coalesce(u.messages, 0) AS messages,
            max(coalesce(u.max_modseq, 0), coalesce(b.max_modseq, 0), coalesce(c.max_modseq, 0)) AS max_modseq
       FROM accounts a
       LEFT JOIN (SELECT b.account_id, sum(m.size) AS bytes, count(*) AS messages, max(m.modseq) AS max_modseq
                    FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id GROUP BY b.account_id) u ON u.account_id = a.id
       LEFT JOIN (SELECT account_id, max(highest_modseq) AS max_modseq FROM mailboxes GROUP BY account_id) b ON b.account_id = a.id
       LEFT JOIN (SELECT account_id, max(modseq) AS max_modseq FROM changes GROUP BY account_id) c ON c.account_id = a.id
      ORDER BY a.address`,
  );
  return rows.map(toAccountFacts);
}

const SAMPLES_PER_BLOB = 3;

function readBlobReferences(sql: Sql): BlobReference[] {
  const byHash = new Map<string, BlobReference>();
  const entry = (hash: string): BlobReference => {
    let found = byHash.get(hash);
    if (!found) {
      found = { hash, sizes: [], messages: 0, queueEntries: 0, samples: [] };
      byHash.set(hash, found);
    }
    return found;
  };
  const addSize = (ref: BlobReference, size: number): void => {
    if (!ref.sizes.includes(size)) ref.sizes.push(size);
  };
  const messages = sql.db
    .prepare(
      `SELECT m.blob_hash AS hash, m.size - coalesce(length(m.prefix), 0) AS blob_size, m.uid, b.name, a.address
         FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id`,
    )
    .iterate() as IterableIterator<{ hash: string; blob_size: number; uid: number; name: string; address: string }>;
  for (const row of messages) {
    const ref = entry(row.hash);
    ref.messages++;
    addSize(ref, row.blob_size);
    if (ref.samples.length < SAMPLES_PER_BLOB) ref.samples.push(`${row.address}/${row.name} uid ${row.uid}`);
  }
  for (const row of sql.all<{ id: number; blob_hash: string; size: number }>('SELECT id, blob_hash, size FROM queue')) {
    const ref = entry(row.blob_hash);
    ref.queueEntries++;
    addSize(ref, row.size);
    if (ref.samples.length < SAMPLES_PER_BLOB) ref.samples.push(`queue #${row.id}`);
  }
  return [...byHash.values()].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
}

/**
 * A message whose "added" entry may have been pruned (docs/storage.md, "Change-log pruning"):
 * its account's log was pruned and its UID is below every "added" entry still kept for its
 * mailbox. Pruning removes a prefix of each account's log, and UIDs of a mailbox are assigned in
 * log order, so every message added before the kept entries has a lower UID.
 */
const PRUNED_ADD = `(EXISTS (SELECT 1 FROM changes_pruned p WHERE p.account_id = b.account_id)
  AND m.uid < coalesce((SELECT min(f.uid) FROM temp.fsck_logged f WHERE f.mailbox_id = m.mailbox_id AND f.added = 1), ${Number.MAX_SAFE_INTEGER}))`;

/**
 * The change log against the message rows, in one pass over each (no index on changes(mailbox_id,
 * uid) is needed): every live message was logged as added (unless that entry was pruned) and never
 * as expunged, and every message logged as added to a mailbox that still exists is either there or
 * logged as expunged (an expunge is logged after its add, so pruning never keeps one without the other).
 */
function readLogConsistency(sql: Sql, limit: number): Pick<FsckFacts, 'unlogged' | 'vanished' | 'reusedUids'> {
  sql.exec(`CREATE TEMP TABLE IF NOT EXISTS fsck_logged (mailbox_id INTEGER, uid INTEGER, added INTEGER, expunged INTEGER, PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID`);
  sql.exec('DELETE FROM temp.fsck_logged');
  sql.exec(`INSERT INTO temp.fsck_logged SELECT mailbox_id, uid, max(kind = 'added'), max(kind = 'expunged') FROM changes
             WHERE kind IN ('added', 'expunged') AND mailbox_id IS NOT NULL AND uid IS NOT NULL GROUP BY mailbox_id, uid`);
  try {
    const place = 'JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id';
    return {
      unlogged: readLocations(
        sql,
        `FROM messages m ${place} LEFT JOIN temp.fsck_logged l ON l.mailbox_id = m.mailbox_id AND l.uid = m.uid
          WHERE coalesce(l.added, 0) = 0 AND NOT ${PRUNED_ADD}`,
        'm.uid',
        limit,
      ),
      reusedUids: readLocations(sql, `FROM messages m ${place} JOIN temp.fsck_logged l ON l.mailbox_id = m.mailbox_id AND l.uid = m.uid WHERE l.expunged = 1`, 'm.uid', limit),
      vanished: readLocations(
        sql,
        `FROM temp.fsck_logged l JOIN mailboxes b ON b.id = l.mailbox_id JOIN accounts a ON a.id = b.account_id
           LEFT JOIN messages m ON m.mailbox_id = l.mailbox_id AND m.uid = l.uid
          WHERE l.added = 1 AND l.expunged = 0 AND m.id IS NULL`,
        'l.uid',
        limit,
      ),
    };
  } finally {
    sql.exec('DELETE FROM temp.fsck_logged');
  }
}

function readLocations(sql: Sql, from: string, uidColumn: string, limit: number): { count: number; samples: MessageLocation[] } {
  const count = sql.value<number>(`SELECT count(*) ${from}`) ?? 0;
  if (count === 0) return { count, samples: [] };
  const samples = sql.all<MessageLocation>(`SELECT a.address, b.name AS mailbox, ${uidColumn} AS uid ${from} ORDER BY a.address, b.name, ${uidColumn} LIMIT ?`, limit);
  return { count, samples };
}

function isReferenced(sql: Sql, hash: string): boolean {
  return (
    sql.value<number>('SELECT 1 FROM messages WHERE blob_hash = ? LIMIT 1', hash) !== undefined ||
    sql.value<number>('SELECT 1 FROM queue WHERE blob_hash = ? LIMIT 1', hash) !== undefined
  );
}

function applyRepair(tx: Tx, action: FsckRepair): void {
  const sql = tx.sql;
  switch (action.kind) {
    case 'mailboxCounters':
      sql.run(
        `UPDATE mailboxes SET
           message_count = (SELECT count(*) FROM messages WHERE mailbox_id = mailboxes.id),
           unseen_count = (SELECT count(*) FROM messages WHERE mailbox_id = mailboxes.id AND (flags & ${SystemFlag.Seen}) = 0),
           total_size = (SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = mailboxes.id),
           uidnext = max(uidnext,
                         (SELECT coalesce(max(uid), 0) + 1 FROM messages WHERE mailbox_id = mailboxes.id),
                         (SELECT coalesce(max(uid), 0) + 1 FROM changes WHERE mailbox_id = mailboxes.id AND kind IN ${MESSAGE_KINDS})),
           highest_modseq = max(highest_modseq,
                                (SELECT coalesce(max(modseq), 0) FROM messages WHERE mailbox_id = mailboxes.id),
                                (SELECT coalesce(max(modseq), 0) FROM changes WHERE mailbox_id = mailboxes.id AND kind IN ${MESSAGE_KINDS}))
         WHERE id = ?`,
        action.mailboxId,
      );
      return;
    case 'accountUsage':
      sql.run(
        `UPDATE accounts SET
           used_bytes = (SELECT coalesce(sum(m.size), 0) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = accounts.id),
           used_messages = (SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = accounts.id),
           modseq = max(modseq,
                        (SELECT coalesce(max(m.modseq), 0) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = accounts.id),
                        (SELECT coalesce(max(highest_modseq), 0) FROM mailboxes WHERE account_id = accounts.id),
                        (SELECT coalesce(max(modseq), 0) FROM changes WHERE account_id = accounts.id))
         WHERE id = ?`,
        action.accountId,
      );
      return;
    case 'trashBlob':
      // Checked again inside the transaction: a delivery may have named the blob since the scan.
      if (!isReferenced(sql, action.hash)) tx.dropBlobReference(action.hash);
      return;
    case 'dropIndex':
      if (!isReferenced(sql, action.hash)) sql.run('DELETE FROM message_index WHERE blob_hash = ?', action.hash);
      return;
    case 'untrash':
      if (isReferenced(sql, action.hash)) sql.run('DELETE FROM blob_trash WHERE hash = ?', action.hash);
      return;
  }
}

function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
