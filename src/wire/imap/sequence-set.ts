/**
 * IMAP sequence sets (RFC 3501 9 `sequence-set`, RFC 5182 `seq-last-command`), kept as the
 * ranges the client wrote and never materialised: `1:4294967295` costs one range.
 * `*` is resolved only when the caller supplies the current maximum (message count or the
 * highest UID), and `$` must be replaced by the session with its saved search result.
 * @module
 */
import { ImapParseError, ImapUsageError } from './errors.js';

/** RFC 3501 9 `nz-number`: 0 < n < 4,294,967,296. */
export const MAX_NZ_NUMBER = 4294967295;

/** `seq-number`: a number, or "*" for the largest number in use. */
export type SeqNumber = number | '*';

/** `seq-range` (or a single `seq-number` when start === end); either order means the same set. */
export interface SeqRange {
  readonly start: SeqNumber;
  readonly end: SeqNumber;
}

export interface SequenceSetParseOptions {
  /** Accept "$" (SEARCHRES, RFC 5182). Default true. */
  allowSaved?: boolean;
  /** Accept "*" (RFC 7162 known-uids and friends forbid it). Default true. */
  allowStar?: boolean;
}

type Interval = readonly [number, number];

export class SequenceSet {
  // ES private fields: invisible to deepStrictEqual, so parsed sets compare by their ranges.
  #cachedMax = -1;
  #cachedIntervals: Interval[] = [];

  private constructor(
    /** True for "$": the session must substitute its saved search result. */
    readonly saved: boolean,
    readonly ranges: readonly SeqRange[],
  ) {}

  /** Parses the wire form; throws ImapParseError with a client-facing message. */
  static parse(text: string, options: SequenceSetParseOptions = {}): SequenceSet {
    if (text === '$') {
      if (options.allowSaved === false) throw new ImapParseError('"$" is not allowed here');
      return new SequenceSet(true, []);
    }
    const ranges: SeqRange[] = [];
    for (const part of text.split(',')) {
      const colon = part.indexOf(':');
      if (colon < 0) {
        const n = parseSeqNumber(part, text, options);
        ranges.push({ start: n, end: n });
      } else {
        ranges.push({ start: parseSeqNumber(part.slice(0, colon), text, options), end: parseSeqNumber(part.slice(colon + 1), text, options) });
      }
    }
    return new SequenceSet(false, ranges);
  }

  /** The "$" marker (RFC 5182). */
  static savedResult(): SequenceSet {
    return new SequenceSet(true, []);
  }

  static fromRanges(ranges: readonly SeqRange[]): SequenceSet {
    return new SequenceSet(false, ranges.map((r) => ({ start: r.start, end: r.end })));
  }

  /** A set holding exactly these numbers, compressed into ascending runs. */
  static fromNumbers(numbers: Iterable<number>): SequenceSet {
    return new SequenceSet(false, compressSorted(numbers).map(([start, end]) => ({ start, end })));
  }

  /** True when some range mentions "*". */
  get usesStar(): boolean {
    return this.ranges.some((r) => r.start === '*' || r.end === '*');
  }

  /** Sorted, merged, inclusive intervals with "*" resolved to `max`. Not clipped to `max`:
   * `5:7` with max 3 stays [5,7] (the session decides whether that is BAD or simply empty). */
  normalized(max: number): ReadonlyArray<readonly [number, number]> {
    this.assertResolved();
    if (max !== this.#cachedMax) {
      this.#cachedIntervals = mergeIntervals(this.ranges.map((r) => orderedInterval(r, max)));
      this.#cachedMax = max;
    }
    return this.#cachedIntervals;
  }

  /** Membership given the current maximum (binary search over the normalized intervals). */
  contains(n: number, max: number): boolean {
    const intervals = this.normalized(max);
    let lo = 0;
    let hi = intervals.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const [start, end] = intervals[mid]!;
      if (n < start) hi = mid - 1;
      else if (n > end) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** The members in 1..max, ascending, each once. Lazy: `1:*` over a huge max is still cheap to start. */
  *values(max: number): Generator<number> {
    for (const [start, end] of this.normalized(max)) {
      const last = Math.min(end, max);
      for (let n = Math.max(start, 1); n <= last; n++) yield n;
    }
  }

  /** How many members lie in 1..max. */
  count(max: number): number {
    let total = 0;
    for (const [start, end] of this.normalized(max)) {
      const last = Math.min(end, max);
      const first = Math.max(start, 1);
      if (last >= first) total += last - first + 1;
    }
    return total;
  }

  /** The largest number the set mentions once "*" is resolved; for the RFC 3501 9 rule that a
   * message sequence number above the message count deserves BAD. */
  highest(max: number): number {
    const intervals = this.normalized(max);
    return intervals.length === 0 ? 0 : intervals[intervals.length - 1]![1];
  }

  /** The wire form, as written (not normalized). */
  toString(): string {
    if (this.saved) return '$';
    return this.ranges.map((r) => (r.start === r.end ? String(r.start) : `${r.start}:${r.end}`)).join(',');
  }

  private assertResolved(): void {
    if (this.saved) throw new ImapUsageError('The "$" sequence set must be replaced by the saved search result first');
  }
}

function parseSeqNumber(text: string, whole: string, options: SequenceSetParseOptions): SeqNumber {
  if (text === '*') {
    if (options.allowStar === false) throw new ImapParseError(`"*" is not allowed in sequence set ${whole}`);
    return '*';
  }
  // nz-number = digit-nz *DIGIT: no leading zero, no sign, at most 10 digits.
  if (!/^[1-9][0-9]{0,9}$/.test(text)) throw new ImapParseError(`Invalid sequence set ${truncate(whole)}`);
  const n = Number(text);
  if (n > MAX_NZ_NUMBER) throw new ImapParseError(`Number out of range in sequence set ${truncate(whole)}`);
  return n;
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function orderedInterval(range: SeqRange, max: number): Interval {
  const a = range.start === '*' ? max : range.start;
  const b = range.end === '*' ? max : range.end;
  return a <= b ? [a, b] : [b, a];
}

function mergeIntervals(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && start <= last[1] + 1) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

/** Sorts, de-duplicates and compresses numbers into inclusive runs. */
function compressSorted(numbers: Iterable<number>): Array<[number, number]> {
  const sorted = [...numbers].sort((a, b) => a - b);
  const runs: Array<[number, number]> = [];
  for (const n of sorted) {
    const last = runs[runs.length - 1];
    if (last !== undefined && n <= last[1] + 1) last[1] = Math.max(last[1], n);
    else runs.push([n, n]);
  }
  return runs;
}

/** `1:5,7,9:12` from any list of numbers (sorted and de-duplicated first). For SEARCH ALL,
 * VANISHED, MODIFIED and APPENDUID sets. */
export function formatSequenceSet(numbers: Iterable<number>): string {
  return formatRuns(compressSorted(numbers));
}

/** Compresses *in the given order*, joining only ascending consecutive runs. RFC 4315 COPYUID
 * pairs its two uid-sets by position, so neither side may be sorted independently. */
export function formatUidRunsInOrder(numbers: readonly number[]): string {
  const runs: Array<[number, number]> = [];
  for (const n of numbers) {
    const last = runs[runs.length - 1];
    if (last !== undefined && n === last[1] + 1) last[1] = n;
    else runs.push([n, n]);
  }
  return formatRuns(runs);
}

function formatRuns(runs: ReadonlyArray<readonly [number, number]>): string {
  return runs.map(([a, b]) => (a === b ? String(a) : `${a}:${b}`)).join(',');
}
