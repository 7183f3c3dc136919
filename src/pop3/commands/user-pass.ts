/**
 * USER and PASS (RFC 1939 7): the plaintext password login. Refused on connections without TLS
 * unless `auth.allow_plaintext_on_loopback` lets a loopback client use it (RFC 5034 4 / RFC
 * 2595 2.3: no plaintext passwords in the clear by default).
 * @module
 */
import { checkPassword } from '../../auth/index.js';
import type { CommandSpec } from '../command.js';
import { Pop3Err, Pop3Errors } from '../errors.js';
import { enterTransaction, loginFailed } from '../login.js';
import { ok } from '../reply.js';

/**
 * Command: USER name (RFC 1939 7).
 * Response: +OK always for a name (RFC 1939 7: "The server may return a positive response even
 * though no such mailbox exists"), so USER tells nobody which accounts exist.
 */
export const user: CommandSpec<'USER'> = {
  authorization(session, _state, command) {
    if (!session.plaintextAllowed) throw Pop3Errors.plaintextRefused();
    session.state = { kind: 'authorization', user: command.name };
    return ok('send PASS');
  },
};

/**
 * Command: PASS string (RFC 1939 7), only right after a successful USER.
 * Response: +OK maildrop has n messages (m octets) | -ERR [AUTH] | -ERR [IN-USE] | -ERR [SYS/TEMP].
 */
export const pass: CommandSpec<'PASS'> = {
  async authorization(session, state, command) {
    const name = state.user;
    // A PASS uses up the USER before it, whatever the outcome.
    session.state = { kind: 'authorization', user: null };
    if (name === null) throw new Pop3Err(null, 'send USER first');
    if (!session.plaintextAllowed) throw Pop3Errors.plaintextRefused();
    const check = await checkPassword(session.services.sasl.accounts, name, command.password);
    if (!check.ok) return loginFailed(session, name, 'USER', check.reason, check.detail);
    return enterTransaction(session, { accountId: check.account.id, address: check.account.address, method: 'USER' });
  },
};
