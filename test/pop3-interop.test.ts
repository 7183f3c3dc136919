/**
 * Real POP3 clients against the server: fetchmail (STLS and POP3S; keep mode with UIDL-based
 * no-refetch, and delete mode), getmail6 (POP3S, and APOP on plaintext: getmail has no STLS)
 * and curl (POP3S, STLS, APOP, custom commands). The Debian packages come from
 * .ci/debian-packages; a missing tool skips its tests with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { PASSWORD, USER, message, setApopSecret, startPop3Server } from './helpers/pop3-server.js';

function installed(command: string, versionFlag = '--version'): boolean {
  return spawnSync(command, [versionFlag], { stdio: 'ignore' }).status !== null && spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}
const missing = (pkg: string): string => `${pkg} is not installed (apt-get install ${pkg}; listed in .ci/debian-packages)`;
const FETCHMAIL = installed('fetchmail') ? false : missing('fetchmail');
const GETMAIL = installed('getmail') ? false : missing('getmail6');
const CURL = installed('curl') ? false : missing('curl');

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client without blocking the event loop (the server runs in this process). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function tempDir(t: TestContext, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mailhaven-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Message files in a folder, oldest first, as text. */
function delivered(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((name) => readFileSync(join(dir, name), 'utf8'));
}

const ONE = message('interop one', 'first message body');
const TWO = message('interop two', '.leading dot line', 'second line');
const THREE = message('interop three', 'arrived later');

// ---- fetchmail ---------------------------------------------------------------------------------

interface Fetchmail {
  run(): Promise<RunResult>;
  out: string;
}

/**
 * A fetchmail set-up in a temp home: an rc file (mode 0600, as fetchmail demands) and an MDA
 * script writing each message to its own file. `auth password` because fetchmail would try
 * the announced CRAM-MD5 first, fail (the user has no shared secret) and count a failure.
 */
