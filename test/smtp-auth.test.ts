/**
 * Submission (587 STARTTLS, 465 implicit TLS) and AUTH on every listener: what is advertised
 * when, each mechanism's exchange, every refusal code, throttling, sender ownership, relay into
 * the outbound queue, and what an MSA adds to the message (RFC 6409 8).
 */
import { test, after } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { encryptSecret, loadOrCreateSecretKey } from '../src/auth/index.js';
import { hasOutboundQueue } from '../src/queue/types.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer, TestServerOptions } from './helpers/server.js';
import { SmtpTestClient, expectCode, plainResponse } from './helpers/smtp-client.js';

const ALICE = 'alice@example.com';
const ALICE_PASSWORD = 'alice-password-1';

async function setup(t: TestContext, options: TestServerOptions = {}): Promise<TestServer> {
  const server = await startTestServer(t, options);
  await server.addDomain('example.com');
  await server.addUser(ALICE, ALICE_PASSWORD);
  await server.addUser('bob@example.com', 'bob-password-12');
  return server;
}

/** 587: EHLO, STARTTLS, EHLO again; returns the client and the extensions after TLS. */
async function submissionOverTls(t: TestContext, server: TestServer): Promise<{ client: SmtpTestClient; extensions: string[] }> {
  const { client } = await SmtpTestClient.open(server.port('submission'));
  t.after(() => client.close());
  expectCode((await client.ehlo()).reply, '250');
  expectCode(await client.command('STARTTLS'), '220 2.0.0');
  await client.startTls();
  const { reply, extensions } = await client.ehlo();
  expectCode(reply, '250');
  return { client, extensions };
}

async function loggedIn(t: TestContext, server: TestServer): Promise<SmtpTestClient> {
  const { client } = await submissionOverTls(t, server);
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`), '235 2.7.0');
  return client;
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

test('587 before TLS: STARTTLS offered, AUTH neither offered nor accepted, MAIL needs TLS first', async (t) => {
  const server = await setup(t);
  const { client, greeting } = await SmtpTestClient.open(server.port('submission'));
  t.after(() => client.close());
  assert.equal(greeting.raw, '220 mx.test.example ESMTP Mailhaven\r\n');
  const { extensions } = await client.ehlo();
  assert.ok(extensions.includes('STARTTLS'));
  assert.ok(!extensions.some((line) => line.startsWith('AUTH')));
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`), '538 5.7.11');
  const mail = await client.command(`MAIL FROM:<${ALICE}>`);
  assert.equal(mail.raw, '530 5.7.0 Must issue a STARTTLS command first\r\n');
});

