/**
 * parseCommand: tokens from the receiver → a typed ImapCommand (RFC 3501 6 and 9 plus the
 * extensions listed in commands.ts). One parser per command in one table; the UID prefix is
 * resolved here, state rules are the session's.
 * @module
 */
import type {
  AppendCommand,
  AppendData,
  AppendMessage,
  AuthenticateCommand,
  CopyCommand,
  CreateCommand,
  IdCommand,
  ImapCommand,
  ImapDateTime,
  ListCommand,
  ListReturnOptions,
  ListSelectionOptions,
  ParseOptions,
  QresyncParameters,
  SelectCommand,
  SetQuotaCommand,
  SimpleCommand,
  StatusItem,
  StoreCommand,
} from './commands.js';
import { Decoder, isAtom } from './decoder.js';
import { ImapParseError } from './errors.js';
import { parseFetch } from './parse-fetch.js';
import { parseSearch } from './parse-search.js';
import type { SequenceSet } from './sequence-set.js';
import type { ImapToken } from './tokens.js';

type CommandParser = (tag: string, d: Decoder) => ImapCommand;
type UidCommandParser = (tag: string, d: Decoder, uid: boolean) => ImapCommand;

const STATUS_ITEMS: ReadonlySet<string> = new Set<StatusItem>([
  'MESSAGES',
  'RECENT',
  'UIDNEXT',
  'UIDVALIDITY',
  'UNSEEN',
  'HIGHESTMODSEQ',
  'SIZE',
  'DELETED',
  'DELETED-STORAGE',
  'APPENDLIMIT',
]);

/** RFC 6154 2 use-attr values, keyed by their upper-case form. */
const SPECIAL_USE = new Map(['\\All', '\\Archive', '\\Drafts', '\\Flagged', '\\Junk', '\\Sent', '\\Trash'].map((a) => [a.toUpperCase(), a]));

/** Commands that may follow "UID" (RFC 3501 6.4.8, RFC 4315 2.1, RFC 6851 3.3). */
const UID_COMMANDS: ReadonlyMap<string, UidCommandParser> = new Map<string, UidCommandParser>([
  ['FETCH', parseFetch],
  ['SEARCH', parseSearch],
  ['STORE', parseStore],
  ['COPY', (tag, d, uid) => parseCopy(tag, d, uid, 'COPY')],
  ['MOVE', (tag, d, uid) => parseCopy(tag, d, uid, 'MOVE')],
  ['EXPUNGE', parseUidExpunge],
]);

const COMMANDS: ReadonlyMap<string, CommandParser> = new Map<string, CommandParser>([
  ['CAPABILITY', simple('CAPABILITY')],
  ['NOOP', simple('NOOP')],
  ['LOGOUT', simple('LOGOUT')],
  ['STARTTLS', simple('STARTTLS')],
  ['CHECK', simple('CHECK')],
  ['CLOSE', simple('CLOSE')],
  ['UNSELECT', simple('UNSELECT')],
  ['IDLE', simple('IDLE')],
  ['NAMESPACE', simple('NAMESPACE')],
  ['LOGIN', parseLogin],
  ['AUTHENTICATE', parseAuthenticate],
  ['SELECT', (tag, d) => parseSelect(tag, d, 'SELECT')],
  ['EXAMINE', (tag, d) => parseSelect(tag, d, 'EXAMINE')],
  ['CREATE', parseCreate],
  ['DELETE', mailboxOnly('DELETE')],
  ['SUBSCRIBE', mailboxOnly('SUBSCRIBE')],
  ['UNSUBSCRIBE', mailboxOnly('UNSUBSCRIBE')],
  ['GETQUOTAROOT', mailboxOnly('GETQUOTAROOT')],
  ['RENAME', parseRename],
  ['LIST', parseList],
  ['LSUB', parseLsub],
  ['STATUS', parseStatus],
  ['APPEND', parseAppend],
  ['ID', parseId],
  ['ENABLE', parseEnable],
  ['GETQUOTA', parseGetQuota],
  ['SETQUOTA', parseSetQuota],
  ['EXPUNGE', (tag, d) => (d.expectEnd(), { tag, name: 'EXPUNGE', uid: false, sequenceSet: null })],
  ...[...UID_COMMANDS].filter(([name]) => name !== 'EXPUNGE').map(([name, parse]): [string, CommandParser] => [name, (tag, d) => parse(tag, d, false)]),
  ['UID', parseUid],
]);

