/**
 * Recipient resolution: an envelope address → local accounts (after aliases, plus-addressing and
 * catch-all) or "remote" or "unknown". Used at RCPT time by SMTP and by local re-injection.
 */
import { domainToASCII } from 'node:url';
import type { Directory, Id } from '../store/types.js';

export type Resolution =
  /** Delivered to these accounts (one or more after alias fan-out), plus remote alias targets. */
  | { kind: 'local'; accounts: LocalTarget[]; remote: string[] }
  /** The domain is not ours. */
  | { kind: 'remote' }
  /** The domain is ours but nobody receives this address. */
  | { kind: 'unknown' };

export interface LocalTarget {
  accountId: Id;
  /** The account's address, used for Delivered-To. */
  address: string;
}

const MAX_ALIAS_DEPTH = 8;
const MAX_ALIAS_TARGETS = 1000;

/** Splits "local@domain" at the last "@"; the domain is lower-cased, the local part kept. */
export function splitAddress(address: string): { local: string; domain: string } | null {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return null;
  return { local: address.slice(0, at), domain: address.slice(at + 1).toLowerCase() };
}

/** "user+tag" → "user"; null when there is no tag. */
export function stripPlusTag(local: string): string | null {
  const plus = local.indexOf('+');
  return plus > 0 ? local.slice(0, plus) : null;
}

export async function resolveRecipient(dir: Directory, address: string): Promise<Resolution> {
  const parts = splitAddress(address);
  if (!parts) return { kind: 'unknown' };
  return resolveMailbox(dir, parts.local, parts.domain);
}

/**
 * Resolves a parsed mailbox: the local part's value (quotes already removed, so
 * `"a@b"@example.com` has local part `a@b`) and the domain as sent. The local part is only ever
 * looked up whole: `%`, `!` and `@` inside it never route anywhere (RFC 5321 2.3.11, 3.6.1).
 * Address literals (`[192.0.2.1]`) are never local: they name a host, not one of our domains.
 */
export async function resolveMailbox(dir: Directory, localPart: string, domain: string): Promise<Resolution> {
  if (localPart === '' || domain.startsWith('[')) return domain.startsWith('[') ? { kind: 'remote' } : { kind: 'unknown' };
  const domainKey = normalizeDomain(domain);
  if (domainKey === null || !(await dir.getDomain(domainKey))) return { kind: 'remote' };

  const accounts = new Map<Id, LocalTarget>();
  const remote = new Set<string>();
  const found = await expand(dir, `${localPart.toLowerCase()}@${domainKey}`, 0, accounts, remote, new Set());
  if (!found || (accounts.size === 0 && remote.size === 0)) {
    if (localPart.toLowerCase() === 'postmaster') return defaultPostmaster(dir, domainKey);
    return { kind: 'unknown' };
  }
  return { kind: 'local', accounts: [...accounts.values()], remote: [...remote] };
}

/**
 * RFC 5321 4.5.1: every domain we receive for MUST accept mail to "postmaster". Without an
 * account or alias of that name (docs/smtp.md), it reaches the domain's oldest account, else the
 * installation's oldest account, so a fresh setup is compliant before anyone adds the alias.
 */
async function defaultPostmaster(dir: Directory, domain: string): Promise<Resolution> {
  const accounts = await dir.listAccounts();
  const oldest = (list: typeof accounts) => list.reduce<(typeof accounts)[number] | null>((a, b) => (a === null || b.id < a.id ? b : a), null);
  const owner = oldest(accounts.filter((account) => account.address.endsWith(`@${domain}`))) ?? oldest(accounts);
  if (owner === null) return { kind: 'unknown' };
  return { kind: 'local', accounts: [{ accountId: owner.id, address: owner.address }], remote: [] };
}

/** Lower-case A-label form of a domain (U-labels converted, RFC 5890), or null when invalid. */
export function normalizeDomain(domain: string): string | null {
  const ascii = domainToASCII(domain.toLowerCase());
  return ascii === '' ? null : ascii;
}

/** Adds the receivers of one local address; false when nobody receives it. */
async function expand(
  dir: Directory,
  address: string,
  depth: number,
  accounts: Map<Id, LocalTarget>,
  remote: Set<string>,
  seen: Set<string>,
): Promise<boolean> {
  if (depth > MAX_ALIAS_DEPTH || seen.has(address) || seen.size > MAX_ALIAS_TARGETS) return seen.has(address);
  seen.add(address);
  const parts = splitAddress(address);
  if (!parts) return false;

  for (const candidate of candidates(parts.local, parts.domain)) {
    const account = await dir.getAccount(candidate);
    if (account) {
      accounts.set(account.id, { accountId: account.id, address: account.address });
      return true;
    }
    const alias = await dir.getAlias(candidate);
    if (alias) {
      await expandTargets(dir, alias.targets, depth, accounts, remote, seen);
      return true;
    }
  }
  // Catch-all last: an existing user or alias always wins over it.
  const catchAll = await dir.getAlias(`@${parts.domain}`);
  if (catchAll) {
    await expandTargets(dir, catchAll.targets, depth, accounts, remote, seen);
    return true;
  }
  return false;
}

async function expandTargets(
  dir: Directory,
  targets: string[],
  depth: number,
  accounts: Map<Id, LocalTarget>,
  remote: Set<string>,
  seen: Set<string>,
): Promise<void> {
  for (const target of targets) {
    const parts = splitAddress(target);
    if (!parts) continue;
    if (await dir.getDomain(parts.domain)) {
      await expand(dir, `${parts.local.toLowerCase()}@${parts.domain}`, depth + 1, accounts, remote, seen);
    } else {
      remote.add(target);
    }
  }
}

/** The exact local part first, then without a "+tag". */
function candidates(local: string, domain: string): string[] {
  const exact = `${local}@${domain}`;
  const stripped = stripPlusTag(local);
  return stripped ? [exact, `${stripped}@${domain}`] : [exact];
}
