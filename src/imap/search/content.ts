/**
 * The content of one candidate message, loaded on first use and then kept for the rest of
 * that message's evaluation (an OR of two BODY keys reads the text once).
 * @module
 */
import { decodeByteValue } from '../../mime/encoded-words.js';
import { parseHeaderBlock } from '../../mime/header.js';
import type { MessageIndex } from '../../mime/types.js';
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

export class MessageContent {
  #index: Promise<MessageIndex> | undefined;
  #fields: Promise<DecodedField[]> | undefined;
  #headerText: Promise<string> | undefined;
  #bodyText: Promise<string> | undefined;

  constructor(
    private readonly source: Accessors,
    private readonly message: SearchMessage,
    private readonly cache: TextCache | null,
  ) {}

  index(): Promise<MessageIndex> {
    this.#index ??= this.present(this.source.loadIndex(this.message.uid));
    return this.#index;
  }

  /** The top-level header fields in order (RFC 3501 6.4.4 HEADER looks at "what comes after the colon"). */
  headerFields(): Promise<DecodedField[]> {
    this.#fields ??= this.present(this.source.readHeader(this.message.uid)).then(decodeHeaderFields);
    return this.#fields;
  }

  /** The header as text for TEXT: one "Name: value" line per field, values decoded. */
  headerText(): Promise<string> {
    this.#headerText ??= this.headerFields().then(headerFieldsText);
    return this.#headerText;
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
