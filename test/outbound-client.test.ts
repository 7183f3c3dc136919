/**
 * The outbound SMTP transport over real sockets: against our own server (MX and submission
 * listeners, STARTTLS with a self-signed certificate, AUTH with a password file), against a
 * scripted server playing odd and hostile remotes, and against Postfix from ../shared/refstack.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../src/log/index.js';
import { createOutboundTransport } from '../src/queue/transport-impl.js';
import type { OutboundTransportOptions } from '../src/queue/transport-impl.js';
import type { DomainDeliveryResult, TransactionRequest } from '../src/queue/transport.js';
import { corpusMessage, makeRequest, outboundConfig, recipient, simpleMessage } from './helpers/outbound.js';
import { startScriptedServer } from './helpers/scripted-smtp-server.js';
import type { Script, ScriptedServer } from './helpers/scripted-smtp-server.js';
import { refstackOrSkip } from './helpers/refstack.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';

const silent = createLogger({ level: 'silent' });
const TIMEOUTS = '[outbound]\nmta_sts = false\nconnect_timeout = "2s"\ncommand_timeout = "1s"';

type Ctx = Parameters<typeof outboundConfig>[0];

/** Delivers `request` to remote.example routed to the scripted server. */
async function deliverToScripted(t: Ctx, server: ScriptedServer, request: TransactionRequest, routeExtra = 'tls = "opportunistic"', files: Record<string, string> = {}): Promise<DomainDeliveryResult> {
  const { config } = outboundConfig(t, `${TIMEOUTS}\n[[routes]]\ndomain = "remote.example"\nhost = "${server.host}:${server.port}"\n${routeExtra}`, files);
  return createOutboundTransport(config, silent).deliver('remote.example', request);
}

async function scripted(t: Ctx, script: Script): Promise<ScriptedServer> {
  return startScriptedServer(t, script);
}

function statuses(result: DomainDeliveryResult): string[] {
  return result.recipients.map((r) => `${r.address} ${r.status} ${r.code} ${r.enhanced}`);
}

// --- (a) our own server ---

async function ownServer(t: Ctx): Promise<TestServer> {
  const server = await startTestServer(t, { toml: '[mail_auth]\nverify = false' });
  await server.addDomain('test.example');
  await server.addUser('alice@test.example', 'alice-secret-1');
  await server.addUser('bob@test.example', 'bob-secret-1');
  return server;
}

