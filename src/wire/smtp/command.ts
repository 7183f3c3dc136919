/**
 * SMTP command parsing: one command line (without CRLF) in, one typed command out, or an
 * SmtpSyntaxError carrying the reply to send. The parser decides syntax only; what a command
 * means in the current state (sequence, policy, advertised extensions) is the session's job.
 *
 * Grammar: RFC 5321 4.1.1 (commands) and 4.1.2 (arguments), extended by RFC 1870 (SIZE),
 * RFC 6152 (8BITMIME), RFC 3030 (BDAT, BINARYMIME), RFC 3461 (DSN), RFC 4954 (AUTH),
 * RFC 6531 (SMTPUTF8) and RFC 8689 (REQUIRETLS).
 * @module
 */
import {
  AddressSyntaxError,
  Cursor,
  parseAddressLiteral,
  parseDomain,
  parseMailboxString,
  parsePath,
  parseQuotedString,
} from './address.js';
import type { AddressLiteral, Mailbox, Path } from './address.js';
import { Reply, SmtpReplyError, withText } from './reply.js';
import type { SmtpReply } from './reply.js';
import { decodeXtext, XtextError } from './xtext.js';

export type { AddressLiteral, Mailbox, Path } from './address.js';

/** Why a line was refused; lets the session count errors and spot non-SMTP clients. */
export type SyntaxErrorKind = 'unknownCommand' | 'badCharacters' | 'syntax' | 'address' | 'parameter';

export class SmtpSyntaxError extends SmtpReplyError {
  constructor(
    readonly kind: SyntaxErrorKind,
    reply: SmtpReply,
  ) {
    super(reply);
    this.name = 'SmtpSyntaxError';
  }
}

/** EHLO/HELO argument: Domain / address-literal (RFC 5321 4.1.1.1). */
export type HeloHost =
  | { kind: 'domain'; domain: string }
  | { kind: 'literal'; literal: AddressLiteral; text: string }
  /** Only with `lenientHelo`: an argument that is neither (e.g. "my_pc"), kept for logging. */
  | { kind: 'invalid'; text: string };

/** Reverse-path = Path / "<>" (RFC 5321 4.1.2). */
export type ReversePath = { kind: 'null' } | ({ kind: 'path' } & Path);

/** "<Postmaster>" / Forward-path (RFC 5321 4.1.1.3); "<Postmaster@domain>" is an ordinary path. */
export type ForwardPath = { kind: 'postmaster' } | ({ kind: 'path' } & Path);

export type BodyType = '7BIT' | '8BITMIME' | 'BINARYMIME';
export type NotifyCondition = 'SUCCESS' | 'FAILURE' | 'DELAY';

export interface MailParameters {
  /** RFC 1870 SIZE=: declared size in octets (values over 2^53 come out as Infinity). */
  size: number | null;
  /** RFC 6152 / RFC 3030 BODY=. */
  body: BodyType | null;
  /** RFC 6531 SMTPUTF8. */
  smtputf8: boolean;
  /** RFC 4954 5 AUTH=: the original submitter, or "<>" (unknown). Decoded from xtext. */
  auth: { kind: 'null' } | { kind: 'mailbox'; mailbox: Mailbox } | null;
  /** RFC 3461 4.3 RET=. */
  ret: 'FULL' | 'HDRS' | null;
  /** RFC 3461 4.4 ENVID=, decoded from xtext. */
  envid: string | null;
  /** RFC 8689 REQUIRETLS. */
  requireTls: boolean;
}

export interface RcptParameters {
  /** RFC 3461 4.1 NOTIFY=: "NEVER" or a set of conditions. */
  notify: 'NEVER' | NotifyCondition[] | null;
  /** RFC 3461 4.2 ORCPT=addr-type;xtext, decoded. */
  orcpt: { addrType: string; address: string } | null;
}

