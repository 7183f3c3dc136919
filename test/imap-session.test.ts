/**
 * IMAP session basics, transcript style: greeting, CAPABILITY before and after login and TLS,
 * LOGIN / AUTHENTICATE, NOOP, LOGOUT, state rules, errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapTestClient, PASSWORD, USER, quote, startImapServer } from './helpers/imap-client.js';

const PRE_LOGIN_LOOPBACK = 'IMAP4rev1 STARTTLS AUTH=PLAIN AUTH=LOGIN LITERAL+ SASL-IR ID ENABLE IDLE';

test('greeting, CAPABILITY, LOGIN, NOOP, LOGOUT', async (t) => {
  const server = await startImapServer(t);
  const c = await ImapTestClient.connect({ port: server.imapPort });
  assert.equal(await c.readLine(), `* OK [CAPABILITY ${PRE_LOGIN_LOOPBACK}] mx.test.example Mailhaven IMAP4rev1 ready`);
  assert.deepEqual(await c.run('CAPABILITY'), [`* CAPABILITY ${PRE_LOGIN_LOOPBACK}`, 'A1 OK CAPABILITY completed']);
  const login = await c.run(`LOGIN ${USER} ${quote(PASSWORD)}`);
  assert.match(login[0]!, /^A2 OK \[CAPABILITY IMAP4rev1 LITERAL\+ .* APPENDLIMIT=52428800\] LOGIN completed$/);
  assert.deepEqual(await c.run('NOOP'), ['A3 OK NOOP completed']);
  assert.deepEqual(await c.run('LOGOUT'), ['* BYE Logging out', 'A4 OK LOGOUT completed']);
  await c.waitClosed();
});

test('port 143 without TLS: LOGINDISABLED, no AUTH=, LOGIN refused; STARTTLS drops pipelined octets', async (t) => {
  const server = await startImapServer(t, { plaintextLogin: false });
  const c = await ImapTestClient.connect({ port: server.imapPort });
  assert.equal(await c.readLine(), '* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED LITERAL+ SASL-IR ID ENABLE IDLE] mx.test.example Mailhaven IMAP4rev1 ready');
  assert.deepEqual(await c.run(`LOGIN ${USER} ${quote(PASSWORD)}`), ['A1 NO [PRIVACYREQUIRED] LOGIN is disabled until TLS is active (STARTTLS)']);
  assert.deepEqual(await c.run('AUTHENTICATE PLAIN'), ['A2 NO [PRIVACYREQUIRED] PLAIN is disabled until TLS is active (STARTTLS)']);
  // A command pipelined after STARTTLS must never run (CVE-2011-0411).
  c.write('S1 STARTTLS\r\nS2 LOGIN x y\r\n');
  assert.equal(await c.readLine(), 'S1 OK Begin TLS negotiation now');
  await c.startTls();
  assert.deepEqual(await c.run('CAPABILITY'), [`* CAPABILITY ${PRE_LOGIN_LOOPBACK.replace('STARTTLS ', '')}`, 'A3 OK CAPABILITY completed']);
  assert.deepEqual(await c.run('STARTTLS'), ['A4 BAD TLS is already active']);
  assert.match((await c.run(`LOGIN ${USER} ${quote(PASSWORD)}`))[0]!, /^A5 OK \[CAPABILITY /);
});

test('imaps: implicit TLS greeting with AUTH=PLAIN, no STARTTLS', async (t) => {
  const server = await startImapServer(t, { plaintextLogin: false });
  const c = await ImapTestClient.connect({ port: server.imapsPort, tls: true });
  t.after(() => c.close());
  assert.equal(await c.readLine(), `* OK [CAPABILITY ${PRE_LOGIN_LOOPBACK.replace('STARTTLS ', '')}] mx.test.example Mailhaven IMAP4rev1 ready`);
});

test('AUTHENTICATE PLAIN with SASL-IR, with a continuation, cancelled, and failing', async (t) => {
  const server = await startImapServer(t);
  const plain = Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64');
  const c = await ImapTestClient.connect({ port: server.imapPort });
  await c.readLine();
  c.write('X1 AUTHENTICATE PLAIN\r\n');
  assert.equal(await c.readLine(), '+ ');
  c.write('*\r\n');
  assert.deepEqual(await c.readUntilTagged('X1'), ['X1 BAD AUTHENTICATE cancelled']);
  c.write('X2 AUTHENTICATE PLAIN\r\n');
  assert.equal(await c.readLine(), '+ ');
  c.write(`${Buffer.from(`\0${USER}\0wrong`).toString('base64')}\r\n`);
  assert.deepEqual(await c.readUntilTagged('X2'), ['X2 NO [AUTHENTICATIONFAILED] Invalid credentials']);
  c.write('X3 AUTHENTICATE PLAIN not-base64!\r\n');
  assert.deepEqual(await c.readUntilTagged('X3'), ['X3 BAD Invalid base64']);
  c.write(`X4 AUTHENTICATE PLAIN ${plain}\r\n`);
  assert.match((await c.readUntilTagged('X4'))[0]!, /^X4 OK \[CAPABILITY IMAP4rev1 .*\] AUTHENTICATE completed$/);
  assert.deepEqual(await c.run('LOGIN a b'), ['A1 BAD LOGIN is not allowed without a selected mailbox']);
});

test('LOGIN: wrong password, then the per-account session limit (NO [LIMIT])', async (t) => {
  const server = await startImapServer(t, { toml: '[limits]\nsessions_per_account = 2' });
  const c = await ImapTestClient.connect({ port: server.imapPort });
  await c.readLine();
  assert.deepEqual(await c.run(`LOGIN ${USER} wrong`), ['A1 NO [AUTHENTICATIONFAILED] Invalid credentials']);
  assert.deepEqual(await c.run('LOGIN __proto__ constructor'), ['A2 NO [AUTHENTICATIONFAILED] Invalid credentials']);
  await server.client();
  await server.client();
  assert.deepEqual(await c.run(`LOGIN ${USER} ${quote(PASSWORD)}`), ['A3 NO [LIMIT] Too many sessions for this account']);
});
