/**
 * MTA-STS (RFC 8461), the sending side: the `_mta-sts.DOMAIN` TXT record announces a policy id;
 * the policy itself comes over HTTPS from `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`
 * (verified certificate, no redirects, size and time limits) and is cached for its max_age.
 * The cache is in memory: after a restart policies are fetched again (docs/outbound.md).
 * @module
 */
import { request as httpsRequest } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../log/index.js';
import { asciiDomain } from './mx.js';
import type { DnsResolver } from './mx.js';

export interface MtaStsPolicy {
  mode: 'enforce' | 'testing' | 'none';
  /** MX patterns ("mx.example.com", "*.example.net"), lower case. */
  mx: string[];
  /** Seconds the policy may be cached (RFC 8461 3.2: at most 31557600). */
  maxAge: number;
  /** The TXT record's id when the policy was fetched. */
  id: string;
}

export interface FetchedPolicy {
  status: number;
  contentType: string;
  body: string;
}

/** Fetches the policy document; throws on network/TLS errors. Injected by tests. */
export type PolicyFetcher = (url: string, limits: { timeoutMs: number; maxBytes: number }) => Promise<FetchedPolicy>;

/** RFC 8461 3.2 does not give a size; policies are a few hundred octets. */
export const POLICY_MAX_BYTES = 64 * 1024;
export const POLICY_FETCH_TIMEOUT_MS = 15_000;
/** RFC 8461 3.2: max_age is at most 31557600 seconds (a year). */
const MAX_AGE_LIMIT = 31_557_600;
const MAX_CACHED_DOMAINS = 10_000;

/**
 * RFC 8461 3.3: HTTPS with a valid certificate for the mta-sts host, 3xx not followed (anything
 * but 200 is no policy), the body read up to `maxBytes`.
 */
