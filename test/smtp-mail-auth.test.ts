/**
 * SPF/DKIM/DMARC on the MX (src/smtp/mail-auth.ts) over the real SMTP listener, with a test DNS
 * zone (test/helpers/dns-server.ts) as `[outbound] resolvers`: SPF by client IP 127.0.0.1, a
 * DKIM-signed message passing DMARC despite SPF, DMARC p=reject → 550 5.7.1 (or Junk by config),
 * p=quarantine → \Junk, forged Authentication-Results removed, submission not checked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { dkimSign } from 'mailauth';
import { dkimDnsRecord, generateDkimKey, txtStrings } from '../src/queue/dkim-keys.js';
import { dnsResolver, traceFields } from '../src/smtp/mail-auth.js';
import { rr, startDnsServer } from './helpers/dns-server.js';
import type { Zone } from './helpers/dns-server.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer, TestServerOptions } from './helpers/server.js';
import { SmtpTestClient, expectCode, plainResponse } from './helpers/smtp-client.js';
import type { ClientReply } from './helpers/smtp-client.js';

const ONLY_ELSEWHERE = 'v=spf1 ip4:192.0.2.1 -all';

/** Sender domains, each with its SPF and DMARC records. */
const BASE_ZONE: Zone = {
  'good-sender.net': [rr('TXT', 'good-sender.net', 'v=spf1 ip4:127.0.0.1 -all')],
  '_dmarc.good-sender.net': [rr('TXT', '_dmarc.good-sender.net', 'v=DMARC1; p=reject')],
  'bad-sender.net': [rr('TXT', 'bad-sender.net', ONLY_ELSEWHERE)],
  '_dmarc.bad-sender.net': [rr('TXT', '_dmarc.bad-sender.net', 'v=DMARC1; p=reject')],
  'quarantine-sender.net': [rr('TXT', 'quarantine-sender.net', ONLY_ELSEWHERE)],
  '_dmarc.quarantine-sender.net': [rr('TXT', '_dmarc.quarantine-sender.net', 'v=DMARC1; p=quarantine')],
  'signed-sender.net': [rr('TXT', 'signed-sender.net', ONLY_ELSEWHERE)],
  '_dmarc.signed-sender.net': [rr('TXT', '_dmarc.signed-sender.net', 'v=DMARC1; p=reject')],
};

async function setup(t: TestContext, zone: Zone = BASE_ZONE, options: { toml?: string; silentDns?: boolean; protocols?: TestServerOptions['protocols'] } = {}): Promise<TestServer> {
  const dns = await startDnsServer(t, zone, options.silentDns === true);
  const server = await startTestServer(t, {
    listeners: ['smtp', 'submissions'],
    toml: `[outbound]\nresolvers = ["${dns}"]\n${options.toml ?? ''}`,
    ...(options.protocols === undefined ? {} : { protocols: options.protocols }),
  });
  await server.addDomain('example.com');
  await server.addUser('alice@example.com', 'alice-password-1');
  return server;
}

function message(from: string, extraHeader = '', body = 'Hello Alice.\r\n'): string {
  return `${extraHeader}From: ${from}\r\nTo: alice@example.com\r\nSubject: checked\r\nDate: Thu, 26 Nov 2026 08:00:00 +0000\r\nMessage-ID: <${Date.now()}@x>\r\n\r\n${body}`;
}

