/**
 * `mailhaven sendmail`: sendmail(1) options, the message as stored (trace and MSA fields, CRLF,
 * Bcc removed), local delivery, queueing for other domains, and the refusals with their exit
 * statuses. Runs through runCli in-process, like the other CLI tests.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { LocalChangeBus } from '../src/events/local.js';
import { parseSendmailArguments } from '../src/sendmail/args.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SqliteMailStore } from '../src/store/sqlite/index.js';
import { createTempInstance } from './helpers/cli.js';
import type { TempInstance } from './helpers/cli.js';

const HOST = 'mail.example.test';

async function instanceWithUsers(t: TestContext, extraToml = ''): Promise<TempInstance> {
  const instance = createTempInstance(t, extraToml);
  for (const args of [['domain', 'add', 'example.org'], ['domain', 'add', HOST]]) assert.equal((await instance.run(args)).code, 0);
  for (const user of ['alice', 'bob', 'carol']) {
    const result = await instance.run(['user', 'add', `${user}@example.org`, '--password-stdin'], { stdin: 'correct horse battery\n' });
    assert.equal(result.code, 0, result.stderr);
  }
  assert.equal((await instance.run(['alias', 'add', `root@${HOST}`, 'alice@example.org'])).code, 0);
  return instance;
}

async function openStore(t: TestContext, instance: TempInstance): Promise<SqliteMailStore> {
  const store = await openSqliteStore({ dataDir: instance.dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(() => store.close());
  return store;
}

async function inbox(store: SqliteMailStore, address: string): Promise<string[]> {
  const account = await store.getAccount(address);
  assert.ok(account);
  const box = await store.getMailbox(account.id, 'INBOX');
  assert.ok(box);
  const messages = await store.listMessages(box.id);
  return Promise.all(messages.map(async (message) => (await store.readMessage(message)).toString('utf8')));
}

function headerOf(message: string): string {
  return message.slice(0, message.indexOf('\r\n\r\n') + 2);
}

test('arguments: recipients, -t, -f/-r in both forms, -F, -i/-oi, ignored options, refused modes', () => {
  assert.deepEqual(parseSendmailArguments(['-FCronDaemon', '-i', '-B8BITMIME', '-oem', 'root']), {
    recipients: ['root'],
    readRecipientsFromHeader: false,
    sender: null,
    fullName: 'CronDaemon',
    dotEndsMessage: false,
  });
  assert.deepEqual(parseSendmailArguments(['-t', '-oi', '-f', '<me@example.org>', '--', '-odd@example.org']), {
    recipients: ['-odd@example.org'],
    readRecipientsFromHeader: true,
    sender: 'me@example.org',
    fullName: null,
    dotEndsMessage: false,
  });
  assert.equal(parseSendmailArguments(['-r<>', 'a@b.example']).sender, '');
  assert.equal(parseSendmailArguments(['-odb', '-v', 'a@b.example']).dotEndsMessage, true);
  assert.throws(() => parseSendmailArguments(['-bs']), /mode -bs is not supported/);
  assert.throws(() => parseSendmailArguments(['-q']), /-q \(queue runs\) is not supported/);
  assert.throws(() => parseSendmailArguments(['-f']), /option -f needs a value/);
  assert.throws(() => parseSendmailArguments(['-Z']), /unknown option -Z/);
});

test('recipients as arguments: delivered with Return-Path, Delivered-To, Received, Date and Message-ID; LF becomes CRLF', async (t) => {
  const instance = await instanceWithUsers(t);
  const message = 'Subject: nightly report\nTo: alice@example.org\n\nall good\n';
  const result = await instance.run(['sendmail', '-f', 'backup@example.org', 'alice@example.org', 'Bob@Example.ORG'], { stdin: message });
  assert.deepEqual([result.code, result.stdout, result.stderr], [0, '', '']);
  const store = await openStore(t, instance);
  const [alice] = await inbox(store, 'alice@example.org');
  const [bob] = await inbox(store, 'bob@example.org');
  assert.ok(alice !== undefined && bob !== undefined);
  const lines = alice.split('\r\n');
  assert.equal(lines[0], 'Return-Path: <backup@example.org>');
  assert.equal(lines[1], 'Delivered-To: alice@example.org');
  assert.equal(lines[2], `Received: by ${HOST} (Mailhaven sendmail, from userid ${userInfo().uid})`);
  assert.match(lines[3] ?? '', /^\tid [0-9A-F]{12}; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/);
  assert.deepEqual(lines.slice(4, 7), ['Subject: nightly report', 'To: alice@example.org', 'From: backup@example.org']);
  assert.match(lines[7] ?? '', /^Date: /);
  assert.match(lines[8] ?? '', new RegExp(`^Message-ID: <[^@>]+@${HOST.replace(/\./g, '\\.')}>$`));
  assert.deepEqual(lines.slice(9), ['', 'all good', '']);
  assert.ok(!/(?<!\r)\n/.test(alice), 'only CRLF line endings');
  assert.ok(bob.startsWith('Return-Path: <backup@example.org>\r\nDelivered-To: bob@example.org\r\n'));
});

test('-t: recipients from To, Cc and Bcc; Bcc is not in the stored message', async (t) => {
  const instance = await instanceWithUsers(t);
  const message = [
    'From: Reports <reports@example.org>',
    'To: Alice <alice@example.org>, undisclosed-recipients:;',
    'Cc: bob@example.org',
    'Bcc: carol@example.org,',
    ' alice@example.org',
    'Subject: -t',
    'Date: Mon, 1 Jan 2024 00:00:00 +0000',
    'Message-ID: <fixed@example.org>',
    '',
    'body',
    '',
  ].join('\n');
  const result = await instance.run(['sendmail', '-t', '-i'], { stdin: message });
  assert.deepEqual([result.code, result.stderr], [0, '']);
  const store = await openStore(t, instance);
  for (const user of ['alice', 'bob', 'carol']) {
    const messages = await inbox(store, `${user}@example.org`);
    assert.equal(messages.length, 1, user);
    const header = headerOf(messages[0]!);
    assert.doesNotMatch(header, /^Bcc:/im);
    assert.doesNotMatch(header, /^ alice@example.org/m);
    // Fields already present are not added twice.
    assert.equal(header.match(/^From:/gim)?.length, 1);
    assert.equal(header.match(/^Date:/gim)?.length, 1);
    assert.match(header, /^Message-ID: <fixed@example\.org>\r$/m);
  }
});

test('a lone "." ends the message unless -i/-oi; -F names the From we add', async (t) => {
  const instance = await instanceWithUsers(t);
  assert.equal((await instance.run(['sendmail', '-F', 'Crön Daemon', 'alice@example.org'], { stdin: 'Subject: dot\n\nbefore\n.\nafter\n' })).code, 0);
  assert.equal((await instance.run(['sendmail', '-oi', 'alice@example.org'], { stdin: 'Subject: dot\n\nbefore\n.\nafter' })).code, 0);
  const store = await openStore(t, instance);
  const [cut, kept] = await inbox(store, 'alice@example.org');
  assert.ok(cut !== undefined && cut.endsWith('\r\n\r\nbefore\r\n'));
  assert.match(headerOf(cut), new RegExp(`^From: =\\?UTF-8\\?B\\?${Buffer.from('Crön Daemon').toString('base64').replace(/\+/g, '\\+')}\\?= <${userInfo().username}@${HOST.replace(/\./g, '\\.')}>\\r$`, 'm'));
  assert.ok(kept?.endsWith('\r\n\r\nbefore\r\n.\r\nafter\r\n'));
});

test('cron style: a bare name is a user at the host name, here an alias; other domains are queued', async (t) => {
  const instance = await instanceWithUsers(t);
  const result = await instance.run(['sendmail', '-FCronDaemon', '-i', '-B8BITMIME', '-oem', 'root', 'partner@elsewhere.test'], { stdin: 'Subject: cron\n\nöutput\n' });
  assert.deepEqual([result.code, result.stderr], [0, '']);
  const store = await openStore(t, instance);
  const [delivered] = await inbox(store, 'alice@example.org');
  assert.ok(delivered?.startsWith(`Return-Path: <${userInfo().username}@${HOST}>\r\nDelivered-To: alice@example.org\r\n`));
  const queue = await store.listQueue();
  assert.equal(queue.length, 1);
  assert.deepEqual(queue[0]?.recipients, [{ address: 'partner@elsewhere.test', kind: 'remote', notify: null, orcpt: null, state: 'pending', last: null }]);
  assert.equal(queue[0]?.sender, `${userInfo().username}@${HOST}`);
  assert.equal(queue[0]?.body, '8BITMIME');
  // Local submission: the worker DKIM-signs it like authenticated submission (docs/dkim.md).
  assert.equal(queue[0]?.submitter, `sendmail:${userInfo().username}`);
});

test('refusals: no recipients, unknown local recipient, our host name without a domain, bad option, too large', async (t) => {
  const instance = await instanceWithUsers(t, '[limits]\nmessage_size = "1K"\n');
  const bare = createTempInstance(t);
  const cases: Array<[TempInstance, string[], string, number, string]> = [
    [instance, ['sendmail'], 'Subject: x\n\n', 1, 'no recipients (give addresses, or -t)'],
    [instance, ['sendmail', '-t'], 'Subject: x\n\n', 1, 'no recipients in the arguments or in To, Cc, Bcc'],
    [instance, ['sendmail', 'nobody@example.org'], 'x\n', 1, 'unknown recipient nobody@example.org'],
    [instance, ['sendmail', 'a b@example.org'], 'x\n', 1, 'invalid recipient address "a b@example.org"'],
    [instance, ['sendmail', '-bs'], '', 2, 'mode -bs is not supported (only -bm, deliver a message)'],
    [instance, ['sendmail', 'alice@example.org'], `Subject: big\n\n${'x'.repeat(2000)}\n`, 1, 'message larger than limits.message_size (1024 octets)'],
    [
      bare,
      ['sendmail', 'root'],
      'x\n',
      1,
      `unknown recipient root@${HOST}: ${HOST} is not a mail domain here (add it and an alias: mailhaven domain add ${HOST}; mailhaven alias add root@${HOST} you@example.org)`,
    ],
  ];
  for (const [target, args, stdin, code, message] of cases) {
    const result = await target.run(args, { stdin });
    assert.deepEqual([result.code, result.stdout, result.stderr], [code, '', `mailhaven: ${message}\n`], args.join(' '));
  }
  const store = await openStore(t, instance);
  assert.deepEqual(await inbox(store, 'alice@example.org'), []);
  assert.deepEqual(await store.listQueue(), []);
});