/** The stored copy is our trace headers followed by exactly the bytes we sent. */
function assertStoredIdentical(stored: string | undefined, sent: Buffer): void {
  assert.ok(stored !== undefined, 'message stored');
  const storedBytes = Buffer.from(stored, 'utf8');
  const prefix = storedBytes.subarray(0, storedBytes.length - sent.length);
  assert.ok(storedBytes.subarray(storedBytes.length - sent.length).equals(sent), 'the stored message ends with the sent bytes, unchanged');
  assert.match(prefix.toString('utf8'), /^(?:[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*$/, 'only header fields were added');
}

test('delivers to our own MX over opportunistic STARTTLS; the stored message is byte-identical after the trace headers', async (t) => {
  const server = await ownServer(t);
  const message = corpusMessage('flanker-torture.eml'); // 1.8 MB, lines starting with "."
  const body = Buffer.concat([message, Buffer.from('\r\n')]);
  assert.ok(body.includes('\n.'), 'the message exercises dot-stuffing');
  const { config } = outboundConfig(t, `${TIMEOUTS}\n[[routes]]\ndomain = "test.example"\nhost = "127.0.0.1:${server.port('smtp')}"`);
  const result = await createOutboundTransport(config, silent).deliver('test.example', makeRequest(['alice@test.example', 'nobody@test.example'], body, {}, 65536));
  assert.deepEqual(statuses(result), ['alice@test.example delivered 250 2.0.0', 'nobody@test.example failed 550 5.1.1']);
  assert.equal(result.tls, true, 'STARTTLS was used although the certificate is self-signed');
  assert.equal(result.remoteHost, '127.0.0.1');
  const [stored] = await server.messageTexts('alice@test.example');
  assertStoredIdentical(stored, body);
});

test('BINARYMIME goes as BDAT chunks to a server with CHUNKING, byte for byte', async (t) => {
  const server = await ownServer(t);
  const body = simpleMessage(['Caf\u00e9 cr\u00e8me, na\u00efve \u00fcber', '.leading dot stays as it is in BDAT', '']);
  const { config } = outboundConfig(t, `${TIMEOUTS}\n[[routes]]\ndomain = "test.example"\nhost = "127.0.0.1:${server.port('smtp')}"\ntls = "none"`);
  const result = await createOutboundTransport(config, silent).deliver('test.example', makeRequest(['bob@test.example'], body, { body: 'BINARYMIME' }, 16));
  assert.deepEqual(statuses(result), ['bob@test.example delivered 250 2.0.0']);
  assert.equal(result.tls, false);
  const [stored] = await server.messageTexts('bob@test.example');
  assertStoredIdentical(stored, body);
});

// --- (c) STARTTLS with a self-signed certificate ---

test('required TLS with certificate verification refuses the self-signed certificate (deferred), and accepts it with the CA given', async (t) => {
  const server = await ownServer(t);
  const body = simpleMessage(['verified TLS only']);
  const route = `${TIMEOUTS}\n[[routes]]\ndomain = "test.example"\nhost = "localhost:${server.port('smtp')}"\ntls = "required"\nverify_certificates = true`;
  const { config } = outboundConfig(t, route);
  const refused = await createOutboundTransport(config, silent).deliver('test.example', makeRequest(['alice@test.example'], body));
  assert.equal(refused.recipients[0]?.status, 'deferred');
  assert.equal(refused.recipients[0]?.enhanced, '4.7.5');
  assert.match(refused.recipients[0]?.diagnostic ?? '', /not verified/);
  assert.deepEqual(await server.messageTexts('alice@test.example'), [], 'nothing delivered over the unverified connection');

  const ca = readFileSync(join(server.dir, 'test.crt'));
  const options: OutboundTransportOptions = { ca };
  const accepted = await createOutboundTransport(config, silent, options).deliver('test.example', makeRequest(['alice@test.example'], body));
  assert.deepEqual(statuses(accepted), ['alice@test.example delivered 250 2.0.0']);
  assert.equal(accepted.tls, true);
  assert.equal((await server.messageTexts('alice@test.example')).length, 1);
});

// --- (d) AUTH to a smarthost route ---

test('AUTH to a smarthost route (submission, STARTTLS verified) with the password from password_file', async (t) => {
  const server = await ownServer(t);
  const body = simpleMessage(['relayed through the smarthost']);
  const ca = readFileSync(join(server.dir, 'test.crt'));
  const route = (file: string): string =>
    `${TIMEOUTS}\n[[routes]]\ndomain = "*"\nhost = "localhost:${server.port('submission')}"\ntls = "required"\nusername = "alice@test.example"\npassword_file = "${file}"`;
  const good = outboundConfig(t, route('relay.pass'), { 'relay.pass': 'alice-secret-1\n' }).config;
  const result = await createOutboundTransport(good, silent, { ca }).deliver('test.example', makeRequest(['bob@test.example'], body, { sender: 'alice@test.example' }));
  assert.deepEqual(statuses(result), ['bob@test.example delivered 250 2.0.0']);
  assert.equal(result.tls, true);
  assert.equal((await server.messageTexts('bob@test.example')).length, 1);

  const bad = outboundConfig(t, route('wrong.pass'), { 'wrong.pass': 'not-the-password\n' }).config;
  const refused = await createOutboundTransport(bad, silent, { ca }).deliver('test.example', makeRequest(['bob@test.example'], body, { sender: 'alice@test.example' }));
  assert.equal(refused.recipients[0]?.status, 'deferred', 'a refused login defers (the operator can fix the password)');
  assert.equal(refused.recipients[0]?.code, 535);
  assert.match(refused.recipients[0]?.diagnostic ?? '', /authentication as alice@test\.example refused/);
  assert.equal((await server.messageTexts('bob@test.example')).length, 1);
});

test('credentials are never sent without TLS, except with tls = "none" to loopback', async (t) => {
  const server = await scripted(t, { extensions: ['PIPELINING', 'AUTH PLAIN LOGIN'] });
  const request = (): TransactionRequest => makeRequest(['a@remote.example'], simpleMessage(['x']));
  const files = { 'relay.pass': 'pw-\u00e9t\u00e9\n' };
  const withheld = await deliverToScripted(t, server, request(), 'tls = "opportunistic"\nusername = "relayuser"\npassword_file = "relay.pass"', files);
  assert.equal(withheld.recipients[0]?.status, 'deferred');
  assert.equal(withheld.recipients[0]?.enhanced, '4.7.10');
  assert.ok(!server.sessions[0]?.lines.some((line) => line.startsWith('AUTH')), 'no AUTH on a plaintext connection');

  const sent = await deliverToScripted(t, server, request(), 'tls = "none"\nusername = "relayuser"\npassword_file = "relay.pass"', files);
  assert.equal(sent.recipients[0]?.status, 'delivered');
  const auth = server.sessions[1]?.lines.find((line) => line.startsWith('AUTH PLAIN '));
  assert.equal(Buffer.from(auth?.slice('AUTH PLAIN '.length) ?? '', 'base64').toString('utf8'), '\0relayuser\0pw-\u00e9t\u00e9');
});

test('AUTH LOGIN when PLAIN is not offered; a refused password defers', async (t) => {
  const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  const login = (password: string) => (line: string): string =>
    line === 'AUTH LOGIN' ? '334 VXNlcm5hbWU6' : line === b64('u') ? '334 UGFzc3dvcmQ6' : line === b64(password) ? '235 2.7.0 ok' : '535 5.7.8 bad credentials';
  const server = await scripted(t, { extensions: ['AUTH LOGIN'], auth: login('secret') });
  const route = 'tls = "none"\nusername = "u"\npassword_file = "p"';
  const result = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'])), route, { p: 'secret' });
  assert.equal(result.recipients[0]?.status, 'delivered');
  assert.deepEqual(server.sessions[0]?.lines.slice(1, 4), ['AUTH LOGIN', b64('u'), b64('secret')]);

  const refused = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'])), route, { p: 'wrong' });
  assert.deepEqual(statuses(refused), ['a@remote.example deferred 535 4.7.8']);
  assert.ok(!(server.sessions[1]?.lines ?? []).some((line) => line.startsWith('MAIL')));
});

// --- (b) scripted remotes ---

test('multiline replies, partial acceptance: 250, 550 and 451 per recipient; DATA for the accepted one only', async (t) => {
  const server = await scripted(t, {
    greeting: '220-scripted.test ESMTP\n220-second line\n220 third line',
    rcpt: (address) => (address.startsWith('gone') ? '550-5.1.1 No such user\n550 5.1.1 really none' : address.startsWith('full') ? '451 4.2.1 Try later' : '250 2.1.5 OK'),
    dataEnd: () => '250-2.0.0 queued\n250 2.0.0 as 12345',
  });
  const result = await deliverToScripted(t, server, makeRequest(['ok@remote.example', 'gone@remote.example', 'full@remote.example'], simpleMessage(['hello'])));
  assert.deepEqual(statuses(result), ['ok@remote.example delivered 250 2.0.0', 'gone@remote.example failed 550 5.1.1', 'full@remote.example deferred 451 4.2.1']);
  assert.equal(result.recipients[1]?.diagnostic, 'RCPT TO: 550 5.1.1 No such user really none');
  assert.equal(result.recipients[0]?.diagnostic, 'end of data: 250 2.0.0 queued as 12345');
  assert.equal(server.sessions.length, 1, 'all recipients on one connection');
  assert.equal(server.sessions[0]?.messages.length, 1);
});

test('PIPELINING: MAIL and RCPTs in one write when offered, one by one when not', async (t) => {
  const withPipelining = await scripted(t, {});
  await deliverToScripted(t, withPipelining, makeRequest(['a@remote.example', 'b@remote.example'], simpleMessage(['x'])));
  const batch = withPipelining.sessions[0]?.batches.find((lines) => lines.some((line) => line.startsWith('MAIL')));
  assert.deepEqual(batch, ['MAIL FROM:<sender@sender.test.example> SIZE=' + String(simpleMessage(['x']).length), 'RCPT TO:<a@remote.example>', 'RCPT TO:<b@remote.example>']);

  const without = await scripted(t, { extensions: ['SIZE 1000000'] });
  const result = await deliverToScripted(t, without, makeRequest(['a@remote.example', 'b@remote.example'], simpleMessage(['x'])));
  assert.deepEqual(result.recipients.map((r) => r.status), ['delivered', 'delivered']);
  for (const lines of without.sessions[0]?.batches ?? []) assert.equal(lines.length, 1, `one command per write without PIPELINING: ${JSON.stringify(lines)}`);
});

test('EHLO refused with 502: falls back to HELO and sends no extension parameters', async (t) => {
  const server = await scripted(t, { ehlo: '502 5.5.1 EHLO not implemented' });
  const result = await deliverToScripted(t, server, makeRequest([recipient('a@remote.example', { notify: ['FAILURE'] })], simpleMessage(['x']), { envid: 'id1' }));
  assert.equal(result.recipients[0]?.status, 'delivered');
  const lines = server.sessions[0]?.lines ?? [];
  assert.match(lines[1] ?? '', /^HELO sender\.test\.example$/);
  assert.ok(lines.includes('MAIL FROM:<sender@sender.test.example>'));
  assert.ok(lines.includes('RCPT TO:<a@remote.example>'));
});

test('DSN parameters are passed on (xtext) when DSN is offered, dropped when not; the null sender is <>', async (t) => {
  const request = (): TransactionRequest =>
    makeRequest(
      [recipient('a@remote.example', { notify: ['SUCCESS', 'FAILURE'], orcpt: { addrType: 'rfc822', address: 'a+x=y@remote.example' } }), recipient('b@remote.example', { notify: 'NEVER' })],
      simpleMessage(['x']),
      { sender: '', ret: 'HDRS', envid: 'env id+1' },
    );
  const dsn = await scripted(t, {});
  assert.equal((await deliverToScripted(t, dsn, request())).dsn, true);
  const lines = dsn.sessions[0]?.lines ?? [];
  assert.ok(lines.includes(`MAIL FROM:<> SIZE=${simpleMessage(['x']).length} RET=HDRS ENVID=env+20id+2B1`), lines.join('|'));
  assert.ok(lines.includes('RCPT TO:<a@remote.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bx+3Dy@remote.example'));
  assert.ok(lines.includes('RCPT TO:<b@remote.example> NOTIFY=NEVER'));

  const plain = await scripted(t, { extensions: ['PIPELINING'] });
  assert.equal((await deliverToScripted(t, plain, request())).dsn, false, 'the worker sends "relayed" DSNs itself');
  const plainLines = plain.sessions[0]?.lines ?? [];
  assert.ok(plainLines.includes('MAIL FROM:<>'));
  assert.ok(plainLines.includes('RCPT TO:<a@remote.example>'));
});

test('no STARTTLS offered while tls = "required": deferred 4.7.10, no MAIL sent', async (t) => {
  const server = await scripted(t, {});
  const result = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'])), 'tls = "required"');
  assert.equal(result.recipients[0]?.status, 'deferred');
  assert.equal(result.recipients[0]?.enhanced, '4.7.10');
  assert.ok(!(server.sessions[0]?.lines ?? []).some((line) => line.startsWith('MAIL')));
});

test('opportunistic STARTTLS whose handshake fails is retried in plaintext on a new connection', async (t) => {
  const server = await scripted(t, { extensions: ['STARTTLS', 'PIPELINING'], starttls: { close: true, reply: '220 2.0.0 go ahead' } });
  const result = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'])));
  assert.equal(result.recipients[0]?.status, 'delivered');
  assert.equal(result.tls, false);
  assert.equal(server.sessions.length, 2);
  assert.ok(!(server.sessions[1]?.lines ?? []).includes('STARTTLS'), 'the second session stays in plaintext');
});

test('a message larger than the remote SIZE fails locally with 5.3.4 before MAIL', async (t) => {
  const server = await scripted(t, { extensions: ['PIPELINING', 'SIZE 100'] });
  const result = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'.repeat(200)])));
  assert.equal(result.recipients[0]?.status, 'failed');
  assert.equal(result.recipients[0]?.enhanced, '5.3.4');
  assert.ok(!(server.sessions[0]?.lines ?? []).some((line) => line.startsWith('MAIL')));
});

test('no 8BITMIME: 7-bit content goes without BODY=, 8-bit content fails 5.6.3 without an end of data', async (t) => {
  const server = await scripted(t, { extensions: ['PIPELINING'] });
  const clean = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['plain ascii']), { body: '8BITMIME' }));
  assert.equal(clean.recipients[0]?.status, 'delivered');
  assert.ok(server.sessions[0]?.lines.includes('MAIL FROM:<sender@sender.test.example>'), 'no BODY= to a server without 8BITMIME');

  const eight = corpusMessage('flanker-8bitmime.eml');
  const failed = await deliverToScripted(t, server, makeRequest(['a@remote.example'], eight, { body: '8BITMIME' }));
  assert.equal(failed.recipients[0]?.status, 'failed');
  assert.equal(failed.recipients[0]?.enhanced, '5.6.3');
  assert.equal(server.sessions[1]?.messages.length, 0, 'the remote never saw the end of data');

  const offered = await scripted(t, {});
  const sent = await deliverToScripted(t, offered, makeRequest(['a@remote.example'], eight, { body: '8BITMIME' }));
  assert.equal(sent.recipients[0]?.status, 'delivered');
  assert.ok(offered.sessions[0]?.lines.some((line) => line.startsWith('MAIL FROM:<sender@sender.test.example>') && line.includes(' BODY=8BITMIME')));
  const unterminated = eight.subarray(0, eight.length - 2);
  const added = await deliverToScripted(t, offered, makeRequest(['a@remote.example'], unterminated, { body: '8BITMIME' }));
  assert.equal(added.recipients[0]?.status, 'delivered');
  assert.ok(offered.sessions[0]?.messages[0]?.equals(eight), 'the message arrives unchanged');
  assert.ok(offered.sessions[1]?.messages[0]?.equals(eight), 'the CRLF missing at the end is added before "."');
});

