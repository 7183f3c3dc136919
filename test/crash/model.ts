/**
 * What the crash loop knows the server promised, and the check of a restarted server against it.
 *
 * Every message carries a unique tag in its Message-ID. For each tag the model keeps the set of
 * places where it may be: one mailbox once its operation was acknowledged, two (or "absent" and a
 * mailbox) while an operation was in flight when the server was killed. After a restart the check
 * reads every mailbox over IMAP, compares, and narrows each set to what it saw. A tag seen absent
 * is remembered as gone: seeing it again is a resurrected message.
 * @module
 */

export const ABSENT = '(absent)';

export interface Expectation {
  tag: string;
  account: string;
  /** Bytes the client sent; `suffix`: SMTP, the server prepends trace fields. */
  bytes: Buffer;
  match: 'exact' | 'suffix';
  /** Mailbox names (or ABSENT) where the message may be. */
  allowed: Set<string>;
}

/** A mailbox as seen by the check: where each tag is, by UID. */
export interface MailboxView {
  name: string;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  messages: Array<{ uid: number; modseq: number; size: number; tag: string | null; bytes: Buffer }>;
}

export interface AccountView {
  account: string;
  mailboxes: MailboxView[];
  /** QUOTA usage: STORAGE in KiB (rounded up) and MESSAGE. */
  quota: { storageKiB: number; messages: number };
}

interface UidHistory {
  /** UID → tag, from every check and every APPENDUID / COPYUID. */
  uids: Map<number, string>;
  /** UIDNEXT at the last check. */
  uidNext: number;
  highestModseq: number;
  /** Highest MODSEQ the server ever sent for a message of this mailbox. */
  maxModseqSent: number;
}

/** Operations whose effects are all or nothing (a POP3 session's deletions). */
interface AtomicGroup {
  what: string;
  account: string;
  tags: string[];
}

