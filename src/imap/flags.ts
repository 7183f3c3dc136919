/**
 * Flags between the wire (RFC 3501 2.3.2 `flag`) and the store (system-flag bitmask + keywords).
 * @module
 */
import { SYSTEM_FLAG_NAMES, SystemFlag } from '../store/types.js';
import { ImapBad } from './errors.js';

const SYSTEM_BY_NAME = new Map(SYSTEM_FLAG_NAMES.map(([name, bit]) => [name.toUpperCase(), bit]));

/** The five system flags a client may store, in the order FLAGS lists them. */
export const SYSTEM_FLAGS: readonly string[] = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

export interface ParsedFlags {
  readonly bits: number;
  readonly keywords: string[];
}

/** Splits parsed wire flags (system flags already in canonical case) into bits and keywords.
 * An unknown "\Name" flag is not something this server can store: BAD (RFC 3501 2.3.2 says
 * system flags are defined by the RFC). */
export function splitFlags(flags: readonly string[]): ParsedFlags {
  let bits = 0;
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const flag of flags) {
    if (flag.startsWith('\\')) {
      const bit = SYSTEM_BY_NAME.get(flag.toUpperCase());
      if (bit === undefined) throw new ImapBad(`Unknown system flag ${flag.slice(0, 40)}`);
      bits |= bit;
      continue;
    }
    const key = flag.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    keywords.push(flag);
  }
  return { bits, keywords };
}

/** The flag-fetch list of a message (RFC 3501 7.4.2 FLAGS), \Recent included when it is. */
export function flagNames(bits: number, keywords: readonly string[], recent: boolean): string[] {
  const out: string[] = [];
  for (const [name, bit] of SYSTEM_FLAG_NAMES) if ((bits & bit) !== 0) out.push(name);
  if (recent) out.push('\\Recent');
  out.push(...keywords);
  return out;
}

/** `(\Seen \Flagged kw)` as wire text. */
export function flagListText(bits: number, keywords: readonly string[], recent: boolean): string {
  return `(${flagNames(bits, keywords, recent).join(' ')})`;
}

export const SEEN = SystemFlag.Seen;
export const DELETED = SystemFlag.Deleted;