test('SMTPUTF8 needed but not offered fails 5.6.7; offered, it is sent on MAIL', async (t) => {
  const without = await scripted(t, { extensions: ['PIPELINING', '8BITMIME'] });
  const failed = await deliverToScripted(t, without, makeRequest(['j\u00f6rg@remote.example'], simpleMessage(['x']), { smtputf8: true }));
  assert.equal(failed.recipients[0]?.status, 'failed');
  assert.equal(failed.recipients[0]?.enhanced, '5.6.7');

  const withUtf8 = await scripted(t, {});
  const sent = await deliverToScripted(t, withUtf8, makeRequest(['j\u00f6rg@remote.example'], simpleMessage(['x']), { smtputf8: true, body: '8BITMIME' }));
  assert.equal(sent.recipients[0]?.status, 'delivered');
  assert.ok(withUtf8.sessions[0]?.lines.some((line) => line.endsWith(' BODY=8BITMIME SMTPUTF8')));
  assert.ok(withUtf8.sessions[0]?.lines.includes('RCPT TO:<j\u00f6rg@remote.example>'));
});

test('dot-stuffing across chunk boundaries: the remote gets back exactly the message (1-octet to 64 KiB chunks, 1 MB)', async (t) => {
  const server = await scripted(t, {});
  const lines: string[] = [];
  for (let i = 0; i < 60_000; i++) lines.push(i % 7 === 0 ? '.' : i % 5 === 0 ? `..dots ${i}` : i % 3 === 0 ? `.x ${i}` : `line ${i} ${'y'.repeat(i % 40)}`);
  const message = Buffer.from(`.first line starts with a dot\r\n${lines.join('\r\n')}\r\n.`, 'utf8');
  for (const chunkSize of [1, 7, 4096, 65536]) {
    // Tiny chunks cost one write each: a prefix suffices for them (every split offset is in outbound-wire).
    const sample = chunkSize === 1 ? message.subarray(0, 3000) : chunkSize === 7 ? message.subarray(0, 200_000) : message;
    const result = await deliverToScripted(t, server, makeRequest(['a@remote.example'], sample, {}, chunkSize));
    assert.equal(result.recipients[0]?.status, 'delivered');
    const received = server.sessions.at(-1)?.messages[0];
    const expected = sample.at(-1) === 0x0a ? sample : Buffer.concat([sample, Buffer.from('\r\n')]);
    assert.equal(createHash('sha256').update(received ?? '').digest('hex'), createHash('sha256').update(expected).digest('hex'), `chunk size ${chunkSize}`);
  }
});

