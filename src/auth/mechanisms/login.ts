/**
 * LOGIN (draft-murchison-sasl-login-00): the server asks "Username:" then "Password:", the
 * client answers each. Clients may send the user name as an initial response (RFC 4954
 * examples and common practice), which skips the first challenge.
 * @module
 */
import { checkPassword } from '../credentials.js';
import type { SaslContext, SaslExchange, SaslStep } from '../types.js';
import { challenge, decodeUtf8, failed, guard, succeeded } from './common.js';

export const LOGIN_USERNAME_CHALLENGE = 'Username:';
export const LOGIN_PASSWORD_CHALLENGE = 'Password:';

export class LoginExchange implements SaslExchange {
  readonly mechanism = 'LOGIN' as const;
  #state: 'start' | 'username' | 'password' | 'finished' = 'start';
  #username: string | null = null;

  constructor(private readonly context: SaslContext) {}

  async step(response: Buffer | null): Promise<SaslStep> {
    switch (this.#state) {
      case 'start':
        // An empty initial response carries no user name: ask for it.
        if (response === null || response.length === 0) {
          this.#state = 'username';
          return challenge(LOGIN_USERNAME_CHALLENGE);
        }
        return this.#takeUsername(response);
      case 'username':
        if (response === null) return this.#fail('malformed', 'missing response');
        return this.#takeUsername(response);
      case 'password': {
        if (response === null) return this.#fail('malformed', 'missing response');
        this.#state = 'finished';
        const password = decodeUtf8(response);
        const username = this.#username ?? '';
        if (password === null || password === '') return failed('malformed', username, 'empty or non-UTF-8 password');
        return guard(
          () => username,
          async () => {
            const check = await checkPassword(this.context.accounts, username, password);
            return check.ok ? succeeded(check.account, this.mechanism) : failed(check.reason, username, check.detail);
          },
        );
      }
      case 'finished':
        return failed('malformed', this.#username, 'exchange already finished');
    }
  }

  #takeUsername(response: Buffer): SaslStep {
    const username = decodeUtf8(response);
    if (username === null || username === '') return this.#fail('malformed', 'empty or non-UTF-8 user name');
    this.#username = username;
    this.#state = 'password';
    return challenge(LOGIN_PASSWORD_CHALLENGE);
  }

  #fail(reason: 'malformed', detail: string): SaslStep {
    this.#state = 'finished';
    return failed(reason, this.#username, detail);
  }
}
