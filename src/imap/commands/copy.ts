/**
 * Command: COPY (RFC 3501 6.4.7, RFC 4315 COPYUID), MOVE (RFC 6851), and their UID forms
 * Request syntax: copy = "COPY" SP sequence-set SP mailbox; move = "MOVE" SP sequence-set SP mailbox
 * Response: COPY → OK [COPYUID uidvalidity source-uids dest-uids]; MOVE → "* OK [COPYUID ...]"
 *   first, then the EXPUNGE (or VANISHED) responses from the flush (RFC 6851 4.3), then OK.
 *   A missing target is NO [TRYCREATE]; quota NO [OVERQUOTA] (RFC 9208).
 * @module
 */
import { encode } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapNo, storeCall } from '../errors.js';
import { resolvePositions } from '../sequence.js';
import type { ImapSession } from '../session.js';
import type { SelectedState } from '../state.js';

export async function cmdCopy(session: ImapSession, command: CommandOf<'COPY' | 'MOVE'>, state: SelectedState): Promise<Completion> {
  const view = state.mailbox;
  const isMove = command.name === 'MOVE';
  if (isMove && view.readOnly) throw new ImapNo('CANNOT', 'Mailbox is read-only');
  const uids = resolvePositions(view, command.sequenceSet, command.uid, session.savedSearch).map((i) => view.uids[i]!);
  const target = await storeCall(() => session.store.getMailbox(state.user.accountId, command.mailbox));
  if (target === null) throw new ImapNo('TRYCREATE', 'Destination mailbox does not exist');
  if (isMove && target.id === view.mailboxId) throw new ImapNo('CANNOT', 'Source and destination are the same mailbox');
  if (uids.length === 0) return { text: `${command.name} completed, nothing to do` };
  const result = isMove
    ? await storeCall(() => session.store.move(view.accountId, view.mailboxId, uids, target.id), true)
    : await storeCall(() => session.store.copy(view.accountId, view.mailboxId, uids, target.id), true);
  if (result.mapping.length === 0) return { text: `${command.name} completed, nothing to do` };
  const code: encode.ResponseCode = {
    code: 'COPYUID',
    uidValidity: result.uidValidity,
    sourceUids: result.mapping.map(([from]) => from),
    destinationUids: result.mapping.map(([, to]) => to),
  };
  if (!isMove) return { code, text: 'COPY completed' };
  // RFC 6851 4.3: COPYUID goes in an untagged OK before the expunges.
  await session.send(encode.untaggedStatus('OK', code, 'Moved'));
  return { text: 'MOVE completed' };
}
