/**
 * Hostile input on the SMTP listeners, one test per item of the issue: the smuggling matrix
 * (DATA and BDAT), STARTTLS command injection, talking before the greeting, unnegotiated
 * pipelining, long lines, control characters in parameters, the relay battery, and the limits
 * (connections, errors, timeouts, deadline, HTTP on the SMTP port).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasOutboundQueue } from '../src/queue/types.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer, TestServerOptions } from './helpers/server.js';
import { SmtpTestClient, expectCode } from './helpers/smtp-client.js';

async function setup(t: TestContext, options: TestServerOptions = {}): Promise<TestServer> {
  const server = await startTestServer(t, { listeners: ['smtp', 'submission'], ...options });
  await server.addDomain('example.com');
  await server.addUser('alice@example.com', 'alice-password-1');
  await server.addUser('bob@example.com', 'bob-password-12');
  return server;
}

async function greeted(t: TestContext, server: TestServer, listener: 'smtp' | 'submission' = 'smtp'): Promise<SmtpTestClient> {
  const { client } = await SmtpTestClient.open(server.port(listener));
  t.after(() => client.close());
  expectCode((await client.ehlo()).reply, '250');
  return client;
}

async function inTransaction(t: TestContext, server: TestServer): Promise<SmtpTestClient> {
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<mallory@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  return client;
}

/** Raw bytes from connect to close: what a client that never waits would see. */
async function rawExchange(port: number, send: string | Buffer, waitMs = 0): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  if (waitMs > 0) await sleep(waitMs);
  socket.write(send);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('utf8');
}

// --- SMTP smuggling (CVE-2023-51764 family) -------------------------------------------------

/** End-of-data look-alikes that a lenient server would take as the end of the message. */
const SMUGGLING_SEQUENCES: Array<[string, string]> = [
  ['LF.LF', '\n.\n'],
  ['LF.CRLF', '\n.\r\n'],
  ['CRLF.LF', '\r\n.\n'],
  ['CR.CRLF', '\r.\r\n'],
  ['CRLF.CR', '\r\n.\r'],
  ['CR.CR', '\r.\r'],
  ['CR.LF', '\r.\n'],
  ['bare LF line', 'text\nmore\r\n'],
];

function smuggledPayload(sequence: string): string {
  return (
    'Subject: first\r\n\r\nbody' +
    sequence +
    'MAIL FROM:<ceo@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n'
  );
}

for (const [name, sequence] of SMUGGLING_SEQUENCES) {
  test(`smuggling, DATA, ${name}: refused as one message, the session stays in step`, async (t) => {
    const server = await setup(t);
    const client = await inTransaction(t, server);
    expectCode(await client.command('DATA'), '354');
    client.write(smuggledPayload(sequence));
    expectCode(await client.read(), '500 5.5.2');
    // Exactly one reply for the whole thing: the next reply is for the next command.
    expectCode(await client.command('NOOP'), '250 2.0.0');
    assert.equal((await server.messages('alice@example.com')).length, 0);
    assert.equal((await server.messages('bob@example.com')).length, 0);
  });
}

test('smuggling, DATA, with bare LF normalised by configuration: text lines are fixed, dot lines still refused', async (t) => {
  const server = await setup(t, { toml: '[smtp]\nbare_line_endings = "normalize"\n' });
  const client = await inTransaction(t, server);
  expectCode(await client.command('DATA'), '354');
  client.write(smuggledPayload('\ntext\nmore\r\n'));
  expectCode(await client.read(), '250 2.0.0');
  expectCode(await client.command('NOOP'), '250 2.0.0');
  const texts = await server.messageTexts('alice@example.com');
  assert.equal(texts.length, 1);
  // One message: the bare LFs became CRLF, and the smuggled commands are just its content.
  assert.ok(texts[0]?.endsWith('body\r\ntext\r\nmore\r\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n'), texts[0]);
  assert.equal((await server.messages('bob@example.com')).length, 0);
  // A "." line after a bare LF could end DATA elsewhere: refused even so, as is any bare CR.
  for (const sequence of ['\n.\n', '\n.\r\n', '\r.\r']) {
    expectCode(await client.command('MAIL FROM:<mallory@remote.example>'), '250 2.1.0');
    expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
    expectCode(await client.command('DATA'), '354');
    client.write(smuggledPayload(sequence));
    expectCode(await client.read(), '500 5.5.2', JSON.stringify(sequence));
  }
  assert.equal((await server.messages('alice@example.com')).length, 1);
  assert.equal((await server.messages('bob@example.com')).length, 0);
});

