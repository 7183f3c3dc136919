/**
 * Expunge history for QRESYNC (RFC 7162 3.2.5.1 SELECT/EXAMINE, 3.2.6 UID FETCH VANISHED): the
 * UIDs of a mailbox expunged after a MODSEQ, read from the store's change log, which keeps every
 * expunge with the MODSEQ that removed it.
 * @module
 */
import type { MailStore } from '../store/types.js';

const PAGE = 10_000;

/** UIDs expunged from the mailbox with a MODSEQ above `since`, ascending, optionally filtered. */
export async function expungedSince(store: MailStore, accountId: number, mailboxId: number, since: number, wanted: (uid: number) => boolean): Promise<number[]> {
  const uids = new Set<number>();
  let cursor = since;
  for (;;) {
    const batch = await store.changesSince(accountId, cursor, PAGE);
    for (const change of batch.changes) {
      if (change.kind === 'expunged' && change.mailboxId === mailboxId && wanted(change.uid)) uids.add(change.uid);
    }
    if (batch.changes.length < PAGE || batch.modseq <= cursor) break;
    cursor = batch.modseq;
  }
  return [...uids].sort((a, b) => a - b);
}
