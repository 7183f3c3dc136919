/**
 * /metrics scraped and parsed as the Prometheus text exposition format, with the series the
 * server promises; the wrappers that count from outside (store latency, connections, failed
 * logins); /healthz with a working and a closed store; and `mailhaven serve` end to end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalChangeBus } from '../src/events/local.js';
import { PrometheusMetrics, instrumentStore, noopMetrics, queueStatsOf } from '../src/metrics/index.js';
import type { Metrics } from '../src/metrics/index.js';
import { indexMessage } from '../src/mime/indexer.js';
import { hasOutboundQueue } from '../src/queue/types.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { StoreError } from '../src/store/types.js';
import { httpRequest } from './helpers/http.js';
import { Pop3TestClient } from './helpers/pop3-client.js';
import { startTestServer } from './helpers/server.js';

// ---- a parser for the text exposition format (version 0.0.4) ---------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
  /** The value of one series (labels must match exactly), or undefined. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE = new RegExp(`^(${METRIC_NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?,?\\})? (\\S+)(?: -?\\d+)?$`);

/** Refuses any line that is not HELP, TYPE or a well-formed sample, and samples of undeclared families. */
function parseExposition(text: string): Scrape {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      const [, kind, name, rest] = comment;
      assert.match(name!, new RegExp(`^${METRIC_NAME}$`));
      if (kind === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest!), line);
        types.set(name!, rest!);
      } else help.set(name!, rest!);
      continue;
    }
    const match = SAMPLE.exec(line);
    assert.ok(match, `not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = match;
    // Values are read as Go's strconv.ParseFloat does, which ignores case in NaN and Inf (the
    // exposition format's definition); prom-client writes an empty summary's mean as "Nan".
    const special = (valueText ?? '').toLowerCase();
    const value = special === '+inf' ? Infinity : special === '-inf' ? -Infinity : special === 'nan' ? NaN : Number(valueText);
    assert.ok(!Number.isNaN(value) || special === 'nan', line);
    const labels: Record<string, string> = {};
    for (const pair of (labelText ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    const family = name!.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(name!) || types.has(family), `sample of an undeclared family: ${name}`);
    samples.push({ name: name!, labels, value });
  }
  return {
    types,
    help,
    samples,
    value(name, labels = {}) {
      const wanted = JSON.stringify(Object.entries(labels).sort());
      return samples.find((sample) => sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted)?.value;
    },
  };
}

async function scrape(port: number): Promise<Scrape> {
  const response = await httpRequest(port, '/metrics');
  assert.equal(response.status, 200);
  assert.equal(response.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(response.body);
}

// ---- /metrics on a running server ------------------------------------------------------

test('/metrics: every promised series, typed, parsed; requests and connections are counted', async (t) => {
  const server = await startTestServer(t, { listeners: ['http'] });
  const port = server.port('http');
  const first = await scrape(port);
  const families: Array<[string, string]> = [
    ['mailhaven_connections_total', 'counter'],
    ['mailhaven_connections_open', 'gauge'],
    ['mailhaven_connections_refused_total', 'counter'],
    ['mailhaven_commands_total', 'counter'],
    ['mailhaven_smtp_deliveries_total', 'counter'],
    ['mailhaven_smtp_rejections_total', 'counter'],
    ['mailhaven_auth_failures_total', 'counter'],
    ['mailhaven_queue_messages', 'gauge'],
    ['mailhaven_queue_oldest_age_seconds', 'gauge'],
    ['mailhaven_store_operation_duration_seconds', 'histogram'],
    ['mailhaven_store_errors_total', 'counter'],
    ['mailhaven_http_requests_total', 'counter'],
    ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
    ['nodejs_eventloop_lag_seconds', 'gauge'],
    ['process_resident_memory_bytes', 'gauge'],
    ['nodejs_heap_size_used_bytes', 'gauge'],
  ];
  for (const [name, type] of families) {
    assert.equal(first.types.get(name), type, name);
    assert.ok((first.help.get(name) ?? '').length > 0, `HELP for ${name}`);
  }
  assert.equal(first.value('mailhaven_queue_messages'), 0);
  assert.equal(first.value('mailhaven_queue_oldest_age_seconds'), 0);
  assert.ok((first.value('process_resident_memory_bytes') ?? 0) > 10_000_000);
  // The scrape's own connection is open while it is answered.
  assert.equal(first.value('mailhaven_connections_total', { listener: 'http' }), 1);
  assert.equal(first.value('mailhaven_connections_open', { listener: 'http' }), 1);

  await httpRequest(port, '/api/domains'); // 401
  await httpRequest(port, '/nothing'); // 404
  const second = await scrape(port);
  assert.equal(second.value('mailhaven_http_requests_total', { route: 'metrics', status: '200' }), 1);
  assert.equal(second.value('mailhaven_http_requests_total', { route: 'GET /api/domains', status: '401' }), 1);
  assert.equal(second.value('mailhaven_http_requests_total', { route: 'unmatched', status: '404' }), 1);
  assert.equal(second.value('mailhaven_auth_failures_total', { protocol: 'http' }), 1);
  assert.equal(second.value('mailhaven_connections_total', { listener: 'http' }), 4);
  // Closed connections are no longer open (each request used its own connection).
  assert.equal(second.value('mailhaven_connections_open', { listener: 'http' }), 1);
});

test('failed logins are counted per protocol through the shared throttle', async (t) => {
  const server = await startTestServer(t, { listeners: ['http', 'pop3'], toml: '[auth]\nallow_plaintext_on_loopback = true' });
  await server.addDomain('example.org');
  await server.addUser('alice@example.org', 'correct horse battery');
  const { client } = await Pop3TestClient.connect(server.port('pop3'));
  assert.match(await client.command('USER alice@example.org'), /^\+OK/);
  assert.match(await client.command('PASS wrong password'), /^-ERR/);
  assert.match(await client.command('QUIT'), /^\+OK/);
  const metrics = await scrape(server.port('http'));
  assert.equal(metrics.value('mailhaven_auth_failures_total', { protocol: 'pop3' }), 1);
  assert.equal(metrics.value('mailhaven_connections_total', { listener: 'pop3' }), 1);
});

test('the queue gauges come from the store: count and age of the oldest entry', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-metrics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openSqliteStore({ dataDir: dir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(() => store.close());
  const bytes = Buffer.from('Subject: q\r\n\r\nbody\r\n');
  const writer = store.createBlobWriter();
  await writer.write(bytes);
  const recipient = { address: 'c@remote.example', kind: 'remote' as const, notify: null, orcpt: null };
  const envelope = { sender: 'a@example.org', recipients: [recipient], ret: null, envid: null, body: null, smtputf8: false, submitter: null, clientAddress: '192.0.2.1' };
  await store.deliverAndEnqueue(await writer.finish(), indexMessage(bytes), [], envelope);
  const created = (await store.listQueue())[0]!.createdAt.getTime();
  const stats = queueStatsOf(store, () => created + 90_000);
  assert.deepEqual(await stats(), { messages: 1, oldestAgeSeconds: 90 });
  assert.deepEqual(await queueStatsOf({})(), { messages: 0, oldestAgeSeconds: 0 });

  const metrics = new PrometheusMetrics({ queueStats: stats, processMetrics: false });
  const parsed = parseExposition(await metrics.render());
  assert.equal(parsed.value('mailhaven_queue_messages'), 1);
  assert.equal(parsed.value('mailhaven_queue_oldest_age_seconds'), 90);
  const failing = new PrometheusMetrics({ queueStats: () => Promise.reject(new Error('down')), processMetrics: false });
  assert.equal(parseExposition(await failing.render()).value('mailhaven_queue_messages'), 0);
});

test('the queue gauges use the store\'s queueSummary when it has one (no entries read, no 10,000 cap)', async () => {
  const oldest = new Date(1_700_000_000_000);
  let listed = 0;
  const store = {
    deliverAndEnqueue: () => Promise.reject(new Error('not used')),
    listQueue: () => {
      listed++;
      return Promise.resolve([]);
    },
    queueSummary: () => Promise.resolve({ entries: 25_000, oldestCreatedAt: oldest }),
  };
  assert.deepEqual(await queueStatsOf(store, () => oldest.getTime() + 30_000)(), { messages: 25_000, oldestAgeSeconds: 30 });
  assert.equal(listed, 0);
  const empty = { ...store, queueSummary: () => Promise.resolve({ entries: 0, oldestCreatedAt: null }) };
  assert.deepEqual(await queueStatsOf(empty)(), { messages: 0, oldestAgeSeconds: 0 });
});

// ---- the metrics module ----------------------------------------------------------------

test('commands: names normalised, junk is UNKNOWN, past 100 names OTHER; SMTP counters', async () => {
  const metrics = new PrometheusMetrics({ processMetrics: false });
  metrics.command('imap', 'fetch', 'ok');
  metrics.command('imap', 'FETCH', 'ok');
  metrics.command('imap', 'UID FETCH', 'no');
  metrics.command('smtp', 'RCPT', 'permfail');
  metrics.command('smtp', '<script>', 'bad');
  for (let i = 0; i < 120; i++) metrics.command('pop3', `X${i}`, 'no');
  metrics.smtpDelivered('local', 3);
  metrics.smtpDelivered('queued', 0);
  metrics.smtpRejected('unknownRecipient');
  metrics.smtpRejected('unknownRecipient');
  metrics.connectionRefused('smtp');
  const parsed = parseExposition(await metrics.render());
  assert.equal(parsed.value('mailhaven_commands_total', { protocol: 'imap', command: 'FETCH', result: 'ok' }), 2);
  assert.equal(parsed.value('mailhaven_commands_total', { protocol: 'imap', command: 'UID FETCH', result: 'no' }), 1);
  assert.equal(parsed.value('mailhaven_commands_total', { protocol: 'smtp', command: 'RCPT', result: 'permfail' }), 1);
  assert.equal(parsed.value('mailhaven_commands_total', { protocol: 'smtp', command: 'UNKNOWN', result: 'bad' }), 1);
  assert.equal(parsed.value('mailhaven_commands_total', { protocol: 'pop3', command: 'X99', result: 'no' }), 1);
  assert.equal(parsed.value('mailhaven_commands_total', { protocol: 'pop3', command: 'OTHER', result: 'no' }), 20);
  assert.equal(parsed.value('mailhaven_smtp_deliveries_total', { kind: 'local' }), 3);
  assert.equal(parsed.value('mailhaven_smtp_deliveries_total', { kind: 'queued' }), undefined);
  assert.equal(parsed.value('mailhaven_smtp_rejections_total', { reason: 'unknownRecipient' }), 2);
  assert.equal(parsed.value('mailhaven_connections_refused_total', { listener: 'smtp' }), 1);
  // Two registries never share counters.
  assert.equal(parseExposition(await new PrometheusMetrics({ processMetrics: false }).render()).value('mailhaven_smtp_deliveries_total', { kind: 'local' }), undefined);
  // The no-op implementation accepts every call.
  const noop: Metrics = noopMetrics;
  noop.command('imap', 'NOOP', 'ok');
  noop.storeOperation('getDomain', 0.001, false);
});

test('instrumentStore times every async store call and counts failures; capabilities survive the wrapper', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-metrics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const metrics = new PrometheusMetrics({ processMetrics: false });
  const store = instrumentStore(await openSqliteStore({ dataDir: dir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 }), metrics);
  t.after(() => store.close());
  await store.addDomain('example.org');
  await store.getDomain('example.org');
  await store.getDomain('other.example');
  await assert.rejects(store.deleteDomain('nowhere.example'), StoreError);
  assert.ok(hasOutboundQueue(store));
  const writer = store.createBlobWriter(); // synchronous: passes through untimed
  await writer.abort();
  const parsed = parseExposition(await metrics.render());
  assert.equal(parsed.value('mailhaven_store_operation_duration_seconds_count', { operation: 'getDomain' }), 2);
  assert.equal(parsed.value('mailhaven_store_operation_duration_seconds_count', { operation: 'addDomain' }), 1);
  assert.equal(parsed.value('mailhaven_store_operation_duration_seconds_count', { operation: 'deleteDomain' }), 1);
  assert.equal(parsed.value('mailhaven_store_errors_total', { operation: 'deleteDomain' }), 1);
  assert.equal(parsed.value('mailhaven_store_errors_total', { operation: 'getDomain' }), undefined);
  assert.equal(parsed.value('mailhaven_store_operation_duration_seconds_count', { operation: 'createBlobWriter' }), undefined);
  assert.equal(parsed.value('mailhaven_store_operation_duration_seconds_bucket', { operation: 'getDomain', le: '+Inf' }), 2);
});

// ---- /healthz --------------------------------------------------------------------------

test('/healthz: 200 while the store answers, 503 with the reason once it does not', async (t) => {
  const server = await startTestServer(t, { listeners: ['http'] });
  const port = server.port('http');
  const healthy = await httpRequest(port, '/healthz');
  assert.deepEqual([healthy.status, JSON.parse(healthy.body)], [200, { status: 'ok', store: 'ok' }]);
  assert.equal((await httpRequest(port, '/healthz', { method: 'HEAD' })).body, '');
  await server.store.close();
  const sick = await httpRequest(port, '/healthz');
  assert.deepEqual([sick.status, JSON.parse(sick.body)], [503, { status: 'unavailable', store: 'the store is closed' }]);
});

// ---- mailhaven serve -------------------------------------------------------------------

test('mailhaven serve: /metrics shows store latency from the composition root, /healthz answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-metrics-serve-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'mailhaven.toml');
  const listeners = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s'].map((name) => `${name} = []`);
  writeFileSync(configFile, ['hostname = "metrics.test"', 'data_dir = "data"', '[listen]', ...listeners, 'http = ["127.0.0.1:0"]', ''].join('\n'));
  const main = resolve(import.meta.dirname, '..', 'src', 'main.ts');
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), main, 'serve', '--config', configFile], { cwd: dir, env: { ...process.env, MAILHAVEN_CONFIG: '' } });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    let pending = '';
    const timer = setTimeout(() => reject(new Error('no listening line within 30 s')), 30_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      for (const line of pending.split('\n').slice(0, -1)) {
        const entry = JSON.parse(line) as { msg?: string; listener?: string; port?: number };
        if (entry.msg === 'listening' && entry.listener === 'http' && entry.port !== undefined) {
          clearTimeout(timer);
          resolvePort(entry.port);
        }
      }
      pending = pending.slice(pending.lastIndexOf('\n') + 1);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  assert.equal((await httpRequest(port, '/healthz')).status, 200);
  const parsed = await scrape(port);
  assert.ok((parsed.value('mailhaven_store_operation_duration_seconds_count', { operation: 'recover' }) ?? 0) >= 1);
  assert.ok((parsed.value('mailhaven_store_operation_duration_seconds_count', { operation: 'getDomain' }) ?? 0) >= 1);
  assert.equal(parsed.value('mailhaven_queue_messages'), 0);
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
});
