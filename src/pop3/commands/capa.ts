/**
 * CAPA (RFC 2449 5): the same list in both states, except what is state-bound (STLS only
 * before login and without TLS; EXPIRE exact after login).
 * @module
 */
import type { CommandSpec } from '../command.js';
import { capabilities } from '../capabilities.js';
import { listing } from '../reply.js';

/**
 * Command: CAPA (RFC 2449 5), both states.
 * Response: +OK capability list follows, one capability per line, ".".
 */
export const capa: CommandSpec<'CAPA'> = {
  async authorization(session) {
    return listing('capability list follows', await capabilities(session, { kind: 'authorization', secure: session.secure }));
  },
  async transaction(session, state) {
    return listing('capability list follows', await capabilities(session, { kind: 'transaction', retentionDays: state.retentionDays }));
  },
};
