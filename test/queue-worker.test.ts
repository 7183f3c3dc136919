/**
 * The outbound queue worker (src/queue/worker.ts) end to end: a user submits on 465, the worker
 * delivers through the real SMTP transport to a scripted SMTP server (test/helpers/smtp-sink.ts)
 * reached by a `[[routes]] domain = "*"` smarthost, and the sender's INBOX receives the DSNs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PostalMime from 'postal-mime';
import { deliverMessage } from '../src/delivery/accept.js';
import { LocalChangeBus } from '../src/events/local.js';
import { createLogger } from '../src/log/index.js';
import { indexMessage } from '../src/mime/indexer.js';
import type { OutboundTransport } from '../src/queue/transport.js';
import type { OutboundQueueStore, QueueEntry } from '../src/queue/types.js';
import { hasOutboundQueue } from '../src/queue/types.js';
import { QueueWorker, queueSettings } from '../src/queue/worker.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { MailStore } from '../src/store/types.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';
import { SmtpTestClient, expectCode, plainResponse } from './helpers/smtp-client.js';
import { startSmtpSink } from './helpers/smtp-sink.js';
import type { SinkScript, SmtpSink } from './helpers/smtp-sink.js';

const ANN = 'ann@example.test';
const PASSWORD = 'ann-password-123';

interface Sender {
  server: TestServer;
  sink: SmtpSink;
  queue: MailStore & OutboundQueueStore;
}

/** A server with the worker on, everything non-local routed to a sink run by `script`. */
async function senderWithSink(t: TestContext, script: SinkScript, queueToml = ''): Promise<Sender> {
  const sink = await startSmtpSink(t, script);
  const server = await startTestServer(t, {
    toml: [
      '[queue]',
      queueToml || 'retry_schedule = ["1s"]\ninterval = "1s"',
      '[outbound]',
      'connect_timeout = "5s"',
      'command_timeout = "10s"',
      '[[routes]]',
      'domain = "*"',
      `host = "127.0.0.1:${sink.port}"`,
      'tls = "none"',
    ].join('\n'),
    outbound: { signer: null },
  });
  await server.addDomain('example.test');
  await server.addUser(ANN, PASSWORD);
  const queue = server.store;
  if (!hasOutboundQueue(queue)) throw new Error('no queue');
  return { server, sink, queue };
}

