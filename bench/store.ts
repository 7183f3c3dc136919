/**
 * Store benchmark: deliveries per second of 10 KiB messages into the SQLite store, with 1 and
 * with 20 concurrent writers, fsync on (the production settings), in a temp dir on the same disk
 * as the repository (not os.tmpdir(), which may be a RAM disk). Prints nothing; returns figures.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalChangeBus } from '../src/events/local.js';
import { indexMessage } from '../src/mime/indexer.js';
import { sampleMessage } from '../src/store/conformance.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SqliteMailStore } from '../src/store/sqlite/index.js';

export interface BenchStoreOptions {
  /** Deliveries per run; default 400. */
  messages?: number;
  /** Parent directory of the temp data dir; default `<cwd>/.tmp`. */
  dir?: string;
  /** Concurrency levels to measure; default [1, 20]. */
  concurrency?: number[];
}

const MESSAGE_SIZE = 10 * 1024;

export async function benchStore(opts: BenchStoreOptions = {}): Promise<Record<string, number>> {
  const total = opts.messages ?? 400;
  const parent = opts.dir ?? join(process.cwd(), '.tmp');
  await mkdir(parent, { recursive: true });
  const results: Record<string, number> = {};
  for (const writers of opts.concurrency ?? [1, 20]) {
    const dataDir = await mkdtemp(join(parent, 'bench-store-'));
    try {
      const figures = await run(dataDir, total, writers);
      results[`store.deliver.c${writers}.perSecond`] = figures.perSecond;
      results[`store.deliver.c${writers}.commitsPerDelivery`] = figures.commitsPerDelivery;
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  return results;
}

async function run(dataDir: string, total: number, writers: number): Promise<{ perSecond: number; commitsPerDelivery: number }> {
  const store = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  try {
    await store.addDomain('example.org');
    const account = await store.addAccount('bench@example.org', 'h', null);
    const prefix = Buffer.from('Delivered-To: bench@example.org\r\n');
    let next = 0;
    const commitsBefore = store.stats().commits;
    const started = process.hrtime.bigint();
    const writer = async (): Promise<void> => {
      while (next < total) {
        const bytes = sampleMessage(`bench-${next++}`, MESSAGE_SIZE);
        await deliverOne(store, account.id, bytes, prefix);
      }
    };
    await Promise.all(Array.from({ length: writers }, () => writer()));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return {
      perSecond: Math.round(total / seconds),
      commitsPerDelivery: Number(((store.stats().commits - commitsBefore) / total).toFixed(3)),
    };
  } finally {
    await store.close();
  }
}

/** What SMTP delivery does: stream the body to a blob, index it, one store transaction. */
async function deliverOne(store: SqliteMailStore, accountId: number, bytes: Buffer, prefix: Buffer): Promise<void> {
  const writer = store.createBlobWriter();
  for (let at = 0; at < bytes.length; at += 4096) await writer.write(bytes.subarray(at, at + 4096));
  const blob = await writer.finish();
  const [outcome] = await store.deliver(blob, indexMessage(bytes), [{ accountId, prefix }]);
  if (!outcome?.ok) throw new Error(`delivery failed: ${JSON.stringify(outcome)}`);
}
