/**
 * Import from mbox and Maildir into a real SQLite store: splitting, unquoting, line endings,
 * dates, flags, keywords, folders, and restartability (journal resume, the batch in doubt,
 * and a real `mailhaven import` killed with SIGKILL partway).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { LocalChangeBus } from '../src/events/local.js';
import { ImportError } from '../src/import/errors.js';
import { importMessages } from '../src/import/importer.js';
import type { ImportOptions, ImportSummary } from '../src/import/importer.js';
import { hashBeforeOffset, readJournal, writeJournal } from '../src/import/journal.js';
import { readMbox } from '../src/import/mbox-reader.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { SystemFlag } from '../src/store/types.js';
import type { Account, MailStore } from '../src/store/types.js';
import fc from 'fast-check';
import { REPO_ROOT, collect, createTempInstance, spawnMailhaven } from './helpers/cli.js';

const CORPUS = resolve(REPO_ROOT, '..', 'shared', 'corpus');

interface Setup {
  dir: string;
  dataDir: string;
  store: MailStore;
  account: Account;
  run(source: ImportOptions['source'], extra?: Partial<ImportOptions>): Promise<ImportSummary>;
}

async function setup(t: TestContext): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-import-'));
  const dataDir = join(dir, 'data');
  const store = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await store.addDomain('example.org');
  const account = await store.addAccount('alice@example.org', '$argon2id$not-used-here', null);
  return {
    dir,
    dataDir,
    store,
    account,
    run: (source, extra = {}) => importMessages({ store, dataDir, account, source, ...extra }),
  };
}

interface StoredView {
  uid: number;
  flags: number;
  keywords: string[];
  internalDate: string;
  text: string;
}

async function mailboxContents(store: MailStore, account: Account, name: string): Promise<StoredView[]> {
  const mailbox = await store.getMailbox(account.id, name);
  assert.ok(mailbox, `mailbox ${name} exists`);
  const views: StoredView[] = [];
  for (const message of await store.listMessages(mailbox.id)) {
    views.push({
      uid: message.uid,
      flags: message.flags,
      keywords: [...message.keywords].sort(),
      internalDate: message.internalDate.toISOString(),
      text: (await store.readMessage(message)).toString('latin1'),
    });
  }
  return views;
}

const lf = (text: string): string => text.replace(/\r\n/g, '\n');
const crlf = (text: string): string => lf(text).replace(/\n/g, '\r\n');

// ---- mbox ------------------------------------------------------------------------------

const SAMPLE_MBOX = [
  'From alice@example.net Sat Jan  3 01:05:34 1998',
  'From: a@example.net',
  'Subject: one',
  '',
  '>From the start',
  '>>From deeper',
  '> From not quoted',
  'From Russia with love',
  'end',
  '',
  'From bob@example.net Sun Jan 23 20:41:55 2022 +0100',
  'Subject: two',
  '',
  'body',
  '',
].join('\n');

const SAMPLE_EXPECTED = [
  'From: a@example.net\r\nSubject: one\r\n\r\nFrom the start\r\n>From deeper\r\n> From not quoted\r\nFrom Russia with love\r\nend\r\n',
  'Subject: two\r\n\r\nbody\r\n',
];

test('mbox: From_ lines split, >From unquoted (mboxrd), separator line dropped, LF becomes CRLF', async (t) => {
  const s = await setup(t);
  const file = join(s.dir, 'lf.mbox');
  writeFileSync(file, SAMPLE_MBOX);
  const summary = await s.run({ kind: 'mbox', path: file });
  assert.deepEqual([summary.messages, summary.mailboxes, summary.duplicatesSkipped, summary.resumed], [2, 1, 0, false]);
  const stored = await mailboxContents(s.store, s.account, 'INBOX');
  assert.deepEqual(stored.map((m) => m.text), SAMPLE_EXPECTED);
  assert.deepEqual(stored.map((m) => m.internalDate), ['1998-01-03T01:05:34.000Z', '2022-01-23T19:41:55.000Z']);
  assert.deepEqual(stored.map((m) => m.uid), [1, 2]);
});

test('mbox: CRLF input stores the same bytes as LF input', async (t) => {
  const s = await setup(t);
  const file = join(s.dir, 'crlf.mbox');
  writeFileSync(file, crlf(SAMPLE_MBOX));
  await s.run({ kind: 'mbox', path: file }, { mailbox: 'FromCrlf' });
  const stored = await mailboxContents(s.store, s.account, 'FromCrlf');
  assert.deepEqual(stored.map((m) => m.text), SAMPLE_EXPECTED);
});

test('mbox: INTERNALDATE from the From_ line, else the Date header, else now', async (t) => {
  const s = await setup(t);
  const file = join(s.dir, 'dates.mbox');
  writeFileSync(
    file,
    [
      'From - Mon Jun  3 12:50:27 1996',
      'Subject: asctime',
      '',
      'x',
      '',
      'From - ',
      'Date: Wed, 10 Nov 2021 23:47:13 +0100',
      'Subject: dateless From_ line',
      '',
      'x',
      '',
      'From someone@example.net',
      'Subject: no date anywhere',
      '',
      'x',
      '',
    ].join('\n'),
  );
  const before = Date.now();
  await s.run({ kind: 'mbox', path: file });
  const after = Date.now();
  const stored = await mailboxContents(s.store, s.account, 'INBOX');
  assert.equal(stored.length, 3);
  assert.equal(stored[0]?.internalDate, '1996-06-03T12:50:27.000Z');
  assert.equal(stored[1]?.internalDate, '2021-11-10T22:47:13.000Z');
  const now = Date.parse(stored[2]?.internalDate ?? '');
  assert.ok(now >= before - 1000 && now <= after + 1000, `"now" date ${stored[2]?.internalDate}`);
});

test('mbox: Status, X-Status, X-Keywords and X-Mozilla-Status become flags and keywords', async (t) => {
  const s = await setup(t);
  const file = join(s.dir, 'flags.mbox');
  const message = (headers: string[]): string => ['From x@example.net Sun Jan 23 20:41:55 2022', ...headers, 'Subject: s', '', 'body', ''].join('\n');
  writeFileSync(
    file,
    [
      message(['Status: RO']),
      message(['Status: O']),
      message(['X-Status: AF']),
      message(['Status: R', 'X-Status: TD']),
      message(['X-Keywords: $Forwarded, Junk bad(kw', ' $Label1']),
      message(['X-Mozilla-Status: 0005', 'X-Mozilla-Keys: $label2 ']),
    ].join('\n'),
  );
  await s.run({ kind: 'mbox', path: file });
  const stored = await mailboxContents(s.store, s.account, 'INBOX');
  assert.deepEqual(
    stored.map((m) => [m.flags, m.keywords]),
    [
      [SystemFlag.Seen, []],
      [0, []],
      [SystemFlag.Answered | SystemFlag.Flagged, []],
      [SystemFlag.Seen | SystemFlag.Draft | SystemFlag.Deleted, []],
      [0, ['$Forwarded', '$Label1', 'Junk']],
      [SystemFlag.Seen | SystemFlag.Flagged, ['$label2']],
    ],
  );
  // The header fields stay in the message: bytes are kept as found.
  assert.match(stored[0]?.text ?? '', /^Status: RO\r\nSubject: s\r\n/);
});

test('mbox: a file that does not start with a From_ line is refused', async (t) => {
  const s = await setup(t);
  const file = join(s.dir, 'message.eml');
  writeFileSync(file, 'Subject: not an mbox\n\nbody\n');
  await assert.rejects(s.run({ kind: 'mbox', path: file }), (err: unknown) => {
    assert.ok(err instanceof ImportError);
    assert.equal(err.code, 'source');
    assert.equal(err.message, `${file} is not an mbox file: it does not start with a "From " line`);
    return true;
  });
  await assert.rejects(s.run({ kind: 'mbox', path: join(s.dir, 'missing.mbox') }), {
    name: 'ImportError',
    message: `cannot read ${join(s.dir, 'missing.mbox')}: ENOENT`,
  });
});

test('mbox: a long line across read chunks and a UTF-8 BOM are handled', async (t) => {
  const s = await setup(t);
  const file = join(s.dir, 'long.mbox');
  const longLine = 'y'.repeat(3 * 1024 * 1024);
  writeFileSync(file, `\uFEFFFrom a@example.net Sun Jan 23 20:41:55 2022\nSubject: long\n\n${longLine}\nFrom b@example.net Sun Jan 23 20:41:56 2022\nSubject: next\n\nok\n`);
  await s.run({ kind: 'mbox', path: file });
  const stored = await mailboxContents(s.store, s.account, 'INBOX');
  assert.deepEqual(stored.map((m) => m.text.length), [`Subject: long\r\n\r\n${longLine}\r\n`.length, 'Subject: next\r\n\r\nok\r\n'.length]);
  assert.equal(stored[0]?.text, `Subject: long\r\n\r\n${longLine}\r\n`);
});

// ---- Maildir ---------------------------------------------------------------------------

function writeMaildirMessage(folder: string, sub: 'cur' | 'new' | 'tmp', name: string, subject: string): void {
  mkdirSync(join(folder, sub), { recursive: true });
  writeFileSync(join(folder, sub, name), `Subject: ${subject}\nDate: Fri, 1 Mar 2024 10:00:00 +0000\n\nbody of ${subject}\n`);
}

function buildMaildir(root: string): void {
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(root, sub), { recursive: true });
  writeMaildirMessage(root, 'new', '1700000000.M1P1.host', 'newest, unseen');
  writeMaildirMessage(root, 'cur', '1600000000.M2P2.host:2,FRS', 'oldest');
  writeMaildirMessage(root, 'cur', '1650000000.M3P3.host:2,Tab', 'trashed with keywords');
  writeMaildirMessage(root, 'cur', 'no-timestamp.host:2,D', 'draft');
  utimesSync(join(root, 'cur', 'no-timestamp.host:2,D'), new Date('2020-02-02T02:02:02Z'), new Date('2020-02-02T02:02:02Z'));
  writeMaildirMessage(root, 'tmp', '1700000001.M9P9.host', 'being delivered');
  writeFileSync(join(root, 'dovecot-keywords'), '0 $Forwarded\n1 Work\n');
  writeMaildirMessage(join(root, '.Sent'), 'cur', '1610000000.M4P4.host:2,S', 'sent');
  writeMaildirMessage(join(root, '.Archive.2024'), 'new', '1710000000.M5P5.host', 'archived');
  writeMaildirMessage(join(root, '.&AMQ-rger'), 'cur', '1720000000.M6P6.host:2,', 'umlaut folder');
  mkdirSync(join(root, '.Empty', 'cur'), { recursive: true });
}

test('Maildir: flags from the info suffix, Dovecot keywords, dates from names or mtime, order, CRLF', async (t) => {
  const s = await setup(t);
  const root = join(s.dir, 'Maildir');
  buildMaildir(root);
  const summary = await s.run({ kind: 'maildir', path: root });
  assert.deepEqual([summary.messages, summary.mailboxes], [7, 4]);
  const inbox = await mailboxContents(s.store, s.account, 'INBOX');
  assert.deepEqual(
    inbox.map((m) => [m.uid, m.flags, m.keywords, m.internalDate, m.text.split('\r\n')[0]]),
    [
      [1, SystemFlag.Flagged | SystemFlag.Answered | SystemFlag.Seen, [], '2020-09-13T12:26:40.000Z', 'Subject: oldest'],
      [2, SystemFlag.Deleted, ['$Forwarded', 'Work'], '2022-04-15T05:20:00.000Z', 'Subject: trashed with keywords'],
      [3, 0, [], '2023-11-14T22:13:20.000Z', 'Subject: newest, unseen'],
      [4, SystemFlag.Draft, [], '2020-02-02T02:02:02.000Z', 'Subject: draft'],
    ],
  );
  assert.equal(inbox[0]?.text, 'Subject: oldest\r\nDate: Fri, 1 Mar 2024 10:00:00 +0000\r\n\r\nbody of oldest\r\n');
});

test('Maildir++: subfolders become mailboxes (parents and empty ones created), or all go to --mailbox', async (t) => {
  const s = await setup(t);
  const root = join(s.dir, 'Maildir');
  buildMaildir(root);
  await s.run({ kind: 'maildir', path: root });
  const names = (await s.store.listMailboxes(s.account.id)).map((m) => m.name).sort();
  for (const name of ['Archive', 'Archive/2024', 'Empty', 'INBOX', 'Sent', 'Ärger']) assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
  assert.deepEqual((await mailboxContents(s.store, s.account, 'Sent')).map((m) => [m.flags, m.text.split('\r\n')[0]]), [[SystemFlag.Seen, 'Subject: sent']]);
  assert.deepEqual((await mailboxContents(s.store, s.account, 'Archive/2024')).map((m) => [m.flags, m.text.split('\r\n')[0]]), [[0, 'Subject: archived']]);
  assert.deepEqual((await mailboxContents(s.store, s.account, 'Ärger')).map((m) => m.text.split('\r\n')[0]), ['Subject: umlaut folder']);
  assert.deepEqual(await mailboxContents(s.store, s.account, 'Empty'), []);
  assert.deepEqual(await mailboxContents(s.store, s.account, 'Archive'), []);

  const override = await s.run({ kind: 'maildir', path: root }, { mailbox: 'Old/Everything' });
  assert.deepEqual([override.messages, override.mailboxes], [7, 1]);
  const all = await mailboxContents(s.store, s.account, 'Old/Everything');
  assert.deepEqual(all.map((m) => m.text.split('\r\n')[0]).sort(), [
    'Subject: archived',
    'Subject: draft',
    'Subject: newest, unseen',
    'Subject: oldest',
    'Subject: sent',
    'Subject: trashed with keywords',
    'Subject: umlaut folder',
  ]);
});

test('Maildir: a folder that is not a Maildir is refused', async (t) => {
  const s = await setup(t);
  const empty = join(s.dir, 'empty');
  mkdirSync(empty);
  await assert.rejects(s.run({ kind: 'maildir', path: empty }), {
    name: 'ImportError',
    message: `${empty} is not a Maildir: no cur/, new/ or Maildir++ subfolders`,
  });
});

// ---- restartability --------------------------------------------------------------------

function generatedMessage(i: number): string {
  const body = Array.from({ length: 12 }, (_, line) => `line ${line} of message ${i}: ${'x'.repeat(40)}`).join('\n');
  return `From sender${i}@example.net Mon Jan  1 10:00:00 2024\nMessage-ID: <${i}@gen.example>\nSubject: message ${i}\n\n${body}\n\n`;
}

function generatedText(i: number): string {
  const body = Array.from({ length: 12 }, (_, line) => `line ${line} of message ${i}: ${'x'.repeat(40)}`).join('\r\n');
  return `Message-ID: <${i}@gen.example>\r\nSubject: message ${i}\r\n\r\n${body}\r\n`;
}

function writeGeneratedMbox(file: string, from: number, to: number, append = false): void {
  let text = '';
  for (let i = from; i < to; i++) text += generatedMessage(i);
  if (append) appendFileSync(file, text);
  else writeFileSync(file, text);
}

test('restart: a finished import imports only what was appended since; a rewritten file is refused', async (t) => {
  const s = await setup(t);
  const file = join(s.dir, 'grow.mbox');
  writeGeneratedMbox(file, 0, 30);
  assert.equal((await s.run({ kind: 'mbox', path: file }, { batchMessages: 7 })).messages, 30);
  const again = await s.run({ kind: 'mbox', path: file }, { batchMessages: 7 });
  assert.deepEqual([again.messages, again.resumed], [0, true]);
  writeGeneratedMbox(file, 30, 35, true);
  assert.equal((await s.run({ kind: 'mbox', path: file })).messages, 5);
  const stored = await mailboxContents(s.store, s.account, 'INBOX');
  assert.deepEqual(stored.map((m) => m.text), Array.from({ length: 35 }, (_, i) => generatedText(i)));

  writeGeneratedMbox(file, 100, 140); // same path, other content
  await assert.rejects(s.run({ kind: 'mbox', path: file }), (err: unknown) => {
    assert.ok(err instanceof ImportError);
    assert.equal(err.code, 'changed');
    return true;
  });
});

test('restart: the batch in doubt (committed, journal not written) is not imported twice', async (t) => {
  const s = await setup(t);
  const file = join(s.dir, 'doubt.mbox');
  writeGeneratedMbox(file, 0, 20);
  const first = await s.run({ kind: 'mbox', path: file }, { batchMessages: 10 });
  assert.equal(first.messages, 20);
  // Rewind the journal to just after batch 1, as if the process died right after committing batch 2.
  const journal = await readJournal(first.journal);
  assert.ok(journal);
  const starts: number[] = [];
  for await (const message of readMbox(file)) starts.push(message.start);
  const offset = starts[10] ?? assert.fail('11th message');
  await writeJournal(first.journal, {
    ...journal,
    messages: 10,
    mbox: { offset, checkHash: await hashBeforeOffset(file, offset) },
    doubt: { mailbox: 'INBOX', uidFloor: 11 },
  });
  writeGeneratedMbox(file, 20, 25, true);

  const resumed = await s.run({ kind: 'mbox', path: file }, { batchMessages: 10 });
  assert.deepEqual([resumed.messages, resumed.duplicatesSkipped, resumed.resumed], [5, 10, true]);
  const stored = await mailboxContents(s.store, s.account, 'INBOX');
  assert.deepEqual(stored.map((m) => m.text), Array.from({ length: 25 }, (_, i) => generatedText(i)));
  assert.deepEqual(stored.map((m) => m.uid), Array.from({ length: 25 }, (_, i) => i + 1));
});

test('restart: an import stopped by the quota keeps what it committed and continues after the quota is raised', async (t) => {
  const s = await setup(t);
  const file = join(s.dir, 'quota.mbox');
  writeGeneratedMbox(file, 0, 30);
  const size = generatedText(0).length;
  await s.store.setQuota('alice@example.org', size * 12);
  await assert.rejects(s.run({ kind: 'mbox', path: file }, { batchMessages: 5 }), {
    name: 'ImportError',
    message: 'over quota after 10 imported messages; raise the quota (mailhaven user quota) and run the same import again to continue',
  });
  assert.equal((await mailboxContents(s.store, s.account, 'INBOX')).length, 10);
  await s.store.setQuota('alice@example.org', null);
  const resumed = await s.run({ kind: 'mbox', path: file }, { batchMessages: 5 });
  assert.deepEqual([resumed.messages, resumed.duplicatesSkipped], [20, 0]);
  const stored = await mailboxContents(s.store, s.account, 'INBOX');
  assert.deepEqual(stored.map((m) => m.text), Array.from({ length: 30 }, (_, i) => generatedText(i)));
});

test('restart: `mailhaven import` killed with SIGKILL partway, then re-run, has every message exactly once', async (t) => {
  const instance = createTempInstance(t);
  const setupCommands = [
    ['domain', 'add', 'example.org'],
    ['user', 'add', 'alice@example.org', '--password-stdin'],
  ];
  for (const args of setupCommands) {
    const result = await instance.run(args, { stdin: 'long enough\n' });
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
  }
  const total = 3000;
  const file = join(instance.dir, 'big.mbox');
  writeGeneratedMbox(file, 0, total);

  const child = spawnMailhaven(['import', 'alice@example.org', '--mbox', file, '--config', instance.configPath]);
  const outcome = collect(child);
  const journalDir = join(instance.dataDir, 'import');
  const killedAt = await waitForJournal(journalDir, 400, 60_000);
  child.kill('SIGKILL');
  const killed = await outcome;
  assert.equal(killed.signal, 'SIGKILL', `import finished before it could be killed: ${killed.stdout}`);
  assert.ok(killedAt < total, `journal showed ${killedAt} messages when the process was killed`);

  const rerun = await instance.run(['import', 'alice@example.org', '--mbox', file]);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stderr, /^mailhaven: continuing an earlier import \(\d+ messages imported before; journal .+\.json\)\n$/);
  const imported = Number(/^imported (\d+) messages into 1 mailbox in \d+\.\d s\n$/.exec(rerun.stdout)?.[1] ?? NaN);
  assert.ok(imported > 0 && imported <= total - killedAt, `re-run imported ${imported} after ${killedAt}`);

  const store = await openSqliteStore({ dataDir: instance.dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  try {
    const account = await store.getAccount('alice@example.org');
    assert.ok(account);
    const stored = await mailboxContents(store, account, 'INBOX');
    assert.equal(stored.length, total);
    assert.deepEqual(
      stored.map((m) => m.text),
      Array.from({ length: total }, (_, i) => generatedText(i)),
    );
  } finally {
    await store.close();
  }
});

/** Polls the journal folder until a journal records at least `min` messages; returns the count seen. */
async function waitForJournal(dir: string, min: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(dir)) {
      for (const name of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
        try {
          const state = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { messages: number };
          if (state.messages >= min) return state.messages;
        } catch {
          // being replaced right now
        }
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`no journal with ${min} messages in ${dir} after ${timeoutMs} ms`);
}

