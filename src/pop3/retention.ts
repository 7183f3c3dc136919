/**
 * The POP3 retention scheduler: "leave mail on server, delete after N days" (docs/pop3.md).
 * Every `intervalMs` it asks the store for INBOX messages whose first POP3 download is at
 * least the account's policy old (store/types Pop3Retention) and expunges them through the
 * ordinary expunge, so IMAP sessions see plain EXPUNGEs and quota goes down.
 *
 * A maildrop held by a POP3 session is skipped until a later run: its snapshot must not lose
 * messages under it (RFC 1939 4 exclusive access). The scheduler takes the same lock.
 * @module
 */
import type { Logger } from '../log/index.js';
import type { MailStore } from '../store/types.js';
import type { MaildropLocks } from './lock.js';

export interface RetentionSchedulerOptions {
  store: MailStore;
  locks: MaildropLocks;
  logger: Logger;
  /** Time between runs, ms. Default: one hour. */
  intervalMs?: number;
  /** Delay before the first run after start, ms. Default: one minute. */
  firstRunMs?: number;
  /** Messages fetched per store query. Default 1000. */
  batch?: number;
  now?: () => Date;
}

export interface RetentionRun {
  /** Messages expunged. */
  expunged: number;
  /** Accounts skipped because a POP3 session held their maildrop. */
  skipped: number;
}

const HOUR_MS = 3_600_000;
const LOCK_HOLDER = 'pop3-retention';

export class RetentionScheduler {
  readonly #options: Required<Omit<RetentionSchedulerOptions, 'store' | 'locks' | 'logger'>> & Pick<RetentionSchedulerOptions, 'store' | 'locks' | 'logger'>;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<RetentionRun> | null = null;
  #stopped = false;

  constructor(options: RetentionSchedulerOptions) {
    this.#options = {
      intervalMs: HOUR_MS,
      firstRunMs: 60_000,
      batch: 1000,
      now: () => new Date(),
      ...options,
    };
  }

  start(): void {
    if (this.#stopped || this.#timer !== null) return;
    this.#schedule(this.#options.firstRunMs);
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => undefined);
  }

  /** One pass over everything due now (also what the timer runs). Runs never overlap. */
  runOnce(): Promise<RetentionRun> {
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.runOnce()
        .catch((error: unknown) => this.#options.logger.warn({ err: error }, 'pop3 retention run failed'))
        .finally(() => {
          if (!this.#stopped) this.#schedule(this.#options.intervalMs);
        });
    }, delayMs);
    this.#timer.unref();
  }

  async #run(): Promise<RetentionRun> {
    const { store, locks, logger, batch } = this.#options;
    const now = this.#options.now();
    const run: RetentionRun = { expunged: 0, skipped: 0 };
    // Accounts are visited in id order; `after` is the cursor past those done or skipped.
    let after = 0;
    for (;;) {
      const due = await store.listPop3Expired(now, { limit: batch, afterAccountId: after });
      const rows = due.reduce((sum, group) => sum + group.uids.length, 0);
      const cut = rows >= batch;
      for (const [index, group] of due.entries()) {
        if (this.#stopped) return run;
        after = group.accountId;
        const lease = await locks.tryAcquire(group.accountId, LOCK_HOLDER);
        if (lease === null) {
          run.skipped++;
          continue;
        }
        try {
          run.expunged += (await store.expunge(group.accountId, group.mailboxId, group.uids)).uids.length;
        } finally {
          await lease.release();
        }
        // The batch may have cut this account's list short: look at it again next round.
        if (cut && index === due.length - 1) after = group.accountId - 1;
      }
      if (!cut) break;
    }
    if (run.expunged > 0 || run.skipped > 0) logger.info({ ...run }, 'pop3 retention run');
    return run;
  }
}

/**
 * CAPA EXPIRE before login needs the shortest policy anywhere (RFC 2449 6.7); a store query
 * per CAPA would let any client make the server scan, so the answer is kept for `ttlMs`.
 */
export function cachedShortestRetention(store: MailStore, ttlMs = 60_000, now: () => number = Date.now): () => Promise<number | null> {
  let cached: { value: number | null; at: number } | null = null;
  return async () => {
    if (cached !== null && now() - cached.at < ttlMs) return cached.value;
    const value = await store.shortestPop3Retention();
    cached = { value, at: now() };
    return value;
  };
}
