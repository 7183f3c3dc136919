/**
 * `mailhaven fsck` on a real SQLite data directory: a clean store passes; counters, quota, MODSEQ
 * and UIDNEXT damaged by hand are reported and repaired by --repair; a missing blob is reported and
 * its message is kept; an orphan blob is queued for the sweeper; --deep finds damaged bytes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { LocalChangeBus } from '../src/events/local.js';
import type { FsckReport } from '../src/fsck/index.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { dropSchema, freshSchemaName, postgresTestTarget, withTestClient } from '../src/store/postgres/testing.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SqliteMailStore } from '../src/store/sqlite/index.js';
import { SystemFlag } from '../src/store/types.js';
import type { ChangeLogPruning, MailStore } from '../src/store/types.js';
import { createTempInstance } from './helpers/cli.js';
import type { TempInstance } from './helpers/cli.js';
import { appendMessages } from './helpers/pop3-server.js';

const USER = 'tim@example.org';

function message(subject: string, body = 'Hello.\r\n'): string {
  return `From: ann@example.org\r\nTo: ${USER}\r\nSubject: ${subject}\r\n\r\n${body}`;
}

interface Fixture {
  instance: TempInstance;
  accountId: number;
  inboxId: number;
  hashes: string[];
}

async function openStore(dataDir: string): Promise<SqliteMailStore> {
  return openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
}

/** An instance with one account: 3 messages in INBOX (one seen), one moved to Archive, one expunged. */
async function fixture(t: TestContext): Promise<Fixture> {
  const instance = createTempInstance(t);
  const store = await openStore(instance.dataDir);
  try {
    await store.addDomain('example.org');
    const account = await store.addAccount(USER, 'x', 10_000_000);
    const inbox = await store.getMailbox(account.id, 'INBOX');
    const archive = await store.getMailbox(account.id, 'Archive');
    assert.ok(inbox && archive);
    const uids = await appendMessages(store, account.id, inbox.id, [message('one'), message('two'), message('three'), message('four'), message('five')]);
    await store.updateFlags(account.id, inbox.id, [uids[0]!], { op: 'add', flags: SystemFlag.Seen, keywords: [] });
    await store.move(account.id, inbox.id, [uids[3]!], archive.id);
    await store.expunge(account.id, inbox.id, [uids[4]!]);
    const listed = await store.listMessages(inbox.id);
    return { instance, accountId: account.id, inboxId: inbox.id, hashes: listed.map((m) => m.blobHash) };
  } finally {
    await store.close();
  }
}

function blobPath(dataDir: string, hash: string): string {
  return join(dataDir, 'blobs', hash.slice(0, 2), hash);
}

function withDb(dataDir: string, run: (db: Database.Database) => void): void {
  const db = new Database(join(dataDir, 'mailhaven.db'));
  try {
    run(db);
  } finally {
    db.close();
  }
}

async function fsckJson(instance: TempInstance, ...args: string[]): Promise<{ code: number | null; report: FsckReport }> {
  const result = await instance.run(['fsck', '--json', ...args]);
  return { code: result.code, report: JSON.parse(result.stdout) as FsckReport };
}

function problemCodes(report: FsckReport): string[] {
  return report.findings.filter((f) => f.severity === 'problem').map((f) => f.code).sort();
}

test('a clean store: exit status 0 and a "clean" summary', async (t) => {
  const { instance } = await fixture(t);
  const result = await instance.run(['fsck']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /^clean: 1 accounts, 6 mailboxes, 4 messages, 4 referenced blobs, \d+ stored blobs\n$/m);
  const deep = await instance.run(['fsck', '--deep']);
  assert.equal(deep.code, 0, deep.stdout);
});