/** One message on the MX; the final reply. */
async function send(t: TestContext, server: TestServer, sender: string, data: string | Buffer): Promise<ClientReply> {
  const { client } = await SmtpTestClient.open(server.port('smtp'), { timeoutMs: 20_000 });
  t.after(() => client.close());
  expectCode((await client.ehlo('client.example')).reply, '250');
  expectCode(await client.command(`MAIL FROM:<${sender}>`), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  const [, done] = await client.data(data);
  await client.command('QUIT');
  return done;
}

/** The header fields added on top of the stored copy, before our Received field. */
function addedFields(text: string): string {
  const received = text.indexOf('\r\nReceived: from client.example');
  assert.ok(received > 0, text);
  return text.slice(0, received + 2);
}

function authResults(text: string): string {
  const match = /(?:^|\r\n)(Authentication-Results: mx\.test\.example;(?:\r\n[ \t][^\r\n]*)+)/.exec(addedFields(text));
  assert.ok(match !== null, text);
  return match[1]!.replace(/\r\n[ \t]+/g, ' ');
}

test('SPF by client IP: pass for an authorised domain, fail otherwise; DMARC pass delivers to INBOX', async (t) => {
  const server = await setup(t);
  expectCode(await send(t, server, 'bob@good-sender.net', message('Bob <bob@good-sender.net>')), '250 2.0.0');
  const [text] = await server.messageTexts('alice@example.com');
  assert.ok(text !== undefined);
  assert.match(text, /^Return-Path: <bob@good-sender\.net>\r\nDelivered-To: alice@example\.com\r\nReceived-SPF: pass /);
  const results = authResults(text);
  assert.match(results, /spf=pass .*smtp\.mailfrom=bob@good-sender\.net/);
  assert.match(results, /dkim=none/);
  assert.match(results, /dmarc=pass .*header\.from=good-sender\.net/);

  // SPF fails for a domain that only allows 192.0.2.1; its DMARC policy then refuses the message.
  const refused = await send(t, server, 'eve@bad-sender.net', message('eve@bad-sender.net'));
  assert.equal(refused.raw, '550 5.7.1 Message rejected: DMARC policy of bad-sender.net (RFC 7489)\r\n');
  assert.equal((await server.messages('alice@example.com')).length, 1, 'nothing stored for the refused message');
});

test('SPF fail without a DMARC record: delivered, spf=fail recorded', async (t) => {
  const server = await setup(t, { 'nodmarc-sender.net': [rr('TXT', 'nodmarc-sender.net', ONLY_ELSEWHERE)] });
  expectCode(await send(t, server, 'x@nodmarc-sender.net', message('x@nodmarc-sender.net')), '250 2.0.0');
  const [text] = await server.messageTexts('alice@example.com');
  const results = authResults(text ?? '');
  assert.match(results, /spf=fail /);
  assert.match(results, /dmarc=none/);
  assert.match(text ?? '', /\r\nReceived-SPF: fail /);
});

test('a DKIM-signed message passes DKIM and, aligned, DMARC although SPF fails', async (t) => {
  const key = await generateDkimKey('rsa');
  const record = dkimDnsRecord({ domain: 'signed-sender.net', selector: 'k1', algorithm: 'rsa', publicKey: key.publicKey });
  const server = await setup(t, { ...BASE_ZONE, [record.name]: [rr('TXT', record.name, txtStrings(record.value))] });
  const unsigned = Buffer.from(message('Carol <carol@signed-sender.net>', '', 'Signed body.\r\n'));
  const signature = { signingDomain: 'signed-sender.net', selector: 'k1', privateKey: key.privateKeyPem, algorithm: 'rsa-sha256', canonicalization: 'relaxed/relaxed' };
  const signed = await dkimSign(unsigned, { ...signature, signatureData: [signature] });
  assert.deepEqual(signed.errors, []);
  expectCode(await send(t, server, 'carol@signed-sender.net', Buffer.concat([Buffer.from(signed.signatures), unsigned])), '250 2.0.0');
  const [text] = await server.messageTexts('alice@example.com');
  const results = authResults(text ?? '');
  assert.match(results, /dkim=pass .*header\.d=signed-sender\.net/);
  assert.match(results, /spf=fail /);
  assert.match(results, /dmarc=pass /);

  // The same signature over a changed body: DKIM no longer passes, DMARC p=reject refuses it.
  const tampered = Buffer.concat([Buffer.from(signed.signatures), Buffer.from(message('Carol <carol@signed-sender.net>', '', 'Changed body.\r\n'))]);
  expectCode(await send(t, server, 'carol@signed-sender.net', tampered), '550 5.7.1');
});

test('DMARC p=quarantine failure goes to the \\Junk mailbox; dmarc_reject = "junk" files p=reject there too', async (t) => {
  const server = await setup(t, BASE_ZONE, { toml: '[mail_auth]\ndmarc_reject = "junk"\n' });
  expectCode(await send(t, server, 'q@quarantine-sender.net', message('q@quarantine-sender.net')), '250 2.0.0');
  expectCode(await send(t, server, 'eve@bad-sender.net', message('eve@bad-sender.net')), '250 2.0.0');
  expectCode(await send(t, server, 'bob@good-sender.net', message('bob@good-sender.net')), '250 2.0.0');
  const junk = await server.messageTexts('alice@example.com', 'Junk');
  assert.equal(junk.length, 2);
  assert.match(authResults(junk[0] ?? ''), /dmarc=fail .*header\.from=quarantine-sender\.net/);
  assert.match(authResults(junk[1] ?? ''), /dmarc=fail .*header\.from=bad-sender\.net/);
  const inbox = await server.messageTexts('alice@example.com');
  assert.equal(inbox.length, 1);
  assert.match(inbox[0] ?? '', /From: bob@good-sender\.net/);
});

test('dmarc_quarantine = "deliver" and "reject" are honoured', async (t) => {
  const delivering = await setup(t, BASE_ZONE, { toml: '[mail_auth]\ndmarc_quarantine = "deliver"\n' });
  expectCode(await send(t, delivering, 'q@quarantine-sender.net', message('q@quarantine-sender.net')), '250 2.0.0');
  assert.equal((await delivering.messages('alice@example.com')).length, 1);
  assert.equal((await delivering.messages('alice@example.com', 'Junk')).length, 0);
  const rejecting = await setup(t, BASE_ZONE, { toml: '[mail_auth]\ndmarc_quarantine = "reject"\n' });
  expectCode(await send(t, rejecting, 'q@quarantine-sender.net', message('q@quarantine-sender.net')), '550 5.7.1');
});

test('forged Authentication-Results claiming our authserv-id are removed; others are kept', async (t) => {
  const server = await setup(t);
  const forged =
    'Authentication-Results: mx.test.example; spf=pass; dkim=pass; dmarc=pass\r\n' +
    'Authentication-Results: (looks official)\r\n MX.Test.Example ;\r\n dkim=pass header.d=bank.example\r\n' +
    'Authentication-Results: relay.elsewhere.example; spf=pass smtp.mailfrom=bob@good-sender.net\r\n';
  expectCode(await send(t, server, 'bob@good-sender.net', message('bob@good-sender.net', forged)), '250 2.0.0');
  const [text] = await server.messageTexts('alice@example.com');
  assert.ok(text !== undefined);
  const ours = text.match(/^Authentication-Results: *(?:\([^)]*\))?\s*mx\.test\.example/gim) ?? [];
  assert.equal(ours.length, 1, `only our own field remains:\n${text}`);
  assert.ok(!text.includes('MX.Test.Example'));
  assert.ok(!text.includes('bank.example'));
  assert.ok(text.includes('Authentication-Results: relay.elsewhere.example; spf=pass'), 'other authserv-ids are left alone');
  // Our field sits in the delivery prefix, above the Received field.
  assert.match(addedFields(text), /Authentication-Results: mx\.test\.example;/);
  // The stored index matches the stored bytes: FETCH-style reads see the same header.
  const [meta] = await server.messages('alice@example.com');
  const [stored] = await server.store.getMessages(meta!.mailboxId, [meta!.uid]);
  assert.equal(stored?.size, Buffer.byteLength(text));
});

