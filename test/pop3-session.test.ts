/**
 * POP3 transcripts (RFC 1939, RFC 2449): every command and response in both states, with exact
 * responses, over POP3S (implicit TLS) unless the test is about plaintext.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { hashPassword } from '../src/auth/password.js';
import { Pop3TestClient } from './helpers/pop3-client.js';
import { APOP_TIMESTAMP, PASSWORD, USER, message, startPop3Server } from './helpers/pop3-server.js';
import type { Pop3Fixture } from './helpers/pop3-server.js';

const GREETING = `+OK Mailhaven POP3 server ready ${APOP_TIMESTAMP}`;
const ONE = message('one', 'first body line');
const TWO = message('two', '.starts with a dot', 'second', 'third');

async function loggedIn(fx: Pop3Fixture): Promise<Pop3TestClient> {
  const { client, greeting } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  assert.equal(greeting, GREETING);
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  assert.match(await client.command(`PASS ${PASSWORD}`), /^\+OK maildrop has \d+ messages? \(\d+ octets\)$/);
  return client;
}

async function withTwoMessages(t: TestContext): Promise<{ fx: Pop3Fixture; uids: number[]; uidValidity: number }> {
  const fx = await startPop3Server(t);
  const uids = await fx.append(ONE, TWO);
  const inbox = await fx.store.getMailboxById(fx.inboxId);
  return { fx, uids, uidValidity: inbox!.uidValidity };
}

test('greeting, CAPA over TLS before and after login', async (t) => {
  const fx = await startPop3Server(t);
  const { client, greeting } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  assert.equal(greeting, GREETING);
  const capa = await client.multiline('CAPA');
  assert.equal(capa.status, '+OK capability list follows');
  assert.deepEqual(capa.lines, [
    'TOP',
    'UIDL',
    'USER',
    'SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256',
    'RESP-CODES',
    'AUTH-RESP-CODE',
    'PIPELINING',
    'EXPIRE NEVER',
    'IMPLEMENTATION Mailhaven',
  ]);
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  assert.equal(await client.command(`PASS ${PASSWORD}`), '+OK maildrop has 0 messages (0 octets)');
  // RFC 5034 3: SASL stays announced after login; no STLS on TLS; EXPIRE is the user's own.
  assert.deepEqual((await client.multiline('CAPA')).lines, [
    'TOP',
    'UIDL',
    'USER',
    'SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256',
    'RESP-CODES',
    'AUTH-RESP-CODE',
    'PIPELINING',
    'EXPIRE NEVER',
    'IMPLEMENTATION Mailhaven',
  ]);
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
  await client.waitClosed();
});

test('TRANSACTION: STAT, LIST, UIDL, RETR, TOP, NOOP with exact responses', async (t) => {
  const { fx, uids, uidValidity } = await withTwoMessages(t);
  const one = Buffer.byteLength(ONE);
  const two = Buffer.byteLength(TWO);
  const client = await loggedIn(fx);
  assert.equal(await client.command('STAT'), `+OK 2 ${one + two}`);
  assert.deepEqual(await client.multiline('LIST'), {
    status: `+OK 2 messages (${one + two} octets)`,
    lines: [`1 ${one}`, `2 ${two}`],
    raw: Buffer.from(`1 ${one}\r\n2 ${two}\r\n.\r\n`),
  });
  assert.equal(await client.command('LIST 2'), `+OK 2 ${two}`);
  assert.equal(await client.command('LIST 3'), '-ERR no such message, only 2 messages in maildrop');
  assert.deepEqual((await client.multiline('UIDL')).lines, [`1 ${uidValidity}.${uids[0]}`, `2 ${uidValidity}.${uids[1]}`]);
  assert.equal(await client.command('UIDL 1'), `+OK 1 ${uidValidity}.${uids[0]}`);
  assert.equal(await client.command('UIDL 9'), '-ERR no such message, only 2 messages in maildrop');

  const retr = await client.multiline('RETR 2');
  assert.equal(retr.status, `+OK ${two} octets`);
  assert.equal(retr.raw.toString(), TWO.replace('\r\n.starts', '\r\n..starts') + '.\r\n');
  assert.equal(retr.lines.join('\r\n') + '\r\n', TWO);

  const top0 = await client.multiline('TOP 2 0');
  assert.equal(top0.status, '+OK top of message follows');
  assert.equal(top0.raw.toString(), `From: sender@example.net\r\nTo: ${USER}\r\nSubject: two\r\n\r\n.\r\n`);
  const top2 = await client.multiline('TOP 2 2');
  assert.deepEqual(top2.lines, ['From: sender@example.net', `To: ${USER}`, 'Subject: two', '', '.starts with a dot', 'second']);
  assert.equal((await client.multiline('TOP 2 99')).raw.toString(), retr.raw.toString());
  assert.equal(await client.command('TOP 3 1'), '-ERR no such message, only 2 messages in maildrop');
  assert.equal(await client.command('RETR 0'), '-ERR invalid message number');
  assert.equal(await client.command('NOOP'), '+OK');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (2 messages left)');
  await client.waitClosed();
  assert.equal((await fx.server.messages(USER)).length, 2);
});

test('DELE marks, RSET unmarks, QUIT expunges durably before +OK', async (t) => {
  const { fx, uids } = await withTwoMessages(t);
  const two = Buffer.byteLength(TWO);
  const client = await loggedIn(fx);
  assert.equal(await client.command('DELE 1'), '+OK message 1 deleted');
  assert.equal(await client.command('DELE 1'), '-ERR message 1 already deleted');
  assert.equal(await client.command('RETR 1'), '-ERR message 1 already deleted');
  assert.equal(await client.command('LIST 1'), '-ERR message 1 already deleted');
  assert.equal(await client.command('STAT'), `+OK 1 ${two}`);
  assert.deepEqual((await client.multiline('LIST')).lines, [`2 ${two}`]);
  assert.equal((await client.multiline('UIDL')).lines.length, 1);
  assert.equal(await client.command('RSET'), `+OK maildrop has 2 messages (${Buffer.byteLength(ONE) + two} octets)`);
  assert.equal(await client.command('STAT'), `+OK 2 ${Buffer.byteLength(ONE) + two}`);
  assert.equal(await client.command('DELE 2'), '+OK message 2 deleted');
  // Nothing is removed before QUIT.
  assert.equal((await fx.server.messages(USER)).length, 2);
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (1 message left)');
  // The +OK came after the commit: the row is already gone when the client reads it.
  assert.deepEqual((await fx.server.messages(USER)).map((m) => m.uid), [uids[0]]);
  await client.waitClosed();
});

test('QUIT with every message deleted reports an empty maildrop', async (t) => {
  const { fx } = await withTwoMessages(t);
  const client = await loggedIn(fx);
  assert.equal(await client.command('DELE 1'), '+OK message 1 deleted');
  assert.equal(await client.command('DELE 2'), '+OK message 2 deleted');
  assert.equal(await client.command('STAT'), '+OK 0 0');
  assert.deepEqual(await client.multiline('LIST'), { status: '+OK 0 messages (0 octets)', lines: [], raw: Buffer.from('.\r\n') });
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
  assert.deepEqual(await fx.server.messages(USER), []);
});

test('commands in the wrong state, unknown commands, syntax errors', async (t) => {
  const fx = await startPop3Server(t);
  let { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  for (const command of ['STAT', 'LIST', 'UIDL', 'RETR 1', 'TOP 1 1', 'DELE 1', 'NOOP', 'RSET']) {
    assert.equal(await client.command(command), '-ERR command not valid in this state', command);
  }
  assert.equal(await client.command('PASS x'), '-ERR send USER first');
  assert.equal(await client.command('HELO there'), '-ERR unknown command');
  assert.equal(await client.command(''), '-ERR unknown command');
  assert.equal(await client.command('USER'), '-ERR USER takes 1 argument');
  assert.equal(await client.command('USER a\u0001'), '-ERR invalid characters in command');
  assert.equal(await client.command('STLS'), '-ERR TLS already active');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off');
  // A fresh session: the errors above count towards errors_per_session (20).
  client = await loggedIn(fx);
  for (const command of [`USER ${USER}`, 'PASS x', 'APOP a b', 'AUTH PLAIN', 'STLS']) {
    assert.equal(await client.command(command), '-ERR command not valid in this state', command);
  }
  assert.equal(await client.command('RETR x'), '-ERR invalid message number');
  assert.equal(await client.command('TOP 1'), '-ERR TOP takes 2 arguments');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
});

test('command lines over limits.command_line are refused, long PASS lines are not; the session goes on', async (t) => {
  const fx = await startPop3Server(t, { toml: '[limits]\ncommand_line = 255' });
  const longPassword = 'p'.repeat(1000);
  await fx.store.setPassword(USER, await hashPassword(longPassword));
  const { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  assert.equal(await client.command(`USER ${'a'.repeat(248)}`), '+OK send PASS');
  assert.equal(await client.command(`USER ${'a'.repeat(249)}`), '-ERR command line too long');
  assert.equal(await client.command(`USER ${'a'.repeat(20_000)}`), '-ERR command line too long');
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  assert.equal(await client.command(`PASS ${longPassword}`), '+OK maildrop has 0 messages (0 octets)');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
});

test('QUIT in AUTHORIZATION closes without UPDATE', async (t) => {
  const fx = await startPop3Server(t);
  const { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off');
  await client.waitClosed();
});

test('pipelined commands are answered in order, in one go (RFC 2449 6.6)', async (t) => {
  const { fx } = await withTwoMessages(t);
  const { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  client.write(`USER ${USER}\r\nPASS ${PASSWORD}\r\nSTAT\r\nRETR 1\r\nDELE 1\r\nLIST 1\r\nUIDL 2\r\nNOOP\r\nQUIT\r\n`);
  assert.match(await client.readLine(), /^\+OK send PASS$/);
  assert.match(await client.readLine(), /^\+OK maildrop has 2 messages/);
  assert.match(await client.readLine(), /^\+OK 2 \d+$/);
  const retr = await client.readMultiline();
  assert.equal(retr.lines.join('\r\n') + '\r\n', ONE);
  assert.equal(await client.readLine(), '+OK message 1 deleted');
  assert.equal(await client.readLine(), '-ERR message 1 already deleted');
  assert.match(await client.readLine(), /^\+OK 2 \d+\.\d+$/);
  assert.equal(await client.readLine(), '+OK');
  assert.equal(await client.readLine(), '+OK Mailhaven POP3 server signing off (1 message left)');
  await client.waitClosed();
});

test('messages stored with bare LF go out with CRLF; dot lines are stuffed', async (t) => {
  const fx = await startPop3Server(t);
  const stored = 'From: a@example.net\nSubject: lf\n\n.\n..two\nlast line without end';
  await fx.append(stored);
  const client = await loggedIn(fx);
  const retr = await client.multiline('RETR 1');
  assert.equal(retr.raw.toString(), 'From: a@example.net\r\nSubject: lf\r\n\r\n..\r\n...two\r\nlast line without end\r\n.\r\n');
  const top = await client.multiline('TOP 1 1');
  assert.equal(top.raw.toString(), 'From: a@example.net\r\nSubject: lf\r\n\r\n..\r\n.\r\n');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (1 message left)');
});

test('a large message streams through with exact bytes', async (t) => {
  const fx = await startPop3Server(t);
  const lines = Array.from({ length: 40_000 }, (_, i) => (i % 7 === 0 ? `.line ${i}` : `line ${i} ${'x'.repeat(i % 60)}`));
  const big = message('big', ...lines);
  await fx.append(big);
  const client = await loggedIn(fx);
  const retr = await client.multiline('RETR 1');
  assert.equal(retr.status, `+OK ${Buffer.byteLength(big)} octets`);
  assert.equal(retr.lines.join('\r\n') + '\r\n', big);
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (1 message left)');
});

test('too many errors close the session', async (t) => {
  const fx = await startPop3Server(t, { toml: '[limits]\nerrors_per_session = 3' });
  const { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  assert.equal(await client.command('BAD1'), '-ERR unknown command');
  assert.equal(await client.command('BAD2'), '-ERR unknown command');
  assert.equal(await client.command('BAD3'), '-ERR unknown command');
  assert.equal(await client.readLine(), '-ERR too many errors, closing connection');
  await client.waitClosed();
});

test('server shutdown ends an idle session with -ERR [SYS/TEMP] and deletes nothing', async (t) => {
  const { fx } = await withTwoMessages(t);
  const client = await loggedIn(fx);
  assert.equal(await client.command('DELE 1'), '+OK message 1 deleted');
  const closing = fx.server.server.close(2000);
  assert.equal(await client.readLine(), '-ERR [SYS/TEMP] server shutting down');
  await client.waitClosed();
  await closing;
  assert.equal((await fx.server.messages(USER)).length, 2);
});
