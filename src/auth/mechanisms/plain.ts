/**
 * PLAIN (RFC 4616): one client message `[authzid] NUL authcid NUL passwd`.
 * The authorization identity must be empty or name the authenticated account (we do not let
 * one user act as another). Passwords are compared as sent: accounts' argon2id hashes are made
 * from the password as typed, so no SASLprep is applied (RFC 4616 2 makes it optional).
 * @module
 */
import { checkPassword, normalizeUsername } from '../credentials.js';
import type { SaslContext, SaslExchange, SaslStep } from '../types.js';
import { challenge, decodeUtf8, failed, guard, succeeded } from './common.js';

export class PlainExchange implements SaslExchange {
  readonly mechanism = 'PLAIN' as const;
  #state: 'start' | 'waiting' | 'finished' = 'start';
  #username: string | null = null;

  constructor(private readonly context: SaslContext) {}

  async step(response: Buffer | null): Promise<SaslStep> {
    if (this.#state === 'finished') return failed('malformed', this.#username, 'exchange already finished');
    if (response === null) {
      if (this.#state !== 'start') return failed('malformed', null, 'missing response');
      // RFC 4422 5 (2a): a client-first mechanism without initial response gets an empty challenge.
      this.#state = 'waiting';
      return challenge(Buffer.alloc(0));
    }
    this.#state = 'finished';
    return guard(() => this.#username, () => this.#verify(response));
  }

  async #verify(response: Buffer): Promise<SaslStep> {
    // message = [authzid] UTF8NUL authcid UTF8NUL passwd (RFC 4616 2)
    const text = decodeUtf8(response);
    const parts = text?.split('\0');
    if (parts === undefined || parts.length !== 3) return failed('malformed', null, 'expected authzid NUL authcid NUL passwd');
    const [authzid, authcid, password] = parts as [string, string, string];
    this.#username = authcid;
    if (authcid === '' || password === '') return failed('malformed', authcid || null, 'empty authcid or password');
    const check = await checkPassword(this.context.accounts, authcid, password);
    if (!check.ok) return failed(check.reason, authcid, check.detail);
    // RFC 4616 2: the credentials must permit acting as the authorization identity.
    if (authzid !== '' && normalizeUsername(authzid) !== check.account.address) {
      return failed('authzidMismatch', authcid, `may not act as ${authzid}`);
    }
    return succeeded(check.account, this.mechanism);
  }
}
