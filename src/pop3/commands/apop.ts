/**
 * APOP (RFC 1939 7): MD5(greeting timestamp + shared secret). The secret is the account's
 * shared secret (docs/auth.md), never the login password (kept only as an argon2id hash).
 * An unknown user and a user without a secret take the same path and time as a wrong digest
 * (auth/credentials.ts checkApop uses a random stand-in secret).
 * @module
 */
import { checkApop } from '../../auth/index.js';
import type { CommandSpec } from '../command.js';
import { Pop3Err } from '../errors.js';
import { enterTransaction, loginFailed } from '../login.js';

/**
 * Command: APOP name digest (RFC 1939 7).
 * Response: +OK maildrop has n messages (m octets) | -ERR [AUTH] | -ERR [IN-USE] | -ERR [SYS/TEMP].
 */
export const apop: CommandSpec<'APOP'> = {
  async authorization(session, _state, command) {
    session.state = { kind: 'authorization', user: null };
    const secrets = session.services.sasl.secrets;
    const timestamp = session.apopTimestamp;
    if (secrets === undefined || timestamp === null) throw new Pop3Err(null, 'APOP is not available');
    const check = await checkApop(session.services.sasl.accounts, secrets, command.name, timestamp, command.digest);
    if (!check.ok) return loginFailed(session, command.name, 'APOP', check.reason, check.detail);
    return enterTransaction(session, { accountId: check.account.id, address: check.account.address, method: 'APOP' });
  },
};
