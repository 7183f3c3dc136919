/**
 * Command: EXPUNGE (RFC 3501 6.4.3) and UID EXPUNGE (RFC 4315 2.1)
 * Request syntax: expunge = "EXPUNGE"; uid-expunge = "UID" SP "EXPUNGE" SP sequence-set
 * Response syntax: "* n EXPUNGE" per message (or "* VANISHED uid-set" under QRESYNC, RFC 7162
 *   3.2.7), written by the dispatcher's flush from the change log, like other sessions' expunges.
 * @module
 */
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapNo, storeCall } from '../errors.js';
import { resolvePositions } from '../sequence.js';
import type { ImapSession } from '../session.js';
import type { SelectedState } from '../state.js';
import { deletedUids } from './select.js';

export async function cmdExpunge(session: ImapSession, command: CommandOf<'EXPUNGE'>, state: SelectedState): Promise<Completion> {
  const view = state.mailbox;
  if (view.readOnly) throw new ImapNo('CANNOT', 'Mailbox is read-only');
  let only: ((uid: number) => boolean) | null = null;
  if (command.uid) {
    const chosen = new Set(resolvePositions(view, command.sequenceSet, true, session.savedSearch).map((i) => view.uids[i]!));
    only = (uid) => chosen.has(uid);
  }
  const doomed = await deletedUids(session, state, only);
  if (doomed.length > 0) await storeCall(() => session.store.expunge(view.accountId, view.mailboxId, doomed));
}