test('damaged counters, quota, UIDNEXT and MODSEQ are reported, and --repair restores them', async (t) => {
  const { instance, accountId, inboxId } = await fixture(t);
  let truth = { count: 0, unseen: 0, size: 0, uidnext: 0, highest: 0, used: 0, messages: 0, modseq: 0 };
  withDb(instance.dataDir, (db) => {
    const box = db.prepare('SELECT message_count, unseen_count, total_size, uidnext, highest_modseq FROM mailboxes WHERE id = ?').get(inboxId) as Record<string, number>;
    const account = db.prepare('SELECT used_bytes, used_messages, modseq FROM accounts WHERE id = ?').get(accountId) as Record<string, number>;
    truth = {
      count: box.message_count!, unseen: box.unseen_count!, size: box.total_size!, uidnext: box.uidnext!, highest: box.highest_modseq!,
      used: account.used_bytes!, messages: account.used_messages!, modseq: account.modseq!,
    };
    assert.equal(truth.count, 3);
    assert.equal(truth.unseen, 2);
    db.prepare('UPDATE mailboxes SET message_count = 99, unseen_count = 0, total_size = 7, uidnext = 2, highest_modseq = 1 WHERE id = ?').run(inboxId);
    db.prepare('UPDATE accounts SET used_bytes = 5, used_messages = 1, modseq = 1 WHERE id = ?').run(accountId);
  });

  const before = await fsckJson(instance);
  assert.equal(before.code, 1);
  assert.equal(before.report.clean, false);
  assert.deepEqual(problemCodes(before.report), [
    'accountModseq', 'mailboxHighestModseq', 'mailboxMessageCount', 'mailboxTotalSize', 'mailboxUidNext', 'mailboxUnseenCount', 'quotaBytes', 'quotaMessages',
  ]);
  const text = await instance.run(['fsck']);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /problem {3}mailboxMessageCount {2}tim@example\.org\/INBOX: message count is 99, the messages say 3 \(fsck --repair fixes this\)/);
  assert.match(text.stderr, /8 problems in the store/);

  const repaired = await fsckJson(instance, '--repair');
  assert.equal(repaired.code, 0, JSON.stringify(repaired.report));
  assert.equal(repaired.report.repaired.length, 8);
  assert.equal(repaired.report.clean, true);

  withDb(instance.dataDir, (db) => {
    const box = db.prepare('SELECT message_count, unseen_count, total_size, uidnext, highest_modseq FROM mailboxes WHERE id = ?').get(inboxId) as Record<string, number>;
    const account = db.prepare('SELECT used_bytes, used_messages, modseq FROM accounts WHERE id = ?').get(accountId) as Record<string, number>;
    assert.deepEqual([box.message_count, box.unseen_count, box.total_size], [truth.count, truth.unseen, truth.size]);
    // UIDNEXT is raised above every UID ever given (the expunged one included), never below.
    assert.equal(box.uidnext, truth.uidnext);
    assert.equal(box.highest_modseq, truth.highest);
    assert.deepEqual([account.used_bytes, account.used_messages, account.modseq], [truth.used, truth.messages, truth.modseq]);
  });
  assert.equal((await instance.run(['fsck'])).code, 0);
});

test('a missing blob is reported, not repaired, and its message is kept', async (t) => {
  const { instance, inboxId, hashes } = await fixture(t);
  const lost = hashes[1]!;
  unlinkSync(blobPath(instance.dataDir, lost));

  const before = await fsckJson(instance);
  assert.equal(before.code, 1);
  assert.deepEqual(problemCodes(before.report), ['blobMissing']);
  const finding = before.report.findings.find((f) => f.code === 'blobMissing');
  assert.equal(finding?.subject, `blob ${lost}`);
  assert.match(finding?.detail ?? '', /tim@example\.org\/INBOX uid 2/);
  assert.equal(finding?.repair, undefined);

  const after = await fsckJson(instance, '--repair');
  assert.equal(after.code, 1, 'a missing blob stays a problem after --repair');
  assert.deepEqual(problemCodes(after.report), ['blobMissing']);
  const store = await openStore(instance.dataDir);
  try {
    const listed = await store.listMessages(inboxId);
    assert.deepEqual(listed.map((m) => m.blobHash), hashes, 'fsck deleted no message');
  } finally {
    await store.close();
  }
});

