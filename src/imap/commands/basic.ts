/**
 * Commands valid in any state, and the small authenticated-state ones: CAPABILITY, NOOP,
 * LOGOUT, ID, ENABLE, NAMESPACE.
 * @module
 */
import { encode } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import type { ImapSession } from '../session.js';

/**
 * Command: CAPABILITY (RFC 3501 6.1.1)
 * Request syntax: capability = "CAPABILITY"
 * Response syntax: capability-data = "CAPABILITY" *(SP capability) SP "IMAP4rev1" ... (RFC 3501 7.2.1)
 */
export async function cmdCapability(session: ImapSession): Promise<Completion> {
  await session.send(encode.capabilityResponse(session.capabilities()));
}

/**
 * Command: NOOP (RFC 3501 6.1.2)
 * Request syntax: "NOOP"
 * Response: pending untagged updates (the dispatcher's flush), then OK.
 */
export async function cmdNoop(session: ImapSession): Promise<Completion> {
  if (session.state.kind === 'selected') await session.state.mailbox.pull(true);
}

/**
 * Command: LOGOUT (RFC 3501 6.1.3)
 * Request syntax: "LOGOUT"
 * Response syntax: "* BYE" then the tagged OK, then the server closes.
 */
export async function cmdLogout(session: ImapSession, command: CommandOf<'LOGOUT'>): Promise<Completion> {
  await session.send(encode.untaggedStatus('BYE', null, 'Logging out'));
  await session.send(encode.tagged(command.tag, 'OK', null, 'LOGOUT completed'));
  session.logout();
}

/**
 * Command: ID (RFC 2971 3.1)
 * Request syntax: id = "ID" SP id-params-list
 * Response syntax: id-response = "ID" SP id-params-list
 */
export async function cmdId(session: ImapSession, command: CommandOf<'ID'>): Promise<Completion> {
  if (command.parameters !== null) {
    session.log.info({ client: Object.fromEntries(command.parameters.slice(0, 10)) }, 'imap client id');
  }
  await session.send(encode.idResponse(session.settings.serverId));
}

/**
 * Command: ENABLE (RFC 5161 3.1; RFC 7162 3.1.8 / 3.2.3)
 * Request syntax: enable = "ENABLE" 1*(SP capability)
 * Response syntax: enable-data = "ENABLED" *(SP capability)
 * Only extensions this server can turn on are listed; unknown names are ignored (RFC 5161 3.1).
 */
export async function cmdEnable(session: ImapSession, command: CommandOf<'ENABLE'>): Promise<Completion> {
  const enabled: string[] = [];
  for (const name of command.capabilities) {
    if (name === 'CONDSTORE' && !session.condstore) {
      session.condstore = true;
      enabled.push('CONDSTORE');
    } else if (name === 'QRESYNC' && !session.qresync) {
      // RFC 7162 3.2.3: QRESYNC implies CONDSTORE.
      session.qresync = true;
      session.condstore = true;
      enabled.push('QRESYNC');
    }
  }
  await session.send(encode.enabledResponse(enabled));
}

/**
 * Command: NAMESPACE (RFC 2342 5)
 * Request syntax: "NAMESPACE"
 * Response syntax: "NAMESPACE" SP personal SP other SP shared — one personal namespace, "" with "/".
 */
export async function cmdNamespace(session: ImapSession): Promise<Completion> {
  await session.send(encode.namespaceResponse([{ prefix: '', delimiter: '/' }], [], []));
}
