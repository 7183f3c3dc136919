/**
 * Outbound delivery between real servers: two Mailhaven instances whose MX records (test DNS
 * server) point at each other, a kill -9 of a sending `mailhaven serve` process in the middle of
 * a delivery, and Postfix (../shared/refstack) as the remote MX.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { createLogger } from '../src/log/index.js';
import type { OutboundTransport } from '../src/queue/transport.js';
import { createOutboundTransport } from '../src/queue/transport-impl.js';
import { loadOrCreateSecretKey } from '../src/auth/index.js';
import { dkimRecordValue, generateDkimKey, hasDkimKeyStore, sealDkimPrivateKey, txtStrings } from '../src/queue/dkim-keys.js';
import { hasOutboundQueue } from '../src/queue/types.js';
import { createTempInstance, spawnMailhaven } from './helpers/cli.js';
import { rr, startDnsServer } from './helpers/dns-server.js';
import type { Zone } from './helpers/dns-server.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';
import { SmtpTestClient, expectCode, plainResponse } from './helpers/smtp-client.js';
import { refstackOrSkip } from './helpers/refstack.js';
import { startSmtpSink } from './helpers/smtp-sink.js';

const PASSWORD = 'e2e-password-123';

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function submit(t: TestContext, server: TestServer, from: string, to: string, subject: string): Promise<void> {
  const { client } = await SmtpTestClient.open(server.port('submissions'), { tls: true });
  t.after(() => client.close());
  expectCode((await client.ehlo()).reply, '250');
  expectCode(await client.command(`AUTH PLAIN ${plainResponse(from, PASSWORD)}`), '235 2.7.0');
  expectCode(await client.command(`MAIL FROM:<${from}>`), '250 2.1.0');
  expectCode(await client.command(`RCPT TO:<${to}>`), '250 2.1.5');
  const [, done] = await client.data(`From: <${from}>\r\nTo: <${to}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@e2e.test>\r\n\r\nHello from ${from}.\r\n`);
  expectCode(done, '250 2.0.0');
  await client.command('QUIT');
}

test('two Mailhaven instances with MX records pointing at each other: mail goes both ways', async (t) => {
  // Each sender's transport is made once both MX ports are known.
  const transports = new Map<string, OutboundTransport>();
  const lazy = (name: string): OutboundTransport => ({
    deliver: (domain, request, signal) => {
      const transport = transports.get(name);
      if (transport === undefined) throw new Error('transport not ready');
      return transport.deliver(domain, request, signal);
    },
  });
  const zone: Zone = {
    'alpha.test': [rr('MX', 'alpha.test', { preference: 10, exchange: 'mx.alpha.test' }), rr('TXT', 'alpha.test', ['v=spf1 ip4:127.0.0.1 -all'])],
    'mx.alpha.test': [rr('A', 'mx.alpha.test', '127.0.0.1')],
    'beta.test': [rr('MX', 'beta.test', { preference: 10, exchange: 'mx.beta.test' }), rr('TXT', 'beta.test', ['v=spf1 ip4:127.0.0.1 -all'])],
    'mx.beta.test': [rr('A', 'mx.beta.test', '127.0.0.1')],
  };
  const dns = await startDnsServer(t, zone);
  const toml = `[queue]\nretry_schedule = ["1s"]\ninterval = "1s"\n[outbound]\nresolvers = ["${dns}"]\nmta_sts = false\nconnect_timeout = "5s"\ncommand_timeout = "10s"\n`;
  // Alpha signs with its DKIM key (the default signer); beta's MX checks SPF, DKIM and DMARC.
  const alpha = await startTestServer(t, { toml, listeners: ['smtp', 'submissions'], outbound: { transport: lazy('alpha') } });
  const beta = await startTestServer(t, { toml, listeners: ['smtp', 'submissions'], outbound: { transport: lazy('beta'), signer: null } });
  const logger = createLogger({ level: 'silent' });
  transports.set('alpha', createOutboundTransport(alpha.config, logger, { mxPort: beta.port('smtp') }));
  transports.set('beta', createOutboundTransport(beta.config, logger, { mxPort: alpha.port('smtp') }));
  await alpha.addDomain('alpha.test');
  await alpha.addUser('ann@alpha.test', PASSWORD);
  assert.ok(hasDkimKeyStore(alpha.store));
  const key = await generateDkimKey('ed25519');
  const secret = await loadOrCreateSecretKey(join(alpha.config.dataDir, 'secret.key'));
  const sealed = sealDkimPrivateKey(key.privateKeyPem, secret, 'alpha.test', 'e2e');
  await alpha.store.addDkimKey({ domain: 'alpha.test', selector: 'e2e', algorithm: 'ed25519', privateKeyEnc: sealed, publicKey: key.publicKey, active: true });
  zone['e2e._domainkey.alpha.test'] = [rr('TXT', 'e2e._domainkey.alpha.test', txtStrings(dkimRecordValue('ed25519', key.publicKey)))];
  zone['_dmarc.alpha.test'] = [rr('TXT', '_dmarc.alpha.test', ['v=DMARC1; p=reject'])];
  await beta.addDomain('beta.test');
  await beta.addUser('bob@beta.test', PASSWORD);

  await submit(t, alpha, 'ann@alpha.test', 'bob@beta.test', 'Alpha to beta');
  await submit(t, beta, 'bob@beta.test', 'ann@alpha.test', 'Beta to alpha');
  const atBeta = await waitFor('the message at beta', async () => ((await beta.messageTexts('bob@beta.test')).length > 0 ? beta.messageTexts('bob@beta.test') : null));
  const atAlpha = await waitFor('the message at alpha', async () => ((await alpha.messageTexts('ann@alpha.test')).length > 0 ? alpha.messageTexts('ann@alpha.test') : null));
  assert.equal(atBeta.length, 1);
  assert.match(atBeta[0] ?? '', /^Return-Path: <ann@alpha\.test>\r\nDelivered-To: bob@beta\.test\r\n/);
  assert.match(atBeta[0] ?? '', /\r\nSubject: Alpha to beta\r\n[\s\S]*Hello from ann@alpha\.test\.\r\n$/);
  assert.match(atAlpha[0] ?? '', /\r\nSubject: Beta to alpha\r\n/);
  // Signed by alpha's worker, verified by beta's MX (RFC 8601 Authentication-Results).
  assert.match(atBeta[0] ?? '', /\r\nDKIM-Signature: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*d=alpha\.test/);
  const results = /\r\nAuthentication-Results: mx\.test\.example;((?:[^\r\n]|\r\n[ \t])*)/.exec(`\r\n${atBeta[0] ?? ''}`)?.[1] ?? '';
  assert.match(results, /\bdkim=pass\b[^;]*header\.[di]=@?alpha\.test/, results);
  assert.match(results, /\bspf=pass\b/, results);
  assert.match(results, /\bdmarc=pass\b/, results);
  // Each went through the other's MX: its Received field names the receiving host and, as the
  // server offers STARTTLS, the transaction ran over TLS (ESMTPS).
  assert.match(atBeta[0] ?? '', /Received: from [^\r\n]+[\s\S]*?with ESMTPS/);
  for (const server of [alpha, beta]) {
    assert.ok(hasOutboundQueue(server.store));
    await waitFor('an empty queue', async () => (hasOutboundQueue(server.store) && (await server.store.listQueue()).length === 0 ? true : null));
  }
});

/** Resolves with the next stdout line matching `pattern` (JSON log lines of `serve`). */
function lineMatching(child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      child.stdout?.off('data', onData);
      reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; got: ${buffered.slice(-2000)}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const line = buffered.split('\n').find((l) => pattern.test(l));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve(line);
    };
    child.stdout?.on('data', onData);
  });
}

