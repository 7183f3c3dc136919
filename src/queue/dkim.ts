/**
 * DKIM signing of outbound mail (RFC 6376, RFC 8463 for Ed25519) with mailauth's dkimSign.
 *
 * The signing domain is the domain of the From header field when we hold an active key for it
 * (that is the domain DMARC aligns with, RFC 7489 3.1), else the envelope sender's domain.
 * Canonicalization relaxed/relaxed (RFC 6376 3.4.2, 3.4.4: survives the header refolding and
 * trailing-space changes relays make); the signed header list is mailauth's default (From,
 * Sender, Reply-To, Subject, Date, Message-ID, To, Cc, MIME-Version, Content-*, Resent-*,
 * In-Reply-To, References, List-*), fields absent from the message not being listed.
 *
 * The message is read as a stream, twice: a bounded scan of the header to find the From domain,
 * then the signing pass. The caller (the queue worker) prepends the returned header field.
 *
 * Keys: the active key of a domain is looked up for every message (one indexed query, so a
 * `mailhaven dkim activate` on any node applies to the next message); the decrypted private key
 * is cached by row id, so the secret-key decryption happens once per key.
 * @module
 */
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { dkimSign } from 'mailauth';
import { loadOrCreateSecretKey } from '../auth/secret.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../log/index.js';
import { parseAddressList } from '../mime/address.js';
import { parseHeaderBlock } from '../mime/header.js';
import { normalizeDomain, splitAddress } from '../delivery/resolve.js';
import type { Directory, MailStore } from '../store/types.js';
import { hasDkimKeyStore, openDkimPrivateKey } from './dkim-keys.js';
import type { DkimAlgorithm, DkimKeyRecord, DkimKeyStore } from './dkim-keys.js';

/** Header bytes read to find the From field; a longer header is signed for the sender's domain. */
export const HEADER_SCAN_LIMIT = 64 * 1024;
/** Decrypted keys kept in memory. */
const KEY_CACHE_LIMIT = 256;

export interface DkimSignerDeps {
  store: Pick<Directory, 'getDomain'> & DkimKeyStore;
  /** The server's secret key (secret.key in the data directory), or a loader for it. */
  secretKey: Uint8Array | (() => Promise<Uint8Array>);
  logger?: Logger;
  /** Signature time (t=); default: now. */
  now?: () => Date;
}

export interface SignRequest {
  /** The envelope sender (reverse-path, "" for the null sender). */
  sender: string;
  /** Opens the message from its first octet; called up to twice. */
  open: () => Promise<Readable> | Readable;
}

export interface DkimSignature {
  /** The DKIM-Signature field, folded, ending in CRLF: prepend it to the message. */
  header: string;
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
}

export class DkimSigner {
  readonly #deps: DkimSignerDeps;
  readonly #keys = new Map<string, string>();
  #secretKey: Uint8Array | null = null;

  constructor(deps: DkimSignerDeps) {
    this.#deps = deps;
  }

