/**
 * Message-structure writers for FETCH responses: ENVELOPE and BODY/BODYSTRUCTURE (RFC 3501
 * 7.4.2, 9 `envelope`, `body`), and the echoed names of fetch items (`BODY[1.TEXT]<0>`).
 * The input types are structural, so the message index (mime/types.ts) fits them without
 * wire/ importing it.
 * @module
 */
import type { BodySection, FetchItem } from './commands.js';
import { concat, list, nil, nstring, number, raw, string, type ImapValue } from './encode.js';

export interface EnvelopeAddressLike {
  readonly name: string | null;
  readonly adl: string | null;
  readonly mailbox: string | null;
  readonly host: string | null;
}

export interface EnvelopeLike {
  readonly date: string | null;
  readonly subject: string | null;
  readonly from: readonly EnvelopeAddressLike[] | null;
  readonly sender: readonly EnvelopeAddressLike[] | null;
  readonly replyTo: readonly EnvelopeAddressLike[] | null;
  readonly to: readonly EnvelopeAddressLike[] | null;
  readonly cc: readonly EnvelopeAddressLike[] | null;
  readonly bcc: readonly EnvelopeAddressLike[] | null;
  readonly inReplyTo: string | null;
  readonly messageId: string | null;
}

export interface BodyPartLike {
  readonly type: string;
  readonly subtype: string;
  readonly params: ReadonlyArray<readonly [string, string]>;
  readonly id: string | null;
  readonly description: string | null;
  readonly encoding: string;
  readonly size: number;
  readonly lines: number;
  readonly md5: string | null;
  readonly disposition: { readonly type: string; readonly params: ReadonlyArray<readonly [string, string]> } | null;
  readonly language: readonly string[] | null;
  readonly location: string | null;
  readonly children?: readonly BodyPartLike[];
  readonly message?: { readonly envelope: EnvelopeLike; readonly part: BodyPartLike };
}

/** RFC 3501 9 `envelope`. */
export function envelope(env: EnvelopeLike): ImapValue {
  return list([
    nstring(env.date),
    nstring(env.subject),
    addressList(env.from),
    addressList(env.sender),
    addressList(env.replyTo),
    addressList(env.to),
    addressList(env.cc),
    addressList(env.bcc),
    nstring(env.inReplyTo),
    nstring(env.messageId),
  ]);
}

/** `"(" 1*address ")" / nil`: addresses follow each other without SP. */
function addressList(addresses: readonly EnvelopeAddressLike[] | null): ImapValue {
  if (addresses === null || addresses.length === 0) return nil;
  return list([concat(addresses.map((a) => list([nstring(a.name), nstring(a.adl), nstring(a.mailbox), nstring(a.host)])))]);
}

/**
 * RFC 3501 9 `body`: BODYSTRUCTURE when `extensible`, BODY otherwise (no extension data).
 * Media types and parameter names go upper-cased, as in the RFC's examples.
 */
export function bodyStructure(part: BodyPartLike, extensible: boolean): ImapValue {
  const children = part.children ?? [];
  if (part.type.toLowerCase() === 'multipart' && children.length > 0) {
    // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
    const items: ImapValue[] = [concat(children.map((child) => bodyStructure(child, extensible))), string(part.subtype.toUpperCase())];
    if (extensible) items.push(parameters(part.params), disposition(part), language(part.language), nstring(part.location));
    return list(items);
  }
  const type = part.type.toLowerCase() === 'multipart' ? 'TEXT' : part.type.toUpperCase();
  const subtype = part.type.toLowerCase() === 'multipart' ? 'PLAIN' : part.subtype.toUpperCase();
  const items: ImapValue[] = [
    string(type),
    string(subtype),
    parameters(part.params),
    nstring(part.id),
    nstring(part.description),
    string(part.encoding.toUpperCase()),
    number(part.size),
  ];
  if (part.message !== undefined && type === 'MESSAGE' && (subtype === 'RFC822' || subtype === 'GLOBAL')) {
    // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
    items.push(envelope(part.message.envelope), bodyStructure(part.message.part, extensible), number(part.lines));
  } else if (type === 'TEXT') {
    items.push(number(part.lines));
  }
  if (extensible) items.push(nstring(part.md5), disposition(part), language(part.language), nstring(part.location));
  return list(items);
}

/** body-fld-param = "(" string SP string *(SP string SP string) ")" / nil */
function parameters(params: ReadonlyArray<readonly [string, string]>): ImapValue {
  if (params.length === 0) return nil;
  return list(params.flatMap(([name, value]) => [string(name.toUpperCase()), string(value)]));
}

/** body-fld-dsp = "(" string SP body-fld-param ")" / nil */
function disposition(part: BodyPartLike): ImapValue {
  if (part.disposition === null) return nil;
  return list([string(part.disposition.type.toUpperCase()), parameters(part.disposition.params)]);
}

/** body-fld-lang = nstring / "(" string *(SP string) ")" */
function language(languages: readonly string[] | null): ImapValue {
  if (languages === null || languages.length === 0) return nil;
  if (languages.length === 1) return string(languages[0]!);
  return list(languages.map((tag) => string(tag)));
}

/**
 * The name a FETCH response gives an item (RFC 3501 7.4.2): `BODY[1.HEADER.FIELDS (From)]<0>`,
 * `BINARY[1]`, `BINARY.SIZE[2]`, or the attribute name. BODY.PEEK answers as BODY, and a
 * partial answers with its origin only.
 */
export function fetchItemName(item: FetchItem): ImapValue {
  switch (item.type) {
    case 'BODY_SECTION':
      return raw(`BODY[${sectionSpec(item.section)}]${item.partial === null ? '' : `<${item.partial.offset}>`}`);
    case 'BINARY':
      return raw(`BINARY[${item.part.join('.')}]${item.partial === null ? '' : `<${item.partial.offset}>`}`);
    case 'BINARY.SIZE':
      return raw(`BINARY.SIZE[${item.part.join('.')}]`);
    default:
      return raw(item.type);
  }
}

function sectionSpec(section: BodySection): string {
  const parts = section.part.map(String);
  if (section.specifier !== null) parts.push(section.specifier);
  const spec = parts.join('.');
  if (section.fields.length === 0) return spec;
  return `${spec} (${section.fields.map(headerFieldName).join(' ')})`;
}

/** header-fld-name = astring; field names are 7-bit without CR/LF, so quoting always works. */
function headerFieldName(name: string): string {
  // "]" is an ASTRING-CHAR, but inside a section it would end the section: quote it.
  const isAstringAtom = [...name].every((ch) => ch > ' ' && ch < '\x7f' && !'(){%*"\\]'.includes(ch));
  return name.length > 0 && isAstringAtom ? name : `"${name.replace(/["\\]/g, '\\$&')}"`;
}
