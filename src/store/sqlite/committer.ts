/**
 * Group commit. Write operations are queued; one flush (scheduled with setImmediate) takes every
 * queued operation, promotes their blobs (rename + one fsync per directory), then runs them all in
 * ONE SQLite transaction, each inside a SAVEPOINT so one operation's error fails only that
 * operation, and commits once. 20 concurrent appends therefore cost about one WAL fsync, not 20.
 *
 * The transaction itself is synchronous (better-sqlite3), so no read ever sees it half done.
 * `busy_timeout` is 0: when another connection holds the write lock, BEGIN fails at once with
 * SQLITE_BUSY and the batch is retried later from a timer, never by blocking the event loop,
 * until each operation's deadline; then that operation fails with StoreError('busy').
 * @module
 */
import type { BlobStore } from '../blobs/types.js';
import type { StagedBlob } from '../types.js';
import { StoreError } from '../types.js';
import { isBusy, storeErrorOf } from './db.js';
import type { Sql } from './db.js';
import { Tx } from './tx.js';

export interface CommitterOptions {
  sql: Sql;
  blobs: BlobStore;
  /** How long an operation may wait for the write lock, milliseconds. */
  busyRetryMs: number;
  /** Clock for Tx.now (injectable), milliseconds. */
  now: () => number;
  /** Runs synchronously right after each commit, with the transactions of the operations that succeeded. */
  onCommitted: (txs: readonly Tx[]) => void;
  /** Promoted blobs of operations that failed: they may now be referenced by nothing. */
  onOrphanedBlobs: (hashes: readonly string[]) => void;
  /** Operations per transaction, at most. */
  maxBatch?: number;
  /** Called right after each COMMIT returned (tests check the durability order). */
  onCommit?: () => void;
}

export interface CommitterStats {
  /** Transactions committed (each may carry many operations). */
  commits: number;
  /** Operations that succeeded. */
  operations: number;
  /** Operations that failed (their own error or the batch's). */
  failures: number;
  /** Times a batch found the database locked and was retried later. */
  busyRetries: number;
}

interface QueuedOp {
  blobs: readonly StagedBlob[];
  run: (tx: Tx) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  deadline: number;
  promoted: boolean;
}

type Outcome = { op: QueuedOp; ok: true; value: unknown; tx: Tx } | { op: QueuedOp; ok: false; error: unknown };

const MIN_BACKOFF_MS = 1;
const MAX_BACKOFF_MS = 50;

export class Committer {
  readonly stats: CommitterStats = { commits: 0, operations: 0, failures: 0, busyRetries: 0 };
  private queue: QueuedOp[] = [];
  private running = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private backoffMs = 0;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  /** Operations already rejected, so an operation is never settled twice. */
  private readonly failed = new WeakSet<QueuedOp>();
  private readonly maxBatch: number;

  constructor(private readonly opts: CommitterOptions) {
    this.maxBatch = opts.maxBatch ?? 500;
  }

