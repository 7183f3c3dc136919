/**
 * Interoperability with command-line clients from Debian (.ci/debian-packages): curl's IMAP
 * support (LIST, FETCH, SEARCH, APPEND over STARTTLS) and mbsync (isync) doing a full two-way
 * sync with a local Maildir. Skipped, with the reason, when the tool is not installed.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SystemFlag } from '../src/store/types.js';
import { PASSWORD, USER, sampleMessage, startImapServer } from './helpers/imap-client.js';

const run = promisify(execFile);

function installed(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-interop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('curl: LIST, FETCH by UID, SEARCH, APPEND, over STARTTLS', async (t) => {
  if (!installed('curl')) {
    t.skip('curl is not installed (apt-get install curl)');
    return;
  }
  const server = await startImapServer(t, { plaintextLogin: false });
  await server.deliver(USER, sampleMessage('for curl', 'curl body\r\n'));
  const base = `imap://127.0.0.1:${server.imapPort}`;
  const curl = async (...args: string[]): Promise<string> =>
    (await run('curl', ['-s', '-S', '--ssl-reqd', '-k', '-u', `${USER}:${PASSWORD}`, ...args], { encoding: 'utf8', timeout: 20_000 })).stdout;
  const list = await curl(`${base}/`);
  assert.match(list, /^\* LIST \(\\HasNoChildren\) "\/" INBOX\r\n/);
  assert.equal(await curl(`${base}/INBOX;UID=1`), sampleMessage('for curl', 'curl body\r\n'));
  assert.equal(await curl(`${base}/INBOX`, '-X', 'SEARCH SUBJECT curl'), '* SEARCH 1\r\n');
  const dir = tempDir(t);
  writeFileSync(join(dir, 'upload.eml'), sampleMessage('uploaded by curl'));
  await curl(`${base}/Sent`, '-T', join(dir, 'upload.eml'));
  assert.deepEqual(await server.messageTexts(USER, 'Sent'), [sampleMessage('uploaded by curl')]);
});

test('mbsync: full two-way sync with a Maildir (new mail, flags, deletions, local additions)', async (t) => {
  if (!installed('mbsync')) {
    t.skip('mbsync is not installed (apt-get install isync)');
    return;
  }
  const server = await startImapServer(t);
  const one = sampleMessage('sync one');
  const two = sampleMessage('sync two');
  await server.deliver(USER, one);
  await server.deliver(USER, two);
  await server.deliver(USER, sampleMessage('archived'), 'Archive');
  const dir = tempDir(t);
  const mail = join(dir, 'mail');
  mkdirSync(mail);
  const config = join(dir, 'mbsyncrc');
  writeFileSync(
    config,
    [
      'IMAPAccount test',
      'Host 127.0.0.1',
      `Port ${server.imapPort}`,
      `User ${USER}`,
      `Pass ${PASSWORD}`,
      'SSLType None',
      'AuthMechs LOGIN',
      '',
      'IMAPStore remote',
      'Account test',
      '',
      'MaildirStore local',
      `Path ${mail}/`,
      `Inbox ${mail}/INBOX`,
      'SubFolders Verbatim',
      '',
      'Channel sync',
      'Far :remote:',
      'Near :local:',
      'Patterns *',
      'Create Both',
      'Expunge Both',
      'SyncState *',
      '',
    ].join('\n'),
  );
  const mbsync = async (): Promise<void> => {
    await run('mbsync', ['-c', config, '-a', '-q'], { encoding: 'utf8', timeout: 60_000 });
  };
  await mbsync();
  const inbox = join(mail, 'INBOX');
  const local = (folder: string): string[] => ['cur', 'new'].flatMap((sub) => readdirSync(join(folder, sub)).map((name) => join(folder, sub, name)));
  // mbsync stores LF line ends and adds an X-TUID field: compare the subjects.
  const subjects = (texts: string[]): string[] => texts.map((text) => /^Subject: (.*?)\r?$/m.exec(text)?.[1] ?? '?').sort();
  const texts = (folder: string): string[] => subjects(local(folder).map((path) => readFileSync(path, 'utf8')));
  assert.deepEqual(texts(inbox), ['sync one', 'sync two']);
  assert.deepEqual(texts(join(mail, 'Archive')), ['archived']);

  // Local changes: flag and read "one", delete "two", add a new message to Drafts.
  const [pathOne] = local(inbox).filter((path) => readFileSync(path, 'utf8').includes('Subject: sync one'));
  const [pathTwo] = local(inbox).filter((path) => readFileSync(path, 'utf8').includes('Subject: sync two'));
  renameSync(pathOne!, join(inbox, 'cur', `${pathOne!.split('/').pop()!.split(':')[0]}:2,FS`));
  rmSync(pathTwo!);
  const draft = sampleMessage('written offline');
  writeFileSync(join(mail, 'Drafts', 'new', `${Date.now()}.1.local`), draft);
  // A server-side change at the same time: a new delivery.
  const three = sampleMessage('sync three');
  await server.deliver(USER, three);
  await mbsync();

  const rows = await server.messages(USER);
  assert.deepEqual((await server.messageTexts(USER)).sort(), [one, three].sort());
  const flagsOfOne = rows.find((row) => row.uid === 1)?.flags ?? 0;
  assert.equal(flagsOfOne & (SystemFlag.Seen | SystemFlag.Flagged), SystemFlag.Seen | SystemFlag.Flagged);
  assert.deepEqual(subjects(await server.messageTexts(USER, 'Drafts')), ['written offline']);
  assert.deepEqual(texts(inbox), ['sync one', 'sync three']);
});