export type SmtpCommand =
  | { verb: 'EHLO'; host: HeloHost }
  | { verb: 'HELO'; host: HeloHost }
  | { verb: 'MAIL'; from: ReversePath; params: MailParameters }
  | { verb: 'RCPT'; to: ForwardPath; params: RcptParameters }
  | { verb: 'DATA' }
  | { verb: 'BDAT'; size: number; last: boolean }
  | { verb: 'RSET' }
  | { verb: 'NOOP'; text: string | null }
  | { verb: 'QUIT' }
  | { verb: 'VRFY'; argument: string; smtputf8: boolean }
  | { verb: 'EXPN'; argument: string; smtputf8: boolean }
  | { verb: 'HELP'; argument: string | null }
  | { verb: 'STARTTLS' }
  /** The initial response is raw (base64 text, or "=" for empty); the session decodes it (RFC 4954 4). */
  | { verb: 'AUTH'; mechanism: string; initialResponse: string | null };

export type SmtpVerb = SmtpCommand['verb'];

export interface ParseOptions {
  /** Accept any printable EHLO/HELO argument as `{kind:'invalid'}` instead of answering 501. */
  lenientHelo?: boolean;
}

type ArgumentParser = (args: string, options: ParseOptions) => SmtpCommand;

const fail = (kind: SyntaxErrorKind, base: SmtpReply, text: string): never => {
  throw new SmtpSyntaxError(kind, withText(base, text));
};

const VERBS: Readonly<Record<SmtpVerb, ArgumentParser>> = {
  EHLO: (args, options) => ({ verb: 'EHLO', host: parseHeloHost('EHLO', args, options) }),
  HELO: (args, options) => ({ verb: 'HELO', host: parseHeloHost('HELO', args, options) }),
  MAIL: (args) => parseMail(args),
  RCPT: (args) => parseRcpt(args),
  DATA: withoutArguments('DATA'),
  BDAT: (args) => parseBdat(args),
  RSET: withoutArguments('RSET'),
  NOOP: (args) => ({ verb: 'NOOP', text: args === '' ? null : args }),
  QUIT: withoutArguments('QUIT'),
  VRFY: (args) => ({ verb: 'VRFY', ...parseVrfyArgument('VRFY', args) }),
  EXPN: (args) => ({ verb: 'EXPN', ...parseVrfyArgument('EXPN', args) }),
  HELP: (args) => ({ verb: 'HELP', argument: args === '' ? null : args }),
  STARTTLS: withoutArguments('STARTTLS'),
  AUTH: (args) => parseAuth(args),
};

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses one command line (without its CRLF). Throws SmtpSyntaxError with the reply to send:
 * 500 5.5.2 for unknown commands and illegal characters, 501 5.5.4 for bad arguments,
 * 501 5.1.7 / 5.1.3 for bad addresses, 555 5.5.4 for unknown MAIL/RCPT parameters.
 */
export function parseCommand(line: Uint8Array | string, options: ParseOptions = {}): SmtpCommand {
  const text = decodeLine(line);
  // RFC 5321 4.1.1: receivers SHOULD tolerate trailing white space before the CRLF.
  const trimmed = trimTrailingBlanks(text);
  if (trimmed.includes('\t')) fail('badCharacters', Reply.syntax, 'Control characters not allowed');
  const match = /^([A-Za-z]+)(?: +|$)/.exec(trimmed);
  const verb = match?.[1]?.toUpperCase() ?? '';
  const parser = Object.hasOwn(VERBS, verb) ? VERBS[verb as SmtpVerb] : undefined;
  if (match === null || parser === undefined) return fail('unknownCommand', Reply.syntax, 'Command unrecognized');
  return parser(trimmed.slice(match[0].length), options);
}

/** Drops trailing SP and HTAB. A loop, not /[ \t]+$/: that regex is quadratic on long runs of
 * blanks followed by something else (fuzz/smtp-wire.fuzz.ts found 5 s for a 64 KiB line). */
function trimTrailingBlanks(text: string): string {
  let end = text.length;
  while (end > 0 && (text.charCodeAt(end - 1) === 0x20 || text.charCodeAt(end - 1) === 0x09)) end--;
  return end === text.length ? text : text.slice(0, end);
}

