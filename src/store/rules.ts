/**
 * Input rules every backend applies the same way (addresses, quotas, flags, UIDs, the default
 * mailboxes), so SQLite and PostgreSQL accept and refuse exactly the same things.
 * @module
 */
import { hasControlCharacter } from './names.js';
import { StoreError, SystemFlag } from './types.js';
import type { SpecialUse } from './types.js';

/** Created with every account: INBOX plus the RFC 6154 special-use set, all subscribed. */
export const DEFAULT_MAILBOXES: ReadonlyArray<readonly [string, SpecialUse | null]> = [
  ['INBOX', null],
  ['Sent', '\\Sent'],
  ['Drafts', '\\Drafts'],
  ['Trash', '\\Trash'],
  ['Junk', '\\Junk'],
  ['Archive', '\\Archive'],
];

export const SPECIAL_USES: ReadonlySet<string> = new Set(['\\Sent', '\\Drafts', '\\Trash', '\\Junk', '\\Archive', '\\All', '\\Flagged']);

export const MAX_UID = 0xffffffff;
export const MAX_UIDVALIDITY = 0xffffffff;
const ALL_SYSTEM_FLAGS = SystemFlag.Seen | SystemFlag.Answered | SystemFlag.Flagged | SystemFlag.Deleted | SystemFlag.Draft;

export function normalizeDomainName(name: string): string {
  const domain = name.trim().toLowerCase();
  if (domain === '' || /[\s@]/.test(domain) || hasControlCharacter(domain)) throw new StoreError('invalid', `invalid domain: ${JSON.stringify(name)}`);
  return domain;
}

/** "Local@Domain" → "local@domain"; split at the last "@". */
export function normalizeAddress(address: string): { address: string; domain: string } {
  const lower = address.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at <= 0 || at === lower.length - 1 || /\s/.test(lower) || hasControlCharacter(lower)) {
    throw new StoreError('invalid', `invalid address: ${JSON.stringify(address)}`);
  }
  return { address: lower, domain: lower.slice(at + 1) };
}

/** An alias source: "local@domain" or "@domain" (catch-all). */
export function normalizeAliasSource(address: string): { address: string; domain: string } {
  const lower = address.trim().toLowerCase();
  if (lower.startsWith('@')) return { address: `@${normalizeDomainName(lower.slice(1))}`, domain: lower.slice(1) };
  return normalizeAddress(lower);
}

export function checkQuota(value: number | null, what: string): void {
  if (value !== null && (!Number.isSafeInteger(value) || value < 0)) {
    throw new StoreError('invalid', `${what} must be a non-negative integer or null`);
  }
}

export function checkFlags(flags: number): number {
  if (!Number.isInteger(flags) || flags < 0 || (flags & ~ALL_SYSTEM_FLAGS) !== 0) {
    throw new StoreError('invalid', `invalid system flag mask ${flags}`);
  }
  return flags;
}

/** Valid, distinct and ascending. */
export function checkUids(uids: readonly number[]): number[] {
  for (const uid of uids) {
    if (!Number.isInteger(uid) || uid < 1 || uid > MAX_UID) throw new StoreError('invalid', `invalid UID ${uid}`);
  }
  return [...new Set(uids)].sort((a, b) => a - b);
}

export function isUnseen(flags: number): number {
  return (flags & SystemFlag.Seen) === 0 ? 1 : 0;
}
