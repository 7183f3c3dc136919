/**
 * Real SMTP clients against all three listeners: nodemailer, Python's smtplib and swaks, each
 * delivering to a local user on 25 (MX), 587 (STARTTLS + AUTH PLAIN and LOGIN) and 465
 * (implicit TLS); then 20 concurrent senders.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import nodemailer from 'nodemailer';
import { startTestServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const BOB_PASSWORD = 'bob-password-12';

async function setup(t: TestContext): Promise<TestServer> {
  const server = await startTestServer(t);
  await server.addDomain('example.com');
  await server.addUser(ALICE, 'alice-password-1');
  await server.addUser(BOB, BOB_PASSWORD);
  return server;
}

/** Runs a program; resolves with its exit code and output (never rejects on a non-zero exit). */
function run(file: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

function subjects(texts: string[]): string[] {
  return texts.map((text) => /\r\nSubject: ([^\r\n]*)\r\n/.exec(text)?.[1] ?? '?').sort();
}

// --- nodemailer -----------------------------------------------------------------------------

test('nodemailer: 25 (with opportunistic STARTTLS), 587 STARTTLS + PLAIN and LOGIN, 465', async (t) => {
  const server = await setup(t);
  const tls = { rejectUnauthorized: false };
  const transports = [
    { subject: 'nodemailer 25', from: 'carol@remote.example', options: { host: '127.0.0.1', port: server.port('smtp'), secure: false, tls } },
    {
      subject: 'nodemailer 587 PLAIN',
      from: BOB,
      options: { host: '127.0.0.1', port: server.port('submission'), secure: false, requireTLS: true, tls, authMethod: 'PLAIN', auth: { user: BOB, pass: BOB_PASSWORD } },
    },
    {
      subject: 'nodemailer 587 LOGIN',
      from: BOB,
      options: { host: '127.0.0.1', port: server.port('submission'), secure: false, requireTLS: true, tls, authMethod: 'LOGIN', auth: { user: BOB, pass: BOB_PASSWORD } },
    },
    { subject: 'nodemailer 465', from: BOB, options: { host: '127.0.0.1', port: server.port('submissions'), secure: true, tls, auth: { user: BOB, pass: BOB_PASSWORD } } },
  ];
  for (const { subject, from, options } of transports) {
    const transport = nodemailer.createTransport(options);
    const info = await transport.sendMail({ from, to: ALICE, subject, text: `Hello from ${subject}\n.\nwith a dot line` });
    assert.deepEqual(info.accepted, [ALICE], subject);
    assert.match(info.response, /^250 2\.0\.0 Message accepted as \w+$/);
    transport.close();
  }
  const texts = await server.messageTexts(ALICE);
  assert.deepEqual(subjects(texts), ['nodemailer 25', 'nodemailer 465', 'nodemailer 587 LOGIN', 'nodemailer 587 PLAIN']);
  for (const text of texts) assert.match(text, /\r\n\.\r\nwith a dot line/);
  // nodemailer upgraded the MX connection with STARTTLS: TLS shows in every Received field.
  for (const text of texts) assert.match(text, /\t\(using TLSv1\.[23] with cipher /);
});

test('nodemailer: a wrong password is refused with 535', async (t) => {
  const server = await setup(t);
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: server.port('submissions'),
    secure: true,
    tls: { rejectUnauthorized: false },
    auth: { user: BOB, pass: 'wrong' },
  });
  await assert.rejects(transport.sendMail({ from: BOB, to: ALICE, subject: 'x', text: 'y' }), (error: Error & { responseCode?: number }) => {
    assert.equal(error.responseCode, 535);
    return true;
  });
  transport.close();
});

// --- Python smtplib -------------------------------------------------------------------------

const SMTPLIB_SCRIPT = `
import smtplib, ssl, sys
host, port, mode, mechanism, user, password, sender, recipient, subject = sys.argv[1:10]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
if mode == 'ssl':
    client = smtplib.SMTP_SSL(host, int(port), context=context)
else:
    client = smtplib.SMTP(host, int(port))
client.ehlo('smtplib.example')
if mode == 'starttls':
    client.starttls(context=context)
    client.ehlo('smtplib.example')
if mechanism != 'none':
    client.user, client.password = user, password
    method = client.auth_plain if mechanism == 'PLAIN' else client.auth_login
    code, _ = client.auth(mechanism, method, initial_response_ok=(mechanism == 'PLAIN'))
    assert code == 235, code
message = 'From: %s\\r\\nTo: %s\\r\\nSubject: %s\\r\\n\\r\\nHello from smtplib\\r\\n.\\r\\n' % (sender, recipient, subject)
refused = client.sendmail(sender, [recipient], message)
assert refused == {}, refused
code, _ = client.quit()
assert code == 221, code
print('sent', subject)
`;

