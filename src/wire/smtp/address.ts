/**
 * RFC 5321 4.1.2 / 4.1.3 address grammar (with the RFC 6531 3.3 SMTPUTF8 extensions): paths,
 * mailboxes, domains and address literals. Functions are named after the ABNF productions.
 * Pure functions over strings: they return values or throw AddressSyntaxError.
 * @module
 */
import { domainToASCII } from 'node:url';

export class AddressSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressSyntaxError';
  }
}

export type AddressLiteral =
  | { kind: 'ipv4'; address: string }
  | { kind: 'ipv6'; address: string }
  /** General-address-literal: Standardized-tag ":" 1*dcontent (RFC 5321 4.1.3). */
  | { kind: 'general'; tag: string; content: string };

export interface Mailbox {
  /** The local part's value: quotes removed and quoted-pairs resolved (RFC 5321 4.1.2: quoted forms are equivalent). */
  localPart: string;
  /** The domain as sent (U-labels kept), or the bracketed literal text such as "[192.0.2.1]". */
  domain: string;
  /** Set when the domain is an address literal. */
  literal: AddressLiteral | null;
  /** local@domain with the minimum quoting (RFC 5321 4.1.2: "the form that uses the minimum quoting possible"). */
  address: string;
  /** True when the mailbox holds non-ASCII characters (needs SMTPUTF8, RFC 6531). */
  utf8: boolean;
}

/** Path = "<" [ A-d-l ":" ] Mailbox ">" — with the source route returned apart, never used for routing. */
export interface Path {
  mailbox: Mailbox;
  /**
   * Domains of an A-d-l source route (RFC 5321 4.1.1.3, Appendix C): accepted for syntax, to be
   * ignored. They must never decide relaying; they are returned only so the session can log them.
   */
  sourceRoute: string[];
}

/** Options for productions that may carry UTF-8 (RFC 6531 3.3). */
export interface GrammarOptions {
  /** Accept UTF8-non-ascii in atext, qtextSMTP and U-label sub-domains. */
  utf8: boolean;
}

// RFC 5322 3.2.3 atext: ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~" (plus UTF8-non-ascii, RFC 6531 3.3).
const ATEXT_ASCII = /[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]/;
const MAX_DOMAIN_OCTETS = 255; // RFC 5321 4.5.3.1.2
const MAX_LABEL_OCTETS = 63; // RFC 1035 2.3.4

/** A cursor over a command argument string. */
export class Cursor {
  index = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.index >= this.text.length;
  }

  peek(): string {
    return this.text[this.index] ?? '';
  }

  /** Consumes `literal` (case-insensitively) if it is next. */
  tryLiteral(literal: string): boolean {
    const slice = this.text.slice(this.index, this.index + literal.length);
    if (slice.toLowerCase() !== literal.toLowerCase()) return false;
    this.index += literal.length;
    return true;
  }

  expectLiteral(literal: string, what: string): void {
    if (!this.tryLiteral(literal)) throw new AddressSyntaxError(`expected ${what}`);
  }

  rest(): string {
    return this.text.slice(this.index);
  }
}

function hasNonAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return true;
  return false;
}

function isUtf8NonAscii(char: string): boolean {
  return char.codePointAt(0)! >= 0x80;
}

function isAtext(char: string, options: GrammarOptions): boolean {
  if (char === '') return false;
  return ATEXT_ASCII.test(char) || (options.utf8 && isUtf8NonAscii(char));
}

/** Atom = 1*atext */
function parseAtom(cursor: Cursor, options: GrammarOptions): string {
  const start = cursor.index;
  while (!cursor.done) {
    const char = String.fromCodePoint(cursor.text.codePointAt(cursor.index)!);
    if (!isAtext(char, options)) break;
    cursor.index += char.length;
  }
  if (cursor.index === start) throw new AddressSyntaxError('expected an atom');
  return cursor.text.slice(start, cursor.index);
}

/** Dot-string = Atom *("." Atom) */
export function parseDotString(cursor: Cursor, options: GrammarOptions): string {
  let value = parseAtom(cursor, options);
  while (cursor.peek() === '.') {
    cursor.index++;
    value += '.' + parseAtom(cursor, options);
  }
  return value;
}

/**
 * Quoted-string = DQUOTE *QcontentSMTP DQUOTE; returns the unquoted value.
 * qtextSMTP = %d32-33 / %d35-91 / %d93-126 (=/ UTF8-non-ascii); quoted-pairSMTP = %d92 %d32-126.
 */
