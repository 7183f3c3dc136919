/**
 * Fault: the TLS certificate is replaced and the server gets SIGHUP while clients keep
 * connecting (issue #6, docs/reliability.md "Faults").
 *
 * `mailhaven serve` runs as a real process (the signal is a real SIGHUP). Load: several workers
 * open TLS connections in a loop on IMAPS, POP3S and submissions (implicit TLS) and SMTP
 * (STARTTLS), read the greeting and close; long-lived SMTP and IMAP sessions opened before the
 * reload stay open.
 * The test proves:
 * - every handshake during the swap succeeds, with the old or the new certificate;
 * - every handshake that starts after the "reloaded" log line gets the new certificate;
 * - sessions opened before the reload keep working on the certificate they negotiated;
 * - a broken certificate file + SIGHUP logs an error and changes nothing: new handshakes still
 *   get the last good certificate, and no handshake fails.
 * The in-process reload (TlsManager.reload) has its own tests in test/net-listeners.test.ts.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { generate } from 'selfsigned';
import { ImapTestClient } from './helpers/imap-client.js';
import { SmtpTestClient } from './helpers/smtp-client.js';
import type { TLSSocket } from 'node:tls';

const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');
const TSX = import.meta.resolve('tsx');
const WORKERS = 6;

interface Pair {
  cert: string;
  key: string;
  fingerprint: string;
}

async function makePair(name: string): Promise<Pair> {
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: name }, { type: 2, value: 'localhost' }] }],
  });
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}

/** Replaces a file the way an operator's deploy script should: write aside, rename over. */
function replaceFile(path: string, content: string): void {
  writeFileSync(`${path}.new`, content);
  renameSync(`${path}.new`, path);
}

interface Serve {
  child: ChildProcessWithoutNullStreams;
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
}

function serve(t: TestContext, dir: string): Serve {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', '--config', join(dir, 'mailhaven.toml')], {
    cwd: dir,
    env: { ...process.env, MAILHAVEN_CONFIG: '' },
  });
  const logs: Array<Record<string, unknown>> = [];
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, logs, stderr: () => stderr };
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Handshake {
  via: 'tls' | 'starttls';
  startedAt: number;
  fingerprint: string | null;
  error: string | null;
}

/** One connection: TLS handshake, greeting, close. Never rejects: failures are recorded. */
async function handshake(port: number): Promise<Handshake> {
  const startedAt = performance.now();
  let socket: TLSSocket | null = null;
  try {
    socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false });
    const timer = setTimeout(() => socket?.destroy(new Error('no greeting within 5 s')), 5000);
    try {
      await once(socket, 'secureConnect');
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? null;
      const [greeting] = (await once(socket, 'data')) as [Buffer];
      if (!/^(\* OK|\+OK|220)/.test(greeting.toString('latin1'))) throw new Error(`unexpected greeting ${JSON.stringify(greeting.toString('latin1'))}`);
      return { via: 'tls', startedAt, fingerprint, error: null };
    } finally {
      clearTimeout(timer);
    }
  } catch (error) {
    return { via: 'tls', startedAt, fingerprint: null, error: error instanceof Error ? error.message : String(error) };
  } finally {
    socket?.destroy();
  }
}

/** Reads from a plain socket until `done` matches what arrived. */
async function readUntil(socket: Socket, done: RegExp): Promise<string> {
  let text = '';
  while (!done.test(text)) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    text += chunk.toString('latin1');
  }
  return text;
}

