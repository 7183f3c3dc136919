/**
 * Exclusive access to a maildrop (RFC 1939 4: "the POP3 server then acquires an exclusive-
 * access lock on the maildrop"). A second POP3 session of the same account gets
 * `-ERR [IN-USE]` (RFC 2449 8.1.2), and the retention scheduler skips a locked maildrop.
 *
 * The interface is asynchronous and names the holder so that a cross-node implementation
 * (a lease row in PostgreSQL with an expiry, renewed while the session lives) can replace the
 * in-process one without touching the sessions.
 * @module
 */
import type { Id } from '../store/types.js';

export interface MaildropLease {
  readonly accountId: Id;
  /** Gives the maildrop back. Idempotent. */
  release(): Promise<void>;
}

export interface MaildropLocks {
  /** The lease, or null when another holder has the maildrop. Never waits for it. */
  tryAcquire(accountId: Id, holder: string): Promise<MaildropLease | null>;
}

/** One process: a map of held accounts. Enough for a single node (SQLite). */
export class InProcessMaildropLocks implements MaildropLocks {
  readonly #holders = new Map<Id, string>();

  tryAcquire(accountId: Id, holder: string): Promise<MaildropLease | null> {
    if (this.#holders.has(accountId)) return Promise.resolve(null);
    this.#holders.set(accountId, holder);
    let released = false;
    const lease: MaildropLease = {
      accountId,
      release: () => {
        if (!released && this.#holders.get(accountId) === holder) this.#holders.delete(accountId);
        released = true;
        return Promise.resolve();
      },
    };
    return Promise.resolve(lease);
  }

  /** Who holds an account's maildrop (tests, diagnostics). */
  holderOf(accountId: Id): string | null {
    return this.#holders.get(accountId) ?? null;
  }
}