test('smtplib: 25, 587 STARTTLS + PLAIN and LOGIN, 465', async (t) => {
  const python = spawnSync('python3', ['--version']);
  if (python.status !== 0) {
    t.skip('python3 is not installed');
    return;
  }
  const server = await setup(t);
  const runs: Array<[string, number, string, string, string]> = [
    ['plain', server.port('smtp'), 'none', 'carol@remote.example', 'smtplib 25'],
    ['starttls', server.port('submission'), 'PLAIN', BOB, 'smtplib 587 PLAIN'],
    ['starttls', server.port('submission'), 'LOGIN', BOB, 'smtplib 587 LOGIN'],
    ['ssl', server.port('submissions'), 'PLAIN', BOB, 'smtplib 465'],
  ];
  for (const [mode, port, mechanism, sender, subject] of runs) {
    const result = await run('python3', ['-c', SMTPLIB_SCRIPT, '127.0.0.1', String(port), mode, mechanism, BOB, BOB_PASSWORD, sender, ALICE, subject]);
    assert.equal(result.code, 0, `${subject}: ${result.stderr}`);
    assert.equal(result.stdout, `sent ${subject}\n`);
  }
  const texts = await server.messageTexts(ALICE);
  assert.deepEqual(subjects(texts), ['smtplib 25', 'smtplib 465', 'smtplib 587 LOGIN', 'smtplib 587 PLAIN']);
  for (const text of texts) assert.ok(text.endsWith('\r\n\r\nHello from smtplib\r\n.\r\n'), text);
});

// --- swaks ----------------------------------------------------------------------------------

test('swaks: 25 (plain and STARTTLS), 587 STARTTLS + PLAIN and LOGIN, 465', async (t) => {
  if (spawnSync('swaks', ['--version']).status !== 0) {
    t.skip('swaks is not installed (apt-get install swaks; listed in .ci/debian-packages)');
    return;
  }
  const server = await setup(t);
  const common = ['--server', '127.0.0.1', '--to', ALICE, '--helo', 'swaks.example', '--body', 'Hello from swaks'];
  const auth = (mechanism: string): string[] => ['--auth', mechanism, '--auth-user', BOB, '--auth-password', BOB_PASSWORD, '--from', BOB];
  const runs: Array<[string, string[]]> = [
    ['swaks 25', ['--port', String(server.port('smtp')), '--from', 'carol@remote.example']],
    ['swaks 25 STARTTLS', ['--port', String(server.port('smtp')), '--from', 'carol@remote.example', '--tls']],
    ['swaks 587 PLAIN', ['--port', String(server.port('submission')), '--tls', ...auth('PLAIN')]],
    ['swaks 587 LOGIN', ['--port', String(server.port('submission')), '--tls', ...auth('LOGIN')]],
    ['swaks 465', ['--port', String(server.port('submissions')), '--tls-on-connect', ...auth('PLAIN')]],
  ];
  for (const [subject, args] of runs) {
    const result = await run('swaks', [...common, '--header', `Subject: ${subject}`, ...args]);
    assert.equal(result.code, 0, `${subject}: ${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /<[-~] {1,2}250 2\.0\.0 Message accepted as \w+/);
  }
  assert.deepEqual(subjects(await server.messageTexts(ALICE)), ['swaks 25', 'swaks 25 STARTTLS', 'swaks 465', 'swaks 587 LOGIN', 'swaks 587 PLAIN']);
});

test('swaks: relaying through the MX without AUTH is refused', async (t) => {
  if (spawnSync('swaks', ['--version']).status !== 0) {
    t.skip('swaks is not installed (apt-get install swaks; listed in .ci/debian-packages)');
    return;
  }
  const server = await setup(t);
  const result = await run('swaks', ['--server', '127.0.0.1', '--port', String(server.port('smtp')), '--from', 'carol@remote.example', '--to', 'dave@elsewhere.example']);
  assert.notEqual(result.code, 0);
  assert.match(result.stdout, /<\*\* {1,2}554 5\.7\.1 Relay access denied/);
});

// --- load -----------------------------------------------------------------------------------

test('20 concurrent senders, 5 messages each, over 587 and 25', async (t) => {
  const server = await setup(t);
  const senders = Array.from({ length: 20 }, (_, i) => i);
  await Promise.all(
    senders.map(async (i) => {
      const submission = i % 2 === 0;
      const transport = nodemailer.createTransport(
        submission
          ? { host: '127.0.0.1', port: server.port('submission'), secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: BOB, pass: BOB_PASSWORD } }
          : { host: '127.0.0.1', port: server.port('smtp'), secure: false, ignoreTLS: true },
      );
      try {
        for (let n = 0; n < 5; n++) {
          const info = await transport.sendMail({ from: submission ? BOB : 'carol@remote.example', to: ALICE, subject: `load ${i}-${n}`, text: `message ${n} from sender ${i}\n`.repeat(20) });
          assert.deepEqual(info.accepted, [ALICE]);
        }
      } finally {
        transport.close();
      }
    }),
  );
  const texts = await server.messageTexts(ALICE);
  assert.equal(texts.length, 100);
  const expected = senders.flatMap((i) => [0, 1, 2, 3, 4].map((n) => `load ${i}-${n}`)).sort();
  assert.deepEqual(subjects(texts), expected);
});
