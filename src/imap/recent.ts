/**
 * \Recent (RFC 3501 2.3.2): "this session is the first session to have been notified about this
 * message". One registry per server process keeps, per mailbox, the highest UID some session has
 * already claimed; a session claims the UIDs above it when it selects the mailbox or when it
 * announces new messages (EXISTS). Claiming is synchronous, so two sessions can never both get
 * the same message as recent.
 *
 * The registry is in memory: after a restart the first session to select a mailbox sees every
 * message in it as recent (as after a fresh import). Several server processes on one database
 * (later, PostgreSQL) would each hand out \Recent once; IMAP4rev2 (RFC 9051) dropped \Recent
 * for this reason, and clients do not rely on it.
 * @module
 */

export class RecentRegistry {
  readonly #claimedUpTo = new Map<number, number>();

  /** The highest UID already claimed in a mailbox (0 when none). */
  claimedUpTo(mailboxId: number): number {
    return this.#claimedUpTo.get(mailboxId) ?? 0;
  }

  /** Claims every UID above the mark up to `highestUid`; returns the first UID claimed and
   * the last (an empty range when `from > to`). */
  claim(mailboxId: number, highestUid: number): { from: number; to: number } {
    const previous = this.claimedUpTo(mailboxId);
    if (highestUid <= previous) return { from: previous + 1, to: previous };
    this.#claimedUpTo.set(mailboxId, highestUid);
    return { from: previous + 1, to: highestUid };
  }

  /** A deleted mailbox's ids are never reused (store ids are AUTOINCREMENT): drop its mark. */
  forget(mailboxId: number): void {
    this.#claimedUpTo.delete(mailboxId);
  }
}