test('587 after STARTTLS: AUTH offered, MAIL needs AUTH; PLAIN logs in and mail goes through', async (t) => {
  const server = await setup(t);
  const { client, extensions } = await submissionOverTls(t, server);
  assert.deepEqual(extensions, [
    'PIPELINING',
    'SIZE 52428800',
    '8BITMIME',
    'SMTPUTF8',
    'ENHANCEDSTATUSCODES',
    'CHUNKING',
    'BINARYMIME',
    'DSN',
    'AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256',
  ]);
  const refused = await client.command(`MAIL FROM:<${ALICE}>`);
  assert.equal(refused.raw, '530 5.7.0 Authentication required\r\n');
  const ok = await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`);
  assert.equal(ok.raw, '235 2.7.0 Authentication succeeded\r\n');
  expectCode(await client.command(`MAIL FROM:<${ALICE}>`), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<bob@example.com>'), '250 2.1.5');
  expectCode((await client.data('From: alice@example.com\r\nSubject: hi\r\n\r\nHello Bob\r\n'))[1], '250 2.0.0');
  const [text] = await server.messageTexts('bob@example.com');
  assert.match(text ?? '', /^Return-Path: <alice@example\.com>\r\nDelivered-To: bob@example\.com\r\nReceived: from client\.example \(\[127\.0\.0\.1\]\)\r\n\t\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)\r\n\tby mx\.test\.example \(Mailhaven\) with ESMTPSA id \w+\r\n\tfor <bob@example\.com>; [^\r\n]+\r\n/);
  // RFC 6409 8.2, 8.3: Date and Message-ID added in front of the header, once each.
  assert.match(text ?? '', /\+0000\r\nDate: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\nMessage-ID: <[\w.]+@mx\.test\.example>\r\nFrom: alice@example\.com\r\n/);
  assert.doesNotMatch(text ?? '', /password/);
});

test('submission leaves Date and Message-ID alone when present', async (t) => {
  const server = await setup(t);
  const client = await loggedIn(t, server);
  expectCode(await client.command(`MAIL FROM:<${ALICE}>`), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<bob@example.com>'), '250 2.1.5');
  const message = 'Message-Id: <own@alice.example>\r\nDATE: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: x\r\n\r\nbody\r\n';
  expectCode((await client.data(message))[1], '250 2.0.0');
  const [text] = await server.messageTexts('bob@example.com');
  assert.ok(text?.endsWith(`+0000\r\n${message}`), text);
  assert.equal(text?.match(/^date:/gim)?.length, 1);
  assert.equal(text?.match(/^message-id:/gim)?.length, 1);
});

test('AUTH LOGIN: Username:/Password: challenges, also with the user name as initial response', async (t) => {
  const server = await setup(t);
  const { client } = await submissionOverTls(t, server);
  const first = await client.command('AUTH LOGIN');
  assert.equal(first.raw, '334 VXNlcm5hbWU6\r\n');
  assert.equal((await client.command(b64(ALICE))).raw, '334 UGFzc3dvcmQ6\r\n');
  expectCode(await client.command(b64(ALICE_PASSWORD)), '235 2.7.0');

  const second = await submissionOverTls(t, server);
  assert.equal((await second.client.command(`AUTH LOGIN ${b64('bob@example.com')}`)).raw, '334 UGFzc3dvcmQ6\r\n');
  expectCode(await second.client.command(b64('bob-password-12')), '235 2.7.0');
});

test('AUTH refusals: 535 5.7.8, 501 5.7.0, 501 5.5.2, 504 5.5.4, 503 5.5.1', async (t) => {
  const server = await setup(t);
  const { client } = await submissionOverTls(t, server);
  const bad = await client.command(`AUTH PLAIN ${plainResponse(ALICE, 'wrong')}`);
  assert.equal(bad.raw, '535 5.7.8 Authentication credentials invalid\r\n');
  expectCode(await client.command(`AUTH PLAIN ${plainResponse('nobody@example.com', 'wrong')}`), '535 5.7.8');
  expectCode(await client.command(`AUTH PLAIN ${plainResponse('bob@example.com', 'bob-password-12', ALICE)}`), '535 5.7.8', 'acting as someone else');
  expectCode(await client.command('AUTH LOGIN'), '334');
  expectCode(await client.command('*'), '501 5.7.0');
  expectCode(await client.command('AUTH PLAIN'), '334');
  expectCode(await client.command('not base64!'), '501 5.5.2');
  expectCode(await client.command('AUTH PLAIN a=b='), '501 5.5.2');
  expectCode(await client.command('AUTH X-UNKNOWN'), '504 5.5.4');
  expectCode(await client.command(`AUTH CRAM-MD5 ${b64('x')}`), '501 5.7.0');
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`), '235 2.7.0');
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`), '503 5.5.1');
  expectCode(await client.command(`MAIL FROM:<${ALICE}>`), '250 2.1.0');
});

test('AUTH is not permitted during a transaction', async (t) => {
  const server = await setup(t, { toml: '[auth]\nallow_plaintext_on_loopback = true' });
  const { client } = await SmtpTestClient.open(server.port('smtp'));
  t.after(() => client.close());
  await client.ehlo();
  expectCode(await client.command('MAIL FROM:<carol@remote.example>'), '250 2.1.0');
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`), '503 5.5.1');
});