/** SMTP STARTTLS (RFC 3207): greeting, EHLO, STARTTLS, handshake, EHLO again over TLS. */
async function starttlsHandshake(port: number): Promise<Handshake> {
  const startedAt = performance.now();
  const plain = netConnect({ host: '127.0.0.1', port });
  let secure: TLSSocket | null = null;
  const timer = setTimeout(() => plain.destroy(new Error('STARTTLS exchange over 5 s')), 5000);
  try {
    await once(plain, 'connect');
    await readUntil(plain, /^220 .*\r\n$/m);
    plain.write('EHLO load.example\r\n');
    await readUntil(plain, /^250 .*\r\n$/m);
    plain.write('STARTTLS\r\n');
    await readUntil(plain, /^220 .*\r\n$/m);
    secure = tlsConnect({ socket: plain, servername: 'localhost', rejectUnauthorized: false });
    await once(secure, 'secureConnect');
    const fingerprint = secure.getPeerX509Certificate()?.fingerprint256 ?? null;
    secure.write('EHLO load.example\r\n');
    let reply = '';
    while (!/^250 .*\r\n$/m.test(reply)) {
      const [chunk] = (await once(secure, 'data')) as [Buffer];
      reply += chunk.toString('latin1');
    }
    return { via: 'starttls', startedAt, fingerprint, error: null };
  } catch (error) {
    return { via: 'starttls', startedAt, fingerprint: null, error: `STARTTLS: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    clearTimeout(timer);
    secure?.destroy();
    plain.destroy();
  }
}

type Target = { kind: 'tls'; port: number } | { kind: 'starttls'; port: number };

/** Workers that connect over and over until stopped, round-robin over the targets. */
function startLoad(targets: readonly Target[]): { results: Handshake[]; stop: () => Promise<void> } {
  const results: Handshake[] = [];
  let running = true;
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    for (let i = w; running; i++) {
      const target = targets[i % targets.length]!;
      results.push(await (target.kind === 'tls' ? handshake(target.port) : starttlsHandshake(target.port)));
    }
  });
  return {
    results,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

test('certificate replaced + SIGHUP under load: new handshakes get the new certificate, open sessions go on; a broken one is refused and logged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-tlsreload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [oldPair, newPair] = await Promise.all([makePair('old.test.example'), makePair('new.test.example')]);
  const certPath = join(dir, 'live.crt');
  const keyPath = join(dir, 'live.key');
  writeFileSync(certPath, oldPair.cert);
  writeFileSync(keyPath, oldPair.key);
  writeFileSync(
    join(dir, 'mailhaven.toml'),
    [
      'hostname = "mx.test.example"',
      'data_dir = "data"',
      'shutdown_timeout = "5s"',
      '[tls]',
      'cert = "live.crt"',
      'key = "live.key"',
      '[listen]',
      'smtp = ["127.0.0.1:0"]',
      'submission = []',
      'submissions = ["127.0.0.1:0"]',
      'imap = []',
      'imaps = ["127.0.0.1:0"]',
      'pop3 = []',
      'pop3s = ["127.0.0.1:0"]',
      'http = []',
      '',
    ].join('\n'),
  );
  const server = serve(t, dir);
  await waitFor('the ready line', () => server.logs.find((line) => line.msg === 'ready') ?? (server.child.exitCode !== null ? assert.fail(`exited: ${server.stderr()}`) : undefined));
  const portOf = (listener: string): number => {
    const line = server.logs.find((l) => l.msg === 'listening' && l.listener === listener);
    assert.ok(line, `no listening line for ${listener}`);
    return line.port as number;
  };
  const targets: Target[] = [
    ...['imaps', 'pop3s', 'submissions'].map((listener): Target => ({ kind: 'tls', port: portOf(listener) })),
    { kind: 'starttls', port: portOf('smtp') },
  ];

  // Sessions that stay open across both reloads.
  const smtpSessions = await Promise.all(
    [0, 1].map(async () => {
      const { client, greeting } = await SmtpTestClient.open(portOf('submissions'), { tls: true });
      assert.equal(greeting.code, 220);
      t.after(() => client.close());
      return client;
    }),
  );
  const imapSession = await ImapTestClient.connect({ port: portOf('imaps'), tls: true });
  t.after(() => imapSession.close());
  assert.match(await imapSession.readLine(), /^\* OK/);
  for (const client of smtpSessions) assert.equal((client.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256, oldPair.fingerprint);

  const load = startLoad(targets);
  t.after(() => load.stop());
  await waitFor('handshakes before the reload', () => (load.results.length >= 30 ? true : undefined));

  // Replace both files, then signal.
  replaceFile(certPath, newPair.cert);
  replaceFile(keyPath, newPair.key);
  const logsBefore = server.logs.length;
  server.child.kill('SIGHUP');
  const reloaded = await waitFor('the reloaded line', () => server.logs.slice(logsBefore).find((line) => line.msg === 'tls certificate reloaded'));
  const reloadSeenAt = performance.now();
  assert.equal(reloaded.fingerprint256, newPair.fingerprint);
  const countAtReload = load.results.length;
  await waitFor('handshakes after the reload', () => (load.results.length >= countAtReload + 30 ? true : undefined));

  // Sessions opened on the old certificate still work (TLS 1.3 has no renegotiation: same session).
  for (const client of smtpSessions) assert.equal((await client.command('NOOP')).code, 250);
  assert.match((await imapSession.run('NOOP')).at(-1) ?? '', /^A\d+ OK /);

  // A broken certificate: the reload fails, is logged at error level, and changes nothing.
  replaceFile(certPath, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  const logsBeforeBroken = server.logs.length;
  server.child.kill('SIGHUP');
  const failed = await waitFor('the reload failure', () =>
    server.logs.slice(logsBeforeBroken).find((line) => line.msg === 'tls reload failed, keeping the previous certificate'),
  );
  const brokenSeenAt = performance.now();
  assert.equal(failed.level, 'error');
  assert.equal(failed.cert, certPath);
  const countAtBroken = load.results.length;
  await waitFor('handshakes after the broken reload', () => (load.results.length >= countAtBroken + 30 ? true : undefined));
  await load.stop();

  for (const client of smtpSessions) assert.equal((await client.command('NOOP')).code, 250);
  assert.match((await imapSession.run('NOOP')).at(-1) ?? '', /^A\d+ OK /);

  const withOld = load.results.filter((r) => r.fingerprint === oldPair.fingerprint).length;
  t.diagnostic(`${load.results.length} handshakes under load: ${withOld} on the old certificate, ${load.results.length - withOld} on the new one`);
  const failures = load.results.filter((r) => r.error !== null);
  assert.deepEqual(failures, [], 'every handshake under load succeeded');
  const known = new Set([oldPair.fingerprint, newPair.fingerprint]);
  assert.deepEqual(
    load.results.filter((r) => !known.has(r.fingerprint ?? '')),
    [],
    'every handshake got the old or the new certificate',
  );
  const lateOld = load.results.filter((r) => r.startedAt > reloadSeenAt && r.fingerprint !== newPair.fingerprint);
  assert.deepEqual(lateOld, [], 'handshakes started after the reload got the new certificate');
  const starttlsNew = load.results.filter((r) => r.via === 'starttls' && r.startedAt > reloadSeenAt && r.fingerprint === newPair.fingerprint);
  assert.ok(starttlsNew.length >= 5, 'STARTTLS upgrades after the reload got the new certificate too');
  const afterBroken = load.results.filter((r) => r.startedAt > brokenSeenAt);
  assert.ok(afterBroken.length >= 20);
  assert.ok(afterBroken.every((r) => r.fingerprint === newPair.fingerprint), 'the broken certificate did not replace the good one');
  assert.ok(withOld >= 20, 'the load started on the old certificate');

  server.child.kill('SIGTERM');
  const [code] = (await once(server.child, 'exit')) as [number | null];
  assert.equal(code, 0, server.stderr());
});