test('a 32 MB message streams with backpressure: never far ahead of what a slow remote has read', async (t) => {
  const server = await scripted(t, { extensions: ['PIPELINING', 'SIZE', '8BITMIME'], pauseData: { bytes: 4 * 1024 * 1024, ms: 700 } });
  const total = 32 * 1024 * 1024;
  const line = Buffer.from(`${'z'.repeat(78)}\r\n`);
  const chunk = Buffer.concat(Array.from({ length: 64 * 1024 / line.length }, () => line));
  let produced = 0;
  let maxAhead = 0;
  const request = makeRequest(['a@remote.example'], Buffer.alloc(0), {
    size: total,
    openMessage: () =>
      Readable.from(
        (function* generate(): Generator<Buffer> {
          while (produced < total) {
            maxAhead = Math.max(maxAhead, produced - (server.sessions[0]?.dataBytes ?? 0));
            produced += chunk.length;
            yield chunk;
          }
        })(),
      ),
  });
  const result = await deliverToScripted(t, server, request);
  assert.equal(result.recipients[0]?.status, 'delivered');
  assert.equal(server.sessions[0]?.messages[0]?.length, produced);
  assert.ok(maxAhead < 12 * 1024 * 1024, `read ahead of the remote by at most ${maxAhead} octets`);
});