// ---- the shared corpus -----------------------------------------------------------------

test('corpus: every mbox of ../shared/corpus imports with the expected message count', async (t) => {
  if (!existsSync(CORPUS)) {
    t.skip(`corpus not found at ${CORPUS} (see shared/corpus/CORPUS.md)`);
    return;
  }
  const expected: Record<string, number> = {
    'mimekit-content-length.mbox': 29,
    'mimekit-unmunged.mbox': 2,
    'mox-imaptest.mbox': 48,
    'mox-importtest.mbox': 2,
  };
  const found = readdirSync(CORPUS).filter((name) => name.endsWith('.mbox')).sort();
  assert.deepEqual(found, Object.keys(expected).sort(), 'the corpus mbox files changed: update this test');
  const s = await setup(t);
  for (const name of found) {
    const summary = await s.run({ kind: 'mbox', path: join(CORPUS, name) }, { mailbox: name });
    assert.equal(summary.messages, expected[name], name);
    const stored = await mailboxContents(s.store, s.account, name);
    assert.equal(stored.length, expected[name], name);
    for (const message of stored) assert.doesNotMatch(message.text, /(^|[^\r])\n/, `${name} uid ${message.uid}: bare LF`);
  }
  const importtest = await mailboxContents(s.store, s.account, 'mox-importtest.mbox');
  assert.deepEqual(
    importtest.map((m) => [m.flags, m.keywords, m.internalDate]),
    [
      [SystemFlag.Seen | SystemFlag.Answered | SystemFlag.Flagged | SystemFlag.Draft | SystemFlag.Deleted, ['$Forwarded', '$NotJunk'], '2022-01-23T20:41:55.000Z'],
      [SystemFlag.Seen, [], '2022-01-23T21:02:16.000Z'],
    ],
  );
  assert.match(importtest[0]?.text ?? '', /\r\n\r\nFrom testing\r\ntest2\r\nend\r\n$/);
  const unmunged = await mailboxContents(s.store, s.account, 'mimekit-unmunged.mbox');
  assert.match(unmunged[0]?.text ?? '', /\r\n\r\nFrom Russia with love\r\n\r\nWhat does Thunderbird do\?\r\n$/);
});