export function httpsPolicyFetcher(ca?: SecureContextOptions['ca']): PolicyFetcher {
  return (url, limits) =>
    new Promise<FetchedPolicy>((resolve, reject) => {
      const req = httpsRequest(url, { method: 'GET', ca, timeout: limits.timeoutMs, headers: { accept: 'text/plain' } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limits.maxBytes) {
            req.destroy(new Error(`policy larger than ${limits.maxBytes} octets`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      const overall = setTimeout(() => req.destroy(new Error(`policy fetch took over ${limits.timeoutMs} ms`)), limits.timeoutMs);
      req.on('close', () => clearTimeout(overall));
      req.on('timeout', () => req.destroy(new Error('policy fetch timed out')));
      req.on('error', reject);
      req.end();
    });
}

/** RFC 8461 3.1: "v=STSv1; id=..." — exactly one such record, else none. */
export function parseStsRecord(records: string[][]): { id: string } | null {
  const candidates = records.map((parts) => parts.join('')).filter((text) => /^v=STSv1\s*(;|$)/.test(text));
  if (candidates.length !== 1 || candidates[0] === undefined) return null;
  const id = /(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(?:;|$)/.exec(candidates[0]);
  return id?.[1] === undefined ? null : { id: id[1] };
}

/** RFC 8461 3.2: "key: value" lines, CRLF or LF. Returns null when not a valid STSv1 policy. */
export function parsePolicyText(text: string, id: string): MtaStsPolicy | null {
  let version: string | null = null;
  let mode: string | null = null;
  let maxAge: number | null = null;
  const mx: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'version') version ??= value;
    else if (key === 'mode') mode ??= value;
    else if (key === 'max_age') maxAge ??= /^\d{1,10}$/.test(value) ? Number(value) : -1;
    else if (key === 'mx' && value !== '') mx.push(value.toLowerCase().replace(/\.$/, ''));
  }
  if (version !== 'STSv1') return null;
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') return null;
  if (maxAge === null || maxAge < 0) return null;
  if (mode !== 'none' && mx.length === 0) return null;
  return { mode, mx, maxAge: Math.min(maxAge, MAX_AGE_LIMIT), id };
}

/** RFC 8461 4.1: a pattern matches the host exactly, or "*." stands for one leftmost label. */
export function mxMatchesPolicy(host: string, patterns: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((pattern) => {
    if (!pattern.startsWith('*.')) return pattern === name;
    const suffix = pattern.slice(1); // ".example.com"
    if (!name.endsWith(suffix)) return false;
    const label = name.slice(0, name.length - suffix.length);
    return label.length > 0 && !label.includes('.');
  });
}

interface CacheEntry {
  policy: MtaStsPolicy;
  expiresAt: number;
}

export interface MtaStsOptions {
  resolver: DnsResolver;
  fetch: PolicyFetcher;
  logger: Logger;
  now?: () => number;
  fetchTimeoutMs?: number;
}

/** Looks up, fetches and caches policies (RFC 8461 5.1). */
export class MtaStsPolicies {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<MtaStsPolicy | null>>();
  private readonly now: () => number;

  constructor(private readonly options: MtaStsOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The policy in force for `domain`, or null (no MTA-STS: deliver as usual). Never throws. */
  policyFor(domain: string): Promise<MtaStsPolicy | null> {
    const name = asciiDomain(domain);
    // Deliveries to one domain at the same moment share one lookup (and one fetch).
    const running = this.inflight.get(name);
    if (running !== undefined) return running;
    const lookup = this.lookup(name).finally(() => this.inflight.delete(name));
    this.inflight.set(name, lookup);
    return lookup;
  }

  private async lookup(name: string): Promise<MtaStsPolicy | null> {
    const cached = this.cached(name);
    let record: { id: string } | null;
    try {
      record = parseStsRecord(await this.options.resolver.resolveTxt(`_mta-sts.${name}`));
    } catch {
      // RFC 8461 5.1: with no usable record, an unexpired cached policy still applies.
      return cached;
    }
    if (record === null) return cached;
    if (cached !== null && cached.id === record.id) return cached;
    const fetched = await this.fetchPolicy(name, record.id);
    if (fetched === null) return cached;
    this.store(name, fetched);
    return fetched;
  }

  private cached(name: string): MtaStsPolicy | null {
    const entry = this.cache.get(name);
    if (entry === undefined) return null;
    if (entry.expiresAt <= this.now()) {
      this.cache.delete(name);
      return null;
    }
    return entry.policy;
  }

  private store(name: string, policy: MtaStsPolicy): void {
    this.cache.delete(name);
    if (this.cache.size >= MAX_CACHED_DOMAINS) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(name, { policy, expiresAt: this.now() + policy.maxAge * 1000 });
  }

  private async fetchPolicy(name: string, id: string): Promise<MtaStsPolicy | null> {
    const url = `https://mta-sts.${name}/.well-known/mta-sts.txt`;
    const log = this.options.logger;
    try {
      const response = await this.options.fetch(url, { timeoutMs: this.options.fetchTimeoutMs ?? POLICY_FETCH_TIMEOUT_MS, maxBytes: POLICY_MAX_BYTES });
      // RFC 8461 3.3: only 200 counts (no redirects), and the media type is text/plain.
      if (response.status !== 200) {
        log.warn({ domain: name, status: response.status }, 'MTA-STS policy fetch did not answer 200; ignoring the policy');
        return null;
      }
      if (!/^text\/plain\s*(;|$)/i.test(response.contentType)) {
        log.warn({ domain: name, contentType: response.contentType }, 'MTA-STS policy is not text/plain; ignoring it');
        return null;
      }
      const policy = parsePolicyText(response.body, id);
      if (policy === null) log.warn({ domain: name }, 'MTA-STS policy is not valid; ignoring it');
      return policy;
    } catch (error) {
      log.warn({ domain: name, reason: error instanceof Error ? error.message : String(error) }, 'MTA-STS policy fetch failed');
      return null;
    }
  }
}
