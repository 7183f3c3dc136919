/**
 * DNS as the rest of the Internet sees it: each domain's records (the same list and live check
 * as the web admin, src/http/dns-records.ts) and the reverse DNS of the host's addresses, which
 * receivers check before accepting mail (forward-confirmed: the PTR name resolves back).
 * @module
 */
import { isIP } from 'node:net';
import type { ClientSettings } from '../http/client-settings.js';
import type { DnsLookup, RecordCheck } from '../http/dns-check.js';
import { checkRecords } from '../http/dns-check.js';
import type { DnsPurpose, ExpectedRecord } from '../http/dns-records.js';
import { domainDnsRecords } from '../http/dns-records.js';
import type { MtaStsPolicy } from '../http/mta-sts.js';
import type { Finding } from './types.js';
import { fail, ok, warn } from './types.js';

/** Without these, mail is lost or lands in spam; the rest only helps clients configure themselves. */
const ESSENTIAL: ReadonlySet<DnsPurpose> = new Set(['mx', 'spf', 'dmarc']);

export async function domainFindings(domains: readonly string[], settings: ClientSettings, lookup: DnsLookup, mtaSts: MtaStsPolicy | null): Promise<Finding[]> {
  if (domains.length === 0) return [warn('dns', 'no domains yet', 'mailhaven domain add example.org')];
  const findings: Finding[] = [];
  for (const domain of domains) {
    const view = domainDnsRecords(domain, settings, { mtaSts });
    const checks = await checkRecords(view.records, lookup);
    view.records.forEach((record, index) => {
      const check = checks[index];
      if (check !== undefined) findings.push(recordFinding(record, check));
    });
  }
  return findings;
}

function recordFinding(record: ExpectedRecord, check: RecordCheck): Finding {
  const what = `${record.name} ${record.type}`;
  const publish = `publish: ${record.zone}`;
  switch (check.status) {
    case 'ok':
      return ok('dns', `${what} ${check.found.join(', ')}`);
    case 'missing':
      return ESSENTIAL.has(record.purpose) ? fail('dns', `${what} is missing (${record.note})`, publish) : warn('dns', `${what} is missing (${record.note})`, publish);
    case 'different': {
      const message = `${what} is ${check.found.join(', ')}${check.detail ? `: ${check.detail}` : ''}`;
      return record.purpose === 'mx' ? fail('dns', message, publish) : warn('dns', message, `check it, or ${publish}`);
    }
    case 'error':
      return warn('dns', `${what}: ${check.detail ?? 'lookup failed'}`, 'check the resolvers (/etc/resolv.conf) and run the doctor again');
    default: {
      const unknown: never = check.status;
      throw new TypeError(`unknown status ${String(unknown)}`);
    }
  }
}

/**
 * The host name must resolve, and each public address must have a PTR naming the host (many
 * receivers refuse mail otherwise). Private addresses are reported: other servers cannot reach them.
 */
export async function reverseDnsFindings(hostname: string, lookup: DnsLookup): Promise<Finding[]> {
  let addresses: string[];
  try {
    addresses = await lookup.addresses(hostname);
  } catch (err) {
    return [warn('rdns', `${hostname}: lookup failed: ${errorText(err)}`, 'check the resolvers and run the doctor again')];
  }
  if (addresses.length === 0) return [fail('rdns', `${hostname} has no A or AAAA record`, `publish ${hostname}. A (and AAAA) records with the server's public addresses`)];
  const findings: Finding[] = [];
  for (const address of addresses) {
    if (isPrivate(address)) {
      findings.push(warn('rdns', `${hostname} resolves to ${address}, a private address other servers cannot reach`, `publish the server's public address for ${hostname}`));
      continue;
    }
    let names: string[];
    try {
      names = await lookup.reverse(address);
    } catch (err) {
      findings.push(warn('rdns', `${address}: reverse lookup failed: ${errorText(err)}`, 'run the doctor again later'));
      continue;
    }
    if (names.some((name) => name.toLowerCase() === hostname.toLowerCase())) findings.push(ok('rdns', `${address} PTR ${hostname}`));
    else if (names.length === 0) findings.push(fail('rdns', `${address} has no PTR record`, `ask the provider of ${address} to set its reverse DNS (PTR) to ${hostname}`));
    else findings.push(fail('rdns', `${address} PTR ${names.join(', ')}, not ${hostname}`, `ask the provider of ${address} to set its reverse DNS (PTR) to ${hostname}`));
  }
  return findings;
}

function errorText(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
}

/** RFC 1918, loopback, link-local, CGNAT (RFC 6598), IPv6 ULA and link-local. */
export function isPrivate(address: string): boolean {
  if (isIP(address) === 4) {
    const [a = 0, b = 0] = address.split('.').map(Number);
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
  }
  const lower = address.toLowerCase();
  return lower === '::1' || lower.startsWith('fc') || lower.startsWith('fd') || lower.startsWith('fe80:');
}
