/**
 * Import benchmark: `importMessages` of a generated 10,000-message mbox (about 4 KiB a message,
 * LF line endings, so every message is converted to CRLF) into a fresh SQLite store with fsync on,
 * in a temp dir on the repository's disk (`<cwd>/.tmp`, as bench/store.ts: os.tmpdir() may be a
 * RAM disk). Measures the whole pipeline: read, split, index, stage blobs, batched commits, journal.
 * Prints nothing; returns figures.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { LocalChangeBus } from '../src/events/local.js';
import { importMessages } from '../src/import/importer.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';

export interface BenchImportOptions {
  /** Messages in the mbox; default 10,000. */
  messages?: number;
  /** Parent directory of the temp folder; default `<cwd>/.tmp`. */
  dir?: string;
}

export async function benchImport(opts: BenchImportOptions = {}): Promise<{ messagesPerSecond: number; mibPerSecond: number }> {
  const total = opts.messages ?? 10_000;
  const parent = opts.dir ?? join(process.cwd(), '.tmp');
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'bench-import-'));
  try {
    const mbox = join(dir, 'bench.mbox');
    const bytes = await writeMbox(mbox, total);
    const dataDir = join(dir, 'data');
    const store = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
    try {
      await store.addDomain('bench.example');
      const account = await store.addAccount('bench@bench.example', '$argon2id$bench', null);
      const started = process.hrtime.bigint();
      const summary = await importMessages({ store, dataDir, account, source: { kind: 'mbox', path: mbox } });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (summary.messages !== total) throw new Error(`imported ${summary.messages} of ${total} messages`);
      return { messagesPerSecond: total / seconds, mibPerSecond: bytes / 2 ** 20 / seconds };
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `total` varied messages (some with >From lines and Status headers); returns the file size. */
async function writeMbox(path: string, total: number): Promise<number> {
  const out = createWriteStream(path);
  let size = 0;
  for (let i = 0; i < total; i++) {
    const lines = 40 + (i % 41); // 40..80 lines of ~70 octets: 3 to 6 KiB
    const body: string[] = [];
    for (let line = 0; line < lines; line++) body.push(`${line} of ${i}: The quick brown fox jumps over the lazy dog, again and again.`);
    if (i % 10 === 0) body.push('>From a quoted line');
    const text = [
      `From sender${i % 97}@example.net Mon Jan  1 10:${String(i % 60).padStart(2, '0')}:00 2024`,
      `From: Sender ${i % 97} <sender${i % 97}@example.net>`,
      'To: bench@bench.example',
      `Subject: Benchmark message ${i}`,
      'Date: Mon, 1 Jan 2024 10:00:00 +0000',
      `Message-ID: <${i}@bench.example>`,
      ...(i % 3 === 0 ? ['Status: RO'] : []),
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      ...body,
      '',
      '',
    ].join('\n');
    size += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return size;
}
