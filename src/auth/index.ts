/**
 * One authentication module for SMTP, IMAP and POP3: the SASL engine, password and shared-secret
 * checks, OAuth bearer tokens, and throttling. Protocols import from here.
 * @module
 */
export * from './types.js';
export { startSasl, availableMechanisms, PLAINTEXT_MECHANISMS } from './sasl.js';
export { decodeBase64Strict, decodeInitialResponse, encodeBase64, Base64Error } from './base64.js';
export { checkPassword, checkApop, normalizeUsername } from './credentials.js';
export type { CredentialCheck } from './credentials.js';
export { JwtBearerVerifier, OAuthConfigError } from './oauth.js';
export type { OAuthIssuerConfig, JwtVerifierOptions } from './oauth.js';
export { MemoryAuthThrottle, DEFAULT_THROTTLE_POLICY, ipKey } from './throttle.js';
export type { AuthThrottle, ThrottlePolicy } from './throttle.js';
export { StoreSecretProvider, encryptSecret, decryptSecret, loadOrCreateSecretKey, SecretError } from './secret.js';
export { LOGIN_USERNAME_CHALLENGE, LOGIN_PASSWORD_CHALLENGE } from './mechanisms/login.js';
export { SCRAM_DEFAULT_ITERATIONS, scramSaltedPassword } from './mechanisms/scram.js';
export { saslprep, SaslprepError } from './saslprep.js';
