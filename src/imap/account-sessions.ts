/**
 * Counts logged-in sessions per account, for the per-account limit (config
 * `limits.sessions_per_account`): a client that opens hundreds of connections to one mailbox
 * cannot take the server's memory for itself.
 * @module
 */
export class AccountSessions {
  readonly #counts = new Map<number, number>();

  constructor(private readonly limit: number) {}

  /** Takes a slot; false when the account is at its limit. */
  acquire(accountId: number): boolean {
    const count = this.#counts.get(accountId) ?? 0;
    if (count >= this.limit) return false;
    this.#counts.set(accountId, count + 1);
    return true;
  }

  release(accountId: number): void {
    const count = (this.#counts.get(accountId) ?? 0) - 1;
    if (count <= 0) this.#counts.delete(accountId);
    else this.#counts.set(accountId, count);
  }

  count(accountId: number): number {
    return this.#counts.get(accountId) ?? 0;
  }
}
