/**
 * `mailhaven queue list|show|retry|delete|flush` (src/cli/commands/queue.ts) through the same
 * code path as the binary, and `queue flush` reaching a running server's worker.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTempInstance, runMailhaven } from './helpers/cli.js';
import { startTestServer } from './helpers/server.js';
import { startSmtpSink } from './helpers/smtp-sink.js';
import { hasOutboundQueue } from '../src/queue/types.js';

interface ListedEntry {
  id: number;
  sender: string;
  attempts: number;
  nextAttemptAt: string;
  recipients: Array<{ address: string; kind: string; state: string }>;
}

test('queue list, show, retry, flush and delete on a queue filled by sendmail', async (t) => {
  const instance = createTempInstance(t);
  assert.equal((await instance.run(['domain', 'add', 'example.test'])).code, 0);
  const empty = await instance.run(['queue', 'list']);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, /^ID\s+QUEUED\s+SIZE\s+SENDER\s+RECIPIENTS\s+ATTEMPTS\s+NEXT\n0 messages queued\n$/);

  for (const to of ['partner@elsewhere.test', 'other@far.test']) {
    const sent = await instance.run(['sendmail', '-f', 'robot@example.test', to], { stdin: `Subject: to ${to}\n\nhello\n` });
    assert.equal(sent.code, 0, sent.stderr);
  }
  const listed = await instance.run(['queue', 'list', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  const entries = JSON.parse(listed.stdout) as ListedEntry[];
  assert.deepEqual(
    entries.map((e) => [e.sender, e.recipients.map((r) => [r.address, r.kind, r.state]), e.attempts]),
    [
      ['robot@example.test', [['partner@elsewhere.test', 'remote', 'pending']], 0],
      ['robot@example.test', [['other@far.test', 'remote', 'pending']], 0],
    ],
  );
  const [first, second] = entries;
  assert.ok(first && second);

  const table = await instance.run(['queue', 'list']);
  assert.match(table.stdout, new RegExp(`^${first.id}\\s+\\S+\\s+\\d+\\s+robot@example\\.test\\s+partner@elsewhere\\.test \\(pending\\)\\s+0\\s+`, 'm'));
  assert.match(table.stdout, /\n2 messages queued\n$/);

  const shown = await instance.run(['queue', 'show', String(first.id)]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^id: +\d+\nsender: +robot@example\.test\n/);
  assert.match(shown.stdout, /\n {2}partner@elsewhere\.test \[remote\] pending\n/);

  assert.equal((await instance.run(['queue', 'retry', String(first.id)])).stdout, '1 message due now\n');
  assert.equal((await instance.run(['queue', 'flush'])).stdout, '2 messages due now\n');
  assert.equal((await instance.run(['queue', 'retry', '--all'])).stdout, '2 messages due now\n');

  // Usage errors: exit status 2; unknown ids: 1.
  assert.equal((await instance.run(['queue', 'retry'])).code, 2);
  assert.equal((await instance.run(['queue', 'retry', '5', '--all'])).code, 2);
  assert.equal((await instance.run(['queue', 'show', 'abc'])).code, 2);
  const missing = await instance.run(['queue', 'show', '99999']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no queued message 99999/);
  assert.equal((await instance.run(['queue', 'delete', '99999'])).code, 1);

  const deleted = await instance.run(['queue', 'delete', String(first.id)]);
  assert.equal(deleted.code, 0, deleted.stderr);
  const after = JSON.parse((await instance.run(['queue', 'list', '--json'])).stdout) as ListedEntry[];
  assert.deepEqual(
    after.map((e) => e.id),
    [second.id],
  );
});

test('queue flush from the command line reaches the running server: a deferred message goes out at the next scan', async (t) => {
  const sink = await startSmtpSink(t, { rcpt: (_address, nth) => (nth === 0 ? '451 4.3.0 not now' : '250 2.1.5 OK') });
  const server = await startTestServer(t, {
    toml: `[queue]\nretry_schedule = ["1h"]\ninterval = "1s"\n[[routes]]\ndomain = "*"\nhost = "127.0.0.1:${sink.port}"\ntls = "none"\n`,
    outbound: { signer: null },
  });
  await server.addDomain('example.test');
  const store = server.store;
  assert.ok(hasOutboundQueue(store));
  const config = join(server.dir, 'mailhaven.toml');
  const sent = await runMailhaven(['sendmail', '-f', 'robot@example.test', 'bob@remote.test', '--config', config], { stdin: 'Subject: flush me\n\nhi\n' });
  assert.equal(sent.code, 0, sent.stderr);
  // The first attempt (451) defers it for an hour.
  const deadline = Date.now() + 10_000;
  while ((await store.listQueue())[0]?.attempts !== 1) {
    assert.ok(Date.now() < deadline, 'the first attempt was not recorded');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const [deferred] = await store.listQueue();
  assert.ok((deferred?.nextAttemptAt.getTime() ?? 0) > Date.now() + 3_000_000);
  const flushed = await runMailhaven(['queue', 'flush', '--config', config]);
  assert.equal(flushed.stdout, '1 message due now\n');
  const [delivered] = await sink.waitForAccepted(1, 10_000);
  assert.match(delivered?.message.toString('utf8') ?? '', /Subject: flush me/);
  while ((await store.listQueue()).length > 0) {
    assert.ok(Date.now() < deadline + 10_000, 'the entry stays after delivery');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
});
