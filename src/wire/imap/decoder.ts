/**
 * A cursor over a command's tokens with one method per RFC 3501 9 production (`astring`,
 * `nstring`, `mailbox`, `flagList`, `sequenceSet`, `dateTime`, ...). Methods named after a
 * production expect it and throw ImapParseError; `try...` variants return null (or false)
 * and consume nothing when it is absent.
 * @module
 */
import type { ImapDateTime, ParseOptions, SearchDate } from './commands.js';
import { ImapParseError } from './errors.js';
import { MailboxNameError, decodeMailboxName, normalizeInbox } from './mutf7.js';
import { MAX_NZ_NUMBER, SequenceSet, type SequenceSetParseOptions } from './sequence-set.js';
import { describeToken, type ImapToken } from './tokens.js';

/** RFC 7162 mod-sequence-value / RFC 9051 number64: at most 2^63 - 1. */
const MAX_NUMBER64 = 9223372036854775807n;

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** The hierarchy delimiter, for INBOX normalization of "INBOX/child" names. */
export const HIERARCHY_DELIMITER = '/';

const SYSTEM_FLAGS = new Map(['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'].map((f) => [f.toUpperCase(), f]));

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// Character classes of RFC 3501 9, as predicates on an atom token's text.
const ATOM_SPECIALS = '(){ %*"\\]';
function isAtomChar(ch: string): boolean {
  const code = ch.charCodeAt(0);
  return code > 0x20 && code < 0x7f && !ATOM_SPECIALS.includes(ch);
}
/** ASTRING-CHAR = ATOM-CHAR / resp-specials */
function isAstringChar(ch: string): boolean {
  return ch === ']' || isAtomChar(ch);
}
/** list-char = ATOM-CHAR / list-wildcards / resp-specials */
function isListChar(ch: string): boolean {
  return ch === '%' || ch === '*' || isAstringChar(ch);
}
function allChars(text: string, predicate: (ch: string) => boolean): boolean {
  for (const ch of text) if (!predicate(ch)) return false;
  return text.length > 0;
}

/** RFC 3501 9 `atom` = 1*ATOM-CHAR */
export function isAtom(text: string): boolean {
  return allChars(text, isAtomChar);
}

export class Decoder {
  private position = 0;

  constructor(
    private readonly tokens: readonly ImapToken[],
    readonly options: ParseOptions = {},
  ) {}

  get atEnd(): boolean {
    return this.position >= this.tokens.length;
  }

  peek(): ImapToken | undefined {
    return this.tokens[this.position];
  }

  /** The next token, whatever it is. */
  token(what: string): ImapToken {
    const token = this.tokens[this.position];
    if (token === undefined) throw new ImapParseError(`Missing ${what}`);
    this.position++;
    return token;
  }

  expectEnd(): void {
    if (!this.atEnd) throw new ImapParseError(`Unexpected ${describeToken(this.peek())}`);
  }

  /** Fails with "Expected <what>, got <token>". */
  unexpected(what: string, token: ImapToken | undefined = this.peek()): never {
    throw new ImapParseError(token === undefined ? `Missing ${what}` : `Expected ${what}, got ${describeToken(token)}`);
  }

  /** Any atom token's text (no character-class check). */
  atom(what = 'atom'): string {
    const token = this.peek();
    if (token?.type !== 'atom') this.unexpected(what);
    this.position++;
    return token.value;
  }

  /** The upper-cased text of the next token if it is an atom; consumes nothing. */
  peekAtom(): string | null {
    const token = this.peek();
    return token?.type === 'atom' ? token.value.toUpperCase() : null;
  }

  /** Consumes the atom `word` (case-insensitive) if it comes next. */
  tryAtom(word: string): boolean {
    if (this.peekAtom() !== word) return false;
    this.position++;
    return true;
  }

  /** "(" ... ")": a decoder over the list's items. */
  list(what: string): Decoder {
    const token = this.peek();
    if (token?.type !== 'list') this.unexpected(what);
    this.position++;
    return new Decoder(token.items, this.options);
  }

  tryList(): Decoder | null {
    const token = this.peek();
    if (token?.type !== 'list') return null;
    this.position++;
    return new Decoder(token.items, this.options);
  }

  /** RFC 3501 9 `number`: unsigned 32-bit. */
  number(what = 'number'): number {
    const text = this.atom(what);
    if (!/^[0-9]{1,10}$/.test(text) || Number(text) > MAX_NZ_NUMBER) throw new ImapParseError(`Invalid ${what} ${text}`);
    return Number(text);
  }

