/**
 * Blob garbage collection on PostgreSQL. A transaction that removes the last row naming a hash
 * puts the hash in blob_trash (same transaction, PgTx.finish). The sweeper, soon after such
 * commits and periodically, deletes each trashed blob that no message or queue row references.
 *
 * Unlike the file store, no grace period is needed: the deletion runs in a transaction that the
 * foreign keys of `messages` and `queue` make fail if any node referenced the blob meanwhile, and a
 * transaction attaching the same bytes holds a KEY SHARE lock on the blob row that the deletion
 * waits for. Any number of nodes may sweep at once.
 * @module
 */
import type pg from 'pg';
import type { PgBlobStore } from './blobs.js';
import { rows, run } from './db.js';
import { TrashSweeper } from '../trash-sweeper.js';

const BATCH = 500;
/** Still named by a message or queue row. */
const REFERENCED = (hash: string): string =>
  `(EXISTS (SELECT 1 FROM messages WHERE blob_hash = ${hash}) OR EXISTS (SELECT 1 FROM queue WHERE blob_hash = ${hash}))`;

export class PgBlobSweeper extends TrashSweeper {
  constructor(
    private readonly pool: pg.Pool,
    private readonly blobs: PgBlobStore,
    intervalMs: number,
    onError: (err: unknown) => void,
  ) {
    super(intervalMs, onError);
  }

  /**
   * Recovery: blobs that nothing references and that are not in the trash (a crash can only
   * leave these if a trash row was lost); returns the number deleted.
   */
  async removeOrphans(): Promise<number> {
    let removed = 0;
    let after = '';
    for (;;) {
      const page = await rows<{ hash: string }>(
        this.pool,
        `SELECT b.hash FROM blobs b WHERE b.hash > $1 AND NOT ${REFERENCED('b.hash')} ORDER BY b.hash LIMIT ${BATCH}`,
        [after],
      );
      for (const { hash } of page) if ((await this.blobs.removeIfStale(hash, 0)) === 'removed') removed++;
      const last = page[page.length - 1];
      if (!last || page.length < BATCH) return removed;
      after = last.hash;
    }
  }

  protected override async sweepAll(): Promise<number> {
    let removed = 0;
    let after = '';
    for (;;) {
      const page = await rows<{ hash: string }>(this.pool, `SELECT hash FROM blob_trash WHERE hash > $1 ORDER BY hash LIMIT ${BATCH}`, [after]);
      const hashes = page.map((entry) => entry.hash);
      if (hashes.length === 0) return removed;
      after = hashes[hashes.length - 1] ?? after;
      removed += await this.sweepHashes(hashes);
      if (hashes.length < BATCH) return removed;
    }
  }

  /** Sweeps the given trashed hashes; returns the number of blobs deleted. */
  protected override async sweepHashes(hashes: readonly string[]): Promise<number> {
    const referenced = new Set(
      (await rows<{ h: string }>(this.pool, `SELECT h FROM unnest($1::text[]) AS h WHERE ${REFERENCED('h')}`, [[...hashes]])).map((r) => r.h),
    );
    let removed = 0;
    for (const hash of hashes) {
      if (referenced.has(hash)) continue;
      if ((await this.blobs.removeIfStale(hash, 0)) === 'removed') removed++;
    }
    // Forget trash rows whose blob is gone or referenced again, judged now: a hash trashed again
    // by an expunge that committed meanwhile keeps its row.
    await run(
      this.pool,
      `DELETE FROM blob_trash t WHERE t.hash = ANY($1::text[])
          AND (NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = t.hash) OR ${REFERENCED('t.hash')})`,
      [[...hashes]],
    );
    return removed;
  }
}
