/**
 * The index facts SEARCH keys such as SUBJECT, FROM, TO, CC, BCC and SENTBEFORE/ON/SINCE need,
 * kept per blob hash and bounded in octets (CLOCK eviction, ../clock-cache.ts).
 *
 * Why: these keys need nothing of a message but a few decoded header values, yet reading them
 * from the store means fetching and parsing the whole index of every candidate (1–2 KiB of
 * JSON each: about a second for 10,000 messages). The values depend only on the body's bytes
 * (a per-copy prefix such as Delivered-To is not among them, see mime/shift.ts), so the blob
 * hash is a safe key across sessions and accounts.
 * @module
 */
import type { MessageIndex, SearchFields } from '../../mime/types.js';
import { ClockCache } from '../clock-cache.js';
import { sentDay } from './dates.js';

/** What a field or sent-date key reads, without the rest of the index. */
export interface IndexFacts {
  readonly search: SearchFields;
  /** The sent date's day number (dates.ts sentDay), or null. */
  readonly sentDay: number | null;
}

/** Map slot, objects and numbers beyond the strings: a rough figure for the budget. */
const ENTRY_OVERHEAD = 240;

export class FieldsCache {
  readonly #cache: ClockCache<IndexFacts>;

  constructor(readonly maxBytes: number) {
    this.#cache = new ClockCache(maxBytes);
  }

  get size(): number {
    return this.#cache.size;
  }

  get bytes(): number {
    return this.#cache.bytes;
  }

  get(hash: string): IndexFacts | undefined {
    return this.#cache.get(hash);
  }

  /** The facts of `index`, kept under `hash` (when they fit) and returned. */
  remember(hash: string, index: MessageIndex): IndexFacts {
    const facts: IndexFacts = { search: index.search, sentDay: sentDay(index) };
    const cost = costOf(hash, facts);
    if (cost <= this.maxBytes / 8) this.#cache.set(hash, facts, cost);
    return facts;
  }
}

function costOf(hash: string, facts: IndexFacts): number {
  const s = facts.search;
  return ENTRY_OVERHEAD + 2 * (hash.length + s.subject.length + s.from.length + s.to.length + s.cc.length + s.bcc.length + s.messageId.length);
}
