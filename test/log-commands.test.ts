/**
 * One structured log line per command result on SMTP, IMAP and POP3 (src/log/commands.ts), with
 * the connection id, the verb only, the protocol's own result, a duration and the user; no
 * credentials and no message bodies anywhere in the log. Connection open/close lines. Lines
 * that do not parse and IMAP commands refused in the wrong state are counted in
 * mailhaven_commands_total.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandName } from '../src/log/commands.js';
import { indexMessage } from '../src/mime/indexer.js';
import { httpRequest } from './helpers/http.js';
import { ImapTestClient, quote } from './helpers/imap-client.js';
import { Pop3TestClient } from './helpers/pop3-client.js';
import { startTestServer } from './helpers/server.js';
import { SmtpTestClient, plainResponse } from './helpers/smtp-client.js';

type Line = Record<string, unknown>;

const PASSWORD = 'Tr0ub4dor&3-sekrit';
const BODY_MARKER = 'body-words-that-must-never-be-logged';
const APOP_SECRET_WORD = 'not-a-command-but-a-password';

function commandLines(lines: Line[], protocol: string): Line[] {
  return lines.filter((line) => line.msg === 'command' && line.protocol === protocol);
}

/** The log is written as commands finish; wait (bounded) until a predicate holds. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function pick(line: Line | undefined, keys: string[]): Record<string, unknown> {
  assert.ok(line !== undefined, 'log line present');
  return Object.fromEntries(keys.map((key) => [key, line[key]]));
}

async function sampleValue(httpPort: number, series: string): Promise<number> {
  const response = await httpRequest(httpPort, '/metrics');
  assert.equal(response.status, 200);
  const found = response.body.split('\n').find((row) => row.startsWith(`${series} `));
  return found === undefined ? 0 : Number(found.slice(series.length + 1));
}

function commandCount(httpPort: number, protocol: string, command: string, result: string): Promise<number> {
  return sampleValue(httpPort, `mailhaven_commands_total{protocol="${protocol}",command="${command}",result="${result}"}`);
}

test('commandName: known verbs pass, anything else is UNKNOWN', () => {
  const known = (verb: string) => ['RETR', 'UID'].includes(verb);
  assert.equal(commandName('retr', known), 'RETR');
  assert.equal(commandName('hunter2', known), 'UNKNOWN');
  assert.equal(commandName('GET /index.html', known), 'UNKNOWN');
  assert.equal(commandName('', known), 'UNKNOWN');
});

test('SMTP: one line per command with reply code, enhanced code, ms and user; no AUTH data or body', async (t) => {
  const lines: Line[] = [];
  const server = await startTestServer(t, { listeners: ['smtp', 'submission', 'http'], logLines: lines, toml: '[auth]\nallow_plaintext_on_loopback = true' });
  await server.addDomain('example.org');
  await server.addUser('alice@example.org', PASSWORD);
  await server.addUser('bob@example.org', PASSWORD);
  const http = server.port('http');

  const { client } = await SmtpTestClient.open(server.port('submission'));
  assert.equal((await client.command('EHLO client.example')).code, 250);
  // AUTH LOGIN with a wrong password: the exchange lines are never logged either.
  const wrongLogin = Buffer.from(`wrong-${PASSWORD}`).toString('base64');
  assert.equal((await client.command('AUTH LOGIN')).code, 334);
  assert.equal((await client.command(Buffer.from('alice@example.org').toString('base64'))).code, 334);
  assert.equal((await client.command(wrongLogin)).code, 535);
  const plain = plainResponse('alice@example.org', PASSWORD);
  assert.equal((await client.command(`AUTH PLAIN ${plain}`)).code, 235);
  assert.equal((await client.command('MAIL FROM:<alice@example.org>')).code, 250);
  assert.equal((await client.command('RCPT TO:<bob@example.org>')).code, 250);
  const [, accepted] = await client.data(`Subject: log test\r\n\r\n${BODY_MARKER}\r\n`);
  assert.equal(accepted.code, 250);
  assert.equal((await client.command(`${APOP_SECRET_WORD} x`)).code, 500);
  assert.equal((await client.command('MAIL FROM:<not-closed@example.org')).code, 501);
  assert.equal((await client.command('QUIT')).code, 221);
  await eventually(() => lines.some((line) => line.msg === 'connection closed' && line.protocol === 'submission'), 'the close line');

  const commands = commandLines(lines, 'submission');
  assert.deepEqual(
    commands.map((line) => [line.command, line.result, line.code]),
    [
      ['EHLO', '250', undefined],
      ['AUTH', '535', '5.7.8'],
      ['AUTH', '235', '2.7.0'],
      ['MAIL', '250', '2.1.0'],
      ['RCPT', '250', '2.1.5'],
      ['DATA', '250', '2.0.0'],
      ['UNKNOWN', '500', '5.5.2'],
      ['MAIL', '501', '5.1.7'],
      ['QUIT', '221', '2.0.0'],
    ],
  );
  const opened = lines.find((line) => line.msg === 'connection opened' && line.protocol === 'submission');
  const closed = lines.find((line) => line.msg === 'connection closed' && line.protocol === 'submission');
  assert.equal(opened?.level, 'info');
  assert.equal(typeof closed?.ms, 'number');
  assert.ok((closed?.bytesIn as number) > 100, 'bytes read are reported');
  for (const line of commands) {
    assert.equal(line.level, 'info');
    assert.equal(line.conn, opened?.conn, 'every line carries the connection id');
    assert.equal(typeof line.ms, 'number');
    assert.ok((line.ms as number) >= 0);
  }
  assert.equal(commands[0]?.user, undefined, 'no user before AUTH');
  assert.equal(commands[1]?.user, undefined, 'no user after a failed AUTH');
  assert.deepEqual(
    commands.slice(2).map((line) => line.user),
    Array<string>(7).fill('alice@example.org'),
  );
  const text = JSON.stringify(lines);
  for (const secret of [PASSWORD, plain, wrongLogin, BODY_MARKER, APOP_SECRET_WORD, 'not-closed']) assert.ok(!text.includes(secret), `log must not contain ${secret}`);

  assert.equal(await commandCount(http, 'smtp', 'UNKNOWN', 'permfail'), 1);
  assert.equal(await commandCount(http, 'smtp', 'MAIL', 'permfail'), 1);
  assert.equal(await commandCount(http, 'smtp', 'MAIL', 'ok'), 1);
});

test('IMAP: tagged status, response code and UID prefix; parse failures and wrong-state commands are logged and counted', async (t) => {
  const lines: Line[] = [];
  const server = await startTestServer(t, { listeners: ['imap', 'http'], logLines: lines, toml: '[auth]\nallow_plaintext_on_loopback = true' });
  await server.addDomain('example.org');
  await server.addUser('alice@example.org', PASSWORD);
  const http = server.port('http');

  const client = await ImapTestClient.connect({ port: server.port('imap') });
  await client.readLine();
  assert.match((await client.exchange('SELECT INBOX')).tagged, /^A1 BAD /); // wrong state: before login
  assert.match((await client.exchange(`LOGIN ${quote('alice@example.org')} ${quote('wrong-' + PASSWORD)}`)).tagged, /^A2 NO /);
  assert.match((await client.exchange(`LOGIN ${quote('alice@example.org')} ${quote(PASSWORD)}`)).tagged, /^A3 OK /);
  assert.match((await client.exchange('FETCH 1 FLAGS')).tagged, /^A4 BAD /); // wrong state: nothing selected
  assert.match((await client.exchange(`APPEND INBOX {${BODY_MARKER.length + 15}+}\r\nSubject: x\r\n\r\n${BODY_MARKER}\r\n`)).tagged, /^A5 OK /);
  assert.match((await client.exchange('SELECT INBOX')).tagged, /^A6 OK /);
  assert.match((await client.exchange('UID FETCH 1:* (BODY[])')).tagged, /^A7 OK /);
  assert.match((await client.exchange(`XYZZY ${APOP_SECRET_WORD}`)).tagged, /^A8 BAD /);
  assert.match((await client.exchange('SELECT Nowhere')).tagged, /^A9 NO /);
  // Refused before its literal is sent (RFC 7889): answered by the upload, not the dispatcher.
  assert.match((await client.exchange('APPEND INBOX {99999999999}')).tagged, /^A10 NO \[TOOBIG\]/);
  assert.match((await client.exchange('LOGOUT')).tagged, /^A11 OK /);
  await eventually(() => lines.some((line) => line.msg === 'connection closed' && line.protocol === 'imap'), 'the close line');

  const commands = commandLines(lines, 'imap');
  assert.deepEqual(
    commands.map((line) => pick(line, ['command', 'result', 'code', 'user'])),
    [
      { command: 'SELECT', result: 'BAD', code: undefined, user: undefined },
      { command: 'LOGIN', result: 'NO', code: 'AUTHENTICATIONFAILED', user: undefined },
      { command: 'LOGIN', result: 'OK', code: 'CAPABILITY', user: 'alice@example.org' },
      { command: 'FETCH', result: 'BAD', code: undefined, user: 'alice@example.org' },
      { command: 'APPEND', result: 'OK', code: 'APPENDUID', user: 'alice@example.org' },
      { command: 'SELECT', result: 'OK', code: 'READ-WRITE', user: 'alice@example.org' },
      { command: 'UID FETCH', result: 'OK', code: undefined, user: 'alice@example.org' },
      { command: 'UNKNOWN', result: 'BAD', code: undefined, user: 'alice@example.org' },
      { command: 'SELECT', result: 'NO', code: 'NONEXISTENT', user: 'alice@example.org' },
      { command: 'APPEND', result: 'NO', code: 'TOOBIG', user: 'alice@example.org' },
      { command: 'LOGOUT', result: 'OK', code: undefined, user: 'alice@example.org' },
    ],
  );
  const conn = lines.find((line) => line.msg === 'connection opened' && line.protocol === 'imap')?.conn;
  assert.ok(typeof conn === 'string' && conn.length > 0);
  assert.ok(commands.every((line) => line.conn === conn && typeof line.ms === 'number'));
  const text = JSON.stringify(lines);
  for (const secret of [PASSWORD, BODY_MARKER, APOP_SECRET_WORD, 'XYZZY']) assert.ok(!text.includes(secret), `log must not contain ${secret}`);

  assert.equal(await commandCount(http, 'imap', 'SELECT', 'bad'), 1);
  assert.equal(await commandCount(http, 'imap', 'FETCH', 'bad'), 1);
  assert.equal(await commandCount(http, 'imap', 'UNKNOWN', 'bad'), 1);
  assert.equal(await commandCount(http, 'imap', 'FETCH', 'ok'), 1);
  assert.equal(await commandCount(http, 'imap', 'SELECT', 'no'), 1);
  assert.equal(await commandCount(http, 'imap', 'APPEND', 'no'), 1);
});

test('POP3: +OK/-ERR with response code and user; USER/PASS/APOP arguments and bodies never logged', async (t) => {
  const lines: Line[] = [];
  const server = await startTestServer(t, { listeners: ['pop3', 'http'], logLines: lines, toml: '[auth]\nallow_plaintext_on_loopback = true' });
  await server.addDomain('example.org');
  await server.addUser('alice@example.org', PASSWORD);
  const http = server.port('http');
  // A message to RETR, delivered straight through the store like SMTP would.
  const account = await server.store.getAccount('alice@example.org');
  assert.ok(account !== null);
  const bytes = Buffer.from(`Subject: pop\r\n\r\n${BODY_MARKER}\r\n`);
  const writer = server.store.createBlobWriter();
  await writer.write(bytes);
  const [delivered] = await server.store.deliver(await writer.finish(), indexMessage(bytes), [{ accountId: account.id }]);
  assert.equal(delivered?.ok, true);

  const { client } = await Pop3TestClient.connect(server.port('pop3'));
  assert.match(await client.command('STAT'), /^-ERR/); // wrong state
  assert.match(await client.command('USER alice@example.org'), /^\+OK/);
  assert.match(await client.command(`PASS wrong-${PASSWORD}`), /^-ERR \[AUTH\]/);
  assert.match(await client.command(`APOP alice@example.org ${APOP_SECRET_WORD}`), /^-ERR/);
  assert.match(await client.command('USER alice@example.org'), /^\+OK/);
  assert.match(await client.command(`PASS ${PASSWORD}`), /^\+OK/);
  const retr = await client.multiline('RETR 1');
  assert.ok(retr.lines.join('\n').includes(BODY_MARKER));
  assert.match(await client.command(`${APOP_SECRET_WORD}`), /^-ERR/);
  assert.match(await client.command('QUIT'), /^\+OK/);
  await eventually(() => lines.some((line) => line.msg === 'connection closed' && line.protocol === 'pop3'), 'the close line');

  const commands = commandLines(lines, 'pop3');
  assert.deepEqual(
    commands.map((line) => pick(line, ['command', 'result', 'code', 'user'])),
    [
      { command: 'STAT', result: '-ERR', code: undefined, user: undefined },
      { command: 'USER', result: '+OK', code: undefined, user: 'alice@example.org' },
      { command: 'PASS', result: '-ERR', code: 'AUTH', user: 'alice@example.org' },
      { command: 'APOP', result: '-ERR', code: commands[3]?.code, user: undefined },
      { command: 'USER', result: '+OK', code: undefined, user: 'alice@example.org' },
      { command: 'PASS', result: '+OK', code: undefined, user: 'alice@example.org' },
      { command: 'RETR', result: '+OK', code: undefined, user: 'alice@example.org' },
      { command: 'UNKNOWN', result: '-ERR', code: undefined, user: 'alice@example.org' },
      { command: 'QUIT', result: '+OK', code: undefined, user: 'alice@example.org' },
    ],
  );
  const text = JSON.stringify(lines);
  for (const secret of [PASSWORD, BODY_MARKER, APOP_SECRET_WORD]) assert.ok(!text.includes(secret), `log must not contain ${secret}`);
  assert.equal(await commandCount(http, 'pop3', 'UNKNOWN', 'no'), 1);
  assert.equal(await commandCount(http, 'pop3', 'STAT', 'no'), 1);
});