function fetchmailFor(t: TestContext, port: number, mode: { tls: 'stls' | 'implicit'; keep: boolean }): Fetchmail {
  const home = tempDir(t, 'fetchmail');
  const out = join(home, 'out');
  mkdirSync(out);
  const mda = join(home, 'deliver.sh');
  writeFileSync(mda, `#!/bin/sh\ncat > "${out}/$(date +%s%N).eml"\n`);
  chmodSync(mda, 0o755);
  const rc = join(home, 'fetchmailrc');
  writeFileSync(
    rc,
    [
      'set no bouncemail',
      `poll 127.0.0.1 port ${port} protocol POP3 uidl auth password`,
      `  user "${USER}" password "${PASSWORD}" is "${userInfo().username}" here`,
      mode.tls === 'implicit' ? "  ssl sslproto 'TLS1.2+' no sslcertck" : "  sslproto 'TLS1.2+' no sslcertck",
      mode.keep ? '  keep' : '  nokeep fetchall',
      `  mda "${mda}"`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return {
    out,
    run: () => run('fetchmail', ['-f', rc, '-v', '--nosyslog', '--idfile', join(home, 'fetchids')], { HOME: home, FETCHMAILHOME: home }),
  };
}

test('fetchmail over STLS, keep mode: UIDL means nothing is fetched twice', { skip: FETCHMAIL }, async (t) => {
  const fx = await startPop3Server(t);
  await fx.append(ONE, TWO);
  const fetchmail = fetchmailFor(t, fx.pop3Port, { tls: 'stls', keep: true });
  const first = await fetchmail.run();
  assert.equal(first.code, 0, first.stderr);
  // -v writes the protocol trace to stdout.
  assert.match(first.stdout, /POP3> STLS\n/);
  assert.match(first.stdout, /2 messages for tim@example\.org at 127\.0\.0\.1/);
  assert.deepEqual(delivered(fetchmail.out).map(stripFetchmailHeaders), [ONE, TWO]);
  assert.equal((await fx.server.messages(USER)).length, 2);

  // Exit status 1: "no new mail".
  const second = await fetchmail.run();
  assert.equal(second.code, 1, second.stderr);
  assert.equal(delivered(fetchmail.out).length, 2);

  await fx.append(THREE);
  const third = await fetchmail.run();
  assert.equal(third.code, 0, third.stderr);
  assert.deepEqual(delivered(fetchmail.out).map(stripFetchmailHeaders), [ONE, TWO, THREE]);
  assert.equal((await fx.server.messages(USER)).length, 3);
});

test('fetchmail over POP3S, delete mode: everything fetched and durably deleted', { skip: FETCHMAIL }, async (t) => {
  const fx = await startPop3Server(t);
  await fx.append(ONE, TWO, THREE);
  const fetchmail = fetchmailFor(t, fx.pop3sPort, { tls: 'implicit', keep: false });
  const result = await fetchmail.run();
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /POP3> DELE 3\n/);
  assert.match(result.stdout, /POP3< \+OK Mailhaven POP3 server signing off \(maildrop empty\)/);
  assert.deepEqual(delivered(fetchmail.out).map(stripFetchmailHeaders), [ONE, TWO, THREE]);
  assert.deepEqual(await fx.server.messages(USER), []);
});

/** fetchmail adds a Received: line on top; the rest must be the message exactly. */
function stripFetchmailHeaders(text: string): string {
  return text.replace(/^Received: [^\n]*\n(?:[ \t][^\n]*\n)*/, '').replace(/\r?\n/g, '\r\n');
}

// ---- getmail6 ----------------------------------------------------------------------------------

/**
 * A getmail6 set-up in a temp dir, delivering over LMTP to a sink in this process. getmail's
 * file destinations (Maildir, Mboxrd, MDA_external) fork a child and install their SIGCHLD
 * handler only after fork(), so a quick child's exit is sometimes missed and getmail stalls
 * until its socket timeout; MDA_lmtp does not fork.
 */
async function getmailFor(t: TestContext, retriever: string[], options: { delete: boolean }): Promise<{ run(): Promise<RunResult>; messages: string[] }> {
  const dir = tempDir(t, 'getmail');
  const sink = await lmtpSink(t);
  writeFileSync(
    join(dir, 'getmailrc'),
    [
      '[retriever]',
      ...retriever,
      '',
      '[destination]',
      'type = MDA_lmtp',
      'host = 127.0.0.1',
      `port = ${sink.port}`,
      `override = ${USER}`,
      '',
      '[options]',
      'read_all = false',
      `delete = ${options.delete}`,
      'verbose = 2',
      '',
    ].join('\n'),
  );
  return { messages: sink.messages, run: () => run('getmail', ['--getmaildir', dir, '--rcfile', 'getmailrc'], { HOME: dir }) };
}

/** The smallest LMTP server getmail's smtplib.LMTP can talk to (RFC 2033): keeps each DATA, dot-unstuffed. */
async function lmtpSink(t: TestContext): Promise<{ port: number; messages: string[] }> {
  const messages: string[] = [];
  const server = createServer((socket) => {
    let buffer = '';
    let data: string[] | null = null;
    let recipients = 0;
    const reply = (text: string): boolean => socket.write(text);
    socket.setEncoding('latin1');
    socket.on('error', () => undefined);
    reply('220 sink LMTP\r\n');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data !== null) {
          if (line === '.') {
            messages.push(data.map((text) => `${text}\r\n`).join(''));
            data = null;
            // RFC 2033 4.2: one reply per accepted recipient after the data.
            reply('250 2.0.0 ok\r\n'.repeat(recipients));
          } else {
            data.push(line.startsWith('.') ? line.slice(1) : line);
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'LHLO') reply('250-sink\r\n250 8BITMIME\r\n');
        else if (verb === 'MAIL') {
          recipients = 0;
          reply('250 2.1.0 ok\r\n');
        } else if (verb === 'RCPT') {
          recipients++;
          reply('250 2.1.5 ok\r\n');
        } else if (verb === 'DATA') {
          data = [];
          reply('354 go ahead\r\n');
        } else if (verb === 'QUIT') socket.end('221 2.0.0 bye\r\n');
        else reply('250 2.0.0 ok\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { port: (server.address() as AddressInfo).port, messages };
}

test('getmail6 over POP3S: new messages only (UIDL), left on the server', { skip: GETMAIL }, async (t) => {
  const fx = await startPop3Server(t);
  await fx.append(ONE, TWO);
  const getmail = await getmailFor(t, ['type = SimplePOP3SSLRetriever', 'server = 127.0.0.1', `port = ${fx.pop3sPort}`, `username = ${USER}`, `password = ${PASSWORD}`], { delete: false });
  const first = await getmail.run();
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /2 messages \(\d+ bytes\) retrieved, 0 skipped/);
  assert.deepEqual(getmail.messages.map(withoutTraceHeaders), [ONE, TWO]);
  await fx.append(THREE);
  const second = await getmail.run();
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.match(second.stdout, /1 messages \(\d+ bytes\) retrieved, 2 skipped/);
  assert.deepEqual(getmail.messages.map(withoutTraceHeaders), [ONE, TWO, THREE]);
  assert.equal((await fx.server.messages(USER)).length, 3);
});

test('getmail6 with APOP on plaintext POP3, deleting after retrieval', { skip: GETMAIL }, async (t) => {
  const fx = await startPop3Server(t, { pop3: { apopTimestamp: () => `<${process.pid}.${Date.now()}.0123abcd@mx.test.example>` } });
  await fx.append(ONE, TWO);
  await setApopSecret(fx.server, USER, 'getmail apop secret');
  const getmail = await getmailFor(t, ['type = SimplePOP3Retriever', 'server = 127.0.0.1', `port = ${fx.pop3Port}`, `username = ${USER}`, 'password = getmail apop secret', 'use_apop = true'], { delete: true });
  const result = await getmail.run();
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.deepEqual(getmail.messages.map(withoutTraceHeaders), [ONE, TWO]);
  assert.deepEqual(await fx.server.messages(USER), []);
});

/** Header lines a retriever may add on top (trace and envelope fields). */
function withoutTraceHeaders(text: string): string {
  return text.replace(/^(?:(?:Delivered-To|Return-Path|Received|X-getmail-retrieved-from-mailbox): [^\r]*\r\n(?:[ \t][^\r]*\r\n)*)+/, '');
}

// ---- curl --------------------------------------------------------------------------------------

test('curl: LIST, RETR, UIDL and TOP over POP3S and STLS; APOP; DELE', { skip: CURL }, async (t) => {
  const fx = await startPop3Server(t);
  const uids = await fx.append(ONE, TWO);
  const inbox = await fx.store.getMailboxById(fx.inboxId);
  await setApopSecret(fx.server, USER, 'curl secret');
  const login = ['-u', `${USER}:${PASSWORD}`, '--login-options', 'AUTH=PLAIN'];
  const pop3s = `pop3s://127.0.0.1:${fx.pop3sPort}`;
  const pop3 = `pop3://127.0.0.1:${fx.pop3Port}`;

  const list = await run('curl', ['-sSk', ...login, `${pop3s}/`]);
  assert.equal(list.stdout, `1 ${Buffer.byteLength(ONE)}\r\n2 ${Buffer.byteLength(TWO)}\r\n`, list.stderr);
  const retr = await run('curl', ['-sSk', ...login, `${pop3s}/2`]);
  assert.equal(retr.stdout, TWO, retr.stderr);
  const uidl = await run('curl', ['-sSk', '--ssl-reqd', ...login, '-X', 'UIDL', `${pop3}/`]);
  assert.equal(uidl.stdout, `1 ${inbox!.uidValidity}.${uids[0]}\r\n2 ${inbox!.uidValidity}.${uids[1]}\r\n`, uidl.stderr);
  const top = await run('curl', ['-sSk', '--ssl-reqd', ...login, '-X', 'TOP 1 0', `${pop3}/`]);
  assert.equal(top.stdout, `From: sender@example.net\r\nTo: ${USER}\r\nSubject: interop one\r\n\r\n`, top.stderr);
  // APOP needs no TLS; the password is the shared secret.
  const apop = await run('curl', ['-sS', '-u', `${USER}:curl secret`, '--login-options', 'AUTH=+APOP', `${pop3}/1`]);
  assert.equal(apop.stdout, ONE, apop.stderr);
  // Plaintext login without TLS is refused.
  const plain = await run('curl', ['-sS', ...login, `${pop3}/1`]);
  assert.notEqual(plain.code, 0);
  const dele = await run('curl', ['-sSk', ...login, '-X', 'DELE 1', '-I', `${pop3s}/`]);
  assert.equal(dele.code, 0, dele.stderr);
  assert.deepEqual((await fx.server.messages(USER)).map((m) => m.uid), [uids[1]]);
});
