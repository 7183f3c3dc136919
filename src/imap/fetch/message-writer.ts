/**
 * One `* n FETCH (...)` response (RFC 3501 7.4.2) from the stored message: metadata and the
 * index give everything but body octets, which are byte ranges of the stored message
 * (src/mime/section.ts) read or streamed from the store — never a re-parse. Large ranges are
 * streamed with drain (Output.stream), so a FETCH of a 50 MB message holds one chunk at a time.
 * @module
 */
import { encodeBody, encodeBodyStructure } from '../encode/bodystructure.js';
import { encodeEnvelope } from '../encode/envelope.js';
import { sectionRange } from '../../mime/section.js';
import type { ByteRange, SectionText } from '../../mime/section.js';
import type { MessageIndex } from '../../mime/types.js';
import type { MailStore, MessageMeta } from '../../store/types.js';
import { encode } from '../../wire/imap/index.js';
import type { FetchItem } from '../../wire/imap/index.js';
import { flagListText } from '../flags.js';
import type { Output } from '../output.js';
import type { EncodedStructure } from './structure-cache.js';
import { filterHeaderFields } from './header-fields.js';

/** Ranges up to this size are read in one piece; larger ones are streamed. */
const READ_WHOLE_LIMIT = 64 * 1024;

export interface FetchTarget {
  readonly seq: number;
  readonly meta: MessageMeta;
  /** Present when the plan needs it (commands/fetch.ts). */
  readonly index: MessageIndex | null;
  /** Encoded ENVELOPE/BODY/BODYSTRUCTURE (from the shared cache), when the plan needs them. */
  readonly structure: EncodedStructure | null;
  readonly recent: boolean;
}

export interface WriterOptions {
  readonly store: MailStore;
  readonly output: Output;
}

/** Items answered from metadata and the encoded structure alone: no literal, no store read. */
export function isTextItem(item: FetchItem): boolean {
  switch (item.type) {
    case 'UID':
    case 'FLAGS':
    case 'INTERNALDATE':
    case 'RFC822.SIZE':
    case 'MODSEQ':
    case 'ENVELOPE':
    case 'BODYSTRUCTURE':
    case 'BODY':
      return true;
    default:
      return false;
  }
}

/**
 * The whole `* n FETCH (...)` line when every item is a text item (isTextItem), built without
 * awaiting anything: FETCH 1:* of ENVELOPE and BODYSTRUCTURE over 100,000 messages then costs
 * one string per message and one write per batch, not a promise chain per message.
 */
export function fetchResponseText(target: FetchTarget, items: readonly FetchItem[], addFlags: boolean): string {
  const meta = target.meta;
  const parts: string[] = [];
  for (const item of items) {
    switch (item.type) {
      case 'UID':
        parts.push(`UID ${meta.uid}`);
        break;
      case 'FLAGS':
        parts.push(`FLAGS ${flagListText(meta.flags, meta.keywords, target.recent)}`);
        break;
      case 'INTERNALDATE':
        parts.push(`INTERNALDATE "${encode.formatDateTime(meta.internalDate, 0)}"`);
        break;
      case 'RFC822.SIZE':
        parts.push(`RFC822.SIZE ${meta.size}`);
        break;
      case 'MODSEQ':
        parts.push(`MODSEQ (${meta.modseq})`);
        break;
      case 'ENVELOPE':
        parts.push(`ENVELOPE ${target.structure?.envelope ?? encodeEnvelope(indexOf(target).envelope)}`);
        break;
      case 'BODYSTRUCTURE':
        parts.push(`BODYSTRUCTURE ${target.structure?.bodyStructure ?? encodeBodyStructure(indexOf(target).part)}`);
        break;
      case 'BODY':
        parts.push(`BODY ${target.structure?.body ?? encodeBody(indexOf(target).part)}`);
        break;
      default:
        throw new Error(`FETCH item ${item.type} needs the streaming writer`);
    }
  }
  if (addFlags) parts.push(`FLAGS ${flagListText(meta.flags, meta.keywords, target.recent)}`);
  return `* ${target.seq} FETCH (${parts.join(' ')})\r\n`;
}

