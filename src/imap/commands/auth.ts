/**
 * Commands of the not-authenticated state: STARTTLS, LOGIN, AUTHENTICATE (RFC 3501 6.2), with
 * SASL through the shared auth/ module and failures throttled (docs/auth.md).
 * @module
 */
import { checkPassword, startSasl, UnsupportedMechanismError } from '../../auth/index.js';
import type { SaslExchange, SaslStep } from '../../auth/index.js';
import { ConnectionClosedError } from '../../net/connection.js';
import { encode, ImapParseError, parseAuthResponseLine } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapBad, ImapNo } from '../errors.js';
import type { ImapSession } from '../session.js';

/** Mechanisms whose client messages carry a reusable credential. */
const CLEARTEXT_CREDENTIALS: ReadonlySet<string> = new Set(['PLAIN', 'LOGIN', 'OAUTHBEARER', 'XOAUTH2']);

/**
 * Command: STARTTLS (RFC 3501 6.2.1, RFC 2595 3.1)
 * Request syntax: "STARTTLS"
 * Response: tagged OK, then the TLS handshake. Octets the client pipelined after the command are
 * dropped, never read as commands (CVE-2011-0411); capabilities are asked again afterwards.
 */
export async function cmdStarttls(session: ImapSession, command: CommandOf<'STARTTLS'>): Promise<Completion> {
  if (!session.startTlsOffered) throw new ImapBad(session.secure ? 'TLS is already active' : 'STARTTLS is not available here');
  const dropped = session.receiver.discardBuffered() + session.conn.stopReadingForTls();
  if (dropped > 0) session.log.warn({ dropped }, 'octets after STARTTLS dropped');
  await session.send(encode.tagged(command.tag, 'OK', null, 'Begin TLS negotiation now'));
  await session.output.flush();
  await session.conn.startTls(session.services.tls, session.settings.tlsHandshakeTimeoutMs);
  return { answered: true };
}

/**
 * Command: LOGIN (RFC 3501 6.2.3)
 * Request syntax: login = "LOGIN" SP userid SP password
 * Response: OK [CAPABILITY ...] / NO [AUTHENTICATIONFAILED] / NO [PRIVACYREQUIRED] (RFC 5530)
 */
export async function cmdLogin(session: ImapSession, command: CommandOf<'LOGIN'>): Promise<Completion> {
  // RFC 3501 6.2.3: LOGINDISABLED until TLS (RFC 8314 / config allow_plaintext_on_loopback).
  if (!session.plaintextAuthAllowed) throw new ImapNo('PRIVACYREQUIRED', 'LOGIN is disabled until TLS is active (STARTTLS)');
  const check = await checkPassword(session.store, command.userid, command.password);
  if (!check.ok) {
    if (check.reason === 'temporary') throw new ImapNo('UNAVAILABLE', 'Authentication is temporarily unavailable');
    session.log.info({ user: command.userid.slice(0, 100), reason: check.detail }, 'imap login failed');
    await session.authFailed(command.userid);
    throw new ImapNo('AUTHENTICATIONFAILED', 'Invalid credentials');
  }
  await session.services.throttle.recordSuccess(session.info.remoteAddress, command.userid);
  session.login({ accountId: check.account.id, address: check.account.address });
  return { code: { code: 'CAPABILITY', capabilities: session.capabilities() }, text: 'LOGIN completed' };
}

/**
 * Command: AUTHENTICATE (RFC 3501 6.2.2, RFC 4959 SASL-IR)
 * Request syntax: authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")] *(CRLF base64)
 * Response: "+ " base64 challenges; "*" from the client cancels (BAD); OK [CAPABILITY ...] or
 * NO [AUTHENTICATIONFAILED] / [AUTHORIZATIONFAILED] / [UNAVAILABLE] / [PRIVACYREQUIRED].
 */
export async function cmdAuthenticate(session: ImapSession, command: CommandOf<'AUTHENTICATE'>): Promise<Completion> {
  const mechanism = command.mechanism;
  // Passwords and bearer tokens never travel in the clear (RFC 8314, RFC 7628 3).
  if (CLEARTEXT_CREDENTIALS.has(mechanism) && !session.plaintextAuthAllowed) {
    throw new ImapNo('PRIVACYREQUIRED', `${mechanism} is disabled until TLS is active (STARTTLS)`);
  }
  let exchange: SaslExchange;
  try {
    // Any mechanism the engine can serve is accepted, advertised or not (CRAM-MD5 and
    // SCRAM-SHA-256 are advertised only with auth.secret_mechanisms, docs/auth.md).
    exchange = startSasl(mechanism, session.services.sasl);
  } catch (error) {
    if (error instanceof UnsupportedMechanismError) throw new ImapNo('CANNOT', `Unsupported authentication mechanism ${mechanism.slice(0, 40)}`);
    throw error;
  }
  let step: SaslStep = await exchange.step(command.initialResponse);
  while ('challenge' in step) {
    await session.send(encode.continuationBase64(step.challenge));
    step = await exchange.step(await readResponse(session));
  }
  if ('done' in step) {
    await session.services.throttle.recordSuccess(session.info.remoteAddress, step.identity.address);
    session.login({ accountId: step.identity.accountId, address: step.identity.address });
    return { code: { code: 'CAPABILITY', capabilities: session.capabilities() }, text: 'AUTHENTICATE completed' };
  }
  session.log.info({ mechanism, user: step.username?.slice(0, 100) ?? null, reason: step.failed, detail: step.detail }, 'imap authentication failed');
  switch (step.failed) {
    case 'temporary':
      throw new ImapNo('UNAVAILABLE', 'Authentication is temporarily unavailable');
    case 'malformed':
      await session.authFailed(step.username);
      throw new ImapBad('Malformed authentication exchange');
    case 'initialResponseNotAllowed':
      throw new ImapBad(`${mechanism} does not take an initial response`);
    case 'authzidMismatch':
      await session.authFailed(step.username);
      throw new ImapNo('AUTHORIZATIONFAILED', 'Not authorized to act as that user');
    case 'invalidCredentials':
      await session.authFailed(step.username);
      throw new ImapNo('AUTHENTICATIONFAILED', 'Invalid credentials');
  }
}

/** One client line of the exchange (RFC 3501 6.2.2): base64, or "*" to cancel. */
async function readResponse(session: ImapSession): Promise<Buffer> {
  session.receiver.expectAuthResponse();
  const event = await session.nextEvent();
  if (event === null) throw new ConnectionClosedError('client left during AUTHENTICATE');
  if (event.type !== 'authResponse') throw new ImapBad('Expected an authentication response line');
  if (event.cancelled) throw new ImapBad('AUTHENTICATE cancelled');
  try {
    const parsed = parseAuthResponseLine(event.data);
    if (parsed.cancelled) throw new ImapBad('AUTHENTICATE cancelled');
    return parsed.data;
  } catch (error) {
    if (error instanceof ImapParseError) throw new ImapBad('Invalid base64 in authentication response');
    throw error;
  }
}
