/**
 * POP3 authentication: plaintext rules before TLS, STLS (with command injection), APOP with a
 * known timestamp and secret, AUTH over the shared SASL engine, and the shared throttle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { apopTimestamp } from '../src/pop3/index.js';
import { Pop3TestClient } from './helpers/pop3-client.js';
import { APOP_TIMESTAMP, PASSWORD, USER, message, setApopSecret, startPop3Server } from './helpers/pop3-server.js';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const PLAIN_CAPA = [
  'TOP',
  'UIDL',
  'SASL CRAM-MD5 SCRAM-SHA-256',
  'RESP-CODES',
  'AUTH-RESP-CODE',
  'PIPELINING',
  'EXPIRE NEVER',
  'STLS',
  'IMPLEMENTATION Mailhaven',
];
const TLS_CAPA = [
  'TOP',
  'UIDL',
  'USER',
  'SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256',
  'RESP-CODES',
  'AUTH-RESP-CODE',
  'PIPELINING',
  'EXPIRE NEVER',
  'IMPLEMENTATION Mailhaven',
];
const PLAINTEXT_REFUSED = '-ERR [AUTH] plaintext authentication is not allowed without TLS, use STLS';

test('without TLS: USER, PASS, AUTH PLAIN/LOGIN are refused and not announced', async (t) => {
  const fx = await startPop3Server(t);
  const { client } = await Pop3TestClient.connect(fx.pop3Port);
  assert.equal(client.secure, false);
  assert.deepEqual((await client.multiline('CAPA')).lines, PLAIN_CAPA);
  assert.equal(await client.command(`USER ${USER}`), PLAINTEXT_REFUSED);
  assert.equal(await client.command(`PASS ${PASSWORD}`), '-ERR send USER first');
  assert.equal(await client.command(`AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`), PLAINTEXT_REFUSED);
  assert.equal(await client.command('AUTH login'), PLAINTEXT_REFUSED);
  assert.deepEqual(await client.multiline('AUTH'), {
    status: '+OK mechanisms follow',
    lines: ['CRAM-MD5', 'SCRAM-SHA-256'],
    raw: Buffer.from('CRAM-MD5\r\nSCRAM-SHA-256\r\n.\r\n'),
  });
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off');
});

test('STLS, then CAPA changes and USER/PASS works (RFC 2595 4)', async (t) => {
  const fx = await startPop3Server(t);
  await fx.append(message('m', 'body'));
  const { client } = await Pop3TestClient.connect(fx.pop3Port);
  assert.equal(await client.stls(), '+OK begin TLS negotiation');
  assert.equal(client.secure, true);
  assert.deepEqual((await client.multiline('CAPA')).lines, TLS_CAPA);
  assert.equal(await client.command('STLS'), '-ERR TLS already active');
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  assert.equal(await client.command(`PASS ${PASSWORD}`), `+OK maildrop has 1 message (${Buffer.byteLength(message('m', 'body'))} octets)`);
  assert.equal(await client.command('STLS'), '-ERR command not valid in this state');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (1 message left)');
});

test('STLS injection: plaintext pipelined after STLS is discarded, not run under TLS', async (t) => {
  const logLines: Array<Record<string, unknown>> = [];
  const fx = await startPop3Server(t, { toml: '[auth]\nallow_plaintext_on_loopback = true', logLines });
  const { client } = await Pop3TestClient.connect(fx.pop3Port);
  const injected = `USER ${USER}\r\nPASS ${PASSWORD}\r\n`;
  client.write(`STLS\r\n${injected}`);
  assert.equal(await client.readLine(), '+OK begin TLS negotiation');
  await client.upgradeTls();
  // Had USER/PASS been read, the session would be in TRANSACTION now.
  assert.deepEqual(client.pendingLines(), []);
  assert.equal(await client.command(`PASS ${PASSWORD}`), '-ERR send USER first');
  assert.equal(await client.command('STAT'), '-ERR command not valid in this state');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off');
  const discarded = logLines.find((line) => line.msg === 'discarded plaintext sent after STLS');
  assert.equal(discarded?.octets, Buffer.byteLength(injected));
});

test('STLS followed by garbage instead of a handshake closes the connection', async (t) => {
  const fx = await startPop3Server(t, { pop3: { tlsHandshakeTimeoutMs: 2000 } });
  const { client } = await Pop3TestClient.connect(fx.pop3Port);
  assert.equal(await client.command('STLS'), '+OK begin TLS negotiation');
  client.write('USER evil\r\n');
  await client.waitClosed();
  assert.deepEqual(client.pendingLines(), []);
});

test('loopback with auth.allow_plaintext_on_loopback: USER/PASS and PLAIN without TLS', async (t) => {
  const fx = await startPop3Server(t, { toml: '[auth]\nallow_plaintext_on_loopback = true' });
  const { client } = await Pop3TestClient.connect(fx.pop3Port);
  const capa = (await client.multiline('CAPA')).lines;
  assert.deepEqual(capa, [...TLS_CAPA.slice(0, -1), 'STLS', 'IMPLEMENTATION Mailhaven']);
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  assert.equal(await client.command(`PASS ${PASSWORD}`), '+OK maildrop has 0 messages (0 octets)');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
  const second = (await Pop3TestClient.connect(fx.pop3Port)).client;
  assert.equal(await second.command(`AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`), '+OK maildrop has 0 messages (0 octets)');
  assert.equal(await second.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
});

test('wrong password and unknown user get the same -ERR [AUTH]', async (t) => {
  const fx = await startPop3Server(t);
  const { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  assert.equal(await client.command('PASS wrong'), '-ERR [AUTH] authentication failed');
  // The failed PASS used up the USER.
  assert.equal(await client.command(`PASS ${PASSWORD}`), '-ERR send USER first');
  assert.equal(await client.command('USER nobody@example.org'), '+OK send PASS');
  assert.equal(await client.command(`PASS ${PASSWORD}`), '-ERR [AUTH] authentication failed');
  assert.equal(await client.command(`USER ${USER.toUpperCase()}`), '+OK send PASS');
  assert.equal(await client.command(`PASS ${PASSWORD}`), '+OK maildrop has 0 messages (0 octets)');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
});

test('APOP with the RFC 1939 timestamp and secret; works without TLS', async (t) => {
  const fx = await startPop3Server(t);
  await fx.append(message('apop', 'hi'));
  await setApopSecret(fx.server, USER, 'tanstaaf');
  // RFC 1939 7: MD5("<1896.697170952@dbc.mtview.ca.us>tanstaaf").
  const digest = 'c4c9334bac560ecc979e58001b3e22fb';
  assert.equal(createHash('md5').update(`${APOP_TIMESTAMP}tanstaaf`).digest('hex'), digest);
  const { client, greeting } = await Pop3TestClient.connect(fx.pop3Port);
  assert.equal(greeting, `+OK Mailhaven POP3 server ready ${APOP_TIMESTAMP}`);
  assert.equal(await client.command(`APOP ${USER} ${digest}`), `+OK maildrop has 1 message (${Buffer.byteLength(message('apop', 'hi'))} octets)`);
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (1 message left)');
  // Upper-case hex is accepted too.
  const again = (await Pop3TestClient.connect(fx.pop3Port)).client;
  assert.match(await again.command(`APOP ${USER} ${digest.toUpperCase()}`), /^\+OK maildrop has 1 message/);
  assert.equal(await again.command('QUIT'), '+OK Mailhaven POP3 server signing off (1 message left)');
});

test('APOP: wrong digest, no secret and unknown user look and take the same', async (t) => {
  const fx = await startPop3Server(t);
  await fx.server.addUser('nosecret@example.org', 'pw');
  await setApopSecret(fx.server, USER, 'tanstaaf');
  const attempt = async (user: string, digest: string): Promise<{ reply: string; ms: number }> => {
    const { client } = await Pop3TestClient.connect(fx.pop3Port);
    const started = process.hrtime.bigint();
    const reply = await client.command(`APOP ${user} ${digest}`);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    client.close();
    return { reply, ms };
  };
  // Three failures: all within the throttle's free allowance, so no delay muddies the timing.
  const wrong = await attempt(USER, '0'.repeat(32));
  const noSecret = await attempt('nosecret@example.org', 'c4c9334bac560ecc979e58001b3e22fb');
  const unknown = await attempt('ghost@example.org', 'c4c9334bac560ecc979e58001b3e22fb');
  for (const result of [wrong, noSecret, unknown]) assert.equal(result.reply, '-ERR [AUTH] authentication failed');
  // Same work on each path (an MD5 over a stand-in secret): no tell-tale difference.
  assert.ok(Math.abs(wrong.ms - noSecret.ms) < 150, `wrong digest ${wrong.ms} ms, no secret ${noSecret.ms} ms`);
  // Removing the secret disables APOP for that user.
  await setApopSecret(fx.server, USER, null);
  const { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  assert.equal(await client.command(`APOP ${USER} c4c9334bac560ecc979e58001b3e22fb`), '-ERR [AUTH] authentication failed');
});

test('greeting timestamps are <pid.clock.random@hostname> and never repeat', () => {
  const first = apopTimestamp('mail.example.org', 1700000000000);
  const second = apopTimestamp('mail.example.org', 1700000000000);
  assert.match(first, new RegExp(`^<${process.pid}\\.1700000000000\\.[0-9a-f]{16}@mail\\.example\\.org>$`));
  assert.notEqual(first, second);
});

test('AUTH PLAIN with and without initial response, cancel, bad base64, unknown mechanism', async (t) => {
  const fx = await startPop3Server(t);
  const { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  assert.equal(await client.command('AUTH X-UNKNOWN'), '-ERR unsupported authentication mechanism');
  assert.equal(await client.command('AUTH PLAIN'), '+ ');
  assert.equal(await client.command('*'), '-ERR authentication cancelled');
  assert.equal(await client.command('AUTH PLAIN not*base64'), '-ERR invalid base64 in authentication exchange');
  assert.equal(await client.command('AUTH PLAIN'), '+ ');
  assert.equal(await client.command('AAA=BBB'), '-ERR invalid base64 in authentication exchange');
  assert.equal(await client.command('AUTH PLAIN ='), '-ERR malformed authentication exchange');
  assert.equal(await client.command(`AUTH PLAIN ${b64(`\0${USER}\0wrong`)}`), '-ERR [AUTH] authentication failed');
  assert.equal(await client.command('AUTH PLAIN'), '+ ');
  assert.equal(await client.command(b64(`\0${USER}\0${PASSWORD}`)), '+OK maildrop has 0 messages (0 octets)');
  assert.equal(await client.command('AUTH PLAIN'), '-ERR command not valid in this state');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
});

test('AUTH LOGIN and AUTH CRAM-MD5 (with the APOP secret)', async (t) => {
  const fx = await startPop3Server(t);
  await setApopSecret(fx.server, USER, 'shared secret');
  const { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  assert.equal(await client.command('AUTH LOGIN'), `+ ${b64('Username:')}`);
  assert.equal(await client.command(b64(USER)), `+ ${b64('Password:')}`);
  assert.equal(await client.command(b64(PASSWORD)), '+OK maildrop has 0 messages (0 octets)');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');

  const cram = (await Pop3TestClient.connect(fx.pop3Port)).client;
  const challengeLine = await cram.command('AUTH CRAM-MD5');
  assert.match(challengeLine, /^\+ [A-Za-z0-9+/]+=*$/);
  const challenge = Buffer.from(challengeLine.slice(2), 'base64').toString();
  assert.match(challenge, /^<.+@mx\.test\.example>$/);
  const answer = `${USER} ${createHmac('md5', 'shared secret').update(challenge).digest('hex')}`;
  assert.equal(await cram.command(b64(answer)), '+OK maildrop has 0 messages (0 octets)');
  assert.equal(await cram.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
});

test('failed logins feed the throttle shared with SMTP and IMAP; a good login clears the account', async (t) => {
  const fx = await startPop3Server(t);
  const throttle = fx.server.auth.throttle;
  const { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  for (let i = 0; i < 3; i++) {
    assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
    assert.equal(await client.command('PASS wrong'), '-ERR [AUTH] authentication failed');
  }
  // Three failures are free (docs/auth.md); the fourth is answered after one second.
  assert.equal(await throttle.delayFor('127.0.0.1', USER), 0);
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  const started = Date.now();
  assert.equal(await client.command('PASS wrong'), '-ERR [AUTH] authentication failed');
  assert.ok(Date.now() - started >= 900, `the fourth failure was answered after ${Date.now() - started} ms`);
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  assert.match(await client.command(`PASS ${PASSWORD}`), /^\+OK maildrop has/);
  // The account's counter is cleared; the address keeps its own (docs/auth.md).
  assert.equal(await throttle.delayFor('192.0.2.1', USER), 0);
  assert.equal(await throttle.delayFor('127.0.0.1'), 1000);
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
});
