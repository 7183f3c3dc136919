/**
 * SCRAM-SHA-256 (RFC 7677, defined as SCRAM in RFC 5802 with SHA-256), server side, without
 * channel binding (we do not advertise -PLUS, so "y" is accepted and "p=" refused, RFC 5802 6).
 *
 *   C: n,,n=user,r=<client nonce>                         client-first-message
 *   S: r=<client nonce><server nonce>,s=<salt>,i=4096       server-first-message
 *   C: c=biws,r=<nonce>,p=<ClientProof>                     client-final-message
 *   S: v=<ServerSignature>                                  server-final-message (as a challenge)
 *   C: (empty)                                              then success
 *
 * The server-final-message goes out as a challenge answered by an empty response (RFC 4422
 * 3.6 lets a mechanism do so when the protocol has no "additional data with success"), which
 * works the same in SMTP, IMAP and POP3.
 *
 * The password is the account's shared secret (SecretProvider). Unknown users and accounts
 * without a secret run the same exchange with a throw-away secret and fail at the proof, so
 * the exchange does not reveal which accounts exist (RFC 5802 allows "other-error" for that).
 * @module
 */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { decodeBase64Strict } from '../base64.js';
import { dummySecret, findAccount, findSharedSecret, normalizeUsername, safeEqual } from '../credentials.js';
import { saslprep, SaslprepError } from '../saslprep.js';
import type { AuthAccount, SaslContext, SaslExchange, SaslStep, SecretProvider } from '../types.js';
import { challenge, decodeUtf8, failed, guard, succeeded } from './common.js';
import { defaultNonce } from './nonce.js';

const pbkdf2Async = promisify(pbkdf2);

export const SCRAM_DEFAULT_ITERATIONS = 4096;
const HASH = 'sha256';
const HASH_LENGTH = 32;

/** Salt key for the default salt function: per process, so unknown users get stable salts too. */
const PROCESS_SALT_KEY = randomBytes(32);

export function defaultScramSalt(username: string): Buffer {
  return createHmac(HASH, PROCESS_SALT_KEY).update(`scram-salt\0${username}`, 'utf8').digest().subarray(0, 16);
}

/** SaltedPassword := Hi(Normalize(password), salt, i); Hi is PBKDF2 with HMAC (RFC 5802 2.2). */
export async function scramSaltedPassword(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return pbkdf2Async(Buffer.from(saslprep(password), 'utf8'), salt, iterations, HASH_LENGTH, HASH);
}

const hmac = (key: Buffer, text: string): Buffer => createHmac(HASH, key).update(text, 'utf8').digest();
const hash = (data: Buffer): Buffer => createHash(HASH).update(data).digest();

interface ClientFirst {
  gs2Header: string;
  authzid: string | null;
  username: string;
  clientNonce: string;
  bare: string;
}

/** Parsing failure inside a SCRAM message. */
class ScramSyntaxError extends Error {}