/** Bytes to text: no NUL or other controls (RFC 5321 4.1.2: "MUST NOT be used"), valid UTF-8 only. */
function decodeLine(line: Uint8Array | string): string {
  let text: string;
  if (typeof line === 'string') {
    text = line;
  } else {
    try {
      text = utf8Decoder.decode(line);
    } catch {
      return fail('badCharacters', Reply.syntax, 'Invalid UTF-8 in command');
    }
  }
  // HT is let through here so that trailing white space can be tolerated; it is refused later.
  if (hasControlCharacter(text)) fail('badCharacters', Reply.syntax, 'Control characters not allowed');
  return text;
}

/** US-ASCII controls 0-31 and 127, except HT. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

/** RFC 5321 4.1.1: servers SHOULD reject RSET, DATA and QUIT with parameters as invalid syntax (STARTTLS: RFC 3207 4). */
function withoutArguments(verb: 'DATA' | 'RSET' | 'QUIT' | 'STARTTLS'): ArgumentParser {
  return (args) => {
    if (args !== '') fail('syntax', Reply.syntaxArguments, `${verb} takes no parameters`);
    return { verb };
  };
}

// --- EHLO / HELO ----------------------------------------------------------------------------

/**
 * ehlo = "EHLO" SP ( Domain / address-literal ); helo = "HELO" SP Domain (RFC 5321 4.1.1.1).
 * Text after the first word is ignored: RFC 5321 4.1.1.1 asks servers to be prepared for it.
 * EHLO carries ASCII only (RFC 6531 3.7.1). HELO with an address literal is accepted too.
 */
function parseHeloHost(verb: string, args: string, options: ParseOptions): HeloHost {
  const word = args.split(' ')[0] ?? '';
  if (word === '') return fail('syntax', Reply.syntaxArguments, `${verb} requires a domain or address literal`);
  try {
    const cursor = new Cursor(word);
    if (cursor.peek() === '[') {
      const { literal, text } = parseAddressLiteral(cursor);
      if (cursor.done) return { kind: 'literal', literal, text };
    } else {
      const domain = parseDomain(cursor, { utf8: false });
      if (cursor.done) return { kind: 'domain', domain };
    }
  } catch (error) {
    if (!(error instanceof AddressSyntaxError)) throw error;
  }
  if (options.lenientHelo === true && /^[\x21-\x7e]+$/.test(word)) return { kind: 'invalid', text: word };
  return fail('syntax', Reply.syntaxArguments, `Invalid domain or address literal in ${verb}`);
}

// --- MAIL / RCPT ----------------------------------------------------------------------------

/** mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] (RFC 5321 4.1.1.2). */
function parseMail(args: string): SmtpCommand {
  const cursor = new Cursor(args);
  if (!cursor.tryLiteral('FROM:')) return fail('syntax', Reply.syntaxArguments, 'Syntax: MAIL FROM:<address>');
  skipSpaces(cursor); // Common quirk: "MAIL FROM: <a@b>".
  const from: ReversePath = cursor.tryLiteral('<>')
    ? { kind: 'null' }
    : { kind: 'path', ...parsePathArgument(cursor, Reply.badSenderSyntax) };
  const params = parseMailParameters(parameterWords(cursor, Reply.badSenderSyntax));
  // RFC 6531 3.4/3.5: a non-ASCII address needs the SMTPUTF8 parameter (550 X.6.7 for MAIL).
  if (from.kind === 'path' && from.mailbox.utf8 && !params.smtputf8) {
    fail('address', Reply.nonAsciiSender, 'Non-ASCII sender address requires SMTPUTF8');
  }
  return { verb: 'MAIL', from, params };
}

/**
 * rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters]
 * (RFC 5321 4.1.1.3). Whether a non-ASCII recipient is allowed depends on the MAIL command
 * (SMTPUTF8), so `to.mailbox.utf8` is left for the session to check.
 */
