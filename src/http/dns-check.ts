/**
 * The live DNS check: what the resolvers answer now for each record of ./dns-records.ts.
 * Resolvers are injectable ("127.0.0.1:5353" in tests); the default is the system's.
 * A record that does not exist is "missing"; a lookup that failed (timeout, SERVFAIL) is "error".
 * @module
 */
import { Resolver } from 'node:dns/promises';
import type { DnsRecordType, ExpectedRecord } from './dns-records.js';

export type CheckStatus = 'ok' | 'missing' | 'different' | 'error';

export interface RecordCheck {
  name: string;
  type: DnsRecordType;
  expected: string;
  /** What DNS answered, in the same zone-file form as `expected`. */
  found: string[];
  status: CheckStatus;
  /** Why: the lookup error, or what differs. */
  detail?: string;
}

/** The lookups the check needs, each answering zone-file-like strings ([] when there is no such record). */
export interface DnsLookup {
  mx(name: string): Promise<string[]>;
  txt(name: string): Promise<string[]>;
  srv(name: string): Promise<string[]>;
  cname(name: string): Promise<string[]>;
  addresses(name: string): Promise<string[]>;
  /** PTR names of an IP address, without the final dot. */
  reverse(ip: string): Promise<string[]>;
}

export interface ResolverOptions {
  /** "1.1.1.1", "127.0.0.1:5353", "[::1]:53"; default: the system's (/etc/resolv.conf). */
  servers?: readonly string[];
  /** Per query attempt, ms (default 3000). */
  timeoutMs?: number;
}

/** "No such name" and "no record of this type" are answers, not failures. */
const ABSENT = new Set(['ENODATA', 'ENOTFOUND', 'NXDOMAIN']);

export function nodeDnsLookup(options: ResolverOptions = {}): DnsLookup {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 3000, tries: 2 });
  if (options.servers !== undefined && options.servers.length > 0) resolver.setServers([...options.servers]);
  const absentIsEmpty = async <T>(lookup: () => Promise<T[]>): Promise<T[]> => {
    try {
      return await lookup();
    } catch (err) {
      if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
    }
  };
  return {
    mx: async (name) => (await absentIsEmpty(() => resolver.resolveMx(name))).map((mx) => `${mx.priority} ${withDot(mx.exchange)}`),
    // RFC 7208 3.3: a TXT record's strings are joined without spaces.
    txt: async (name) => (await absentIsEmpty(() => resolver.resolveTxt(name))).map((chunks) => chunks.join('')),
    srv: async (name) => (await absentIsEmpty(() => resolver.resolveSrv(name))).map((srv) => `${srv.priority} ${srv.weight} ${srv.port} ${withDot(srv.name)}`),
    cname: async (name) => (await absentIsEmpty(() => resolver.resolveCname(name))).map(withDot),
    addresses: async (name) => {
      const [v4, v6] = await Promise.all([absentIsEmpty(() => resolver.resolve4(name)), absentIsEmpty(() => resolver.resolve6(name))]);
      return [...v4, ...v6];
    },
    reverse: async (ip) => (await absentIsEmpty(() => resolver.reverse(ip))).map((name) => name.replace(/\.$/, '')),
  };
}

export async function checkRecords(records: readonly ExpectedRecord[], lookup: DnsLookup): Promise<RecordCheck[]> {
  return Promise.all(records.map((record) => checkRecord(record, lookup)));
}

async function checkRecord(record: ExpectedRecord, lookup: DnsLookup): Promise<RecordCheck> {
  const base = { name: record.name, type: record.type, expected: record.value };
  try {
    switch (record.type) {
      case 'MX':
        return { ...base, ...compareMx(record.value, await lookup.mx(record.name)) };
      case 'TXT':
        return { ...base, ...compareTxt(record.value, await lookup.txt(record.name)) };
      case 'SRV':
        return { ...base, ...compareSrv(record.value, await lookup.srv(record.name)) };
      case 'CNAME':
        return { ...base, ...(await compareCname(record, lookup)) };
      default: {
        const unknown: never = record.type;
        throw new TypeError(`unknown record type ${String(unknown)}`);
      }
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ...base, found: [], status: 'error', detail: `lookup failed: ${code ?? (err instanceof Error ? err.message : String(err))}` };
  }
}

type Outcome = Pick<RecordCheck, 'found' | 'status' | 'detail'>;

/** The preference does not matter, only that the host is one of the exchanges. */
function compareMx(expected: string, found: string[]): Outcome {
  if (found.length === 0) return { found, status: 'missing' };
  const host = hostOf(expected);
  return found.some((mx) => hostOf(mx) === host) ? { found, status: 'ok' } : { found, status: 'different', detail: `no MX points to ${host}` };
}

/**
 * Only records of the same kind count ("v=spf1..." among the domain's other TXT records). Two
 * SPF records are an error for receivers (RFC 7208 4.5 permerror), so they are never "ok".
 */
function compareTxt(expected: string, all: string[]): Outcome {
  const tag = expected.split(/[;\s]/)[0]?.toLowerCase() ?? '';
  const found = all.filter((text) => text.trim().toLowerCase().startsWith(tag));
  if (found.length === 0) return { found, status: 'missing' };
  if (tag === 'v=spf1' && found.length > 1) return { found, status: 'different', detail: 'more than one SPF record (RFC 7208 4.5: receivers treat that as an error)' };
  const wanted = normalizeTxt(expected);
  return found.some((text) => normalizeTxt(text) === wanted) ? { found, status: 'ok' } : { found, status: 'different', detail: 'published, with other content' };
}

function compareSrv(expected: string, found: string[]): Outcome {
  if (found.length === 0) return { found, status: 'missing' };
  const [, , port, target] = expected.split(' ');
  const matches = found.some((srv) => {
    const fields = srv.split(' ');
    return fields[2] === port && hostOf(fields[3] ?? '') === hostOf(target ?? '');
  });
  return matches ? { found, status: 'ok' } : { found, status: 'different', detail: `no record points to ${hostOf(target ?? '')} port ${port ?? ''}` };
}

/** A CNAME to the host, or address records equal to the host's, both work for clients. */
async function compareCname(record: ExpectedRecord, lookup: DnsLookup): Promise<Outcome> {
  const found = await lookup.cname(record.name);
  const target = hostOf(record.value);
  if (found.some((cname) => hostOf(cname) === target)) return { found, status: 'ok' };
  if (found.length > 0) return { found, status: 'different', detail: `CNAME does not point to ${target}` };
  const [own, hosts] = await Promise.all([lookup.addresses(record.name), lookup.addresses(target)]);
  if (own.length === 0) return { found: [], status: 'missing' };
  const same = own.some((address) => hosts.includes(address));
  return same
    ? { found: own, status: 'ok', detail: `address records instead of a CNAME, same addresses as ${target}` }
    : { found: own, status: 'different', detail: `address records that are not ${target}'s` };
}

function hostOf(value: string): string {
  const parts = value.trim().split(/\s+/);
  return (parts[parts.length - 1] ?? '').toLowerCase().replace(/\.$/, '');
}

function withDot(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

/** Case and spacing around ";" do not change the meaning of SPF/DMARC/STS tag lists. */
function normalizeTxt(text: string): string {
  return text
    .trim()
    .replace(/\s*;\s*/g, ';')
    .replace(/;$/, '')
    .replace(/\s+/g, ' ')
    .toLowerCase();
}
