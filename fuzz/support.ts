/**
 * Shared settings of the fuzz targets (fuzz/*.fuzz.ts, run by `npm run fuzz`).
 *
 * The fuzzers are property-based (fast-check), not coverage-guided: jazzer.js is not part of
 * the toolchain. Each target runs as many generated inputs as fit in its time budget:
 *
 * - FUZZ_SECONDS: budget per target (default 10, so CI stays short; raise it for long runs);
 * - FUZZ_SEED: replay a failure (fast-check prints the seed and the shrunk counterexample);
 * - FUZZ_RUNS: a fixed number of runs instead of a time budget (reproducible CI runs).
 *
 * Every property also bounds the time one input may take (`withinTime`), so a hang or a
 * quadratic blow-up is a failure with its input, not a CI timeout.
 * @module
 */
import fc from 'fast-check';
import type { Parameters as FcParameters } from 'fast-check';

const DEFAULT_SECONDS = 10;

/** The time budget of one target, in milliseconds. */
export function budgetMs(): number {
  const raw = process.env['FUZZ_SECONDS'];
  const seconds = raw === undefined || raw === '' ? DEFAULT_SECONDS : Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`FUZZ_SECONDS must be a positive number, got ${raw}`);
  return seconds * 1000;
}

/**
 * fast-check parameters: run until the budget (a `share` of it, when one file holds several
 * properties) is spent, or FUZZ_RUNS runs; FUZZ_SEED replays.
 */
export function fuzzParameters<T>(share = 1, extra: FcParameters<T> = {}): FcParameters<T> {
  const runs = process.env['FUZZ_RUNS'];
  const seed = process.env['FUZZ_SEED'];
  const parameters: FcParameters<T> = {
    numRuns: runs !== undefined && runs !== '' ? Number(runs) : Number.MAX_SAFE_INTEGER,
    // The plugin is generic over nothing it uses; typed for this property's values.
    plugins: [fc.interruptAfterTimeLimit(Math.max(200, Math.floor(budgetMs() * share))) as NonNullable<FcParameters<T>['plugins']>[number]],
    includeErrorInReport: true,
    ...extra,
  };
  if (seed !== undefined && seed !== '') parameters.seed = Number(seed);
  return parameters;
}

/** The node:test timeout for a target: its budget plus room for shrinking a failure. */
export function testTimeoutMs(): number {
  return budgetMs() + 120_000;
}

/**
 * Runs `work` and fails when one input took longer than `limitMs`: the synchronous parsers
 * must stay linear, and a slow input is reported with the input that caused it.
 */
export function withinTime<T>(limitMs: number, what: string, work: () => T): T {
  const started = performance.now();
  const result = work();
  const elapsed = performance.now() - started;
  if (elapsed > limitMs) throw new Error(`${what} took ${elapsed.toFixed(0)} ms (limit ${limitMs} ms)`);
  return result;
}

/** Async variant of withinTime: rejects as soon as the limit passes (a hang never settles). */
export async function withinTimeAsync<T>(limitMs: number, what: string, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${limitMs} ms`)), limitMs);
  });
  try {
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Splits bytes at the given cut points (any numbers; taken modulo the length, sorted). */
export function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  if (bytes.length === 0) return [];
  const points = [...new Set(cuts.map((c) => c % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(start, point));
    start = point;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

/** Arbitrary cut points for splitAt (including none: the whole input in one chunk). */
export const cutPoints = fc.array(fc.nat({ max: 1 << 20 }), { maxLength: 24 });

/** Bytes biased towards protocol syntax: mostly printable text with CR, LF, NUL and 8-bit octets. */
export function protocolBytes(alphabet: readonly string[], maxLength = 2000): fc.Arbitrary<Buffer> {
  const pieces = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...alphabet) },
    { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
    { weight: 2, arbitrary: fc.constantFrom('\r\n', '\n', '\r', ' ', '\0', '\x7f', '\xff', '.', '\r\n.\r\n', '\n.\n') },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b).toString('latin1')) },
    { weight: 1, arbitrary: fc.nat({ max: 99999999 }).map((n) => String(n)) },
  );
  return fc.array(pieces, { maxLength: 200 }).map((parts) => Buffer.from(parts.join('').slice(0, maxLength), 'latin1'));
}

/** Throws unless `error` is one of the expected classes (the protocol's own error types). */
export function expectErrorType(error: unknown, allowed: ReadonlyArray<abstract new (...args: never[]) => Error>, where: string): void {
  if (allowed.some((type) => error instanceof type)) return;
  const detail = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
  throw new Error(`${where} threw an unexpected error: ${detail}`);
}
