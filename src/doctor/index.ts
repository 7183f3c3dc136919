/**
 * `mailhaven doctor`: configuration, certificate, listeners, open-relay safety, DNS records and
 * reverse DNS, each finding with what to fix. Read-only: it changes nothing.
 * @module
 */
import type { Config } from '../config/types.js';
import { clientSettings } from '../http/client-settings.js';
import type { DnsLookup } from '../http/dns-check.js';
import type { MtaStsPolicy } from '../http/mta-sts.js';
import type { Directory } from '../store/types.js';
import { domainFindings, reverseDnsFindings } from './dns-checks.js';
import { certificateFindings, configFindings } from './local-checks.js';
import { listenerFindings, relayFindings } from './network-checks.js';
import type { Finding } from './types.js';

export type { DoctorArea, Finding, FindingStatus } from './types.js';

export interface DoctorOptions {
  config: Config;
  store: Pick<Directory, 'listDomains'>;
  dns: DnsLookup;
  /** Skip DNS and reverse DNS (a host without Internet access, or while setting up). */
  offline: boolean;
  timeoutMs: number;
  mtaSts?: MtaStsPolicy | null;
  now?: number;
}

export async function runDoctor(options: DoctorOptions): Promise<Finding[]> {
  const { config } = options;
  const network = { timeoutMs: options.timeoutMs };
  const [certificate, listeners, relay] = await Promise.all([
    certificateFindings(config, options.now),
    listenerFindings(config, network),
    relayFindings(config, network),
  ]);
  const findings = [...configFindings(config), ...certificate, ...listeners, ...relay];
  if (options.offline) return findings;
  const domains = (await options.store.listDomains()).map((domain) => domain.name).sort();
  const [dns, rdns] = await Promise.all([
    domainFindings(domains, clientSettings(config), options.dns, options.mtaSts ?? null),
    reverseDnsFindings(config.hostname, options.dns),
  ]);
  return [...findings, ...dns, ...rdns];
}

const LABEL: Readonly<Record<Finding['status'], string>> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

/** One line per finding ("area  status  message"), its fix indented below, then a summary. */
export function formatFindings(findings: readonly Finding[], verbose: boolean): string {
  const shown = verbose ? findings : findings.filter((finding) => finding.status !== 'ok');
  const lines: string[] = [];
  for (const finding of shown) {
    lines.push(`${finding.area.padEnd(9)} ${LABEL[finding.status]}  ${finding.message}`);
    if (finding.fix !== undefined) lines.push(`${' '.repeat(16)}→ ${finding.fix}`);
  }
  const failures = findings.filter((finding) => finding.status === 'fail').length;
  const warnings = findings.filter((finding) => finding.status === 'warn').length;
  const passed = findings.length - failures - warnings;
  lines.push(`${failures} to fix, ${warnings} to look at, ${passed} fine`);
  return `${lines.join('\n')}\n`;
}
