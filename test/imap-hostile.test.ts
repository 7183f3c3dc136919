/**
 * Hostile input and limits (issue "IMAP server", each item its own test): literal caps before
 * the continuation, non-synchronizing literals over the cap, command length, literals per
 * command, nesting depth, SEARCH depth, NUL, huge sequence sets, keywords per mailbox,
 * `__proto__`, garbage before login, too many errors, autologout, and a client that stops reading.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapTestClient, USER, sampleMessage, startImapServer } from './helpers/imap-client.js';

test('a non-APPEND literal over the limit gets NO [TOOBIG] before any continuation', async (t) => {
  const server = await startImapServer(t, { toml: '[limits]\nliteral = "1K"' });
  const c = await server.client();
  c.write('H1 LOGIN {5000}\r\n');
  assert.deepEqual(await c.readUntilTagged('H1'), ['H1 NO [TOOBIG] Literal of 5000 octets is over the limit of 1024']);
  assert.deepEqual(await c.run('NOOP'), ['A2 OK NOOP completed']);
});

test('a non-synchronizing literal over the limit gets BYE and the connection closes (RFC 7888 4)', async (t) => {
  const server = await startImapServer(t, { toml: '[limits]\nliteral = "1K"' });
  const c = await server.client();
  c.write('H1 SELECT {5000+}\r\n');
  assert.equal(await c.readLine(), '* BYE [TOOBIG] Literal of 5000 octets is over the limit of 1024');
  await c.waitClosed();
});

test('an APPEND over the message size limit is refused before the continuation; LITERAL+ over it is BYE', async (t) => {
  const server = await startImapServer(t, { toml: '[limits]\nmessage_size = "10K"' });
  const c = await server.client();
  c.write('H1 APPEND INBOX {20000}\r\n');
  assert.deepEqual(await c.readUntilTagged('H1'), ['H1 NO [TOOBIG] Message is larger than the limit of 10240 octets']);
  c.write('H2 APPEND INBOX {20000+}\r\n');
  assert.equal(await c.readLine(), '* BYE [TOOBIG] Literal of 20000 octets is over the limit of 10240');
  await c.waitClosed();
});

test('a command line over the limit is BAD; the session goes on', async (t) => {
  const server = await startImapServer(t, { toml: '[limits]\nimap_command_line = "8K"' });
  const c = await server.client();
  c.write(`H1 FETCH ${'1,'.repeat(5000)}1 FLAGS\r\n`);
  assert.deepEqual(await c.readUntilTagged('H1'), ['H1 BAD Command line too long']);
  assert.deepEqual(await c.run('NOOP'), ['A2 OK NOOP completed']);
});

test('too many literals in one command is BAD', async (t) => {
  const server = await startImapServer(t);
  const c = await server.client();
  c.write(`H1 ID (${Array.from({ length: 1001 }, () => '{1+}\r\na').join(' ')})\r\n`);
  assert.deepEqual(await c.readUntilTagged('H1'), ['H1 BAD Too many literals in one command']);
  assert.deepEqual(await c.run('NOOP'), ['A2 OK NOOP completed']);
});

test('parenthesis nesting and SEARCH nesting beyond the limits are BAD', async (t) => {
  const server = await startImapServer(t);
  await server.deliver(USER, sampleMessage('one'));
  const c = await server.client();
  await c.run('SELECT INBOX');
  const [nested] = await c.run(`SEARCH ${'('.repeat(40)}ALL${')'.repeat(40)}`);
  assert.match(nested!, /^A3 BAD /);
  assert.deepEqual(await c.run(`SEARCH ${'NOT '.repeat(60)}ALL`), ['A4 BAD Search criteria nested too deeply']);
  assert.deepEqual(await c.run(`SEARCH ${'NOT '.repeat(20)}ALL`), ['* SEARCH 1', 'A5 OK SEARCH completed']);
});

test('NUL in a command is BAD', async (t) => {
  const server = await startImapServer(t);
  const c = await server.client();
  c.write('H1 CREATE "a\0b"\r\n');
  assert.deepEqual(await c.readUntilTagged('H1'), ['H1 BAD NUL octet in command line']);
  assert.deepEqual(await c.run('NOOP'), ['A2 OK NOOP completed']);
});

test('huge sequence sets are never materialised', async (t) => {
  const server = await startImapServer(t);
  await server.deliver(USER, sampleMessage('one'));
  const c = await server.client();
  await c.run('SELECT INBOX');
  const started = Date.now();
  assert.deepEqual(await c.run('UID STORE 1:4294967295 +FLAGS.SILENT (\\Seen)'), ['A3 OK STORE completed']);
  assert.deepEqual(await c.run('UID SEARCH UID 1:4294967295,4294967295'), ['* SEARCH 1', 'A4 OK SEARCH completed']);
  assert.deepEqual(await c.run('UID EXPUNGE 2:4294967295'), ['A5 OK EXPUNGE completed']);
  assert.ok(Date.now() - started < 2000);
});

test('keywords per mailbox are limited: NO [LIMIT] on STORE and APPEND; PERMANENTFLAGS drops \\*', async (t) => {
  const server = await startImapServer(t, { toml: '[limits]\nkeywords_per_mailbox = 2' });
  await server.deliver(USER, sampleMessage('one'));
  const c = await server.client();
  await c.run('SELECT INBOX');
  assert.deepEqual(await c.run('STORE 1 +FLAGS.SILENT (k1 __proto__)'), [
    '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft k1 __proto__)',
    '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft k1 __proto__ \\*)] Flags permitted',
    'A3 OK STORE completed',
  ]);
  assert.deepEqual(await c.run('STORE 1 +FLAGS.SILENT (k3)'), ['A4 NO [LIMIT] Too many keywords in this mailbox (limit 2)']);
  assert.deepEqual(await c.run('STORE 1 -FLAGS.SILENT (k1)'), ['A5 OK STORE completed']);
  c.write('H1 APPEND INBOX (k4) {3}\r\n');
  assert.equal(await c.readLine(), '+ Ready for literal data');
  c.write('abc\r\n');
  assert.deepEqual(await c.readUntilTagged('H1'), ['H1 NO [LIMIT] Too many keywords in this mailbox (limit 2)']);
});

test('garbage before login gets BYE', async (t) => {
  const server = await startImapServer(t);
  const c = await ImapTestClient.connect({ port: server.imapPort });
  await c.readLine();
  c.write('GET / HTTP/1.1\r\nHost: example\r\n\r\n');
  assert.equal(await c.readLine(), '* BYE Please speak IMAP');
  await c.waitClosed();
});

test('too many protocol errors end the session', async (t) => {
  const server = await startImapServer(t, { toml: '[limits]\nerrors_per_session = 3' });
  const c = await server.client();
  c.write('H1 FETCH\r\nH2 FETCH\r\nH3 FETCH\r\n');
  assert.equal(await c.readLine(), 'H1 BAD Missing sequence set');
  assert.equal(await c.readLine(), 'H2 BAD Missing sequence set');
  assert.equal(await c.readLine(), 'H3 BAD Missing sequence set');
  assert.equal(await c.readLine(), '* BYE Too many errors');
  await c.waitClosed();
});

test('autologout after the idle timeout (RFC 3501 5.4), also in IDLE', async (t) => {
  const server = await startImapServer(t, { protocols: { imap: { idleTimeoutMs: 300 } } });
  const c = await server.client();
  await c.run('SELECT INBOX');
  c.write('I1 IDLE\r\n');
  assert.equal(await c.readLine(), '+ idling');
  assert.equal(await c.readLine(), '* BYE Autologout; idle for too long');
  await c.waitClosed();
});

test('before login the short timeout applies, after login the autologout (RFC 3501 5.4)', async (t) => {
  const server = await startImapServer(t, { protocols: { imap: { loginTimeoutMs: 300, idleTimeoutMs: 20_000 } } });
  const anonymous = await ImapTestClient.connect({ port: server.imapPort });
  t.after(() => anonymous.close());
  assert.match(await anonymous.readLine(), /^\* OK /);
  const started = performance.now();
  assert.equal(await anonymous.readLine(), '* BYE Autologout; idle for too long');
  await anonymous.waitClosed();
  const waited = performance.now() - started;
  assert.ok(waited >= 250 && waited < 5000, `closed after ${waited} ms`);
  // A logged-in session outlives the pre-login timeout several times over.
  const user = await server.client();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.deepEqual(await user.run('NOOP'), ['A2 OK NOOP completed']);
});

test('a client that stops reading a large FETCH is cut off, not buffered for', async (t) => {
  const server = await startImapServer(t, { protocols: { imap: { outputStallTimeoutMs: 500 } } });
  await server.deliver(USER, sampleMessage('big', 'y'.repeat(4 * 1024 * 1024) + '\r\n'));
  const c = await server.client();
  await c.run('SELECT INBOX');
  c.pauseReading();
  for (let i = 0; i < 20; i++) c.write(`F${i} FETCH 1 BODY.PEEK[]\r\n`);
  const started = Date.now();
  // The session waits for drain; after the stall timeout it closes the connection.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  c.resumeReading();
  const rest = await c.waitClosed();
  assert.ok(Date.now() - started < 10_000);
  // Far less than 20 copies of 4 MiB were produced.
  assert.ok(c.transcript.length + rest.length < 12 * 1024 * 1024, `received ${c.transcript.length}`);
});
