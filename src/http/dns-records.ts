/**
 * The DNS records a domain should publish for this server, as zone-file lines an operator can
 * paste: MX, SPF (RFC 7208), DMARC (RFC 7489), DKIM (RFC 6376; keys come with outbound
 * `mailhaven dkim generate`, "not configured" until then), MTA-STS (RFC 8461), SRV for mail clients (RFC 6186,
 * RFC 8314 5.1) and the autoconfig/autodiscover names. ./dns-check.ts compares them with what
 * DNS answers now.
 * @module
 */
import type { ClientEndpoint, ClientSettings } from './client-settings.js';
import type { MtaStsPolicy } from './mta-sts.js';
import { mtaStsId } from './mta-sts.js';

export type DnsPurpose = 'mx' | 'spf' | 'dkim' | 'dmarc' | 'mta-sts' | 'srv' | 'autoconfig';
export type DnsRecordType = 'MX' | 'TXT' | 'SRV' | 'CNAME';

export interface ExpectedRecord {
  purpose: DnsPurpose;
  /** Owner name without the final dot. */
  name: string;
  type: DnsRecordType;
  /** The record data as in a zone file, unquoted: "10 mail.example.org.", "v=spf1 mx -all". */
  value: string;
  /** The whole zone-file line. */
  zone: string;
  /** What the record is for, one line. */
  note: string;
}

export interface NotConfigured {
  purpose: 'dkim' | 'mta-sts';
  reason: string;
}

export interface DomainDnsRecords {
  domain: string;
  /** The mail host every record points to. */
  hostname: string;
  records: ExpectedRecord[];
  notConfigured: NotConfigured[];
}

/** A DKIM public key to publish (from the outbound issue's key store). */
export interface DkimPublicKey {
  selector: string;
  /** "v=DKIM1; k=rsa; p=..." */
  record: string;
}

export interface DnsRecordOptions {
  mtaSts?: MtaStsPolicy | null;
  dkim?: DkimPublicKey | null;
}

const TTL = 3600;

/**
 * SRV priorities: lower is preferred. Implicit TLS before STARTTLS (RFC 8314 4.5.2), IMAP before
 * POP3 (RFC 6186 3.4: one priority scale across both protocols).
 */
const SRV_PRIORITY: Readonly<Record<ClientEndpoint['listener'], number>> = {
  imaps: 0,
  imap: 10,
  pop3s: 20,
  pop3: 30,
  submissions: 0,
  submission: 10,
  smtp: 0,
  http: 0,
};

export function domainDnsRecords(domain: string, settings: ClientSettings, options: DnsRecordOptions = {}): DomainDnsRecords {
  const host = settings.hostname;
  const records: ExpectedRecord[] = [
    record('mx', domain, 'MX', `10 ${host}.`, `mail for ${domain} is delivered to ${host}`),
    // RFC 7208 5.4: "mx" authorises the MX hosts; "-all" fails everyone else.
    record('spf', domain, 'TXT', 'v=spf1 mx -all', 'SPF: only the MX hosts send mail for the domain'),
    // RFC 7489 6.3: aggregate reports go to the postmaster, who must exist (RFC 5321 4.5.1).
    record('dmarc', `_dmarc.${domain}`, 'TXT', `v=DMARC1; p=quarantine; rua=mailto:postmaster@${domain}`, 'DMARC: quarantine mail that fails SPF and DKIM alignment'),
  ];
  const notConfigured: NotConfigured[] = [];
  if (options.dkim) {
    records.push(record('dkim', `${options.dkim.selector}._domainkey.${domain}`, 'TXT', options.dkim.record, 'DKIM public key for outgoing signatures'));
  } else {
    notConfigured.push({ purpose: 'dkim', reason: `no DKIM key for this domain yet (mailhaven dkim generate ${domain})` });
  }
  if (options.mtaSts) {
    records.push(
      record('mta-sts', `_mta-sts.${domain}`, 'TXT', `v=STSv1; id=${mtaStsId(options.mtaSts)}`, 'MTA-STS: a policy exists; the id changes with the policy'),
      record('mta-sts', `mta-sts.${domain}`, 'CNAME', `${host}.`, 'MTA-STS: the policy host (HTTPS, served through the reverse proxy)'),
    );
  } else {
    notConfigured.push({ purpose: 'mta-sts', reason: 'no MTA-STS policy configured' });
  }
  for (const endpoint of [...settings.incoming, ...settings.outgoing]) {
    const label = `_${endpoint.listener}._tcp.${domain}`;
    records.push(record('srv', label, 'SRV', `${SRV_PRIORITY[endpoint.listener]} 1 ${endpoint.port} ${endpoint.hostname}.`, srvNote(endpoint)));
  }
  records.push(
    record('autoconfig', `autoconfig.${domain}`, 'CNAME', `${host}.`, 'Thunderbird autoconfig (through the reverse proxy)'),
    record('autoconfig', `autodiscover.${domain}`, 'CNAME', `${host}.`, 'Outlook autodiscover (through the reverse proxy)'),
    record('autoconfig', `_autodiscover._tcp.${domain}`, 'SRV', `0 1 443 ${host}.`, 'Outlook autodiscover over HTTPS'),
  );
  return { domain, hostname: host, records, notConfigured };
}

function record(purpose: DnsPurpose, name: string, type: DnsRecordType, value: string, note: string): ExpectedRecord {
  return { purpose, name, type, value, zone: `${name}. ${TTL} IN ${type} ${type === 'TXT' ? quoteTxt(value) : value}`, note };
}

/** RFC 1035 3.3.14: character-strings of at most 255 octets, quoted; long values are split. */
function quoteTxt(value: string): string {
  const chunks: string[] = [];
  for (let i = 0; i < value.length; i += 255) chunks.push(value.slice(i, i + 255));
  return chunks.map((chunk) => `"${chunk.replace(/(["\\])/g, '\\$1')}"`).join(' ');
}

function srvNote(endpoint: ClientEndpoint): string {
  const service = endpoint.service === 'submission' ? 'submission' : endpoint.service.toUpperCase();
  return `${service} with ${endpoint.tls === 'implicit' ? 'implicit TLS' : 'STARTTLS'} (RFC 6186${endpoint.listener === 'submissions' ? ', RFC 8314' : ''})`;
}
