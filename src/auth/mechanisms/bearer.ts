/**
 * OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's format): a bearer token in the initial client
 * response, verified by the context's BearerTokenVerifier, whose identity must be an existing
 * account and, when the client names a user, that user.
 *
 * Failure follows RFC 7628 3.2.3: the server sends an error document as a challenge, the
 * client answers with a dummy response (%x01 for OAUTHBEARER, empty for XOAUTH2), and only
 * then does the exchange fail. Protocols handle an abort ("*") themselves.
 * @module
 */
import { findAccount, normalizeUsername } from '../credentials.js';
import type { AuthAccount, BearerTokenVerifier, SaslContext, SaslExchange, SaslFailureReason, SaslStep } from '../types.js';
import { challenge, decodeUtf8, failed, guard, succeeded } from './common.js';

const KVSEP = '\x01';

type BearerCheck = { ok: true; account: AuthAccount } | { ok: false; reason: 'invalidCredentials' | 'temporary'; detail: string };

/** The token must verify, name an existing account, and be that of `requestedUser` if one is given. */
async function checkBearer(tokens: BearerTokenVerifier, context: SaslContext, token: string, requestedUser: string | null): Promise<BearerCheck> {
  const verdict = await tokens.verify(token);
  if (!verdict.ok) {
    return { ok: false, reason: verdict.reason === 'temporary' ? 'temporary' : 'invalidCredentials', detail: `${verdict.reason}: ${verdict.detail}` };
  }
  if (requestedUser !== null && normalizeUsername(requestedUser) !== verdict.address) {
    return { ok: false, reason: 'invalidCredentials', detail: `token is for ${verdict.address}, not ${requestedUser}` };
  }
  const account = await findAccount(context.accounts, verdict.address);
  if (account === null) return { ok: false, reason: 'invalidCredentials', detail: `no account ${verdict.address}` };
  return { ok: true, account };
}

/** "Bearer" b64token (RFC 6750 2.1); the scheme is case-insensitive (RFC 7628 4). */
function bearerToken(authorization: string | undefined): string | null {
  const match = authorization === undefined ? null : /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization);
  return match?.[1] ?? null;
}

/** Shared state machine: initial message, then success or error challenge + dummy response. */
abstract class BearerExchange implements SaslExchange {
  abstract readonly mechanism: 'OAUTHBEARER' | 'XOAUTH2';
  #state: 'start' | 'waiting' | 'errorSent' | 'finished' = 'start';
  #pendingFailure: { reason: SaslFailureReason; detail: string } = { reason: 'invalidCredentials', detail: '' };
  protected username: string | null = null;

  constructor(
    protected readonly context: SaslContext,
    private readonly tokens: BearerTokenVerifier,
  ) {}

  /** Parses the client message into the token and the user it claims to be, or a syntax error. */
  protected abstract parse(message: string): { token: string | null; user: string | null } | { error: string };
  /** The error document sent as a challenge (RFC 7628 3.2.2). */
  protected abstract errorChallenge(reason: SaslFailureReason): Buffer;
  /** Whether a response is the dummy response that completes an error sequence. */
  protected abstract isDummyResponse(response: Buffer): boolean;

  async step(response: Buffer | null): Promise<SaslStep> {
    switch (this.#state) {
      case 'start':
        if (response === null) {
          // Client-first mechanism without initial response: empty challenge (RFC 4422 5).
          this.#state = 'waiting';
          return challenge(Buffer.alloc(0));
        }
        return this.#initial(response);
      case 'waiting':
        if (response === null) return this.#finish('malformed', 'missing response');
        return this.#initial(response);
      case 'errorSent': {
        this.#state = 'finished';
        const { reason, detail } = this.#pendingFailure;
        if (response === null || !this.isDummyResponse(response)) return failed('malformed', this.username, `${detail}; then not the dummy response`);
        return failed(reason, this.username, detail);
      }
      case 'finished':
        return failed('malformed', this.username, 'exchange already finished');
    }
  }

  #finish(reason: SaslFailureReason, detail: string): SaslStep {
    this.#state = 'finished';
    return failed(reason, this.username, detail);
  }

  async #initial(response: Buffer): Promise<SaslStep> {
    const text = decodeUtf8(response);
    if (text === null) return this.#finish('malformed', 'message is not UTF-8');
    const parsed = this.parse(text);
    if ('error' in parsed) return this.#finish('malformed', parsed.error);
    this.username = parsed.user;
    const result = await guard(
      () => this.username,
      async (): Promise<SaslStep> => {
        if (parsed.token === null) return failed('invalidCredentials', this.username, 'no bearer token');
        const check = await checkBearer(this.tokens, this.context, parsed.token, parsed.user);
        if (!check.ok) return failed(check.reason, this.username, check.detail);
        this.username = check.account.address;
        return succeeded(check.account, this.mechanism);
      },
    );
    if (!('failed' in result)) {
      this.#state = 'finished';
      return result;
    }
    // RFC 7628 3.2.2/3.2.3: report the error as a challenge, fail after the client's dummy response.
    this.#pendingFailure = { reason: result.failed, detail: result.detail ?? '' };
    this.#state = 'errorSent';
    return challenge(this.errorChallenge(result.failed));
  }
}

