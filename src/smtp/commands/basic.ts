/**
 * RSET, NOOP, QUIT, VRFY, EXPN, HELP: the commands valid in every state (RFC 5321 4.1.4).
 * @module
 */
import { Reply, withText } from '../../wire/smtp/index.js';
import { ALL_STATES, command } from '../command.js';
import { SessionReply } from '../replies.js';
import { SessionEnd } from '../errors.js';

type AnyState = 'connected' | 'greeted' | 'transaction' | 'chunking';

/**
 * Command: RSET (RFC 5321 4.1.1.5). Request syntax: `"RSET" CRLF`. Response syntax: `250`.
 * Aborts the transaction (and a BDAT message in progress, RFC 3030 2); keeps EHLO, TLS and AUTH.
 */
export const rset = command<'RSET', AnyState>({
  states: ALL_STATES,
  async run(session) {
    await session.resetTransaction();
    return Reply.ok;
  },
});

/** Command: NOOP (RFC 5321 4.1.1.9). Request syntax: `"NOOP" [ SP String ] CRLF`. Response: `250`. */
export const noop = command<'NOOP', AnyState>({
  states: ALL_STATES,
  run: () => Reply.ok,
});

/**
 * Command: QUIT (RFC 5321 4.1.1.10). Request syntax: `"QUIT" CRLF`. Response syntax: `221`,
 * then the server closes. An unfinished transaction is thrown away.
 */
export const quit = command<'QUIT', AnyState>({
  states: ALL_STATES,
  async run(session) {
    await session.resetTransaction();
    session.send(withText(Reply.closing, `${session.settings.hostname} closing connection`));
    throw new SessionEnd('quit');
  },
});

/**
 * Command: VRFY (RFC 5321 4.1.1.6). Request syntax: `"VRFY" SP String CRLF`. Response: 252
 * whatever the argument: RFC 5321 3.5.3 allows it, and answering truthfully would make the
 * server an oracle for valid addresses.
 */
export const vrfy = command<'VRFY', AnyState>({
  states: ALL_STATES,
  run: () => SessionReply.cannotVerify,
});

/** Command: EXPN (RFC 5321 4.1.1.7). Not offered (RFC 5321 3.5.2 allows it): 502. */
export const expn = command<'EXPN', AnyState>({
  states: ALL_STATES,
  run: () => SessionReply.expnDisabled,
});

/** Command: HELP (RFC 5321 4.1.1.8). Request syntax: `"HELP" [ SP String ] CRLF`. Response: 214. */
export const help = command<'HELP', AnyState>({
  states: ALL_STATES,
  run: () => SessionReply.help,
});
