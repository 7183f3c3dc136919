/**
 * A counting semaphore: the queue worker's concurrency limits (deliveries overall, connections
 * per destination domain) and the cap on concurrent password hashes. Waiters are served in
 * arrival order; an aborted wait leaves the queue. Imports nothing of the project.
 * @module
 */

export type Release = () => void;

export class Semaphore {
  private active = 0;
  private readonly waiters: Array<{ grant: (release: Release) => void }> = [];

  constructor(private readonly limit: number) {}

  /** Holders plus waiters: an idle semaphore (0) can be dropped. */
  get load(): number {
    return this.active + this.waiters.length;
  }

  /** Resolves with a release function once a slot is free; rejects when `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter = {
        grant: (release: Release): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      const onAbort = (): void => {
        const at = this.waiters.indexOf(waiter);
        if (at !== -1) this.waiters.splice(at, 1);
        reject(abortReason(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter: `active` stays the same.
      if (next !== undefined) next.grant(this.releaser());
      else this.active--;
    };
  }
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}
