/**
 * CRAM-MD5 (RFC 2195): the server sends a msg-id-like challenge `<random.timestamp@host>`, the
 * client answers `user SP hex(HMAC-MD5(secret, challenge))`. The secret is the account's shared
 * secret (SecretProvider), not its login password, which is only stored hashed.
 * @module
 */
import { dummySecret, findAccount, findSharedSecret, hmacMd5Hex, safeEqual } from '../credentials.js';
import type { SaslContext, SaslExchange, SaslStep, SecretProvider } from '../types.js';
import { challenge, decodeUtf8, failed, guard, succeeded } from './common.js';
import { defaultNonce } from './nonce.js';

export class CramMd5Exchange implements SaslExchange {
  readonly mechanism = 'CRAM-MD5' as const;
  #state: 'start' | 'challenged' | 'finished' = 'start';
  #challenge = '';
  #username: string | null = null;

  constructor(
    private readonly context: SaslContext,
    private readonly secrets: SecretProvider,
  ) {}

  async step(response: Buffer | null): Promise<SaslStep> {
    switch (this.#state) {
      case 'start': {
        if (response !== null) {
          // RFC 4954 4: a server-first mechanism given an initial response is refused (501 5.7.0).
          this.#state = 'finished';
          return failed('initialResponseNotAllowed', null, 'CRAM-MD5 does not take an initial response');
        }
        this.#state = 'challenged';
        // RFC 2195 2: "random digits, a timestamp, and the fully-qualified primary host name", msg-id syntax.
        const nonce = (this.context.nonce ?? defaultCramNonce)();
        this.#challenge = `<${nonce}@${this.context.hostname}>`;
        return challenge(this.#challenge);
      }
      case 'challenged':
        this.#state = 'finished';
        if (response === null) return failed('malformed', null, 'missing response');
        return guard(() => this.#username, () => this.#verify(response));
      case 'finished':
        return failed('malformed', this.#username, 'exchange already finished');
    }
  }

  async #verify(response: Buffer): Promise<SaslStep> {
    const text = decodeUtf8(response);
    const space = text?.lastIndexOf(' ') ?? -1;
    if (text === null || space <= 0) return failed('malformed', null, 'expected "user digest"');
    const username = text.slice(0, space);
    const digest = text.slice(space + 1);
    this.#username = username;
    // RFC 2195 2: a 16-octet digest in lower-case hexadecimal.
    if (!/^[0-9a-f]{32}$/.test(digest)) return failed('malformed', username, 'digest is not 32 lower-case hex digits');
    const account = await findAccount(this.context.accounts, username);
    const secret = await findSharedSecret(this.secrets, account);
    const expected = hmacMd5Hex(secret ?? dummySecret(), this.#challenge);
    const valid = safeEqual(Buffer.from(expected), Buffer.from(digest));
    if (account === null || secret === null) return failed('invalidCredentials', username, 'no account or no shared secret');
    if (!valid) return failed('invalidCredentials', username, 'wrong digest');
    return succeeded(account, this.mechanism);
  }
}

function defaultCramNonce(): string {
  return `${defaultNonce().replace(/[^A-Za-z0-9]/g, '')}.${Date.now()}`;
}