test('smuggling, BDAT: bare LF and bare CR in a chunk are refused; the chunk is consumed', async (t) => {
  const server = await setup(t);
  for (const sequence of ['\n.\n', '\r.\r\n', 'a\rb']) {
    const client = await inTransaction(t, server);
    const chunk = smuggledPayload(sequence);
    client.write(`BDAT ${Buffer.byteLength(chunk)} LAST\r\n${chunk}`);
    expectCode(await client.read(), '500 5.5.2', JSON.stringify(sequence));
    expectCode(await client.command('NOOP'), '250 2.0.0');
  }
  // Split across chunks: the CR ends one chunk, the next does not start with LF.
  const client = await inTransaction(t, server);
  client.write('BDAT 7\r\nline 1\r');
  expectCode(await client.read(), '250 2.0.0');
  client.write('BDAT 7 LAST\r\nline 2\n');
  expectCode(await client.read(), '500 5.5.2');
  assert.equal((await server.messages('alice@example.com')).length, 0);
  assert.equal((await server.messages('bob@example.com')).length, 0);
});

test('smuggling, BDAT with normalisation: bare LF becomes CRLF, also across chunks', async (t) => {
  const server = await setup(t, { toml: '[smtp]\nbare_line_endings = "normalize"\n' });
  const client = await inTransaction(t, server);
  client.write('BDAT 15\r\nSubject: x\n\nab\r');
  expectCode(await client.read(), '250 2.0.0');
  client.write('BDAT 3 LAST\r\n\nc\n');
  expectCode(await client.read(), '250 2.0.0');
  const [text] = await server.messageTexts('alice@example.com');
  assert.ok(text?.endsWith('Subject: x\r\n\r\nab\r\nc\r\n'), JSON.stringify(text));
});

// --- STARTTLS (CVE-2011-0411) ---------------------------------------------------------------

test('STARTTLS: pipelined plaintext is discarded, EHLO must be repeated, a second STARTTLS is refused', async (t) => {
  const logLines: Array<Record<string, unknown>> = [];
  const server = await setup(t, { logLines });
  const client = await greeted(t, server);
  client.write('STARTTLS\r\nMAIL FROM:<mallory@remote.example>\r\nRCPT TO:<alice@example.com>\r\n');
  expectCode(await client.read(), '220 2.0.0');
  await client.startTls();
  // The injected MAIL was never run: there is no transaction, and no EHLO either (RFC 3207 4.2).
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '503 5.5.1');
  expectCode(await client.command('MAIL FROM:<mallory@remote.example>'), '503 5.5.1');
  const { reply, extensions } = await client.ehlo();
  expectCode(reply, '250');
  assert.ok(!extensions.includes('STARTTLS'));
  expectCode(await client.command('STARTTLS'), '503 5.5.1');
  expectCode(await client.command('NOOP'), '250 2.0.0');
  const discarded = logLines.find((line) => line.msg === 'plaintext sent after STARTTLS discarded');
  assert.ok(discarded);
  assert.equal(discarded.dropped, Buffer.byteLength('MAIL FROM:<mallory@remote.example>\r\nRCPT TO:<alice@example.com>\r\n'));
});

test('STARTTLS: a client that sends garbage instead of a handshake is dropped', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  expectCode(await client.command('STARTTLS'), '220 2.0.0');
  client.write('EHLO plaintext.example\r\n');
  assert.equal(await client.readUntilClosed(), '');
});

// --- talking out of turn --------------------------------------------------------------------