function parseRcpt(args: string): SmtpCommand {
  const cursor = new Cursor(args);
  if (!cursor.tryLiteral('TO:')) return fail('syntax', Reply.syntaxArguments, 'Syntax: RCPT TO:<address>');
  skipSpaces(cursor);
  let to: ForwardPath;
  // RFC 5321 4.1.1.3: "Postmaster" is case-insensitive here.
  if (cursor.tryLiteral('<postmaster>')) {
    to = { kind: 'postmaster' };
  } else if (cursor.rest().startsWith('<>')) {
    return fail('address', Reply.badRecipientSyntax, 'Null recipient not allowed');
  } else {
    to = { kind: 'path', ...parsePathArgument(cursor, Reply.badRecipientSyntax) };
  }
  const params = parseRcptParameters(parameterWords(cursor, Reply.badRecipientSyntax));
  return { verb: 'RCPT', to, params };
}

function parsePathArgument(cursor: Cursor, badSyntax: SmtpReply): Path {
  if (cursor.peek() !== '<') return fail('address', badSyntax, 'Address must be enclosed in angle brackets');
  try {
    return parsePath(cursor, { utf8: true });
  } catch (error) {
    if (error instanceof AddressSyntaxError) return fail('address', badSyntax, `Bad address syntax: ${error.message}`);
    throw error;
  }
}

/** The esmtp-params after the path: SP-separated words (runs of spaces tolerated). */
function parameterWords(cursor: Cursor, badSyntax: SmtpReply): string[] {
  if (cursor.done) return [];
  if (cursor.peek() !== ' ') return fail('address', badSyntax, 'Unexpected text after the address');
  const rest = cursor.rest().trim();
  return rest === '' ? [] : rest.split(/ +/);
}

function skipSpaces(cursor: Cursor): void {
  while (cursor.peek() === ' ') cursor.index++;
}

// --- esmtp-params ---------------------------------------------------------------------------

interface EsmtpParam {
  keyword: string;
  value: string | null;
}

/**
 * esmtp-param = esmtp-keyword ["=" esmtp-value]; esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-");
 * esmtp-value = 1*(%d33-60 / %d62-126) (=/ UTF8-non-ascii, RFC 6531 3.3). Keywords are case-insensitive;
 * a keyword given twice is a syntax error (RFC 3461 4.5).
 */
function parseEsmtpParams(words: string[]): Map<string, EsmtpParam> {
  const params = new Map<string, EsmtpParam>();
  for (const word of words) {
    const equals = word.indexOf('=');
    const keyword = (equals === -1 ? word : word.slice(0, equals)).toUpperCase();
    const value = equals === -1 ? null : word.slice(equals + 1);
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(keyword)) fail('parameter', Reply.syntaxArguments, 'Invalid parameter keyword');
    if (value !== null && !/^[\x21-\x3c\x3e-\x7e\u0080-\u{10ffff}]+$/u.test(value)) {
      fail('parameter', Reply.syntaxArguments, `Invalid value for ${keyword}`);
    }
    if (params.has(keyword)) fail('parameter', Reply.syntaxArguments, `Duplicate parameter ${keyword}`);
    params.set(keyword, { keyword, value });
  }
  return params;
}

function requireValue(param: EsmtpParam): string {
  if (param.value === null) return fail('parameter', Reply.syntaxArguments, `${param.keyword} requires a value`);
  return param.value;
}

function requireNoValue(param: EsmtpParam): void {
  if (param.value !== null) fail('parameter', Reply.syntaxArguments, `${param.keyword} takes no value`);
}

function decodeXtextValue(param: EsmtpParam): string {
  try {
    return decodeXtext(requireValue(param)).toString('utf8');
  } catch (error) {
    if (error instanceof XtextError) return fail('parameter', Reply.syntaxArguments, `Invalid xtext in ${param.keyword}`);
    throw error;
  }
}