  /** RFC 3501 9 `nz-number`: 1..4294967295, no leading zero. */
  nzNumber(what = 'number'): number {
    const text = this.atom(what);
    if (!/^[1-9][0-9]{0,9}$/.test(text) || Number(text) > MAX_NZ_NUMBER) throw new ImapParseError(`Invalid ${what} ${text}`);
    return Number(text);
  }

  /** RFC 9051 `number64` (0..2^63-1). Values above 2^53 lose precision but keep their order
   * against every value the server itself issues. */
  number64(what = 'number'): number {
    return parseNumber64(this.atom(what), what, 0);
  }

  /** RFC 7162 `mod-sequence-value`: 1..2^63-1. */
  modSequenceValue(): number {
    return parseNumber64(this.atom('mod-sequence'), 'mod-sequence', 1);
  }

  /** RFC 7162 `mod-sequence-valzer`: 0..2^63-1. */
  modSequenceValzer(): number {
    return parseNumber64(this.atom('mod-sequence'), 'mod-sequence', 0);
  }

  /** RFC 3501 9 `string` = quoted / literal. */
  string(what = 'string'): Buffer {
    const token = this.peek();
    if (token?.type !== 'quoted' && token?.type !== 'literal') this.unexpected(what);
    this.position++;
    return token.value;
  }

  /** RFC 3501 9 `astring` = 1*ASTRING-CHAR / string. */
  astring(what = 'string'): Buffer {
    const token = this.peek();
    if (token?.type === 'atom') {
      if (!allChars(token.value, isAstringChar)) throw new ImapParseError(`Invalid characters in ${what}`);
      this.position++;
      return Buffer.from(token.value, 'ascii');
    }
    return this.string(what);
  }

  /** An astring that must be UTF-8 text (user names, passwords, quota roots). */
  astringText(what = 'string'): string {
    return utf8(this.astring(what), what);
  }

  /** RFC 3501 9 `nstring` = string / nil. */
  nstring(what = 'string'): Buffer | null {
    if (this.tryAtom('NIL')) return null;
    return this.string(what);
  }

  /**
   * RFC 3501 9 `mailbox` = "INBOX" / astring, decoded to UTF-8 (modified UTF-7, RFC 3501
   * 5.1.3; or UTF-8 as sent after ENABLE UTF8=ACCEPT, RFC 6855 3) with INBOX normalized.
   */
  mailbox(what = 'mailbox name'): string {
    return normalizeInbox(this.decodeMailboxText(this.astring(what), what), HIERARCHY_DELIMITER);
  }

  /** RFC 3501 9 `list-mailbox` = 1*list-char / string: a LIST pattern, decoded like a mailbox. */
  listMailbox(what = 'mailbox pattern'): string {
    const token = this.peek();
    if (token?.type === 'atom') {
      if (!allChars(token.value, isListChar)) throw new ImapParseError(`Invalid characters in ${what}`);
      this.position++;
      return this.decodeMailboxText(Buffer.from(token.value, 'ascii'), what);
    }
    return this.decodeMailboxText(this.string(what), what);
  }

  /** RFC 3501 9 `flag`: system flags in canonical case, keywords and extensions as sent. */
  flag(): string {
    const text = this.atom('flag');
    return parseFlag(text);
  }

  /** RFC 3501 9 `flag-list` = "(" [flag *(SP flag)] ")". */
  flagList(): string[] {
    const items = this.list('flag list');
    const flags: string[] = [];
    while (!items.atEnd) flags.push(items.flag());
    return flags;
  }

  /** RFC 3501 9 `flag-keyword` = atom. */
  flagKeyword(): string {
    const text = this.atom('keyword');
    if (!allChars(text, isAtomChar)) throw new ImapParseError(`Invalid keyword ${text}`);
    return text;
  }

  /** RFC 3501 9 `sequence-set` (with "$" from RFC 5182 unless disallowed). */
  sequenceSet(options: SequenceSetParseOptions = {}, what = 'sequence set'): SequenceSet {
    return SequenceSet.parse(this.atom(what), options);
  }

  /** RFC 3501 9 `date-time`, always quoted: "dd-Mon-yyyy hh:mm:ss +zzzz". */
  dateTime(): ImapDateTime {
    const token = this.peek();
    if (token?.type !== 'quoted') this.unexpected('date-time');
    this.position++;
    return parseDateTime(token.value.toString('latin1'));
  }

  /** Consumes a date-time if the next token is a quoted string. */
  tryDateTime(): ImapDateTime | null {
    return this.peek()?.type === 'quoted' ? this.dateTime() : null;
  }

