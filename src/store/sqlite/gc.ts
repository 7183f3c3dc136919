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

const BATCH = 500;

export class BlobSweeper {
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Immediate | null = null;
  /** Hashes trashed by recent commits, swept soon without scanning the whole trash. */
  private recent = new Set<string>();
  private running: Promise<number> | null = null;
  private stopped = false;

  constructor(
    private readonly sql: Sql,
    private readonly committer: Committer,
    private readonly blobs: BlobStore,
    private readonly graceMs: number,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => this.sweepInBackground(), this.intervalMs);
    this.timer.unref();
  }

  /** After a commit that trashed these blobs: look at them soon (most are old and can go at once). */
  schedule(hashes: readonly string[]): void {
    if (this.stopped) return;
    for (const hash of hashes) this.recent.add(hash);
    if (this.soon) return;
    this.soon = setImmediate(() => {
      this.soon = null;
      if (this.running) {
        // A sweep is in progress; try again when it is done.
        const retry = (): void => this.schedule([]);
        this.running.then(retry, retry);
        return;
      }
      const hashes = [...this.recent];
      this.recent = new Set();
      if (hashes.length === 0) return;
      this.track(this.sweepHashes(hashes)).catch(this.onError);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearImmediate(this.soon);
    this.timer = null;
    this.soon = null;
    await this.running?.catch(() => 0);
  }

  /** One full pass over blob_trash; returns the number of blob files deleted. */
  sweep(): Promise<number> {
    if (this.running) return this.running.then(() => this.sweep());
    return this.track(this.sweepAll());
  }

  private track(run: Promise<number>): Promise<number> {
    const tracked = run.finally(() => {
      this.running = null;
    });
    this.running = tracked;
    return tracked;
  }

  /** Deletes `hash` if nothing references it and it is stale; true when the file went. */
  async removeOrphan(hash: string): Promise<boolean> {
    if (this.isReferenced(hash)) return false;
    return (await this.blobs.removeIfStale(hash, this.graceMs)) === 'removed';
  }

  private sweepInBackground(): void {
    if (this.stopped || this.running) return;
    this.sweep().catch(this.onError);
  }

  private async sweepAll(): Promise<number> {
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
  private async sweepHashes(hashes: readonly string[]): Promise<number> {
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
