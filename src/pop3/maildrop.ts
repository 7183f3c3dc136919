/**
 * The maildrop of one POP3 session: a snapshot of INBOX taken at login (RFC 1939 4: message
 * numbers 1..n and sizes are fixed when the maildrop is opened), with the session's marks.
 *
 * - DELE marks, RSET unmarks (RFC 1939 5); only QUIT turns marks into an expunge (./commands/quit.ts).
 * - Messages that arrive later are not shown until the next session.
 * - A message expunged meanwhile (IMAP, retention) stays numbered; reading it fails in the
 *   store (rows are addressed by id, never reused), so RETR answers -ERR and never shows
 *   another message's content.
 * - The unique-id (RFC 1939 7 UIDL) is `UIDVALIDITY.UID` of INBOX: stable across sessions and
 *   restarts, never reused (UIDs only grow; a new UIDVALIDITY changes every id).
 * @module
 */
import type { Id, MailStore, MessageMeta } from '../store/types.js';
import { Pop3Err, Pop3Errors } from './errors.js';

export interface MaildropEntry {
  /** Message number, 1-based (RFC 1939 4). */
  readonly number: number;
  readonly meta: MessageMeta;
  readonly uniqueId: string;
}

export class Maildrop {
  readonly #entries: readonly MaildropEntry[];
  readonly #deleted = new Set<number>();
  readonly #retrieved = new Set<number>();
  /** Octets of all messages of the snapshot, and of those marked as deleted (STAT stays O(1)). */
  readonly #totalSize: number;
  #deletedSize = 0;

  private constructor(
    readonly accountId: Id,
    readonly mailboxId: Id,
    readonly uidValidity: number,
    messages: readonly MessageMeta[],
  ) {
    this.#entries = messages.map((meta, index) => ({ number: index + 1, meta, uniqueId: uniqueIdOf(uidValidity, meta.uid) }));
    this.#totalSize = messages.reduce((sum, meta) => sum + meta.size, 0);
  }

  /** Takes the snapshot of the account's INBOX. */
  static async open(store: MailStore, accountId: Id): Promise<Maildrop> {
    const inbox = await store.getMailbox(accountId, 'INBOX');
    if (inbox === null) throw new Pop3Err('SYS/PERM', 'maildrop not found');
    return new Maildrop(accountId, inbox.id, inbox.uidValidity, await store.listMessages(inbox.id));
  }

  /** Messages not marked as deleted (RFC 1939 5 STAT: "messages marked as deleted are not counted"). */
  get count(): number {
    return this.#entries.length - this.#deleted.size;
  }

  /** Octets of the messages not marked as deleted. */
  get size(): number {
    return this.#totalSize - this.#deletedSize;
  }

  /** Every message not marked as deleted, in order. */
  *live(): Generator<MaildropEntry> {
    for (const entry of this.#entries) if (!this.#deleted.has(entry.number)) yield entry;
  }

  /** A message by number; -ERR for numbers out of range and messages marked as deleted. */
  entry(number: number): MaildropEntry {
    const entry = this.#entries[number - 1];
    if (entry === undefined) throw Pop3Errors.noSuchMessage(this.#entries.length);
    if (this.#deleted.has(number)) throw Pop3Errors.alreadyDeleted(number);
    return entry;
  }

  markDeleted(number: number): void {
    const entry = this.entry(number);
    this.#deleted.add(number);
    this.#deletedSize += entry.meta.size;
  }

  /** RSET: every mark goes. */
  unmarkAll(): void {
    this.#deleted.clear();
    this.#deletedSize = 0;
  }

  /** RETR sent this message (for retention: first download time, recorded at QUIT). */
  noteRetrieved(number: number): void {
    this.#retrieved.add(number);
  }

  /** UIDs to expunge at QUIT, ascending. */
  deletedUids(): number[] {
    return this.#entries.filter((entry) => this.#deleted.has(entry.number)).map((entry) => entry.meta.uid);
  }

  /** UIDs retrieved and kept, ascending. */
  retrievedUids(): number[] {
    return this.#entries.filter((entry) => this.#retrieved.has(entry.number) && !this.#deleted.has(entry.number)).map((entry) => entry.meta.uid);
  }
}

/** RFC 1939 7: 1 to 70 characters in 0x21..0x7E; two decimal numbers fit easily. */
export function uniqueIdOf(uidValidity: number, uid: number): string {
  return `${uidValidity}.${uid}`;
}