test('a header too long to filter that carries a forged field is refused with 554 5.7.1', async (t) => {
  const server = await setup(t);
  const padding = Array.from({ length: 1200 }, (_, i) => `X-Padding-${i}: ${'p'.repeat(60)}\r\n`).join('');
  const { client } = await SmtpTestClient.open(server.port('smtp'), { timeoutMs: 20_000 });
  t.after(() => client.close());
  expectCode((await client.ehlo('client.example')).reply, '250');
  expectCode(await client.command('MAIL FROM:<bob@good-sender.net>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  expectCode(await client.command('DATA'), '354');
  // The first 96 KiB of header arrive alone: more than the server buffers to filter (64 KiB).
  client.write(padding);
  await new Promise((resolve) => setTimeout(resolve, 300));
  client.write(`${message('bob@good-sender.net', 'Authentication-Results: mx.test.example; dmarc=pass\r\n')}.\r\n`);
  expectCode(await client.read(), '554 5.7.1');
  // The same long header without a forged field is fine.
  expectCode(await send(t, server, 'bob@good-sender.net', message('bob@good-sender.net', padding)), '250 2.0.0');
  assert.equal((await server.messages('alice@example.com')).length, 1);
});

test('submission is not checked: no Authentication-Results, no DMARC refusal', async (t) => {
  const server = await setup(t);
  const { client } = await SmtpTestClient.open(server.port('submissions'), { tls: true });
  t.after(() => client.close());
  expectCode((await client.ehlo('client.example')).reply, '250');
  expectCode(await client.command(`AUTH PLAIN ${plainResponse('alice@example.com', 'alice-password-1')}`), '235 2.7.0');
  expectCode(await client.command('MAIL FROM:<alice@example.com>'), '250 2.1.0');
  expectCode(await client.command('RCPT TO:<alice@example.com>'), '250 2.1.5');
  // Even a From of a domain whose DMARC would refuse it on the MX.
  const [, done] = await client.data(message('eve@bad-sender.net', 'Authentication-Results: mx.test.example; dmarc=pass\r\n'));
  expectCode(done, '250 2.0.0');
  const [text] = await server.messageTexts('alice@example.com');
  assert.doesNotMatch(text ?? '', /Received-SPF/);
  assert.match(text ?? '', /^Return-Path: <alice@example\.com>\r\nDelivered-To: alice@example\.com\r\nReceived: /);
  // What the user wrote in their own message is theirs to keep.
  assert.match(text ?? '', /\r\nAuthentication-Results: mx\.test\.example; dmarc=pass\r\n/);
});

test('verify = false: no checks, no header; an unanswering DNS gives temperror, not a stuck message', async (t) => {
  const off = await setup(t, BASE_ZONE, { toml: '[mail_auth]\nverify = false\n' });
  expectCode(await send(t, off, 'eve@bad-sender.net', message('eve@bad-sender.net')), '250 2.0.0');
  assert.doesNotMatch((await off.messageTexts('alice@example.com'))[0] ?? '', /Authentication-Results|Received-SPF/);

  const slow = await setup(t, BASE_ZONE, { silentDns: true, protocols: { smtp: { mailAuth: { timeoutMs: 1500 } } } });
  const started = Date.now();
  expectCode(await send(t, slow, 'eve@bad-sender.net', message('eve@bad-sender.net')), '250 2.0.0');
  assert.ok(Date.now() - started < 10_000);
  const [text] = await slow.messageTexts('alice@example.com');
  assert.match(authResults(text ?? ''), /spf=temperror .*dkim=temperror; dmarc=temperror/);
});

test('the added fields are always our two fields and their continuation lines', () => {
  const sneaky = 'Received-SPF: pass x\nAuthentication-Results: mx.test.example;\r\n dkim=pass header.s=a\r\nX-Injected: yes\r\n spf=pass\x00\r\n';
  assert.equal(
    traceFields(sneaky),
    'Received-SPF: pass x\r\nAuthentication-Results: mx.test.example;\r\n dkim=pass header.s=a\r\n X-Injected: yes\r\n spf=pass\r\n',
  );
  assert.ok(traceFields(`Authentication-Results: ${'x'.repeat(2000)}`).length <= 1000);
});

test('DNS answers for the checks are reused for a minute, "no such name" too; then asked again', async (t) => {
  const zone: Zone = { 'cached.net': [rr('TXT', 'cached.net', 'v=spf1 -all')] };
  const dns = await startDnsServer(t, zone);
  let clock = 1_000_000;
  const resolve = dnsResolver([dns], () => clock);
  assert.deepEqual(await resolve('cached.net', 'TXT'), [['v=spf1 -all']]);
  await assert.rejects(resolve('later.net', 'TXT'), { code: 'ENOTFOUND' });
  zone['cached.net'] = [rr('TXT', 'cached.net', 'v=spf1 +all')];
  zone['later.net'] = [rr('TXT', 'later.net', 'v=spf1 ~all')];
  clock += 59_000;
  assert.deepEqual(await resolve('Cached.NET', 'TXT'), [['v=spf1 -all']]);
  await assert.rejects(resolve('later.net', 'TXT'), { code: 'ENOTFOUND' });
  clock += 2_000;
  assert.deepEqual(await resolve('cached.net', 'TXT'), [['v=spf1 +all']]);
  assert.deepEqual(await resolve('later.net', 'TXT'), [['v=spf1 ~all']]);
});
