/**
 * Message listings (MessageMeta per message, ascending UID) of recently used mailboxes, shared
 * by every session and kept current from the change log instead of re-read.
 *
 * Why: SELECT, SEARCH, FETCH and STORE each need the metadata of many messages of the selected
 * mailbox. Re-reading it costs about 30 ms per 10,000 messages (300 ms and more per 100,000,
 * with the garbage it leaves), on every command; SEARCH over a busy mailbox spent most of its
 * time there. The change log (RFC 7162 MODSEQ, ARCHITECTURE.md "the way mail flows") already
 * says exactly what changed since a MODSEQ, so a listing taken once is brought up to date with
 * one `changesSince` read: flag changes carry the new flags, expunges drop rows, and only the
 * new messages are read from the store.
 *
 * Correctness: every `list()` reads the change log itself (and re-reads the listing when the log
 * was pruned past its MODSEQ), so it sees everything committed
 * before it was called, whichever session, process or node committed it. Refreshes of one
 * mailbox run one after another. A listing may already contain a change that the log replays
 * later (it was read after the MODSEQ it was taken at); replaying sets the same values again.
 * Listings are shared and must not be modified by callers.
 *
 * Bounded by the number of messages held (least recently used mailboxes go first); a mailbox
 * larger than a quarter of the bound is listed from the store every time, as before.
 * @module
 */
import type { Id, MailStore, MessageMeta } from '../store/types.js';

/** Changes read per refresh; more than this, and a fresh listing is cheaper. */
const CHANGES_LIMIT = 5000;

export interface Listing {
  /** Account MODSEQ up to which the listing is current. */
  readonly modseq: number;
  /** Ascending by UID; shared, never modify. */
  readonly messages: readonly MessageMeta[];
}

interface Entry {
  accountId: Id;
  modseq: number;
  messages: MessageMeta[];
  /** The refresh in progress (refreshes of one mailbox are serialized). */
  busy: Promise<unknown>;
}

export class ListingCache {
  readonly #entries = new Map<Id, Entry>();
  /** UID arrays of listings, shared by the views opened on the same listing. */
  readonly #uids = new WeakMap<readonly MessageMeta[], readonly number[]>();
  #held = 0;

  constructor(
    private readonly store: Pick<MailStore, 'listMessages' | 'changesSince' | 'currentModseq'>,
    /** Most messages held over all mailboxes. */
    readonly maxMessages: number,
  ) {}

  /** Messages held now (for tests and metrics). */
  get heldMessages(): number {
    return this.#held;
  }

  /** The mailbox's messages as committed when the call was made, or later. */
  async list(accountId: Id, mailboxId: Id): Promise<Listing> {
    const entry = this.#entries.get(mailboxId);
    if (entry === undefined || entry.accountId !== accountId) return this.#load(accountId, mailboxId);
    // Most recently used last (a Map iterates in insertion order).
    this.#entries.delete(mailboxId);
    this.#entries.set(mailboxId, entry);
    const run = entry.busy.then(() => this.#refresh(entry, mailboxId));
    entry.busy = run.catch(() => undefined);
    return run;
  }

  /**
   * The UIDs of a listing, one array shared by every caller with the same listing: a session
   * opening a mailbox of 100,000 messages would otherwise hold 800 KB of its own, idle or not.
   * Callers must not modify it (MailboxView replaces its array when it changes).
   */
  uidsOf(messages: readonly MessageMeta[]): readonly number[] {
    let uids = this.#uids.get(messages);
    if (uids === undefined) {
      uids = messages.map((m) => m.uid);
      this.#uids.set(messages, uids);
    }
    return uids;
  }

  /** Messages with UIDs in [from, to] (a slice of the listing, no copy of the rest). */
  async range(accountId: Id, mailboxId: Id, from: number, to: number): Promise<MessageMeta[]> {
    const { messages } = await this.list(accountId, mailboxId);
    return messages.slice(lowerBound(messages, from), lowerBound(messages, to + 1));
  }

  async #load(accountId: Id, mailboxId: Id): Promise<Listing> {
    this.#drop(mailboxId);
    // The MODSEQ first: a change committed between the two reads is replayed later, harmlessly.
    const modseq = await this.store.currentModseq(accountId);
    const messages = await this.store.listMessages(mailboxId);
    if (messages.length <= this.maxMessages / 4 && !this.#entries.has(mailboxId)) {
      this.#entries.set(mailboxId, { accountId, modseq, messages, busy: Promise.resolve() });
      this.#held += messages.length;
      this.#evict();
    }
    return { modseq, messages };
  }

