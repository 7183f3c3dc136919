/**
 * AUTH (RFC 5034) over the shared SASL engine (src/auth). Challenges go out as `+ base64`,
 * the client answers with a base64 line or `*` to cancel; strict base64 (RFC 5034 4: reject
 * characters outside the alphabet and misplaced padding).
 * @module
 */
import { Base64Error, PLAINTEXT_MECHANISMS, decodeBase64Strict, decodeInitialResponse, startSasl } from '../../auth/index.js';
import type { SaslMechanismName, SaslStep } from '../../auth/index.js';
import type { CommandSpec } from '../command.js';
import { Pop3Err, Pop3Errors } from '../errors.js';
import { enterTransaction, loginFailed } from '../login.js';
import { listing } from '../reply.js';
import type { Session } from '../session.js';

/**
 * Command: AUTH mechanism [initial-response] (RFC 5034 4); a bare AUTH lists the mechanisms
 * (the RFC 1734 era form some clients still probe with).
 * Response: "+ challenge" lines, then +OK maildrop has n messages | -ERR [AUTH] | -ERR.
 */
export const auth: CommandSpec<'AUTH'> = {
  async authorization(session, _state, command) {
    session.state = { kind: 'authorization', user: null };
    if (command.mechanism === null) return listing('mechanisms follow', session.mechanisms());
    const mechanism = command.mechanism.toUpperCase();
    if (PLAINTEXT_MECHANISMS.has(mechanism as SaslMechanismName) && !session.plaintextAllowed) throw Pop3Errors.plaintextRefused();
    if (!session.mechanisms().some((name) => name === mechanism)) throw new Pop3Err(null, 'unsupported authentication mechanism');
    const exchange = startSasl(mechanism, session.services.sasl);
    const method = `AUTH ${exchange.mechanism}` as const;
    const initial = command.initialResponse === null ? null : decode(() => decodeInitialResponse(command.initialResponse ?? ''));
    const step = await converse(session, await exchange.step(initial), (response) => exchange.step(response));
    if ('done' in step) return enterTransaction(session, { accountId: step.identity.accountId, address: step.identity.address, method });
    const reason = step.failed === 'temporary' ? 'temporary' : step.failed === 'malformed' || step.failed === 'initialResponseNotAllowed' ? 'malformed' : 'invalidCredentials';
    return loginFailed(session, step.username, method, reason, step.detail ?? step.failed);
  },
};

/** Sends challenges and feeds the answers back until the exchange is done or failed. */
async function converse(session: Session, first: SaslStep, next: (response: Buffer) => Promise<SaslStep>): Promise<Exclude<SaslStep, { challenge: Buffer }>> {
  let step = first;
  while ('challenge' in step) {
    const line = await session.saslChallenge(step.challenge);
    // RFC 5034 4: "If the client wishes to cancel the authentication exchange, it issues a line
    // with a single '*'. ... it MUST reject the AUTH command by sending an -ERR reply."
    if (line === '*') throw new Pop3Err(null, 'authentication cancelled');
    step = await next(decode(() => decodeBase64Strict(line)));
  }
  return step;
}

function decode(run: () => Buffer): Buffer {
  try {
    return run();
  } catch (error) {
    if (error instanceof Base64Error) throw new Pop3Err(null, 'invalid base64 in authentication exchange');
    throw error;
  }
}