  /** RFC 3501 9 `date` = date-text / DQUOTE date-text DQUOTE. */
  date(): SearchDate {
    const token = this.peek();
    if (token?.type !== 'atom' && token?.type !== 'quoted') this.unexpected('date');
    this.position++;
    const text = token.type === 'atom' ? token.value : token.value.toString('latin1');
    return parseDateText(text);
  }

  private decodeMailboxText(bytes: Buffer, what: string): string {
    if (this.options.utf8Accept === true) return utf8(bytes, what);
    for (const byte of bytes) {
      if (byte >= 0x80) throw new ImapParseError(`8-bit ${what} requires ENABLE UTF8=ACCEPT; use modified UTF-7`);
    }
    try {
      return decodeMailboxName(bytes.toString('ascii'));
    } catch (error) {
      if (error instanceof MailboxNameError) throw new ImapParseError(`Invalid ${what}: ${error.message}`);
      throw error;
    }
  }
}

function utf8(bytes: Buffer, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new ImapParseError(`Invalid UTF-8 in ${what}`);
  }
}

function parseNumber64(text: string, what: string, min: number): number {
  if (!/^[0-9]{1,19}$/.test(text)) throw new ImapParseError(`Invalid ${what} ${text.slice(0, 40)}`);
  if (text.length === 19 && BigInt(text) > MAX_NUMBER64) throw new ImapParseError(`Invalid ${what} ${text}`);
  const value = Number(text);
  if (value < min) throw new ImapParseError(`Invalid ${what} ${text}`);
  return value;
}

/** RFC 3501 9 `flag`; "\Recent" is not a flag a client may set, "\*" only appears in PERMANENTFLAGS. */
export function parseFlag(text: string): string {
  if (text.startsWith('\\')) {
    const name = text.slice(1);
    if (!allChars(name, isAtomChar)) throw new ImapParseError(`Invalid flag ${text}`);
    const upper = text.toUpperCase();
    if (upper === '\\RECENT') throw new ImapParseError('\\Recent cannot be set by a client');
    return SYSTEM_FLAGS.get(upper) ?? text;
  }
  if (!allChars(text, isAtomChar)) throw new ImapParseError(`Invalid flag ${text}`);
  return text;
}

function monthNumber(text: string): number {
  const index = MONTHS.indexOf(text.toUpperCase());
  if (index < 0) throw new ImapParseError(`Invalid month ${text}`);
  return index + 1;
}

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Date.UTC, except that years 0..99 stay themselves instead of becoming 1900..1999. */
function utcMillis(year: number, month: number, day: number, hours: number, minutes: number, seconds: number): number {
  const date = new Date(Date.UTC(2000, 0, 1, hours, minutes, seconds));
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime();
}

function checkDay(year: number, month: number, day: number, message: string): void {
  if (day < 1 || day > daysInMonth(year, month)) throw new ImapParseError(message);
}

/** date-text = date-day "-" date-month "-" date-year */
export function parseDateText(text: string): SearchDate {
  const match = /^([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})$/.exec(text);
  if (match === null) throw new ImapParseError(`Invalid date ${text.slice(0, 40)}`);
  const year = Number(match[3]);
  const month = monthNumber(match[2]!);
  const day = Number(match[1]);
  checkDay(year, month, day, `Invalid date ${text}`);
  return { year, month, day };
}

/**
 * date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE.
 * Besides date-day-fixed (" 1" or "01") a bare "1" is accepted: several clients send it.
 */
export function parseDateTime(text: string): ImapDateTime {
  const match = /^ ?([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})$/.exec(text);
  if (match === null) throw new ImapParseError(`Invalid date-time "${text.slice(0, 40)}"`);
  const [, dayText, monthText, yearText, hh, mm, ss, sign, zh, zm] = match;
  const year = Number(yearText);
  const month = monthNumber(monthText!);
  const day = Number(dayText);
  checkDay(year, month, day, `Invalid date-time "${text}"`);
  const hours = Number(hh);
  const minutes = Number(mm);
  const seconds = Number(ss);
  // Seconds may be 60 for a leap second; Date folds it into the next minute.
  if (hours > 23 || minutes > 59 || seconds > 60 || Number(zh) > 23 || Number(zm) > 59) {
    throw new ImapParseError(`Invalid date-time "${text}"`);
  }
  const zoneMinutes = (sign === '-' ? -1 : 1) * (Number(zh) * 60 + Number(zm));
  const utc = utcMillis(year, month, day, hours, minutes, seconds) - zoneMinutes * 60_000;
  return { date: new Date(utc), zoneMinutes };
}