test('a blob of the wrong size is reported; --deep also finds bytes that do not match the SHA-256', async (t) => {
  const { instance, hashes } = await fixture(t);
  const [shortened, flipped] = [hashes[0]!, hashes[2]!];
  const path = blobPath(instance.dataDir, shortened);
  writeFileSync(path, readFileSync(path).subarray(1));
  const flippedPath = blobPath(instance.dataDir, flipped);
  const bytes = readFileSync(flippedPath);
  const at = bytes.length - 3;
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0x20, at);
  writeFileSync(flippedPath, bytes);

  const quick = await fsckJson(instance);
  assert.deepEqual(problemCodes(quick.report), ['blobSize']);
  const deep = await fsckJson(instance, '--deep');
  assert.equal(deep.code, 1);
  assert.deepEqual(problemCodes(deep.report), ['blobCorrupt', 'blobCorrupt', 'blobSize']);
  assert.deepEqual(deep.report.findings.filter((f) => f.code === 'blobCorrupt').map((f) => f.subject).sort(), [`blob ${flipped}`, `blob ${shortened}`].sort());
});

test('an old orphan blob is a problem that --repair queues for deletion; a young one is only a notice', async (t) => {
  const { instance } = await fixture(t);
  const bytes = Buffer.from(message('orphan'));
  const hash = createHash('sha256').update(bytes).digest('hex');
  const path = blobPath(instance.dataDir, hash);
  writeFileSync(path, bytes);

  const young = await fsckJson(instance);
  assert.equal(young.code, 0);
  assert.ok(young.report.findings.some((f) => f.code === 'blobUnreferencedYoung' && f.severity === 'notice'));

  const hourAgo = Date.now() / 1000 - 3600;
  utimesSync(path, hourAgo, hourAgo);
  const old = await fsckJson(instance);
  assert.equal(old.code, 1);
  assert.deepEqual(problemCodes(old.report), ['blobOrphan']);

  const repaired = await fsckJson(instance, '--repair');
  assert.equal(repaired.code, 0);
  assert.deepEqual(repaired.report.repaired.map((f) => f.code), ['blobOrphan']);
  // Queued in blob_trash; the CLI's own sweeper may already have deleted the stale file.
  withDb(instance.dataDir, (db) => {
    const queued = db.prepare('SELECT 1 FROM blob_trash WHERE hash = ?').get(hash) !== undefined;
    assert.ok(queued || !existsSync(path), 'the orphan is queued for the sweeper or swept');
  });
  const after = await fsckJson(instance, '--deep');
  assert.equal(after.code, 0, 'every message and its blob is intact');
  assert.equal(after.report.stats.messages, 4);
});

test('recovery queues a young orphan blob for the sweeper, so it never turns into an old orphan', async (t) => {
  const { instance } = await fixture(t);
  // What a crash between a blob's rename and its commit leaves: a fresh, unreferenced blob.
  const bytes = Buffer.from(message('cut by a crash'));
  const hash = createHash('sha256').update(bytes).digest('hex');
  const path = blobPath(instance.dataDir, hash);
  writeFileSync(path, bytes);
  const store = await openStore(instance.dataDir);
  try {
    const report = await store.recover();
    assert.equal(report.orphanBlobsRemoved, 0, 'young: kept for the grace period');
  } finally {
    await store.close();
  }
  // Later, past the grace period, with no restart in between: queued, not forgotten.
  const hourAgo = Date.now() / 1000 - 3600;
  utimesSync(path, hourAgo, hourAgo);
  const result = await fsckJson(instance);
  assert.equal(result.code, 0, JSON.stringify(result.report.findings));
  assert.ok(result.report.findings.some((f) => f.code === 'blobTrashPending'));
});

