/**
 * TLS certificates for every listener and STARTTLS: loaded from configured files, or a
 * self-signed pair generated once into `<data_dir>/tls/` and reused on later starts.
 *
 * Each new handshake asks `context` for the current SecureContext (see ./starttls.ts), so
 * `reload()` (SIGHUP) reaches new connections on every listener at once while open sessions
 * keep the certificate they negotiated. A reload that finds a broken pair keeps the old one.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import { generate } from 'selfsigned';
import type { Logger } from '../log/index.js';

export interface TlsManagerOptions {
  hostname: string;
  dataDir: string;
  /** Configured PEM files (absolute paths), or both null to use the generated pair. */
  cert: string | null;
  key: string | null;
  logger: Logger;
  /** Validity of a generated certificate, days. */
  generatedValidityDays?: number;
}

export interface CertificateInfo {
  source: 'configured' | 'generated';
  certPath: string;
  keyPath: string;
  subject: string;
  subjectAltName: string;
  fingerprint256: string;
  validFrom: Date;
  validTo: Date;
}

export type ReloadResult = { ok: true; info: CertificateInfo } | { ok: false; error: TlsConfigError };

/** A certificate or key that cannot be used; the message names the file and the reason. */
export class TlsConfigError extends Error {
  readonly code = 'TLS_CONFIG';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TlsConfigError';
  }
}

interface LoadedPair {
  context: SecureContext;
  info: CertificateInfo;
}

/** Folder (under data_dir) and names of the generated pair. */
export const GENERATED_TLS_DIR = 'tls';
export const GENERATED_CERT_FILE = 'cert.pem';
export const GENERATED_KEY_FILE = 'key.pem';
/** Warn this long before a certificate expires. */
const EXPIRY_WARNING_MS = 14 * 86_400_000;

export class TlsManager {
  private current: LoadedPair;

  private constructor(
    private readonly options: TlsManagerOptions,
    initial: LoadedPair,
  ) {
    this.current = initial;
  }

  /** Loads the configured pair, or generates/reuses the self-signed one. Throws TlsConfigError. */
  static async create(options: TlsManagerOptions): Promise<TlsManager> {
    const pair = options.cert !== null && options.key !== null ? await loadConfiguredPair(options) : await loadOrGeneratePair(options);
    warnIfExpiring(pair.info, options.logger);
    options.logger.info(
      { source: pair.info.source, cert: pair.info.certPath, fingerprint256: pair.info.fingerprint256, validTo: pair.info.validTo.toISOString() },
      'tls certificate loaded',
    );
    return new TlsManager(options, pair);
  }

  /** The context new handshakes use. */
  get context(): SecureContext {
    return this.current.context;
  }

  get info(): CertificateInfo {
    return this.current.info;
  }

  /** For TLSSocket options: answers every SNI name with the current context. */
  readonly sniCallback = (_servername: string, callback: (err: Error | null, ctx?: SecureContext) => void): void => {
    callback(null, this.current.context);
  };

  /**
   * Re-reads the certificate and key files. New handshakes use the new pair; open sessions
   * are not touched. On failure the old pair stays in use and the error is logged.
   */
  async reload(): Promise<ReloadResult> {
    const { certPath, keyPath, source } = this.current.info;
    try {
      const pair = await loadPair(certPath, keyPath, source);
      this.current = pair;
      warnIfExpiring(pair.info, this.options.logger);
      this.options.logger.info(
        { cert: certPath, fingerprint256: pair.info.fingerprint256, validTo: pair.info.validTo.toISOString() },
        'tls certificate reloaded',
      );
      return { ok: true, info: pair.info };
    } catch (err) {
      const error = err instanceof TlsConfigError ? err : new TlsConfigError(String(err), { cause: err });
      this.options.logger.error({ cert: certPath, reason: error.message }, 'tls reload failed, keeping the previous certificate');
      return { ok: false, error };
    }
  }
}

async function loadConfiguredPair(options: TlsManagerOptions): Promise<LoadedPair> {
  return loadPair(options.cert ?? '', options.key ?? '', 'configured');
}

