/**
 * Mailbox management: CREATE (RFC 3501 6.3.3, RFC 6154 5.2 CREATE-SPECIAL-USE), DELETE (6.3.4),
 * RENAME (6.3.5, INBOX and inferiors), SUBSCRIBE / UNSUBSCRIBE (6.3.6, 6.3.7). The naming rules
 * (INBOX case-insensitive, "/" hierarchy, parents created) are the store's (docs/storage.md).
 * Errors: NO [ALREADYEXISTS], [NONEXISTENT], [CANNOT], [USEATTR] (RFC 5530, RFC 6154).
 * @module
 */
import type { SpecialUse } from '../../store/types.js';
import { encode } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapNo, storeCall } from '../errors.js';
import type { ImapSession } from '../session.js';
import type { LoggedInState } from '../state.js';

const SPECIAL_USES: ReadonlySet<string> = new Set<SpecialUse>(['\\Sent', '\\Drafts', '\\Trash', '\\Junk', '\\Archive', '\\All', '\\Flagged']);

/**
 * Command: CREATE (RFC 3501 6.3.3; RFC 6154 5.2)
 * Request syntax: create = "CREATE" SP mailbox [create-params]
 */
export async function cmdCreate(session: ImapSession, command: CommandOf<'CREATE'>, state: LoggedInState): Promise<Completion> {
  if (command.specialUse.length > 1) throw new ImapNo('USEATTR', 'Only one special-use attribute per mailbox');
  const use = command.specialUse[0] ?? null;
  if (use !== null && !SPECIAL_USES.has(use)) throw new ImapNo('USEATTR', `Unsupported special-use attribute ${use.slice(0, 40)}`);
  await storeCall(() => session.store.createMailbox(state.user.accountId, command.mailbox, use as SpecialUse | null));
}

/**
 * Command: DELETE (RFC 3501 6.3.4)
 * Request syntax: delete = "DELETE" SP mailbox
 * Deleting the selected mailbox closes it (OK [CLOSED]), so the session stays usable; a refused
 * DELETE (INBOX, a \Noselect name with inferiors) leaves the selection as it was.
 */
export async function cmdDelete(session: ImapSession, command: CommandOf<'DELETE'>, state: LoggedInState): Promise<Completion> {
  const mailbox = await storeCall(() => session.store.getMailbox(state.user.accountId, command.mailbox));
  if (mailbox === null) throw new ImapNo('NONEXISTENT', 'No such mailbox');
  await storeCall(() => session.store.deleteMailbox(state.user.accountId, mailbox.name));
  session.services.recent.forget(mailbox.id);
  if (state.kind === 'selected' && state.mailbox.mailboxId === mailbox.id) {
    session.state = { kind: 'authenticated', user: state.user };
    session.savedSearch = null;
    await session.send(encode.untaggedStatus('OK', 'CLOSED', 'Mailbox closed after deletion'));
  }
}

/**
 * Command: RENAME (RFC 3501 6.3.5)
 * Request syntax: rename = "RENAME" SP mailbox SP mailbox
 */
export async function cmdRename(session: ImapSession, command: CommandOf<'RENAME'>, state: LoggedInState): Promise<Completion> {
  await storeCall(() => session.store.renameMailbox(state.user.accountId, command.from, command.to));
}

/**
 * Command: SUBSCRIBE (RFC 3501 6.3.6)
 * Request syntax: subscribe = "SUBSCRIBE" SP mailbox
 */
export async function cmdSubscribe(session: ImapSession, command: CommandOf<'SUBSCRIBE'>, state: LoggedInState): Promise<Completion> {
  await storeCall(() => session.store.subscribe(state.user.accountId, command.mailbox));
}

/**
 * Command: UNSUBSCRIBE (RFC 3501 6.3.7)
 * Request syntax: unsubscribe = "UNSUBSCRIBE" SP mailbox
 */
export async function cmdUnsubscribe(session: ImapSession, command: CommandOf<'UNSUBSCRIBE'>, state: LoggedInState): Promise<Completion> {
  await storeCall(() => session.store.unsubscribe(state.user.accountId, command.mailbox));
}