test('failed logins are throttled with growing delays, in the throttle IMAP and POP3 share', async (t) => {
  const server = await setup(t);
  const { client } = await submissionOverTls(t, server);
  const timings: number[] = [];
  for (let i = 0; i < 4; i++) {
    const started = Date.now();
    expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, `wrong-${i}`)}`), '535 5.7.8');
    timings.push(Date.now() - started);
  }
  // docs/auth.md: 3 free failures, then 1 s.
  assert.ok(timings.slice(0, 3).every((ms) => ms < 900), JSON.stringify(timings));
  assert.ok((timings[3] ?? 0) >= 950, JSON.stringify(timings));
  assert.equal(await server.auth.throttle.delayFor('127.0.0.1', ALICE), 1000);
  // Success clears the account's counter, not the IP's.
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`), '235 2.7.0');
  assert.equal(await server.auth.throttle.delayFor('198.51.100.1', ALICE), 0);
  assert.equal(await server.auth.throttle.delayFor('127.0.0.1'), 1000);
});

test('an authenticated user may only send as an address they own', async (t) => {
  const server = await setup(t);
  await server.addAlias('sales@example.com', [ALICE, 'bob@example.com']);
  await server.addAlias('bobs@example.com', ['bob@example.com']);
  await server.addAlias('@example.com', [ALICE]);
  const client = await loggedIn(t, server);
  const tries: Array<[string, string]> = [
    [`<${ALICE}>`, '250 2.1.0'],
    ['<Alice@EXAMPLE.com>', '250 2.1.0'],
    ['<alice+newsletters@example.com>', '250 2.1.0'],
    ['<sales@example.com>', '250 2.1.0'],
    ['<bob@example.com>', '553 5.7.1'],
    ['<bobs@example.com>', '553 5.7.1'],
    ['<anyone@example.com>', '553 5.7.1'],
    ['<alice@remote.example>', '553 5.7.1'],
    ['<>', '553 5.7.1'],
  ];
  for (const [sender, expected] of tries) {
    expectCode(await client.command(`MAIL FROM:${sender}`), expected, sender);
    await client.command('RSET');
  }
});

