/**
 * Checking a user name with a password (PLAIN, LOGIN, IMAP LOGIN, POP3 USER/PASS) or with the
 * shared secret (CRAM-MD5, APOP), so that "no such user" and "wrong password" look the same
 * from outside: same answer, and an unknown user still costs one argon2 verification.
 * @module
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { verifyPassword } from './password.js';
import type { AccountLookup, AuthAccount, SecretProvider } from './types.js';

export type CredentialCheck =
  | { ok: true; account: AuthAccount }
  | { ok: false; reason: 'invalidCredentials' | 'temporary'; detail: string };

/** Thrown through when the store is unavailable; mechanisms turn it into `{failed:'temporary'}`. */
export class LookupFailedError extends Error {
  constructor(cause: unknown) {
    super(`account lookup failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'LookupFailedError';
  }
}

/** Accounts are stored lower-cased (store/types Account.address); login names are matched the same way. */
export function normalizeUsername(username: string): string {
  return username.trim().toLowerCase();
}

/** Looks an account up; store errors become LookupFailedError. */
export async function findAccount(accounts: AccountLookup, username: string): Promise<AuthAccount | null> {
  const address = normalizeUsername(username);
  if (address === '') return null;
  try {
    return await accounts.getAccount(address);
  } catch (error) {
    throw new LookupFailedError(error);
  }
}

/**
 * Checks a password against the account's argon2id hash (src/auth/password.ts). An unknown
 * user is verified against a dummy hash so the reply takes the same time.
 */
export async function checkPassword(accounts: AccountLookup, username: string, password: string): Promise<CredentialCheck> {
  let account: AuthAccount | null;
  try {
    account = await findAccount(accounts, username);
  } catch (error) {
    return { ok: false, reason: 'temporary', detail: error instanceof Error ? error.message : String(error) };
  }
  const valid = await verifyPassword(account?.passwordHash ?? null, password);
  if (account === null) return { ok: false, reason: 'invalidCredentials', detail: 'no such account' };
  if (!valid) return { ok: false, reason: 'invalidCredentials', detail: 'wrong password' };
  return { ok: true, account };
}

/** A stand-in secret for accounts that have none, so the work done does not reveal it. */
export function dummySecret(): string {
  return randomBytes(24).toString('base64');
}

/** Fetches the shared secret of an account; null account or no secret gives null. Store errors throw LookupFailedError. */
export async function findSharedSecret(secrets: SecretProvider, account: AuthAccount | null): Promise<string | null> {
  if (account === null) return null;
  try {
    return await secrets.getSharedSecret(account.id);
  } catch (error) {
    throw new LookupFailedError(error);
  }
}

/** Constant-time comparison of two byte strings of possibly different length. */
export function safeEqual(a: Uint8Array, b: Uint8Array): boolean {
  // Hash first so the comparison itself never short-cuts on length.
  const digestA = createHash('sha256').update(a).digest();
  const digestB = createHash('sha256').update(b).digest();
  return timingSafeEqual(digestA, digestB) && a.length === b.length;
}

/** RFC 2104 HMAC-MD5 as lower-case hex (RFC 2195 2 CRAM-MD5 digest). */
export function hmacMd5Hex(secret: string, text: string): string {
  return createHmac('md5', Buffer.from(secret, 'utf8')).update(text, 'utf8').digest('hex');
}

/**
 * POP3 APOP (RFC 1939 7): digest = MD5(timestamp + secret) in lower-case hex. Shared here so
 * POP3 checks it with the same secret source and the same unknown-user behaviour as CRAM-MD5.
 */
export async function checkApop(
  accounts: AccountLookup,
  secrets: SecretProvider,
  username: string,
  timestamp: string,
  digest: string,
): Promise<CredentialCheck> {
  let account: AuthAccount | null;
  let secret: string | null;
  try {
    account = await findAccount(accounts, username);
    secret = await findSharedSecret(secrets, account);
  } catch (error) {
    return { ok: false, reason: 'temporary', detail: error instanceof Error ? error.message : String(error) };
  }
  const expected = createHash('md5').update(timestamp + (secret ?? dummySecret()), 'utf8').digest('hex');
  const valid = safeEqual(Buffer.from(expected), Buffer.from(digest.toLowerCase()));
  if (account === null || secret === null) return { ok: false, reason: 'invalidCredentials', detail: 'no account or no secret' };
  if (!valid) return { ok: false, reason: 'invalidCredentials', detail: 'wrong digest' };
  return { ok: true, account };
}
