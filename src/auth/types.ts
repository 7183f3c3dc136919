/**
 * Types shared by the SASL engine, its mechanisms and the protocols that frame them.
 * auth/ depends on the store only through the narrow interfaces below (MailStore satisfies
 * AccountLookup structurally), never on a backend or a protocol.
 * @module
 */
import type { Account, Id } from '../store/types.js';

/** The mechanisms this engine implements (RFC 4422 3.1 names). */
export type SaslMechanismName = 'PLAIN' | 'LOGIN' | 'CRAM-MD5' | 'SCRAM-SHA-256' | 'OAUTHBEARER' | 'XOAUTH2';

export const SASL_MECHANISMS: readonly SaslMechanismName[] = Object.freeze([
  'PLAIN',
  'LOGIN',
  'CRAM-MD5',
  'SCRAM-SHA-256',
  'OAUTHBEARER',
  'XOAUTH2',
]);

/** What authentication needs to know about an account. */
export type AuthAccount = Pick<Account, 'id' | 'address' | 'passwordHash'>;

/** Finds accounts by address. `MailStore.getAccount` fits. */
export interface AccountLookup {
  /** The account for a full address (the store compares lower-cased), or null. */
  getAccount(address: string): Promise<AuthAccount | null>;
}

/**
 * The per-account shared secret for CRAM-MD5, SCRAM-SHA-256 and POP3 APOP. It is not the
 * login password (that is only kept as an argon2id hash); the store keeps it encrypted
 * (`Directory.getSecret`) and an implementation such as StoreSecretProvider decrypts it.
 */
export interface SecretProvider {
  /** The plaintext secret, or null when the account has none (those mechanisms then fail). */
  getSharedSecret(accountId: Id): Promise<string | null>;
}

/** Verifies OAuth 2.0 bearer tokens (OAUTHBEARER, XOAUTH2). See ./oauth.ts. */
export interface BearerTokenVerifier {
  verify(token: string): Promise<TokenVerdict>;
}

export type TokenVerdict =
  /** `address` is the lower-cased identity the token proves (`email`, or `sub` if it is an address). */
  | { ok: true; address: string; issuer: string }
  | { ok: false; reason: TokenFailureReason; detail: string };

export type TokenFailureReason =
  | 'malformed'
  | 'unknownIssuer'
  | 'wrongIssuer'
  | 'wrongAudience'
  | 'expired'
  | 'notYetValid'
  | 'badSignature'
  | 'noIdentity'
  | 'temporary';

/** Everything a mechanism may use. One context per listener (or per server) is enough. */
export interface SaslContext {
  accounts: AccountLookup;
  /** Needed by CRAM-MD5 and SCRAM-SHA-256; without it those mechanisms are unavailable. */
  secrets?: SecretProvider;
  /**
   * Whether CRAM-MD5 and SCRAM-SHA-256 are advertised (default true when `secrets` is set). A
   * client may still ask for them when they are not advertised.
   */
  advertiseSecretMechanisms?: boolean;
  /** Needed by OAUTHBEARER and XOAUTH2; without it those mechanisms are unavailable. */
  tokens?: BearerTokenVerifier;
  /** The server's host name (CRAM-MD5 challenge, RFC 2195 2). */
  hostname: string;
  /** Random printable nonce (no ","), injectable for tests. Default: 24 random bytes, base64. */
  nonce?: () => string;
  scram?: {
    /** RFC 7677 3: SHOULD be at least 4096. Default 4096. */
    iterations?: number;
    /**
     * The salt announced for a (prepared, lower-cased) user name. Default: HMAC-SHA-256 of the
     * name under a per-process random key, so the salt is stable within a run and unknown users
     * get a salt as well (no user enumeration).
     */
    salt?: (username: string) => Buffer;
  };
  /** For OAUTHBEARER error results (RFC 7628 3.2.2 "scope"). */
  oauthScope?: string;
}

/** Who authenticated. The authorization identity is always the authenticated account here. */
export interface AuthIdentity {
  accountId: Id;
  /** The account's address as stored (lower-case). */
  address: string;
  mechanism: SaslMechanismName;
}

/**
 * Why an exchange failed. Protocols map these once, e.g. for SMTP (RFC 4954 6):
 * malformed → 501 5.5.2, initialResponseNotAllowed → 501 5.7.0, temporary → 454 4.7.0,
 * everything else → 535 5.7.8.
 */
export type SaslFailureReason =
  /** The client message does not follow the mechanism's syntax (or came after the end). */
  | 'malformed'
  /** A server-first mechanism got an initial response (RFC 4954 4). */
  | 'initialResponseNotAllowed'
  /** The requested authorization identity is not the authenticated one (RFC 4616 2, RFC 5802 5). */
  | 'authzidMismatch'
  /** Unknown user, wrong password, wrong secret, bad token: deliberately not told apart. */
  | 'invalidCredentials'
  /** A lookup failed (store or JWKS unavailable): try again later. */
  | 'temporary';

export type SaslStep =
  /** Send this to the client (protocols base64-encode it) and pass its answer to the next step. */
  | { challenge: Buffer }
  | { done: true; identity: AuthIdentity }
  | {
      failed: SaslFailureReason;
      /** The authentication identity the client claimed, when known: for per-account throttling and logs. */
      username: string | null;
      /** For logs only; never sent to the client. */
      detail?: string;
    };

export interface SaslExchange {
  readonly mechanism: SaslMechanismName;
  /**
   * Advances the exchange. `null` means "no initial response" (only valid as the first call);
   * an empty Buffer is an empty response. Never throws: failures come back as `{failed}`.
   */
  step(clientResponse: Buffer | null): Promise<SaslStep>;
}

export class UnsupportedMechanismError extends Error {
  constructor(readonly mechanism: string) {
    super(`SASL mechanism not supported: ${mechanism}`);
    this.name = 'UnsupportedMechanismError';
  }
}