function parseMailParameters(words: string[]): MailParameters {
  const result: MailParameters = {
    size: null,
    body: null,
    smtputf8: false,
    auth: null,
    ret: null,
    envid: null,
    requireTls: false,
  };
  for (const param of parseEsmtpParams(words).values()) {
    switch (param.keyword) {
      case 'SIZE': {
        // RFC 1870 5: size-value ::= 1*20DIGIT
        const value = requireValue(param);
        if (!/^\d{1,20}$/.test(value)) fail('parameter', Reply.syntaxArguments, 'Invalid SIZE value');
        const size = Number(value);
        result.size = Number.isSafeInteger(size) ? size : Number.POSITIVE_INFINITY;
        break;
      }
      case 'BODY': {
        // RFC 6152 3 (7BIT / 8BITMIME), RFC 3030 3 (BINARYMIME).
        const value = requireValue(param).toUpperCase();
        if (value !== '7BIT' && value !== '8BITMIME' && value !== 'BINARYMIME') {
          fail('parameter', Reply.syntaxArguments, 'BODY must be 7BIT, 8BITMIME or BINARYMIME');
        }
        result.body = value as BodyType;
        break;
      }
      case 'SMTPUTF8':
        requireNoValue(param); // RFC 6531 3.4: "it MUST not accept a value".
        result.smtputf8 = true;
        break;
      case 'REQUIRETLS':
        requireNoValue(param); // RFC 8689 2: requiretls-param = "REQUIRETLS".
        result.requireTls = true;
        break;
      case 'AUTH':
        result.auth = parseAuthParameter(param);
        break;
      case 'RET': {
        // RFC 3461 4.3: FULL / HDRS in any case.
        const value = requireValue(param).toUpperCase();
        if (value !== 'FULL' && value !== 'HDRS') fail('parameter', Reply.syntaxArguments, 'RET must be FULL or HDRS');
        result.ret = value as 'FULL' | 'HDRS';
        break;
      }
      case 'ENVID': {
        // RFC 3461 4.4: xtext, up to 100 characters, printable US-ASCII once decoded.
        const envid = decodeXtextValue(param);
        if (envid.length > 100 || !/^[\x20-\x7e]+$/.test(envid)) fail('parameter', Reply.syntaxArguments, 'Invalid ENVID');
        result.envid = envid;
        break;
      }
      default:
        // RFC 5321 4.1.1.11: unrecognized parameter.
        fail('parameter', Reply.paramNotRecognized, `Parameter ${param.keyword} not recognized`);
    }
  }
  return result;
}

/** auth-param = "AUTH=" xtext; decoded, a Mailbox or "<>" (RFC 4954 5). */
function parseAuthParameter(param: EsmtpParam): MailParameters['auth'] {
  const decoded = decodeXtextValue(param);
  if (decoded === '<>') return { kind: 'null' };
  try {
    return { kind: 'mailbox', mailbox: parseMailboxString(decoded, { utf8: true }) };
  } catch (error) {
    if (error instanceof AddressSyntaxError) return fail('parameter', Reply.syntaxArguments, 'AUTH= must be a mailbox or <>');
    throw error;
  }
}

function parseRcptParameters(words: string[]): RcptParameters {
  const result: RcptParameters = { notify: null, orcpt: null };
  for (const param of parseEsmtpParams(words).values()) {
    switch (param.keyword) {
      case 'NOTIFY':
        result.notify = parseNotify(requireValue(param));
        break;
      case 'ORCPT':
        result.orcpt = parseOrcpt(param);
        break;
      default:
        fail('parameter', Reply.paramNotRecognized, `Parameter ${param.keyword} not recognized`);
    }
  }
  return result;
}

/** notify-esmtp-value = "NEVER" / 1#notify-list-element (RFC 3461 4.1); NEVER stands alone. */
function parseNotify(value: string): RcptParameters['notify'] {
  const items = value.toUpperCase().split(',');
  if (items.length === 1 && items[0] === 'NEVER') return 'NEVER';
  const conditions: NotifyCondition[] = [];
  for (const item of items) {
    if (item !== 'SUCCESS' && item !== 'FAILURE' && item !== 'DELAY') {
      return fail('parameter', Reply.syntaxArguments, 'NOTIFY must be NEVER or SUCCESS,FAILURE,DELAY');
    }
    if (conditions.includes(item)) return fail('parameter', Reply.syntaxArguments, 'Duplicate NOTIFY condition');
    conditions.push(item);
  }
  return conditions;
}