/** Submits one message on 465 as Ann; `rcpt` are whole RCPT TO lines' arguments. */
async function submit(t: TestContext, server: TestServer, rcpt: string[], subject = 'Hello', mailParams = ''): Promise<void> {
  const { client } = await SmtpTestClient.open(server.port('submissions'), { tls: true });
  t.after(() => client.close());
  expectCode((await client.ehlo()).reply, '250');
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(ANN, PASSWORD)}`), '235 2.7.0');
  expectCode(await client.command(`MAIL FROM:<${ANN}>${mailParams}`), '250 2.1.0');
  for (const line of rcpt) expectCode(await client.command(`RCPT TO:${line}`), '250 2.1.5');
  const [, done] = await client.data(`From: Ann <${ANN}>\r\nTo: someone@remote.test\r\nSubject: ${subject}\r\nMessage-ID: <m-${subject.replace(/\W/g, '')}@example.test>\r\n\r\nBody of ${subject}.\r\n`);
  expectCode(done, '250 2.0.0');
  await client.command('QUIT');
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function queueEmpty(queue: OutboundQueueStore): Promise<void> {
  await waitFor('the queue to empty', async () => (await queue.listQueue()).length === 0);
}

interface ParsedDsn {
  subject: string;
  returnPath: string | undefined;
  contentType: string;
  /** The message/delivery-status part as text: per-message fields, then per-recipient blocks. */
  status: string;
  /** The third part (returned headers or message). */
  returned: { mimeType: string; content: string } | undefined;
}

/** The DSNs in Ann's INBOX, parsed with postal-mime (an independent MIME parser). */
async function dsnsIn(server: TestServer, address = ANN): Promise<ParsedDsn[]> {
  const texts = await server.messageTexts(address);
  const parsed: ParsedDsn[] = [];
  for (const text of texts) {
    const email = await PostalMime.parse(text, { attachmentEncoding: 'utf8' });
    const header = (name: string): string | undefined => email.headers.find((h) => h.key === name)?.value;
    const attachments = email.attachments.map((a) => ({ mimeType: a.mimeType, content: typeof a.content === 'string' ? a.content : Buffer.from(new Uint8Array(a.content)).toString('utf8') }));
    const status = attachments.find((a) => a.mimeType === 'message/delivery-status');
    parsed.push({
      subject: email.subject ?? '',
      returnPath: header('return-path'),
      contentType: header('content-type') ?? '',
      status: status?.content ?? '',
      returned: attachments.find((a) => a.mimeType === 'text/rfc822-headers' || a.mimeType === 'message/rfc822'),
    });
  }
  return parsed;
}

function field(block: string, name: string): string | undefined {
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(block);
  return match?.[1]?.trim();
}

test('a submitted message to a remote domain is delivered at once (the worker is woken on enqueue) and leaves the queue', async (t) => {
  // A 60 s scan interval: only the wake-up on enqueue can make this fast.
  const { server, sink, queue } = await senderWithSink(t, {}, 'retry_schedule = ["1s"]\ninterval = "60s"');
  await new Promise((resolve) => setTimeout(resolve, 300)); // the worker's first scan has passed
  const started = Date.now();
  await submit(t, server, ['<bob@remote.test>', '<carol@remote.test>', '<dave@elsewhere.test>']);
  const accepted = await sink.waitForAccepted(2, 10_000);
  assert.ok(Date.now() - started < 5000, 'delivered without waiting for the scan interval');
  // One transaction per destination domain; both remote.test recipients on one.
  const byDomain = accepted.map((tx) => [...tx.accepted].sort().join(',')).sort();
  assert.deepEqual(byDomain, ['bob@remote.test,carol@remote.test', 'dave@elsewhere.test']);
  for (const tx of accepted) {
    assert.equal(tx.mailFrom, ANN);
    assert.match(tx.message.toString('utf8'), /^Received: /, 'the stored message goes out as received (trace field first)');
    assert.match(tx.message.toString('utf8'), /\r\nSubject: Hello\r\n[\s\S]*Body of Hello\.\r\n$/);
  }
  await queueEmpty(queue);
  assert.deepEqual(await dsnsIn(server), [], 'no DSN for a plain success (NOTIFY not given)');
});

test('451 then 250: the recipient is deferred, retried after the schedule, then delivered', async (t) => {
  const { server, sink, queue } = await senderWithSink(t, { rcpt: (_address, nth) => (nth === 0 ? '451 4.3.0 try again later' : '250 2.1.5 OK') });
  await submit(t, server, ['<bob@remote.test>']);
  const deferred = await waitFor('the deferral to be recorded', async () => (await queue.listQueue()).find((entry) => entry.attempts === 1));
  assert.equal(deferred.recipients[0]?.state, 'deferred');
  assert.equal(deferred.recipients[0]?.last?.code, 451);
  assert.equal(deferred.recipients[0]?.last?.enhanced, '4.3.0');
  assert.match(deferred.lastError ?? '', /bob@remote\.test: .*451/);
  assert.equal(deferred.leaseOwner, null, 'the lease is released after the attempt');
  const gap = deferred.nextAttemptAt.getTime() - (deferred.recipients[0]?.last?.at ?? 0);
  assert.ok(gap >= 900 && gap <= 1100, `next attempt one retry_schedule step later (${gap} ms)`);
  const [delivered] = await sink.waitForAccepted(1, 10_000);
  assert.deepEqual(delivered?.accepted, ['bob@remote.test']);
  await queueEmpty(queue);
  assert.equal(sink.transactions.filter((tx) => tx.accepted.length > 0).length, 1, 'delivered once');
  assert.deepEqual(await dsnsIn(server), []);
});

test('550 fails the recipient at once and puts an RFC 3464 DSN into the local sender\'s INBOX', async (t) => {
  const { server, sink, queue } = await senderWithSink(t, {
    rcpt: (address) => (address.startsWith('nobody') ? '550 5.1.1 <nobody@remote.test>: no such user' : '250 2.1.5 OK'),
  });
  await submit(t, server, ['<nobody@remote.test> ORCPT=rfc822;Nobody@Remote.test', '<bob@remote.test>'], 'Bounce me', ' RET=HDRS ENVID=env-42');
  await sink.waitForAccepted(1);
  await queueEmpty(queue);
  const [dsn, ...more] = await waitFor('the DSN', async () => {
    const found = await dsnsIn(server);
    return found.length > 0 ? found : null;
  });
  assert.equal(more.length, 0, 'one DSN');
  assert.ok(dsn);
  assert.equal(dsn.returnPath, '<>', 'the DSN comes from the null reverse-path');
  assert.match(dsn.contentType, /^multipart\/report;.*report-type=delivery-status/s);
  assert.equal(dsn.subject, 'Undelivered Mail Returned to Sender');
  const [perMessage, ...perRecipient] = dsn.status.split(/\r?\n\r?\n/).filter((block) => block.trim() !== '');
  assert.ok(perMessage);
  assert.equal(field(perMessage, 'Reporting-MTA'), 'dns; mx.test.example');
  assert.equal(field(perMessage, 'Original-Envelope-Id'), 'env-42');
  assert.ok(field(perMessage, 'Arrival-Date'));
  assert.equal(perRecipient.length, 1, 'only the failed recipient is reported');
  const block = perRecipient[0] ?? '';
  assert.equal(field(block, 'Final-Recipient'), 'rfc822; nobody@remote.test');
  assert.equal(field(block, 'Original-Recipient'), 'rfc822; Nobody@Remote.test');
  assert.equal(field(block, 'Action'), 'failed');
  assert.equal(field(block, 'Status'), '5.1.1');
  assert.match(field(block, 'Remote-MTA') ?? '', /^dns; /);
  assert.match(field(block, 'Diagnostic-Code') ?? '', /^smtp; 550 5\.1\.1 <nobody@remote\.test>: no such user$/);
  assert.ok(field(block, 'Last-Attempt-Date'));
  assert.equal(dsn.returned?.mimeType, 'text/rfc822-headers', 'RET=HDRS: headers only');
  assert.match(dsn.returned?.content ?? '', /Subject: Bounce me/);
  assert.doesNotMatch(dsn.returned?.content ?? '', /Body of Bounce me/);
});

test('a recipient still deferred at the end of queue.lifetime fails with a DSN', async (t) => {
  const { server, sink, queue } = await senderWithSink(t, { rcpt: () => '451 4.7.1 greylisted, come back later' }, 'retry_schedule = ["1s"]\ninterval = "1s"\nlifetime = "3s"');
  await submit(t, server, ['<bob@remote.test>'], 'Too late', ' RET=FULL');
  const [dsn] = await waitFor('the expiry DSN', async () => {
    const found = await dsnsIn(server);
    return found.length > 0 ? found : null;
  });
  await queueEmpty(queue);
  assert.ok(sink.transactions.length === 0, 'nothing was accepted');
  assert.ok(dsn);
  const block = dsn.status.split(/\r?\n\r?\n/).filter((b) => b.trim() !== '')[1] ?? '';
  assert.equal(field(block, 'Action'), 'failed');
  assert.equal(field(block, 'Status'), '4.7.1', 'the last transient status, as given');
  assert.match(field(block, 'Diagnostic-Code') ?? '', /^smtp; 451 4\.7\.1 greylisted/);
  assert.equal(dsn.returned?.mimeType, 'message/rfc822', 'RET=FULL returns the message');
  assert.match(dsn.returned?.content ?? '', /Body of Too late\./);
});

test('NOTIFY=NEVER: a failed recipient gets no DSN', async (t) => {
  const { server, sink, queue } = await senderWithSink(t, { rcpt: () => '550 5.1.1 no such user' });
  await submit(t, server, ['<nobody@remote.test> NOTIFY=NEVER']);
  await waitFor('the attempt', async () => sink.transactions.length === 0 && (await queue.listQueue()).length === 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(await dsnsIn(server), []);
});

test('NOTIFY=SUCCESS to a remote without DSN support: a "relayed" DSN', async (t) => {
  const { server, sink, queue } = await senderWithSink(t, { extensions: ['PIPELINING', '8BITMIME', 'ENHANCEDSTATUSCODES'] });
  await submit(t, server, ['<bob@remote.test> NOTIFY=SUCCESS']);
  await sink.waitForAccepted(1);
  await queueEmpty(queue);
  const [dsn] = await waitFor('the relayed DSN', async () => {
    const found = await dsnsIn(server);
    return found.length > 0 ? found : null;
  });
  const block = dsn?.status.split(/\r?\n\r?\n/).filter((b) => b.trim() !== '')[1] ?? '';
  assert.equal(field(block, 'Action'), 'relayed');
  assert.equal(field(block, 'Status')?.charAt(0), '2');
});

test('a message from the null sender that fails gets no DSN', async (t) => {
  const { server, sink, queue } = await senderWithSink(t, { rcpt: () => '550 5.1.1 no such user' });
  const bytes = Buffer.from('From: MAILER-DAEMON@example.test\r\nSubject: a bounce\r\n\r\nbounce text\r\n');
  const writer = queue.createBlobWriter();
  await writer.write(bytes);
  const report = await deliverMessage(
    queue,
    { blob: await writer.finish(), index: indexMessage(bytes) },
    { sender: '', ret: null, envid: null, body: '7BIT', smtputf8: false, submitter: null, clientAddress: '127.0.0.1' },
    [{ address: 'nobody@remote.test', notify: null, orcpt: null, accounts: [], forwards: ['nobody@remote.test'] }],
  );
  assert.equal(report.queued, 1);
  server.outbound?.worker.poke();
  await queueEmpty(queue);
  assert.equal(sink.transactions.length, 0);
  assert.equal(server.outbound?.worker.stats().failed, 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(await dsnsIn(server), [], 'never a DSN about a DSN');
});

test('an entry claimed by a worker that died is delivered once its lease expires', async (t) => {
  const { server, sink, queue } = await senderWithSink(t, {});
  // Stop this server's worker first, queue a message, and claim it as a worker that then dies.
  await server.outbound?.worker.stop();
  await submit(t, server, ['<bob@remote.test>'], 'Orphan');
  const [claimed] = await queue.claimDue('dead-node:1:x', new Date(), 1500, 10);
  assert.ok(claimed, 'the entry was claimed by the dead worker');
  const leaseEnds = claimed.leaseUntil?.getTime() ?? 0;
  // A new worker (a restarted server) on the same store.
  const { startOutbound } = await import('../src/compose.js');
  const { createLogger } = await import('../src/log/index.js');
  const restarted = await startOutbound(server.config, server.store, createLogger({ level: 'silent' }), { signer: null });
  assert.ok(restarted);
  t.after(() => restarted.worker.stop());
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(sink.transactions.length, 0, 'not delivered while the dead worker\'s lease runs');
  const [delivered] = await sink.waitForAccepted(1, 10_000);
  assert.ok(Date.now() >= leaseEnds, 'delivered after the lease ended');
  assert.match(delivered?.message.toString('utf8') ?? '', /Subject: Orphan/);
  await queueEmpty(queue);
});

test('local recipients queued as over quota are delivered locally once there is room', async (t) => {
  const { server, sink, queue } = await senderWithSink(t, {});
  const bob = await server.addUser('bob@example.test', 'bob-password-123', 1);
  // With a remote recipient too, the message is accepted and the refused local copy queued.
  await submit(t, server, ['<bob@example.test>', '<carol@remote.test>'], 'Quota');
  await sink.waitForAccepted(1);
  const [entry] = await waitFor<QueueEntry[]>('the deferred local copy', async () => {
    const entries = await queue.listQueue();
    return entries.length > 0 && (entries[0]?.attempts ?? 0) >= 1 ? entries : null;
  });
  const local = entry?.recipients.find((r) => r.kind === 'local');
  assert.equal(local?.address, 'bob@example.test');
  assert.equal(local?.state, 'deferred');
  assert.equal(local?.last?.enhanced, '4.2.2');
  assert.equal(entry?.recipients.find((r) => r.kind === 'remote')?.state, 'delivered');
  await server.store.setQuota(bob.address, null);
  await queueEmpty(queue);
  const texts = await server.messageTexts('bob@example.test');
  assert.equal(texts.length, 1);
  assert.match(texts[0] ?? '', /^Return-Path: <ann@example\.test>\r\nDelivered-To: bob@example\.test\r\n[\s\S]*Subject: Quota/);
});

test('a message still deferred after queue.delay_warning gets one "delayed" DSN with Will-Retry-Until', async (t) => {
  const { server, queue } = await senderWithSink(t, { rcpt: () => '451 4.2.1 mailbox busy' }, 'retry_schedule = ["1s"]\ninterval = "1s"\nlifetime = "1h"\ndelay_warning = "1s"');
  await submit(t, server, ['<bob@remote.test> NOTIFY=DELAY,FAILURE', '<carol@remote.test> NOTIFY=FAILURE'], 'Slow one');
  const [dsn] = await waitFor('the delay DSN', async () => {
    const found = await dsnsIn(server);
    return found.length > 0 ? found : null;
  });
  assert.ok(dsn);
  assert.equal(dsn.subject, 'Delayed Mail (still being retried)');
  const [, ...blocks] = dsn.status.split(/\r?\n\r?\n/).filter((b) => b.trim() !== '');
  assert.equal(blocks.length, 1, 'only the recipient that asked for DELAY');
  assert.equal(field(blocks[0] ?? '', 'Final-Recipient'), 'rfc822; bob@remote.test');
  assert.equal(field(blocks[0] ?? '', 'Action'), 'delayed');
  assert.equal(field(blocks[0] ?? '', 'Status'), '4.2.1');
  // The DSN goes out before the attempt is recorded (a crash gives a duplicate, not a loss).
  const entry = await waitFor('the warning to be recorded', async () => (await queue.listQueue()).find((e) => e.delayNotified));
  const until = Date.parse(field(blocks[0] ?? '', 'Will-Retry-Until') ?? '');
  assert.ok(Math.abs(until - (entry.createdAt.getTime() + 3_600_000)) < 1000, 'Will-Retry-Until is the end of the lifetime');
  // Further attempts send no second warning.
  await waitFor('two more attempts', async () => ((await queue.listQueue())[0]?.attempts ?? 0) >= entry.attempts + 2);
  assert.equal((await dsnsIn(server)).length, 1);
});

test('deliveries stay within queue.concurrency overall and per_domain_concurrency per domain', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-worker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bus = new LocalChangeBus();
  const store = await openSqliteStore({ dataDir: dir, bus, pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(async () => {
    await store.close();
    await bus.close();
  });
  const inFlight = new Map<string, number>();
  let overall = 0;
  let maxOverall = 0;
  let maxPerDomain = 0;
  const transport: OutboundTransport = {
    async deliver(domain, request) {
      overall++;
      inFlight.set(domain, (inFlight.get(domain) ?? 0) + 1);
      maxOverall = Math.max(maxOverall, overall);
      maxPerDomain = Math.max(maxPerDomain, inFlight.get(domain) ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 15));
      overall--;
      inFlight.set(domain, (inFlight.get(domain) ?? 1) - 1);
      return { recipients: request.recipients.map((r) => ({ address: r.address, status: 'delivered', code: 250, enhanced: '2.0.0', diagnostic: '250 ok' })), remoteHost: 'fake', tls: false };
    },
  };
  for (let i = 0; i < 40; i++) {
    const bytes = Buffer.from(`Subject: m${i}\r\n\r\nbody ${i}\r\n`);
    const writer = store.createBlobWriter();
    await writer.write(bytes);
    await deliverMessage(
      store,
      { blob: await writer.finish(), index: indexMessage(bytes) },
      { sender: 'a@example.test', ret: null, envid: null, body: '7BIT', smtputf8: false, submitter: 'a@example.test', clientAddress: '127.0.0.1' },
      // Two domains per message: one entry holds two deliveries.
      [`r${i}@d${i % 3}.test`, `s${i}@e${i % 2}.test`].map((address) => ({ address, notify: null, orcpt: null, accounts: [], forwards: [address] })),
    );
  }
  const settings = { ...queueSettings(server0Config()), concurrency: 5, perDomainConcurrency: 2 };
  const worker = new QueueWorker({ store, transport, settings, logger: createLogger({ level: 'silent' }), signer: null });
  await worker.drain();
  await worker.stop();
  assert.deepEqual(await store.listQueue(), []);
  assert.equal(worker.stats().delivered, 80);
  assert.ok(maxOverall <= 5, `overall ${maxOverall}`);
  assert.ok(maxOverall >= 4, `the limit is used (${maxOverall})`);
  assert.ok(maxPerDomain <= 2, `per domain ${maxPerDomain}`);
});

function server0Config(): Parameters<typeof queueSettings>[0] {
  return {
    hostname: 'mx.test.example',
    queue: { lifetime: 3600, retrySchedule: [1], delayWarning: 0, concurrency: 20, perDomainConcurrency: 4, lease: 60, interval: 1 },
    outbound: { hostname: null, resolvers: [], tls: 'opportunistic', mtaSts: false, connectTimeout: 5, commandTimeout: 5, connectionReuse: 100, connectionIdle: 5, policies: [] },
  };
}