  /** Queues a write; `run` executes inside the shared transaction and must be synchronous. */
  submit<T>(blobs: readonly StagedBlob[], run: (tx: Tx) => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('cannot', 'the store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        blobs,
        run,
        resolve: resolve as (value: unknown) => void,
        reject,
        deadline: Date.now() + this.opts.busyRetryMs,
        promoted: false,
      });
      this.schedule();
    });
  }

  /**
   * Resolves once everything queued has been committed or failed, then refuses new work. Work
   * queued while draining (the store's own follow-ups, such as orphan blobs) is still done.
   */
  async close(): Promise<void> {
    await this.idle();
    this.closed = true;
  }

  /** Resolves when the queue is empty and no flush runs. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && !this.running && this.timer === null) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.running || this.timer !== null) return;
    if (this.backoffMs > 0) {
      this.timer = setTimeout(() => this.startFlush(), this.backoffMs);
    } else {
      this.timer = setImmediate(() => this.startFlush());
    }
  }

  private startFlush(): void {
    this.timer = null;
    this.running = true;
    this.flush()
      .catch((err: unknown) => {
        // flush settles every operation itself; reaching here is a bug, so fail what is left loudly.
        for (const op of this.queue.splice(0)) op.reject(err);
      })
      .finally(() => {
        this.running = false;
        if (this.queue.length > 0) this.schedule();
        else this.wakeIdleWaiters();
      });
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.maxBatch);
    const ready = await this.promoteBlobs(batch);
    if (ready.length === 0) return;
    if (this.commitBatch(ready) === 'busy') this.retryLater(ready);
    else this.backoffMs = 0;
  }

  /** Durable blobs before the commit that names them; operations whose blobs fail are rejected. */
  private async promoteBlobs(batch: QueuedOp[]): Promise<QueuedOp[]> {
    const todo = batch.filter((op) => !op.promoted && op.blobs.length > 0);
    if (todo.length > 0) {
      const results = await this.opts.blobs.promote(todo.map((op) => op.blobs));
      for (const [i, op] of todo.entries()) {
        op.promoted = true;
        const error = results[i];
        if (error) this.fail(op, error);
      }
    }
    return batch.filter((op) => !this.failed.has(op));
  }

  /** Runs the batch in one transaction. Returns 'busy' when the write lock was not available. */
  private commitBatch(batch: QueuedOp[]): 'done' | 'busy' {
    const { sql } = this.opts;
    try {
      sql.exec('BEGIN IMMEDIATE');
    } catch (err) {
      if (isBusy(err)) return 'busy';
      for (const op of batch) this.fail(op, storeErrorOf(err));
      return 'done';
    }
    const outcomes: Outcome[] = [];
    const now = this.opts.now();
    for (const op of batch) {
      const outcome = this.runInSavepoint(op, now);
      outcomes.push(outcome);
      if (!sql.db.inTransaction) {
        // SQLite rolled the whole transaction back (SQLITE_FULL, I/O error): nothing of the batch stands.
        const error = outcome.ok ? new StoreError('io', 'transaction rolled back') : outcome.error;
        if (isBusyStoreError(error)) return 'busy';
        for (const each of batch) this.fail(each, error);
        return 'done';
      }
    }
    try {
      sql.exec('COMMIT');
    } catch (err) {
      if (sql.db.inTransaction) sql.exec('ROLLBACK');
      if (isBusy(err)) return 'busy';
      for (const op of batch) this.fail(op, storeErrorOf(err));
      return 'done';
    }
    this.stats.commits++;
    this.opts.onCommit?.();
    this.settle(outcomes);
    return 'done';
  }

  private runInSavepoint(op: QueuedOp, now: number): Outcome {
    const { sql } = this.opts;
    sql.exec('SAVEPOINT op');
    const tx = new Tx(sql, now);
    try {
      const value = op.run(tx);
      sql.exec('RELEASE op');
      return { op, ok: true, value, tx };
    } catch (err) {
      if (sql.db.inTransaction) {
        sql.exec('ROLLBACK TO op');
        sql.exec('RELEASE op');
      }
      return { op, ok: false, error: storeErrorOf(err) };
    }
  }

  /** After the commit: settle every promise, then let the store publish wake-ups. */
  private settle(outcomes: Outcome[]): void {
    const committed: Tx[] = [];
    for (const outcome of outcomes) {
      if (outcome.ok) {
        this.stats.operations++;
        this.opts.blobs.release(outcome.op.blobs);
        outcome.op.resolve(outcome.value);
        committed.push(outcome.tx);
      } else {
        this.fail(outcome.op, outcome.error);
      }
    }
    this.opts.onCommitted(committed);
  }

  private fail(op: QueuedOp, error: unknown): void {
    if (this.failed.has(op)) return;
    this.failed.add(op);
    this.stats.failures++;
    this.opts.blobs.release(op.blobs);
    if (op.promoted && op.blobs.length > 0) this.opts.onOrphanedBlobs(op.blobs.map((blob) => blob.hash));
    op.reject(error);
  }

  /** The database is locked by another connection: expire what is overdue, retry the rest from a timer. */
  private retryLater(batch: QueuedOp[]): void {
    this.stats.busyRetries++;
    const now = Date.now();
    const waiting: QueuedOp[] = [];
    for (const op of batch) {
      if (now >= op.deadline) this.fail(op, new StoreError('busy', 'the database stayed locked by another process'));
      else waiting.push(op);
    }
    this.queue.unshift(...waiting);
    this.backoffMs = Math.min(Math.max(this.backoffMs * 2, MIN_BACKOFF_MS), MAX_BACKOFF_MS);
  }
}

function isBusyStoreError(err: unknown): boolean {
  return err instanceof StoreError && err.code === 'busy';
}