  async #refresh(entry: Entry, mailboxId: Id): Promise<Listing> {
    if (this.#entries.get(mailboxId) !== entry) return this.#load(entry.accountId, mailboxId);
    const batch = await this.store.changesSince(entry.accountId, entry.modseq, CHANGES_LIMIT);
    if (batch.changes.length >= CHANGES_LIMIT) return this.#load(entry.accountId, mailboxId);
    // The log was pruned past the listing's MODSEQ (an entry idle for the whole retention): what
    // changed in between is gone, so only a fresh listing is right (docs/storage.md).
    if (batch.truncated) return this.#load(entry.accountId, mailboxId);
    let messages = entry.messages;
    let copied = false;
    const writable = (): MessageMeta[] => {
      // Callers may still hold the previous array: changes go to a copy.
      if (!copied) {
        messages = [...messages];
        copied = true;
      }
      return messages;
    };
    const expunged = new Set<number>();
    let firstAdded = Infinity;
    for (const change of batch.changes) {
      if (change.kind === 'account') {
        if (change.deleted) return this.#load(entry.accountId, mailboxId);
        continue;
      }
      if (change.mailboxId !== mailboxId) continue;
      switch (change.kind) {
        case 'flags': {
          const at = indexOf(messages, change.uid);
          if (at < 0) break;
          const rows = writable();
          rows[at] = { ...rows[at]!, flags: change.flags, keywords: change.keywords, modseq: change.modseq };
          break;
        }
        case 'expunged':
          expunged.add(change.uid);
          break;
        case 'added':
          firstAdded = Math.min(firstAdded, change.uid);
          break;
        case 'mailboxDeleted':
          this.#drop(mailboxId);
          return { modseq: batch.modseq, messages: [] };
        case 'mailboxCreated':
        case 'mailboxRenamed':
          break;
      }
    }
    if (expunged.size > 0) messages = writable().filter((m) => !expunged.has(m.uid));
    if (firstAdded !== Infinity) {
      const last = messages[messages.length - 1]?.uid ?? 0;
      // Rows the listing already has (read after its MODSEQ) are not added twice.
      const fresh = (await this.store.listMessages(mailboxId, Math.max(firstAdded, last + 1))).filter((m) => !expunged.has(m.uid));
      if (fresh.length > 0) messages = [...messages, ...fresh];
    }
    if (this.#entries.get(mailboxId) === entry) {
      this.#held += messages.length - entry.messages.length;
      entry.messages = messages;
      entry.modseq = Math.max(entry.modseq, batch.modseq);
      this.#evict();
    }
    return { modseq: Math.max(entry.modseq, batch.modseq), messages };
  }

  #drop(mailboxId: Id): void {
    const entry = this.#entries.get(mailboxId);
    if (entry === undefined) return;
    this.#entries.delete(mailboxId);
    this.#held -= entry.messages.length;
  }

  #evict(): void {
    for (const [mailboxId, entry] of this.#entries) {
      if (this.#held <= this.maxMessages) break;
      this.#entries.delete(mailboxId);
      this.#held -= entry.messages.length;
    }
  }
}

/** First index of `messages` (ascending UIDs) whose UID is >= uid. */
export function lowerBound(messages: readonly MessageMeta[], uid: number): number {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (messages[mid]!.uid < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function indexOf(messages: readonly MessageMeta[], uid: number): number {
  const at = lowerBound(messages, uid);
  return messages[at]?.uid === uid ? at : -1;
}
