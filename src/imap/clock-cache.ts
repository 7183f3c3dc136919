/**
 * A string-keyed cache bounded by a cost budget (octets), for the shared IMAP caches (encoded
 * structures, SEARCH text and fields). Eviction is CLOCK, a close approximation of least
 * recently used:
 *
 * - a hit only marks the entry used (moving a Map entry on every hit cost more than the
 *   search or FETCH work the entry saves);
 * - eviction walks from the oldest entry: a used entry gets a second chance at the back,
 *   an unused one goes.
 *
 * The walk keeps one live Map iterator between evictions instead of starting again at the
 * front: V8 leaves deleted slots in place until it rehashes, so a walk from the front steps
 * over every entry deleted before, and a cache at its bound became quadratic (a FETCH over
 * 100,000 messages took 50 seconds).
 * @module
 */

interface Entry<V> {
  readonly value: V;
  readonly cost: number;
  /** Read since it was (re)inserted. */
  used: boolean;
}

export class ClockCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  /** Where the eviction walk stands: always at the oldest entry still held. */
  #cursor: Iterator<[string, Entry<V>]> | null = null;
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The value, marked as used; undefined when absent. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    entry.used = true;
    return entry.value;
  }

  /** Keeps `value` at `cost` octets (replacing any entry of that key), evicting as needed. */
  set(key: string, value: V, cost: number): void {
    this.delete(key);
    this.#entries.set(key, { value, cost, used: false });
    this.#bytes += cost;
    this.#evict();
  }

  delete(key: string): void {
    const old = this.#entries.get(key);
    if (old === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= old.cost;
  }

  clear(): void {
    this.#entries.clear();
    this.#cursor = null;
    this.#bytes = 0;
  }

  #evict(): void {
    while (this.#bytes > this.maxBytes) {
      const oldest = this.#next();
      if (oldest === undefined) return;
      const [key, entry] = oldest;
      this.#entries.delete(key);
      if (entry.used) {
        entry.used = false;
        this.#entries.set(key, entry);
      } else {
        this.#bytes -= entry.cost;
      }
    }
  }

  #next(): [string, Entry<V>] | undefined {
    this.#cursor ??= this.#entries.entries();
    let step = this.#cursor.next();
    if (step.done === true) {
      // Walked past the newest entry: start again from the front.
      this.#cursor = this.#entries.entries();
      step = this.#cursor.next();
    }
    return step.done === true ? undefined : step.value;
  }
}
