/**
 * Encoded ENVELOPE, BODY and BODYSTRUCTURE per stored body (blob hash), shared by every session.
 * They depend only on the body's index — a per-copy prefix (Return-Path, Delivered-To) changes
 * offsets, not these — so one entry serves every copy in every mailbox. Clients fetch them
 * again and again (every resync, every new session); with a warm entry a FETCH needs the
 * message row only, not the stored index. Bounded in octets; CLOCK eviction (../clock-cache.ts).
 * @module
 */
import { encodeBody, encodeBodyStructure } from '../encode/bodystructure.js';
import { encodeEnvelope } from '../encode/envelope.js';
import type { MessageIndex } from '../../mime/types.js';
import { ClockCache } from '../clock-cache.js';

export interface EncodedStructure {
  readonly envelope: string;
  readonly body: string;
  readonly bodyStructure: string;
}

/** Per-entry overhead beyond the strings (map slot, hash key, object, string headers): a rough figure for the budget. */
const ENTRY_OVERHEAD = 240;

export class StructureCache {
  readonly #cache: ClockCache<EncodedStructure>;

  constructor(readonly maxBytes: number) {
    this.#cache = new ClockCache(maxBytes);
  }

  get size(): number {
    return this.#cache.size;
  }

  get(hash: string): EncodedStructure | undefined {
    return this.#cache.get(hash);
  }

  /** Encodes from the index, keeps the result (when it fits) and returns it. */
  encode(hash: string, index: MessageIndex): EncodedStructure {
    const entry: EncodedStructure = { envelope: encodeEnvelope(index.envelope), body: encodeBody(index.part), bodyStructure: encodeBodyStructure(index.part) };
    const cost = costOf(entry);
    if (cost <= this.maxBytes / 8) this.#cache.set(hash, entry, cost);
    return entry;
  }
}

/** Octets held: the texts are nearly always ASCII, which V8 keeps at one byte per character. */
function costOf(entry: EncodedStructure): number {
  return entry.envelope.length + entry.body.length + entry.bodyStructure.length + ENTRY_OVERHEAD;
}
