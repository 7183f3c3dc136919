/**
 * RFC 5322 3.4 address lists for the IMAP ENVELOPE (RFC 3501 7.4.2), tolerant of the
 * obsolete syntax of RFC 5322 4.4 (routes, comments as names, stray commas) and of garbage.
 *
 * Where an address lacks its local part or domain we fill in "MISSING_MAILBOX" /
 * "MISSING_DOMAIN" as Dovecot does: a NIL host would mean group syntax to the client.
 * @module
 */
import type { EnvelopeAddress } from './types.js';
import { decodeWords } from './encoded-words.js';
import { endOfComment } from './content-fields.js';
import { trimWsp } from './header.js';

export const MISSING_MAILBOX = 'MISSING_MAILBOX';
export const MISSING_DOMAIN = 'MISSING_DOMAIN';

type TokenKind = 'atom' | 'quoted' | 'comment' | 'literal' | 'special';

interface Token {
  kind: TokenKind;
  /** Atom text, quoted/comment content unescaped, a domain literal with its brackets, or the special char. */
  text: string;
  /** Whitespace (or a comment) separated this token from the previous one. */
  spaced: boolean;
}

const SPECIALS = '<>@,;:.';
const ATOM_END = ' \t\r\n()<>@,;:".[';

/** Parses an address-list (text, already unfolded). Empty list when nothing usable is found. */
export function parseAddressList(text: string): EnvelopeAddress[] {
  const tokens = tokenize(text);
  const out: EnvelopeAddress[] = [];
  let item: Token[] = [];
  let angle = 0;
  let inGroup = false;
  for (const token of tokens) {
    if (token.kind === 'special') {
      if (token.text === '<') angle++;
      else if (token.text === '>') angle = Math.max(0, angle - 1);
      else if (angle === 0) {
        if (token.text === ',') {
          pushAddress(out, item);
          item = [];
          continue;
        }
        if (token.text === ':' && !inGroup && !item.some(isSpecial('@'))) {
          // RFC 5322 3.4 group: display-name ":" [group-list] ";"
          out.push({ name: null, adl: null, mailbox: phrase(item, false) ?? '', host: null });
          inGroup = true;
          item = [];
          continue;
        }
        if (token.text === ';') {
          pushAddress(out, item);
          item = [];
          if (inGroup) out.push({ name: null, adl: null, mailbox: null, host: null });
          inGroup = false;
          continue;
        }
      }
    }
    item.push(token);
  }
  pushAddress(out, item);
  if (inGroup) out.push({ name: null, adl: null, mailbox: null, host: null });
  return out;
}

function isSpecial(ch: string): (t: Token) => boolean {
  return (t) => t.kind === 'special' && t.text === ch;
}

function pushAddress(out: EnvelopeAddress[], item: Token[]): void {
  if (!item.some((t) => t.kind !== 'comment')) return;
  const open = item.findIndex(isSpecial('<'));
  if (open === -1) {
    pushBareAddresses(out, item);
    return;
  }
  let close = item.findIndex((t, i) => i > open && t.kind === 'special' && t.text === '>');
  if (close === -1) close = item.length;
  const before = item.slice(0, open);
  let inner = item.slice(open + 1, close).filter((t) => t.kind !== 'comment');
  let adl: string | null = null;
  if (inner[0]?.kind === 'special' && inner[0].text === '@') {
    // RFC 5322 4.4 obs-route: "@a,@b:" before the addr-spec.
    const colon = inner.findIndex(isSpecial(':'));
    if (colon !== -1) {
      adl = inner.slice(0, colon).map((t) => t.text).join('');
      inner = inner.slice(colon + 1);
    }
  }
  const { mailbox, host } = addrSpec(inner);
  const name = phrase(before) ?? firstComment(before) ?? firstComment(item.slice(close + 1));
  out.push({ name, adl, mailbox, host });
}

/**
 * Addresses without angle brackets: "addr-spec", "addr-spec (Name)" (RFC 822 practice), and
 * what is seen in the wild: "Name addr-spec" (the words before become the name), "a@x b@y"
 * (a missing comma), or a phrase without any address (a name with MISSING_MAILBOX, as Dovecot).
 */