/**
 * OAUTHBEARER client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep; kvpair = key "=" value kvsep
 * (RFC 7628 3.1). gs2-header = gs2-cbind-flag "," [authzid] ","; channel binding is not offered.
 */
export class OAuthBearerExchange extends BearerExchange {
  readonly mechanism = 'OAUTHBEARER' as const;

  protected parse(message: string): { token: string | null; user: string | null } | { error: string } {
    const parts = message.split(KVSEP);
    // [gs2-header, kvpair..., '', ''] — the message ends with the kvpairs' kvsep plus the final kvsep.
    if (parts.length < 3 || parts[parts.length - 1] !== '' || parts[parts.length - 2] !== '') return { error: 'not a client response' };
    const header = /^([ny]),(?:a=([^,]*))?,$/.exec(parts[0] ?? '');
    if (header === null) return { error: 'invalid GS2 header' };
    const user = header[2] === undefined ? null : decodeSaslname(header[2]);
    if (user === '') return { error: 'invalid authzid' };
    const pairs = new Map<string, string>();
    for (const pair of parts.slice(1, -2)) {
      const match = /^([A-Za-z]+)=([\s\S]*)$/.exec(pair);
      if (match === null) return { error: 'invalid key/value pair' };
      pairs.set((match[1] ?? '').toLowerCase(), match[2] ?? '');
    }
    // "auth" is REQUIRED; an empty one is how a client asks for discovery (RFC 7628 4.3).
    return { token: bearerToken(pairs.get('auth')), user };
  }

  protected errorChallenge(reason: SaslFailureReason): Buffer {
    // RFC 7628 3.2.2: status is an OAuth error code; scope and openid-configuration are optional.
    const document: Record<string, string> = {
      status: reason === 'temporary' ? 'temporarily_unavailable' : 'invalid_token',
      schemes: 'bearer',
    };
    if (this.context.oauthScope !== undefined) document.scope = this.context.oauthScope;
    return Buffer.from(JSON.stringify(document), 'utf8');
  }

  protected isDummyResponse(response: Buffer): boolean {
    return response.length === 1 && response[0] === 0x01;
  }
}

/** saslname as in GS2 (RFC 5801 4): "=2C" is ",", "=3D" is "="; any other "=" is invalid. */
function decodeSaslname(value: string): string {
  if (/=(?!2C|3D)/.test(value)) return '';
  return value.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/**
 * XOAUTH2 (https://developers.google.com/gmail/imap/xoauth2-protocol):
 * "user=" {User} "^Aauth=Bearer " {Access Token} "^A^A". On failure the server sends a JSON
 * error as a challenge and the client answers with an empty response.
 */
export class XOAuth2Exchange extends BearerExchange {
  readonly mechanism = 'XOAUTH2' as const;

  protected parse(message: string): { token: string | null; user: string | null } | { error: string } {
    const parts = message.split(KVSEP);
    if (parts.length < 3 || parts[parts.length - 1] !== '' || parts[parts.length - 2] !== '') return { error: 'not an XOAUTH2 response' };
    let user: string | null = null;
    let auth: string | undefined;
    for (const pair of parts.slice(0, -2)) {
      const equals = pair.indexOf('=');
      if (equals <= 0) return { error: 'invalid key/value pair' };
      const key = pair.slice(0, equals).toLowerCase();
      if (key === 'user') user = pair.slice(equals + 1);
      else if (key === 'auth') auth = pair.slice(equals + 1);
    }
    if (user === null || user === '') return { error: 'missing user' };
    return { token: bearerToken(auth), user };
  }

  protected errorChallenge(reason: SaslFailureReason): Buffer {
    const document: Record<string, string> = { status: reason === 'temporary' ? '503' : '400', schemes: 'Bearer' };
    if (this.context.oauthScope !== undefined) document.scope = this.context.oauthScope;
    return Buffer.from(JSON.stringify(document), 'utf8');
  }

  protected isDummyResponse(response: Buffer): boolean {
    return response.length === 0;
  }
}
