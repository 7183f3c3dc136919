/**
 * DKIM keys (RFC 6376, RFC 8463 for Ed25519): the optional store capability that keeps them, key
 * generation, the DNS TXT record to publish, and the admin operations the CLI (`mailhaven dkim`)
 * and the HTTP admin API share. The private key is kept sealed with the server's secret key
 * (src/auth/secret.ts, the APOP/CRAM-MD5 mechanism) bound to its domain and selector; the
 * public key is kept as the `p=` value of the DNS record. docs/dkim.md.
 * @module
 */
import { createPublicKey, generateKeyPair } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { AdminError } from '../admin/errors.js';
import { openWithKey, sealWithKey } from '../auth/secret.js';
import { normalizeDomain } from '../delivery/resolve.js';
import type { Directory, Id } from '../store/types.js';
import { StoreError } from '../store/types.js';

export type DkimAlgorithm = 'rsa' | 'ed25519';
export const DKIM_ALGORITHMS: readonly DkimAlgorithm[] = ['rsa', 'ed25519'];

/** RFC 8301 3.2: signers MUST use at least 1024 bits and SHOULD use 2048. */
export const RSA_MODULUS_BITS = 2048;

/** A key row as the store keeps it. */
export interface DkimKeyRecord {
  id: Id;
  /** Lower-case A-label domain (the `d=` tag). */
  domain: string;
  /** Lower-case selector (the `s=` tag). */
  selector: string;
  algorithm: DkimAlgorithm;
  /** PKCS#8 PEM sealed with the secret key (sealDkimPrivateKey). */
  privateKeyEnc: string;
  /** Base64 `p=` value: SubjectPublicKeyInfo for RSA, the raw 32-octet key for Ed25519 (RFC 8463 4.2). */
  publicKey: string;
  /** The key new mail of the domain is signed with; at most one per domain. */
  active: boolean;
  createdAt: Date;
}

export type NewDkimKey = Omit<DkimKeyRecord, 'id' | 'createdAt'>;

/**
 * The optional store capability for DKIM keys (ARCHITECTURE.md: optional capabilities are
 * sub-interfaces). Check with `hasDkimKeyStore(store)`. Writes take no MODSEQ: no mail session
 * sees them.
 */
export interface DkimKeyStore {
  /** Adds a key; an active one becomes the only active key of its domain. StoreError 'exists' for a taken selector. */
  addDkimKey(key: NewDkimKey): Promise<DkimKeyRecord>;
  /** Keys ordered by domain, then creation (oldest first); of one domain when given. */
  listDkimKeys(domain?: string): Promise<DkimKeyRecord[]>;
  /** The domain's active key, or null. */
  getActiveDkimKey(domain: string): Promise<DkimKeyRecord | null>;
  /** Makes the key the only active one of its domain. StoreError 'notFound' when there is none. */
  activateDkimKey(domain: string, selector: string): Promise<void>;
  /** StoreError 'notFound' when there is none. */
  deleteDkimKey(domain: string, selector: string): Promise<void>;
}

export function hasDkimKeyStore<T extends object>(store: T): store is T & DkimKeyStore {
  const candidate = store as Partial<DkimKeyStore>;
  return typeof candidate.addDkimKey === 'function' && typeof candidate.getActiveDkimKey === 'function';
}

/** RFC 6376 3.1: a selector is one or more DNS labels ("sub-domain"). */
const SELECTOR = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function validSelector(selector: string): boolean {
  return SELECTOR.test(selector);
}

