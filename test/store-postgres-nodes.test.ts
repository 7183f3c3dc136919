/**
 * Two `mailhaven serve` processes (real processes, as an operator runs them) on different ports,
 * sharing one PostgreSQL schema: mail delivered through one node is seen by IDLE on the other, a
 * POP3 deletion on one is an EXPUNGE on the other, concurrent APPENDs through both get unique
 * ascending UIDs, and killing a node with SIGKILL in the middle of deliveries loses no message it
 * acknowledged. Skipped (with the reason) without PostgreSQL, failed when it is required.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { hashPassword } from '../src/auth/password.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { dropSchema, freshSchemaName, postgresTestTarget } from '../src/store/postgres/testing.js';
import { ImapTestClient, literalOf } from './helpers/imap-client.js';
import { Pop3TestClient } from './helpers/pop3-client.js';
import { SmtpTestClient } from './helpers/smtp-client.js';

const target = await postgresTestTarget();
const repoRoot = resolve(import.meta.dirname, '..');
const mainPath = join(repoRoot, 'src', 'main.ts');
const tsxLoader = import.meta.resolve('tsx');
const USER = 'user@example.org';
const PASSWORD = 'correct horse battery staple';

interface Node {
  name: string;
  child: ChildProcessWithoutNullStreams;
  ports: Record<string, number>;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** A fresh schema with one account, and a config URL that points at it. */
async function cluster(t: TestContext): Promise<{ url: string; dir: string }> {
  const schema = freshSchemaName();
  const url = new URL(target.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const store = await openPostgresStore({ url: url.toString(), listen: false });
  try {
    await store.addDomain('example.org');
    await store.addAccount(USER, await hashPassword(PASSWORD), null);
  } finally {
    await store.close();
  }
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-pg-nodes-'));
  t.after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(target.url, schema);
  });
  return { url: url.toString(), dir };
}

/** Starts `mailhaven serve` with SMTP, IMAP and POP3 on ephemeral ports; resolves once it is ready. */
async function startNode(t: TestContext, name: string, url: string, dir: string): Promise<Node> {
  const config = join(dir, `${name}.toml`);
  writeFileSync(
    config,
    [
      `hostname = "${name}.test"`,
      `data_dir = "${name}-data"`,
      'shutdown_timeout = "5s"',
      '[storage]',
      'backend = "postgres"',
      `url = "${url}"`,
      '[auth]',
      'allow_plaintext_on_loopback = true',
      '[log]',
      'level = "info"',
      '[listen]',
      'smtp = ["127.0.0.1:0"]',
      'imap = ["127.0.0.1:0"]',
      'pop3 = ["127.0.0.1:0"]',
      ...['submission', 'submissions', 'imaps', 'pop3s', 'http'].map((listener) => `${listener} = []`),
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', tsxLoader, mainPath, 'serve', '--config', config], {
    cwd: dir,
    env: { ...process.env, MAILHAVEN_CONFIG: '' },
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const ports: Record<string, number> = {};
  let pending = '';
  child.stdout.setEncoding('utf8');
  const ready = new Promise<void>((resolveReady, reject) => {
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        const entry = JSON.parse(line) as { msg?: string; listener?: string; port?: number };
        if (entry.msg === 'listening' && entry.listener && entry.port) ports[entry.listener] = entry.port;
        if (entry.msg === 'ready') resolveReady();
      }
    });
    void exited.then((code) => reject(new Error(`${name} exited with ${code}: ${stderr}`)));
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 60_000);
  await ready;
  clearTimeout(timeout);
  return { name, child, ports, stderr: () => stderr, exited };
}

function port(node: Node, listener: string): number {
  const found = node.ports[listener];
  assert.ok(found, `${node.name} has no ${listener} listener`);
  return found;
}

function message(tag: string): string {
  return `From: sender@remote.example\r\nTo: ${USER}\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@remote.example>\r\n\r\nbody of ${tag}\r\n`;
}