test('an envelope address with CR/LF is refused before connecting (no command injection)', async (t) => {
  const server = await scripted(t, {});
  const result = await deliverToScripted(t, server, makeRequest(['a@remote.example\r\nRCPT TO:<victim@remote.example>'], simpleMessage(['x'])));
  assert.deepEqual(statuses(result), ['a@remote.example\r\nRCPT TO:<victim@remote.example> failed 0 5.1.3']);
  assert.equal(server.sessions.length, 0);
});

test('a refusal in the middle of DATA (552, then hang-up) decides the result', async (t) => {
  const server = await scripted(t, { extensions: ['PIPELINING'], abortData: { bytes: 256 * 1024, reply: '552 5.3.4 Message too big for me' } });
  const big = simpleMessage(Array.from({ length: 40_000 }, (_, i) => `line ${i} of a big message ${'q'.repeat(60)}`));
  const result = await deliverToScripted(t, server, makeRequest(['a@remote.example'], big));
  assert.deepEqual(statuses(result), ['a@remote.example failed 552 5.3.4']);
});

test('MAIL 451 defers (another host may take it), MAIL 550 fails everyone, DATA end 452/554 map to deferred/failed', async (t) => {
  const cases: Array<[Script, string]> = [
    [{ mail: () => '451 4.3.0 later' }, 'deferred 451 4.3.0'],
    [{ mail: () => '550 5.7.1 sender refused' }, 'failed 550 5.7.1'],
    [{ dataEnd: () => '452 4.3.1 disk full' }, 'deferred 452 4.3.1'],
    [{ dataEnd: () => '554 5.6.0 content refused' }, 'failed 554 5.6.0'],
    [{ data: '554 no valid recipients' }, 'failed 554 5.0.0'],
  ];
  for (const [script, expected] of cases) {
    const server = await scripted(t, script);
    const result = await deliverToScripted(t, server, makeRequest(['a@remote.example', 'b@remote.example'], simpleMessage(['x'])));
    assert.deepEqual(statuses(result), [`a@remote.example ${expected}`, `b@remote.example ${expected}`], JSON.stringify(script));
  }
});

