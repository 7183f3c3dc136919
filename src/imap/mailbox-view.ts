/**
 * The selected mailbox as one session sees it (RFC 3501 2.3.1.2, 5.2, 7.4.1; RFC 2180 4;
 * RFC 7162 3.2.10): the sequence-number ↔ UID map, and the changes other sessions (or this
 * one) made that have not been announced yet.
 *
 * - The map is the ascending array of UIDs; sequence number n is `uids[n - 1]`. It changes only
 *   in `flush()`, which the dispatcher calls at one place, right before a tagged response.
 * - `pull()` reads the store's change log since the last MODSEQ seen (wake-ups from the bus only
 *   mark the view dirty). New messages, flag changes and expunges are kept pending; a batch
 *   bigger than PULL_LIMIT × PULL_BATCHES resynchronises from a full listing instead, so the
 *   pending state never grows beyond the mailbox itself. A log pruned past the view's MODSEQ
 *   (`truncated`) resynchronises the same way.
 * - `flush(allowExpunge)`: EXPUNGE (or VANISHED under QRESYNC) only when allowed — never during
 *   FETCH, STORE or SEARCH (RFC 3501 7.4.1); EXISTS/RECENT and FETCH FLAGS always. An expunged
 *   message keeps its sequence number until its EXPUNGE is sent, so numbers stay consistent.
 * @module
 */
import type { ChangeBatch, Mailbox, MailStore, MessageMeta } from '../store/types.js';
import { encode } from '../wire/imap/index.js';
import { flagListText, SYSTEM_FLAGS } from './flags.js';
import type { ListingCache } from './listing-cache.js';
import type { RecentRegistry } from './recent.js';

/** Changes read per changesSince call, and calls per pull before a resync is cheaper. */
const PULL_LIMIT = 2000;
const PULL_BATCHES = 5;

export interface FlushOptions {
  allowExpunge: boolean;
  /** RFC 7162 3.2.10: VANISHED instead of EXPUNGE. */
  qresync: boolean;
  /** RFC 7162 3.1.4: MODSEQ in unsolicited FETCH. */
  condstore: boolean;
}

interface PendingFlags {
  flags: number;
  keywords: string[];
  modseq: number;
}

export class MailboxView {
  readonly mailboxId: number;
  readonly uidValidity: number;
  readonly readOnly: boolean;
  readonly accountId: number;
  /** Current name (RENAME by any session updates it). */
  name: string;
  /** Ascending UIDs: sequence number n is uids[n - 1]. Possibly shared with other views of the
   * same listing (ListingCache.uidsOf): never modified in place, replaced when it changes. */
  uids: readonly number[];
  /** Highest MODSEQ whose changes have been read from the log. */
  modseq: number;
  /** A wake-up arrived since the last pull. */
  dirty = false;
  /** The mailbox was deleted (by any session): the session must leave the selected state. */
  deleted = false;
  /** The account was deleted: the session must end. */
  accountDeleted = false;
  /** UIDs this session announced and claimed as \Recent, as ascending disjoint ranges. */
  readonly #recent: Array<[number, number]> = [];
  #newUids: number[] = [];
  readonly #expunged = new Set<number>();
  readonly #flags = new Map<number, PendingFlags>();
  /** Flag changes this session already reported itself (STORE, FETCH setting \Seen). */
  readonly #reported = new Map<number, number>();
  /** Keywords in use, by lower-case name; `#announcedKeywords` is what FLAGS last said. */
  readonly #keywords = new Map<string, string>();
  #announcedKeywords = 0;

  private constructor(
    private readonly store: MailStore,
    private readonly listings: ListingCache,
    private readonly registry: RecentRegistry,
    accountId: number,
    mailbox: Mailbox,
    readOnly: boolean,
    modseq: number,
    messages: readonly MessageMeta[],
  ) {
    this.accountId = accountId;
    this.mailboxId = mailbox.id;
    this.uidValidity = mailbox.uidValidity;
    this.name = mailbox.name;
    this.readOnly = readOnly;
    this.modseq = modseq;
    this.uids = listings.uidsOf(messages);
    for (const message of messages) this.#addKeywords(message.keywords);
    this.#announcedKeywords = this.#keywords.size;
    const last = this.uids[this.uids.length - 1] ?? 0;
    this.#claim(last);
  }

