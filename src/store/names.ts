/**
 * Mailbox names and keywords as every backend checks them. Names here are UTF-8 with "/" as the
 * hierarchy delimiter; modified UTF-7 (RFC 3501 5.1.3) is the IMAP layer's business.
 * @module
 */
import { StoreError } from './types.js';

export const HIERARCHY_DELIMITER = '/';
export const INBOX = 'INBOX';
/** Generous, but bounded: a name is an index key and part of every LIST response. */
const MAX_NAME_LENGTH = 1000;
const MAX_LEVELS = 64;
const MAX_KEYWORD_LENGTH = 200;

/**
 * Canonical spelling of a mailbox name: "INBOX" in any case is INBOX (RFC 3501 5.1), and so is the
 * first level of its children ("inbox/x" is "INBOX/x"). Does not validate.
 */
export function canonicalMailboxName(name: string): string {
  const slash = name.indexOf(HIERARCHY_DELIMITER);
  const first = slash < 0 ? name : name.slice(0, slash);
  if (first.toUpperCase() !== INBOX) return name;
  return INBOX + (slash < 0 ? '' : name.slice(slash));
}

/** Validates a name and returns its canonical spelling; throws StoreError('invalid'). */
export function checkMailboxName(name: string): string {
  if (name === '') throw invalid(name, 'empty name');
  if (name.length > MAX_NAME_LENGTH) throw invalid(name, `longer than ${MAX_NAME_LENGTH} characters`);
  // Control characters would break every protocol line the name is written on; "*" and "%" are
  // LIST wildcards (RFC 3501 6.3.8) and could never be listed on their own.
  if (hasControlCharacter(name) || /[*%]/.test(name)) throw invalid(name, 'control character or wildcard');
  const levels = name.split(HIERARCHY_DELIMITER);
  if (levels.length > MAX_LEVELS) throw invalid(name, `more than ${MAX_LEVELS} levels`);
  if (levels.some((level) => level === '')) throw invalid(name, 'empty hierarchy level');
  if (name !== name.normalize('NFC')) throw invalid(name, 'not in Unicode normalization form C');
  return canonicalMailboxName(name);
}

/** "a/b/c" → ["a", "a/b"]: the superior names RFC 3501 6.3.3 says a CREATE SHOULD create. */
export function parentNames(name: string): string[] {
  const levels = name.split(HIERARCHY_DELIMITER);
  const parents: string[] = [];
  for (let i = 1; i < levels.length; i++) parents.push(levels.slice(0, i).join(HIERARCHY_DELIMITER));
  return parents;
}

export function isInferiorOf(name: string, superior: string): boolean {
  return name.startsWith(superior + HIERARCHY_DELIMITER);
}

/** Keywords are atoms (RFC 3501 9 flag-keyword); system flags travel as the bitmask. */
export function checkKeywords(keywords: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const keyword of keywords) {
    if (keyword === '' || keyword.length > MAX_KEYWORD_LENGTH || !isAtom(keyword)) {
      throw new StoreError('invalid', `invalid keyword: ${JSON.stringify(keyword)}`);
    }
    // Flag names compare case-insensitively; the first spelling wins.
    const key = keyword.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(keyword);
  }
  return out;
}

/** Applies a STORE operation to a keyword list (case-insensitive; existing spellings are kept). */
export function applyKeywords(current: readonly string[], op: 'set' | 'add' | 'remove', given: readonly string[]): string[] {
  const has = (list: readonly string[], k: string): boolean => list.some((x) => x.toLowerCase() === k.toLowerCase());
  switch (op) {
    case 'set':
      return [...given];
    case 'add':
      return [...current, ...given.filter((k) => !has(current, k))];
    case 'remove':
      return current.filter((k) => !has(given, k));
  }
}

export function applyFlags(current: number, op: 'set' | 'add' | 'remove', given: number): number {
  switch (op) {
    case 'set':
      return given;
    case 'add':
      return current | given;
    case 'remove':
      return current & ~given;
  }
}

export function sameKeywords(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const lower = new Set(a.map((k) => k.toLowerCase()));
  return b.every((k) => lower.has(k.toLowerCase()));
}

/** C0 controls and DEL: never valid in names that travel on protocol lines. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** RFC 3501 9: ATOM-CHAR is any printable ASCII except atom-specials ( ) { SP % * " \ ]; system flags ("\Seen") travel as the bitmask. */
function isAtom(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f || '(){%*"\\]'.includes(text[i] ?? '')) return false;
  }
  return true;
}

function invalid(name: string, reason: string): StoreError {
  return new StoreError('invalid', `invalid mailbox name ${JSON.stringify(name)}: ${reason}`);
}