/** orcpt-parameter = "ORCPT=" addr-type ";" xtext (RFC 3461 4.2), up to 500 characters. */
function parseOrcpt(param: EsmtpParam): RcptParameters['orcpt'] {
  const value = requireValue(param);
  const semicolon = value.indexOf(';');
  const addrType = semicolon === -1 ? '' : value.slice(0, semicolon);
  // addr-type = atom (RFC 5322 3.2.3).
  if (value.length > 500 || !/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/.test(addrType)) {
    return fail('parameter', Reply.syntaxArguments, 'Invalid ORCPT');
  }
  const address = decodeXtextValue({ keyword: 'ORCPT', value: value.slice(semicolon + 1) });
  // The decoded address is kept for DSNs (RFC 3461 5.3 Original-Recipient field): no controls,
  // so an encoded CR/LF/NUL can never reach a header.
  if (address === '' || !/^[\x20-\x7e\u0080-\u{10ffff}]+$/u.test(address)) {
    return fail('parameter', Reply.syntaxArguments, 'Invalid ORCPT address');
  }
  return { addrType, address };
}

// --- the other commands ---------------------------------------------------------------------

/** bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ]; chunk-size ::= 1*DIGIT; end-marker ::= "LAST" (RFC 3030 2). */
function parseBdat(args: string): SmtpCommand {
  const match = /^(\d+)(?: +(LAST))?$/i.exec(args);
  if (match === null) return fail('syntax', Reply.syntaxArguments, 'Syntax: BDAT size [LAST]');
  const size = Number(match[1]);
  if (!Number.isSafeInteger(size)) return fail('syntax', Reply.syntaxArguments, 'BDAT chunk size too large');
  return { verb: 'BDAT', size, last: match[2] !== undefined };
}

/**
 * vrfy = "VRFY" SP String; expn = "EXPN" SP String (RFC 5321 4.1.1.6-7), with an optional
 * trailing SMTPUTF8 parameter (RFC 6531 3.7.4.2). Clients send all sorts of things here
 * (user names, <addresses>, full names), so the argument is kept as text, unquoted if quoted.
 */
function parseVrfyArgument(verb: string, args: string): { argument: string; smtputf8: boolean } {
  let text = args;
  let smtputf8 = false;
  const lastSpace = text.lastIndexOf(' ');
  if (lastSpace !== -1 && text.slice(lastSpace + 1).toUpperCase() === 'SMTPUTF8') {
    smtputf8 = true;
    text = text.slice(0, lastSpace).trimEnd();
  }
  if (text === '') return fail('syntax', Reply.syntaxArguments, `${verb} requires an argument`);
  if (text.startsWith('"')) {
    try {
      const cursor = new Cursor(text);
      const value = parseQuotedString(cursor, { utf8: true });
      if (cursor.done) return { argument: value, smtputf8 };
    } catch (error) {
      if (!(error instanceof AddressSyntaxError)) throw error;
    }
    return fail('syntax', Reply.syntaxArguments, `Invalid quoted string in ${verb}`);
  }
  return { argument: text, smtputf8 };
}

/**
 * auth-command = "AUTH" SP sasl-mech [SP initial-response] (RFC 4954 4);
 * sasl-mech = 1*20 (UPPER-ALPHA / DIGIT / "-" / "_") (RFC 4422 3.1), matched case-insensitively;
 * initial-response = base64 / "=".
 */
function parseAuth(args: string): SmtpCommand {
  const words = args === '' ? [] : args.split(/ +/);
  const [mechanism, initialResponse, ...extra] = words;
  if (mechanism === undefined || extra.length > 0 || !/^[A-Za-z0-9_-]{1,20}$/.test(mechanism)) {
    return fail('syntax', Reply.syntaxArguments, 'Syntax: AUTH mechanism [initial-response]');
  }
  if (initialResponse !== undefined && !/^(?:[A-Za-z0-9+/]*={0,2}|=)$/.test(initialResponse)) {
    // RFC 4954 4: a response that cannot be base64-decoded gets 501 5.5.2.
    return fail('syntax', Reply.authBadBase64, 'Invalid base64 in initial response');
  }
  return { verb: 'AUTH', mechanism: mechanism.toUpperCase(), initialResponse: initialResponse ?? null };
}