/** Writes one FETCH response for `items` (in order; FLAGS appended when `addFlags`). */
export async function writeFetchResponse(options: WriterOptions, target: FetchTarget, items: readonly FetchItem[], addFlags: boolean): Promise<void> {
  const { output } = options;
  const meta = target.meta;
  let text = `* ${target.seq} FETCH (`;
  let first = true;
  const separator = (): void => {
    if (!first) text += ' ';
    first = false;
  };
  const flushText = async (): Promise<void> => {
    if (text === '') return;
    await output.send([Buffer.from(text, 'utf8')]);
    text = '';
  };
  const literal = async (name: string, range: ByteRange | null, transform: ((data: Buffer) => Buffer) | null): Promise<void> => {
    separator();
    if (range === null) {
      text += `${name} NIL`;
      return;
    }
    if (transform !== null || range.end - range.start <= READ_WHOLE_LIMIT) {
      let data = await options.store.readMessage(meta, range.start, range.end);
      if (transform !== null) data = transform(data);
      text += `${name} {${data.length}}\r\n`;
      await flushText();
      await output.send([data]);
      return;
    }
    // Opened before the literal's length goes out: a blob that cannot be read (lost, I/O error)
    // fails the command with a NO instead of leaving the client inside a literal that never ends.
    const source = await options.store.openMessage(meta, range.start, range.end);
    text += `${name} {${range.end - range.start}}\r\n`;
    try {
      await flushText();
    } catch (error) {
      source.destroy();
      throw error;
    }
    await output.stream(source, range.end - range.start);
  };

  for (const item of items) {
    switch (item.type) {
      case 'UID':
        separator();
        text += `UID ${meta.uid}`;
        break;
      case 'FLAGS':
        separator();
        text += `FLAGS ${flagListText(meta.flags, meta.keywords, target.recent)}`;
        break;
      case 'INTERNALDATE':
        separator();
        text += `INTERNALDATE "${encode.formatDateTime(meta.internalDate, 0)}"`;
        break;
      case 'RFC822.SIZE':
        separator();
        text += `RFC822.SIZE ${meta.size}`;
        break;
      case 'MODSEQ':
        separator();
        text += `MODSEQ (${meta.modseq})`;
        break;
      case 'ENVELOPE':
        separator();
        text += `ENVELOPE ${target.structure?.envelope ?? encodeEnvelope(indexOf(target).envelope)}`;
        break;
      case 'BODYSTRUCTURE':
        separator();
        text += `BODYSTRUCTURE ${target.structure?.bodyStructure ?? encodeBodyStructure(indexOf(target).part)}`;
        break;
      case 'BODY':
        separator();
        text += `BODY ${target.structure?.body ?? encodeBody(indexOf(target).part)}`;
        break;
      case 'RFC822':
        await literal('RFC822', { start: 0, end: meta.size }, null);
        break;
      case 'RFC822.HEADER':
        await literal('RFC822.HEADER', sectionRange(indexOf(target), [], 'HEADER'), null);
        break;
      case 'RFC822.TEXT':
        await literal('RFC822.TEXT', sectionRange(indexOf(target), [], 'TEXT'), null);
        break;
      case 'BODY_SECTION': {
        const name = itemName(item);
        const { range, transform } = sectionOf(target, item);
        if (transform !== null) await literal(name, range, partialTransform(transform, item.partial));
        else await literal(name, partialRange(range, item.partial), null);
        break;
      }
      case 'BINARY':
      case 'BINARY.SIZE':
        // Refused by the plan (BINARY is not advertised); never reached.
        break;
    }
  }
  if (addFlags) {
    separator();
    text += `FLAGS ${flagListText(meta.flags, meta.keywords, target.recent)}`;
  }
  text += ')\r\n';
  await flushText();
}

function indexOf(target: FetchTarget): MessageIndex {
  if (target.index === null) throw new Error('FETCH plan did not load the index');
  return target.index;
}

function itemName(item: FetchItem): string {
  const value = encode.fetchItemName(item);
  return value.kind === 'raw' ? value.text : 'BODY[]';
}

/** The byte range of a BODY[section], and the filter HEADER.FIELDS needs. */
function sectionOf(target: FetchTarget, item: Extract<FetchItem, { type: 'BODY_SECTION' }>): { range: ByteRange | null; transform: ((data: Buffer) => Buffer) | null } {
  const { part, specifier, fields } = item.section;
  if (part.length === 0 && specifier === null) return { range: { start: 0, end: target.meta.size }, transform: null };
  const index = indexOf(target);
  switch (specifier) {
    case null:
      return { range: sectionRange(index, part, ''), transform: null };
    case 'HEADER':
    case 'TEXT':
    case 'MIME':
      return { range: sectionRange(index, part, specifier satisfies SectionText), transform: null };
    case 'HEADER.FIELDS':
    case 'HEADER.FIELDS.NOT':
      return { range: sectionRange(index, part, 'HEADER'), transform: (data) => filterHeaderFields(data, fields, specifier === 'HEADER.FIELDS.NOT') };
  }
}

/** `<origin.count>` on a plain range: narrowed before reading (RFC 3501 6.4.5). */
function partialRange(range: ByteRange | null, partial: { offset: number; length: number } | null): ByteRange | null {
  if (range === null || partial === null) return range;
  const start = Math.min(range.start + partial.offset, range.end);
  return { start, end: Math.min(start + partial.length, range.end) };
}

/** With a filter the partial applies to the filtered octets, so it cuts after filtering. */
function partialTransform(transform: ((data: Buffer) => Buffer) | null, partial: { offset: number; length: number } | null): ((data: Buffer) => Buffer) | null {
  if (transform === null || partial === null) return transform;
  return (data) => {
    const filtered = transform(data);
    const start = Math.min(partial.offset, filtered.length);
    return filtered.subarray(start, Math.min(start + partial.length, filtered.length));
  };
}