// ---- the mbox reader at every chunk size -----------------------------------------------

test('mbox reader: the same messages and offsets whatever the read chunk size (property)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-mbox-prop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lineArb = fc.oneof(
    fc.constantFrom('', 'From the body', '>From quoted', '>>From twice', 'From Russia with love', 'F', 'Fr', 'x'.repeat(1200), 'Subject: s'),
    fc.string({ maxLength: 30 }).map((text) => text.replace(/[\r\n]/g, ' ')),
  );
  const messageArb = fc.record({ lines: fc.array(lineArb, { maxLength: 8 }), crlf: fc.boolean() });
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(messageArb, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 40 }), async (messages, chunkSize) => {
      const file = join(dir, `p${run++}.mbox`);
      const text = messages
        .map(({ lines, crlf: useCrlf }, i) => {
          const eol = useCrlf ? '\r\n' : '\n';
          return [`From s${i}@example.net Sun Jan 23 20:41:55 2022`, 'Subject: m', '', ...lines, ''].join(eol) + eol;
        })
        .join('');
      writeFileSync(file, text);
      const reference: Array<[number, number, string]> = [];
      for await (const m of readMbox(file)) reference.push([m.start, m.end, m.bytes.toString('latin1')]);
      const chunked: Array<[number, number, string]> = [];
      for await (const m of readMbox(file, 0, chunkSize)) chunked.push([m.start, m.end, m.bytes.toString('latin1')]);
      assert.deepEqual(chunked, reference);
      // Every message is found (no body line above is a dated From_ line), and resuming at any start gives the rest.
      assert.equal(reference.length, messages.length);
      const second = reference[1];
      if (second) {
        const rest: Array<[number, number, string]> = [];
        for await (const m of readMbox(file, second[0], chunkSize)) rest.push([m.start, m.end, m.bytes.toString('latin1')]);
        assert.deepEqual(rest, reference.slice(1));
      }
    }),
    { numRuns: 150 },
  );
});
