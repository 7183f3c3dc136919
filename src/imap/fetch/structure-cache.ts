/**
 * Encoded ENVELOPE, BODY and BODYSTRUCTURE per stored body (blob hash), shared by every session.
 * They depend only on the body's index — a per-copy prefix (Return-Path, Delivered-To) changes
 * offsets, not these — so one entry serves every copy in every mailbox. Clients fetch them
 * again and again (every resync, every new session); with a warm entry a FETCH needs the
 * message row only, not the stored index. Least recently used entries go first once the cache
 * holds `maxBytes` of text.
 * @module
 */
import { encodeBody, encodeBodyStructure } from '../encode/bodystructure.js';
import { encodeEnvelope } from '../encode/envelope.js';
import type { MessageIndex } from '../../mime/types.js';

export interface EncodedStructure {
  readonly envelope: string;
  readonly body: string;
  readonly bodyStructure: string;
}

/** Per-entry overhead beyond the strings (map slot, object): a rough figure for the budget. */
const ENTRY_OVERHEAD = 200;

export class StructureCache {
  readonly #entries = new Map<string, EncodedStructure>();
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.#entries.size;
  }

  get(hash: string): EncodedStructure | undefined {
    const entry = this.#entries.get(hash);
    if (entry !== undefined) {
      // Map order is the LRU order: move to the back.
      this.#entries.delete(hash);
      this.#entries.set(hash, entry);
    }
    return entry;
  }

  /** Encodes from the index, keeps the result (when it fits) and returns it. */
  encode(hash: string, index: MessageIndex): EncodedStructure {
    const entry: EncodedStructure = { envelope: encodeEnvelope(index.envelope), body: encodeBody(index.part), bodyStructure: encodeBodyStructure(index.part) };
    const cost = costOf(entry);
    if (cost > this.maxBytes / 8) return entry;
    const previous = this.#entries.get(hash);
    if (previous !== undefined) {
      this.#entries.delete(hash);
      this.#bytes -= costOf(previous);
    }
    this.#entries.set(hash, entry);
    this.#bytes += cost;
    for (const [oldest, value] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= costOf(value);
    }
    return entry;
  }
}

function costOf(entry: EncodedStructure): number {
  return 2 * (entry.envelope.length + entry.body.length + entry.bodyStructure.length) + ENTRY_OVERHEAD;
}