test('a client that talks before the greeting gets 554 5.5.0 and is cut off', async (t) => {
  const server = await setup(t, { toml: '[smtp]\ngreeting_delay = "1s"\n' });
  const transcript = await rawExchange(server.port('smtp'), 'EHLO early.example\r\nMAIL FROM:<a@b.example>\r\n');
  assert.equal(transcript, '554 5.5.0 Protocol error: commands sent before their reply (pipelining not negotiated)\r\n');
  // A patient client is greeted after the delay.
  const { greeting } = await SmtpTestClient.open(server.port('smtp'));
  assert.equal(greeting.raw, '220 mx.test.example ESMTP Mailhaven\r\n');
});

test('pipelining without EHLO (after HELO, or with EHLO itself) gets 554 5.5.0 and close', async (t) => {
  const server = await setup(t);
  const { client } = await SmtpTestClient.open(server.port('smtp'));
  t.after(() => client.close());
  expectCode(await client.command('HELO client.example'), '250');
  client.write('MAIL FROM:<bob@remote.example>\r\nRCPT TO:<alice@example.com>\r\n');
  expectCode(await client.read(), '554 5.5.0');
  assert.equal(await client.readUntilClosed(), '');

  const transcript = await rawExchange(server.port('smtp'), 'EHLO client.example\r\nMAIL FROM:<bob@remote.example>\r\n', 200);
  assert.equal(transcript, '220 mx.test.example ESMTP Mailhaven\r\n554 5.5.0 Protocol error: commands sent before their reply (pipelining not negotiated)\r\n');
});

// --- long lines -----------------------------------------------------------------------------

test('command lines over 512 octets: 500 5.5.2; MAIL/RCPT may be longer after EHLO; the session goes on', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  expectCode(await client.command(`NOOP ${'x'.repeat(505)}`), '250 2.0.0', '512 with CRLF is allowed');
  expectCode(await client.command(`NOOP ${'x'.repeat(506)}`), '500 5.5.2');
  expectCode(await client.command(`MAIL FROM:<bob@remote.example> ENVID=${'e'.repeat(100)}`), '250 2.1.0');
  expectCode(await client.command(`RCPT TO:<alice@example.com> ORCPT=rfc822;${'a'.repeat(400)}@example.com`), '250 2.1.5');
  expectCode(await client.command(`RCPT TO:<bob@example.com> ORCPT=rfc822;${'a'.repeat(2100)}@example.com`), '500 5.5.2');
  // Far over every limit (also the 12288 octets of AUTH lines): still one reply, still in step.
  expectCode(await client.command(`NOOP ${'y'.repeat(20_000)}`), '500 5.5.2');
  expectCode(await client.command('NOOP'), '250 2.0.0');
});