async function deliver(node: Node, tag: string): Promise<void> {
  const { client } = await SmtpTestClient.open(port(node, 'smtp'));
  try {
    await client.ehlo();
    assert.equal((await client.command('MAIL FROM:<sender@remote.example>')).code, 250);
    assert.equal((await client.command(`RCPT TO:<${USER}>`)).code, 250);
    const [, done] = await client.data(message(tag));
    assert.equal(done.code, 250, done.raw);
  } finally {
    await client.close();
  }
}

/** Reads responses until one matches; fails after `timeoutMs`. */
async function readUntil(client: ImapTestClient, pattern: RegExp, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${client.transcript.slice(-300)}`)), timeoutMs);
  });
  try {
    for (;;) {
      const line = await Promise.race([client.readResponse(), expired]);
      if (pattern.test(line)) return line;
    }
  } finally {
    clearTimeout(timer);
  }
}

const skip = target.unavailable === null ? false : target.required ? false : `PostgreSQL not reachable at ${target.url} (${target.unavailable})`;

test('two mailhaven serve processes on one database', { skip }, async (t) => {
  assert.equal(target.unavailable, null, `PostgreSQL required: ${target.unavailable}`);
  const { url, dir } = await cluster(t);
  const [a, b] = await Promise.all([startNode(t, 'a', url, dir), startNode(t, 'b', url, dir)]);

  await t.test('SMTP on A wakes IDLE on B; POP3 DELE on A is an EXPUNGE on B', async (st) => {
    const idler = await ImapTestClient.login(port(b, 'imap'), USER, PASSWORD);
    st.after(() => idler.close());
    assert.match((await idler.run('SELECT INBOX')).at(-1) ?? '', /^A2 OK/);
    idler.write('I1 IDLE\r\n');
    assert.equal(await idler.readLine(), '+ idling');

    await deliver(a, 'across-nodes');
    const acknowledged = Date.now();
    await readUntil(idler, /^\* 1 EXISTS$/, 1000);
    st.diagnostic(`IDLE on B saw the delivery through A ${Date.now() - acknowledged} ms after the 250`);

    const { client: pop3 } = await Pop3TestClient.connect(port(a, 'pop3'));
    st.after(() => pop3.close());
    assert.match(await pop3.command(`USER ${USER}`), /^\+OK/);
    assert.match(await pop3.command(`PASS ${PASSWORD}`), /^\+OK/);
    assert.match(await pop3.command('DELE 1'), /^\+OK/);
    assert.match(await pop3.command('QUIT'), /^\+OK/);
    await readUntil(idler, /^\* 1 EXPUNGE$/, 1000);
    idler.write('DONE\r\n');
    assert.deepEqual(await idler.readUntilTagged('I1'), ['I1 OK IDLE terminated']);
  });

  await t.test('20 concurrent APPENDs split across both nodes get unique ascending UIDs', async (st) => {
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => ImapTestClient.login(port(i % 2 === 0 ? a : b, 'imap'), USER, PASSWORD)));
    st.after(() => clients.forEach((client) => client.close()));
    const uids = await Promise.all(
      clients.map(async (client, i) => {
        const { header, data } = literalOf(message(`append-${i}`));
        client.write(`P1 APPEND Archive ${header}\r\n`);
        assert.match(await client.readLine(), /^\+ /);
        client.write(Buffer.concat([data, Buffer.from('\r\n')]));
        const [done] = (await client.readUntilTagged('P1')).slice(-1);
        const uid = /^P1 OK \[APPENDUID \d+ (\d+)\]/.exec(done ?? '');
        assert.ok(uid, done);
        return Number(uid[1]);
      }),
    );
    assert.deepEqual(
      [...uids].sort((x, y) => x - y),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const status = await clients[1]!.run('STATUS Archive (MESSAGES UIDNEXT)');
    assert.equal(status[0], '* STATUS Archive (MESSAGES 20 UIDNEXT 21)');
  });

  await t.test('POP3 on A holds the maildrop: a POP3 login for the same user on B gets -ERR [IN-USE]', async (st) => {
    const { client: holder } = await Pop3TestClient.connect(port(a, 'pop3'));
    st.after(() => holder.close());
    assert.match(await holder.command(`USER ${USER}`), /^\+OK/);
    assert.match(await holder.command(`PASS ${PASSWORD}`), /^\+OK/);

    const { client: other } = await Pop3TestClient.connect(port(b, 'pop3'));
    st.after(() => other.close());
    assert.match(await other.command(`USER ${USER}`), /^\+OK/);
    assert.match(await other.command(`PASS ${PASSWORD}`), /^-ERR \[IN-USE\]/);

    // Once A lets go (QUIT), B gets the maildrop.
    assert.match(await holder.command('QUIT'), /^\+OK/);
    await holder.waitClosed();
    assert.match(await other.command(`USER ${USER}`), /^\+OK/);
    assert.match(await other.command(`PASS ${PASSWORD}`), /^\+OK/);
    assert.match(await other.command('QUIT'), /^\+OK/);
  });

  await t.test('failed logins on A count on B: the auth throttle is shared through PostgreSQL', async (st) => {
    // DEFAULT_THROTTLE_POLICY: three failures are free, then 1 s, 2 s, 4 s... before the -ERR.
    // Five failures on A (the last two wait 1 s and 2 s there).
    const { client: onA } = await Pop3TestClient.connect(port(a, 'pop3'));
    st.after(() => onA.close());
    for (let i = 0; i < 5; i++) {
      assert.match(await onA.command(`USER ${USER}`), /^\+OK/);
      assert.match(await onA.command(`PASS wrong-${i}`), /^-ERR \[AUTH\]/);
    }
    const { client: onB } = await Pop3TestClient.connect(port(b, 'pop3'));
    st.after(() => onB.close());
    assert.match(await onB.command(`USER ${USER}`), /^\+OK/);
    const started = Date.now();
    assert.match(await onB.command('PASS wrong-on-b'), /^-ERR \[AUTH\]/);
    const waited = Date.now() - started;
    // B saw one failure itself: alone it would answer at once. The shared count is six: 4 s.
    assert.ok(waited >= 3500, `B delayed its first failure by ${waited} ms`);
    st.diagnostic(`B's first failed login waited ${waited} ms after five failures on A`);
    // A correct password still logs in (the delay comes only after a failure) and clears the account's counter.
    assert.match(await onB.command(`USER ${USER}`), /^\+OK/);
    assert.match(await onB.command(`PASS ${PASSWORD}`), /^\+OK/);
    assert.match(await onB.command('QUIT'), /^\+OK/);
  });

  await t.test('SIGKILL of A in the middle of deliveries loses no message A acknowledged', async (st) => {
    const acknowledged: string[] = [];
    let stop = false;
    const senders = Array.from({ length: 6 }, async (_, s) => {
      for (let i = 0; !stop; i++) {
        const tag = `kill-${s}-${i}`;
        try {
          await deliver(a, tag);
          acknowledged.push(tag);
        } catch {
          return; // A died under this delivery: not acknowledged, so it may or may not be stored
        }
      }
    });
    while (acknowledged.length < 15) await new Promise((r) => setTimeout(r, 10));
    a.child.kill('SIGKILL');
    stop = true;
    await Promise.all(senders);
    assert.equal(await a.exited, null);

    // B serves every message A acknowledged.
    const reader = await ImapTestClient.login(port(b, 'imap'), USER, PASSWORD);
    st.after(() => reader.close());
    await reader.run('SELECT INBOX');
    const fetched = (await reader.run('UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])')).join('\n');
    const stored = new Set([...fetched.matchAll(/Subject: (kill-\d+-\d+)/g)].map((m) => m[1]));
    const missing = acknowledged.filter((tag) => !stored.has(tag));
    assert.deepEqual(missing, [], `${acknowledged.length} acknowledged, ${stored.size} stored`);
    st.diagnostic(`${acknowledged.length} deliveries acknowledged before SIGKILL, ${stored.size} stored`);
  });

  b.child.kill('SIGTERM');
  assert.equal(await b.exited, 0);
});
