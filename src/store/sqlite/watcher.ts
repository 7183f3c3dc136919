/**
 * Notice of changes committed by OTHER processes on the same database (the CLI runs beside the
 * server). `PRAGMA data_version` changes on this connection only when another connection commits;
 * it is cheap, so it is polled (an unref'd timer). When it moved, the change-log rows added since
 * the last look are grouped per account and a wake-up goes out for every account whose highest
 * MODSEQ has not been published yet (this process's own commits were published at commit time).
 * @module
 */
import type { Id } from '../types.js';
import type { Sql } from './db.js';

export class ChangeWatcher {
  private lastId = 0;
  private dataVersion = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly intervalMs: number,
    private readonly publish: (accountId: Id, modseq: number) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.lastId = this.maxChangeId();
    this.dataVersion = this.readDataVersion();
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => this.pollSafely(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Looks for other processes' commits now; returns how many accounts were woken. */
  poll(): number {
    const version = this.readDataVersion();
    if (version === this.dataVersion) return 0;
    this.dataVersion = version;
    // Upper bound first: rows committed after it are picked up by the next data_version change.
    const upTo = this.maxChangeId();
    const rows = this.sql.all<{ account_id: number; modseq: number }>(
      'SELECT account_id, max(modseq) AS modseq FROM changes WHERE id > ? AND id <= ? GROUP BY account_id',
      this.lastId,
      upTo,
    );
    this.lastId = Math.max(this.lastId, upTo);
    for (const row of rows) this.publish(row.account_id, row.modseq);
    return rows.length;
  }

  /**
   * After this process committed: if no other connection committed since the last look, every
   * row up to the current maximum is ours (already published), so the next scan can start there.
   * The maximum is read before data_version, so a foreign commit in between is never skipped.
   */
  noteOwnCommit(): void {
    const upTo = this.maxChangeId();
    if (this.readDataVersion() === this.dataVersion) this.lastId = Math.max(this.lastId, upTo);
  }

  private pollSafely(): void {
    try {
      this.poll();
    } catch (err) {
      this.onError(err);
    }
  }

  private maxChangeId(): number {
    return this.sql.value<number>('SELECT max(id) FROM changes') ?? 0;
  }

  private readDataVersion(): number {
    return Number(this.sql.db.pragma('data_version', { simple: true }));
  }
}
