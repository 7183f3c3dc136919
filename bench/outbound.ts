/**
 * `npm run bench -- outbound`: messages per second delivered from the outbound queue to Postfix's
 * smtp-sink (a discard server), 10,000 messages of 10 KiB to 100 domains, through the real
 * worker and SMTP transport ([[routes]] domain = "*" to the sink; defaults for concurrency: 20
 * overall, 4 per domain). Beside it: smtp-source's direct rate into the same sink with 20
 * sessions, the protocol ceiling on this machine. The queue is filled before the clock starts;
 * the time runs until the queue is empty (every recipient recorded, every entry removed).
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config/load.js';
import { LocalChangeBus } from '../src/events/local.js';
import { createLogger } from '../src/log/index.js';
import { indexMessage } from '../src/mime/indexer.js';
import { createOutboundTransport } from '../src/queue/transport-impl.js';
import { QueueWorker, queueSettings } from '../src/queue/worker.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { freePort, waitForPort } from './ports.js';

const SINK = '/usr/sbin/smtp-sink';
const SOURCE = '/usr/sbin/smtp-source';

export interface OutboundBenchOptions {
  messages?: number;
  domains?: number;
  size?: number;
}

export async function benchOutbound(options: OutboundBenchOptions = {}): Promise<Record<string, number>> {
  const messages = options.messages ?? 10_000;
  const domains = options.domains ?? 100;
  const size = options.size ?? 10 * 1024;
  if (!existsSync(SINK)) {
    console.log(`# outbound: ${SINK} missing (install postfix, or run ../shared/refstack/start.sh); skipped`);
    return {};
  }
  const port = await freePort();
  // smtp-sink refuses to run as root without a user to switch to.
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const sink: ChildProcess = spawn(SINK, [...user, '-c', `127.0.0.1:${port}`, '1000'], { stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-bench-outbound-'));
  try {
    await waitForPort(port);
    const queueRate = await queueToSink(dir, port, messages, domains, size);
    const sourceRate = existsSync(SOURCE) ? await smtpSource(port, messages, size) : 0;
    return { 'queue_to_sink_msgs_per_s': queueRate, 'smtp_source_to_sink_msgs_per_s': sourceRate };
  } finally {
    sink.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function queueToSink(dir: string, port: number, messages: number, domains: number, size: number): Promise<number> {
  const file = join(dir, 'mailhaven.toml');
  writeFileSync(file, `hostname = "bench.example"\ndata_dir = "data"\n[outbound]\nmta_sts = false\n[[routes]]\ndomain = "*"\nhost = "127.0.0.1:${port}"\ntls = "none"\n`);
  const config = loadConfig({ configPath: file, env: {}, cwd: dir });
  const logger = createLogger({ level: 'warn' });
  const bus = new LocalChangeBus();
  const store = await openSqliteStore({ dataDir: config.dataDir, bus, pollIntervalMs: 0, sweepIntervalMs: 0 });
  try {
    // Fill the queue (not timed): batches of concurrent enqueues share group commits.
    for (let start = 0; start < messages; start += 500) {
      const batch: Array<Promise<unknown>> = [];
      for (let i = start; i < Math.min(start + 500, messages); i++) batch.push(enqueue(store, i, domains, size));
      await Promise.all(batch);
    }
    const worker = new QueueWorker({ store, transport: createOutboundTransport(config, logger), settings: queueSettings(config), logger, signer: null });
    const commitsBefore = store.stats().commits;
    const started = process.hrtime.bigint();
    worker.start();
    while ((await store.queueSummary()).entries > 0) await sleep(20);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(`# outbound: ${messages} delivered in ${seconds.toFixed(1)} s, ${store.stats().commits - commitsBefore} store commits`);
    const stats = worker.stats();
    await worker.stop();
    if (stats.delivered !== messages) console.log(`# outbound: ${stats.delivered} of ${messages} delivered (${stats.failed} failed, ${stats.deferred} deferred)`);
    return Math.round(messages / seconds);
  } finally {
    await store.close();
    await bus.close();
  }
}

async function enqueue(store: Awaited<ReturnType<typeof openSqliteStore>>, i: number, domains: number, size: number): Promise<void> {
  const head = `From: sender@bench.example\r\nTo: user${i}@domain${i % domains}.example\r\nSubject: outbound ${i}\r\nMessage-ID: <${i}@bench.example>\r\n\r\n`;
  const line = 'The quick brown fox jumps over the lazy dog, again and again.\r\n';
  const body = line.repeat(Math.max(1, Math.ceil((size - head.length) / line.length)));
  const bytes = Buffer.from(head + body);
  const writer = store.createBlobWriter();
  await writer.write(bytes);
  await store.deliverAndEnqueue(await writer.finish(), indexMessage(bytes), [], {
    sender: 'sender@bench.example',
    recipients: [{ address: `user${i}@domain${i % domains}.example`, kind: 'remote', notify: null, orcpt: null }],
    ret: null,
    envid: null,
    body: '7BIT',
    smtputf8: false,
    submitter: 'sender@bench.example',
    clientAddress: '127.0.0.1',
  });
}

/** smtp-source with 20 sessions straight into the sink: messages per second. */
async function smtpSource(port: number, messages: number, size: number): Promise<number> {
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(SOURCE, ['-s', '20', '-m', String(messages), '-l', String(size), '-f', 'sender@bench.example', '-t', 'user@domain0.example', `127.0.0.1:${port}`], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`smtp-source exited with ${code}`))));
  });
  return Math.round(messages / (Number(process.hrtime.bigint() - started) / 1e9));
}

