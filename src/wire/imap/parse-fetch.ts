/**
 * FETCH arguments: RFC 3501 6.4.5 and 9 (`fetch`, `fetch-att`, `section`), RFC 3516 BINARY,
 * RFC 4466 fetch-modifiers, RFC 7162 CHANGEDSINCE / VANISHED / MODSEQ.
 * @module
 */
import type { BodySection, FetchCommand, FetchItem, FetchPartial, SectionSpecifier, SimpleFetchAttribute } from './commands.js';
import type { Decoder } from './decoder.js';
import { ImapParseError } from './errors.js';
import { MAX_NZ_NUMBER } from './sequence-set.js';
import type { ImapToken } from './tokens.js';

const SIMPLE_ATTRIBUTES: ReadonlySet<string> = new Set<SimpleFetchAttribute>([
  'ENVELOPE',
  'FLAGS',
  'INTERNALDATE',
  'RFC822',
  'RFC822.HEADER',
  'RFC822.SIZE',
  'RFC822.TEXT',
  'BODY',
  'BODYSTRUCTURE',
  'UID',
  'MODSEQ',
]);

/** RFC 3501 6.4.5 macros. */
const MACROS: Readonly<Record<'ALL' | 'FAST' | 'FULL', readonly SimpleFetchAttribute[]>> = {
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

const SPECIFIERS: ReadonlySet<string> = new Set<SectionSpecifier>(['HEADER', 'HEADER.FIELDS', 'HEADER.FIELDS.NOT', 'TEXT', 'MIME']);

/** `FETCH sequence-set (macro / fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]` */
export function parseFetch(tag: string, d: Decoder, uid: boolean): FetchCommand {
  const sequenceSet = d.sequenceSet();
  let macro: FetchCommand['macro'] = null;
  let items: FetchItem[];
  const word = d.peekAtom();
  if (word === 'ALL' || word === 'FAST' || word === 'FULL') {
    d.atom();
    macro = word;
    items = MACROS[word].map((type) => ({ type }));
  } else {
    const list = d.tryList();
    if (list === null) {
      items = [fetchAtt(d.token('fetch attribute'))];
    } else {
      items = [];
      while (!list.atEnd) items.push(fetchAtt(list.token('fetch attribute')));
      if (items.length === 0) throw new ImapParseError('Empty fetch attribute list');
    }
  }
  const { changedSince, vanished } = fetchModifiers(d, uid);
  d.expectEnd();
  return { tag, name: 'FETCH', uid, sequenceSet, items, macro, changedSince, vanished };
}

/** RFC 4466 fetch-modifiers with RFC 7162 3.1.4.1 CHANGEDSINCE and 3.2.6 VANISHED. */
function fetchModifiers(d: Decoder, uid: boolean): { changedSince: number | null; vanished: boolean } {
  let changedSince: number | null = null;
  let vanished = false;
  const list = d.tryList();
  if (list === null) return { changedSince, vanished };
  if (list.atEnd) throw new ImapParseError('Empty fetch modifier list');
  while (!list.atEnd) {
    const name = list.atom('fetch modifier').toUpperCase();
    if (name === 'CHANGEDSINCE' && changedSince === null) {
      changedSince = list.modSequenceValue();
    } else if (name === 'VANISHED' && !vanished) {
      vanished = true;
    } else {
      throw new ImapParseError(`Unknown or repeated fetch modifier ${name}`);
    }
  }
  if (vanished && !uid) throw new ImapParseError('VANISHED is only allowed in UID FETCH');
  if (vanished && changedSince === null) throw new ImapParseError('VANISHED requires CHANGEDSINCE');
  return { changedSince, vanished };
}

function fetchAtt(token: ImapToken): FetchItem {
  if (token.type === 'atom') {
    const name = token.value.toUpperCase();
    if (SIMPLE_ATTRIBUTES.has(name)) return { type: name as SimpleFetchAttribute };
    throw new ImapParseError(`Unknown fetch attribute ${token.value}`);
  }
  if (token.type !== 'section') throw new ImapParseError('Expected fetch attribute');
  const name = token.name.toUpperCase();
  const inner = new SectionReader(token.items);
  switch (name) {
    case 'BODY':
    case 'BODY.PEEK':
      return { type: 'BODY_SECTION', peek: name === 'BODY.PEEK', section: inner.section(), partial: partial(token.suffix) };
    case 'BINARY':
    case 'BINARY.PEEK':
      return { type: 'BINARY', peek: name === 'BINARY.PEEK', part: inner.sectionBinary(), partial: partial(token.suffix) };
    default:
      if (token.suffix !== '') throw new ImapParseError('BINARY.SIZE takes no partial range');
      return { type: 'BINARY.SIZE', part: inner.sectionBinary() };
  }
}

/** `"<" number "." nz-number ">"` */
function partial(suffix: string): FetchPartial | null {
  if (suffix === '') return null;
  const match = /^<([0-9]{1,10})\.([1-9][0-9]{0,9})>$/.exec(suffix);
  if (match === null || Number(match[1]) > MAX_NZ_NUMBER || Number(match[2]) > MAX_NZ_NUMBER) {
    throw new ImapParseError(`Invalid partial range ${suffix.slice(0, 40)}`);
  }
  return { offset: Number(match[1]), length: Number(match[2]) };
}

class SectionReader {
  constructor(private readonly items: readonly ImapToken[]) {}

  /** RFC 3501 9 `section-spec` = section-msgtext / (section-part ["." section-text]) */
  section(): BodySection {
    const [first, second, ...rest] = this.items;
    if (first === undefined) return { part: [], specifier: null, fields: [] };
    if (first.type !== 'atom' || rest.length > 0) throw new ImapParseError('Invalid section');
    const { part, specifier } = splitSectionAtom(first.value);
    const wantsFields = specifier === 'HEADER.FIELDS' || specifier === 'HEADER.FIELDS.NOT';
    if (wantsFields !== (second !== undefined)) throw new ImapParseError(wantsFields ? 'Missing header field list' : 'Invalid section');
    if (specifier === 'MIME' && part.length === 0) throw new ImapParseError('MIME requires a part number');
    return { part, specifier, fields: second === undefined ? [] : headerList(second) };
  }

  /** RFC 3516 `section-binary` = "[" [section-part] "]" */
  sectionBinary(): number[] {
    const [first, ...rest] = this.items;
    if (first === undefined) return [];
    if (first.type !== 'atom' || rest.length > 0) throw new ImapParseError('Invalid binary section');
    const { part, specifier } = splitSectionAtom(first.value);
    if (specifier !== null) throw new ImapParseError('Invalid binary section');
    return part;
  }
}

function splitSectionAtom(text: string): { part: number[]; specifier: SectionSpecifier | null } {
  const pieces = text.split('.');
  const part: number[] = [];
  while (pieces.length > 0 && /^[0-9]+$/.test(pieces[0]!)) {
    const piece = pieces.shift()!;
    if (!/^[1-9][0-9]{0,9}$/.test(piece) || Number(piece) > MAX_NZ_NUMBER) throw new ImapParseError(`Invalid section part ${piece}`);
    part.push(Number(piece));
  }
  if (pieces.length === 0) return { part, specifier: null };
  const specifier = pieces.join('.').toUpperCase();
  if (!SPECIFIERS.has(specifier)) throw new ImapParseError(`Invalid section ${text.slice(0, 40)}`);
  return { part, specifier: specifier as SectionSpecifier };
}

/** RFC 3501 9 `header-list` = "(" header-fld-name *(SP header-fld-name) ")", names being astrings. */
function headerList(token: ImapToken): string[] {
  if (token.type !== 'list' || token.items.length === 0) throw new ImapParseError('Invalid header field list');
  return token.items.map((item) => {
    const bytes = item.type === 'atom' ? Buffer.from(item.value, 'ascii') : item.type === 'quoted' || item.type === 'literal' ? item.value : null;
    // RFC 5322 3.6.8 field-name = 1*ftext, ftext = %d33-57 / %d59-126.
    if (bytes === null || bytes.length === 0 || bytes.some((b) => b < 33 || b > 126 || b === 58)) {
      throw new ImapParseError('Invalid header field name');
    }
    return bytes.toString('ascii');
  });
}
