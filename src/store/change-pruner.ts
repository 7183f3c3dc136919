/**
 * When the change log of either backend is pruned (docs/storage.md, "Change-log pruning"): a pass
 * every `intervalMs` (default hourly) removes rows older than the retention, one small batch per
 * transaction with a pause between batches, so writers never wait long for the write lock. Never
 * two passes at once. What a batch deletes, and how it records what it deleted, is the backend's
 * (sqlite/prune.ts, postgres/prune.ts).
 * @module
 */

/** Rows deleted per transaction. */
export const PRUNE_BATCH = 500;
/** Batches per pass, at most: a huge backlog is worked off over several passes. */
const MAX_BATCHES_PER_PASS = 2000;

export interface ChangePrunerOptions {
  /** Period of the background pass; 0 disables the timer (pruneChanges still works). */
  intervalMs: number;
  /** Rows younger than this are kept. */
  retentionMs: number;
  now: () => number;
  /** One batch: deletes at most `limit` rows written before `cutoffMs`; returns how many went. */
  pruneBatch: (cutoffMs: number, limit: number) => Promise<number>;
  onError: (err: unknown) => void;
  /** After a pass that removed rows (logging). */
  onPruned?: (rows: number) => void;
}

export class ChangePruner {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private stopped = false;

  constructor(private readonly opts: ChangePrunerOptions) {}

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => this.pruneInBackground(), this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => 0);
  }

  /** One pass over rows written before `cutoffMs` (default: now minus the retention). */
  prune(cutoffMs = this.opts.now() - this.opts.retentionMs, batchSize = PRUNE_BATCH): Promise<number> {
    if (this.running) return this.running.catch(() => 0).then(() => this.prune(cutoffMs, batchSize));
    const run = this.pass(cutoffMs, Math.max(1, Math.floor(batchSize))).finally(() => {
      this.running = null;
    });
    this.running = run;
    return run;
  }

  private async pass(cutoffMs: number, batchSize: number): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_PASS && !this.stopped; batch++) {
      const removed = await this.opts.pruneBatch(cutoffMs, batchSize);
      total += removed;
      if (removed < batchSize) break;
      // Let the writers queued meanwhile commit before the next batch takes the lock again.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (total > 0) this.opts.onPruned?.(total);
    return total;
  }

  private pruneInBackground(): void {
    if (this.stopped || this.running) return;
    this.prune().catch(this.opts.onError);
  }
}
