/**
 * The content of one candidate message, loaded on first use and then kept for the rest of
 * that message's evaluation (an OR of two BODY keys reads the text once).
 * @module
 */
import { decodeByteValue } from '../../mime/encoded-words.js';
import { parseHeaderBlock } from '../../mime/header.js';
import type { MessageIndex } from '../../mime/types.js';
import { sentDay } from './dates.js';
import type { FieldsCache, IndexFacts } from './fields-cache.js';
import type { TextCache } from './text-cache.js';
import type { SearchContext, SearchMessage } from './types.js';

/** A header field with its value unfolded and decoded (RFC 2047, raw UTF-8 per RFC 6532). */
export interface DecodedField {
  /** Lower-cased field name. */
  readonly key: string;
  /** Name as written. */
  readonly name: string;
  readonly value: string;
}

/** The message was expunged while the search ran: it matches nothing (not even NOT keys). */
export class MessageGoneError extends Error {
  override readonly name = 'MessageGoneError';
  constructor(readonly uid: number) {
    super(`message ${uid} is gone`);
  }
}

type Accessors = Pick<SearchContext, 'loadIndex' | 'readHeader' | 'readText'>;

/** Key of a message's decoded header text in the TextCache: by store row, since the header
 * includes the per-copy prefix, and a row's bytes never change (ids are never reused). */
function headerKey(rowId: number): string {
  return `hdr:${rowId}`;
}

export class MessageContent {
  #index: Promise<MessageIndex> | undefined;
  #facts: Promise<IndexFacts> | undefined;
  #fields: Promise<DecodedField[]> | undefined;
  #headerText: Promise<string> | undefined;
  #bodyText: Promise<string> | undefined;

  constructor(
    private readonly source: Accessors,
    private readonly message: SearchMessage,
    private readonly cache: TextCache | null,
    private readonly fieldsCache: FieldsCache | null = null,
  ) {}

  index(): Promise<MessageIndex> {
    this.#index ??= this.present(this.source.loadIndex(this.message.uid));
    return this.#index;
  }

  /** Decoded search fields and sent day: from the cache by blob hash, else from the index. */
  facts(): Promise<IndexFacts> {
    this.#facts ??= this.loadFacts();
    return this.#facts;
  }

  private async loadFacts(): Promise<IndexFacts> {
    const key = this.message.blobHash;
    const cached = key === '' ? undefined : this.fieldsCache?.get(key);
    if (cached !== undefined) return cached;
    const index = await this.index();
    if (this.fieldsCache !== null && key !== '') return this.fieldsCache.remember(key, index);
    return { search: index.search, sentDay: sentDay(index) };
  }

  /** The top-level header fields in order (RFC 3501 6.4.4 HEADER looks at "what comes after the colon"). */
  headerFields(): Promise<DecodedField[]> {
    this.#fields ??= this.present(this.source.readHeader(this.message.uid)).then(decodeHeaderFields);
    return this.#fields;
  }

  /** The header as text for TEXT: one "Name: value" line per field, values decoded. Kept in
   * the text cache by store row (when the context names rows), so a repeated TEXT search reads
   * no header bytes. */
  headerText(): Promise<string> {
    this.#headerText ??= this.loadHeaderText();
    return this.#headerText;
  }

  private async loadHeaderText(): Promise<string> {
    const rowId = this.message.rowId;
    const key = rowId === undefined || this.cache === null ? null : headerKey(rowId);
    const cached = key === null ? undefined : this.cache?.get(key);
    if (cached !== undefined) return cached;
    const text = headerFieldsText(await this.headerFields());
    if (key !== null) this.cache?.set(key, text);
    return text;
  }

  /** Decoded text of the body's text parts, from the cache when an identical body was seen. */
  bodyText(): Promise<string> {
    this.#bodyText ??= this.loadBodyText();
    return this.#bodyText;
  }

  private async loadBodyText(): Promise<string> {
    const key = this.message.blobHash;
    const cached = this.cache?.get(key);
    if (cached !== undefined) return cached;
    const text = await this.present(this.source.readText(this.message.uid));
    this.cache?.set(key, text);
    return text;
  }

  private async present<T>(value: Promise<T | null>): Promise<T> {
    const found = await value;
    if (found === null) throw new MessageGoneError(this.message.uid);
    return found;
  }
}

/** The fields of a header block, unfolded and decoded. */
export function decodeHeaderFields(header: Buffer): DecodedField[] {
  return parseHeaderBlock(header).map((field) => ({ key: field.key, name: field.name, value: decodeByteValue(field.value) }));
}

/** Decoded fields as searchable text, one "Name: value" line each. */
export function headerFieldsText(fields: readonly DecodedField[]): string {
  return fields.map((f) => `${f.name}: ${f.value}`).join('\n');
}