test('the change log: a reused UID, a message never logged, and a lost message are reported, not repaired', async (t) => {
  const { instance, accountId, inboxId } = await fixture(t);
  withDb(instance.dataDir, (db) => {
    db.prepare("INSERT INTO changes (account_id, modseq, kind, mailbox_id, uid) VALUES (?, 1, 'expunged', ?, 1)").run(accountId, inboxId);
    db.prepare("DELETE FROM changes WHERE kind = 'added' AND mailbox_id = ? AND uid = 2").run(inboxId);
    // What a broken durability path would leave: the message was logged as added, then lost.
    db.prepare('DELETE FROM messages WHERE mailbox_id = ? AND uid = 3').run(inboxId);
  });
  const result = await fsckJson(instance, '--repair');
  assert.equal(result.code, 1);
  assert.deepEqual(problemCodes(result.report), ['changeLogMissing', 'messageVanished', 'uidReused']);
  // The counters and quota follow the rows that are there; the lost message stays reported.
  assert.deepEqual(result.report.repaired.map((f) => f.code).sort(), ['mailboxMessageCount', 'mailboxTotalSize', 'mailboxUnseenCount', 'quotaBytes', 'quotaMessages']);
  // Its blob may be the only copy of the lost message: --repair leaves it and its index alone.
  assert.ok(result.report.findings.some((f) => f.code === 'indexUnused'));
  const detail = (code: string): string => result.report.findings.find((f) => f.code === code)?.detail ?? '';
  assert.match(detail('uidReused'), /tim@example\.org\/INBOX uid 1/);
  assert.match(detail('changeLogMissing'), /tim@example\.org\/INBOX uid 2/);
  assert.match(detail('messageVanished'), /tim@example\.org\/INBOX uid 3/);
});

const DAY = 86_400_000;

/**
 * Ten days after the fixture: two messages added to INBOX (the first then expunged), and an old
 * message flagged, so its MODSEQ is above what pruning will remove while its "added" entry goes.
 */
async function laterChanges(store: MailStore & ChangeLogPruning, accountId: number, inboxId: number): Promise<number[]> {
  const uids = await appendMessages(store, accountId, inboxId, [message('six'), message('seven')]);
  await store.updateFlags(accountId, inboxId, [1], { op: 'add', flags: SystemFlag.Flagged, keywords: [] });
  await store.expunge(accountId, inboxId, [uids[0]!]);
  // Everything of the fixture is older than a day before these.
  assert.ok((await store.pruneChanges(new Date(Date.now() + DAY))) > 0);
  assert.equal((await store.changesSince(accountId, 0)).truncated, true);
  return uids;
}

test('a pruned change log is clean; a message added after the pruned part still needs its entry', async (t) => {
  const { instance, accountId, inboxId } = await fixture(t);
  const store = await openSqliteStore({ dataDir: instance.dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0, now: () => Date.now() + 10 * DAY });
  let uids: number[];
  try {
    uids = await laterChanges(store, accountId, inboxId);
  } finally {
    await store.close();
  }
  const clean = await fsckJson(instance);
  assert.equal(clean.code, 0, JSON.stringify(clean.report.findings));
  assert.equal(clean.report.stats.messages, 5);
  withDb(instance.dataDir, (db) => {
    db.prepare("DELETE FROM changes WHERE kind = 'added' AND mailbox_id = ? AND uid = ?").run(inboxId, uids[1]);
  });
  const missing = await fsckJson(instance);
  assert.equal(missing.code, 1);
  assert.deepEqual(problemCodes(missing.report), ['changeLogMissing']);
  assert.match(missing.report.findings.find((f) => f.code === 'changeLogMissing')?.detail ?? '', new RegExp(`^1 message\\(s\\).*INBOX uid ${uids[1]}$`));
});

// ---- PostgreSQL: the same checks through SQL ---------------------------------------------------

const pgTarget = await postgresTestTarget();
const pgSkip = pgTarget.unavailable === null || pgTarget.required ? false : `PostgreSQL not reachable at ${pgTarget.url} (${pgTarget.unavailable})`;

