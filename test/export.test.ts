/**
 * `mailhaven export`: the Maildir++ layout (folder names, flag letters, keywords, file times)
 * and the mboxrd format, each re-imported with `mailhaven import` into another account to show
 * that leaving loses nothing: mailboxes, message bytes, flags and keywords.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalChangeBus } from '../src/events/local.js';
import { mboxEntry } from '../src/export/index.js';
import { indexMessage } from '../src/mime/indexer.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SqliteMailStore } from '../src/store/sqlite/index.js';
import { SystemFlag } from '../src/store/types.js';
import { createTempInstance } from './helpers/cli.js';
import type { TempInstance } from './helpers/cli.js';

const MESSAGES: Array<{ mailbox: string; text: string; flags: number; keywords: string[]; date: string }> = [
  { mailbox: 'INBOX', text: 'Subject: one\r\n\r\nFrom here on\r\n>From there\r\n', flags: SystemFlag.Seen, keywords: [], date: '2024-01-05T08:09:10Z' },
  { mailbox: 'INBOX', text: 'Subject: two\r\nStatus: O\r\n\r\nbody two\r\n', flags: SystemFlag.Answered | SystemFlag.Flagged, keywords: ['$Work', 'todo'], date: '2024-02-06T10:00:00Z' },
  { mailbox: 'Archive/2024', text: 'Subject: archived\r\n\r\nold\r\n', flags: SystemFlag.Seen | SystemFlag.Deleted, keywords: ['todo'], date: '2023-12-31T23:59:59Z' },
  { mailbox: 'Ärger', text: 'Subject: =?UTF-8?Q?=C3=84rger?=\r\n\r\nnon-ascii folder\r\n', flags: SystemFlag.Draft, keywords: [], date: '2024-03-01T00:00:00Z' },
  { mailbox: 'v1.2', text: 'Subject: dotted\r\n\r\ndot in the name\r\n', flags: 0, keywords: [], date: '2024-03-02T00:00:00Z' },
];

async function openStore(t: TestContext, instance: TempInstance): Promise<SqliteMailStore> {
  const store = await openSqliteStore({ dataDir: instance.dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(() => store.close());
  return store;
}

async function setUp(t: TestContext): Promise<TempInstance> {
  const instance = createTempInstance(t);
  const ok = async (args: string[], stdin?: string): Promise<void> => {
    const result = await instance.run(args, stdin === undefined ? {} : { stdin });
    assert.equal(result.code, 0, result.stderr);
  };
  await ok(['domain', 'add', 'example.org']);
  for (const user of ['alice', 'bob', 'carol']) await ok(['user', 'add', `${user}@example.org`, '--password-stdin'], 'correct horse battery\n');
  const store = await openStore(t, instance);
  const alice = (await store.getAccount('alice@example.org'))!;
  for (const message of MESSAGES) {
    const box = (await store.getMailbox(alice.id, message.mailbox)) ?? (await store.createMailbox(alice.id, message.mailbox));
    const bytes = Buffer.from(message.text, 'utf8');
    const writer = store.createBlobWriter();
    await writer.write(bytes);
    await store.append(alice.id, box.id, [{ blob: await writer.finish(), index: indexMessage(bytes), flags: message.flags, keywords: message.keywords, internalDate: new Date(message.date) }]);
  }
  await store.close();
  return instance;
}

interface Seen {
  mailbox: string;
  text: string;
  flags: number;
  keywords: string[];
  date: string;
}

async function mailOf(store: SqliteMailStore, address: string): Promise<Seen[]> {
  const account = (await store.getAccount(address))!;
  const out: Seen[] = [];
  for (const box of await store.listMailboxes(account.id)) {
    for (const message of await store.listMessages(box.id)) {
      out.push({ mailbox: box.name, text: (await store.readMessage(message)).toString('utf8'), flags: message.flags, keywords: [...message.keywords].sort(), date: message.internalDate.toISOString() });
    }
  }
  return out.sort((a, b) => (a.date < b.date ? -1 : 1));
}

test('Maildir export: folders, flag letters, keywords, file times; a re-import gives the same mail', async (t) => {
  const instance = await setUp(t);
  const dir = join(instance.dir, 'alice.maildir');
  const result = await instance.run(['export', 'alice@example.org', '--maildir', dir]);
  assert.deepEqual([result.code, result.stdout, result.stderr], [0, 'exported 5 messages from 9 mailboxes\n', '']);
  assert.deepEqual(readdirSync(dir).sort(), ['.&AMQ-rger', '.Archive', '.Archive.2024', '.Drafts', '.Junk', '.Sent', '.Trash', '.v1&AC4-2', 'cur', 'dovecot-keywords', 'new', 'tmp']);
  assert.equal(readFileSync(join(dir, 'dovecot-keywords'), 'utf8'), '0 $Work\n1 todo\n');
  const inbox = readdirSync(join(dir, 'cur')).sort();
  assert.equal(inbox.length, 2);
  assert.match(inbox[0]!, /^1704442150\.M1P\d+\.[^,]+,S=\d+:2,S$/);
  assert.match(inbox[1]!, /^1707213600\.M2P\d+\.[^,]+,S=\d+:2,FRab$/);
  assert.equal(statSync(join(dir, 'cur', inbox[0]!)).mtime.toISOString(), '2024-01-05T08:09:10.000Z');
  assert.equal(readFileSync(join(dir, 'cur', inbox[0]!), 'utf8'), MESSAGES[0]!.text);
  const archived = readdirSync(join(dir, '.Archive.2024', 'cur'));
  assert.match(archived[0] ?? '', /:2,STa$/);
  assert.equal(readFileSync(join(dir, '.Archive.2024', 'dovecot-keywords'), 'utf8'), '0 todo\n');
  assert.equal(readdirSync(join(dir, '.&AMQ-rger')).includes('maildirfolder'), true);

  const imported = await instance.run(['import', 'bob@example.org', '--maildir', dir]);
  assert.equal(imported.code, 0, imported.stderr);
  const store = await openStore(t, instance);
  assert.deepEqual(await mailOf(store, 'bob@example.org'), await mailOf(store, 'alice@example.org'));
});

test('mbox export: From_ lines, mboxrd quoting, status fields; a re-import keeps text, flags and keywords', async (t) => {
  const instance = await setUp(t);
  const file = join(instance.dir, 'inbox.mbox');
  const result = await instance.run(['export', 'alice@example.org', '--mbox', file]);
  assert.deepEqual([result.code, result.stdout, result.stderr], [0, 'exported 2 messages from 1 mailbox\n', '']);
  assert.equal(
    readFileSync(file, 'utf8'),
    [
      'From MAILER-DAEMON Fri Jan  5 08:09:10 2024',
      'Subject: one',
      'Status: RO',
      '',
      '>From here on',
      '>>From there',
      '',
      'From MAILER-DAEMON Tue Feb  6 10:00:00 2024',
      'Subject: two',
      'Status: O',
      'X-Status: AF',
      'X-Keywords: $Work todo',
      '',
      'body two',
      '',
      '',
    ].join('\n'),
  );
  const imported = await instance.run(['import', 'carol@example.org', '--mbox', file]);
  assert.equal(imported.code, 0, imported.stderr);
  const store = await openStore(t, instance);
  const carol = await mailOf(store, 'carol@example.org');
  const alice = (await mailOf(store, 'alice@example.org')).filter((message) => message.mailbox === 'INBOX');
  const withoutStatus = (text: string): string => text.replace(/^(Status|X-Status|X-Keywords): .*\r\n/gm, '');
  assert.deepEqual(
    carol.map((message) => ({ ...message, text: withoutStatus(message.text) })),
    alice.map((message) => ({ ...message, text: withoutStatus(message.text) })),
  );

  const archive = join(instance.dir, 'archive.mbox');
  assert.equal((await instance.run(['export', 'alice@example.org', '--mbox', archive, '--mailbox', 'Archive/2024'])).stdout, 'exported 1 message from 1 mailbox\n');
  assert.match(readFileSync(archive, 'utf8'), /^From MAILER-DAEMON Sun Dec 31 23:59:59 2023\nSubject: archived\nStatus: RO\nX-Status: D\nX-Keywords: todo\n\nold\n\n$/);
});

test('mboxEntry: Return-Path names the sender; a message without a header or a final newline', () => {
  const meta = { flags: 0, keywords: [], internalDate: new Date('2024-11-03T04:05:06Z') };
  assert.equal(
    mboxEntry(Buffer.from('Return-Path: <bob@example.org>\r\nSubject: x\r\n\r\nno newline'), meta).toString(),
    'From bob@example.org Sun Nov  3 04:05:06 2024\nReturn-Path: <bob@example.org>\nSubject: x\nStatus: O\n\nno newline\n\n',
  );
  assert.equal(mboxEntry(Buffer.from('\r\nFrom the start\r\n'), meta).toString(), 'From MAILER-DAEMON Sun Nov  3 04:05:06 2024\nStatus: O\n\n>From the start\n\n');
});

test('export refusals: both or neither target, unknown user or mailbox, an existing file', async (t) => {
  const instance = await setUp(t);
  const existing = join(instance.dir, 'exists.mbox');
  writeFileSync(existing, '');
  const cases: Array<[string[], number, string]> = [
    [['export', 'alice@example.org'], 2, 'export needs exactly one of --maildir DIR and --mbox FILE'],
    [['export', 'alice@example.org', '--mbox', 'a', '--maildir', 'b'], 2, 'export needs exactly one of --maildir DIR and --mbox FILE'],
    [['export', 'nobody@example.org', '--mbox', join(instance.dir, 'x.mbox')], 1, 'no such user: nobody@example.org'],
    [['export', 'alice@example.org', '--mbox', join(instance.dir, 'y.mbox'), '--mailbox', 'Nope'], 1, 'alice@example.org has no mailbox "Nope"'],
    [['export', 'alice@example.org', '--mbox', existing], 2, `${existing} exists: export into a new file`],
  ];
  for (const [args, code, message] of cases) {
    const result = await instance.run(args);
    assert.deepEqual([result.code, result.stdout, result.stderr], [code, '', `mailhaven: ${message}\n`], args.join(' '));
  }
});
