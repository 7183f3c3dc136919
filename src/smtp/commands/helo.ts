/**
 * EHLO and HELO.
 *
 * Command: RFC 5321 4.1.1.1. Request syntax: `"EHLO" SP ( Domain / address-literal ) CRLF`,
 * `"HELO" SP Domain CRLF`. Response syntax: `ehlo-ok-rsp` (RFC 5321 4.1.1.1): the domain, then
 * one extension keyword per line (RFC 5321 2.2.2). Enhanced codes are not used on this reply:
 * the client learns about ENHANCEDSTATUSCODES from it (RFC 2034 3).
 *
 * Either resets the session's transaction (RFC 5321 4.1.4: EHLO in a transaction acts as RSET).
 * Extensions advertised: PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8
 * (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034), CHUNKING and BINARYMIME (RFC 3030), DSN
 * (RFC 3461), STARTTLS (RFC 3207) on plaintext only, AUTH (RFC 4954) only where it may be used
 * (TLS, or loopback with allow_plaintext_on_loopback).
 * @module
 */
import { availableMechanisms } from '../../auth/index.js';
import { reply } from '../../wire/smtp/index.js';
import type { SmtpReply } from '../../wire/smtp/index.js';
import { ALL_STATES, command } from '../command.js';
import type { Session } from '../session.js';

export const ehlo = command<'EHLO', 'connected' | 'greeted' | 'transaction' | 'chunking'>({
  states: ALL_STATES,
  async run(session, _state, cmd) {
    await session.resetTransaction();
    session.state = { kind: 'greeted', greeting: { verb: 'EHLO', host: cmd.host } };
    return reply(250, null, `${session.settings.hostname} Hello ${greetingName(session)}`, ...extensions(session));
  },
});

export const helo = command<'HELO', 'connected' | 'greeted' | 'transaction' | 'chunking'>({
  states: ALL_STATES,
  async run(session, _state, cmd): Promise<SmtpReply> {
    await session.resetTransaction();
    session.state = { kind: 'greeted', greeting: { verb: 'HELO', host: cmd.host } };
    return reply(250, null, `${session.settings.hostname} Hello ${greetingName(session)}`);
  },
});

/** The peer as we know it: its IP (never the client's own words, which could be anything). */
function greetingName(session: Session): string {
  return `[${session.info.remoteAddress}]`;
}

export function extensions(session: Session): string[] {
  const lines = [
    'PIPELINING',
    `SIZE ${session.settings.messageSize}`,
    '8BITMIME',
    'SMTPUTF8',
    'ENHANCEDSTATUSCODES',
    'CHUNKING',
    'BINARYMIME',
    'DSN',
  ];
  if (session.startTlsOffered) lines.push('STARTTLS');
  if (session.authUsable) lines.push(`AUTH ${availableMechanisms(session.services.sasl).join(' ')}`);
  return lines;
}
