/**
 * `mailhaven backup` and `mailhaven restore`: a round trip that keeps everything (accounts and
 * passwords, aliases, mail with flags, the queue, tokens, the secret key), a backup taken by
 * another process while this one keeps delivering, and the refusals.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalChangeBus } from '../src/events/local.js';
import { TokenOperations } from '../src/http/tokens.js';
import { indexMessage } from '../src/mime/indexer.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SqliteMailStore } from '../src/store/sqlite/index.js';
import { SystemFlag } from '../src/store/types.js';
import { createTempInstance, runMailhavenProcess } from './helpers/cli.js';
import type { TempInstance } from './helpers/cli.js';

async function openStore(t: TestContext, dataDir: string): Promise<SqliteMailStore> {
  const store = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(() => store.close());
  return store;
}

async function ok(instance: TempInstance, args: string[], stdin?: string): Promise<string> {
  const result = await instance.run(args, stdin === undefined ? {} : { stdin });
  assert.equal(result.stderr, '', args.join(' '));
  assert.equal(result.code, 0, args.join(' '));
  return result.stdout;
}

/** Everything a restore must bring back, in comparable form. */
async function contents(store: SqliteMailStore): Promise<unknown> {
  const accounts = await store.listAccounts();
  const mail: Record<string, unknown> = {};
  for (const account of accounts) {
    for (const box of await store.listMailboxes(account.id)) {
      const messages = await store.listMessages(box.id);
      mail[`${account.address}/${box.name}`] = await Promise.all(
        messages.map(async (message) => ({ uid: message.uid, flags: message.flags, keywords: message.keywords, text: (await store.readMessage(message)).toString('utf8') })),
      );
    }
  }
  return {
    domains: (await store.listDomains()).map((domain) => domain.name),
    accounts: accounts.map((account) => [account.address, account.passwordHash, account.quotaBytes]),
    secrets: await Promise.all(accounts.map((account) => store.getSecret(account.id))),
    aliases: await store.listAliases(),
    tokens: (await store.listAdminTokens()).map((token) => [token.name, token.hash]),
    queue: (await store.listQueue()).map((entry) => [entry.sender, entry.recipients, entry.blobHash]),
    mail,
  };
}