function pushBareAddresses(out: EnvelopeAddress[], item: Token[]): void {
  const units = splitUnits(item.filter((t) => t.kind !== 'comment'));
  const comment = firstComment(item);
  const withAt = units.filter((u) => u.some(isSpecial('@')));
  if (withAt.length === 0) {
    if (units.length === 1) out.push({ name: comment, adl: null, mailbox: addrSpec(units[0]!).mailbox, host: MISSING_DOMAIN });
    else out.push({ name: phrase(item), adl: null, mailbox: MISSING_MAILBOX, host: MISSING_DOMAIN });
    return;
  }
  let nameUnits: Token[][] = [];
  for (const unit of units) {
    if (!unit.some(isSpecial('@'))) {
      nameUnits.push(unit);
      continue;
    }
    const { mailbox, host } = addrSpec(unit);
    const name = nameUnits.length > 0 ? phrase(nameUnits.flat()) : withAt.length === 1 ? comment : null;
    out.push({ name, adl: null, mailbox, host });
    nameUnits = [];
  }
}

/** Splits at whitespace, except around "." and "@" (RFC 5322 4.4 allows CFWS there). */
function splitUnits(tokens: Token[]): Token[][] {
  const units: Token[][] = [];
  let previous: Token | null = null;
  for (const token of tokens) {
    const glued = previous !== null && (!token.spaced || isGlue(token) || isGlue(previous));
    if (glued) units[units.length - 1]!.push(token);
    else units.push([token]);
    previous = token;
  }
  return units;
}

function isGlue(token: Token): boolean {
  return token.kind === 'special' && (token.text === '.' || token.text === '@');
}

/** local-part "@" domain; the last "@" splits. Stray specials (":", ";", ">") are dropped. */
function addrSpec(tokens: Token[]): { mailbox: string; host: string } {
  const words = tokens.filter((t) => t.kind !== 'comment' && (t.kind !== 'special' || isGlue(t)));
  let at = -1;
  for (let i = words.length - 1; i >= 0; i--) {
    if (words[i]!.kind === 'special' && words[i]!.text === '@') {
      at = i;
      break;
    }
  }
  const local = joinWords(at === -1 ? words : words.slice(0, at));
  const domain = at === -1 ? '' : joinWords(words.slice(at + 1));
  return { mailbox: local.length > 0 ? local : MISSING_MAILBOX, host: domain.length > 0 ? domain : MISSING_DOMAIN };
}

/** Joins dot-atom pieces without spaces; two words that were apart keep one space. */
function joinWords(tokens: Token[]): string {
  let out = '';
  let previousWord = false;
  for (const token of tokens) {
    const word = token.kind !== 'special';
    if (word && previousWord && token.spaced) out += ' ';
    out += token.text;
    previousWord = word;
  }
  return out;
}

/** A display name: words joined by single spaces where they were apart, RFC 2047 decoded. */
function phrase(tokens: Token[], decode = true): string | null {
  let out = '';
  for (const token of tokens) {
    if (token.kind === 'comment') continue;
    if (out.length > 0 && token.spaced) out += ' ';
    out += token.text;
  }
  if (out.length === 0) return null;
  out = trimWsp(out);
  return decode ? decodeWords(out) : out;
}

function firstComment(tokens: Token[]): string | null {
  const comment = tokens.find((t) => t.kind === 'comment' && t.text.trim().length > 0);
  return comment ? decodeWords(comment.text.trim()) : null;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let spaced = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') {
      spaced = true;
      i++;
      continue;
    }
    if (ch === '(') {
      const end = endOfComment(text, i);
      const inner = text.slice(i + 1, text[end - 1] === ')' ? end - 1 : end);
      tokens.push({ kind: 'comment', text: unescape(inner), spaced });
      spaced = true;
      i = end;
      continue;
    }
    if (ch === '"') {
      let j = i + 1;
      let value = '';
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\' && j + 1 < text.length) j++;
        value += text[j];
        j++;
      }
      tokens.push({ kind: 'quoted', text: value, spaced });
      i = j + 1;
    } else if (ch === '[') {
      const end = text.indexOf(']', i);
      const stop = end === -1 ? text.length : end + 1;
      tokens.push({ kind: 'literal', text: text.slice(i, stop), spaced });
      i = stop;
    } else if (SPECIALS.includes(ch)) {
      tokens.push({ kind: 'special', text: ch, spaced });
      i++;
    } else {
      let j = i + 1;
      while (j < text.length && !ATOM_END.includes(text[j]!)) j++;
      tokens.push({ kind: 'atom', text: text.slice(i, j), spaced });
      i = j;
    }
    spaced = false;
  }
  return tokens;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/gs, '$1');
}
