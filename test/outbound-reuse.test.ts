/**
 * Outbound connection reuse (src/queue/pool.ts, SmtpSession in src/queue/client.ts): the next
 * transaction to the same destination runs on the open session (RFC 5321 4.1.4), within the
 * reuse limits, never two at once on one session, never after a failure, and a cached session
 * that the remote has closed costs one reconnect and nothing else. Against the scripted server,
 * which records every session and command line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { LocalChangeBus } from '../src/events/local.js';
import { createLogger } from '../src/log/index.js';
import { indexMessage } from '../src/mime/indexer.js';
import { createOutboundTransport } from '../src/queue/transport-impl.js';
import type { OutboundTransportOptions } from '../src/queue/transport-impl.js';
import type { DomainDeliveryResult, OutboundTransport } from '../src/queue/transport.js';
import { QueueWorker, queueSettings } from '../src/queue/worker.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { makeRequest, outboundConfig, simpleMessage } from './helpers/outbound.js';
import { startScriptedServer } from './helpers/scripted-smtp-server.js';
import type { Script, ScriptedServer, ScriptedSession } from './helpers/scripted-smtp-server.js';

const silent = createLogger({ level: 'silent' });
const TIMEOUTS = '[outbound]\nmta_sts = false\nconnect_timeout = "2s"\ncommand_timeout = "1s"';

type Ctx = Parameters<typeof outboundConfig>[0];

/** One transport whose route "*" leads to `server` (plaintext), closed when the test ends. */
function transportTo(t: Ctx, server: ScriptedServer, options: OutboundTransportOptions = {}, routeExtra = ''): OutboundTransport {
  const { config } = outboundConfig(t, `${TIMEOUTS}\n[[routes]]\ndomain = "*"\nhost = "${server.host}:${server.port}"\ntls = "none"\n${routeExtra}`);
  const transport = createOutboundTransport(config, silent, options);
  t.after(() => transport.close?.());
  return transport;
}

async function send(transport: OutboundTransport, to: string, body = 'x'): Promise<DomainDeliveryResult> {
  const domain = to.slice(to.indexOf('@') + 1);
  return transport.deliver(domain, makeRequest([to], simpleMessage([body])));
}

function statuses(result: DomainDeliveryResult): string[] {
  return result.recipients.map((r) => `${r.status} ${r.code}`);
}

function commands(session: ScriptedSession | undefined): string[] {
  return (session?.lines ?? []).map((line) => line.split(/[ :]/)[0] ?? '');
}

