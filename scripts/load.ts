/**
 * `npm run test:load`: the heavy resource-exhaustion figures of issue #6, not part of npm test.
 *
 * 1. IDLE fan-out: N concurrent IMAP connections (default 10,000; LOAD_CONNECTIONS) log in,
 *    SELECT INBOX and IDLE on one mailbox; then one message is delivered. Reports the server's
 *    memory per connection and how long each connection waited for its EXISTS (goal: all within
 *    2 s). The count is capped by the open-files limit (`ulimit -n`) of this process, which
 *    holds the server's end of every connection; the clients run in a child process.
 * 2. Event-loop probe: a mailbox of 100,000 messages (LOAD_MESSAGES) seeded through the store API;
 *    one client runs SEARCH BODY over it while 50 clients log in over and over (argon2id with
 *    the production parameters) and a NOOP client measures round trips (goal: p99 < 100 ms).
 *
 * The server runs in this process (SQLite store, 127.0.0.1 ephemeral ports) with its data dir on
 * /dev/shm when it exists, so the figures are about the server, not the disk's fsync latency.
 * Exit code 1 when a goal is missed. Prints one JSON object with every figure at the end.
 */
import { fork, execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { hash } from '@node-rs/argon2';
import type { Algorithm } from '@node-rs/argon2';
import { hashPassword } from '../src/auth/password.js';
import { indexMessage } from '../src/mime/indexer.js';
import type { NewMessage } from '../src/store/types.js';
import { SystemFlag } from '../src/store/types.js';
import { startTestServer } from '../test/helpers/server.js';
import type { TestServer } from '../test/helpers/server.js';

if (existsSync('/dev/shm')) process.env['TMPDIR'] = '/dev/shm';

const TARGET_CONNECTIONS = Number(process.env['LOAD_CONNECTIONS'] ?? 10_000);
const MESSAGES = Number(process.env['LOAD_MESSAGES'] ?? 100_000);
const PASSWORD = 'load-test-password';
const IDLE_USER = 'idle@load.test';
const SEARCH_USER = 'search@load.test';
const HASH_USER = 'hash@load.test';
const CLIENTS = new URL('./load-clients.ts', import.meta.url).pathname;

const figures: Record<string, unknown> = {};
const cleanups: Array<() => unknown> = [];
/** startTestServer wants a TestContext only for t.after(). */
const context = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as TestContext;

function log(message: string): void {
  process.stderr.write(`[load] ${message}\n`);
}

function openFilesLimit(): number {
  try {
    return Number(execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim()) || 1024;
  } catch {
    return 1024;
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (value: number): number => Math.round(value * 10) / 10;

function settle(): void {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
}

function memory(): { rss: number; heapUsed: number; external: number } {
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external + usage.arrayBuffers };
}

type ChildMessage = Record<string, unknown>;

function startClients(args: string[]): { next: (key: string) => Promise<ChildMessage>; send: (m: unknown) => void; exited: Promise<number> } {
  const child = fork(CLIENTS, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const inbox: ChildMessage[] = [];
  let wake: (() => void) | null = null;
  child.on('message', (m) => {
    const message = m as ChildMessage;
    if ('progress' in message) return log(`clients connected: ${String(message['progress'])}`);
    inbox.push(message);
    wake?.();
  });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  void exited.then(() => wake?.());
  return {
    async next(key) {
      for (;;) {
        const index = inbox.findIndex((m) => key in m || 'error' in m);
        if (index >= 0) {
          const [message] = inbox.splice(index, 1);
          if ('error' in message!) throw new Error(`client process: ${String(message['error'])}`);
          return message!;
        }
        if (child.exitCode !== null) throw new Error(`client process exited (${child.exitCode}) before "${key}"`);
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    send: (m) => child.send(m as never),
    exited,
  };
}

async function deliverOne(server: TestServer, address: string, subject: string): Promise<void> {
  const account = await server.store.getAccount(address);
  if (account === null) throw new Error(`no account ${address}`);
  const bytes = Buffer.from(`From: a@load.test\r\nTo: ${address}\r\nSubject: ${subject}\r\n\r\nhello\r\n`);
  const writer = server.store.createBlobWriter();
  await writer.write(bytes);
  const [outcome] = await server.store.deliver(await writer.finish(), indexMessage(bytes), [{ accountId: account.id }]);
  if (outcome === undefined || !outcome.ok) throw new Error('delivery failed');
}

async function idlePhase(server: TestServer): Promise<boolean> {
  const limit = openFilesLimit();
  // This process holds the server's end of every connection plus the store's files.
  const count = Math.min(TARGET_CONNECTIONS, limit - 500);
  figures['openFilesLimit'] = limit;
  figures['idleConnectionsTarget'] = TARGET_CONNECTIONS;
  figures['idleConnections'] = count;
  if (count < TARGET_CONNECTIONS) log(`ulimit -n is ${limit}: running ${count} connections instead of ${TARGET_CONNECTIONS}`);
  await deliverOne(server, IDLE_USER, 'first');
  settle();
  const before = memory();
  const started = Date.now();
  const clients = startClients(['idle', String(server.port('imap')), String(count), IDLE_USER, PASSWORD]);
  const ready = await clients.next('ready');
  figures['idleSetupSeconds'] = round((Date.now() - started) / 1000);
  figures['idleReady'] = ready['ready'];
  figures['idleSetupFailures'] = ready['failed'];
  if (Number(ready['failed']) > 0) figures['idleFirstFailure'] = ready['firstError'];
  settle();
  const after = memory();
  const connected = Number(ready['ready']);
  figures['memoryPerConnectionKiB'] = {
    rss: round((after.rss - before.rss) / connected / 1024),
    heapUsed: round((after.heapUsed - before.heapUsed) / connected / 1024),
    external: round((after.external - before.external) / connected / 1024),
  };
  figures['serverRssMiB'] = round(after.rss / 1048576);
  log(`${connected} connections idling; delivering one message`);
  clients.send({ deliverAt: Date.now() });
  await deliverOne(server, IDLE_USER, 'wake up');
  const { delays } = (await clients.next('delays')) as { delays: number[] };
  const received = delays.filter((d) => d >= 0);
  figures['existsReceived'] = received.length;
  figures['existsWithin2s'] = received.filter((d) => d <= 2000).length;
  figures['existsDelayMs'] = { p50: percentile(received, 50), p99: percentile(received, 99), max: Math.max(...received) };
  await clients.exited;
  return connected === count && figures['existsWithin2s'] === connected;
}

async function seed(server: TestServer, address: string, total: number): Promise<void> {
  const account = await server.store.getAccount(address);
  const inbox = account === null ? null : await server.store.getMailbox(account.id, 'INBOX');
  if (account === null || inbox === null) throw new Error(`no INBOX for ${address}`);
  const started = Date.now();
  const batch = 1000;
  for (let at = 0; at < total; at += batch) {
    const messages: NewMessage[] = [];
    for (let i = at; i < Math.min(total, at + batch); i++) {
      const body = i % 1000 === 7 ? 'the needle is here\r\n' : `message ${i} says nothing in particular, line after line\r\n`.repeat(20);
      const bytes = Buffer.from(`From: s${i % 97}@load.test\r\nTo: ${address}\r\nSubject: seed ${i}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n${body}`);
      const writer = server.store.createBlobWriter();
      await writer.write(bytes);
      messages.push({ blob: await writer.finish(), index: indexMessage(bytes), flags: SystemFlag.Seen });
    }
    await server.store.append(account.id, inbox.id, messages);
    if ((at / batch) % 10 === 0) log(`seeded ${at + messages.length} messages`);
  }
  figures['seedSeconds'] = round((Date.now() - started) / 1000);
}

async function probePhase(server: TestServer): Promise<boolean> {
  await seed(server, SEARCH_USER, MESSAGES);
  figures['searchMessages'] = MESSAGES;
  const clients = startClients(['probe', String(server.port('imap')), IDLE_USER, PASSWORD, SEARCH_USER, HASH_USER, PASSWORD]);
  const result = (await clients.next('during')) as { baseline: number[]; during: number[]; search: { ms: number; answer: string; matches: number | null }; logins: number; loginFailures: number };
  await clients.exited;
  const p99 = percentile(result.during, 99);
  figures['noopBaselineMs'] = { p50: round(percentile(result.baseline, 50)), p99: round(percentile(result.baseline, 99)) };
  figures['noopDuringMs'] = { samples: result.during.length, p50: round(percentile(result.during, 50)), p99: round(p99), max: round(Math.max(...result.during)) };
  figures['search'] = result.search;
  figures['loginsDuringSearch'] = result.logins;
  figures['loginFailures'] = result.loginFailures;
  return p99 < 100 && /OK/.test(result.search.answer);
}

async function main(): Promise<number> {
  const limit = openFilesLimit();
  const server = await startTestServer(context, {
    listeners: ['imap'],
    toml: [
      '[auth]',
      'allow_plaintext_on_loopback = true',
      '[limits]',
      `connections = ${limit + 1000}`,
      `connections_per_ip = ${limit + 1000}`,
      `sessions_per_account = ${limit + 1000}`,
      'imap_idle_timeout = "1h"',
      'command_timeout = "10m"',
    ].join('\n'),
  });
  await server.addDomain('load.test');
  // The IDLE and search accounts get a cheap argon2id hash (10,000 logins would otherwise take
  // minutes of hashing); the login load of the probe uses the production parameters.
  const cheap = await hash(PASSWORD, { algorithm: 2 as Algorithm, memoryCost: 64, timeCost: 1, parallelism: 1 });
  await server.store.addAccount(IDLE_USER, cheap, null);
  await server.store.addAccount(SEARCH_USER, cheap, null);
  await server.store.addAccount(HASH_USER, await hashPassword(PASSWORD), null);
  let ok = true;
  try {
    log(`phase 1: IDLE fan-out (${TARGET_CONNECTIONS} connections requested)`);
    ok = (await idlePhase(server)) && ok;
    log(`phase 2: event-loop probe over ${MESSAGES} messages`);
    ok = (await probePhase(server)) && ok;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
  figures['ok'] = ok;
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    process.exit(2);
  },
);
