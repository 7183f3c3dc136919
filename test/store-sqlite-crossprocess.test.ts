/**
 * Changes committed through another connection (the CLI is another process) reach this store's
 * bus: PRAGMA data_version polling turns them into wake-ups within about a second.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { WakeUp } from '../src/events/types.js';
import { LocalChangeBus } from '../src/events/local.js';
import { indexMessage } from '../src/mime/indexer.js';
import { sampleMessage } from '../src/store/conformance.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SqliteMailStore } from '../src/store/sqlite/index.js';

const CHILD = fileURLToPath(new URL('./helpers/store-append-child.ts', import.meta.url));

async function appendOne(store: SqliteMailStore, accountId: number, mailboxId: number, tag: string): Promise<{ uid: number; modseq: number }> {
  const bytes = sampleMessage(tag);
  const writer = store.createBlobWriter();
  await writer.write(bytes);
  const [result] = await store.append(accountId, mailboxId, [{ blob: await writer.finish(), index: indexMessage(bytes) }]);
  assert.ok(result);
  return result;
}

function nextWake(bus: LocalChangeBus, accountId: number, timeoutMs: number): Promise<WakeUp & { afterMs: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no wake-up within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = bus.subscribe(accountId, (wake) => {
      clearTimeout(timer);
      unsubscribe();
      resolve({ ...wake, afterMs: Date.now() - started });
    });
  });
}

test('a second store instance on the same data dir wakes the first one up', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-xproc-'));
  const busA = new LocalChangeBus();
  const a = await openSqliteStore({ dataDir, bus: busA, pollIntervalMs: 50, sweepIntervalMs: 0 });
  const b = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  try {
    await a.addDomain('example.org');
    const account = await a.addAccount('user@example.org', 'h', null);
    const inbox = await a.getMailbox(account.id, 'INBOX');
    assert.ok(inbox);
    const ownWakeUps = a.stats().wakeUps;

    const woken = nextWake(busA, account.id, 1000);
    const written = await appendOne(b, account.id, inbox.id, 'from-b');
    const wake = await woken;
    assert.equal(wake.accountId, account.id);
    assert.equal(wake.modseq, written.modseq);
    const changes = await a.changesSince(account.id, written.modseq - 1);
    assert.deepEqual(changes.changes, [{ kind: 'added', modseq: written.modseq, mailboxId: inbox.id, uid: written.uid }]);

    // A's own commits are published once, at commit time; the poll does not repeat them.
    await appendOne(a, account.id, inbox.id, 'from-a');
    const afterOwn = a.stats().wakeUps;
    assert.equal(afterOwn, ownWakeUps + 2);
    await appendOne(b, account.id, inbox.id, 'from-b-again');
    assert.equal(await a.pollForeignChanges(), 1);
    assert.equal(a.stats().wakeUps, afterOwn + 1);
    assert.equal(await a.pollForeignChanges(), 0, 'nothing new, nothing published');
  } finally {
    await b.close();
    await a.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('appends of another process wake this one up within a second', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-xproc-'));
  const bus = new LocalChangeBus();
  const store = await openSqliteStore({ dataDir, bus, sweepIntervalMs: 0 });
  try {
    await store.addDomain('example.org');
    const account = await store.addAccount('user@example.org', 'h', null);
    const inbox = await store.getMailbox(account.id, 'INBOX');
    assert.ok(inbox);
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, String(account.id), String(inbox.id)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      const firstAck = new Promise<number>((resolve) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          if (line.startsWith('ACK ')) resolve(Date.now());
        });
      });
      const wake = nextWake(bus, account.id, 15_000);
      const ackAt = await firstAck;
      const woken = await wake;
      const latency = Date.now() - ackAt;
      assert.ok(latency < 1000, `wake-up ${latency} ms after the other process's commit`);
      assert.ok(woken.modseq > 1);
      const changes = await store.changesSince(account.id, woken.modseq - 1);
      assert.ok(changes.changes.some((c) => c.kind === 'added'));
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  } finally {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('two store instances appending at once both succeed, with unique UIDs and exact counters', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-xproc-'));
  const a = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  const b = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  try {
    await a.addDomain('example.org');
    const account = await a.addAccount('user@example.org', 'h', null);
    const inbox = await a.getMailbox(account.id, 'INBOX');
    assert.ok(inbox);
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => appendOne(i % 2 === 0 ? a : b, account.id, inbox.id, `both-${i}`)),
    );
    assert.deepEqual(
      results.map((r) => r.uid).sort((x, y) => x - y),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    assert.equal(new Set(results.map((r) => r.modseq)).size, 60);
    const box = await b.getMailbox(account.id, 'INBOX');
    assert.equal(box?.messageCount, 60);
    assert.equal((await a.getAccount('user@example.org'))?.usedMessages, 60);
  } finally {
    await b.close();
    await a.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