async function waitUntil(what: string, probe: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('two transactions to one destination share one connection: one EHLO, MAIL follows the end of data directly, QUIT at close', async (t) => {
  const server = await startScriptedServer(t, {});
  const transport = transportTo(t, server);
  assert.deepEqual(statuses(await send(transport, 'a@one.example', 'first')), ['delivered 250']);
  assert.deepEqual(statuses(await send(transport, 'b@two.example', 'second')), ['delivered 250'], 'another domain through the same route');
  assert.equal(server.sessions.length, 1, 'one connection');
  const session = server.sessions[0];
  assert.equal(session?.messages.length, 2);
  assert.match(session?.messages[1]?.toString() ?? '', /second/);
  // RFC 5321 4.1.4: no RSET between transactions that ended with a final answer.
  assert.deepEqual(commands(session), ['EHLO', 'MAIL', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA']);
  assert.equal(session?.closed, false, 'kept open for the next message');
  await transport.close?.();
  await waitUntil('the session to close', () => session?.closed === true);
  assert.equal(session?.lines.at(-1), 'QUIT', 'close() says QUIT');
});

test('concurrent deliveries never share a session; later ones reuse the sessions that came back', async (t) => {
  // A slow end of data keeps all three transactions in flight at once.
  const server = await startScriptedServer(t, { pauseData: { bytes: 1, ms: 150 } });
  const transport = transportTo(t, server);
  const first = await Promise.all(['a', 'b', 'c'].map((user) => send(transport, `${user}@remote.example`)));
  assert.deepEqual(first.map(statuses), [['delivered 250'], ['delivered 250'], ['delivered 250']]);
  assert.equal(server.sessions.length, 3, 'three transactions at once: three connections');
  for (const session of server.sessions) assert.equal(session.messages.length, 1);
  const second = await Promise.all(['d', 'e', 'f'].map((user) => send(transport, `${user}@remote.example`)));
  assert.deepEqual(second.map(statuses), [['delivered 250'], ['delivered 250'], ['delivered 250']]);
  assert.equal(server.sessions.length, 3, 'no new connection');
  for (const session of server.sessions) {
    assert.equal(session.messages.length, 2);
    assert.deepEqual(commands(session), ['EHLO', 'MAIL', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA'], 'one transaction after the other');
  }
});

test('sessions are kept per destination: different credentials get their own connection', async (t) => {
  const server = await startScriptedServer(t, { extensions: ['PIPELINING', 'AUTH PLAIN'] });
  const { config } = outboundConfig(
    t,
    [
      TIMEOUTS,
      '[[routes]]',
      'domain = "plain.example"',
      `host = "${server.host}:${server.port}"`,
      'tls = "none"',
      '[[routes]]',
      'domain = "auth.example"',
      `host = "${server.host}:${server.port}"`,
      'tls = "none"',
      'username = "relayuser"',
      'password_file = "relay.pass"',
    ].join('\n'),
    { 'relay.pass': 'secret\n' },
  );
  const transport = createOutboundTransport(config, silent);
  t.after(() => transport.close?.());
  assert.deepEqual(statuses(await send(transport, 'a@plain.example')), ['delivered 250']);
  assert.deepEqual(statuses(await send(transport, 'a@auth.example')), ['delivered 250']);
  assert.deepEqual(statuses(await send(transport, 'b@plain.example')), ['delivered 250']);
  assert.deepEqual(statuses(await send(transport, 'b@auth.example')), ['delivered 250']);
  assert.equal(server.sessions.length, 2);
  assert.deepEqual(commands(server.sessions[0]), ['EHLO', 'MAIL', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA'], 'no AUTH on the plain route');
  assert.deepEqual(commands(server.sessions[1]), ['EHLO', 'AUTH', 'MAIL', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA'], 'AUTH once, on its own session');
});

test('a remote that closes the cached connection while it is idle: the next message reconnects and is delivered', async (t) => {
  // The remote answers the end of data and hangs up (as a server with a short idle timeout does).
  const server = await startScriptedServer(t, { dataEnd: () => ({ close: true, reply: '250 2.0.0 accepted, bye' }) });
  const transport = transportTo(t, server);
  assert.deepEqual(statuses(await send(transport, 'a@remote.example')), ['delivered 250']);
  await waitUntil('the remote to hang up', () => server.sessions[0]?.closed === true);
  await sleep(50);
  assert.deepEqual(statuses(await send(transport, 'b@remote.example')), ['delivered 250']);
  assert.equal(server.sessions.length, 2);
  assert.equal(server.sessions[1]?.messages.length, 1);
});

test('a cached session answered with 421 at MAIL, or hung up at MAIL: one transparent reconnect, never a failure', async (t) => {
  const cases: Array<[string, Script['mail']]> = [
    ['421', () => '421 4.4.2 idle too long, closing'],
    ['close', () => ({ close: true })],
  ];
  for (const [name, onSecondMail] of cases) {
    let mails = 0;
    const server = await startScriptedServer(t, {
      mail: (line) => {
        mails++;
        return mails === 2 ? (onSecondMail?.(line) ?? '250 ok') : '250 2.1.0 Sender OK';
      },
    });
    const transport = transportTo(t, server);
    assert.deepEqual(statuses(await send(transport, 'a@remote.example')), ['delivered 250'], name);
    assert.deepEqual(statuses(await send(transport, 'b@remote.example')), ['delivered 250'], `${name}: the stale session cost a reconnect only`);
    assert.equal(mails, 3, name);
    assert.equal(server.sessions.length, 2, name);
    assert.equal(server.sessions[0]?.messages.length, 1, name);
    assert.equal(server.sessions[1]?.messages.length, 1, name);
  }
});

test('the reconnect happens once: a fresh session answering MAIL with 421 defers', async (t) => {
  let mails = 0;
  const server = await startScriptedServer(t, {
    mail: () => {
      mails++;
      return mails === 1 ? '250 2.1.0 Sender OK' : '421 4.3.2 shutting down';
    },
  });
  const transport = transportTo(t, server);
  assert.deepEqual(statuses(await send(transport, 'a@remote.example')), ['delivered 250']);
  const result = await send(transport, 'b@remote.example');
  assert.deepEqual(statuses(result), ['deferred 421']);
  assert.equal(result.recipients[0]?.enhanced, '4.3.2');
  assert.equal(mails, 3, 'the cached session, then one fresh one');
  assert.equal(server.sessions.length, 2);
});

test('limits: at most max_messages transactions per connection, and an idle session is closed after the idle time', async (t) => {
  const server = await startScriptedServer(t, {});
  const transport = transportTo(t, server, { connectionReuse: { maxMessages: 2, idleMs: 300 } });
  for (let i = 0; i < 5; i++) assert.deepEqual(statuses(await send(transport, `u${i}@remote.example`)), ['delivered 250']);
  assert.deepEqual(
    server.sessions.map((s) => s.messages.length),
    [2, 2, 1],
  );
  assert.equal(server.sessions[0]?.lines.at(-1), 'QUIT', 'a connection at its limit is closed politely');
  assert.equal(server.sessions[2]?.closed, false);
  const idleSince = Date.now();
  await waitUntil('the idle session to be closed', () => server.sessions[2]?.closed === true);
  const waited = Date.now() - idleSince;
  assert.ok(waited >= 200 && waited < 2000, `closed after ${waited} ms idle`);
  assert.equal(server.sessions[2]?.lines.at(-1), 'QUIT');
  assert.deepEqual(statuses(await send(transport, 'late@remote.example')), ['delivered 250']);
  assert.equal(server.sessions.length, 4, 'a new connection after the idle one was closed');
});

test('max_messages = 1 turns reuse off: one connection per message, each ended with QUIT', async (t) => {
  const server = await startScriptedServer(t, {});
  const transport = transportTo(t, server, { connectionReuse: { maxMessages: 1 } });
  for (let i = 0; i < 3; i++) await send(transport, `u${i}@remote.example`);
  assert.equal(server.sessions.length, 3);
  await waitUntil('every session to close', () => server.sessions.every((s) => s.closed));
  for (const session of server.sessions) assert.equal(session.lines.at(-1), 'QUIT');
});

test('no reuse after a transaction that failed, was refused or timed out', async (t) => {
  const cases: Array<[string, Script, string]> = [
    ['5xx at the end of data', { dataEnd: (m) => (m.includes('first') ? '554 5.6.0 content refused' : '250 ok') }, 'failed 554'],
    ['4xx at the end of data', { dataEnd: (m) => (m.includes('first') ? '451 4.3.0 try later' : '250 ok') }, 'deferred 451'],
    ['every recipient refused', { rcpt: (address) => (address.startsWith('first') ? '550 5.1.1 no such user' : '250 ok') }, 'failed 550'],
    ['silence after the end of data', { dataEnd: (m) => (m.includes('first') ? { silent: true } : '250 ok') }, 'deferred 0'],
  ];
  for (const [name, script, expected] of cases) {
    const server = await startScriptedServer(t, script);
    const transport = transportTo(t, server);
    assert.deepEqual(statuses(await send(transport, 'first@remote.example', 'first')), [expected], name);
    assert.deepEqual(statuses(await send(transport, 'second@remote.example', 'second')), ['delivered 250'], name);
    assert.equal(server.sessions.length, 2, `${name}: a new connection for the next message`);
    assert.ok(!commands(server.sessions[0]).slice(1).includes('EHLO'), name);
    assert.equal(commands(server.sessions[0]).filter((c) => c === 'MAIL').length, 1, `${name}: the failed session ran one transaction`);
  }
});

test('the queue worker sends queued messages to one destination over one connection and QUITs it on stop', async (t) => {
  const server = await startScriptedServer(t, {});
  const { config } = outboundConfig(t, `[queue]\nconcurrency = 1\n${TIMEOUTS}\n[[routes]]\ndomain = "*"\nhost = "${server.host}:${server.port}"\ntls = "none"`);
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-reuse-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bus = new LocalChangeBus();
  const store = await openSqliteStore({ dataDir: dir, bus, pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(async () => {
    await store.close();
    await bus.close();
  });
  for (let i = 0; i < 4; i++) {
    const bytes = simpleMessage([`queued ${i}`], `queued ${i}`);
    const writer = store.createBlobWriter();
    await writer.write(bytes);
    await store.deliverAndEnqueue(await writer.finish(), indexMessage(bytes), [], {
      sender: 'sender@sender.test.example',
      recipients: [{ address: `user${i}@domain${i % 2}.example`, kind: 'remote', notify: null, orcpt: null }],
      ret: null,
      envid: null,
      body: '7BIT',
      smtputf8: false,
      submitter: 'sender@sender.test.example',
      clientAddress: '127.0.0.1',
    });
  }
  const worker = new QueueWorker({ store, transport: createOutboundTransport(config, silent), settings: queueSettings(config), logger: silent, signer: null });
  await worker.drain();
  assert.equal(worker.stats().delivered, 4);
  assert.equal(server.sessions.length, 1, 'one connection for all four messages');
  assert.equal(server.sessions[0]?.messages.length, 4);
  assert.equal(server.sessions[0]?.closed, false);
  await worker.stop();
  await waitUntil('the session to close', () => server.sessions[0]?.closed === true);
  assert.equal(server.sessions[0]?.lines.at(-1), 'QUIT', 'stop() closed the cached connection');
});