test('text lines over 1000 octets in DATA: 552, nothing stored', async (t) => {
  const server = await setup(t);
  const client = await inTransaction(t, server);
  const [, tooLong] = await client.data(`Subject: long\r\n\r\n${'z'.repeat(999)}\r\n`);
  expectCode(tooLong, '552 5.5.2');
  expectCode(await client.command('MAIL FROM:<mallory@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  const [, fits] = await client.data(`Subject: long\r\n\r\n${'z'.repeat(998)}\r\n`);
  expectCode(fits, '250 2.0.0');
  assert.equal((await server.messages('alice@example.com')).length, 1);
});

// --- control characters in parameters -------------------------------------------------------

test('NUL, CR, LF and other controls in parameters: 501, never in headers or logs', async (t) => {
  const logLines: Array<Record<string, unknown>> = [];
  const server = await setup(t, { logLines });
  const client = await greeted(t, server);
  const cases: Array<string | Buffer> = [
    Buffer.from('MAIL FROM:<bob@remote.example> ENVID=ab\x00cd'),
    'MAIL FROM:<bob@remote.example> ENVID=ab+0D+0AX-Injected:+20yes',
    'MAIL FROM:<bob@remote.example> ENVID=ab+00cd',
    'MAIL FROM:<bob@remote.example> AUTH=bob+0D+0A@remote.example',
    Buffer.from('MAIL FROM:<bob@remote.example> AUTH=bob\x01@remote.example'),
    Buffer.from('MAIL FROM:<bob@remote.example>\rX-Injected: yes'),
    Buffer.from('MAIL FROM:<bob\x7f@remote.example>'),
  ];
  for (const line of cases) expectCode(await client.command(line), '501 5.5.4', JSON.stringify(line.toString()));
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  const rcptCases: Array<string | Buffer> = [
    'RCPT TO:<alice@example.com> ORCPT=rfc822;alice+0D+0AX-Injected:+20yes@example.com',
    'RCPT TO:<alice@example.com> ORCPT=rfc822;al+00ice@example.com',
    Buffer.from('RCPT TO:<alice@example.com> NOTIFY=\x00SUCCESS'),
    Buffer.from('RCPT TO:<alice@example.com>\r\x00'),
  ];
  for (const line of rcptCases) expectCode(await client.command(line), '501 5.5.4', JSON.stringify(line.toString()));
  // Unknown commands with controls: 500 (there are no parameters to speak of).
  expectCode(await client.command(Buffer.from('XY\x00Z')), '500 5.5.2');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  expectCode((await client.data('Subject: clean\r\n\r\nok\r\n'))[1], '250 2.0.0');
  const [text] = await server.messageTexts('alice@example.com');
  assert.doesNotMatch(text ?? '', /Injected/);
  const logged = JSON.stringify(logLines);
  assert.doesNotMatch(logged, /\\u0000|\\r|Injected|\\u0001|\\u007f/);
});

test('shell metacharacters in addresses are just characters', async (t) => {
  const server = await setup(t);
  await server.addAlias('@example.com', ['bob@example.com']);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<"$(touch /tmp/pwned)"@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<a|b`id`$c&d@example.com>'), '250 2.1.5');
  expectCode((await client.data('Subject: meta\r\n\r\nok\r\n'))[1], '250 2.0.0');
  const [text] = await server.messageTexts('bob@example.com');
  assert.match(text ?? '', /^Return-Path: <"\$\(touch \/tmp\/pwned\)"@remote\.example>\r\nDelivered-To: bob@example\.com\r\n/);
  assert.match(text ?? '', /\tfor <a\|b`id`\$c&d@example\.com>;/);
});

// --- relaying -------------------------------------------------------------------------------

test('relay battery: the MX never relays for unauthenticated clients', async (t) => {
  const server = await setup(t, { toml: '[limits]\nerrors_per_session = 100' });
  const client = await greeted(t, server);
  const battery: Array<[string, string]> = [
    ['<bob@remote.example>', '554 5.7.1'],
    ['<bob%remote.example@example.com>', '550 5.1.1'],
    ['<remote.example!bob@example.com>', '550 5.1.1'],
    ['<bob@remote.example@example.com>', '501 5.1.3'],
    ['<@example.com:bob@remote.example>', '554 5.7.1'],
    ['<@example.com,@other.example:bob@remote.example>', '554 5.7.1'],
    ['<"bob@remote.example"@example.com>', '550 5.1.1'],
    ['<"bob%remote.example"@example.com>', '550 5.1.1'],
    ['<"bob@remote.example">', '501 5.1.3'],
    ['<bob@[127.0.0.1]>', '554 5.7.1'],
    ['<bob@[IPv6:::1]>', '554 5.7.1'],
    ['<bob@[192.0.2.1]>', '554 5.7.1'],
    ['<bob@remote.example.>', '501 5.1.3'],
    ['bob@remote.example', '501 5.1.3'],
    ['<bob@localhost>', '554 5.7.1'],
    ['<bob@example.com.remote.example>', '554 5.7.1'],
    ['<@remote.example:alice@example.com>', '250 2.1.5'],
    ['<ALICE@EXAMPLE.COM>', '250 2.1.5'],
  ];
  for (const sender of ['<mallory@remote.example>', '<>']) {
    expectCode(await client.command(`MAIL FROM:${sender}`), '250 2.1.0');
    for (const [recipient, expected] of battery) {
      expectCode(await client.command(`RCPT TO:${recipient}`), expected, `${sender} → ${recipient}`);
    }
    expectCode(await client.command('RSET'), '250 2.0.0');
  }
  // Nothing reached the queue.
  assert.ok(hasOutboundQueue(server.store));
  assert.deepEqual(await server.store.listQueue(), []);
});

test('after STARTTLS without AUTH the MX still does not relay', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  expectCode(await client.command('STARTTLS'), '220 2.0.0');
  await client.startTls();
  expectCode((await client.ehlo()).reply, '250');
  expectCode(await client.command('MAIL FROM:<mallory@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<bob@remote.example>'), '554 5.7.1');
});

// --- limits ---------------------------------------------------------------------------------

test('connections per IP over the limit get 421 4.7.0 and close', async (t) => {
  const server = await setup(t, { toml: '[limits]\nconnections_per_ip = 2' });
  const first = await SmtpTestClient.open(server.port('smtp'));
  const second = await SmtpTestClient.open(server.port('smtp'));
  t.after(() => first.client.close());
  t.after(() => second.client.close());
  const third = await SmtpTestClient.connect(server.port('smtp'));
  t.after(() => third.close());
  expectCode(await third.read(), '421 4.7.0');
  assert.equal(await third.readUntilClosed(), '');
});

test('too many errors in one session: 421 4.7.0 and close', async (t) => {
  const server = await setup(t, { toml: '[limits]\nerrors_per_session = 3' });
  const client = await greeted(t, server);
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '503 5.5.1');
  expectCode(await client.command('BOGUS'), '500 5.5.2');
  client.write('VRFY\r\n');
  expectCode(await client.read(), '501 5.5.4');
  const closing = await client.read();
  assert.equal(closing.raw, '421 4.7.0 Too many errors, closing connection\r\n');
  assert.equal(await client.readUntilClosed(), '');
});

