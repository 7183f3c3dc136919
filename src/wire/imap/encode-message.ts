/**
 * The echoed names of fetch items in FETCH responses (`BODY[1.TEXT]<0>`, RFC 3501 7.4.2).
 * ENVELOPE and BODY/BODYSTRUCTURE are written from the message index by src/imap/encode/.
 * @module
 */
import type { BodySection, FetchItem } from './commands.js';
import { raw, type ImapValue } from './encode.js';

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
