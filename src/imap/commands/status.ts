/**
 * Command: STATUS (RFC 3501 6.3.10; RFC 7162, RFC 8438, RFC 9208, RFC 7889 items)
 * Request syntax: status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
 * Response syntax: "* STATUS" SP mailbox SP "(" [status-att-list] ")"; NO [NONEXISTENT].
 * @module
 */
import { encode } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapNo, storeCall } from '../errors.js';
import type { ImapSession } from '../session.js';
import type { LoggedInState } from '../state.js';
import { statusValues } from '../status-values.js';

export async function cmdStatus(session: ImapSession, command: CommandOf<'STATUS'>, state: LoggedInState): Promise<Completion> {
  const mailbox = await storeCall(() => session.store.getMailbox(state.user.accountId, command.mailbox));
  if (mailbox === null) throw new ImapNo('NONEXISTENT', 'No such mailbox');
  await session.send(encode.statusResponse(mailbox.name, await statusValues(session, mailbox, command.items)));
}