/** Reuses `<data_dir>/tls/{cert,key}.pem` when usable; generates them otherwise. */
async function loadOrGeneratePair(options: TlsManagerOptions): Promise<LoadedPair> {
  const dir = join(options.dataDir, GENERATED_TLS_DIR);
  const certPath = join(dir, GENERATED_CERT_FILE);
  const keyPath = join(dir, GENERATED_KEY_FILE);
  try {
    const pair = await loadPair(certPath, keyPath, 'generated');
    if (pair.info.validTo.getTime() > Date.now()) return pair;
    options.logger.warn({ cert: certPath, validTo: pair.info.validTo.toISOString() }, 'generated certificate expired, generating a new one');
  } catch (err) {
    if (!isNotFound(err)) {
      options.logger.warn({ cert: certPath, reason: err instanceof Error ? err.message : String(err) }, 'generated certificate unusable, generating a new one');
    }
  }
  await generatePair(options, dir, certPath, keyPath);
  options.logger.info({ cert: certPath, hostname: options.hostname }, 'generated a self-signed certificate');
  return loadPair(certPath, keyPath, 'generated');
}

function isNotFound(err: unknown): boolean {
  return err instanceof TlsConfigError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

async function generatePair(options: TlsManagerOptions, dir: string, certPath: string, keyPath: string): Promise<void> {
  const notBefore = new Date(Date.now() - 60_000); // tolerate small clock skew between hosts
  const notAfter = new Date(notBefore.getTime() + (options.generatedValidityDays ?? 825) * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: options.hostname }], {
    keyType: 'rsa', // the widest client support; mail clients lag behind browsers
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: subjectAltNames(options.hostname) },
    ],
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Key first, each through a temp file and rename, so a crash never leaves half a file.
  await writeFileAtomically(keyPath, pems.private, 0o600);
  await writeFileAtomically(certPath, pems.cert, 0o644);
}

type AltName = { type: 2; value: string } | { type: 7; ip: string };

function subjectAltNames(hostname: string): AltName[] {
  const names: AltName[] = [isIP(hostname) ? { type: 7, ip: hostname } : { type: 2, value: hostname }];
  if (hostname !== 'localhost') names.push({ type: 2, value: 'localhost' });
  for (const ip of ['127.0.0.1', '::1']) if (ip !== hostname) names.push({ type: 7, ip });
  return names;
}

async function writeFileAtomically(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, content, { mode });
  await chmod(temp, mode); // the umask may have cleared bits of `mode`; make it exact
  await rename(temp, path);
}

async function loadPair(certPath: string, keyPath: string, source: CertificateInfo['source']): Promise<LoadedPair> {
  const certPem = await readPem(certPath, 'certificate');
  const keyPem = await readPem(keyPath, 'key');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (err) {
    throw new TlsConfigError(`${certPath}: not a PEM certificate`, { cause: err });
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(keyPem))) {
      throw new TlsConfigError(`${keyPath}: key does not match the certificate ${certPath}`);
    }
  } catch (err) {
    if (err instanceof TlsConfigError) throw err;
    throw new TlsConfigError(`${keyPath}: not a PEM private key`, { cause: err });
  }
  let context: SecureContext;
  try {
    context = createSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' });
  } catch (err) {
    throw new TlsConfigError(`${certPath}: unusable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return {
    context,
    info: {
      source,
      certPath,
      keyPath,
      subject: certificate.subject,
      subjectAltName: certificate.subjectAltName ?? '',
      fingerprint256: certificate.fingerprint256,
      validFrom: new Date(certificate.validFrom),
      validTo: new Date(certificate.validTo),
    },
  };
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new TlsConfigError(`${path}: cannot read ${what}: ${reason}`, { cause: err });
  }
}

function warnIfExpiring(info: CertificateInfo, logger: Logger): void {
  const remaining = info.validTo.getTime() - Date.now();
  if (remaining < EXPIRY_WARNING_MS) {
    logger.warn({ cert: info.certPath, validTo: info.validTo.toISOString() }, remaining < 0 ? 'tls certificate has expired' : 'tls certificate expires soon');
  }
}