/** The default selector for a new key: "mh" and the UTC date, so rotations sort by age. */
export function defaultSelector(now: Date): string {
  return `mh${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
}

// ---- keys and records ----------------------------------------------------------------------------

const generate = promisify(generateKeyPair);

export interface GeneratedKey {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** The `p=` value. */
  publicKey: string;
}

/** A fresh key pair: RSA 2048 (RFC 8301) or Ed25519 (RFC 8463). */
export async function generateDkimKey(algorithm: DkimAlgorithm): Promise<GeneratedKey> {
  const pair = algorithm === 'rsa' ? await generate('rsa', { modulusLength: RSA_MODULUS_BITS }) : await generate('ed25519');
  return { privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: publicKeyValue(algorithm, pair.publicKey) };
}

/** The `p=` value of a public key. */
export function publicKeyValue(algorithm: DkimAlgorithm, publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // RFC 8463 4.2: for Ed25519 the record holds the bare key, the last 32 octets of the SPKI.
  return (algorithm === 'ed25519' ? spki.subarray(spki.length - 32) : spki).toString('base64');
}

/** The public key value of a PEM private key (checks that a stored key is consistent). */
export function publicKeyOfPrivate(algorithm: DkimAlgorithm, privateKeyPem: string): string {
  return publicKeyValue(algorithm, createPublicKey(privateKeyPem));
}

/** The DNS record to publish for a key (RFC 6376 3.6.1, 3.6.2.1). */
export interface DkimDnsRecord {
  /** `selector._domainkey.domain` */
  name: string;
  type: 'TXT';
  value: string;
}

export function dkimRecordName(domain: string, selector: string): string {
  return `${selector}._domainkey.${domain}`;
}

export function dkimRecordValue(algorithm: DkimAlgorithm, publicKey: string): string {
  return `v=DKIM1; k=${algorithm}; p=${publicKey}`;
}

export function dkimDnsRecord(key: Pick<DkimKeyRecord, 'domain' | 'selector' | 'algorithm' | 'publicKey'>): DkimDnsRecord {
  return { name: dkimRecordName(key.domain, key.selector), type: 'TXT', value: dkimRecordValue(key.algorithm, key.publicKey) };
}

/**
 * A TXT value cut into character-strings of at most 255 octets (RFC 1035 3.3.14): an RSA-2048
 * record is longer than one string may be; verifiers join them again (RFC 6376 3.6.2.2).
 */
export function txtStrings(value: string): string[] {
  const out: string[] = [];
  for (let at = 0; at < value.length; at += 255) out.push(value.slice(at, at + 255));
  return out.length === 0 ? [''] : out;
}

/** The record as one zone-file line, with the long value split into quoted strings. */
export function zoneFileLine(record: DkimDnsRecord): string {
  return `${record.name}. IN TXT ( ${txtStrings(record.value).map((part) => `"${part}"`).join(' ')} )`;
}

function sealContext(domain: string, selector: string): Buffer {
  return Buffer.from(`mailhaven-dkim:${domain}:${selector}`, 'utf8');
}

export function sealDkimPrivateKey(pem: string, secretKey: Uint8Array, domain: string, selector: string): string {
  return sealWithKey(pem, secretKey, sealContext(domain, selector));
}

export function openDkimPrivateKey(key: Pick<DkimKeyRecord, 'privateKeyEnc' | 'domain' | 'selector'>, secretKey: Uint8Array): string {
  return openWithKey(key.privateKeyEnc, secretKey, sealContext(key.domain, key.selector));
}

// ---- admin operations (CLI and HTTP) --------------------------------------------------------------

/** A key as admins see it: never the private key. */
export interface DkimKeyInfo {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  active: boolean;
  createdAt: string;
  record: DkimDnsRecord;
}

export function dkimKeyInfo(key: DkimKeyRecord): DkimKeyInfo {
  return {
    domain: key.domain,
    selector: key.selector,
    algorithm: key.algorithm,
    active: key.active,
    createdAt: key.createdAt.toISOString(),
    record: dkimDnsRecord(key),
  };
}

export interface DkimAdminDeps {
  store: Pick<Directory, 'getDomain'> & DkimKeyStore;
  secretKey: () => Promise<Uint8Array>;
  now?: () => Date;
}

export interface GenerateOptions {
  selector?: string;
  algorithm?: DkimAlgorithm;
}

/**
 * generate / list / dns / activate / delete, failing with AdminError (the CLI and HTTP map it
 * once). The first key of a domain is active at once; a later one (rotation) waits until
 * `activate`, so its DNS record can be published first.
 */
export class DkimAdminOperations {
  constructor(private readonly deps: DkimAdminDeps) {}

  async generate(domainName: string, options: GenerateOptions = {}): Promise<DkimKeyInfo> {
    const domain = await this.#localDomain(domainName);
    const now = this.deps.now?.() ?? new Date();
    const selector = (options.selector ?? defaultSelector(now)).toLowerCase();
    if (!validSelector(selector)) throw new AdminError('usage', `invalid selector "${selector}" (DNS labels: letters, digits, hyphens)`);
    const algorithm = options.algorithm ?? 'rsa';
    const existing = await this.deps.store.listDkimKeys(domain);
    if (existing.some((key) => key.selector === selector)) throw new AdminError('exists', `${domain} already has a key with selector ${selector}`);
    const generated = await generateDkimKey(algorithm);
    const secretKey = await this.deps.secretKey();
    const added = await this.deps.store.addDkimKey({
      domain,
      selector,
      algorithm,
      privateKeyEnc: sealDkimPrivateKey(generated.privateKeyPem, secretKey, domain, selector),
      publicKey: generated.publicKey,
      active: !existing.some((key) => key.active),
    });
    return dkimKeyInfo(added);
  }

  async list(domainName?: string): Promise<DkimKeyInfo[]> {
    const domain = domainName === undefined ? undefined : this.#normalize(domainName);
    return (await this.deps.store.listDkimKeys(domain)).map(dkimKeyInfo);
  }

  /** The records to publish for a domain: every key it has (during a rotation, old and new). */
  async dns(domainName: string): Promise<DkimKeyInfo[]> {
    const domain = await this.#localDomain(domainName);
    const keys = await this.deps.store.listDkimKeys(domain);
    if (keys.length === 0) throw new AdminError('notFound', `${domain} has no DKIM key (mailhaven dkim generate ${domain})`);
    return keys.map(dkimKeyInfo);
  }

  async activate(domainName: string, selector: string): Promise<void> {
    const domain = this.#normalize(domainName);
    await this.#mapNotFound(() => this.deps.store.activateDkimKey(domain, selector.toLowerCase()), domain, selector);
  }

  /** Refuses the active key unless `force`: mail would go out unsigned. */
  async delete(domainName: string, selector: string, options: { force?: boolean } = {}): Promise<void> {
    const domain = this.#normalize(domainName);
    const wanted = selector.toLowerCase();
    const active = await this.deps.store.getActiveDkimKey(domain);
    if (active?.selector === wanted && options.force !== true) {
      throw new AdminError('usage', `${wanted} is the active key of ${domain}: activate another selector first (or --force: mail then goes out unsigned)`);
    }
    await this.#mapNotFound(() => this.deps.store.deleteDkimKey(domain, wanted), domain, selector);
  }

  #normalize(domainName: string): string {
    const domain = normalizeDomain(domainName.trim());
    if (domain === null) throw new AdminError('invalidDomain', `invalid domain "${domainName}"`);
    return domain;
  }

  async #localDomain(domainName: string): Promise<string> {
    const domain = this.#normalize(domainName);
    if ((await this.deps.store.getDomain(domain)) === null) throw new AdminError('unknownDomain', `${domain} is not a local domain`);
    return domain;
  }

  async #mapNotFound(run: () => Promise<void>, domain: string, selector: string): Promise<void> {
    try {
      await run();
    } catch (error) {
      if (error instanceof StoreError && error.code === 'notFound') throw new AdminError('notFound', `${domain} has no key with selector ${selector}`);
      throw error;
    }
  }
}