  /**
   * The signature for the message, or null when neither its From domain nor its sender's domain
   * is a local domain with an active key. A key that cannot be used (decryption failed) or a
   * signing error is logged and gives null: the message then goes out unsigned rather than stuck.
   */
  async sign(request: SignRequest): Promise<DkimSignature | null> {
    const key = await this.#keyFor(await this.#candidateDomains(request));
    if (key === null) return null;
    let privateKey: string;
    try {
      privateKey = await this.#privateKey(key);
    } catch (err) {
      this.#deps.logger?.error({ err, domain: key.domain, selector: key.selector }, 'cannot decrypt DKIM key; message sent unsigned');
      return null;
    }
    const signature = {
      signingDomain: key.domain,
      selector: key.selector,
      privateKey,
      algorithm: key.algorithm === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256',
      canonicalization: 'relaxed/relaxed',
    };
    // mailauth 4.13 signs what `signatureData` lists; the top-level fields only satisfy its types.
    const result = await dkimSign(await request.open(), { ...signature, signatureData: [signature], signTime: this.#deps.now?.() ?? new Date() });
    const header = result.signatures.trim();
    if (result.errors.length > 0 || header === '') {
      this.#deps.logger?.error({ errors: result.errors, domain: key.domain, selector: key.selector }, 'DKIM signing failed; message sent unsigned');
      return null;
    }
    return { header: `${header}\r\n`, domain: key.domain, selector: key.selector, algorithm: key.algorithm };
  }

  /** Forgets decrypted keys (tests; a rotated secret key). */
  clearCache(): void {
    this.#keys.clear();
    this.#secretKey = null;
  }

  /** From-header domains first (DMARC alignment), then the envelope sender's. */
  async #candidateDomains(request: SignRequest): Promise<string[]> {
    const domains: string[] = [];
    const add = (domain: string | null | undefined): void => {
      const normalized = domain === null || domain === undefined ? null : normalizeDomain(domain);
      if (normalized !== null && !domains.includes(normalized)) domains.push(normalized);
    };
    for (const address of fromAddresses(await readHeader(await request.open()))) add(address);
    add(splitAddress(request.sender)?.domain);
    return domains;
  }

  async #keyFor(domains: readonly string[]): Promise<DkimKeyRecord | null> {
    for (const domain of domains) {
      const key = await this.#deps.store.getActiveDkimKey(domain);
      if (key !== null && (await this.#deps.store.getDomain(domain)) !== null) return key;
    }
    return null;
  }

  async #privateKey(key: DkimKeyRecord): Promise<string> {
    // The sealed value is part of the cache key: a row replaced under the same id is re-read.
    const cacheKey = `${key.id}:${key.privateKeyEnc.slice(-24)}`;
    const cached = this.#keys.get(cacheKey);
    if (cached !== undefined) return cached;
    const pem = openDkimPrivateKey(key, await this.#loadSecretKey());
    if (this.#keys.size >= KEY_CACHE_LIMIT) this.#keys.clear();
    this.#keys.set(cacheKey, pem);
    return pem;
  }

  async #loadSecretKey(): Promise<Uint8Array> {
    if (this.#secretKey !== null) return this.#secretKey;
    const source = this.#deps.secretKey;
    this.#secretKey = typeof source === 'function' ? await source() : source;
    return this.#secretKey;
  }
}

/**
 * The signer the queue worker uses: null when `[mail_auth] sign = false` or the store keeps no
 * DKIM keys. The secret key is the one APOP/CRAM-MD5 secrets use (data_dir/secret.key).
 */
export function createDkimSigner(config: Config, store: MailStore, logger?: Logger): DkimSigner | null {
  if (!config.mailAuth.sign || !hasDkimKeyStore(store)) return null;
  return new DkimSigner({
    store,
    secretKey: () => loadOrCreateSecretKey(join(config.dataDir, 'secret.key')),
    ...(logger === undefined ? {} : { logger }),
  });
}

/** The header block (at most HEADER_SCAN_LIMIT octets) of a message stream; the stream is destroyed. */
export async function readHeader(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      chunks.push(bytes);
      length += bytes.length;
      const sofar = Buffer.concat(chunks, length);
      const end = sofar.indexOf('\r\n\r\n');
      if (end !== -1) return sofar.subarray(0, end + 2);
      if (length >= HEADER_SCAN_LIMIT) return sofar.subarray(0, HEADER_SCAN_LIMIT);
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks, length);
}

/** Domains of the addresses in the From field(s) of a header block. */
export function fromAddresses(header: Buffer): string[] {
  const domains: string[] = [];
  for (const field of parseHeaderBlock(header)) {
    if (field.key !== 'from') continue;
    for (const address of parseAddressList(field.value)) if (address.host !== null && address.mailbox !== null) domains.push(address.host);
  }
  return domains;
}
