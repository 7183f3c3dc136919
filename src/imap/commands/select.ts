/**
 * Opening and closing the selected mailbox: SELECT, EXAMINE (RFC 3501 6.3.1/6.3.2, with
 * CONDSTORE and QRESYNC parameters, RFC 7162 3.1.8 / 3.2.5), CLOSE (6.4.2), UNSELECT
 * (RFC 3691), CHECK (6.4.1).
 * @module
 */
import type { MessageMeta } from '../../store/types.js';
import { encode } from '../../wire/imap/index.js';
import type { QresyncParameters } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapBad, ImapNo, storeCall } from '../errors.js';
import { DELETED, flagListText, SEEN } from '../flags.js';
import { MailboxView } from '../mailbox-view.js';
import { vanishedSince } from '../qresync.js';
import type { ImapSession } from '../session.js';
import type { LoggedInState, SelectedState } from '../state.js';

/**
 * Command: SELECT / EXAMINE (RFC 3501 6.3.1, 6.3.2; RFC 4466 select-params; RFC 7162)
 * Request syntax: select = "SELECT" SP mailbox [SP "(" select-param *(SP select-param) ")"]
 * Response syntax: FLAGS, OK [PERMANENTFLAGS], EXISTS, RECENT, OK [UNSEEN], OK [UIDVALIDITY],
 *   OK [UIDNEXT], OK [HIGHESTMODSEQ]; under QRESYNC VANISHED (EARLIER) and FETCH; then
 *   OK [READ-WRITE] / [READ-ONLY]. Any previously selected mailbox is closed first, without
 *   expunging, and OK [CLOSED] says so (RFC 7162 3.2.11).
 */
export async function cmdSelect(session: ImapSession, command: CommandOf<'SELECT' | 'EXAMINE'>, state: LoggedInState): Promise<Completion> {
  // RFC 7162 3.2.5: QRESYNC without ENABLE QRESYNC is BAD, before anything changes.
  if (command.qresync !== null && !session.qresync) throw new ImapBad('QRESYNC must be enabled first (ENABLE QRESYNC)');
  if (state.kind === 'selected') {
    session.state = { kind: 'authenticated', user: state.user };
    await session.send(encode.untaggedStatus('OK', 'CLOSED', 'Previous mailbox closed'));
  }
  // RFC 5182 2.1: the saved search result is reset whenever a mailbox is (de)selected.
  session.savedSearch = null;
  if (command.condstore) session.condstore = true;
  const user = state.user;
  const mailbox = await storeCall(() => session.store.getMailbox(user.accountId, command.mailbox));
  if (mailbox === null) throw new ImapNo('NONEXISTENT', 'No such mailbox');
  const readOnly = command.name === 'EXAMINE';
  const { view, messages } = await storeCall(() => MailboxView.open(session.store, session.services.listings, session.services.recent, user.accountId, mailbox, readOnly));
  await session.send(view.flagsResponses(session.settings.keywordsPerMailbox));
  await session.send([...encode.existsResponse(view.count), ...encode.recentResponse(view.recentCount())]);
  const firstUnseen = messages.findIndex((m) => (m.flags & SEEN) === 0);
  if (firstUnseen >= 0) await session.send(encode.untaggedStatus('OK', { code: 'UNSEEN', value: firstUnseen + 1 }, `Message ${firstUnseen + 1} is the first unseen`));
  await session.send(encode.untaggedStatus('OK', { code: 'UIDVALIDITY', value: mailbox.uidValidity }, 'UIDs valid'));
  await session.send(encode.untaggedStatus('OK', { code: 'UIDNEXT', value: mailbox.uidNext }, 'Predicted next UID'));
  await session.send(encode.untaggedStatus('OK', { code: 'HIGHESTMODSEQ', value: Math.max(mailbox.highestModseq, 1) }, 'Highest'));
  const selected: SelectedState = { kind: 'selected', user, mailbox: view };
  session.state = selected;
  if (command.qresync !== null && command.qresync.uidValidity === mailbox.uidValidity) {
    await quickResync(session, selected, command.qresync, messages, mailbox.uidNext);
  }
  return { code: readOnly ? 'READ-ONLY' : 'READ-WRITE', text: `${command.name} completed` };
}

/** RFC 7162 3.2.5.1: what changed since the client's MODSEQ, within its known UIDs. */
async function quickResync(session: ImapSession, state: SelectedState, params: QresyncParameters, messages: readonly MessageMeta[], uidNext: number): Promise<void> {
  const view = state.mailbox;
  const known = params.knownUids;
  const wanted = (uid: number): boolean => (known === null ? uid < uidNext : known.contains(uid, uidNext - 1));
  // A pruned change log makes this the UIDs of the known range that no message has (3.2.5.2).
  const scope = { set: known, max: uidNext - 1, sequenceMatch: params.sequenceMatch };
  const vanished = await vanishedSince(session.store, view.accountId, view.mailboxId, params.modseq, scope, () => Promise.resolve(messages));
  if (vanished !== null) await session.send(encode.untagged([encode.raw('VANISHED'), encode.raw('(EARLIER)'), encode.raw(vanished.toString())]));
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    if (message.modseq <= params.modseq || !wanted(message.uid)) continue;
    const flags = flagListText(message.flags, message.keywords, view.isRecent(message.uid));
    await session.sendText(`* ${i + 1} FETCH (UID ${message.uid} FLAGS ${flags} MODSEQ (${message.modseq}))\r\n`);
  }
}

/**
 * Command: CLOSE (RFC 3501 6.4.2; RFC 7162 3.2.8)
 * Request syntax: "CLOSE"
 * Response: no untagged EXPUNGE; messages with \Deleted are removed unless read-only.
 */
export async function cmdClose(session: ImapSession, _command: CommandOf<'CLOSE'>, state: SelectedState): Promise<Completion> {
  const view = state.mailbox;
  session.state = { kind: 'authenticated', user: state.user };
  session.savedSearch = null;
  if (view.readOnly) return;
  const doomed = await deletedUids(session, state, null);
  if (doomed.length > 0) await storeCall(() => session.store.expunge(view.accountId, view.mailboxId, doomed));
}

/**
 * Command: UNSELECT (RFC 3691 2)
 * Request syntax: "UNSELECT"
 * Response: back to the authenticated state, nothing expunged.
 */
export async function cmdUnselect(session: ImapSession, _command: CommandOf<'UNSELECT'>, state: SelectedState): Promise<Completion> {
  session.state = { kind: 'authenticated', user: state.user };
  session.savedSearch = null;
  return Promise.resolve();
}

/**
 * Command: CHECK (RFC 3501 6.4.1)
 * Request syntax: "CHECK"
 * Every change is durable at commit already; CHECK only reports pending updates, like NOOP.
 */
export async function cmdCheck(_session: ImapSession, _command: CommandOf<'CHECK'>, state: SelectedState): Promise<Completion> {
  await state.mailbox.pull(true);
}

/** UIDs in the view that carry \Deleted now (and are in `only`, when given). */
export async function deletedUids(session: ImapSession, state: SelectedState, only: ((uid: number) => boolean) | null): Promise<number[]> {
  const view = state.mailbox;
  const { messages } = await storeCall(() => session.services.listings.list(view.accountId, view.mailboxId));
  return messages.filter((m) => (m.flags & DELETED) !== 0 && view.seqOf(m.uid) > 0 && (only === null || only(m.uid))).map((m) => m.uid);
}
