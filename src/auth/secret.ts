/**
 * Shared secrets for CRAM-MD5, SCRAM-SHA-256 and POP3 APOP. These mechanisms need the secret
 * itself (or, for SCRAM, keys derived from it), so it cannot be stored as a one-way hash; it is
 * stored encrypted with AES-256-GCM under a server key kept outside the database (a key file
 * in the data directory by default), so a database dump alone does not reveal it.
 *
 * Stored form: "v1:" + base64(iv(12) | tag(16) | ciphertext). The account id is bound in as
 * additional authenticated data, so a secret copied onto another account's row does not decrypt.
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Id } from '../store/types.js';
import type { SecretProvider } from './types.js';

export const SECRET_KEY_LENGTH = 32;
const VERSION = 'v1:';
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

export class SecretError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretError';
  }
}

function checkKey(key: Uint8Array): void {
  if (key.length !== SECRET_KEY_LENGTH) throw new SecretError(`secret key must be ${SECRET_KEY_LENGTH} bytes`);
}

function associatedData(accountId: Id): Buffer {
  return Buffer.from(`mailhaven-secret:${accountId}`, 'utf8');
}

/** Encrypts a shared secret for `Directory.setSecret`. */
export function encryptSecret(secret: string, key: Uint8Array, accountId: Id): string {
  return sealWithKey(secret, key, associatedData(accountId));
}

/** Decrypts what encryptSecret produced; throws SecretError if it was tampered with or the key is wrong. */
export function decryptSecret(stored: string, key: Uint8Array, accountId: Id): string {
  return openWithKey(stored, key, associatedData(accountId));
}

/**
 * The same sealing for other secrets kept in the database (DKIM private keys, docs/dkim.md):
 * `context` is bound in as additional authenticated data, so a value copied onto another row
 * (another account, another selector) does not decrypt.
 */
export function sealWithKey(secret: string, key: Uint8Array, context: Uint8Array): string {
  checkKey(key);
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  cipher.setAAD(context);
  const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return VERSION + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
}

/** Opens what sealWithKey produced with the same context; throws SecretError otherwise. */
export function openWithKey(stored: string, key: Uint8Array, context: Uint8Array): string {
  checkKey(key);
  if (!stored.startsWith(VERSION)) throw new SecretError('unknown secret format');
  const raw = Buffer.from(stored.slice(VERSION.length), 'base64');
  if (raw.length < IV_LENGTH + TAG_LENGTH) throw new SecretError('stored secret too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_LENGTH), { authTagLength: TAG_LENGTH });
  decipher.setAAD(context);
  decipher.setAuthTag(raw.subarray(IV_LENGTH, IV_LENGTH + TAG_LENGTH));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_LENGTH + TAG_LENGTH)), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new SecretError('cannot decrypt stored secret (wrong key or tampered)', { cause: error });
  }
}

/** The part of the store the provider needs (`Directory.getSecret`). */
export interface EncryptedSecretSource {
  getSecret(accountId: Id): Promise<string | null>;
}

/** SecretProvider over the store: reads the encrypted secret and decrypts it. */
export class StoreSecretProvider implements SecretProvider {
  constructor(
    private readonly source: EncryptedSecretSource,
    private readonly key: Uint8Array,
  ) {
    checkKey(key);
  }

  async getSharedSecret(accountId: Id): Promise<string | null> {
    const stored = await this.source.getSecret(accountId);
    return stored === null ? null : decryptSecret(stored, this.key, accountId);
  }
}

/**
 * Reads the server's secret key file, creating it (mode 0600, 32 random bytes, base64) when it
 * does not exist. Losing this file makes every stored shared secret unreadable.
 */
export async function loadOrCreateSecretKey(path: string): Promise<Buffer> {
  try {
    const key = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
    checkKey(key);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error instanceof SecretError ? new SecretError(`${path}: ${error.message}`) : error;
    }
  }
  const key = randomBytes(SECRET_KEY_LENGTH);
  await mkdir(dirname(path), { recursive: true });
  // "wx": never overwrite a key another process created meanwhile.
  try {
    await writeFile(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateSecretKey(path);
    throw error;
  }
  return key;
}
