/**
 * Real clients against the IMAP server: imapflow (Node) and Python's imaplib, doing what mail
 * apps do: read mail that arrived, flag it, move it, search it, delete it, and see another
 * client's changes live (IDLE).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { ImapFlow } from 'imapflow';
import { PASSWORD, USER, sampleMessage, startImapServer } from './helpers/imap-client.js';

function flow(port: number, secure = false): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port, secure, auth: { user: USER, pass: PASSWORD }, logger: false, tls: { rejectUnauthorized: false } });
}

test('imapflow: list, fetch, flag, search, move, append, delete; a second client sees it live', async (t) => {
  const logLines: Array<Record<string, unknown>> = [];
  t.after(() => { for (const l of logLines) if ((l.level as number) >= 40) console.log(JSON.stringify(l)); });
  const server = await startImapServer(t, { plaintextLogin: false, logLines });
  await server.deliver(USER, sampleMessage('hello imapflow', 'First body\r\n'));
  const client = flow(server.imapPort);
  const watcher = flow(server.imapsPort, true);
  t.after(async () => {
    await client.logout().catch(() => undefined);
    await watcher.logout().catch(() => undefined);
  });
  await client.connect();
  await watcher.connect();
  assert.equal(client.secureConnection || client.capabilities.has('IDLE'), true);
  const list = await client.list();
  assert.deepEqual(list.map((m) => [m.path, m.specialUse ?? null]).sort(), [
    ['Archive', '\\Archive'],
    ['Drafts', '\\Drafts'],
    ['INBOX', '\\Inbox'],
    ['Junk', '\\Junk'],
    ['Sent', '\\Sent'],
    ['Trash', '\\Trash'],
  ]);
  const status = await client.status('INBOX', { messages: true, unseen: true, uidNext: true });
  assert.deepEqual(status && [status.messages, status.unseen, status.uidNext], [1, 1, 2]);

  await watcher.mailboxOpen('INBOX');
  const existsSeen = once(watcher, 'exists');
  const lock = await client.getMailboxLock('INBOX');
  try {
    const messages = [];
    for await (const message of client.fetch('1:*', { uid: true, envelope: true, bodyStructure: true, flags: true, source: true })) messages.push(message);
    assert.equal(messages.length, 1);
    assert.equal(messages[0]!.envelope?.subject, 'hello imapflow');
    assert.equal(messages[0]!.bodyStructure?.type, 'text/plain');
    assert.equal(messages[0]!.source?.toString(), sampleMessage('hello imapflow', 'First body\r\n'));
    assert.equal(await client.messageFlagsAdd('1', ['\\Flagged']), true);
    assert.deepEqual(await client.search({ flagged: true }), [1]);
    assert.deepEqual(await client.search({ body: 'first' }, { uid: true }), [1]);
    const appended = await client.append('INBOX', sampleMessage('second'), ['\\Seen']);
    assert.equal(appended && appended.uid, 2);
    // imapflow only idles after a quiet spell; a NOOP asks for the news at once.
    await watcher.noop();
    const [exists] = (await existsSeen) as [{ count: number }];
    assert.equal(exists.count, 2);
    const moved = await client.messageMove('1', 'Archive');
    assert.ok(moved !== false);
    assert.deepEqual(moved && [...moved.uidMap!.entries()], [[1, 1]]);
    assert.equal(await client.messageDelete('1:*'), true);
  } finally {
    lock.release();
  }
  const inbox = await client.status('INBOX', { messages: true });
  const archive = await client.status('Archive', { messages: true });
  assert.deepEqual([inbox && inbox.messages, archive && archive.messages], [0, 1]);
  // No quota set for the account: no resources.
  assert.deepEqual(await client.getQuota('INBOX'), { path: 'INBOX' });
});

test("Python imaplib: LOGIN, SELECT, SEARCH, FETCH, STORE, COPY, EXPUNGE, LOGOUT", async (t) => {
  const probe = spawnSync('python3', ['-c', 'import imaplib'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip('python3 with imaplib is not installed');
    return;
  }
  const server = await startImapServer(t);
  await server.deliver(USER, sampleMessage('from python', 'Snake body\r\n'));
  const script = `
import imaplib, sys
m = imaplib.IMAP4('127.0.0.1', ${server.imapPort})
m.login('${USER}', '${PASSWORD}')
typ, data = m.select('INBOX')
print('select', typ, data[0].decode())
typ, data = m.search(None, 'SUBJECT', '"from python"')
print('search', typ, data[0].decode())
typ, data = m.fetch('1', '(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
print('fetch', typ, data[0][0].decode(), repr(data[0][1].decode()))
typ, data = m.store('1', '+FLAGS', '(\\\\Flagged)')
print('store', typ, data[0].decode())
typ, data = m.copy('1', 'Archive')
print('copy', typ)
typ, data = m.store('1', '+FLAGS', '(\\\\Deleted)')
typ, data = m.expunge()
print('expunge', typ, [d.decode() for d in data])
typ, data = m.status('Archive', '(MESSAGES)')
print('status', typ, data[0].decode())
m.logout()
`;
  // Asynchronous: the server runs in this process and must keep serving meanwhile.
  const result = await promisify(execFile)('python3', ['-c', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(result.stderr, '');
  assert.equal(
    result.stdout,
    [
      'select OK 1',
      'search OK 1',
      "fetch OK 1 (RFC822.SIZE 163 BODY[HEADER.FIELDS (SUBJECT)] {24} 'Subject: from python\\r\\n\\r\\n'",
      'store OK 1 (FLAGS (\\Flagged \\Recent))',
      'copy OK',
      "expunge OK ['1']",
      'status OK Archive (MESSAGES 1)',
      '',
    ].join('\n'),
  );
});

test('end to end: mail sent by SMTP shows up live in an idling IMAP client, which reads, flags, moves and deletes it', async (t) => {
  const server = await startImapServer(t);
  const reader = flow(server.imapPort);
  t.after(() => reader.logout().catch(() => undefined));
  await reader.connect();
  await reader.mailboxOpen('INBOX');
  const arrived = new Promise<number>((resolve) => reader.on('exists', (event: { count: number }) => resolve(event.count)));
  const idling = reader.idle();
  const { createTransport } = await import('nodemailer');
  const transport = createTransport({ host: '127.0.0.1', port: server.port('smtp'), secure: false, ignoreTLS: true });
  await transport.sendMail({ from: 'ann@example.org', to: USER, subject: 'over smtp', text: 'Sent through the MX.' });
  assert.equal(await arrived, 1);
  // imapflow ends IDLE by itself when the next command is issued.
  void idling.catch(() => undefined);
  const message = await reader.fetchOne('1', { envelope: true, source: true, uid: true });
  assert.ok(message !== false);
  assert.equal(message.envelope?.subject, 'over smtp');
  assert.match(message.source?.toString() ?? '', /Sent through the MX\./);
  await reader.messageFlagsAdd('1', ['\\Seen', '\\Flagged']);
  assert.deepEqual(await reader.search({ subject: 'over smtp', flagged: true }), [1]);
  await reader.messageMove('1', 'Archive');
  const archived = await reader.status('Archive', { messages: true });
  assert.equal(archived && archived.messages, 1);
  await reader.mailboxOpen('Archive');
  assert.equal(await reader.messageDelete('1:*'), true);
  assert.deepEqual((await server.messages(USER, 'Archive')).length, 0);
});