export function parseQuotedString(cursor: Cursor, options: GrammarOptions): string {
  cursor.expectLiteral('"', 'a quoted string');
  let value = '';
  for (;;) {
    if (cursor.done) throw new AddressSyntaxError('unterminated quoted string');
    const code = cursor.text.codePointAt(cursor.index)!;
    const char = String.fromCodePoint(code);
    cursor.index += char.length;
    if (char === '"') return value;
    if (char === '\\') {
      const next = cursor.text.charCodeAt(cursor.index);
      if (!(next >= 32 && next <= 126)) throw new AddressSyntaxError('invalid quoted-pair');
      value += cursor.text[cursor.index];
      cursor.index++;
      continue;
    }
    const ascii = code >= 32 && code <= 126;
    if (!ascii && !(options.utf8 && code >= 0x80)) throw new AddressSyntaxError('character not allowed in quoted string');
    value += char;
  }
}

/** Local-part = Dot-string / Quoted-string */
export function parseLocalPart(cursor: Cursor, options: GrammarOptions): string {
  return cursor.peek() === '"' ? parseQuotedString(cursor, options) : parseDotString(cursor, options);
}

/**
 * Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] (=/ U-label, RFC 6531 3.3).
 * RFC 5321 2.3.5 / 4.1.2: only letters, digits and hyphen in labels; no underscore.
 */
export function parseDomain(cursor: Cursor, options: GrammarOptions): string {
  const start = cursor.index;
  let hasUtf8 = false;
  for (;;) {
    const labelStart = cursor.index;
    while (!cursor.done) {
      const char = String.fromCodePoint(cursor.text.codePointAt(cursor.index)!);
      const ldh = /[A-Za-z0-9-]/.test(char);
      const utf8 = options.utf8 && isUtf8NonAscii(char);
      if (!ldh && !utf8) break;
      hasUtf8 ||= utf8;
      cursor.index += char.length;
    }
    const label = cursor.text.slice(labelStart, cursor.index);
    checkLabel(label);
    if (cursor.peek() !== '.') break;
    cursor.index++;
  }
  const domain = cursor.text.slice(start, cursor.index);
  if (Buffer.byteLength(domain, 'utf8') > MAX_DOMAIN_OCTETS) throw new AddressSyntaxError('domain too long');
  // A U-label must be a valid IDNA label: the A-label conversion fails otherwise.
  if (hasUtf8 && domainToASCII(domain) === '') throw new AddressSyntaxError('invalid internationalized domain');
  return domain;
}

function checkLabel(label: string): void {
  if (label === '') throw new AddressSyntaxError('empty domain label');
  if (label.startsWith('-') || label.endsWith('-')) throw new AddressSyntaxError('domain label starts or ends with a hyphen');
  if (Buffer.byteLength(label, 'utf8') > MAX_LABEL_OCTETS) throw new AddressSyntaxError('domain label too long');
}

/**
 * address-literal = "[" ( IPv4-address-literal / IPv6-address-literal / General-address-literal ) "]"
 * (RFC 5321 4.1.3). Returns the literal and its bracketed text.
 */
export function parseAddressLiteral(cursor: Cursor): { literal: AddressLiteral; text: string } {
  const start = cursor.index;
  cursor.expectLiteral('[', 'an address literal');
  const close = cursor.text.indexOf(']', cursor.index);
  if (close === -1) throw new AddressSyntaxError('unterminated address literal');
  const inner = cursor.text.slice(cursor.index, close);
  cursor.index = close + 1;
  return { literal: parseAddressLiteralBody(inner), text: cursor.text.slice(start, cursor.index) };
}

function parseAddressLiteralBody(inner: string): AddressLiteral {
  if (isIpv4AddressLiteral(inner)) return { kind: 'ipv4', address: inner };
  const colon = inner.indexOf(':');
  if (colon === -1) throw new AddressSyntaxError('invalid IPv4 address literal');
  const tag = inner.slice(0, colon);
  const content = inner.slice(colon + 1);
  if (tag.toLowerCase() === 'ipv6') {
    if (!isIpv6Addr(content)) throw new AddressSyntaxError('invalid IPv6 address literal');
    return { kind: 'ipv6', address: content };
  }
  // Standardized-tag = Ldh-str; dcontent = %d33-90 / %d94-126.
  if (!/^[A-Za-z0-9-]*[A-Za-z0-9]$/.test(tag)) throw new AddressSyntaxError('invalid address literal tag');
  if (!/^[\x21-\x5a\x5e-\x7e]+$/.test(content)) throw new AddressSyntaxError('invalid address literal content');
  return { kind: 'general', tag, content };
}

/** IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT in 0..255. */
export function isIpv4AddressLiteral(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255);
}

/**
 * IPv6-addr = IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp (RFC 5321 4.1.3).
 * Full forms have 8 groups (6 plus an IPv4 tail); "::" stands for at least 2 groups, so a
 * compressed form has at most 6 explicit groups (4 plus an IPv4 tail).
 */
export function isIpv6Addr(text: string): boolean {
  let groups = text;
  let tailGroups = 0;
  const lastColon = text.lastIndexOf(':');
  if (lastColon !== -1 && text.slice(lastColon + 1).includes('.')) {
    if (!isIpv4AddressLiteral(text.slice(lastColon + 1))) return false;
    groups = text.slice(0, lastColon + 1);
    // "1:2:3:4:5:6:" + v4, or "...::" + v4: strip the colon that precedes the IPv4 tail.
    groups = groups.endsWith('::') ? groups : groups.slice(0, -1);
    tailGroups = 2;
  }
  const hex = /^[0-9A-Fa-f]{1,4}$/;
  const split = (part: string): string[] | null => {
    if (part === '') return [];
    const items = part.split(':');
    return items.every((item) => hex.test(item)) ? items : null;
  };
  const compressed = groups.indexOf('::');
  if (compressed === -1) {
    const items = split(groups);
    return items !== null && items.length + tailGroups === 8;
  }
  if (groups.indexOf('::', compressed + 1) !== -1) return false;
  const left = split(groups.slice(0, compressed));
  const right = split(groups.slice(compressed + 2));
  if (left === null || right === null) return false;
  return left.length + right.length + tailGroups <= 6;
}

/** Mailbox = Local-part "@" ( Domain / address-literal ) */
export function parseMailbox(cursor: Cursor, options: GrammarOptions): Mailbox {
  const localPart = parseLocalPart(cursor, options);
  cursor.expectLiteral('@', '"@" after the local part');
  let domain: string;
  let literal: AddressLiteral | null = null;
  if (cursor.peek() === '[') {
    const parsed = parseAddressLiteral(cursor);
    literal = parsed.literal;
    domain = parsed.text;
  } else {
    domain = parseDomain(cursor, options);
  }
  const utf8 = hasNonAscii(localPart) || hasNonAscii(domain);
  return { localPart, domain, literal, address: `${quoteLocalPart(localPart)}@${domain}`, utf8 };
}

/**
 * A-d-l = At-domain *( "," At-domain ); At-domain = "@" Domain.
 * Returns the domains; RFC 5321 4.1.1.3 says to strip them and use the mailbox alone.
 */
function parseAdl(cursor: Cursor, options: GrammarOptions): string[] {
  const domains: string[] = [];
  do {
    cursor.expectLiteral('@', '"@" in source route');
    domains.push(parseDomain(cursor, options));
  } while (cursor.tryLiteral(','));
  cursor.expectLiteral(':', '":" after source route');
  return domains;
}

/** Path = "<" [ A-d-l ":" ] Mailbox ">" */
export function parsePath(cursor: Cursor, options: GrammarOptions): Path {
  cursor.expectLiteral('<', '"<"');
  const sourceRoute = cursor.peek() === '@' ? parseAdl(cursor, options) : [];
  const mailbox = parseMailbox(cursor, options);
  cursor.expectLiteral('>', '">" after the address');
  return { mailbox, sourceRoute };
}

/** The minimal quoting of a local part: as-is if it is a Dot-string, else a Quoted-string. */
export function quoteLocalPart(localPart: string): string {
  try {
    const cursor = new Cursor(localPart);
    parseDotString(cursor, { utf8: true });
    if (cursor.done) return localPart;
  } catch {
    // Not a Dot-string: quote below.
  }
  return `"${localPart.replace(/["\\]/g, (char) => `\\${char}`)}"`;
}

/** Parses a whole string as a Mailbox (no angle brackets), e.g. the decoded AUTH= value. */
export function parseMailboxString(text: string, options: GrammarOptions): Mailbox {
  const cursor = new Cursor(text);
  const mailbox = parseMailbox(cursor, options);
  if (!cursor.done) throw new AddressSyntaxError('unexpected text after the address');
  return mailbox;
}
