/**
 * Password hashing for every protocol and the admin tools: argon2id PHC strings
 * (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
 *
 * Parameters are the OWASP Password Storage Cheat Sheet minimum for argon2id:
 * m=19 MiB, t=2, p=1. The work runs on libuv's thread pool (@node-rs/argon2's async API),
 * so a login never blocks the event loop; the comparison is constant-time inside the library.
 * @module
 */
import { hash, verify, parseOptions } from '@node-rs/argon2';
import type { Algorithm } from '@node-rs/argon2';
import { Semaphore } from '../lib/semaphore.js';

/** Numeric value of the library's `Algorithm.Argon2id` (an ambient const enum: not usable with isolatedModules). */
const ARGON2ID = 2 as Algorithm;

export const PASSWORD_HASH_PARAMETERS = Object.freeze({
  memoryCost: 19456, // KiB = 19 MiB
  timeCost: 2,
  parallelism: 1,
});

/**
 * A hash of a random password nobody knows, verified when the account does not exist, so
 * "no such user" and "wrong password" take the same time (no user enumeration by timing).
 */
const DUMMY_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$8EeeyQhD9BHM/tQO7JPW5g$+dLxWUahskMexGNcAZHC5ihkyi5Tl5YURlTY3KIrlQI';

/**
 * argon2 runs on libuv's thread pool (4 threads by default), which file reads also use: a burst of
 * logins must not starve FETCH and SEARCH of blob reads. At most this many hashes run at once;
 * the others wait their turn (the connection limit bounds the queue).
 */
export const MAX_CONCURRENT_HASHES = 2;

const hashSlots = new Semaphore(MAX_CONCURRENT_HASHES);

async function limited<T>(work: () => Promise<T>): Promise<T> {
  const release = await hashSlots.acquire();
  try {
    return await work();
  } finally {
    release();
  }
}

/** Hashes a password into an argon2id PHC string with a fresh 16-byte random salt. */
export async function hashPassword(password: string): Promise<string> {
  return limited(() => hash(password, { algorithm: ARGON2ID, ...PASSWORD_HASH_PARAMETERS }));
}

/**
 * True when `password` matches `phcHash`. A null hash (unknown account) or a malformed hash
 * returns false after doing the same amount of work as a real check; it never throws.
 */
export async function verifyPassword(phcHash: string | null, password: string): Promise<boolean> {
  if (phcHash === null || !phcHash.startsWith('$argon2')) {
    await limited(() => verify(DUMMY_HASH, password)).catch(() => false);
    return false;
  }
  try {
    return await limited(() => verify(phcHash, password));
  } catch {
    return false;
  }
}

/** True when a stored hash was made with other parameters than today's (rehash after a successful login). */
export function needsRehash(phcHash: string): boolean {
  try {
    const options = parseOptions(phcHash);
    return (
      options.algorithm !== ARGON2ID ||
      options.memoryCost !== PASSWORD_HASH_PARAMETERS.memoryCost ||
      options.timeCost !== PASSWORD_HASH_PARAMETERS.timeCost ||
      options.parallelism !== PASSWORD_HASH_PARAMETERS.parallelism
    );
  } catch {
    return true;
  }
}
