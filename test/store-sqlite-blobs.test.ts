/**
 * SQLite backend, files side: blob layout, one file for identical bytes, garbage collection with
 * its grace period, recovery of temp files and orphans, and schema versioning.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { LocalChangeBus } from '../src/events/local.js';
import { indexMessage } from '../src/mime/indexer.js';
import { FileBlobStore } from '../src/store/blobs/files.js';
import { sampleMessage } from '../src/store/conformance.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SqliteMailStore, SqliteStoreOptions } from '../src/store/sqlite/index.js';
import { SCHEMA_VERSION } from '../src/store/sqlite/schema.js';
import { StoreError } from '../src/store/types.js';

const HOUR = 3_600_000;

async function withStore(
  extra: Partial<SqliteStoreOptions>,
  body: (store: SqliteMailStore, ids: { accountId: number; inboxId: number; dataDir: string }) => Promise<void>,
): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-blobs-'));
  const store = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0, ...extra });
  try {
    await store.addDomain('example.org');
    const account = await store.addAccount('user@example.org', 'h', null);
    const inbox = await store.getMailbox(account.id, 'INBOX');
    assert.ok(inbox);
    await body(store, { accountId: account.id, inboxId: inbox.id, dataDir });
  } finally {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function appendBytes(store: SqliteMailStore, accountId: number, mailboxId: number, bytes: Buffer): Promise<number> {
  const writer = store.createBlobWriter();
  await writer.write(bytes);
  const [result] = await store.append(accountId, mailboxId, [{ blob: await writer.finish(), index: indexMessage(bytes) }]);
  return result?.uid ?? 0;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function blobFiles(store: SqliteMailStore): Promise<string[]> {
  const files: string[] = [];
  for (const dir of await readdir(store.blobDirectory)) {
    for (const name of await readdir(join(store.blobDirectory, dir))) files.push(`${dir}/${name}`);
  }
  return files.sort();
}

async function makeOld(path: string): Promise<void> {
  const old = (Date.now() - 2 * HOUR) / 1000;
  await utimes(path, old, old);
}

test('identical bytes are one file named by their SHA-256, removed when the last copy goes', async () => {
  await withStore({ blobGraceMs: 0 }, async (store, { accountId, inboxId, dataDir }) => {
    const bytes = sampleMessage('dedup', 5000);
    const hash = sha256(bytes);
    await appendBytes(store, accountId, inboxId, bytes);
    await appendBytes(store, accountId, inboxId, bytes);
    assert.deepEqual(await blobFiles(store), [`${hash.slice(0, 2)}/${hash}`]);
    assert.deepEqual(await readFile(join(store.blobDirectory, hash.slice(0, 2), hash)), bytes);
    const tmp = await readdir(join(dataDir, 'tmp'));
    assert.equal(tmp.length, 1);
    assert.deepEqual(await readdir(join(dataDir, 'tmp', tmp[0] ?? '')), [], 'no staging leftovers');

    await store.expunge(accountId, inboxId, [1]);
    assert.equal(await store.sweepBlobs(), 0, 'still referenced by UID 2');
    assert.equal((await blobFiles(store)).length, 1);
    await store.expunge(accountId, inboxId, [2]);
    await store.sweepBlobs();
    assert.deepEqual(await blobFiles(store), []);
  });
});

test('the grace period keeps young trashed blobs; an old one goes', async () => {
  await withStore({ blobGraceMs: HOUR }, async (store, { accountId, inboxId }) => {
    const bytes = sampleMessage('young', 3000);
    const hash = sha256(bytes);
    await appendBytes(store, accountId, inboxId, bytes);
    await store.expunge(accountId, inboxId, [1]);
    assert.equal(await store.sweepBlobs(), 0);
    assert.equal((await blobFiles(store)).length, 1, 'younger than the grace period');
    await makeOld(join(store.blobDirectory, hash.slice(0, 2), hash));
    assert.equal(await store.sweepBlobs(), 1);
    assert.deepEqual(await blobFiles(store), []);
  });
});

test('a trashed blob appended again before the sweep survives it', async () => {
  await withStore({ blobGraceMs: 0 }, async (store, { accountId, inboxId }) => {
    const bytes = sampleMessage('again', 3000);
    await appendBytes(store, accountId, inboxId, bytes);
    await store.expunge(accountId, inboxId, [1]);
    const uid = await appendBytes(store, accountId, inboxId, bytes);
    await store.sweepBlobs();
    const [meta] = await store.listMessages(inboxId, uid, uid);
    assert.ok(meta);
    assert.deepEqual(await store.readMessage(meta), bytes);
  });
});

test('deleting a mailbox or an account and failed deliveries leave no blobs', async () => {
  await withStore({ blobGraceMs: 0 }, async (store, { accountId, inboxId }) => {
    const work = await store.createMailbox(accountId, 'Work');
    await appendBytes(store, accountId, work.id, sampleMessage('in-work', 2000));
    await store.deleteMailbox(accountId, 'Work');
    await store.sweepBlobs();
    assert.deepEqual(await blobFiles(store), []);

    await appendBytes(store, accountId, inboxId, sampleMessage('in-inbox', 2000));
    await store.deleteAccount('user@example.org');
    await store.sweepBlobs();
    assert.deepEqual(await blobFiles(store), []);

    const bytes = sampleMessage('nobody', 2000);
    const writer = store.createBlobWriter();
    await writer.write(bytes);
    const outcomes = await store.deliver(await writer.finish(), indexMessage(bytes), [{ accountId: 424242 }]);
    assert.deepEqual(outcomes, [{ ok: false, reason: 'noAccount' }]);
    await store.sweepBlobs();
    assert.deepEqual(await blobFiles(store), []);
  });
});

test('recover() removes temp files of dead processes and old orphan blobs, and keeps the rest', async () => {
  await withStore({ blobGraceMs: HOUR }, async (store, { accountId, inboxId, dataDir }) => {
    const kept = sampleMessage('kept', 2000);
    await appendBytes(store, accountId, inboxId, kept);
    // A dead process's staging directory, a stray file, and a live process's directory.
    const dead = join(dataDir, 'tmp', '2147483646-deadbeef');
    await mkdir(dead);
    await writeFile(join(dead, 'a'), 'partial');
    await writeFile(join(dead, 'b'), 'partial');
    await writeFile(join(dataDir, 'tmp', 'stray'), 'x');
    const live = join(dataDir, 'tmp', `${process.ppid}-cafe`);
    await mkdir(live);
    await writeFile(join(live, 'busy'), 'in use');
    // Orphans: one old, one young.
    const oldOrphan = 'a'.repeat(64);
    const youngOrphan = 'b'.repeat(64);
    await writeFile(join(store.blobDirectory, 'aa', oldOrphan), 'orphan');
    await makeOld(join(store.blobDirectory, 'aa', oldOrphan));
    await writeFile(join(store.blobDirectory, 'bb', youngOrphan), 'orphan');
    // A referenced blob is never removed, however old.
    const keptHash = sha256(kept);
    await makeOld(join(store.blobDirectory, keptHash.slice(0, 2), keptHash));
    // A blob a killed sweeper had set aside while a writer still needed it comes back.
    const restored = sampleMessage('set-aside', 2000);
    const restoredUid = await appendBytes(store, accountId, inboxId, restored);
    const restoredHash = sha256(restored);
    await rename(join(store.blobDirectory, restoredHash.slice(0, 2), restoredHash), join(dead, `gc-${restoredHash}-0123`));

    const report = await store.recover();
    assert.deepEqual(report, { tempFilesRemoved: 3, orphanBlobsRemoved: 1 });
    assert.deepEqual(
      await blobFiles(store),
      [`${keptHash.slice(0, 2)}/${keptHash}`, `${restoredHash.slice(0, 2)}/${restoredHash}`, `bb/${youngOrphan}`].sort(),
    );
    const [restoredMeta] = await store.listMessages(inboxId, restoredUid, restoredUid);
    assert.ok(restoredMeta);
    assert.deepEqual(await store.readMessage(restoredMeta), restored);
    const tmp = (await readdir(join(dataDir, 'tmp'))).sort();
    assert.equal(tmp.length, 2);
    assert.ok(tmp.includes(`${process.ppid}-cafe`));
  });
});

test('FileBlobStore.removeIfStale puts back a blob that turned young between the checks', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-blobfs-'));
  const blobs = new FileBlobStore({ dataDir });
  try {
    await blobs.init();
    const hash = 'c'.repeat(64);
    const path = join(blobs.blobDir, 'cc', hash);
    await writeFile(path, 'young');
    assert.equal(await blobs.removeIfStale(hash, HOUR), 'kept');
    await makeOld(path);
    assert.equal(await blobs.removeIfStale(hash, HOUR), 'removed');
    assert.equal(await blobs.removeIfStale(hash, HOUR), 'missing');
    // Staged in this process: never removed.
    const writer = blobs.createWriter();
    await writer.write(Buffer.from('staged'));
    const staged = await writer.finish();
    const [promoted] = await blobs.promote([[staged]]);
    assert.equal(promoted, null);
    await makeOld(join(blobs.blobDir, staged.hash.slice(0, 2), staged.hash));
    assert.equal(await blobs.removeIfStale(staged.hash, 0), 'kept');
    blobs.release([staged]);
    assert.equal(await blobs.removeIfStale(staged.hash, 0), 'removed');
  } finally {
    await blobs.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('promotion refreshes the mtime of a blob that already exists', async () => {
  await withStore({ blobGraceMs: HOUR }, async (store, { accountId, inboxId }) => {
    const bytes = sampleMessage('refresh', 2000);
    const hash = sha256(bytes);
    const path = join(store.blobDirectory, hash.slice(0, 2), hash);
    await appendBytes(store, accountId, inboxId, bytes);
    await makeOld(path);
    await appendBytes(store, accountId, inboxId, bytes);
    assert.ok((await stat(path)).mtimeMs > Date.now() - 60_000);
  });
});

test('an aborted writer leaves no temp file; a missing blob reads as notFound', async () => {
  await withStore({}, async (store, { accountId, inboxId, dataDir }) => {
    const writer = store.createBlobWriter();
    await writer.write(Buffer.alloc(10_000, 'z'));
    await writer.abort();
    const [own] = await readdir(join(dataDir, 'tmp'));
    assert.deepEqual(await readdir(join(dataDir, 'tmp', own ?? '')), []);

    const bytes = sampleMessage('vanishing', 2000);
    await appendBytes(store, accountId, inboxId, bytes);
    const hash = sha256(bytes);
    await rm(join(store.blobDirectory, hash.slice(0, 2), hash));
    const [meta] = await store.listMessages(inboxId);
    assert.ok(meta);
    await assert.rejects(store.readMessage(meta, 0, 10_000), (err: unknown) => err instanceof StoreError && err.code === 'notFound');
  });
});

test('schema: user_version is set, reopening keeps data, a newer schema is refused', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-schema-'));
  try {
    const first = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
    await first.addDomain('example.org');
    await first.close();
    const db = new Database(join(dataDir, 'mailhaven.db'));
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
    const second = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
    assert.deepEqual(
      (await second.listDomains()).map((d) => d.name),
      ['example.org'],
    );
    await second.close();
    const bump = new Database(join(dataDir, 'mailhaven.db'));
    bump.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    bump.close();
    await assert.rejects(
      openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 }),
      (err: unknown) => err instanceof StoreError && err.code === 'cannot',
    );
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('the sweep after a commit removes blobs nobody references any more, without being asked', async () => {
  await withStore({ blobGraceMs: 0 }, async (store, { accountId, inboxId }) => {
    await appendBytes(store, accountId, inboxId, sampleMessage('auto', 2000));
    assert.equal((await blobFiles(store)).length, 1);
    await store.expunge(accountId, inboxId, [1]);
    const deadline = Date.now() + 2000;
    while ((await blobFiles(store)).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(await blobFiles(store), []);
  });
});