/**
 * Parses one command. `name` is the command name from the receiver (any case); `args` its
 * tokens. Throws ImapParseError (kind "unknownCommand" for names not served here).
 */
export function parseCommand(tag: string, name: string, args: readonly ImapToken[], options: ParseOptions = {}): ImapCommand {
  const parser = COMMANDS.get(name.toUpperCase());
  if (parser === undefined) throw new ImapParseError(`Unknown command ${name.slice(0, 40)}`, 'unknownCommand');
  return parser(tag, new Decoder(args, options));
}

function parseUid(tag: string, d: Decoder): ImapCommand {
  const name = d.atom('command after UID').toUpperCase();
  const parser = UID_COMMANDS.get(name);
  if (parser === undefined) throw new ImapParseError(`Unknown command UID ${name.slice(0, 40)}`, 'unknownCommand');
  return parser(tag, d, true);
}

function simple(name: SimpleCommand['name']): CommandParser {
  return (tag, d) => {
    d.expectEnd();
    return { tag, name };
  };
}

function mailboxOnly(name: 'DELETE' | 'SUBSCRIBE' | 'UNSUBSCRIBE' | 'GETQUOTAROOT'): CommandParser {
  return (tag, d) => {
    const mailbox = d.mailbox();
    d.expectEnd();
    return { tag, name, mailbox };
  };
}

/** RFC 3501 6.2.3 `login = "LOGIN" SP userid SP password` */
function parseLogin(tag: string, d: Decoder): ImapCommand {
  const userid = d.astringText('user name');
  const password = d.astringText('password');
  d.expectEnd();
  return { tag, name: 'LOGIN', userid, password };
}

