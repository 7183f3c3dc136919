/**
 * Where mail for a domain goes (RFC 5321 5.1): its MX hosts in preference order (equal
 * preferences shuffled, 5.1), or the domain itself when it has no MX ("implicit MX"); a null MX
 * (RFC 7505) means the domain takes no mail. Lookups use node:dns/promises with the configured
 * resolvers (outbound.resolvers).
 * @module
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

/** The part of node:dns/promises Resolver that outbound delivery uses (tests may inject one). */
export interface DnsResolver {
  resolveMx(name: string): Promise<Array<{ exchange: string; priority: number }>>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolveTxt(name: string): Promise<string[][]>;
}

export interface ResolverOptions {
  /** "ip" or "ip:port"; empty = the system's resolvers. */
  servers: readonly string[];
  /** Per query try, ms (c-ares doubles it on each retry). */
  timeoutMs?: number;
  tries?: number;
}

export function createResolver(options: ResolverOptions): DnsResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 5000, tries: options.tries ?? 2 });
  if (options.servers.length > 0) resolver.setServers([...options.servers]);
  return resolver;
}

export interface MxHost {
  /** Host name (lower case, no trailing dot), or the address literal's address. */
  name: string;
  preference: number;
  /** True when the domain had no MX and its own name is used (RFC 5321 5.1). */
  implicit: boolean;
}

export type MxResolution =
  | { kind: 'hosts'; hosts: MxHost[] }
  /** RFC 7505 3: a single MX with exchange "." (the root): the domain accepts no mail. */
  | { kind: 'nullMx' }
  /** The domain does not exist, or has neither MX nor addresses. */
  | { kind: 'noSuchDomain'; reason: string }
  /** SERVFAIL, timeouts, refused: try again later. */
  | { kind: 'temporary'; reason: string };

/** node:dns error codes that mean "ask again later". */
const TEMPORARY_DNS_ERRORS = new Set(['ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED', 'EREFUSED', 'ECANCELLED', 'EAI_AGAIN', 'EOF', 'EBADRESP', 'ECONNRESET']);

function dnsCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | null)?.code ?? 'UNKNOWN';
}

function isTemporary(error: unknown): boolean {
  const code = dnsCode(error);
  return TEMPORARY_DNS_ERRORS.has(code) || !['ENOTFOUND', 'ENODATA', 'ENONAME', 'EBADNAME', 'EFORMERR', 'ENOTIMP'].includes(code);
}

/** The domain as DNS wants it (A-labels, no trailing dot, lower case). */
export function asciiDomain(domain: string): string {
  const trimmed = domain.replace(/\.$/, '').toLowerCase();
  return domainToASCII(trimmed) || trimmed;
}

/** RFC 5321 5.1: MX records, else the domain itself; null MX and NXDOMAIN are final. */
export async function resolveMx(resolver: DnsResolver, domain: string, random: () => number = Math.random): Promise<MxResolution> {
  const literal = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(domain);
  if (literal?.[1] !== undefined && isIP(literal[1]) !== 0) {
    return { kind: 'hosts', hosts: [{ name: literal[1], preference: 0, implicit: true }] };
  }
  const name = asciiDomain(domain);
  let records: Array<{ exchange: string; priority: number }>;
  try {
    records = await resolver.resolveMx(name);
  } catch (error) {
    if (isTemporary(error)) return { kind: 'temporary', reason: `MX lookup for ${name} failed: ${dnsCode(error)}` };
    if (dnsCode(error) !== 'ENODATA') return { kind: 'noSuchDomain', reason: `${name}: no such domain (${dnsCode(error)})` };
    records = [];
  }
  const isRoot = (exchange: string): boolean => exchange === '' || exchange === '.';
  if (records.length === 1 && records[0] !== undefined && isRoot(records[0].exchange)) return { kind: 'nullMx' };
  // RFC 7505 3: a null MX must stand alone; mixed with real ones, the real ones are used.
  const usable = records.filter((record) => !isRoot(record.exchange));
  if (usable.length === 0) return implicitMx(resolver, name);
  const hosts = shuffleEqualPreferences(
    usable.map((record) => ({ name: record.exchange.replace(/\.$/, '').toLowerCase(), preference: record.priority, implicit: false })),
    random,
  );
  return { kind: 'hosts', hosts };
}

/** RFC 5321 5.1: no MX: the domain is its own mail host when it has an address. */
async function implicitMx(resolver: DnsResolver, name: string): Promise<MxResolution> {
  const addresses = await resolveAddresses(resolver, name);
  if (addresses.kind === 'temporary') return addresses;
  if (addresses.addresses.length === 0) return { kind: 'noSuchDomain', reason: `${name} has no MX and no address records` };
  return { kind: 'hosts', hosts: [{ name, preference: 0, implicit: true }] };
}

/** Sorted by preference; within one preference, in random order (RFC 5321 5.1, load spreading). */
function shuffleEqualPreferences(hosts: MxHost[], random: () => number): MxHost[] {
  const keyed = hosts.map((host) => ({ host, key: random() }));
  keyed.sort((a, b) => a.host.preference - b.host.preference || a.key - b.key);
  return keyed.map((entry) => entry.host);
}

export type AddressResolution = { kind: 'addresses'; addresses: string[] } | { kind: 'temporary'; reason: string };

/**
 * A and AAAA of a host: IPv4 first (an IPv6 route is more often broken on servers than the
 * reverse), then IPv6. A host that is itself an IP address resolves to itself.
 */
export async function resolveAddresses(resolver: DnsResolver, host: string): Promise<AddressResolution> {
  if (isIP(host) !== 0) return { kind: 'addresses', addresses: [host] };
  const name = asciiDomain(host);
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
  const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (addresses.length > 0) return { kind: 'addresses', addresses };
  const failure = [v4, v6].find((result) => result.status === 'rejected' && isTemporary(result.reason));
  if (failure !== undefined && failure.status === 'rejected') return { kind: 'temporary', reason: `address lookup for ${name} failed: ${dnsCode(failure.reason)}` };
  return { kind: 'addresses', addresses: [] };
}
