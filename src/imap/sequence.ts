/**
 * Sequence sets against the selected mailbox view (RFC 3501 6.4.8, 9 `sequence-set`; RFC 5182
 * "$"). Sets are never materialised beyond the mailbox: a UID set is tested against the view's
 * UIDs, a sequence set is walked within 1..count, so `1:4294967295` costs the mailbox size.
 * @module
 */
import type { SequenceSet } from '../wire/imap/index.js';
import { ImapBad } from './errors.js';
import type { MailboxView } from './mailbox-view.js';

/**
 * Positions (0-based indexes into `view.uids`, ascending) named by the set. The view's map only
 * changes at the flush after the command, so positions stay valid for the whole command.
 */
export function resolvePositions(view: MailboxView, set: SequenceSet, uidMode: boolean, saved: readonly number[] | null): number[] {
  if (set.saved) return savedPositions(view, saved ?? []);
  return uidMode ? uidPositions(view, set) : seqPositions(view, set);
}

function savedPositions(view: MailboxView, saved: readonly number[]): number[] {
  const out: number[] = [];
  for (const uid of saved) {
    const seq = view.seqOf(uid);
    if (seq > 0) out.push(seq - 1);
  }
  return out;
}

/** UID sets: "*" is the highest UID in the view (RFC 3501 6.4.8; `n:*` always includes it). */
function uidPositions(view: MailboxView, set: SequenceSet): number[] {
  const uids = view.uids;
  const max = view.highestUid;
  const out: number[] = [];
  if (uids.length === 0) return out;
  for (const [start, end] of set.normalized(max)) {
    for (let i = lowerIndex(uids, start); i < uids.length && uids[i]! <= end; i++) out.push(i);
  }
  return out;
}

/** Message sequence numbers: a range wholly above the message count is a client error
 * (RFC 3501 9: "a number greater than the number of messages ... is invalid"). */
function seqPositions(view: MailboxView, set: SequenceSet): number[] {
  const count = view.count;
  const out: number[] = [];
  for (const [start, end] of set.normalized(count)) {
    if (start > count) throw new ImapBad('Invalid message sequence number');
    for (let seq = Math.max(start, 1); seq <= Math.min(end, count); seq++) out.push(seq - 1);
  }
  return out;
}

function lowerIndex(values: readonly number[], target: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
