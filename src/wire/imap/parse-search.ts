/**
 * SEARCH arguments: RFC 3501 6.4.4 and 9 (`search`, `search-key`), RFC 4466 search-program,
 * RFC 4731 / RFC 5182 RETURN options, RFC 7162 3.1.5 MODSEQ.
 * @module
 */
import type { SearchCommand, SearchKey, SearchReturnOption } from './commands.js';
import type { Decoder } from './decoder.js';
import { parseFlag } from './decoder.js';
import { ImapParseError } from './errors.js';

/** OR, NOT and parentheses nest; deeper than this is refused rather than recursed into. */
export const MAX_SEARCH_DEPTH = 50;

const RETURN_OPTIONS: ReadonlySet<string> = new Set<SearchReturnOption>(['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE']);

const FLAG_KEYS: ReadonlySet<string> = new Set([
  'ALL',
  'ANSWERED',
  'DELETED',
  'DRAFT',
  'FLAGGED',
  'NEW',
  'OLD',
  'RECENT',
  'SEEN',
  'UNANSWERED',
  'UNDELETED',
  'UNDRAFT',
  'UNFLAGGED',
  'UNSEEN',
]);
const STRING_KEYS: ReadonlySet<string> = new Set(['BCC', 'BODY', 'CC', 'FROM', 'SUBJECT', 'TEXT', 'TO']);
const DATE_KEYS: ReadonlySet<string> = new Set(['BEFORE', 'ON', 'SINCE', 'SENTBEFORE', 'SENTON', 'SENTSINCE']);

/** `SEARCH [search-return-opts] SP ["CHARSET" SP charset SP] search-key *(SP search-key)` */
export function parseSearch(tag: string, d: Decoder, uid: boolean): SearchCommand {
  const returnOptions = d.tryAtom('RETURN') ? searchReturnOptions(d) : null;
  let charset: string | null = null;
  if (d.tryAtom('CHARSET')) {
    // RFC 6855 3: after ENABLE UTF8=ACCEPT the client MUST NOT send CHARSET.
    if (d.options.utf8Accept === true) throw new ImapParseError('CHARSET is not allowed after ENABLE UTF8=ACCEPT');
    const token = d.token('charset');
    // RFC 4466 charset = atom / quoted
    if (token.type === 'atom') charset = token.value.toUpperCase();
    else if (token.type === 'quoted') charset = token.value.toString('latin1').toUpperCase();
    else throw new ImapParseError('Expected charset');
  }
  const criteria: SearchKey[] = [];
  do criteria.push(searchKey(d, 1));
  while (!d.atEnd);
  return { tag, name: 'SEARCH', uid, charset, returnOptions, criteria };
}

function searchReturnOptions(d: Decoder): SearchReturnOption[] {
  const list = d.list('RETURN options');
  const options: SearchReturnOption[] = [];
  while (!list.atEnd) {
    const name = list.atom('search return option').toUpperCase();
    if (!RETURN_OPTIONS.has(name)) throw new ImapParseError(`Unknown search return option ${name}`);
    const option = name as SearchReturnOption;
    if (!options.includes(option)) options.push(option);
  }
  return options;
}

/** RFC 3501 9 `search-key`, with depth counting for OR, NOT and parentheses. */
export function searchKey(d: Decoder, depth: number): SearchKey {
  if (depth > MAX_SEARCH_DEPTH) throw new ImapParseError('Search criteria nested too deeply', 'tooDeep');
  const group = d.tryList();
  if (group !== null) {
    const keys: SearchKey[] = [];
    do keys.push(searchKey(group, depth + 1));
    while (!group.atEnd);
    return { type: 'AND', keys };
  }
  const next = d.peek();
  if (next?.type === 'atom' && /^[0-9*$]/.test(next.value)) return { type: 'SEQUENCE', set: d.sequenceSet() };
  const word = d.atom('search key');
  const name = word.toUpperCase();
  if (FLAG_KEYS.has(name)) return { type: name as 'ALL' };
  if (STRING_KEYS.has(name)) return { type: name as 'BODY', value: d.astring() };
  if (DATE_KEYS.has(name)) return { type: name as 'ON', date: d.date() };
  switch (name) {
    case 'KEYWORD':
    case 'UNKEYWORD':
      return { type: name, keyword: d.flagKeyword() };
    case 'HEADER': {
      const field = d.astring('header field name');
      if (field.length === 0 || field.some((b) => b < 33 || b > 126 || b === 58)) throw new ImapParseError('Invalid header field name');
      return { type: 'HEADER', field: field.toString('ascii'), value: d.astring() };
    }
    case 'LARGER':
    case 'SMALLER':
      return { type: name, size: d.number64('size') };
    case 'UID':
      return { type: 'UID', set: d.sequenceSet() };
    case 'NOT':
      return { type: 'NOT', key: searchKey(d, depth + 1) };
    case 'OR': {
      const left = searchKey(d, depth + 1);
      return { type: 'OR', left, right: searchKey(d, depth + 1) };
    }
    case 'MODSEQ':
      return modseqKey(d);
  }
  throw new ImapParseError(`Unknown search key ${word.slice(0, 40)}`);
}

/** RFC 7162 3.1.5: `MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer` */
function modseqKey(d: Decoder): SearchKey {
  let entry: { flag: string; entryType: 'priv' | 'shared' | 'all' } | null = null;
  if (d.peek()?.type === 'quoted') {
    const name = d.string('entry name').toString('latin1');
    if (!name.toLowerCase().startsWith('/flags/')) throw new ImapParseError(`Invalid MODSEQ entry name ${name.slice(0, 40)}`);
    const flag = parseFlag(name.slice('/flags/'.length));
    const type = d.atom('entry type').toLowerCase();
    if (type !== 'priv' && type !== 'shared' && type !== 'all') throw new ImapParseError(`Invalid MODSEQ entry type ${type}`);
    entry = { flag, entryType: type };
  }
  return { type: 'MODSEQ', modseq: d.modSequenceValzer(), entry };
}
