/**
 * SMTP session transcripts on the MX listener (port 25 role): every reply of the protocol
 * issue with its exact code, and what ends up in INBOX.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { hasOutboundQueue } from '../src/queue/types.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer, TestServerOptions } from './helpers/server.js';
import { SmtpTestClient, expectCode } from './helpers/smtp-client.js';
import type { ClientReply } from './helpers/smtp-client.js';

const MESSAGE = 'From: Bob <bob@remote.example>\r\nTo: alice@example.com\r\nSubject: Hello\r\n\r\nHi Alice.\r\n';

async function setup(t: TestContext, options: TestServerOptions = {}): Promise<TestServer> {
  const server = await startTestServer(t, { listeners: ['smtp'], ...options });
  await server.addDomain('example.com');
  await server.addUser('alice@example.com', 'alice-password-1');
  await server.addUser('bob@example.com', 'bob-password-12');
  return server;
}

async function open(t: TestContext, server: TestServer): Promise<SmtpTestClient> {
  const { client, greeting } = await SmtpTestClient.open(server.port('smtp'));
  t.after(() => client.close());
  assert.equal(greeting.raw, '220 mx.test.example ESMTP Mailhaven\r\n');
  return client;
}

async function greeted(t: TestContext, server: TestServer): Promise<SmtpTestClient> {
  const client = await open(t, server);
  expectCode((await client.ehlo()).reply, '250');
  return client;
}

test('EHLO on the MX lists the extensions; no AUTH before TLS', async (t) => {
  const server = await setup(t);
  const client = await open(t, server);
  const { reply } = await client.ehlo('client.example');
  assert.equal(
    reply.raw,
    [
      '250-mx.test.example Hello [127.0.0.1]',
      '250-PIPELINING',
      '250-SIZE 52428800',
      '250-8BITMIME',
      '250-SMTPUTF8',
      '250-ENHANCEDSTATUSCODES',
      '250-CHUNKING',
      '250-BINARYMIME',
      '250-DSN',
      '250 STARTTLS',
      '',
    ].join('\r\n'),
  );
});

test('a message for a local user lands in INBOX with Return-Path, Delivered-To and Received', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<Alice@Example.COM>'), '250 2.1.5');
  const [start, done] = await client.data(`${MESSAGE}.leading dot\r\n`);
  assert.equal(start.raw, '354 End data with <CR><LF>.<CR><LF>\r\n');
  expectCode(done, '250 2.0.0');
  assert.match(done.lines[0] ?? '', /^Message accepted as [A-Za-z0-9]+$/);
  const id = (done.lines[0] ?? '').split(' ').pop();
  const [text] = await server.messageTexts('alice@example.com');
  assert.ok(text !== undefined);
  const received = new RegExp(
    '^Return-Path: <bob@remote\\.example>\\r\\n' +
      'Delivered-To: alice@example\\.com\\r\\n' +
      'Received: from client\\.example \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n' +
      `\\tby mx\\.test\\.example \\(Mailhaven\\) with ESMTP id ${id}\\r\\n` +
      '\\tfor <Alice@Example\\.COM>; \\w{3}, \\d{1,2} \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d \\+0000\\r\\n',
  );
  assert.match(text, received);
  // The body is stored exactly, dot-unstuffed (RFC 5321 4.5.2).
  assert.ok(text.endsWith(`${MESSAGE}.leading dot\r\n`));
  expectCode(await client.command('QUIT'), '221 2.0.0');
});

test('HELO: plain reply, no extensions, ESMTP parameters refused, "with SMTP" in Received', async (t) => {
  const server = await setup(t);
  const client = await open(t, server);
  const reply = await client.command('HELO client.example');
  assert.equal(reply.raw, '250 mx.test.example Hello [127.0.0.1]\r\n');
  expectCode(await client.command('MAIL FROM:<bob@remote.example> SIZE=100'), '555 5.5.4');
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com> NOTIFY=NEVER'), '555 5.5.4');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  expectCode((await client.data(MESSAGE))[1], '250 2.0.0');
  const [text] = await server.messageTexts('alice@example.com');
  assert.match(text ?? '', /\(Mailhaven\) with SMTP id /);
});

test('commands out of sequence get 503 5.5.1; DATA without accepted recipients 554 5.5.1', async (t) => {
  const server = await setup(t);
  const client = await open(t, server);
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '503 5.5.1');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '503 5.5.1');
  expectCode(await client.command('DATA'), '503 5.5.1');
  expectCode((await client.ehlo()).reply, '250');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '503 5.5.1');
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '503 5.5.1');
  expectCode(await client.command('DATA'), '554 5.5.1');
  // A refused DATA leaves the transaction open; RSET clears it.
  expectCode(await client.command('RSET'), '250 2.0.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '503 5.5.1');
});

test('VRFY never confirms, EXPN is off, HELP, NOOP, unknown commands', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  const known = await client.command('VRFY alice@example.com');
  const unknown = await client.command('VRFY nobody@example.com');
  expectCode(known, '252 2.5.0');
  assert.equal(known.raw, unknown.raw);
  expectCode(await client.command('EXPN staff'), '502 5.5.1');
  expectCode(await client.command('HELP'), '214 2.0.0');
  expectCode(await client.command('NOOP'), '250 2.0.0');
  expectCode(await client.command('NOOP anything goes'), '250 2.0.0');
  expectCode(await client.command('FOO bar'), '500 5.5.2');
  expectCode(await client.command('DATA now'), '501 5.5.4');
});

test('every reply after EHLO carries an enhanced status code (RFC 2034)', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  const replies: ClientReply[] = [];
  for (const line of ['NOOP', 'VRFY x', 'HELP', 'MAIL FROM:<>', 'RCPT TO:<nobody@example.com>', 'RCPT TO:<bob@remote.example>', 'RCPT TO:<alice@example.com>']) {
    replies.push(await client.command(line));
  }
  const [, done] = await client.data(MESSAGE);
  replies.push(done, await client.command('BOGUS'), await client.command('RSET'), await client.command('QUIT'));
  for (const reply of replies) assert.match(reply.enhanced ?? '', /^[245]\.\d{1,3}\.\d{1,3}$/, reply.raw);
});

test('SIZE over the limit is refused at MAIL with 552 5.3.4', async (t) => {
  const server = await setup(t, { toml: '[limits]\nmessage_size = "10K"' });
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<bob@remote.example> SIZE=10241'), '552 5.3.4');
  expectCode(await client.command('MAIL FROM:<bob@remote.example> SIZE=10240'), '250 2.1.0');
});

test('a message over the limit is read to its end, then refused with 552 5.3.4; the session goes on', async (t) => {
  const server = await setup(t, { toml: '[limits]\nmessage_size = "10K"' });
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  const big = `Subject: big\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(200);
  const [, done] = await client.data(big);
  expectCode(done, '552 5.3.4');
  assert.equal((await server.messages('alice@example.com')).length, 0);
  // In step: the next transaction works.
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  expectCode((await client.data(MESSAGE))[1], '250 2.0.0');
  assert.equal((await server.messages('alice@example.com')).length, 1);
});

test('too many recipients: 452 4.5.3', async (t) => {
  const server = await setup(t, { toml: '[limits]\nrecipients = 2' });
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  expectCode(await client.command('RCPT TO:<bob@example.com>'), '250 2.1.5');
  expectCode(await client.command('RCPT TO:<alice+x@example.com>'), '452 4.5.3');
});

test('unknown local user 550 5.1.1; a remote recipient on the MX 554 5.7.1', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<carol@example.com>'), '550 5.1.1');
  expectCode(await client.command('RCPT TO:<carol@remote.example>'), '554 5.7.1');
});

test('an alias fans out to its targets: one blob, one Delivered-To per copy', async (t) => {
  const server = await setup(t);
  await server.addAlias('team@example.com', ['alice@example.com', 'bob@example.com']);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<carol@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<team@example.com>'), '250 2.1.5');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  expectCode((await client.data(MESSAGE))[1], '250 2.0.0');
  const [alice] = await server.messages('alice@example.com');
  const [bob] = await server.messages('bob@example.com');
  assert.ok(alice && bob);
  assert.equal((await server.messages('alice@example.com')).length, 1, 'alice gets one copy although named twice');
  assert.equal(alice.blobHash, bob.blobHash);
  const [aliceText] = await server.messageTexts('alice@example.com');
  const [bobText] = await server.messageTexts('bob@example.com');
  assert.match(aliceText ?? '', /^Return-Path: <carol@remote\.example>\r\nDelivered-To: alice@example\.com\r\n/);
  assert.match(bobText ?? '', /^Return-Path: <carol@remote\.example>\r\nDelivered-To: bob@example\.com\r\n/);
  // Two recipients: the Received field names none (RFC 5321 4.4).
  assert.doesNotMatch(aliceText ?? '', /\tfor </);
});

test('plus-addressing delivers to the user; catch-all takes unknown local parts only', async (t) => {
  const server = await setup(t);
  await server.addAlias('@example.com', ['bob@example.com']);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<carol@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice+lists@example.com>'), '250 2.1.5');
  expectCode((await client.data(MESSAGE))[1], '250 2.0.0');
  expectCode(await client.command('MAIL FROM:<carol@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<whoever@example.com>'), '250 2.1.5');
  expectCode((await client.data(MESSAGE))[1], '250 2.0.0');
  assert.equal((await server.messages('alice@example.com')).length, 1);
  assert.equal((await server.messages('bob@example.com')).length, 1);
  const [aliceText] = await server.messageTexts('alice@example.com');
  assert.match(aliceText ?? '', /^Return-Path: <carol@remote\.example>\r\nDelivered-To: alice@example\.com\r\n/);
});

test('over quota at RCPT: 452 4.2.2 (also when the declared SIZE does not fit)', async (t) => {
  const server = await setup(t);
  await server.store.setQuota('alice@example.com', 2000);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<carol@remote.example> SIZE=5000'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '452 4.2.2');
  expectCode(await client.command('RSET'), '250 2.0.0');
  expectCode(await client.command('MAIL FROM:<carol@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  expectCode((await client.data(`Subject: fill\r\n\r\n${'y'.repeat(98)}\r\n`.repeat(25)))[1], '452 4.2.2', 'over quota at delivery, nothing else to deliver');
  assert.equal((await server.messages('alice@example.com')).length, 0);
  // A quota already used up refuses at RCPT even without SIZE.
  await server.store.setQuota('alice@example.com', 0);
  expectCode(await client.command('MAIL FROM:<carol@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '452 4.2.2');
});

test('over quota at delivery for one of several: the others get it, the full one is queued for retry', async (t) => {
  const server = await setup(t);
  assert.ok(hasOutboundQueue(server.store));
  await server.store.setQuota('alice@example.com', 1000);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<carol@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com> NOTIFY=FAILURE'), '250 2.1.5');
  expectCode(await client.command('RCPT TO:<bob@example.com>'), '250 2.1.5');
  expectCode((await client.data(`Subject: big\r\n\r\n${'z'.repeat(98)}\r\n`.repeat(15)))[1], '250 2.0.0');
  assert.equal((await server.messages('alice@example.com')).length, 0);
  const [bob] = await server.messages('bob@example.com');
  assert.ok(bob);
  const queue = await server.store.listQueue();
  assert.equal(queue.length, 1);
  assert.deepEqual(queue[0]?.recipients, [{ address: 'alice@example.com', kind: 'local', notify: ['FAILURE'], orcpt: null, state: 'pending', last: null }]);
  assert.equal(queue[0]?.blobHash, bob.blobHash);
  assert.equal(queue[0]?.sender, 'carol@remote.example');
});

test('<Postmaster> without a domain reaches postmaster@ of a local domain', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<carol@remote.example>'), '250 2.1.0');
  await server.addAlias('postmaster@example.com', ['bob@example.com']);
  expectCode(await client.command('RCPT TO:<Postmaster>'), '250 2.1.5');
  expectCode((await client.data(MESSAGE))[1], '250 2.0.0');
  assert.equal((await server.messages('bob@example.com')).length, 1);
  assert.equal((await server.messages('alice@example.com')).length, 0);
});

test('postmaster without an account or alias reaches the domain\'s oldest account (RFC 5321 4.5.1)', async (t) => {
  const server = await setup(t);
  await server.addDomain('other.example');
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<carol@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<Postmaster>'), '250 2.1.5');
  expectCode(await client.command('RCPT TO:<POSTMASTER@other.example>'), '250 2.1.5');
  expectCode(await client.command('RCPT TO:<abuse@example.com>'), '550 5.1.1');
  expectCode((await client.data(MESSAGE))[1], '250 2.0.0');
  // One copy for alice, the oldest account: of example.com, and overall for other.example.
  assert.equal((await server.messages('alice@example.com')).length, 1);
  assert.equal((await server.messages('bob@example.com')).length, 0);
});

test('SMTPUTF8: non-ASCII addresses need the parameter; with it they are delivered', async (t) => {
  const server = await setup(t);
  await server.addAlias('@example.com', ['bob@example.com']);
  const client = await greeted(t, server);
  expectCode(await client.command(Buffer.from('MAIL FROM:<jörg@remote.example>', 'utf8')), '550 5.6.7');
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command(Buffer.from('RCPT TO:<jörg@example.com>', 'utf8')), '553 5.6.7');
  expectCode(await client.command('RSET'), '250 2.0.0');
  expectCode(await client.command(Buffer.from('MAIL FROM:<jörg@remote.example> SMTPUTF8', 'utf8')), '250 2.1.0');
  expectCode(await client.command(Buffer.from('RCPT TO:<jörg@example.com>', 'utf8')), '250 2.1.5');
  expectCode((await client.data(Buffer.from('Subject: Grüße\r\n\r\nHallo\r\n', 'utf8')))[1], '250 2.0.0');
  const [text] = await server.messageTexts('bob@example.com');
  assert.match(text ?? '', /^Return-Path: <jörg@remote\.example>\r\n/);
  assert.match(text ?? '', / with UTF8SMTP id \w+\r\n\tfor <jörg@example\.com>;/);
});

test('DSN parameters are accepted and validated', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<bob@remote.example> RET=HDRS ENVID=QQ314159'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;alice+40example.com'), '250 2.1.5');
  expectCode(await client.command('RCPT TO:<bob@example.com> NOTIFY=NEVER,SUCCESS'), '501 5.5.4');
  expectCode(await client.command('RCPT TO:<bob@example.com> ORCPT=rfc822'), '501 5.5.4');
  expectCode(await client.command('RCPT TO:<bob@example.com> FOO=bar'), '555 5.5.4');
  expectCode(await client.command('RSET'), '250 2.0.0');
  expectCode(await client.command('MAIL FROM:<bob@remote.example> RET=ALL'), '501 5.5.4');
  expectCode(await client.command('MAIL FROM:<bob@remote.example> REQUIRETLS'), '555 5.5.4');
});

test('PIPELINING: a group of commands gets its replies in order', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  const replies = await client.pipeline(['MAIL FROM:<bob@remote.example>', 'RCPT TO:<nobody@example.com>', 'RCPT TO:<alice@example.com>', 'DATA']);
  assert.deepEqual(
    replies.map((reply) => `${reply.code} ${reply.enhanced ?? ''}`.trim()),
    ['250 2.1.0', '550 5.1.1', '250 2.1.5', '354'],
  );
  client.write(`${MESSAGE}.\r\nMAIL FROM:<bob@remote.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n`);
  const after = [await client.read(), await client.read(), await client.read(), await client.read()];
  assert.deepEqual(
    after.map((reply) => reply.code),
    [250, 250, 250, 354],
  );
  client.write(`${MESSAGE}.\r\n`);
  expectCode(await client.read(), '250 2.0.0');
  assert.equal((await server.messages('alice@example.com')).length, 1);
  assert.equal((await server.messages('bob@example.com')).length, 1);
});

test('BDAT: chunks make one message; LAST delivers it', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<bob@remote.example> BODY=BINARYMIME'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  const first = 'Subject: chunks\r\n\r\n';
  const second = 'part one, \x00binary\r\npart two\r\n';
  client.write(`BDAT ${Buffer.byteLength(first)}\r\n${first}`);
  expectCode(await client.read(), '250 2.0.0');
  client.write(`BDAT ${Buffer.byteLength(second)} LAST\r\n${second}`);
  expectCode(await client.read(), '250 2.0.0');
  const [text] = await server.messageTexts('alice@example.com');
  assert.ok((text ?? '').endsWith(first + second));
  // BDAT 0 LAST with nothing before: an empty message is still a message.
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<bob@example.com>'), '250 2.1.5');
  expectCode(await client.command('BDAT 0 LAST'), '250 2.0.0');
  assert.equal((await server.messages('bob@example.com')).length, 1);
});

test('BDAT out of sequence: 503 5.5.1, and the chunk is still consumed', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  client.write('BDAT 12\r\nNOOP\r\nNOOP\r\n');
  expectCode(await client.read(), '503 5.5.1');
  expectCode(await client.command('NOOP'), '250 2.0.0');
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  client.write('BDAT 6 LAST\r\nRSET\r\n');
  expectCode(await client.read(), '554 5.5.1');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '503 5.5.1', 'the failed BDAT ended the transaction');
});

test('RSET during BDAT drops the message; BINARYMIME with DATA is refused', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  client.write('BDAT 5\r\nHello');
  expectCode(await client.read(), '250 2.0.0');
  expectCode(await client.command('RSET'), '250 2.0.0');
  expectCode(await client.command('BDAT 0 LAST'), '503 5.5.1');
  assert.equal((await server.messages('alice@example.com')).length, 0);
  expectCode(await client.command('MAIL FROM:<bob@remote.example> BODY=BINARYMIME'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  expectCode(await client.command('DATA'), '503 5.5.1');
});

test('QUIT in a transaction delivers nothing', async (t) => {
  const server = await setup(t);
  const client = await greeted(t, server);
  expectCode(await client.command('MAIL FROM:<bob@remote.example>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  const bye = await client.command('QUIT');
  assert.equal(bye.raw, '221 2.0.0 mx.test.example closing connection\r\n');
  assert.equal(await client.readUntilClosed(), '');
  assert.equal((await server.messages('alice@example.com')).length, 0);
});
