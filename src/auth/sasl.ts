/**
 * The SASL engine (RFC 4422) shared by SMTP AUTH (RFC 4954), IMAP AUTHENTICATE (RFC 3501 6.2.2,
 * RFC 4959) and POP3 AUTH (RFC 5034). Protocols keep their own framing (base64 lines, "*" to
 * cancel, "=" for an empty initial response; see ./base64.ts) and drive an exchange:
 *
 *   const exchange = startSasl(name, context);
 *   let step = await exchange.step(initialResponseOrNull);
 *   while ('challenge' in step) step = await exchange.step(await readClientResponse(step.challenge));
 *   if ('done' in step) ... step.identity ... else ... step.failed ...
 *
 * Throttling (./throttle.ts) is applied by the protocol around the exchange.
 * @module
 */
import { CramMd5Exchange } from './mechanisms/cram-md5.js';
import { LoginExchange } from './mechanisms/login.js';
import { OAuthBearerExchange, XOAuth2Exchange } from './mechanisms/bearer.js';
import { PlainExchange } from './mechanisms/plain.js';
import { ScramSha256Exchange } from './mechanisms/scram.js';
import { SASL_MECHANISMS, UnsupportedMechanismError } from './types.js';
import type { SaslContext, SaslExchange, SaslMechanismName } from './types.js';

/** Mechanisms whose secrets travel in the clear (only offer them over TLS, RFC 4954 4 / RFC 4616 4). */
export const PLAINTEXT_MECHANISMS: ReadonlySet<SaslMechanismName> = new Set(['PLAIN', 'LOGIN']);

/** The mechanisms this context can serve, in the order to advertise them. */
export function availableMechanisms(context: SaslContext): SaslMechanismName[] {
  return SASL_MECHANISMS.filter((name) => {
    if (name === 'CRAM-MD5' || name === 'SCRAM-SHA-256') return context.secrets !== undefined && context.advertiseSecretMechanisms !== false;
    if (name === 'OAUTHBEARER' || name === 'XOAUTH2') return context.tokens !== undefined;
    return true;
  });
}

/**
 * Starts an exchange for a mechanism name (case-insensitive, RFC 4422 3.1). Throws
 * UnsupportedMechanismError when the name is unknown or the context lacks what it needs
 * (SMTP answers 504 5.5.4, IMAP NO, POP3 -ERR).
 */
export function startSasl(mechanism: string, context: SaslContext): SaslExchange {
  const name = mechanism.toUpperCase();
  switch (name) {
    case 'PLAIN':
      return new PlainExchange(context);
    case 'LOGIN':
      return new LoginExchange(context);
    case 'CRAM-MD5':
      if (context.secrets === undefined) break;
      return new CramMd5Exchange(context, context.secrets);
    case 'SCRAM-SHA-256':
      if (context.secrets === undefined) break;
      return new ScramSha256Exchange(context, context.secrets);
    case 'OAUTHBEARER':
      if (context.tokens === undefined) break;
      return new OAuthBearerExchange(context, context.tokens);
    case 'XOAUTH2':
      if (context.tokens === undefined) break;
      return new XOAuth2Exchange(context, context.tokens);
  }
  throw new UnsupportedMechanismError(mechanism);
}