  /** Reads the mailbox (through the shared listing cache, current as of the call) and builds the view. */
  static async open(store: MailStore, listings: ListingCache, registry: RecentRegistry, accountId: number, mailbox: Mailbox, readOnly: boolean): Promise<{ view: MailboxView; messages: readonly MessageMeta[] }> {
    const { modseq, messages } = await listings.list(accountId, mailbox.id);
    return { view: new MailboxView(store, listings, registry, accountId, mailbox, readOnly, modseq, messages), messages };
  }

  get count(): number {
    return this.uids.length;
  }

  get highestUid(): number {
    return this.uids[this.uids.length - 1] ?? 0;
  }

  /** 1-based sequence number of a UID in this view, or 0. */
  seqOf(uid: number): number {
    const i = lowerBound(this.uids, uid);
    return this.uids[i] === uid ? i + 1 : 0;
  }

  uidAt(seq: number): number | undefined {
    return this.uids[seq - 1];
  }

  /** True when another session expunged it and the EXPUNGE has not been sent yet. */
  isExpungePending(uid: number): boolean {
    return this.#expunged.has(uid);
  }

  isRecent(uid: number): boolean {
    for (const [from, to] of this.#recent) if (uid >= from && uid <= to) return true;
    return false;
  }

  recentCount(): number {
    let total = 0;
    for (const [from, to] of this.#recent) total += upperBound(this.uids, to) - lowerBound(this.uids, from);
    return total;
  }

  /** Keywords in use in the mailbox (FLAGS response). */
  keywords(): string[] {
    return [...this.#keywords.values()];
  }

  keywordCount(): number {
    return this.#keywords.size;
  }

  hasKeyword(keyword: string): boolean {
    return this.#keywords.has(keyword.toLowerCase());
  }

  /** A flag change this session reported itself: flush() will not report it again. */
  noteReported(uid: number, modseq: number, keywords: readonly string[]): void {
    this.#reported.set(uid, Math.max(modseq, this.#reported.get(uid) ?? 0));
    this.#addKeywords(keywords);
  }

  /** Reads the change log since the last pull (only when a wake-up came in, or when forced). */
  async pull(force = false): Promise<void> {
    if (!this.dirty && !force) return;
    this.dirty = false;
    for (let batch = 0; batch < PULL_BATCHES; batch++) {
      const changes = await this.store.changesSince(this.accountId, this.modseq, PULL_LIMIT);
      if (changes.truncated) {
        // The log was pruned past this view's MODSEQ (docs/storage.md): apply what is left (a
        // deletion or rename of the mailbox or account), then compare with a full listing for
        // what is gone, judging flag changes against the MODSEQ the view had.
        const known = this.modseq;
        this.#apply(changes);
        this.modseq = known;
        await this.#resync();
        return;
      }
      this.#apply(changes);
      if (changes.changes.length < PULL_LIMIT) return;
    }
    await this.#resync();
  }

  /** The untagged responses for what is pending, applying them to the map. */
  flush(options: FlushOptions): Buffer[] {
    const out: Buffer[] = [];
    if (options.allowExpunge && this.#expunged.size > 0) out.push(...this.#flushExpunges(options.qresync));
    if (this.#newUids.length > 0) {
      const added = this.#newUids;
      this.#newUids = [];
      this.uids = this.uids.concat(added);
      this.#claim(added[added.length - 1]!);
      out.push(...encode.existsResponse(this.uids.length), ...encode.recentResponse(this.recentCount()));
    }
    if (this.#keywords.size !== this.#announcedKeywords) {
      this.#announcedKeywords = this.#keywords.size;
      out.push(...this.flagsResponses());
    }
    for (const [uid, change] of this.#flags) {
      const seq = this.seqOf(uid);
      if (seq === 0 || this.#expunged.has(uid)) continue;
      if ((this.#reported.get(uid) ?? 0) >= change.modseq) continue;
      const modseq = options.condstore ? ` MODSEQ (${change.modseq})` : '';
      out.push(Buffer.from(`* ${seq} FETCH (UID ${uid} FLAGS ${flagListText(change.flags, change.keywords, this.isRecent(uid))}${modseq})\r\n`, 'utf8'));
    }
    this.#flags.clear();
    this.#reported.clear();
    return out;
  }

  /** `* FLAGS` and `* OK [PERMANENTFLAGS]` (RFC 3501 7.2.6, 7.1). */
  flagsResponses(keywordLimit = Infinity): Buffer[] {
    const flags = [...SYSTEM_FLAGS, ...this.keywords()];
    const permanent = this.readOnly ? [] : [...flags, ...(this.#keywords.size < keywordLimit ? ['\\*'] : [])];
    const text = this.readOnly ? 'No permanent flags permitted' : 'Flags permitted';
    return [...encode.flagsResponse(flags), ...encode.untaggedStatus('OK', { code: 'PERMANENTFLAGS', flags: permanent }, text)];
  }

  #flushExpunges(qresync: boolean): Buffer[] {
    const gone = [...this.#expunged].sort((a, b) => a - b);
    this.#expunged.clear();
    const out: Buffer[] = [];
    const seqs: number[] = [];
    for (const uid of gone) {
      const seq = this.seqOf(uid);
      if (seq > 0) seqs.push(seq);
    }
    if (seqs.length === 0) return out;
    if (qresync) {
      out.push(...encode.vanishedResponse(seqs.map((s) => this.uids[s - 1]!), false));
    } else {
      // Ascending, each number adjusted for the ones already removed (RFC 3501 7.4.1 example).
      seqs.forEach((seq, i) => out.push(...encode.expungeResponse(seq - i)));
    }
    const remove = new Set(gone);
    this.uids = this.uids.filter((uid) => !remove.has(uid));
    return out;
  }

  #apply(batch: ChangeBatch): void {
    for (const change of batch.changes) {
      if (change.kind === 'account') {
        if (change.deleted) this.accountDeleted = true;
        continue;
      }
      if (change.mailboxId !== this.mailboxId) continue;
      switch (change.kind) {
        case 'added':
          if (change.uid > this.#lastKnownUid()) this.#newUids.push(change.uid);
          break;
        case 'flags':
          this.#addKeywords(change.keywords);
          if (this.#knows(change.uid)) this.#flags.set(change.uid, { flags: change.flags, keywords: change.keywords, modseq: change.modseq });
          break;
        case 'expunged':
          this.#expunge(change.uid);
          break;
        case 'mailboxDeleted':
          this.deleted = true;
          break;
        case 'mailboxRenamed':
          this.name = change.name;
          break;
        case 'mailboxCreated':
          break;
      }
    }
    this.modseq = Math.max(this.modseq, batch.modseq);
  }

  /** Too many changes to replay: compare with a full listing instead. */
  async #resync(): Promise<void> {
    const { modseq, messages } = await this.listings.list(this.accountId, this.mailboxId);
    const present = new Set<number>();
    const last = this.#lastKnownUid();
    for (const message of messages) {
      present.add(message.uid);
      this.#addKeywords(message.keywords);
      if (message.uid > last) this.#newUids.push(message.uid);
      else if (message.modseq > this.modseq && this.#knows(message.uid)) {
        this.#flags.set(message.uid, { flags: message.flags, keywords: message.keywords, modseq: message.modseq });
      }
    }
    for (const uid of [...this.uids, ...this.#newUids]) if (!present.has(uid)) this.#expunge(uid);
    this.modseq = Math.max(this.modseq, modseq);
  }

  #expunge(uid: number): void {
    this.#flags.delete(uid);
    const pendingNew = this.#newUids.indexOf(uid);
    if (pendingNew >= 0) {
      this.#newUids.splice(pendingNew, 1);
      return;
    }
    if (this.seqOf(uid) > 0) this.#expunged.add(uid);
  }

  #knows(uid: number): boolean {
    return this.seqOf(uid) > 0 || this.#newUids.includes(uid);
  }

  #lastKnownUid(): number {
    return this.#newUids[this.#newUids.length - 1] ?? this.highestUid;
  }

  /** RFC 3501 6.3.2: EXAMINE "MUST NOT cause messages to lose the \Recent flag", so a read-only
   * view sees the unclaimed messages as recent without claiming them. */
  #claim(highestUid: number): void {
    const { from, to } = this.readOnly
      ? { from: Math.max(this.registry.claimedUpTo(this.mailboxId), this.#recent[this.#recent.length - 1]?.[1] ?? 0) + 1, to: highestUid }
      : this.registry.claim(this.mailboxId, highestUid);
    if (from > to) return;
    const last = this.#recent[this.#recent.length - 1];
    if (last !== undefined && last[1] + 1 === from) last[1] = to;
    else this.#recent.push([from, to]);
  }

  #addKeywords(keywords: readonly string[]): void {
    for (const keyword of keywords) {
      const key = keyword.toLowerCase();
      if (!this.#keywords.has(key)) this.#keywords.set(key, keyword);
    }
  }
}

/** First index whose value is >= target. */
export function lowerBound(values: readonly number[], target: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose value is > target. */
export function upperBound(values: readonly number[], target: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! <= target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
