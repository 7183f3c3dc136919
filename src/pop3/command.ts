/**
 * The shape of a command handler: one function per state it is valid in (RFC 1939 9 command
 * summary). A verb without a function for the session's state is refused by the dispatcher,
 * so handlers never check the state themselves.
 * @module
 */
import type { Pop3CommandOf, Pop3Verb } from '../wire/pop3/index.js';
import type { Pop3Reply } from './reply.js';
import type { Session } from './session.js';
import type { StateOf } from './state.js';

export interface CommandSpec<V extends Pop3Verb> {
  authorization?(session: Session, state: StateOf<'authorization'>, command: Pop3CommandOf<V>): Pop3Reply | Promise<Pop3Reply>;
  transaction?(session: Session, state: StateOf<'transaction'>, command: Pop3CommandOf<V>): Pop3Reply | Promise<Pop3Reply>;
}
