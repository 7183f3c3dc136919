/**
 * DELE, RSET and NOOP (RFC 1939 5): marks live in the session only; QUIT makes them real.
 * @module
 */
import type { CommandSpec } from '../command.js';
import { ok } from '../reply.js';

/**
 * Command: DELE msg (RFC 1939 5).
 * Response: +OK message n deleted | -ERR message n already deleted | -ERR no such message.
 */
export const dele: CommandSpec<'DELE'> = {
  transaction(_session, { maildrop }, command) {
    maildrop.markDeleted(command.message);
    return ok(`message ${command.message} deleted`);
  },
};

/**
 * Command: RSET (RFC 1939 5).
 * Response: +OK maildrop has n messages (m octets).
 */
export const rset: CommandSpec<'RSET'> = {
  transaction(_session, { maildrop }) {
    maildrop.unmarkAll();
    return ok(`maildrop has ${maildrop.count} message${maildrop.count === 1 ? '' : 's'} (${maildrop.size} octets)`);
  },
};

/**
 * Command: NOOP (RFC 1939 5).
 * Response: +OK.
 */
export const noop: CommandSpec<'NOOP'> = {
  transaction() {
    return ok();
  },
};