function startServe(t: TestContext, configPath: string): ChildProcess {
  const child = spawnMailhaven(['serve', '--config', configPath]);
  child.stderr?.resume();
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

test('kill -9 of the sending process during delivery loses nothing: the entry is delivered after a restart', { timeout: 120_000 }, async (t) => {
  // The first transaction reaches the end of DATA and is never answered: the sender is killed there.
  const sink = await startSmtpSink(t, { holdDataEnd: (nth) => nth === 0 });
  const instance = createTempInstance(
    t,
    `[queue]\nretry_schedule = ["1s"]\ninterval = "1s"\nlease = "3s"\n[outbound]\nconnect_timeout = "5s"\ncommand_timeout = "60s"\n[[routes]]\ndomain = "*"\nhost = "127.0.0.1:${sink.port}"\ntls = "none"\n`,
  );
  assert.equal((await instance.run(['domain', 'add', 'example.test'])).code, 0);
  const first = startServe(t, instance.configPath);
  const output: string[] = [];
  first.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  await lineMatching(first, /"msg":"ready"/);
  const sent = await instance.run(['sendmail', '-f', 'robot@example.test', 'bob@remote.test'], { stdin: 'Subject: survive kill -9\n\nimportant\n' });
  assert.equal(sent.code, 0, sent.stderr);
  await waitFor('the message data at the remote', () => sink.transactions.length === 1).catch((err: unknown) => {
    throw new Error(`${String(err)}; serve said: ${output.join('').slice(-3000)}`);
  });
  assert.equal(sink.transactions[0]?.reply, '(held)');
  first.kill('SIGKILL');
  await new Promise((resolve) => first.once('close', resolve));

  // The acknowledged message is still queued, leased by the dead process.
  const listed = JSON.parse((await instance.run(['queue', 'list', '--json'])).stdout) as Array<{ recipients: Array<{ state: string }>; lease: unknown }>;
  assert.equal(listed.length, 1);
  assert.equal(listed[0]?.recipients[0]?.state, 'pending');
  assert.notEqual(listed[0]?.lease, null);

  const second = startServe(t, instance.configPath);
  await lineMatching(second, /"msg":"ready"/);
  const [delivered] = await sink.waitForAccepted(1, 30_000);
  assert.match(delivered?.message.toString('utf8') ?? '', /Subject: survive kill -9/);
  await waitFor('an empty queue', async () => (JSON.parse((await instance.run(['queue', 'list', '--json'])).stdout) as unknown[]).length === 0);
  second.kill('SIGTERM');
  await new Promise((resolve) => second.once('close', resolve));
});

/** KEY=VALUE lines of /tmp/refstack.ready, or null when the reference stack is not running. */
test('Postfix (refstack) as the remote MX receives a message from the queue', async (t) => {
  const ref = refstackOrSkip(t);
  if (ref === null) return;
  const stack = ref.values;
  const host = stack.HOST ?? '127.0.0.1';
  const port = stack.SMTP_PORT ?? '10025';
  const domain = stack.DOMAIN ?? 'example.test';
  const mailRoot = stack.MAIL_ROOT ?? '/tmp/refstack/mail';
  const server = await startTestServer(t, {
    toml: `[queue]\nretry_schedule = ["1s"]\ninterval = "1s"\n[outbound]\nconnect_timeout = "5s"\ncommand_timeout = "30s"\n[[routes]]\ndomain = "${domain}"\nhost = "${host}:${port}"\ntls = "opportunistic"\n`,
    listeners: ['submissions'],
    outbound: { signer: null },
  });
  await server.addDomain('mailhaven.test');
  await server.addUser('ann@mailhaven.test', PASSWORD);
  const token = `mh-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const recipient = `user199@${domain}`;
  await submit(t, server, 'ann@mailhaven.test', recipient, token);
  const maildir = join(mailRoot, domain, 'user199', 'Maildir');
  const found = await waitFor(
    'the message in the Dovecot Maildir',
    () => {
      for (const sub of ['new', 'cur']) {
        let names: string[];
        try {
          names = readdirSync(join(maildir, sub));
        } catch {
          continue;
        }
        for (const name of names) {
          const text = readFileSync(join(maildir, sub, name), 'utf8');
          if (text.includes(`Subject: ${token}`)) return text;
        }
      }
      return null;
    },
    30_000,
  );
  assert.match(found, /Return-Path: <ann@mailhaven\.test>/);
  assert.match(found, /Hello from ann@mailhaven\.test\./);
  assert.ok(hasOutboundQueue(server.store));
  await waitFor('an empty queue', async () => (hasOutboundQueue(server.store) && (await server.store.listQueue()).length === 0 ? true : null));
});
