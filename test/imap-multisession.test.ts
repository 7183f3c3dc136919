/**
 * Several sessions on one mailbox (RFC 3501 5.2, 7.4.1; RFC 2180; RFC 2177 IDLE; RFC 7162):
 * what each session is told about the others' changes and new deliveries, and when.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { USER, sampleMessage, startImapServer } from './helpers/imap-client.js';

test('two sessions: EXISTS/RECENT for a delivery, FETCH FLAGS for a STORE, EXPUNGE at NOOP', async (t) => {
  const server = await startImapServer(t);
  await server.deliver(USER, sampleMessage('one'));
  const a = await server.client();
  const b = await server.client();
  await a.run('SELECT INBOX');
  await b.run('SELECT INBOX');
  await server.deliver(USER, sampleMessage('two'));
  // \Recent goes to exactly one session: the first one to be told.
  // RECENT counts every message recent in this session: A claimed 1 at SELECT, 2 now.
  assert.deepEqual(await a.run('NOOP'), ['* 2 EXISTS', '* 2 RECENT', 'A3 OK NOOP completed']);
  assert.deepEqual(await b.run('NOOP'), ['* 2 EXISTS', '* 0 RECENT', 'A3 OK NOOP completed']);
  assert.deepEqual(await a.run('STORE 1 +FLAGS (\\Deleted)'), ['* 1 FETCH (FLAGS (\\Deleted \\Recent))', 'A4 OK STORE completed']);
  assert.deepEqual(await b.run('NOOP'), ['* 1 FETCH (UID 1 FLAGS (\\Deleted))', 'A4 OK NOOP completed']);
  assert.deepEqual(await a.run('EXPUNGE'), ['* 1 EXPUNGE', 'A5 OK EXPUNGE completed']);
  // No EXPUNGE during FETCH, STORE or SEARCH (RFC 3501 7.4.1): numbers stay as B knows them.
  assert.deepEqual(await b.run('FETCH 2 (UID)'), ['* 2 FETCH (UID 2)', 'A5 OK FETCH completed']);
  assert.deepEqual(await b.run('FETCH 1:2 (UID)'), ['* 2 FETCH (UID 2)', 'A6 OK [EXPUNGEISSUED] Some messages were expunged by another session']);
  assert.deepEqual(await b.run('SEARCH ALL'), ['* SEARCH 1 2', 'A7 OK SEARCH completed']);
  assert.deepEqual(await b.run('STORE 2 +FLAGS (\\Seen)'), ['* 2 FETCH (FLAGS (\\Seen))', 'A8 OK STORE completed']);
  // UID commands may carry it, and NOOP does.
  assert.deepEqual(await b.run('UID FETCH 2 (FLAGS)'), ['* 2 FETCH (UID 2 FLAGS (\\Seen))', '* 1 EXPUNGE', 'A9 OK FETCH completed']);
  assert.deepEqual(await b.run('FETCH 1 (UID)'), ['* 1 FETCH (UID 2)', 'A10 OK FETCH completed']);
  assert.deepEqual(await a.run('NOOP'), ['* 1 FETCH (UID 2 FLAGS (\\Seen \\Recent))', 'A6 OK NOOP completed']);
});

test('three sessions: \\Recent exactly once, SELECT after delivery claims it, EXAMINE never does', async (t) => {
  const server = await startImapServer(t);
  const a = await server.client();
  const b = await server.client();
  const c = await server.client();
  await a.run('SELECT INBOX');
  await server.deliver(USER, sampleMessage('one'));
  await server.deliver(USER, sampleMessage('two'));
  const examined = await c.run('EXAMINE INBOX');
  assert.ok(examined.includes('* 2 RECENT'), examined.join('\n'));
  const selected = await b.run('SELECT INBOX');
  assert.ok(selected.includes('* 2 RECENT'), selected.join('\n'));
  assert.deepEqual(await a.run('NOOP'), ['* 2 EXISTS', '* 0 RECENT', 'A3 OK NOOP completed']);
  assert.deepEqual(await b.run('FETCH 1:2 FLAGS'), ['* 1 FETCH (FLAGS (\\Recent))', '* 2 FETCH (FLAGS (\\Recent))', 'A3 OK FETCH completed']);
  assert.deepEqual(await c.run('STATUS INBOX (RECENT MESSAGES)'), ['* STATUS INBOX (RECENT 0 MESSAGES 2)', 'A3 OK STATUS completed']);
});

test('IDLE: deliveries, flag changes and expunges of other sessions arrive while idling', async (t) => {
  const server = await startImapServer(t);
  await server.deliver(USER, sampleMessage('one'));
  const idler = await server.client();
  const other = await server.client();
  await idler.run('SELECT INBOX');
  await other.run('SELECT INBOX');
  idler.write('I1 IDLE\r\n');
  assert.equal(await idler.readLine(), '+ idling');
  await server.deliver(USER, sampleMessage('two'));
  assert.equal(await idler.readLine(), '* 2 EXISTS');
  assert.equal(await idler.readLine(), '* 2 RECENT');
  await other.run('STORE 1 +FLAGS (\\Flagged \\Deleted)');
  assert.equal(await idler.readLine(), '* 1 FETCH (UID 1 FLAGS (\\Flagged \\Deleted \\Recent))');
  await other.run('EXPUNGE');
  assert.equal(await idler.readLine(), '* 1 EXPUNGE');
  idler.write('DONE\r\n');
  assert.deepEqual(await idler.readUntilTagged('I1'), ['I1 OK IDLE terminated']);
  assert.deepEqual(await idler.run('FETCH 1 (UID)'), ['* 1 FETCH (UID 2)', 'A3 OK FETCH completed']);
  // Not DONE: BAD, and the session goes on.
  idler.write('I2 IDLE\r\n');
  assert.equal(await idler.readLine(), '+ idling');
  idler.write('STOP\r\n');
  assert.deepEqual(await idler.readUntilTagged('I2'), ['I2 BAD Expected DONE to end IDLE']);
});

test('QRESYNC: VANISHED instead of EXPUNGE, MODSEQ in unsolicited FETCH, SELECT (QRESYNC ...) catch-up', async (t) => {
  const server = await startImapServer(t);
  for (const subject of ['one', 'two', 'three']) await server.deliver(USER, sampleMessage(subject));
  const v = await server.uidValidity();
  const a = await server.client();
  const b = await server.client();
  assert.deepEqual(await a.run('ENABLE QRESYNC'), ['* ENABLED QRESYNC', 'A2 OK ENABLE completed']);
  await a.run('SELECT INBOX');
  await b.run('SELECT INBOX');
  await b.run('STORE 2 +FLAGS (\\Deleted)');
  await b.run('EXPUNGE');
  await b.run('STORE 1 +FLAGS (\\Seen)');
  assert.deepEqual(await a.run('NOOP'), ['* VANISHED 2', '* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ (7))', 'A4 OK NOOP completed']);
  const c = await server.client();
  await c.run('ENABLE QRESYNC');
  const resync = await c.run(`SELECT INBOX (QRESYNC (${v} 4 1:3))`);
  assert.deepEqual(resync.slice(-3), ['* VANISHED (EARLIER) 2', '* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (7))', 'A3 OK [READ-WRITE] SELECT completed']);
  assert.deepEqual(await c.run('UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4 VANISHED)'), [
    '* VANISHED (EARLIER) 2',
    '* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (7))',
    'A4 OK FETCH completed',
  ]);
  // QRESYNC parameter without ENABLE QRESYNC: BAD (RFC 7162 3.2.5).
  assert.deepEqual(await b.run(`SELECT INBOX (QRESYNC (${v} 4))`), ['A6 BAD QRESYNC must be enabled first (ENABLE QRESYNC)']);
});