test('an endless reply line is cut off at the line limit: deferred 4.5.0, quickly, memory bounded', async (t) => {
  const server = await scripted(t, { ehlo: { endless: true } });
  const started = Date.now();
  const result = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'])));
  assert.equal(result.recipients[0]?.status, 'deferred');
  assert.equal(result.recipients[0]?.enhanced, '4.5.0');
  assert.match(result.recipients[0]?.diagnostic ?? '', /longer than/);
  assert.ok(Date.now() - started < 900, 'no timeout needed to notice it');
});

test('a server that sends endless reply lines (each with CRLF) is cut off at the line count limit', async (t) => {
  const lines = Array.from({ length: 500 }, (_, i) => `250-line ${i}`).join('\n');
  const server = await scripted(t, { ehlo: `${lines}\n250 end` });
  const result = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'])));
  assert.equal(result.recipients[0]?.status, 'deferred');
  assert.match(result.recipients[0]?.diagnostic ?? '', /longer than 128 lines/);
});

test('a silent server times out after command_timeout: deferred 4.4.2', async (t) => {
  const server = await scripted(t, { greeting: { silent: true } });
  const started = Date.now();
  const result = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'])));
  const elapsed = Date.now() - started;
  assert.equal(result.recipients[0]?.status, 'deferred');
  assert.equal(result.recipients[0]?.enhanced, '4.4.2');
  assert.match(result.recipients[0]?.diagnostic ?? '', /timeout after 1s waiting for the reply to the greeting/);
  assert.ok(elapsed >= 900 && elapsed < 5000, `timed out after ${elapsed} ms`);
});