test('an authenticated user relays: remote recipients go to the outbound queue with DSN data, one blob with the local copy', async (t) => {
  const server = await setup(t);
  assert.ok(hasOutboundQueue(server.store));
  const client = await loggedIn(t, server);
  expectCode(await client.command(`MAIL FROM:<${ALICE}> RET=HDRS ENVID=env+2B1 BODY=8BITMIME`), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<carol@remote.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;carol+40remote.example'), '250 2.1.5');
  expectCode(await client.command('RCPT TO:<dave@[192.0.2.7]>'), '250 2.1.5');
  expectCode(await client.command('RCPT TO:<bob@example.com>'), '250 2.1.5');
  expectCode((await client.data('Subject: out\r\n\r\nto the world\r\n'))[1], '250 2.0.0');
  const queue = await server.store.listQueue();
  assert.equal(queue.length, 1);
  const entry = queue[0]!;
  assert.deepEqual(
    { sender: entry.sender, recipients: entry.recipients, ret: entry.ret, envid: entry.envid, body: entry.body, smtputf8: entry.smtputf8, submitter: entry.submitter, clientAddress: entry.clientAddress, attempts: entry.attempts },
    {
      sender: ALICE,
      recipients: [
        { address: 'carol@remote.example', kind: 'remote', notify: ['SUCCESS', 'FAILURE'], orcpt: { addrType: 'rfc822', address: 'carol@remote.example' }, state: 'pending', last: null },
        { address: 'dave@[192.0.2.7]', kind: 'remote', notify: null, orcpt: null, state: 'pending', last: null },
      ],
      ret: 'HDRS',
      envid: 'env+1',
      body: '8BITMIME',
      smtputf8: false,
      submitter: ALICE,
      clientAddress: '127.0.0.1',
      attempts: 0,
    },
  );
  const [bob] = await server.messages('bob@example.com');
  assert.equal(entry.blobHash, bob?.blobHash);
  assert.ok(entry.nextAttemptAt.getTime() <= Date.now());
  // The queued copy has no per-recipient prefix: the blob starts with our Received field.
  assert.equal(entry.size, (bob?.size ?? 0) - Buffer.byteLength(`Return-Path: <${ALICE}>\r\nDelivered-To: bob@example.com\r\n`));
});

test('auth.allow_plaintext_on_loopback: AUTH offered and accepted without TLS from loopback', async (t) => {
  const server = await setup(t, { toml: '[auth]\nallow_plaintext_on_loopback = true' });
  const { client } = await SmtpTestClient.open(server.port('submission'));
  t.after(() => client.close());
  const { extensions } = await client.ehlo();
  assert.ok(extensions.includes('AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256'));
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`), '235 2.7.0');
  expectCode(await client.command(`MAIL FROM:<${ALICE}>`), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<bob@example.com>'), '250 2.1.5');
  expectCode((await client.data('Subject: x\r\n\r\ny\r\n'))[1], '250 2.0.0');
  const [text] = await server.messageTexts('bob@example.com');
  assert.match(text ?? '', / with ESMTPA id /);
});

test('465: implicit TLS, no STARTTLS, AUTH offered; mail goes through', async (t) => {
  const server = await setup(t);
  const { client, greeting } = await SmtpTestClient.open(server.port('submissions'), { tls: true });
  t.after(() => client.close());
  assert.equal(greeting.raw, '220 mx.test.example ESMTP Mailhaven\r\n');
  const { extensions } = await client.ehlo();
  assert.ok(!extensions.includes('STARTTLS'));
  assert.ok(extensions.includes('AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256'));
  expectCode(await client.command(`MAIL FROM:<${ALICE}>`), '530 5.7.0');
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`), '235 2.7.0');
  expectCode(await client.command(`MAIL FROM:<${ALICE}>`), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<bob@example.com>'), '250 2.1.5');
  expectCode((await client.data('Subject: 465\r\n\r\nok\r\n'))[1], '250 2.0.0');
  const [text] = await server.messageTexts('bob@example.com');
  assert.match(text ?? '', /\t\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)\r\n\tby mx\.test\.example \(Mailhaven\) with ESMTPSA id /);
});

test('25: AUTH only after STARTTLS; an authenticated user may relay through the MX', async (t) => {
  const server = await setup(t);
  const { client } = await SmtpTestClient.open(server.port('smtp'));
  t.after(() => client.close());
  assert.ok(!(await client.ehlo()).extensions.some((line) => line.startsWith('AUTH')));
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`), '538 5.7.11');
  expectCode(await client.command('STARTTLS'), '220 2.0.0');
  await client.startTls();
  assert.ok((await client.ehlo()).extensions.includes('AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256'));
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ALICE, ALICE_PASSWORD)}`), '235 2.7.0');
  expectCode(await client.command('MAIL FROM:<bob@example.com>'), '553 5.7.1');
  expectCode(await client.command(`MAIL FROM:<${ALICE}>`), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<carol@remote.example>'), '250 2.1.5');
  expectCode((await client.data('Subject: relay\r\n\r\nvia 25\r\n'))[1], '250 2.0.0');
  assert.ok(hasOutboundQueue(server.store));
  assert.equal((await server.store.listQueue()).length, 1);
});

