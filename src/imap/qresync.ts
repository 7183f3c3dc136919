/**
 * Expunge history for QRESYNC (RFC 7162 3.2.5.1 SELECT/EXAMINE, 3.2.6 UID FETCH VANISHED): the
 * UIDs of a mailbox expunged after a MODSEQ, read from the store's change log, which keeps every
 * expunge with the MODSEQ that removed it, for as long as the log is kept.
 *
 * When the log was pruned above the client's MODSEQ (`ChangeBatch.truncated`, docs/storage.md),
 * the exact answer is gone. The server then reports every UID of the client's range that no
 * longer exists (RFC 7162 3.2.6 note on <minmodseq>: "behave as if it was requested to report all
 * expunged messages"; 3.2.5.2 and 5.1: UIDs that never existed are allowed), computed as ranges
 * between the present messages, so a range of billions of UIDs costs no more than the mailbox
 * itself. Message sequence match data (3.2.5.2) narrows it when given.
 * @module
 */
import type { MailStore, MessageMeta } from '../store/types.js';
import { SequenceSet } from '../wire/imap/sequence-set.js';

const PAGE = 10_000;

export interface VanishedScope {
  /** The UIDs the client asks about; null for 1:max. */
  set: SequenceSet | null;
  /** Highest UID considered ("*" of the set). */
  max: number;
  /** RFC 7162 3.2.5.2 message sequence match data (SELECT/EXAMINE only). */
  sequenceMatch?: { readonly sequences: SequenceSet; readonly uids: SequenceSet } | null;
}

/**
 * UIDs of the scope expunged from the mailbox with a MODSEQ above `since` (a superset of them when
 * the log no longer reaches back that far), or null when there are none. `present` gives the
 * mailbox's current messages, ascending by UID; it is only called when the log was pruned.
 */
export async function vanishedSince(
  store: Pick<MailStore, 'changesSince'>,
  accountId: number,
  mailboxId: number,
  since: number,
  scope: VanishedScope,
  present: () => Promise<readonly MessageMeta[]>,
): Promise<SequenceSet | null> {
  const wanted = (uid: number): boolean => (scope.set === null ? uid >= 1 && uid <= scope.max : scope.set.contains(uid, scope.max));
  const uids = new Set<number>();
  let cursor = since;
  for (;;) {
    const batch = await store.changesSince(accountId, cursor, PAGE);
    // Pruned (possibly by a prune that ran between two pages): the log cannot say, the mailbox can.
    if (batch.truncated) return missingUids(scope, await present());
    for (const change of batch.changes) {
      if (change.kind === 'expunged' && change.mailboxId === mailboxId && wanted(change.uid)) uids.add(change.uid);
    }
    if (batch.changes.length < PAGE || batch.modseq <= cursor) break;
    cursor = batch.modseq;
  }
  return uids.size === 0 ? null : SequenceSet.fromNumbers([...uids].sort((a, b) => a - b));
}

/** Every UID of the scope (clipped to 1..max) that no message has, as ranges; null when none. */
export function missingUids(scope: VanishedScope, messages: readonly MessageMeta[]): SequenceSet | null {
  const floor = Math.max(1, matchedUpTo(scope.sequenceMatch ?? null, messages) + 1);
  const intervals = scope.set === null ? [[1, scope.max] as const] : scope.set.normalized(scope.max);
  const ranges: Array<{ start: number; end: number }> = [];
  let next = 0;
  for (const [start, end] of intervals) {
    let from = Math.max(start, floor);
    const to = Math.min(end, scope.max);
    if (from > to) continue;
    // Skip the present messages below the interval, then emit the gaps between the ones inside.
    while (next < messages.length && messages[next]!.uid < from) next++;
    while (from <= to) {
      const uid = next < messages.length ? messages[next]!.uid : Infinity;
      if (uid > to) {
        ranges.push({ start: from, end: to });
        break;
      }
      if (uid > from) ranges.push({ start: from, end: uid - 1 });
      from = uid + 1;
      next++;
    }
  }
  return ranges.length === 0 ? null : SequenceSet.fromRanges(ranges);
}

/**
 * RFC 7162 3.2.5.2: the highest UID of the leading (sequence number, UID) pairs that match the
 * mailbox as it is; the client knows every expunge up to it. 0 when the first pair differs.
 * Walks no further than the mailbox has messages, whatever ranges the client wrote.
 */
function matchedUpTo(match: VanishedScope['sequenceMatch'] | null, messages: readonly MessageMeta[]): number {
  if (match === null || match === undefined) return 0;
  const seqs = match.sequences.values(Number.MAX_SAFE_INTEGER);
  const uids = match.uids.values(Number.MAX_SAFE_INTEGER);
  let known = 0;
  for (;;) {
    const seq = seqs.next();
    const uid = uids.next();
    if (seq.done === true || uid.done === true) return known;
    if (seq.value > messages.length || messages[seq.value - 1]!.uid !== uid.value) return known;
    known = uid.value;
  }
}
