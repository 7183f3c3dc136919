/**
 * The IMAP SEARCH engine (RFC 3501 6.4.4, RFC 7162 3.1.5 MODSEQ, RFC 5182 "$").
 *
 *   const engine = createSearchEngine({ textCache: new TextCache({ maxBytes: 64 << 20 }) });
 *   const uids = await engine(key, ctx);          // ascending UIDs
 *
 * `evaluateSearch` is the same without a cache. See ./types.ts for the SearchContext contract,
 * ./evaluate.ts for how the work is split, ./dates.ts for the date rules and ./match-text.ts
 * for case-insensitive matching.
 * @module
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { SearchEngineOptions } from './evaluate.js';
import { runSearch } from './evaluate.js';
import type { EvaluateSearch, SearchContext, SearchKey } from './types.js';
import { SearchAbortedError } from './types.js';

export { SUPPORTED_SEARCH_CHARSETS, decodeSearchString, isSupportedSearchCharset } from './charset.js';
export { searchUsesModseq } from './compile.js';
export type { SearchEngineOptions, SearchRunStats } from './evaluate.js';
export { runSearch } from './evaluate.js';
export { FoldedNeedle, foldCase, matchesText } from './match-text.js';
export { StoreSearchSource } from './store-source.js';
export type { StoreSearchSourceOptions } from './store-source.js';
export { TextCache } from './text-cache.js';
export { FieldsCache } from './fields-cache.js';
export type { IndexFacts } from './fields-cache.js';
export type { TextCacheOptions, TextCacheStats } from './text-cache.js';

/** A search function bound to options (a shared text cache above all). */
export function createSearchEngine(options: SearchEngineOptions = {}): EvaluateSearch {
  return (key: SearchKey, ctx: SearchContext) => runSearch(key, ctx, options);
}

/** Evaluates `key` over the context's view; resolves to the matching UIDs, ascending. */
export const evaluateSearch: EvaluateSearch = createSearchEngine();

/**
 * A `SearchContext.checkpoint` for sessions that have an AbortSignal: yields one turn of the
 * event loop (after pending I/O callbacks, so other connections progress), then throws
 * SearchAbortedError if the signal fired meanwhile.
 */
export function checkpointFor(signal: AbortSignal): () => Promise<void> {
  return async () => {
    if (signal.aborted) throw new SearchAbortedError();
    await yieldToEventLoop();
    if (signal.aborted) throw new SearchAbortedError();
  };
}