test('PostgreSQL: clean, then damaged counters and quota repaired, and a blob without its bytes reported and kept', { skip: pgSkip }, async (t) => {
  const schema = freshSchemaName();
  const url = new URL(pgTarget.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  t.after(() => dropSchema(pgTarget.url, schema));
  const instance = createTempInstance(t, `[storage]\nbackend = "postgres"\nurl = "${url.toString()}"\n`);
  const store = await openPostgresStore({ url: url.toString(), listen: false });
  let inboxId = 0;
  try {
    await store.addDomain('example.org');
    const account = await store.addAccount(USER, 'x', 10_000_000);
    const inbox = await store.getMailbox(account.id, 'INBOX');
    assert.ok(inbox);
    inboxId = inbox.id;
    const uids = await appendMessages(store, account.id, inbox.id, [message('one'), message('two'), message('three')]);
    await store.expunge(account.id, inbox.id, [uids[2]!]);
  } finally {
    await store.close();
  }
  const clean = await fsckJson(instance, '--deep');
  assert.equal(clean.code, 0, JSON.stringify(clean.report.findings));
  assert.equal(clean.report.stats.messages, 2);

  await withTestClient(pgTarget.url, async (client) => {
    await client.query(`SET search_path = ${schema}`);
    await client.query('UPDATE mailboxes SET message_count = 9, total_size = 1, uidnext = 1, highest_modseq = 0 WHERE id = $1', [inboxId]);
    await client.query('UPDATE accounts SET used_bytes = 0, used_messages = 7');
  });
  const damaged = await fsckJson(instance);
  assert.equal(damaged.code, 1);
  assert.deepEqual(problemCodes(damaged.report), ['mailboxHighestModseq', 'mailboxMessageCount', 'mailboxTotalSize', 'mailboxUidNext', 'quotaBytes', 'quotaMessages']);
  const repaired = await fsckJson(instance, '--repair');
  assert.equal(repaired.code, 0, JSON.stringify(repaired.report.findings));
  assert.equal(repaired.report.repaired.length, 6);

  await withTestClient(pgTarget.url, async (client) => {
    await client.query(`SET search_path = ${schema}`);
    await client.query("DELETE FROM blob_chunks WHERE data_id = (SELECT b.data_id FROM blobs b JOIN messages m ON m.blob_hash = b.hash WHERE m.uid = 1)");
  });
  const lost = await fsckJson(instance, '--repair');
  assert.equal(lost.code, 1);
  assert.deepEqual(problemCodes(lost.report), ['blobSize']);
  assert.match(lost.report.findings[0]?.detail ?? '', /the blob has 0 octets/);
  const after = await openPostgresStore({ url: url.toString(), listen: false });
  try {
    assert.deepEqual((await after.listMessages(inboxId)).map((m) => m.uid), [1, 2], 'fsck deleted no message');
  } finally {
    await after.close();
  }
});

test('PostgreSQL: a pruned change log is clean; a message added after the pruned part still needs its entry', { skip: pgSkip }, async (t) => {
  const schema = freshSchemaName();
  const url = new URL(pgTarget.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  t.after(() => dropSchema(pgTarget.url, schema));
  const instance = createTempInstance(t, `[storage]\nbackend = "postgres"\nurl = "${url.toString()}"\n`);
  let clock = Date.now();
  const store = await openPostgresStore({ url: url.toString(), listen: false, now: () => clock });
  let inboxId = 0;
  let uids: number[];
  try {
    await store.addDomain('example.org');
    const account = await store.addAccount(USER, 'x', 10_000_000);
    const inbox = await store.getMailbox(account.id, 'INBOX');
    assert.ok(inbox);
    inboxId = inbox.id;
    const old = await appendMessages(store, account.id, inbox.id, [message('one'), message('two'), message('three')]);
    await store.expunge(account.id, inbox.id, [old[2]!]);
    clock += 10 * DAY;
    uids = await laterChanges(store, account.id, inbox.id);
  } finally {
    await store.close();
  }
  const clean = await fsckJson(instance);
  assert.equal(clean.code, 0, JSON.stringify(clean.report.findings));
  assert.equal(clean.report.stats.messages, 3);
  await withTestClient(pgTarget.url, async (client) => {
    await client.query(`SET search_path = ${schema}`);
    await client.query("DELETE FROM changes WHERE kind = 'added' AND mailbox_id = $1 AND uid = $2", [inboxId, uids[1]]);
  });
  const missing = await fsckJson(instance);
  assert.equal(missing.code, 1);
  assert.deepEqual(problemCodes(missing.report), ['changeLogMissing']);
});
