/**
 * OAuth 2.0 bearer tokens for OAUTHBEARER (RFC 7628) and XOAUTH2: JWT access tokens (RFC 9068
 * style) verified with jose against the configured issuers. Each issuer names its audience
 * and its keys, either a local JWKS file (createLocalJWKSet) or a JWKS URL (createRemoteJWKSet,
 * fetched and cached by jose).
 *
 * The token's identity is its `email` claim (unless `email_verified` is false), or its `sub`
 * claim when that is an address; mechanisms then require it to be the account logging in.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, errors, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey, RemoteJWKSetOptions } from 'jose';
import type { BearerTokenVerifier, TokenFailureReason, TokenVerdict } from './types.js';

/** Mirrors config `auth.oauth[]` (src/config/types.ts OAuthIssuer). */
export interface OAuthIssuerConfig {
  issuer: string;
  audience: string;
  /** Absolute path of a JWKS file, or null. */
  jwksFile: string | null;
  /** JWKS URL, or null. */
  jwksUrl: string | null;
}

export interface JwtVerifierOptions {
  /** Current time, injectable for tests. */
  now?: () => Date;
  /** Allowed clock skew for exp/nbf/iat, seconds. Default 60. */
  clockToleranceSeconds?: number;
  /** Passed to createRemoteJWKSet (timeouts, cooldown, cache age). */
  remote?: RemoteJWKSetOptions;
}

export class OAuthConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OAuthConfigError';
  }
}

/** Only asymmetric signatures: a JWKS is public, so an HMAC key in it would let anyone sign. */
const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

interface Issuer {
  config: OAuthIssuerConfig;
  keys: JWTVerifyGetKey;
}

export class JwtBearerVerifier implements BearerTokenVerifier {
  private constructor(
    private readonly issuers: ReadonlyMap<string, Issuer>,
    private readonly options: JwtVerifierOptions,
  ) {}

  /** Reads local JWKS files now (so a broken file fails at startup); remote sets load on first use. */
  static async create(configs: readonly OAuthIssuerConfig[], options: JwtVerifierOptions = {}): Promise<JwtBearerVerifier> {
    const issuers = new Map<string, Issuer>();
    for (const config of configs) {
      if (issuers.has(config.issuer)) throw new OAuthConfigError(`issuer configured twice: ${config.issuer}`);
      issuers.set(config.issuer, { config, keys: await loadKeys(config, options) });
    }
    return new JwtBearerVerifier(issuers, options);
  }

  async verify(token: string): Promise<TokenVerdict> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      return refuse('malformed', 'not a JWT');
    }
    // The issuer picks the keys; jwtVerify then checks "iss" again against the signed payload.
    const issuer = typeof unverified.iss === 'string' ? this.issuers.get(unverified.iss) : undefined;
    if (issuer === undefined) return refuse('unknownIssuer', `issuer not configured: ${String(unverified.iss)}`);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, issuer.keys, {
        issuer: issuer.config.issuer,
        audience: issuer.config.audience,
        algorithms: ALLOWED_ALGORITHMS,
        clockTolerance: this.options.clockToleranceSeconds ?? 60,
        requiredClaims: ['exp'],
        ...(this.options.now === undefined ? {} : { currentDate: this.options.now() }),
      }));
    } catch (error) {
      return refuseFor(error);
    }
    const address = tokenAddress(payload);
    if (address === null) return refuse('noIdentity', 'token has no email (or address-like sub) claim');
    return { ok: true, address, issuer: issuer.config.issuer };
  }
}

async function loadKeys(config: OAuthIssuerConfig, options: JwtVerifierOptions): Promise<JWTVerifyGetKey> {
  if (config.jwksFile !== null) {
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(await readFile(config.jwksFile, 'utf8')) as JSONWebKeySet;
      return createLocalJWKSet(jwks);
    } catch (error) {
      throw new OAuthConfigError(`cannot load JWKS file ${config.jwksFile} for ${config.issuer}`, { cause: error });
    }
  }
  if (config.jwksUrl !== null) return createRemoteJWKSet(new URL(config.jwksUrl), options.remote);
  throw new OAuthConfigError(`issuer ${config.issuer} has neither jwksFile nor jwksUrl`);
}

/** `email` (unless marked unverified), else `sub` when it is an address; lower-cased. */
function tokenAddress(payload: JWTPayload): string | null {
  const looksLikeAddress = (value: unknown): value is string =>
    typeof value === 'string' && /^[^@\s]+@[^@\s]+$/.test(value);
  if (looksLikeAddress(payload.email) && payload.email_verified !== false) return payload.email.toLowerCase();
  if (looksLikeAddress(payload.sub)) return payload.sub.toLowerCase();
  return null;
}

function refuse(reason: TokenFailureReason, detail: string): TokenVerdict {
  return { ok: false, reason, detail };
}

/** Maps jose's errors to our reasons; anything that is not a token problem is temporary. */
function refuseFor(error: unknown): TokenVerdict {
  const detail = error instanceof Error ? error.message : String(error);
  if (error instanceof errors.JWTExpired) return refuse('expired', detail);
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return refuse('wrongAudience', detail);
    if (error.claim === 'iss') return refuse('wrongIssuer', detail);
    if (error.claim === 'nbf' || error.claim === 'iat') return refuse('notYetValid', detail);
    return refuse('malformed', detail);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey) {
    return refuse('badSignature', detail);
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return refuse('temporary', detail);
  if (error instanceof errors.JOSEError) return refuse('malformed', detail);
  // fetch failures and the like: the issuer's key server is unreachable.
  return refuse('temporary', detail);
}
