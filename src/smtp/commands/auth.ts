/**
 * Command: AUTH (RFC 4954 4).
 * Request syntax: `"AUTH" SP sasl-mech [SP initial-response] CRLF`, then `334` challenges each
 * answered by one base64 line, or "*" to cancel.
 * Response syntax: `235 2.7.0` on success; 432, 454, 500, 501, 503, 504, 534, 535, 538 otherwise.
 *
 * The exchange itself is the shared SASL engine (src/auth): PLAIN, LOGIN, CRAM-MD5 and
 * SCRAM-SHA-256 when shared secrets are configured, OAUTHBEARER and XOAUTH2 when OAuth issuers
 * are. Refused before TLS (538 5.7.11) unless `auth.allow_plaintext_on_loopback` and the peer is
 * loopback. Failures are throttled per IP and account with the other protocols (docs/auth.md)
 * and mapped as docs/auth.md says: malformed 501 5.5.2, initial response not allowed 501 5.7.0,
 * temporary 454 4.7.0, anything else 535 5.7.8. Responses are never logged.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Base64Error, UnsupportedMechanismError, decodeBase64Strict, decodeInitialResponse, encodeBase64, startSasl } from '../../auth/index.js';
import type { SaslExchange, SaslFailureReason, SaslStep } from '../../auth/index.js';
import { ConnectionClosedError } from '../../net/connection.js';
import { Reply, SmtpReplyError, reply, withText } from '../../wire/smtp/index.js';
import type { SmtpReply } from '../../wire/smtp/index.js';
import { command } from '../command.js';
import { SessionReply } from '../replies.js';
import type { Session } from '../session.js';

export const auth = command<'AUTH', 'greeted'>({
  states: ['greeted'],
  // RFC 4954 4: not during a mail transaction; and after EHLO only.
  wrongState: (session) => (session.state.kind === 'connected' ? withText(Reply.badSequence, 'Send EHLO first') : SessionReply.authInTransaction),
  async run(session, _state, cmd) {
    if (session.identity !== null) throw new SmtpReplyError(Reply.alreadyAuthenticated);
    if (!session.authUsable) throw new SmtpReplyError(Reply.encryptionRequired);
    if (session.state.kind === 'greeted' && session.state.greeting.verb !== 'EHLO') {
      throw new SmtpReplyError(withText(Reply.badSequence, 'AUTH needs EHLO'));
    }
    const exchange = startExchange(session, cmd.mechanism);
    const initial = cmd.initialResponse === null ? null : decodeResponse(() => decodeInitialResponse(cmd.initialResponse ?? ''));
    const step = await runExchange(session, exchange, initial);
    if ('done' in step) {
      session.identity = step.identity;
      await session.services.throttle.recordSuccess(session.info.remoteAddress, step.identity.address);
      session.log.info({ user: step.identity.address, mechanism: step.identity.mechanism }, 'authenticated');
      return Reply.authSucceeded;
    }
    return failed(session, exchange, step);
  },
});

function startExchange(session: Session, mechanism: string): SaslExchange {
  try {
    return startSasl(mechanism, session.services.sasl);
  } catch (error) {
    if (error instanceof UnsupportedMechanismError) throw new SmtpReplyError(withText(Reply.paramNotImplemented, 'Unsupported authentication mechanism'));
    throw error;
  }
}

/** Steps the exchange until it is done or failed; challenges go out as 334 lines. */
async function runExchange(session: Session, exchange: SaslExchange, initial: Buffer | null): Promise<Exclude<SaslStep, { challenge: Buffer }>> {
  let step = await exchange.step(initial);
  while ('challenge' in step) {
    session.send(reply(334, null, encodeBase64(step.challenge)));
    const line = await readResponseLine(session);
    // RFC 4954 4: "*" cancels with 501.
    if (line === '*') throw new SmtpReplyError(Reply.authCancelled);
    step = await exchange.step(decodeResponse(() => decodeBase64Strict(line)));
  }
  return step;
}

async function readResponseLine(session: Session): Promise<string> {
  const event = await session.nextEvent();
  if (event === null) throw new ConnectionClosedError('client closed during AUTH');
  // RFC 4954 4: a line longer than the buffer fails the exchange with 500 5.5.6.
  if (event.type === 'lineTooLong') throw new SmtpReplyError(Reply.authLineTooLong);
  if (event.type !== 'command') throw new SmtpReplyError(Reply.authBadBase64);
  return event.line.toString('latin1').trimEnd();
}

function decodeResponse(decode: () => Buffer): Buffer {
  try {
    return decode();
  } catch (error) {
    // RFC 4954 4: a response that cannot be decoded: 501 5.5.2.
    if (error instanceof Base64Error) throw new SmtpReplyError(Reply.authBadBase64);
    throw error;
  }
}

/** Records the failure, waits the throttle's delay (other sessions go on), then answers. */
async function failed(session: Session, exchange: SaslExchange, step: { failed: SaslFailureReason; username: string | null; detail?: string }): Promise<SmtpReply> {
  const ip = session.info.remoteAddress;
  const throttle = session.services.throttle;
  session.log.info({ mechanism: exchange.mechanism, user: step.username, reason: step.failed, detail: step.detail }, 'authentication failed');
  if (step.failed !== 'temporary' && step.failed !== 'malformed') await throttle.recordFailure(ip, step.username);
  const delay = await throttle.delayFor(ip, step.username);
  if (delay > 0) await sleep(delay);
  return failureReply(step.failed);
}

export function failureReply(reason: SaslFailureReason): SmtpReply {
  switch (reason) {
    case 'malformed':
      return Reply.authBadBase64;
    case 'initialResponseNotAllowed':
      return withText(Reply.authCancelled, 'Initial response not allowed for this mechanism');
    case 'temporary':
      return Reply.authTempFailure;
    case 'authzidMismatch':
    case 'invalidCredentials':
      return Reply.authFailed;
    default: {
      const unreachable: never = reason;
      return unreachable;
    }
  }
}
