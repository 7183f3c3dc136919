/**
 * SQLite backend: group commit (many operations, one transaction), savepoint isolation, and
 * SQLITE_BUSY handling without blocking the event loop.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { LocalChangeBus } from '../src/events/local.js';
import { indexMessage } from '../src/mime/indexer.js';
import { sampleMessage } from '../src/store/conformance.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SqliteMailStore, SqliteStoreOptions } from '../src/store/sqlite/index.js';
import type { NewMessage } from '../src/store/types.js';
import { StoreError } from '../src/store/types.js';

interface Fixture {
  store: SqliteMailStore;
  dataDir: string;
  accountId: number;
  inboxId: number;
  close(): Promise<void>;
}

async function fixture(extra: Partial<SqliteStoreOptions> = {}): Promise<Fixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-commit-'));
  const store = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0, ...extra });
  await store.addDomain('example.org');
  const account = await store.addAccount('user@example.org', 'h', null);
  const inbox = await store.getMailbox(account.id, 'INBOX');
  assert.ok(inbox);
  return {
    store,
    dataDir,
    accountId: account.id,
    inboxId: inbox.id,
    close: async () => {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function staged(store: SqliteMailStore, tag: string, keywords: string[] = []): Promise<NewMessage> {
  const bytes = sampleMessage(tag, 10_240);
  const writer = store.createBlobWriter();
  await writer.write(bytes);
  return { blob: await writer.finish(), index: indexMessage(bytes), keywords };
}

test('20 concurrent appends share far fewer than 20 commits', async () => {
  const f = await fixture();
  try {
    const messages = await Promise.all(Array.from({ length: 20 }, (_, i) => staged(f.store, `group-${i}`)));
    const before = f.store.stats();
    const results = await Promise.all(messages.map((m) => f.store.append(f.accountId, f.inboxId, [m])));
    const after = f.store.stats();
    assert.equal(after.operations - before.operations, 20);
    assert.equal(after.commits - before.commits, 1, 'operations queued in one tick go out in one transaction');
    assert.deepEqual(
      results.map((r) => r[0]?.uid),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  } finally {
    await f.close();
  }
});

test('one failing operation in a batch fails alone', async () => {
  const f = await fixture();
  try {
    const good = await Promise.all(Array.from({ length: 5 }, (_, i) => staged(f.store, `ok-${i}`)));
    const bad = await staged(f.store, 'bad', ['not a keyword']);
    const before = f.store.stats().commits;
    const outcomes = await Promise.allSettled([...good.slice(0, 2), bad, ...good.slice(2)].map((m) => f.store.append(f.accountId, f.inboxId, [m])));
    assert.equal(f.store.stats().commits - before, 1);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'],
    );
    const rejected = outcomes[2];
    assert.ok(rejected?.status === 'rejected' && rejected.reason instanceof StoreError && rejected.reason.code === 'invalid');
    const uids = outcomes.flatMap((o) => (o.status === 'fulfilled' ? o.value.map((r) => r.uid) : []));
    assert.deepEqual(uids, [1, 2, 3, 4, 5], 'the failed operation consumed no UID');
    assert.equal((await f.store.getMailbox(f.accountId, 'INBOX'))?.messageCount, 5);
  } finally {
    await f.close();
  }
});

/** Another connection takes the write lock (BEGIN IMMEDIATE) and keeps it for `holdMs`. */
function holdWriteLock(dataDir: string, holdMs: number): { released: Promise<void> } {
  const other = new Database(join(dataDir, 'mailhaven.db'));
  other.exec('BEGIN IMMEDIATE');
  const released = new Promise<void>((resolve) => {
    setTimeout(() => {
      other.exec('COMMIT');
      other.close();
      resolve();
    }, holdMs);
  });
  return { released };
}

test('a locked database makes appends wait without blocking the event loop, then succeed', async () => {
  const f = await fixture();
  try {
    const message = await staged(f.store, 'waits');
    const lock = holdWriteLock(f.dataDir, 2000);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const started = Date.now();
    const [result] = await f.store.append(f.accountId, f.inboxId, [message]);
    const waited = Date.now() - started;
    clearInterval(ticker);
    await lock.released;
    assert.equal(result?.uid, 1);
    assert.ok(waited >= 1900, `append waited ${waited} ms for the lock`);
    assert.ok(ticks >= 100, `timer ticked ${ticks} times while waiting`);
    assert.ok(f.store.stats().busyRetries > 0);
    // Reads are not blocked by another connection's write lock (WAL).
    const reader = holdWriteLock(f.dataDir, 300);
    assert.equal((await f.store.listMessages(f.inboxId)).length, 1);
    await reader.released;
  } finally {
    await f.close();
  }
});

test('past the busy deadline an append fails with StoreError busy, and nothing is stored', async () => {
  const f = await fixture({ busyRetryMs: 200 });
  try {
    const message = await staged(f.store, 'gives-up');
    const lock = holdWriteLock(f.dataDir, 1000);
    const started = Date.now();
    await assert.rejects(f.store.append(f.accountId, f.inboxId, [message]), (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.equal(err.code, 'busy');
      return true;
    });
    const waited = Date.now() - started;
    assert.ok(waited >= 190 && waited < 900, `gave up after ${waited} ms`);
    await lock.released;
    assert.equal((await f.store.getMailbox(f.accountId, 'INBOX'))?.messageCount, 0);
    // The store works again once the lock is gone.
    const [later] = await f.store.append(f.accountId, f.inboxId, [await staged(f.store, 'later')]);
    assert.equal(later?.uid, 1);
  } finally {
    await f.close();
  }
});

test('close() flushes queued writes first', async () => {
  const f = await fixture();
  try {
    const message = await staged(f.store, 'flushed');
    const pending = f.store.append(f.accountId, f.inboxId, [message]);
    const closing = f.store.close();
    const [result] = await pending;
    await closing;
    assert.equal(result?.uid, 1);
    const reopened = await openSqliteStore({ dataDir: f.dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
    try {
      assert.equal((await reopened.getMailbox(f.accountId, 'INBOX'))?.messageCount, 1);
    } finally {
      await reopened.close();
    }
  } finally {
    await f.close();
  }
});

test('durability order: blob fsync, rename, directory fsync, commit, then the promise resolves', async () => {
  const events: string[] = [];
  const f = await fixture({ trace: (event) => events.push(event) });
  try {
    const message = await staged(f.store, 'ordered');
    events.push('staged');
    await f.store.append(f.accountId, f.inboxId, [message]);
    events.push('resolved');
    assert.deepEqual(events.slice(events.indexOf('blobSynced')), ['blobSynced', 'staged', 'blobRenamed', 'dirSynced', 'committed', 'resolved']);
  } finally {
    await f.close();
  }
});
