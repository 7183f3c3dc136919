/**
 * When the blob sweeper of either backend runs: soon after commits that trashed blobs (only
 * those hashes), periodically over the whole trash, never two passes at once. What a pass does
 * (which blobs may go, and how) is the backend's: sqlite/gc.ts and postgres/gc.ts.
 * @module
 */
export abstract class TrashSweeper {
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Immediate | null = null;
  /** Hashes trashed by recent commits, swept soon without scanning the whole trash. */
  private recent = new Set<string>();
  private running: Promise<number> | null = null;
  private stopped = false;

  protected constructor(
    private readonly intervalMs: number,
    protected readonly onError: (err: unknown) => void,
  ) {}

  /** Deletes what it may among these trashed hashes; returns how many blobs went. */
  protected abstract sweepHashes(hashes: readonly string[]): Promise<number>;
  /** One pass over the whole trash; returns how many blobs went. */
  protected abstract sweepAll(): Promise<number>;

  start(): void {
    if (this.intervalMs <= 0) return;
    this.timer = setInterval(() => this.sweepInBackground(), this.intervalMs);
    this.timer.unref();
  }

  /** After a commit that trashed these blobs: look at them soon (most can go at once). */
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

  /** One full pass over blob_trash; returns the number of blobs deleted. */
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

  private sweepInBackground(): void {
    if (this.stopped || this.running) return;
    this.sweep().catch(this.onError);
  }
}
