/**
 * A least-recently-used cache of decoded body text, keyed by blob hash and bounded in bytes.
 *
 * Why: BODY and TEXT need the decoded text of every candidate message (read the text parts,
 * undo base64/quoted-printable, convert the charset, strip HTML), and clients repeat searches
 * (a search-as-you-type box sends one per keystroke). The text of a body depends only on
 * its bytes, and identical bodies share a blob hash, so the hash is a safe key across
 * sessions and accounts. bench/search.ts measures the effect (cold and warm runs).
 *
 * Size: a JavaScript string costs about 2 bytes per UTF-16 unit (V8 keeps Latin-1 strings at
 * 1, so this overestimates for ASCII mail), plus a fixed overhead per entry.
 * @module
 */

import { ClockCache } from '../clock-cache.js';

const ENTRY_OVERHEAD = 96;

export interface TextCacheOptions {
  /** Upper bound of the bytes held. Default 64 MiB. */
  maxBytes?: number;
  /** Texts larger than this are not kept (one huge message must not flush everything else).
   * Default maxBytes / 16. */
  maxEntryBytes?: number;
}

export interface TextCacheStats {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
}

export class TextCache {
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  // CLOCK eviction (../clock-cache.ts): a hit marks the entry used, eviction gives used
  // entries a second chance.
  readonly #cache: ClockCache<string>;
  #hits = 0;
  #misses = 0;

  constructor(options: TextCacheOptions = {}) {
    this.maxBytes = Math.max(0, options.maxBytes ?? 64 * 1024 * 1024);
    this.maxEntryBytes = Math.min(this.maxBytes, options.maxEntryBytes ?? Math.floor(this.maxBytes / 16));
    this.#cache = new ClockCache(this.maxBytes);
  }

  /** The cached text, marked as just used; undefined when absent. */
  get(key: string): string | undefined {
    const text = this.#cache.get(key);
    if (text === undefined) this.#misses++;
    else this.#hits++;
    return text;
  }

  /** Keeps `text` unless it is too large, evicting the least recently used entries. */
  set(key: string, text: string): void {
    const cost = entryCost(key, text);
    if (cost > this.maxEntryBytes) {
      this.#cache.delete(key);
      return;
    }
    this.#cache.set(key, text, cost);
  }

  delete(key: string): void {
    this.#cache.delete(key);
  }

  clear(): void {
    this.#cache.clear();
  }

  get stats(): TextCacheStats {
    return { hits: this.#hits, misses: this.#misses, entries: this.#cache.size, bytes: this.#cache.bytes };
  }
}

function entryCost(key: string, text: string): number {
  return ENTRY_OVERHEAD + 2 * (key.length + text.length);
}