test('silence after the end of data defers the accepted recipients and keeps the refused ones failed', async (t) => {
  const server = await scripted(t, { rcpt: (address) => (address.startsWith('no') ? '550 5.1.1 no' : '250 ok'), dataEnd: () => ({ silent: true }) });
  const result = await deliverToScripted(t, server, makeRequest(['yes@remote.example', 'no@remote.example'], simpleMessage(['x'])));
  assert.deepEqual(
    result.recipients.map((r) => `${r.status} ${r.enhanced}`),
    ['deferred 4.4.2', 'failed 5.1.1'],
  );
});

test('a connection closed after RCPT defers the accepted recipients', async (t) => {
  const server = await scripted(t, { data: { close: true } });
  const result = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'])));
  assert.equal(result.recipients[0]?.status, 'deferred');
  assert.equal(result.recipients[0]?.code, 0);
  assert.match(result.recipients[0]?.diagnostic ?? '', /closed/);
});

test('a refused connection and a greeting 554 on the only route host: deferred and failed', async (t) => {
  const server = await scripted(t, { greeting: '554 5.7.1 no service for you' });
  const refused = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'])));
  assert.equal(refused.recipients[0]?.status, 'failed', 'a 5xx greeting from every host fails');
  assert.equal(refused.recipients[0]?.code, 554);
  await server.close();
  const down = await deliverToScripted(t, server, makeRequest(['a@remote.example'], simpleMessage(['x'])));
  assert.equal(down.recipients[0]?.status, 'deferred');
  assert.equal(down.recipients[0]?.enhanced, '4.4.1');
  assert.match(down.recipients[0]?.diagnostic ?? '', /cannot connect/);
});

test('an aborted delivery ends at once with deferred results', async (t) => {
  const server = await scripted(t, { greeting: { silent: true } });
  const { config } = outboundConfig(t, `[outbound]\nmta_sts = false\ncommand_timeout = "30s"\n[[routes]]\ndomain = "remote.example"\nhost = "${server.host}:${server.port}"`);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 200);
  const started = Date.now();
  const result = await createOutboundTransport(config, silent).deliver('remote.example', makeRequest(['a@remote.example'], simpleMessage(['x'])), controller.signal);
  assert.equal(result.recipients[0]?.status, 'deferred');
  assert.ok(Date.now() - started < 3000);
});

// --- Postfix from ../shared/refstack ---

test('delivers to Postfix (refstack) over verified STARTTLS; the Maildir copy has our bytes', async (t) => {
  const stack = refstackOrSkip(t);
  if (stack === null) return;
  const port = stack.smtpPort;
  const mailRoot = stack.values.MAIL_ROOT ?? '/tmp/refstack/mail';
  // Postfix offers STARTTLS with the refstack certificate: require it, verified.
  const ca = readFileSync(stack.values.TLS_CERT ?? '/tmp/refstack/ssl/cert.pem');
  const { config } = outboundConfig(t, `[outbound]\nmta_sts = false\n[[routes]]\ndomain = "${stack.domain}"\nhost = "${stack.host}:${port}"\ntls = "required"`);
  const subject = `outbound to postfix ${process.pid} ${Date.now()}`;
  const message = simpleMessage(['.dot line', 'to postfix, caf\u00e9'], subject);
  const users = [`user187@${stack.domain}`, `user188@${stack.domain}`];
  const result = await createOutboundTransport(config, silent, { ca }).deliver(stack.domain, makeRequest(users, message, { body: '8BITMIME' }));
  assert.deepEqual(result.recipients.map((r) => `${r.status} ${r.code}`), ['delivered 250', 'delivered 250'], JSON.stringify(result.recipients));
  assert.equal(result.tls, true);
  // Postfix hands it to Dovecot over LMTP after its 250: wait for the Maildir file.
  const found = await waitForMaildirMessage(join(mailRoot, stack.domain, 'user187', 'Maildir'), subject, 15_000);
  assert.ok(found !== null, 'the message reached the Maildir');
  const lf = Buffer.from(message.toString('utf8').replace(/\r\n/g, '\n'), 'utf8');
  assert.ok(found.subarray(found.length - lf.length).equals(lf), 'body and headers arrive unchanged (Maildir stores LF)');
});

async function waitForMaildirMessage(maildir: string, needle: string, timeoutMs: number): Promise<Buffer | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const folder of ['new', 'cur']) {
      const dir = join(maildir, folder);
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        const content = readFileSync(join(dir, name));
        if (content.includes(needle)) return content;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return null;
}
