/**
 * The outbound queue persistence behind SMTP relay (src/queue/types.ts, SQLite store): local
 * copies and the queue entry in one transaction, the blob shared and kept while either needs it,
 * entries durable across a restart.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalChangeBus } from '../src/events/local.js';
import { MessageIndexer } from '../src/mime/indexer.js';
import type { NewQueueEntry } from '../src/queue/types.js';
import { hasOutboundQueue } from '../src/queue/types.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SqliteMailStore } from '../src/store/sqlite/index.js';
import type { StagedBlob } from '../src/store/types.js';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA';

async function openStore(t: TestContext, dir?: string): Promise<{ store: SqliteMailStore; dir: string }> {
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'mailhaven-queue-'));
  if (dir === undefined) t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const store = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), blobGraceMs: 0, sweepIntervalMs: 0, pollIntervalMs: 0 });
  t.after(() => store.close());
  return { store, dir: dataDir };
}

async function stage(store: SqliteMailStore, text: string): Promise<{ blob: StagedBlob; index: ReturnType<MessageIndexer['finish']> }> {
  const writer = store.createBlobWriter();
  const indexer = new MessageIndexer();
  const bytes = Buffer.from(text);
  indexer.write(bytes);
  await writer.write(bytes);
  return { blob: await writer.finish(), index: indexer.finish() };
}

function entry(recipients: NewQueueEntry['recipients']): NewQueueEntry {
  return {
    sender: 'alice@example.com',
    recipients,
    ret: 'FULL',
    envid: 'E1',
    body: '8BITMIME',
    smtputf8: false,
    submitter: 'alice@example.com',
    clientAddress: '192.0.2.9',
  };
}

const REMOTE = { address: 'carol@remote.example', kind: 'remote' as const, notify: null, orcpt: null };
/** A recipient as the queue keeps it: not tried yet (src/queue/types.ts QueuedRecipient). */
const pending = <R extends object>(recipient: R): R & { state: 'pending'; last: null } => ({ ...recipient, state: 'pending', last: null });

test('the SQLite store has the queue capability', async (t) => {
  const { store } = await openStore(t);
  assert.ok(hasOutboundQueue(store));
  assert.deepEqual(await store.listQueue(), []);
});

test('a queue-only message keeps its blob until the entry is removed', async (t) => {
  const { store } = await openStore(t);
  const { blob, index } = await stage(store, 'Subject: out\r\n\r\nbody\r\n');
  const result = await store.deliverAndEnqueue(blob, index, [], entry([REMOTE]), new Date('2030-01-02T03:04:05Z'));
  assert.deepEqual(result.outcomes, []);
  assert.equal(typeof result.queueId, 'number');
  const [queued] = await store.listQueue();
  assert.ok(queued);
  assert.deepEqual(
    { ...queued, createdAt: undefined, nextAttemptAt: undefined },
    {
      ...entry([REMOTE]),
      recipients: [pending(REMOTE)],
      id: result.queueId,
      blobHash: blob.hash,
      size: blob.size,
      attempts: 0,
      createdAt: undefined,
      nextAttemptAt: undefined,
      leaseOwner: null,
      leaseUntil: null,
      lastError: null,
      delayNotified: false,
    },
  );
  const blobFile = join(store.blobDirectory, blob.hash.slice(0, 2), blob.hash);
  assert.ok(existsSync(blobFile), 'blob durable under its final name');
  assert.equal(await store.sweepBlobs(), 0);
  assert.ok(existsSync(blobFile), 'the sweeper keeps a blob the queue needs');
  await store.removeQueueEntry(result.queueId!);
  assert.deepEqual(await store.listQueue(), []);
  assert.equal(await store.sweepBlobs(), 1);
  assert.ok(!existsSync(blobFile));
});

test('local copies and the queue entry share one blob; expunging the copy keeps it for the queue', async (t) => {
  const { store } = await openStore(t);
  await store.addDomain('example.com');
  const bob = await store.addAccount('bob@example.com', HASH, null);
  const { blob, index } = await stage(store, 'Subject: both\r\n\r\nbody\r\n');
  const copy = { target: { accountId: bob.id, prefix: Buffer.from('Delivered-To: bob@example.com\r\n') }, retry: null };
  const result = await store.deliverAndEnqueue(blob, index, [copy], entry([REMOTE]));
  assert.equal(result.outcomes[0]?.ok, true);
  const inbox = await store.getMailbox(bob.id, 'INBOX');
  const [message] = await store.listMessages(inbox!.id);
  assert.equal(message?.blobHash, blob.hash);
  assert.equal((await store.listQueue())[0]?.blobHash, blob.hash);
  await store.expunge(bob.id, inbox!.id, [message.uid]);
  await store.sweepBlobs();
  const blobFile = join(store.blobDirectory, blob.hash.slice(0, 2), blob.hash);
  assert.ok(existsSync(blobFile));
});

test('over quota: the copy is deferred into the queue when something else was stored or queued', async (t) => {
  const { store } = await openStore(t);
  await store.addDomain('example.com');
  const full = await store.addAccount('full@example.com', HASH, 1);
  const bob = await store.addAccount('bob@example.com', HASH, null);
  const retry = { address: 'full@example.com', kind: 'local' as const, notify: ['FAILURE' as const], orcpt: null };
  const { blob, index } = await stage(store, 'Subject: quota\r\n\r\nbody\r\n');
  const result = await store.deliverAndEnqueue(
    blob,
    index,
    [
      { target: { accountId: full.id }, retry },
      { target: { accountId: bob.id }, retry: null },
    ],
    entry([]),
  );
  assert.deepEqual(
    result.outcomes.map((outcome) => outcome.ok || outcome.reason),
    ['overQuota', true],
  );
  assert.deepEqual((await store.listQueue())[0]?.recipients, [pending(retry)]);

  // Nothing stored and nothing of its own to relay: nothing queued (the client retries).
  const second = await stage(store, 'Subject: quota 2\r\n\r\nbody\r\n');
  const refused = await store.deliverAndEnqueue(second.blob, second.index, [{ target: { accountId: full.id }, retry }], entry([]));
  assert.equal(refused.queueId, null);
  assert.equal((await store.listQueue()).length, 1);
});

test('queue entries survive a restart (schema migration applied once)', async (t) => {
  const first = await openStore(t);
  const { blob, index } = await stage(first.store, 'Subject: durable\r\n\r\nbody\r\n');
  const { queueId } = await first.store.deliverAndEnqueue(blob, index, [], entry([REMOTE]));
  await first.store.close();
  const second = await openStore(t, first.dir);
  const [queued] = await second.store.listQueue();
  assert.equal(queued?.id, queueId);
  assert.deepEqual(queued?.recipients, [pending(REMOTE)]);
});