test('CRAM-MD5 with the account\'s shared secret (stored encrypted under <data_dir>/secret.key)', async (t) => {
  const server = await setup(t);
  const alice = await server.store.getAccount(ALICE);
  const key = await loadOrCreateSecretKey(join(server.config.dataDir, 'secret.key'));
  await server.store.setSecret(ALICE, encryptSecret('shared secret', key, alice!.id));
  const { client } = await submissionOverTls(t, server);
  const challenge = await client.command('AUTH CRAM-MD5');
  expectCode(challenge, '334');
  const text = Buffer.from(challenge.lines[0] ?? '', 'base64').toString('utf8');
  assert.match(text, /^<[^@>]+@mx\.test\.example>$/);
  const digest = createHmac('md5', 'shared secret').update(text).digest('hex');
  expectCode(await client.command(b64(`${ALICE} ${digest}`)), '235 2.7.0');
  // The login password is not the shared secret.
  const other = await submissionOverTls(t, server);
  const second = await other.client.command('AUTH CRAM-MD5');
  const wrong = createHmac('md5', ALICE_PASSWORD).update(Buffer.from(second.lines[0] ?? '', 'base64')).digest('hex');
  expectCode(await other.client.command(b64(`${ALICE} ${wrong}`)), '535 5.7.8');
});

// --- OAuth 2.0 bearer tokens (RFC 7628, XOAUTH2) --------------------------------------------

const oauthDir = await mkdtemp(join(tmpdir(), 'mailhaven-smtp-oauth-'));
after(() => rm(oauthDir, { recursive: true, force: true }));
const signing = await generateKeyPair('ES256', { extractable: true });
const jwksFile = join(oauthDir, 'jwks.json');
await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
const OAUTH_TOML = `[[auth.oauth]]\nissuer = "https://idp.example.com"\naudience = "mail.example.com"\njwks_file = "${jwksFile}"`;

async function token(email: string, expiresIn = '10m'): Promise<string> {
  return new SignJWT({ email })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer('https://idp.example.com')
    .setAudience('mail.example.com')
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(signing.privateKey);
}

test('XOAUTH2 and OAUTHBEARER with JWT access tokens', async (t) => {
  const server = await setup(t, { toml: OAUTH_TOML });
  const { client, extensions } = await submissionOverTls(t, server);
  assert.ok(extensions.includes('AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256 OAUTHBEARER XOAUTH2'));
  const good = await token(ALICE);
  expectCode(await client.command(`AUTH XOAUTH2 ${b64(`user=${ALICE}\x01auth=Bearer ${good}\x01\x01`)}`), '235 2.7.0');

  const second = await submissionOverTls(t, server);
  expectCode(await second.client.command(`AUTH OAUTHBEARER ${b64(`n,a=${ALICE},\x01auth=Bearer ${good}\x01\x01`)}`), '235 2.7.0');

  // An expired token: the error document as a challenge, then 535 5.7.8 (RFC 7628 3.2.3).
  const third = await submissionOverTls(t, server);
  const expired = await token(ALICE, '-5m');
  const challenge = await third.client.command(`AUTH OAUTHBEARER ${b64(`n,a=${ALICE},\x01auth=Bearer ${expired}\x01\x01`)}`);
  expectCode(challenge, '334');
  assert.equal(JSON.parse(Buffer.from(challenge.lines[0] ?? '', 'base64').toString('utf8')).status, 'invalid_token');
  expectCode(await third.client.command(b64('\x01')), '535 5.7.8');
  // A token for someone else.
  const fourth = await submissionOverTls(t, server);
  expectCode(await fourth.client.command(`AUTH XOAUTH2 ${b64(`user=bob@example.com\x01auth=Bearer ${good}\x01\x01`)}`), '334');
  expectCode(await fourth.client.command(''), '535 5.7.8');
});

test('CRAM-MD5 and SCRAM-SHA-256 are not advertised by default, only with auth.secret_mechanisms', async (t) => {
  const plain = await setup(t, { defaultMechanisms: true });
  const byDefault = await submissionOverTls(t, plain);
  assert.ok(byDefault.extensions.includes('AUTH PLAIN LOGIN'), byDefault.extensions.join('|'));

  const opted = await setup(t, { defaultMechanisms: true, toml: '[auth]\nsecret_mechanisms = true\n' });
  const withSecrets = await submissionOverTls(t, opted);
  assert.ok(withSecrets.extensions.includes('AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256'), withSecrets.extensions.join('|'));
});