const HEADER_BLOCK = /^(?:[!-9;-~]+:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*$/;

export class CrashModel {
  readonly expectations = new Map<string, Expectation>();
  private readonly gone = new Set<string>();
  /** account:uidvalidity → history. */
  private readonly history = new Map<string, UidHistory>();
  /** account → the UIDVALIDITY values of its mailboxes (we never delete or recreate mailboxes). */
  private readonly validities = new Map<string, string>();
  private groups: AtomicGroup[] = [];
  readonly violations: string[] = [];
  /** Operations cut by a kill, by how they turned out: done (new place) or not done (old place). */
  readonly inFlightOutcomes = { done: 0, notDone: 0 };

  /** A message about to be sent: it may end up in `place` or nowhere. */
  expect(tag: string, account: string, bytes: Buffer, match: 'exact' | 'suffix', place: string): void {
    this.expectations.set(`${account}\u0000${tag}`, { tag, account, bytes, match, allowed: new Set([ABSENT, place]) });
  }

  /** A message that must never appear (its literal or DATA was cut short). */
  expectNever(tag: string, account: string, bytes: Buffer): void {
    this.expectations.set(`${account}\u0000${tag}`, { tag, account, bytes, match: 'exact', allowed: new Set([ABSENT]) });
  }

  get(account: string, tag: string): Expectation | undefined {
    return this.expectations.get(`${account}\u0000${tag}`);
  }

  /** Certain location of a tag (one place, not absent), or null. */
  certainPlace(account: string, tag: string): string | null {
    const e = this.get(account, tag);
    if (!e || e.allowed.size !== 1) return null;
    const [place] = e.allowed;
    return place === ABSENT ? null : (place ?? null);
  }

  /** Before sending an operation that may move the tag to `to` (ABSENT for a deletion). */
  inFlight(account: string, tag: string, to: string): void {
    this.get(account, tag)?.allowed.add(to);
  }

  /** The operation was acknowledged: the tag is now only in `place`. */
  settle(account: string, tag: string, place: string): void {
    const e = this.get(account, tag);
    if (e) e.allowed = new Set([place]);
  }

  /** RENAME: every tag that may be in `from` may now be in `to` too (or only in `to` once acknowledged). */
  renameInFlight(account: string, from: string, to: string, acknowledged: boolean): void {
    for (const e of this.expectations.values()) {
      if (e.account !== account || !e.allowed.has(from)) continue;
      e.allowed.add(to);
      if (acknowledged) e.allowed.delete(from);
    }
  }

  atomic(what: string, account: string, tags: string[]): void {
    this.groups.push({ what, account, tags });
  }

  /** An APPENDUID or COPYUID the server sent: the UID must be new and is now this tag's. */
  noteUid(account: string, uidValidity: number, uid: number, tag: string, what: string): void {
    const h = this.historyOf(account, uidValidity);
    const before = h.uids.get(uid);
    if (before !== undefined && before !== tag) this.violations.push(`${what}: UID ${uid} (UIDVALIDITY ${uidValidity}) was ${before}, now given to ${tag}`);
    if (uid < h.uidNext) this.violations.push(`${what}: UID ${uid} below UIDNEXT ${h.uidNext} seen earlier (UIDVALIDITY ${uidValidity})`);
    h.uids.set(uid, tag);
  }

  noteModseq(account: string, uidValidity: number, modseq: number): void {
    const h = this.historyOf(account, uidValidity);
    h.maxModseqSent = Math.max(h.maxModseqSent, modseq);
  }

  /** Compares one account's view with the model and narrows the model to it. */
  check(view: AccountView, cycle: number): void {
    const fail = (text: string): void => {
      this.violations.push(`cycle ${cycle}, ${view.account}: ${text}`);
    };
    this.checkMailboxes(view, fail);
    const seen = new Map<string, string[]>();
    let totalSize = 0;
    let totalMessages = 0;
    for (const mailbox of view.mailboxes) {
      for (const message of mailbox.messages) {
        totalSize += message.size;
        totalMessages++;
        if (message.bytes.length !== message.size) fail(`${mailbox.name} UID ${message.uid}: RFC822.SIZE ${message.size} but ${message.bytes.length} octets`);
        if (message.tag === null) {
          fail(`${mailbox.name} UID ${message.uid}: a message without a crash-loop tag`);
          continue;
        }
        const places = seen.get(message.tag) ?? [];
        places.push(mailbox.name);
        seen.set(message.tag, places);
        const e = this.get(view.account, message.tag);
        if (!e) {
          fail(`${mailbox.name} UID ${message.uid}: ${this.gone.has(`${view.account}\u0000${message.tag}`) ? 'a deleted message came back' : 'a message nobody sent'} (${message.tag})`);
          continue;
        }
        if (!bytesMatch(e, message.bytes)) fail(`${mailbox.name} UID ${message.uid} (${message.tag}): bytes differ from what was sent (${message.bytes.length} vs ${e.bytes.length} octets)`);
      }
    }
    // RFC 9208: STORAGE is in units of 1024 octets; the server rounds up.
    if (view.quota.messages !== totalMessages) fail(`quota MESSAGE usage ${view.quota.messages}, the mailboxes hold ${totalMessages}`);
    if (view.quota.storageKiB !== Math.ceil(totalSize / 1024)) fail(`quota STORAGE usage ${view.quota.storageKiB} KiB, the mailboxes hold ${totalSize} octets`);

    for (const [key, e] of this.expectations) {
      if (e.account !== view.account) continue;
      const places = seen.get(e.tag) ?? [];
      if (places.length > 1) fail(`${e.tag} is present ${places.length} times (${places.join(', ')})`);
      const place = places[0] ?? ABSENT;
      if (!e.allowed.has(place)) {
        fail(`${e.tag} is ${place === ABSENT ? 'missing' : `in ${place}`}; expected ${[...e.allowed].join(' or ')}`);
      }
      if (e.allowed.size > 1 && e.allowed.has(place)) {
        // Sets are insertion-ordered: the first entry is where the message was before the operation.
        if ([...e.allowed][0] === place) this.inFlightOutcomes.notDone++;
        else this.inFlightOutcomes.done++;
      }
      if (place === ABSENT) {
        this.expectations.delete(key);
        this.gone.add(key);
      } else {
        e.allowed = new Set([place]);
      }
    }
    for (const group of this.groups.filter((g) => g.account === view.account)) {
      const outcomes = new Set(group.tags.map((tag) => (seen.has(tag) ? 'kept' : 'gone')));
      if (outcomes.size > 1) fail(`${group.what}: only part of it happened (${group.tags.filter((t) => seen.has(t)).join(', ')} kept)`);
    }
    this.groups = this.groups.filter((g) => g.account !== view.account);
  }

  private checkMailboxes(view: AccountView, fail: (text: string) => void): void {
    const validities = view.mailboxes.map((m) => m.uidValidity).sort((a, b) => a - b).join(',');
    const before = this.validities.get(view.account);
    if (before !== undefined && before !== validities) fail(`UIDVALIDITY values changed from ${before} to ${validities}`);
    this.validities.set(view.account, validities);
    for (const mailbox of view.mailboxes) {
      const h = this.historyOf(view.account, mailbox.uidValidity);
      const where = `${mailbox.name} (UIDVALIDITY ${mailbox.uidValidity})`;
      if (mailbox.uidNext < h.uidNext) fail(`${where}: UIDNEXT went down from ${h.uidNext} to ${mailbox.uidNext}`);
      if (mailbox.highestModseq < h.highestModseq) fail(`${where}: HIGHESTMODSEQ went down from ${h.highestModseq} to ${mailbox.highestModseq}`);
      if (mailbox.highestModseq < h.maxModseqSent) fail(`${where}: HIGHESTMODSEQ ${mailbox.highestModseq} is below MODSEQ ${h.maxModseqSent} sent earlier`);
      let previous = 0;
      for (const message of mailbox.messages) {
        if (message.uid <= previous) fail(`${where}: UIDs not ascending (${previous} then ${message.uid})`);
        previous = message.uid;
        if (message.uid >= mailbox.uidNext) fail(`${where}: UID ${message.uid} is not below UIDNEXT ${mailbox.uidNext}`);
        if (message.modseq > mailbox.highestModseq) fail(`${where}: MODSEQ ${message.modseq} of UID ${message.uid} above HIGHESTMODSEQ ${mailbox.highestModseq}`);
        if (message.tag === null) continue;
        const known = h.uids.get(message.uid);
        if (known === undefined && message.uid < h.uidNext) fail(`${where}: UID ${message.uid} (${message.tag}) is new but below the UIDNEXT ${h.uidNext} seen before`);
        if (known !== undefined && known !== message.tag) fail(`${where}: UID ${message.uid} reused: was ${known}, now ${message.tag}`);
        h.uids.set(message.uid, message.tag);
        h.maxModseqSent = Math.max(h.maxModseqSent, message.modseq);
      }
      h.uidNext = mailbox.uidNext;
      h.highestModseq = mailbox.highestModseq;
    }
  }

  private historyOf(account: string, uidValidity: number): UidHistory {
    const key = `${account}:${uidValidity}`;
    let h = this.history.get(key);
    if (!h) {
      h = { uids: new Map(), uidNext: 0, highestModseq: 0, maxModseqSent: 0 };
      this.history.set(key, h);
    }
    return h;
  }
}

function bytesMatch(e: Expectation, stored: Buffer): boolean {
  if (e.match === 'exact') return stored.equals(e.bytes);
  if (stored.length < e.bytes.length || !stored.subarray(stored.length - e.bytes.length).equals(e.bytes)) return false;
  // What the server added in front must be header fields only (Received and the like).
  return HEADER_BLOCK.test(stored.subarray(0, stored.length - e.bytes.length).toString('latin1'));
}

/** The tag of a message: its Message-ID's local part (`<tag@crash.test>`). */
export function tagOf(bytes: Buffer): string | null {
  const head = bytes.subarray(0, Math.min(bytes.length, 4096)).toString('latin1');
  return /^Message-ID: <([^@>]+)@crash\.test>/im.exec(head)?.[1] ?? null;
}