test('an idle client is dropped with 421 4.4.2 after the command timeout', async (t) => {
  const server = await setup(t, { protocols: { smtp: { commandTimeoutMs: 300 } } });
  const client = await greeted(t, server);
  const started = Date.now();
  const reply = await client.read();
  assert.equal(reply.raw, '421 4.4.2 Idle timeout, closing connection\r\n');
  assert.ok(Date.now() - started >= 250);
  assert.equal(await client.readUntilClosed(), '');
});

test('a stalled DATA is dropped after the command timeout too', async (t) => {
  const server = await setup(t, { protocols: { smtp: { commandTimeoutMs: 300 } } });
  const client = await inTransaction(t, server);
  expectCode(await client.command('DATA'), '354');
  client.write('Subject: slow\r\n\r\nand then nothing');
  expectCode(await client.read(), '421 4.4.2');
  assert.equal(await client.readUntilClosed(), '');
  assert.equal((await server.messages('alice@example.com')).length, 0);
});

test('a session that outlives its deadline is closed with 421 4.4.2, even when busy', async (t) => {
  const server = await setup(t, { protocols: { smtp: { sessionDeadlineMs: 500 } } });
  const client = await greeted(t, server);
  const replies: number[] = [];
  for (;;) {
    const reply = await client.command('NOOP');
    replies.push(reply.code);
    if (reply.code !== 250) {
      assert.equal(reply.raw, '421 4.4.2 Session time limit reached, closing connection\r\n');
      break;
    }
    await sleep(50);
  }
  assert.ok(replies.length >= 5);
  assert.equal(await client.readUntilClosed(), '');
});

test('an HTTP request on the SMTP port is closed at once', async (t) => {
  const server = await setup(t);
  const started = Date.now();
  const transcript = await rawExchange(server.port('smtp'), 'POST / HTTP/1.1\r\nHost: mx.test.example\r\nContent-Length: 4\r\n\r\nQUIT', 100);
  assert.equal(transcript, '220 mx.test.example ESMTP Mailhaven\r\n');
  assert.ok(Date.now() - started < 2000);
});

test('server shutdown: an idle session gets 421 4.3.2', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  const closing = server.server.close(2000);
  const reply = await client.read();
  assert.equal(reply.raw, '421 4.3.2 mx.test.example Service shutting down, closing connection\r\n');
  await closing;
});
