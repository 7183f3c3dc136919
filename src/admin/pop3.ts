/**
 * POP3 admin operations: the per-account shared secret (APOP, also CRAM-MD5 and SCRAM-SHA-256)
 * and the POP3 retention policy per domain or account (docs/pop3.md). Like the rest of admin/,
 * validation plus store calls; the change reaches running servers through the store.
 * @module
 */
import { encryptSecret } from '../auth/secret.js';
import { verifyPassword } from '../auth/password.js';
import type { Directory, Pop3Retention, Pop3RetentionSetting, Pop3RetentionTarget } from '../store/types.js';
import { MAX_POP3_RETENTION_DAYS, StoreError } from '../store/types.js';
import { normalizeDomain, parseAddress } from './address.js';
import { AdminError } from './errors.js';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './password-policy.js';

export interface Pop3AdminDependencies {
  store: Directory & Pop3Retention;
  /** The server's shared-secret key (data_dir/secret.key), loaded or created on first use. */
  secretKey: () => Promise<Uint8Array>;
}

export class Pop3AdminOperations {
  constructor(private readonly deps: Pop3AdminDependencies) {}

  /**
   * Sets the account's shared secret, encrypted under the server key and bound to the account.
   * It must not be the login password: that one is kept only as a one-way hash, and a shared
   * secret is stored reversibly.
   */
  async setSharedSecret(input: string, secret: string): Promise<void> {
    const { address } = parseAddress(input);
    const account = await this.deps.store.getAccount(address);
    if (account === null) throw new AdminError('notFound', `no such user: ${address}`);
    checkSecret(secret, address);
    if (await verifyPassword(account.passwordHash, secret)) throw new AdminError('weakPassword', 'the shared secret must not be the login password');
    const encrypted = encryptSecret(secret, await this.deps.secretKey(), account.id);
    await storeCall(() => this.deps.store.setSecret(address, encrypted), address);
  }

  /** Removes the shared secret: APOP, CRAM-MD5 and SCRAM-SHA-256 stop working for the account. */
  async removeSharedSecret(input: string): Promise<void> {
    const { address } = parseAddress(input);
    if ((await this.deps.store.getAccount(address)) === null) throw new AdminError('notFound', `no such user: ${address}`);
    await storeCall(() => this.deps.store.setSecret(address, null), address);
  }

  async setRetention(target: Pop3RetentionTarget, setting: Pop3RetentionSetting): Promise<void> {
    const normalized: Pop3RetentionTarget = 'domain' in target ? { domain: normalizeDomain(target.domain) } : { address: parseAddress(target.address).address };
    const name = 'domain' in normalized ? `domain: ${normalized.domain}` : `user: ${normalized.address}`;
    try {
      await this.deps.store.setPop3Retention(normalized, setting);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'notFound') throw new AdminError('notFound', `no such ${name}`);
      if (err instanceof StoreError && err.code === 'invalid') throw new AdminError('usage', err.message);
      throw err instanceof StoreError ? new AdminError('store', `store: ${err.message}`) : err;
    }
  }
}

/**
 * A retention value as typed: whole days (1 to 36500), "never", and for accounts "inherit"
 * (follow the domain). Anything else is a usage error.
 */
export function parseRetention(text: string, allowInherit: boolean): Pop3RetentionSetting {
  const value = text.trim().toLowerCase();
  if (value === 'never') return 'never';
  if (allowInherit && value === 'inherit') return null;
  if (/^[0-9]{1,6}$/.test(value)) {
    const days = Number(value);
    if (days >= 1 && days <= MAX_POP3_RETENTION_DAYS) return days;
  }
  const forms = allowInherit ? 'a number of days (1 to 36500), "never" or "inherit"' : 'a number of days (1 to 36500) or "never"';
  throw new AdminError('usage', `expected ${forms}, got "${text}"`);
}

/** The same rules as passwords (docs/cli.md), worded for secrets. */
function checkSecret(secret: string, address: string): void {
  if (secret === '') throw new AdminError('weakPassword', 'empty secret');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(secret)) throw new AdminError('weakPassword', 'secret contains control characters');
  const length = [...secret].length;
  if (length < MIN_PASSWORD_LENGTH) throw new AdminError('weakPassword', `weak secret: fewer than ${MIN_PASSWORD_LENGTH} characters`);
  if (length > MAX_PASSWORD_LENGTH) throw new AdminError('weakPassword', `secret longer than ${MAX_PASSWORD_LENGTH} characters`);
  const lower = secret.toLowerCase();
  if (lower === address || lower === address.slice(0, address.lastIndexOf('@'))) throw new AdminError('weakPassword', 'weak secret: same as the address');
}

async function storeCall(call: () => Promise<void>, address: string): Promise<void> {
  try {
    await call();
  } catch (err) {
    if (err instanceof StoreError && err.code === 'notFound') throw new AdminError('notFound', `no such user: ${address}`);
    throw err instanceof StoreError ? new AdminError('store', `store: ${err.message}`) : err;
  }
}
