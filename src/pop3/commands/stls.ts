/**
 * STLS (RFC 2595 4). The session does the upgrade (./session.ts): it drops every byte the
 * client sent after the command (CVE-2011-0411), answers, runs the handshake and comes back
 * to AUTHORIZATION with nothing remembered.
 * @module
 */
import type { CommandSpec } from '../command.js';
import { Pop3Err } from '../errors.js';

/**
 * Command: STLS (RFC 2595 4), AUTHORIZATION state only.
 * Response: +OK begin TLS negotiation | -ERR TLS already active.
 */
export const stls: CommandSpec<'STLS'> = {
  authorization(session) {
    if (session.secure) throw new Pop3Err(null, 'TLS already active');
    return { kind: 'startTls', text: 'begin TLS negotiation' };
  },
};