/** RFC 4959 `"AUTHENTICATE" SP auth-type [SP (base64 / "=")]` */
function parseAuthenticate(tag: string, d: Decoder): AuthenticateCommand {
  const mechanism = d.atom('authentication mechanism').toUpperCase();
  const initialResponse = d.atEnd ? null : decodeSaslResponse(d.atom('initial response'));
  d.expectEnd();
  return { tag, name: 'AUTHENTICATE', mechanism, initialResponse };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** RFC 4959 initial response: strict base64, or "=" for an empty one. */
export function decodeSaslResponse(text: string): Buffer {
  if (text === '=') return Buffer.alloc(0);
  if (!BASE64.test(text)) throw new ImapParseError('Invalid base64');
  return Buffer.from(text, 'base64');
}

/** An AUTHENTICATE continuation line (RFC 3501 6.2.2): "*" cancels, anything else is base64
 * (an empty line is an empty response). */
export function parseAuthResponseLine(line: Buffer): { cancelled: true } | { cancelled: false; data: Buffer } {
  const text = line.toString('latin1');
  if (text === '*') return { cancelled: true };
  if (!BASE64.test(text)) throw new ImapParseError('Invalid base64');
  return { cancelled: false, data: Buffer.from(text, 'base64') };
}

/** RFC 4466 `select = "SELECT" SP mailbox [select-params]`, RFC 7162 CONDSTORE / QRESYNC. */
function parseSelect(tag: string, d: Decoder, name: 'SELECT' | 'EXAMINE'): SelectCommand {
  const mailbox = d.mailbox();
  let condstore = false;
  let qresync: QresyncParameters | null = null;
  const params = d.tryList();
  if (params !== null) {
    if (params.atEnd) throw new ImapParseError('Empty select parameter list');
    while (!params.atEnd) {
      const param = params.atom('select parameter').toUpperCase();
      if (param === 'CONDSTORE' && !condstore) condstore = true;
      else if (param === 'QRESYNC' && qresync === null) qresync = qresyncParameters(params.list('QRESYNC parameters'));
      else throw new ImapParseError(`Unknown or repeated select parameter ${param}`);
    }
  }
  d.expectEnd();
  return { tag, name, mailbox, condstore, qresync };
}

/** RFC 7162 3.2.5: `"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"` */
function qresyncParameters(d: Decoder): QresyncParameters {
  const uidValidity = d.nzNumber('UIDVALIDITY');
  const modseq = d.modSequenceValue();
  // known-uids, known-sequence-set and known-uid-set: "*" is not allowed (nor "$").
  const noStar = { allowStar: false, allowSaved: false };
  const knownUids = d.peek()?.type === 'atom' ? d.sequenceSet(noStar, 'known UIDs') : null;
  let sequenceMatch: QresyncParameters['sequenceMatch'] = null;
  const match = d.tryList();
  if (match !== null) {
    const sequences = match.sequenceSet(noStar, 'known sequence set');
    const uids = match.sequenceSet(noStar, 'known UID set');
    match.expectEnd();
    sequenceMatch = { sequences, uids };
  }
  d.expectEnd();
  return { uidValidity, modseq, knownUids, sequenceMatch };
}

/** RFC 4466 `create = "CREATE" SP mailbox [create-params]`, RFC 6154 `USE (use-attr ...)`. */
function parseCreate(tag: string, d: Decoder): CreateCommand {
  const mailbox = d.mailbox();
  const specialUse: string[] = [];
  const params = d.tryList();
  if (params !== null) {
    let sawUse = false;
    if (params.atEnd) throw new ImapParseError('Empty create parameter list');
    while (!params.atEnd) {
      const param = params.atom('create parameter').toUpperCase();
      if (param !== 'USE' || sawUse) throw new ImapParseError(`Unknown or repeated create parameter ${param}`);
      sawUse = true;
      const attrs = params.list('special-use attributes');
      while (!attrs.atEnd) specialUse.push(useAttr(attrs.atom('special-use attribute')));
    }
  }
  d.expectEnd();
  return { tag, name: 'CREATE', mailbox, specialUse };
}

/** RFC 6154 6 `use-attr` = "\All" / ... / use-attr-ext ("\" atom). */
function useAttr(text: string): string {
  if (!text.startsWith('\\') || !isAtom(text.slice(1))) throw new ImapParseError(`Invalid special-use attribute ${text.slice(0, 40)}`);
  return SPECIAL_USE.get(text.toUpperCase()) ?? text;
}

function parseRename(tag: string, d: Decoder): ImapCommand {
  const from = d.mailbox('existing mailbox name');
  const to = d.mailbox('new mailbox name');
  d.expectEnd();
  return { tag, name: 'RENAME', from, to };
}

/** RFC 5258 6: `"LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]` */
function parseList(tag: string, d: Decoder): ListCommand {
  let extended = false;
  let selection: ListSelectionOptions = { subscribed: false, remote: false, recursiveMatch: false, specialUse: false };
  const selectOptions = d.tryList();
  if (selectOptions !== null) {
    extended = true;
    selection = listSelectionOptions(selectOptions);
  }
  const reference = d.mailbox('reference name');
  const patterns: string[] = [];
  const patternList = d.tryList();
  if (patternList !== null) {
    extended = true;
    do patterns.push(patternList.listMailbox());
    while (!patternList.atEnd);
  } else {
    patterns.push(d.listMailbox());
  }
  let returns: ListReturnOptions = { subscribed: false, children: false, specialUse: false, status: null };
  if (d.tryAtom('RETURN')) {
    extended = true;
    returns = listReturnOptions(d.list('LIST return options'));
  }
  d.expectEnd();
  return { tag, name: 'LIST', reference, patterns, selection, returns, extended };
}

function listSelectionOptions(d: Decoder): ListSelectionOptions {
  const options = { subscribed: false, remote: false, recursiveMatch: false, specialUse: false };
  while (!d.atEnd) {
    const option = d.atom('LIST selection option').toUpperCase();
    // RFC 5258 3: "A server MUST respond to options it does not recognize with a BAD response."
    if (option === 'SUBSCRIBED') options.subscribed = true;
    else if (option === 'REMOTE') options.remote = true;
    else if (option === 'RECURSIVEMATCH') options.recursiveMatch = true;
    else if (option === 'SPECIAL-USE') options.specialUse = true;
    else throw new ImapParseError(`Unknown LIST selection option ${option}`);
  }
  // RFC 5258 3.1: RECURSIVEMATCH needs a base option (SUBSCRIBED is the only one we know).
  if (options.recursiveMatch && !options.subscribed) throw new ImapParseError('RECURSIVEMATCH requires SUBSCRIBED');
  return options;
}

function listReturnOptions(d: Decoder): ListReturnOptions {
  const options: { subscribed: boolean; children: boolean; specialUse: boolean; status: StatusItem[] | null } = {
    subscribed: false,
    children: false,
    specialUse: false,
    status: null,
  };
  while (!d.atEnd) {
    const option = d.atom('LIST return option').toUpperCase();
    if (option === 'SUBSCRIBED') options.subscribed = true;
    else if (option === 'CHILDREN') options.children = true;
    else if (option === 'SPECIAL-USE') options.specialUse = true;
    else if (option === 'STATUS' && options.status === null) options.status = statusItems(d.list('STATUS items'));
    else throw new ImapParseError(`Unknown or repeated LIST return option ${option}`);
  }
  return options;
}

function parseLsub(tag: string, d: Decoder): ImapCommand {
  const reference = d.mailbox('reference name');
  const pattern = d.listMailbox();
  d.expectEnd();
  return { tag, name: 'LSUB', reference, pattern };
}

/** RFC 3501 6.3.10 `"STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"` */
function parseStatus(tag: string, d: Decoder): ImapCommand {
  const mailbox = d.mailbox();
  const items = statusItems(d.list('status items'));
  d.expectEnd();
  return { tag, name: 'STATUS', mailbox, items };
}

function statusItems(d: Decoder): StatusItem[] {
  const items: StatusItem[] = [];
  do {
    const item = d.atom('status item').toUpperCase();
    if (!STATUS_ITEMS.has(item)) throw new ImapParseError(`Unknown status item ${item}`);
    if (!items.includes(item as StatusItem)) items.push(item as StatusItem);
  } while (!d.atEnd);
  return items;
}

/** RFC 3502 `append = "APPEND" SP mailbox 1*append-message`,
 * `append-message = [SP flag-list] [SP date-time] SP (literal / literal8)` */
function parseAppend(tag: string, d: Decoder): AppendCommand {
  const mailbox = d.mailbox();
  const { messages, pending } = appendMessages(d);
  if (pending !== null || messages.length === 0) throw new ImapParseError('Missing message literal');
  return { tag, name: 'APPEND', mailbox, messages };
}

/** The flags and date-time for the APPEND literal about to stream, from a literalStart or
 * needContinuation event's `args`, so the session can check them before the octets arrive. */
export interface PendingAppend {
  readonly mailbox: string;
  /** Messages already complete before this one. */
  readonly index: number;
  readonly flags: readonly string[] | null;
  readonly internalDate: ImapDateTime | null;
}

export function parsePendingAppend(args: readonly ImapToken[], options: ParseOptions = {}): PendingAppend {
  const d = new Decoder(args, options);
  const mailbox = d.mailbox();
  const { messages, pending } = appendMessages(d);
  return { mailbox, index: messages.length, flags: pending?.flags ?? null, internalDate: pending?.internalDate ?? null };
}

function appendMessages(d: Decoder): {
  messages: AppendMessage[];
  pending: { flags: string[] | null; internalDate: ImapDateTime | null } | null;
} {
  const messages: AppendMessage[] = [];
  while (!d.atEnd) {
    const flags = d.peek()?.type === 'list' ? d.flagList() : null;
    const internalDate = d.tryDateTime();
    if (d.atEnd) return { messages, pending: { flags, internalDate } };
    messages.push({ flags, internalDate, data: appendData(d.token('message literal')) });
  }
  return { messages, pending: null };
}

function appendData(token: ImapToken): AppendData {
  if (token.type === 'streamed') return { type: 'streamed', index: token.index, size: token.size, binary: token.binary };
  if (token.type === 'literal') return { type: 'buffer', value: token.value, binary: token.binary };
  throw new ImapParseError('Expected message literal');
}

/** RFC 2971: `"ID" SP ("(" #(string SP nstring) ")" / nil)` with its 30-pair, 30/1024-octet limits. */
function parseId(tag: string, d: Decoder): IdCommand {
  if (d.tryAtom('NIL')) {
    d.expectEnd();
    return { tag, name: 'ID', parameters: null };
  }
  const list = d.list('ID parameter list');
  const parameters: Array<readonly [string, string | null]> = [];
  while (!list.atEnd) {
    const field = list.string('ID field name');
    const value = list.nstring('ID field value');
    if (field.length > 30 || (value !== null && value.length > 1024)) throw new ImapParseError('ID field too long');
    parameters.push([field.toString('utf8'), value === null ? null : value.toString('utf8')]);
  }
  if (parameters.length > 30) throw new ImapParseError('Too many ID fields');
  d.expectEnd();
  return { tag, name: 'ID', parameters };
}

/** RFC 5161: `"ENABLE" 1*(SP capability)` */
function parseEnable(tag: string, d: Decoder): ImapCommand {
  const capabilities: string[] = [];
  do capabilities.push(d.atom('capability').toUpperCase());
  while (!d.atEnd);
  return { tag, name: 'ENABLE', capabilities };
}

/** RFC 9208 `getquota = "GETQUOTA" SP quota-root-name` */
function parseGetQuota(tag: string, d: Decoder): ImapCommand {
  const root = d.astringText('quota root');
  d.expectEnd();
  return { tag, name: 'GETQUOTA', root };
}

/** RFC 9208 `setquota = "SETQUOTA" SP quota-root-name SP setquota-list` */
function parseSetQuota(tag: string, d: Decoder): SetQuotaCommand {
  const root = d.astringText('quota root');
  const list = d.list('quota limits');
  const limits: Array<{ resource: string; limit: number }> = [];
  while (!list.atEnd) {
    const resource = list.atom('resource name').toUpperCase();
    limits.push({ resource, limit: list.number64('resource limit') });
  }
  d.expectEnd();
  return { tag, name: 'SETQUOTA', root, limits };
}

/** RFC 3501 6.4.7 / RFC 6851 3.1: `sequence-set SP mailbox` */
function parseCopy(tag: string, d: Decoder, uid: boolean, name: 'COPY' | 'MOVE'): CopyCommand {
  const sequenceSet = d.sequenceSet();
  const mailbox = d.mailbox();
  d.expectEnd();
  return { tag, name, uid, sequenceSet, mailbox };
}

/** RFC 4315 2.1 `uid-expunge = "UID" SP "EXPUNGE" SP sequence-set` */
function parseUidExpunge(tag: string, d: Decoder, uid: boolean): ImapCommand {
  if (!uid) {
    d.expectEnd();
    return { tag, name: 'EXPUNGE', uid: false, sequenceSet: null };
  }
  const sequenceSet: SequenceSet = d.sequenceSet();
  d.expectEnd();
  return { tag, name: 'EXPUNGE', uid: true, sequenceSet };
}

/** RFC 4466 / RFC 7162: `"STORE" SP sequence-set [store-modifiers] SP store-att-flags`,
 * `store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))` */
function parseStore(tag: string, d: Decoder, uid: boolean): StoreCommand {
  const sequenceSet = d.sequenceSet();
  let unchangedSince: number | null = null;
  const modifiers = d.tryList();
  if (modifiers !== null) {
    if (modifiers.atEnd) throw new ImapParseError('Empty store modifier list');
    while (!modifiers.atEnd) {
      const modifier = modifiers.atom('store modifier').toUpperCase();
      if (modifier !== 'UNCHANGEDSINCE' || unchangedSince !== null) throw new ImapParseError(`Unknown or repeated store modifier ${modifier}`);
      unchangedSince = modifiers.modSequenceValzer();
    }
  }
  const item = d.atom('store item').toUpperCase();
  const match = /^([+-]?)FLAGS(\.SILENT)?$/.exec(item);
  if (match === null) throw new ImapParseError(`Invalid store item ${item.slice(0, 40)}`);
  const action = match[1] === '+' ? 'add' : match[1] === '-' ? 'remove' : 'set';
  let flags: string[];
  if (d.peek()?.type === 'list') {
    flags = d.flagList();
  } else {
    flags = [];
    do flags.push(d.flag());
    while (!d.atEnd);
  }
  d.expectEnd();
  return { tag, name: 'STORE', uid, sequenceSet, unchangedSince, action, silent: match[2] !== undefined, flags };
}
