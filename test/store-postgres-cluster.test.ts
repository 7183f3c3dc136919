/**
 * PostgreSQL-specific behaviour: several store instances (separate pools and LISTEN connections,
 * i.e. separate "nodes") on one schema, migrations racing at startup, the LISTEN/NOTIFY bus and
 * its reconnect, chunked blobs, garbage collection and recovery, error mapping and retries.
 * Each test uses its own schema, dropped afterwards.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStore } from '../src/compose.js';
import { loadConfig } from '../src/config/load.js';
import { LocalChangeBus } from '../src/events/local.js';
import type { WakeUp } from '../src/events/types.js';
import { createLogger } from '../src/log/index.js';
import { indexMessage } from '../src/mime/indexer.js';
import { sampleMessage } from '../src/store/conformance.js';
import { createPool, storeErrorOf, transaction } from '../src/store/postgres/db.js';
import { openPostgresStore, postgresUrlProblem } from '../src/store/postgres/index.js';
import type { PostgresMailStore, PostgresStoreOptions } from '../src/store/postgres/index.js';
import { SCHEMA_VERSION } from '../src/store/postgres/schema.js';
import { dropSchema, freshSchemaName, postgresTestTarget, withTestClient } from '../src/store/postgres/testing.js';
import type { Account, MailStore, StagedBlob } from '../src/store/types.js';
import { StoreError } from '../src/store/types.js';

const target = await postgresTestTarget();
const DOMAIN = 'example.org';

/** Stores opened by a test, closed (and their schema dropped) when it ends. */
class Cluster {
  readonly schema = freshSchemaName();
  readonly nodes: PostgresMailStore[] = [];

  async node(opts: Partial<PostgresStoreOptions> = {}): Promise<PostgresMailStore> {
    const store = await openPostgresStore({ url: target.url, schema: this.schema, sweepIntervalMs: 0, poolSize: 6, ...opts });
    this.nodes.push(store);
    return store;
  }

  sql<T extends object>(text: string, values: unknown[] = []): Promise<T[]> {
    return withTestClient(target.url, async (client) => {
      await client.query(`SET search_path TO ${this.schema}`);
      return (await client.query<T>(text, values)).rows;
    });
  }

  async close(): Promise<void> {
    for (const store of this.nodes) await store.close();
    await dropSchema(target.url, this.schema);
  }
}

async function withCluster(body: (cluster: Cluster) => Promise<void>): Promise<void> {
  const cluster = new Cluster();
  try {
    await body(cluster);
  } finally {
    await cluster.close();
  }
}

async function stage(store: MailStore, bytes: Buffer, piece = 1000): Promise<StagedBlob> {
  const writer = store.createBlobWriter();
  for (let at = 0; at < bytes.length; at += piece) await writer.write(bytes.subarray(at, at + piece));
  return writer.finish();
}

async function appendBytes(store: MailStore, accountId: number, mailboxId: number, bytes: Buffer): Promise<{ uid: number; modseq: number }> {
  const [result] = await store.append(accountId, mailboxId, [{ blob: await stage(store, bytes), index: indexMessage(bytes) }]);
  assert.ok(result);
  return result;
}

async function setup(store: MailStore, quotaBytes: number | null = null): Promise<{ account: Account; inbox: number }> {
  if (!(await store.getDomain(DOMAIN))) await store.addDomain(DOMAIN);
  const account = await store.addAccount(`user@${DOMAIN}`, 'hash', quotaBytes);
  const inbox = await store.getMailbox(account.id, 'INBOX');
  assert.ok(inbox);
  return { account, inbox: inbox.id };
}

function waitForWake(store: PostgresMailStore, accountId: number, predicate: (wake: WakeUp) => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no wake-up within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = store.bus.subscribe(accountId, (wake) => {
      if (!predicate(wake)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(Date.now() - started);
    });
  });
}

