/**
 * Blob garbage collection. A transaction that removes the last row naming a hash puts the hash in
 * blob_trash (same transaction). The sweeper, after commits and periodically, deletes a trashed
 * blob only when no row names it, no writer of this process has it staged, and its file is older
 * than the grace period. The grace period covers writers in other processes (the CLI importer):
 * a writer always renames a freshly written file over the final name before committing, so a blob
 * about to be referenced again always looks young (see FileBlobStore.removeIfStale).
 * @module
 */
import type { BlobStore } from '../blobs/types.js';
import type { Committer } from './committer.js';
import type { Sql } from './db.js';
import { TrashSweeper } from '../trash-sweeper.js';

const BATCH = 500;

export class BlobSweeper extends TrashSweeper {
  constructor(
    private readonly sql: Sql,
    private readonly committer: Committer,
    private readonly blobs: BlobStore,
    private readonly graceMs: number,
    intervalMs: number,
    onError: (err: unknown) => void,
  ) {
    super(intervalMs, onError);
  }

  /**
   * Deletes `hash` if nothing references it and it is stale; true when the file went. A young
   * orphan (a crash between a blob's rename and its commit) is queued in blob_trash instead, so
   * the periodic sweep deletes it once its grace period is over rather than at the next restart.
   */
  async removeOrphan(hash: string): Promise<boolean> {
    if (this.isReferenced(hash)) return false;
    const outcome = await this.blobs.removeIfStale(hash, this.graceMs);
    if (outcome === 'kept') await this.committer.submit([], (tx) => tx.dropBlobReference(hash));
    return outcome === 'removed';
  }

  protected override async sweepAll(): Promise<number> {
    let removed = 0;
    let after = '';
    for (;;) {
      const hashes = this.sql.column<string>('SELECT hash FROM blob_trash WHERE hash > ? ORDER BY hash LIMIT ?', after, BATCH);
      if (hashes.length === 0) return removed;
      after = hashes[hashes.length - 1] ?? after;
      removed += await this.sweepHashes(hashes);
      if (hashes.length < BATCH) return removed;
    }
  }

  /** Sweeps the given trashed hashes; returns the number of blob files deleted. */
  protected override async sweepHashes(hashes: readonly string[]): Promise<number> {
    let removed = 0;
    const settled: string[] = [];
    for (const hash of hashes) {
      if (this.isReferenced(hash)) {
        settled.push(hash);
        continue;
      }
      const outcome = await this.blobs.removeIfStale(hash, this.graceMs);
      if (outcome === 'removed') removed++;
      if (outcome !== 'kept') settled.push(hash);
    }
    if (settled.length > 0) await this.forget(settled);
    return removed;
  }

  /** A message row or an outbound queue entry still needs the blob. */
  private isReferenced(hash: string): boolean {
    return (
      this.sql.value<number>('SELECT 1 FROM messages WHERE blob_hash = ? LIMIT 1', hash) !== undefined ||
      this.sql.value<number>('SELECT 1 FROM queue WHERE blob_hash = ? LIMIT 1', hash) !== undefined
    );
  }

  /** Trash rows whose blob is gone or referenced again. */
  private forget(hashes: string[]): Promise<void> {
    return this.committer.submit([], (tx) => {
      tx.sql.run('DELETE FROM blob_trash WHERE hash IN (SELECT value FROM json_each(?))', JSON.stringify(hashes));
    });
  }
}
