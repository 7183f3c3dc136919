/**
 * Checks that need no network: the configuration's choices and the TLS certificate file.
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { GENERATED_CERT_FILE, GENERATED_TLS_DIR } from '../net/tls.js';
import type { Finding } from './types.js';
import { fail, ok, warn } from './types.js';

const DAY_MS = 86_400_000;
/** Renew well before expiry: ACME clients renew at 30 days left. */
const EXPIRY_WARNING_DAYS = 21;

export function configFindings(config: Config): Finding[] {
  const findings: Finding[] = [];
  const host = config.hostname;
  if (!host.includes('.') || host === 'localhost' || isIP(host) !== 0) {
    findings.push(fail('config', `hostname "${host}" is not a fully qualified domain name`, 'set hostname = "mail.example.org" (the name in MX records, greetings and certificates)'));
  } else {
    findings.push(ok('config', `hostname ${host}`));
  }
  findings.push(
    config.listen.smtp.some((address) => address.port === 25)
      ? ok('config', 'smtp listens on port 25')
      : warn('config', 'no smtp listener on port 25: other servers deliver only to port 25', 'listen.smtp = ["0.0.0.0:25"] (needs root or CAP_NET_BIND_SERVICE; see docs/deploy.md)'),
  );
  if (config.listen.submission.length === 0 && config.listen.submissions.length === 0) {
    findings.push(warn('config', 'no submission listener: mail clients cannot send', 'listen.submissions = ["0.0.0.0:465"] and/or listen.submission = ["0.0.0.0:587"]'));
  }
  const publicHttp = config.listen.http.filter((address) => !isLoopback(address.host));
  if (publicHttp.length > 0) {
    findings.push(
      warn(
        'config',
        `the http listener is on ${publicHttp.map((address) => address.host).join(', ')}: /api, /admin and /metrics are reachable from the network`,
        'keep listen.http on 127.0.0.1 and publish only the autoconfig paths through a reverse proxy (docs/http.md)',
      ),
    );
  }
  if (config.auth.allowPlaintextOnLoopback) {
    findings.push(warn('config', 'auth.allow_plaintext_on_loopback is on', 'turn it off unless a local proxy terminates TLS in front of the server'));
  }
  return findings;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The certificate the server uses: the configured file, else the generated self-signed one. */
export async function certificateFindings(config: Config, now = Date.now()): Promise<Finding[]> {
  const configured = config.tls.cert !== null;
  const path = config.tls.cert ?? join(config.dataDir, GENERATED_TLS_DIR, GENERATED_CERT_FILE);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(await readFile(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!configured && code === 'ENOENT') {
      return [warn('tls', 'no certificate yet: the server generates a self-signed one at its first start', 'configure tls.cert and tls.key with a certificate from a CA (Let\'s Encrypt) for clients to trust it')];
    }
    return [fail('tls', `${path}: ${code === 'ENOENT' ? 'file not found' : 'not a PEM certificate'}`, 'fix tls.cert (a PEM certificate chain) and tls.key')];
  }
  const findings: Finding[] = [];
  const validTo = new Date(certificate.validTo);
  const daysLeft = Math.floor((validTo.getTime() - now) / DAY_MS);
  if (validTo.getTime() <= now) findings.push(fail('tls', `${path} expired on ${validTo.toISOString()}`, 'renew the certificate, then send SIGHUP to the server'));
  else if (daysLeft < EXPIRY_WARNING_DAYS) findings.push(warn('tls', `${path} expires in ${daysLeft} days (${validTo.toISOString()})`, 'renew the certificate, then send SIGHUP to the server'));
  else findings.push(ok('tls', `certificate valid until ${validTo.toISOString()} (${daysLeft} days)`));
  if (certificate.checkHost(config.hostname) === undefined) {
    findings.push(fail('tls', `the certificate does not name ${config.hostname} (${certificate.subjectAltName ?? certificate.subject})`, `get a certificate for ${config.hostname}`));
  } else {
    findings.push(ok('tls', `the certificate names ${config.hostname}`));
  }
  if (certificate.issuer === certificate.subject && certificate.verify(certificate.publicKey)) {
    findings.push(warn('tls', 'the certificate is self-signed: mail clients warn, other servers may refuse it', 'use a certificate from a CA (Let\'s Encrypt) in tls.cert and tls.key'));
  }
  return findings;
}