async function expectStoreError(promise: Promise<unknown>, code: StoreError['code']): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected StoreError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('PostgreSQL store: several nodes on one database', { skip: skipReason() }, () => {
  test('two nodes starting at once on a new schema migrate it once', async () => {
    await withCluster(async (cluster) => {
      const [a, b, c] = await Promise.all([cluster.node(), cluster.node(), cluster.node()]);
      assert.ok(a && b && c);
      assert.deepEqual(await cluster.sql('SELECT version FROM schema_version'), [{ version: SCHEMA_VERSION }]);
      assert.deepEqual(await cluster.sql("SELECT value::int AS value FROM meta WHERE key = 'last_uidvalidity'"), [{ value: 0 }]);
    });
  });

  test('a schema written by a newer Mailhaven is refused', async () => {
    await withCluster(async (cluster) => {
      const first = await cluster.node();
      await first.close();
      await cluster.sql('UPDATE schema_version SET version = version + 1');
      await expectStoreError(openPostgresStore({ url: target.url, schema: cluster.schema }), 'cannot');
    });
  });

  test('20 concurrent appends split across two nodes get unique ascending UIDs', async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node();
      const b = await cluster.node();
      const { account, inbox } = await setup(a);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => appendBytes(i % 2 === 0 ? a : b, account.id, inbox, sampleMessage(`concurrent-${i}`, 200 + i))),
      );
      assert.deepEqual(
        results.map((r) => r.uid).sort((x, y) => x - y),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      // Commit order per account: a higher UID never has a lower MODSEQ, whichever node wrote it.
      const byUid = [...results].sort((x, y) => x.uid - y.uid);
      for (let i = 1; i < byUid.length; i++) assert.ok((byUid[i]?.modseq ?? 0) > (byUid[i - 1]?.modseq ?? 0));
      for (const node of [a, b]) {
        const box = await node.getMailboxById(inbox);
        assert.equal(box?.uidNext, 21);
        assert.equal(box?.messageCount, 20);
        assert.deepEqual(
          (await node.listMessages(inbox)).map((m) => m.uid),
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
      }
      const log = await a.changesSince(account.id, 0);
      assert.equal(log.changes.filter((c) => c.kind === 'added').length, 20);
    });
  });

  test('quota stays exact with concurrent appends from both nodes', async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node();
      const b = await cluster.node();
      const size = sampleMessage('quota-0', 500).length;
      const { account, inbox } = await setup(a, size * 7);
      const settled = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) => appendBytes(i % 2 === 0 ? a : b, account.id, inbox, sampleMessage(`quota-${i}`, 500))),
      );
      const stored = settled.filter((s) => s.status === 'fulfilled').length;
      const refused = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
      assert.equal(stored, 7);
      assert.equal(refused.length, 9);
      for (const err of refused) assert.ok(err instanceof StoreError && err.code === 'overQuota', String(err));
      const usage = await b.getAccountById(account.id);
      assert.equal(usage?.usedBytes, size * 7);
      assert.equal(usage?.usedMessages, 7);
      assert.equal((await a.getMailboxById(inbox))?.totalSize, size * 7);
    });
  });

  test('UIDVALIDITY stays unique with mailboxes created on both nodes at once', async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node();
      const b = await cluster.node();
      const { account } = await setup(a);
      const other = await b.addAccount(`other@${DOMAIN}`, 'h', null);
      const created = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a.createMailbox(account.id, `box-${i}`) : b.createMailbox(other.id, `box-${i}`))),
      );
      const all = [...(await a.listMailboxes(account.id)), ...(await a.listMailboxes(other.id))].map((m) => m.uidValidity);
      assert.equal(new Set(all).size, all.length);
      assert.equal(created.length, 10);
    });
  });

  test("a commit on node B wakes a subscriber on node A within one second", async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node();
      const b = await cluster.node();
      const cli = await cluster.node({ listen: false }); // an admin command: notifies, does not listen
      const { account, inbox } = await setup(a);
      const fromB = waitForWake(a, account.id, () => true, 1000);
      const appended = await appendBytes(b, account.id, inbox, sampleMessage('from-b'));
      const latency = await fromB;
      assert.ok(latency < 1000, `${latency} ms`);
      assert.deepEqual((await a.changesSince(account.id, appended.modseq - 1)).changes, [
        { kind: 'added', modseq: appended.modseq, mailboxId: inbox, uid: appended.uid },
      ]);
      // Flag changes and expunges travel the same way, also from a process that does not listen.
      const flagged = waitForWake(a, account.id, (w) => w.modseq > appended.modseq, 1000);
      await cli.updateFlags(account.id, inbox, [appended.uid], { op: 'add', flags: 1, keywords: [] });
      await flagged;
      const expunged = waitForWake(a, account.id, (w) => w.modseq > appended.modseq + 1, 1000);
      await b.expunge(account.id, inbox, [appended.uid]);
      await expunged;
      const kinds = (await a.changesSince(account.id, appended.modseq)).changes.map((c) => c.kind);
      assert.deepEqual(kinds, ['flags', 'expunged']);
    });
  });

  test('own commits wake local subscribers once, not again when their NOTIFY comes back', async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node();
      const { account, inbox } = await setup(a);
      const seen: WakeUp[] = [];
      const unsubscribe = a.bus.subscribe(account.id, (wake) => seen.push(wake));
      const appended = await appendBytes(a, account.id, inbox, sampleMessage('echo'));
      assert.deepEqual(seen, [{ accountId: account.id, modseq: appended.modseq }], 'published before the promise resolved');
      await waitUntil(() => a.bus.stats.notifications >= 1);
      await sleep(50);
      unsubscribe();
      assert.equal(seen.length, 1);
    });
  });

  test('after a lost LISTEN connection, commits made meanwhile still wake subscribers', async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node({ listenTuning: { reconnectDelayMs: { min: 400, max: 400 } } });
      const b = await cluster.node();
      const { account, inbox } = await setup(a);
      const seen: WakeUp[] = [];
      const unsubscribe = a.bus.subscribe(account.id, (wake) => seen.push(wake));
      const [killed] = await cluster.sql<{ killed: boolean }>(
        "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = 'mailhaven-listen' AND query LIKE $1",
        [`%${cluster.schema}%`],
      );
      assert.equal(killed?.killed, true);
      await sleep(50); // A notices; its next LISTEN is 400 ms away
      const appended = await appendBytes(b, account.id, inbox, sampleMessage('while-away'));
      await waitUntil(() => seen.some((w) => w.modseq >= appended.modseq), 3000);
      unsubscribe();
      assert.equal(a.bus.stats.reconnects, 1);
      // And notifications flow again on the new connection.
      const again = waitForWake(a, account.id, (w) => w.modseq > appended.modseq, 1000);
      await appendBytes(b, account.id, inbox, sampleMessage('after'));
      await again;
    });
  });

  test('[storage] backend = "postgres": a server store forwards every node\'s wake-ups into its local bus', async () => {
    await withCluster(async (cluster) => {
      const dir = await mkdtemp(join(tmpdir(), 'mailhaven-pg-config-'));
      const bus = new LocalChangeBus();
      try {
        const url = new URL(target.url);
        url.searchParams.set('options', `-c search_path=${cluster.schema}`);
        await writeFile(join(dir, 'mailhaven.toml'), `[storage]\nbackend = "postgres"\nurl = "${url.toString()}"\n`);
        const config = loadConfig({ env: {}, cwd: dir });
        const server = await openStore(config, bus, createLogger({ level: 'silent' }), { server: true });
        const admin = await openStore(config, new LocalChangeBus(), createLogger({ level: 'silent' }), { server: false });
        try {
          const { account, inbox } = await setup(admin);
          const seen: WakeUp[] = [];
          const unsubscribe = bus.subscribe(account.id, (wake) => seen.push(wake));
          const other = await cluster.node(); // another node, same schema
          const appended = await appendBytes(other, account.id, inbox, sampleMessage('via-config'));
          await waitUntil(() => seen.some((w) => w.modseq === appended.modseq), 1000);
          await admin.setPassword(`user@${DOMAIN}`, 'new');
          await waitUntil(() => seen.some((w) => w.modseq === appended.modseq + 1), 1000);
          unsubscribe();
        } finally {
          await admin.close();
          await server.close();
        }
      } finally {
        await bus.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  test('POP3 maildrop locks are exclusive across nodes and die with their connection', async () => {
    await withCluster(async (cluster) => {
      const a = (await cluster.node()).maildropLocks();
      const b = (await cluster.node()).maildropLocks();
      const lease = await a.tryAcquire(7, 'session-1');
      assert.ok(lease);
      assert.equal(await a.tryAcquire(7, 'session-2'), null, 'same node');
      assert.equal(await b.tryAcquire(7, 'session-3'), null, 'other node');
      const other = await b.tryAcquire(8, 'session-4');
      assert.ok(other);
      await lease.release();
      await lease.release();
      const taken = await b.tryAcquire(7, 'session-5');
      assert.ok(taken);
      assert.equal(b.holderOf(7), 'session-5');
      // Node B's lock connection dies (the node crashed): its maildrops are free for A.
      const [killed] = await cluster.sql<{ killed: boolean }>(
        `SELECT bool_and(pg_terminate_backend(pid)) AS killed FROM pg_locks
          WHERE locktype = 'advisory' AND classid = ${0x6d70} AND objid = 8 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      assert.equal(killed?.killed, true);
      let freed = null;
      for (let i = 0; i < 100 && freed === null; i++) {
        freed = await a.tryAcquire(8, 'session-6');
        if (freed === null) await sleep(20);
      }
      assert.ok(freed, 'the lock of a dead connection is released');
    });
  });

  test('a staged blob belongs to the node that wrote it', async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node();
      const b = await cluster.node();
      const { account, inbox } = await setup(a);
      const bytes = sampleMessage('foreign');
      const blob = await stage(a, bytes);
      await expectStoreError(b.append(account.id, inbox, [{ blob, index: indexMessage(bytes) }]), 'invalid');
      const [ok] = await a.append(account.id, inbox, [{ blob, index: indexMessage(bytes) }]);
      assert.equal(ok?.uid, 1);
    });
  });
});

describe('PostgreSQL store: blobs in the database', { skip: skipReason() }, () => {
  test('a large body is stored in chunks and read back in any range', async () => {
    await withCluster(async (cluster) => {
      const store = await cluster.node({ chunkSize: 64 * 1024 });
      const { account, inbox } = await setup(store);
      const bytes = sampleMessage('large', 200_000);
      const prefix = Buffer.from('Delivered-To: user@example.org\r\n');
      const blob = await stage(store, bytes, 10_000);
      await store.append(account.id, inbox, [{ blob, index: indexMessage(bytes), prefix }]);
      const chunks = await cluster.sql<{ seq: number; length: number }>(
        'SELECT seq, octet_length(data) AS length FROM blob_chunks c JOIN blobs b ON b.data_id = c.data_id ORDER BY seq',
      );
      assert.deepEqual(chunks, [
        { seq: 0, length: 65_536 },
        { seq: 1, length: 65_536 },
        { seq: 2, length: 65_536 },
        { seq: 3, length: 200_000 - 3 * 65_536 },
      ]);
      const [meta] = await store.listMessages(inbox);
      assert.ok(meta);
      const whole = Buffer.concat([prefix, bytes]);
      assert.deepEqual(await store.readMessage(meta), whole);
      const boundary = prefix.length + 65_536;
      for (const [start, end] of [
        [0, 10],
        [boundary - 5, boundary + 5],
        [boundary, boundary + 1],
        [prefix.length + 3 * 65_536 - 1, whole.length],
        [5, whole.length - 5],
        [whole.length, whole.length + 10],
      ] as const) {
        assert.deepEqual(await store.readMessage(meta, start, end), whole.subarray(start, end), `read ${start}-${end}`);
        const streamed: Buffer[] = [];
        for await (const piece of await store.openMessage(meta, start, end)) streamed.push(piece as Buffer);
        assert.deepEqual(Buffer.concat(streamed), whole.subarray(start, end), `stream ${start}-${end}`);
      }
    });
  });

  test('identical bodies from two nodes are stored once, and an empty body works', async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node();
      const b = await cluster.node();
      const { account, inbox } = await setup(a);
      const bytes = sampleMessage('same', 3000);
      await Promise.all([appendBytes(a, account.id, inbox, bytes), appendBytes(b, account.id, inbox, bytes), appendBytes(a, account.id, inbox, bytes)]);
      assert.deepEqual(await cluster.sql('SELECT count(*)::int AS n FROM blobs'), [{ n: 1 }]);
      assert.deepEqual(await cluster.sql("SELECT state, count(*)::int AS n FROM blob_data GROUP BY state"), [{ state: 'stored', n: 1 }]);
      const empty = Buffer.alloc(0);
      await appendBytes(b, account.id, inbox, empty);
      const last = (await a.listMessages(inbox)).at(-1);
      assert.equal(last?.size, 0);
      assert.deepEqual(await a.readMessage(last ?? assert.fail()), empty);
    });
  });

  test('expunged blobs are swept; a trashed blob referenced again is kept', async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node();
      const b = await cluster.node();
      const { account, inbox } = await setup(a);
      const gone = await appendBytes(a, account.id, inbox, sampleMessage('gone', 2000));
      const kept = await appendBytes(a, account.id, inbox, sampleMessage('kept', 2000));
      await a.expunge(account.id, inbox, [gone.uid]);
      await a.sweepBlobs(); // after the sweep the commit scheduled, if it had not run yet
      assert.deepEqual(await cluster.sql('SELECT count(*)::int AS n FROM blobs'), [{ n: 1 }]);
      assert.deepEqual(await cluster.sql('SELECT count(*)::int AS n FROM blob_data'), [{ n: 1 }]);
      assert.deepEqual(await cluster.sql('SELECT count(*)::int AS n FROM blob_chunks'), [{ n: 1 }]);
      // A trash entry for a blob a message still uses (trashed, then referenced again by another
      // node before the sweep): the sweep keeps the blob and forgets the entry.
      const [meta] = await a.listMessages(inbox);
      assert.equal(meta?.uid, kept.uid);
      await cluster.sql('INSERT INTO blob_trash (hash, queued_at) VALUES ($1, 0)', [meta?.blobHash]);
      assert.equal(await b.sweepBlobs(), 0);
      assert.deepEqual(await cluster.sql('SELECT count(*)::int AS n FROM blob_trash'), [{ n: 0 }]);
      assert.deepEqual(await a.readMessage(meta ?? assert.fail()), sampleMessage('kept', 2000));
    });
  });

  test('recovery removes staged data of dead writers and unreferenced blobs', async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node({ stagedGraceMs: 0 });
      const b = await cluster.node();
      const { account, inbox } = await setup(a);
      // Node B stages a body and a half-written one, then "dies" (never uses them).
      const abandoned = await stage(b, sampleMessage('abandoned', 5000));
      const half = b.createBlobWriter();
      await half.write(Buffer.alloc(300 * 1024, 'x'));
      // A stored blob nothing references and no trash row names (as if the trash row were lost).
      await cluster.sql(
        `WITH d AS (INSERT INTO blob_data (state, owner, hash, size) VALUES ('stored', 'test', repeat('a', 64), 0) RETURNING id)
         INSERT INTO blobs (hash, size, data_id, chunk_size, index_json, created_at) SELECT repeat('a', 64), 0, id, 1024, '{}', 0 FROM d`,
      );
      await appendBytes(a, account.id, inbox, sampleMessage('live'));
      const report = await a.recover();
      assert.deepEqual(report, { tempFilesRemoved: 2, orphanBlobsRemoved: 1 });
      assert.deepEqual(await cluster.sql("SELECT state, count(*)::int AS n FROM blob_data GROUP BY state"), [{ state: 'stored', n: 1 }]);
      await expectStoreError(b.append(account.id, inbox, [{ blob: abandoned, index: indexMessage(sampleMessage('abandoned', 5000)) }]), 'io');
      // The half-written body's writer finds its data gone when it next reaches the database.
      await expectStoreError(half.finish(), 'io');
      const [live] = await a.listMessages(inbox);
      assert.deepEqual(await a.readMessage(live ?? assert.fail()), sampleMessage('live'));
    });
  });

  test('a failed operation discards its staged blob; a delivery nobody takes stores nothing', async () => {
    await withCluster(async (cluster) => {
      const a = await cluster.node();
      const size = sampleMessage('fits', 300).length;
      const { account, inbox } = await setup(a, size);
      await appendBytes(a, account.id, inbox, sampleMessage('fits', 300));
      await expectStoreError(appendBytes(a, account.id, inbox, sampleMessage('too much', 300)), 'overQuota');
      const bytes = sampleMessage('nobody', 300);
      const outcomes = await a.deliver(await stage(a, bytes), indexMessage(bytes), [{ accountId: account.id }, { accountId: 999_999 }]);
      assert.deepEqual(outcomes, [
        { ok: false, reason: 'overQuota' },
        { ok: false, reason: 'noAccount' },
      ]);
      assert.deepEqual(await cluster.sql("SELECT state, count(*)::int AS n FROM blob_data GROUP BY state"), [{ state: 'stored', n: 1 }]);
      assert.deepEqual(await cluster.sql('SELECT count(*)::int AS n FROM blob_chunks'), [{ n: 1 }]);
    });
  });
});

describe('PostgreSQL store: errors and retries', { skip: skipReason() }, () => {
  test('an unreachable server is StoreError busy; a bad URL is a configuration problem', async () => {
    await expectStoreError(openPostgresStore({ url: 'postgres://postgres@127.0.0.1:1/test', schema: freshSchemaName() }), 'busy');
    assert.equal(postgresUrlProblem(target.url), null);
    assert.equal(postgresUrlProblem('postgres://h/db?options=-c%20search_path%3Dmailhaven'), null);
    assert.match(postgresUrlProblem('mysql://h/db') ?? '', /scheme/);
    assert.match(postgresUrlProblem('not a url') ?? '', /not a URL/);
    assert.match(postgresUrlProblem('postgres://h/db?options=-c%20search_path%3DBad-Name') ?? '', /search_path/);
  });

  test('the schema can come from the URL', async () => {
    const schema = freshSchemaName();
    const url = new URL(target.url);
    url.searchParams.set('options', `-c search_path=${schema}`);
    const store = await openPostgresStore({ url: url.toString(), listen: false });
    try {
      assert.equal(store.schema, schema);
      await store.addDomain(DOMAIN);
      assert.deepEqual(
        await withTestClient(target.url, async (client) => (await client.query<{ name: string }>(`SELECT name FROM ${schema}.domains`)).rows),
        [{ name: DOMAIN }],
      );
    } finally {
      await store.close();
      await dropSchema(target.url, schema);
    }
  });

  test('database errors map onto StoreError codes', () => {
    const pgError = (code: string): Error => Object.assign(new Error(`pg ${code}`), { code });
    const mapped = (err: unknown): string => {
      const result = storeErrorOf(err);
      return result instanceof StoreError ? result.code : 'passed through';
    };
    assert.equal(mapped(pgError('23505')), 'exists');
    assert.equal(mapped(pgError('40P01')), 'busy');
    assert.equal(mapped(pgError('40001')), 'busy');
    assert.equal(mapped(pgError('55P03')), 'busy');
    assert.equal(mapped(pgError('57P01')), 'busy');
    assert.equal(mapped(pgError('08006')), 'busy');
    assert.equal(mapped(pgError('53100')), 'noSpace');
    assert.equal(mapped(pgError('XX001')), 'io');
    assert.equal(mapped(pgError('22P02')), 'invalid');
    assert.equal(mapped(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'busy');
    assert.equal(mapped(new Error('Connection terminated unexpectedly')), 'busy');
    assert.equal(mapped(new TypeError('a bug')), 'passed through');
  });

  test('a transaction that deadlocks is rolled back and run again', async () => {
    const schema = freshSchemaName();
    const pool = createPool({ url: target.url, schema }, 4, () => undefined);
    try {
      await pool.query(`CREATE SCHEMA ${schema}`);
      await pool.query('CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)');
      await pool.query('INSERT INTO t VALUES (1, 0), (2, 0)');
      let attempts = 0;
      let retries = 0;
      // Both wait at a barrier holding their first row lock, then take the other's: one deadlocks.
      let arrived = 0;
      const barrier = async (): Promise<void> => {
        arrived++;
        while (arrived < 2) await sleep(5);
      };
      const swap = (first: number, second: number) =>
        transaction(
          pool,
          async (client) => {
            attempts++;
            await client.query('UPDATE t SET v = v + 1 WHERE id = $1', [first]);
            await barrier();
            await client.query('UPDATE t SET v = v + 1 WHERE id = $1', [second]);
          },
          { attempts: 3, onRetry: () => retries++ },
        );
      await Promise.all([swap(1, 2), swap(2, 1)]);
      assert.equal(retries, 1);
      assert.equal(attempts, 3);
      assert.deepEqual((await pool.query('SELECT id, v FROM t ORDER BY id')).rows, [
        { id: 1, v: 2 },
        { id: 2, v: 2 },
      ]);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await pool.end();
    }
  });
});

after(() => {
  if (target.unavailable !== null && !target.required) {
    console.warn(`\n*** SKIPPED the PostgreSQL cluster tests: PostgreSQL not reachable at ${target.url} (${target.unavailable}) ***\n`);
  }
});

if (target.unavailable !== null && target.required) {
  test('PostgreSQL cluster tests', () => assert.fail(`PostgreSQL not reachable at ${target.url} (${target.unavailable}), and MAILHAVEN_REQUIRE_POSTGRES=1 requires it`));
}

function skipReason(): string | false {
  if (target.unavailable === null || target.required) return target.unavailable === null ? false : 'PostgreSQL required but not reachable (see the failing test)';
  return `PostgreSQL not reachable at ${target.url} (${target.unavailable}); set MAILHAVEN_TEST_POSTGRES_URL`;
}

async function waitUntil(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(5);
  }
}