/** saslname = 1*(value-safe-char / "=2C" / "=3D"): "=" other than those two fails (RFC 5802 5.1 "n"). */
function decodeSaslname(value: string): string {
  if (value === '' || /=(?!2C|3D)/.test(value)) throw new ScramSyntaxError('invalid saslname encoding');
  return value.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** client-first-message = gs2-header client-first-message-bare (RFC 5802 7). */
function parseClientFirst(message: string): ClientFirst {
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  const first = message.indexOf(',');
  const second = message.indexOf(',', first + 1);
  if (first === -1 || second === -1) throw new ScramSyntaxError('missing GS2 header');
  const flag = message.slice(0, first);
  if (flag.startsWith('p=')) throw new ScramSyntaxError('channel binding not supported');
  // RFC 5802 6: "y" is fine, since the server does not support channel binding.
  if (flag !== 'n' && flag !== 'y') throw new ScramSyntaxError('invalid channel binding flag');
  const authzidField = message.slice(first + 1, second);
  let authzid: string | null = null;
  if (authzidField !== '') {
    if (!authzidField.startsWith('a=')) throw new ScramSyntaxError('invalid authzid');
    authzid = decodeSaslname(authzidField.slice(2));
  }
  const gs2Header = message.slice(0, second + 1);
  const bare = message.slice(second + 1);
  const attributes = bare.split(',');
  // RFC 5802 5.1 "m": a mandatory extension we do not know fails the exchange.
  if (attributes[0]?.startsWith('m=')) throw new ScramSyntaxError('mandatory extensions not supported');
  const [userAttribute, nonceAttribute] = attributes;
  if (userAttribute === undefined || !userAttribute.startsWith('n=')) throw new ScramSyntaxError('missing user name');
  if (nonceAttribute === undefined || !/^r=[\x21-\x2b\x2d-\x7e]+$/.test(nonceAttribute)) throw new ScramSyntaxError('missing or invalid nonce');
  checkExtensions(attributes.slice(2));
  return { gs2Header, authzid, username: decodeSaslname(userAttribute.slice(2)), clientNonce: nonceAttribute.slice(2), bare };
}

/** extensions = attr-val *("," attr-val); unknown optional ones are ignored, but must be well formed (RFC 5802 7). */
function checkExtensions(attributes: string[]): void {
  if (!attributes.every((attribute) => /^[A-Za-z]=.+$/.test(attribute))) throw new ScramSyntaxError('invalid attribute');
}

interface ClientFinal {
  channelBinding: string;
  nonce: string;
  proof: Buffer;
  withoutProof: string;
}

/** client-final-message = channel-binding "," nonce ["," extensions] "," proof (RFC 5802 7). */
function parseClientFinal(message: string): ClientFinal {
  const proofAt = message.lastIndexOf(',p=');
  if (proofAt === -1) throw new ScramSyntaxError('missing proof');
  const withoutProof = message.slice(0, proofAt);
  const [binding, nonce, ...extensions] = withoutProof.split(',');
  if (binding === undefined || !binding.startsWith('c=')) throw new ScramSyntaxError('missing channel binding');
  if (nonce === undefined || !nonce.startsWith('r=')) throw new ScramSyntaxError('missing nonce');
  checkExtensions(extensions);
  let proof: Buffer;
  try {
    proof = decodeBase64Strict(message.slice(proofAt + 3));
  } catch {
    throw new ScramSyntaxError('invalid proof encoding');
  }
  return { channelBinding: binding.slice(2), nonce: nonce.slice(2), proof, withoutProof };
}

export class ScramSha256Exchange implements SaslExchange {
  readonly mechanism = 'SCRAM-SHA-256' as const;
  #state: 'start' | 'first' | 'final' | 'verified' | 'finished' = 'start';
  #username: string | null = null;
  #clientFirst: ClientFirst | null = null;
  #serverFirst = '';
  #nonce = '';
  #salt: Buffer = Buffer.alloc(0);
  #iterations: number;
  #account: AuthAccount | null = null;
  #secret: string | null = null;

  constructor(
    private readonly context: SaslContext,
    private readonly secrets: SecretProvider,
  ) {
    this.#iterations = context.scram?.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  }

  async step(response: Buffer | null): Promise<SaslStep> {
    const result = await this.#advance(response);
    if ('failed' in result) this.#state = 'finished';
    return result;
  }

  async #advance(response: Buffer | null): Promise<SaslStep> {
    switch (this.#state) {
      case 'start':
        // SCRAM is client-first (RFC 5802 5.2 (2a)): without an initial response, ask for it.
        if (response === null) {
          this.#state = 'first';
          return challenge(Buffer.alloc(0));
        }
        return this.#clientFirstStep(response);
      case 'first':
        if (response === null) return this.#finish('malformed', 'missing response');
        return this.#clientFirstStep(response);
      case 'final':
        if (response === null) return this.#finish('malformed', 'missing response');
        return this.#clientFinalStep(response);
      case 'verified':
        // The client acknowledges the server-final-message with an empty response.
        if (response === null || response.length !== 0) return this.#finish('malformed', 'expected an empty response');
        this.#state = 'finished';
        return succeeded(this.#account as AuthAccount, this.mechanism);
      case 'finished':
        return failed('malformed', this.#username, 'exchange already finished');
    }
  }

  #finish(reason: 'malformed' | 'invalidCredentials' | 'authzidMismatch', detail: string): SaslStep {
    this.#state = 'finished';
    return failed(reason, this.#username, detail);
  }

  async #clientFirstStep(response: Buffer): Promise<SaslStep> {
    const text = decodeUtf8(response);
    if (text === null) return this.#finish('malformed', 'client-first-message is not UTF-8');
    let clientFirst: ClientFirst;
    let lookupName: string;
    try {
      clientFirst = parseClientFirst(text);
      // RFC 5802 5.1 "n": the server prepares the user name with SASLprep for lookups.
      lookupName = normalizeUsername(saslprep(clientFirst.username));
    } catch (error) {
      if (error instanceof ScramSyntaxError || error instanceof SaslprepError) return this.#finish('malformed', error.message);
      throw error;
    }
    this.#username = clientFirst.username;
    this.#clientFirst = clientFirst;
    return guard(
      () => this.#username,
      async () => {
        this.#account = await findAccount(this.context.accounts, lookupName);
        this.#secret = await findSharedSecret(this.secrets, this.#account);
        this.#salt = (this.context.scram?.salt ?? defaultScramSalt)(lookupName);
        this.#nonce = clientFirst.clientNonce + (this.context.nonce ?? defaultNonce)();
        // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
        this.#serverFirst = `r=${this.#nonce},s=${this.#salt.toString('base64')},i=${this.#iterations}`;
        this.#state = 'final';
        return challenge(this.#serverFirst);
      },
    );
  }

  async #clientFinalStep(response: Buffer): Promise<SaslStep> {
    const clientFirst = this.#clientFirst as ClientFirst;
    const text = decodeUtf8(response);
    if (text === null) return this.#finish('malformed', 'client-final-message is not UTF-8');
    let clientFinal: ClientFinal;
    try {
      clientFinal = parseClientFinal(text);
    } catch (error) {
      if (error instanceof ScramSyntaxError) return this.#finish('malformed', error.message);
      throw error;
    }
    // RFC 5802 6: "The server MUST always validate the client's c= field": base64(gs2-header) without cbind-data.
    if (clientFinal.channelBinding !== Buffer.from(clientFirst.gs2Header, 'utf8').toString('base64')) {
      return this.#finish('malformed', 'channel binding does not match');
    }
    // RFC 5802 5.1 "r": the nonce must be the one the server sent.
    if (clientFinal.nonce !== this.#nonce) return this.#finish('malformed', 'nonce does not match');
    if (clientFinal.proof.length !== HASH_LENGTH) return this.#finish('malformed', 'proof has the wrong length');

    return guard(
      () => this.#username,
      async () => {
        const saltedPassword = await scramSaltedPassword(this.#secret ?? dummySecret(), this.#salt, this.#iterations);
        const clientKey = hmac(saltedPassword, 'Client Key');
        const storedKey = hash(clientKey);
        const authMessage = `${clientFirst.bare},${this.#serverFirst},${clientFinal.withoutProof}`;
        const clientSignature = hmac(storedKey, authMessage);
        const recoveredClientKey = Buffer.alloc(HASH_LENGTH);
        for (let i = 0; i < HASH_LENGTH; i++) recoveredClientKey[i] = (clientFinal.proof[i] ?? 0) ^ (clientSignature[i] ?? 0);
        const valid = safeEqual(hash(recoveredClientKey), storedKey);
        if (this.#account === null || this.#secret === null) return this.#finish('invalidCredentials', 'no account or no shared secret');
        if (!valid) return this.#finish('invalidCredentials', 'invalid proof');
        // RFC 5802 5: the authorization identity, if any, must be one this user may act as: itself.
        if (clientFirst.authzid !== null && normalizeUsername(clientFirst.authzid) !== this.#account.address) {
          return this.#finish('authzidMismatch', `may not act as ${clientFirst.authzid}`);
        }
        const serverKey = hmac(saltedPassword, 'Server Key');
        const serverSignature = hmac(serverKey, authMessage);
        this.#state = 'verified';
        return challenge(`v=${serverSignature.toString('base64')}`);
      },
    );
  }
}