test('backup then restore into an empty data directory brings everything back', async (t) => {
  const source = createTempInstance(t);
  await ok(source, ['domain', 'add', 'example.org']);
  await ok(source, ['user', 'add', 'alice@example.org', '--password-stdin', '--quota', '1G'], 'correct horse battery\n');
  await ok(source, ['user', 'add', 'bob@example.org', '--password-stdin'], 'another good password\n');
  await ok(source, ['user', 'apop', 'alice@example.org', '--secret-stdin'], 'a shared secret\n');
  await ok(source, ['alias', 'add', 'postmaster@example.org', 'alice@example.org']);
  const token = (await ok(source, ['token', 'create', 'ops'])).trim();
  for (let i = 1; i <= 3; i++) await ok(source, ['sendmail', '-i', 'alice@example.org', 'bob@example.org'], `Subject: message ${i}\n\nbody ${i}\n`);
  await ok(source, ['sendmail', '-i', 'partner@elsewhere.test'], 'Subject: for the queue\n\nqueued\n');
  {
    const store = await openStore(t, source.dataDir);
    const alice = await store.getAccount('alice@example.org');
    const inbox = await store.getMailbox(alice!.id, 'INBOX');
    await store.updateFlags(alice!.id, inbox!.id, [2], { op: 'add', flags: SystemFlag.Seen | SystemFlag.Flagged, keywords: ['$Work'] });
  }
  const before = await contents(await openStore(t, source.dataDir));

  const backupDir = join(source.dir, 'backup-1');
  const stdout = await ok(source, ['backup', backupDir]);
  assert.match(stdout, /^backed up 2 accounts, 6 messages \(4 files, 0\.0 MiB\) from \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
  const manifest = JSON.parse(readFileSync(join(backupDir, 'MANIFEST.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(manifest.format, 'mailhaven-backup');
  assert.equal(manifest.blobs, 4);
  assert.deepEqual(readdirSync(backupDir).sort(), ['MANIFEST.json', 'blobs', 'mailhaven.db', 'secret.key']);

  const target = createTempInstance(t);
  const restored = await ok(target, ['restore', backupDir, '--verify']);
  assert.equal(restored, stdout.replace('backed up', 'restored'));
  assert.deepEqual(readFileSync(join(target.dataDir, 'secret.key')), readFileSync(join(source.dataDir, 'secret.key')));
  assert.deepEqual(await contents(await openStore(t, target.dataDir)), before);
  assert.deepEqual(readdirSync(target.dir).filter((name) => name.includes('restoring')), []);
  // The restored store answers like the original: the token still opens the API.
  assert.equal((await new TokenOperations(await openStore(t, target.dataDir)).verify(token))?.name, 'ops');
});

test('a backup taken by another process while mail keeps arriving is consistent', async (t) => {
  const source = createTempInstance(t);
  await ok(source, ['domain', 'add', 'example.org']);
  await ok(source, ['user', 'add', 'alice@example.org', '--password-stdin'], 'correct horse battery\n');
  const store = await openStore(t, source.dataDir);
  const alice = await store.getAccount('alice@example.org');
  const deliver = async (i: number): Promise<void> => {
    const bytes = Buffer.from(`Subject: busy ${i}\r\n\r\n${'x'.repeat(2000)} ${i}\r\n`);
    const writer = store.createBlobWriter();
    await writer.write(bytes);
    await store.deliver(await writer.finish(), indexMessage(bytes), [{ accountId: alice!.id }]);
  };
  for (let i = 0; i < 50; i++) await deliver(i);
  let stop = false;
  let delivered = 50;
  const writing = (async () => {
    while (!stop) await deliver(delivered++);
  })();
  const backupDir = join(source.dir, 'busy-backup');
  const result = await runMailhavenProcess(['backup', backupDir, '--json', '--config', source.configPath]);
  stop = true;
  await writing;
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  const manifest = JSON.parse(result.stdout) as { messages: number; blobs: number };
  assert.ok(manifest.messages >= 50 && manifest.messages <= delivered, `${manifest.messages} of ${delivered}`);
  assert.equal(manifest.blobs, manifest.messages);

  const target = createTempInstance(t);
  await ok(target, ['restore', backupDir, '--verify']);
  const restored = await openStore(t, target.dataDir);
  const account = await restored.getAccount('alice@example.org');
  const inbox = await restored.getMailbox(account!.id, 'INBOX');
  const messages = await restored.listMessages(inbox!.id);
  assert.equal(messages.length, manifest.messages);
  assert.equal(inbox!.messageCount, manifest.messages);
  for (const message of messages) assert.match((await restored.readMessage(message)).toString('utf8'), /^Subject: busy \d+\r\n/);
});

test('refusals: a non-empty backup directory, a non-empty data directory, not a backup, a damaged blob', async (t) => {
  const source = createTempInstance(t);
  await ok(source, ['domain', 'add', 'example.org']);
  await ok(source, ['user', 'add', 'alice@example.org', '--password-stdin'], 'correct horse battery\n');
  await ok(source, ['sendmail', 'alice@example.org'], 'Subject: one\n\none\n');
  const occupied = join(source.dir, 'occupied');
  mkdirSync(occupied);
  writeFileSync(join(occupied, 'something'), 'x');
  const fails = async (instance: TempInstance, args: string[], message: string): Promise<void> => {
    const result = await instance.run(args);
    assert.deepEqual([result.code, result.stdout, result.stderr], [1, '', `mailhaven: ${message}\n`], args.join(' '));
  };
  await fails(source, ['backup', occupied], `${occupied} is not empty: back up into a new directory`);
  const backupDir = join(source.dir, 'good');
  await ok(source, ['backup', backupDir]);
  await fails(source, ['restore', backupDir], `${source.dataDir} is not empty: stop the server and move the old data directory away first`);
  const target = createTempInstance(t);
  await fails(target, ['restore', occupied], `${occupied} is not a Mailhaven backup (no MANIFEST.json; an interrupted backup has none)`);
  const blobs = join(backupDir, 'blobs');
  const fanout = readdirSync(blobs)[0]!;
  const hash = readdirSync(join(blobs, fanout))[0]!;
  writeFileSync(join(blobs, fanout, hash), 'tampered');
  await fails(target, ['restore', backupDir, '--verify'], `${backupDir}: blob ${hash} is damaged (its content does not match its name)`);
  assert.equal(existsSync(join(target.dataDir, 'mailhaven.db')), false);
});
