/**
 * A real client in `npm test`: Python's poplib against the server, over POP3S, over STLS, and
 * with APOP on plaintext POP3. Each test runs one inline Python script that prints JSON.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { PASSWORD, USER, message, setApopSecret, startPop3Server } from './helpers/pop3-server.js';

const PYTHON = spawnSync('python3', ['--version'], { encoding: 'utf8' }).status === 0 ? 'python3' : null;
const NO_PYTHON = 'python3 is not installed (.ci/debian-packages installs it)';

/** Shared Python prelude: a TLS context for the self-signed test certificate. */
const PRELUDE = `
import json, poplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
args = json.loads(sys.argv[1])
def text(lines):
    return [line.decode() for line in lines]
`;

/** Runs the script in a child process (asynchronously: the server in this process keeps serving). */
async function runPython(script: string, args: Record<string, unknown>): Promise<unknown> {
  const child = spawn(PYTHON ?? 'python3', ['-c', `${PRELUDE}\n${script}`, JSON.stringify(args)]);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `python failed: ${stderr}`);
  return JSON.parse(stdout);
}

const ONE = message('first', 'hello from poplib', '.a dot line');
const TWO = message('second', 'line 1', 'line 2', 'line 3');

test('poplib over POP3S: STAT, LIST, UIDL, RETR, TOP, DELE, QUIT', { skip: PYTHON === null ? NO_PYTHON : false }, async (t) => {
  const fx = await startPop3Server(t);
  const uids = await fx.append(ONE, TWO);
  const inbox = await fx.store.getMailboxById(fx.inboxId);
  const output = await runPython(
    `
p = poplib.POP3_SSL('127.0.0.1', args['port'], context=ctx)
out = {'welcome': p.getwelcome().decode(), 'capa': sorted(p.capa().keys())}
p.user(args['user'])
out['pass'] = p.pass_(args['password']).decode()
out['stat'] = list(p.stat())
out['list'] = text(p.list()[1])
out['uidl'] = text(p.uidl()[1])
out['retr'] = text(p.retr(1)[1])
out['top'] = text(p.top(2, 1)[1])
out['dele'] = p.dele(1).decode()
out['quit'] = p.quit().decode()
print(json.dumps(out))
`,
    { port: fx.pop3sPort, user: USER, password: PASSWORD },
  );
  assert.deepEqual(output, {
    welcome: '+OK Mailhaven POP3 server ready <1896.697170952@dbc.mtview.ca.us>',
    capa: ['AUTH-RESP-CODE', 'EXPIRE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'SASL', 'TOP', 'UIDL', 'USER'],
    pass: `+OK maildrop has 2 messages (${Buffer.byteLength(ONE) + Buffer.byteLength(TWO)} octets)`,
    stat: [2, Buffer.byteLength(ONE) + Buffer.byteLength(TWO)],
    list: [`1 ${Buffer.byteLength(ONE)}`, `2 ${Buffer.byteLength(TWO)}`],
    uidl: [`1 ${inbox!.uidValidity}.${uids[0]}`, `2 ${inbox!.uidValidity}.${uids[1]}`],
    retr: ONE.split('\r\n').slice(0, -1),
    top: ['From: sender@example.net', `To: ${USER}`, 'Subject: second', '', 'line 1'],
    dele: '+OK message 1 deleted',
    quit: '+OK Mailhaven POP3 server signing off (1 message left)',
  });
  assert.deepEqual((await fx.server.messages(USER)).map((m) => m.uid), [uids[1]]);
});

test('poplib over STLS: capabilities change, login, RETR', { skip: PYTHON === null ? NO_PYTHON : false }, async (t) => {
  const fx = await startPop3Server(t);
  await fx.append(ONE);
  const output = await runPython(
    `
p = poplib.POP3('127.0.0.1', args['port'])
before = sorted(p.capa().keys())
stls = p.stls(context=ctx).decode()
after = sorted(p.capa().keys())
p.user(args['user'])
p.pass_(args['password'])
retr = text(p.retr(1)[1])
p.quit()
print(json.dumps({'before': before, 'stls': stls, 'after': after, 'retr': retr}))
`,
    { port: fx.pop3Port, user: USER, password: PASSWORD },
  );
  assert.deepEqual(output, {
    before: ['AUTH-RESP-CODE', 'EXPIRE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'SASL', 'STLS', 'TOP', 'UIDL'],
    stls: '+OK begin TLS negotiation',
    after: ['AUTH-RESP-CODE', 'EXPIRE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'SASL', 'TOP', 'UIDL', 'USER'],
    retr: ONE.split('\r\n').slice(0, -1),
  });
});

test('poplib APOP on plaintext POP3 with the shared secret; a wrong secret is refused', { skip: PYTHON === null ? NO_PYTHON : false }, async (t) => {
  const fx = await startPop3Server(t, { pop3: { apopTimestamp: () => `<${process.pid}.${Date.now()}.feedbeef@mx.test.example>` } });
  await fx.append(ONE);
  await setApopSecret(fx.server, USER, 'a long shared secret for APOP');
  const output = await runPython(
    `
out = {}
p = poplib.POP3('127.0.0.1', args['port'])
try:
    p.apop(args['user'], 'wrong secret')
except poplib.error_proto as e:
    out['wrong'] = e.args[0].decode()
p.quit()
p = poplib.POP3('127.0.0.1', args['port'])
out['apop'] = p.apop(args['user'], args['secret']).decode()
out['stat'] = list(p.stat())
out['quit'] = p.quit().decode()
print(json.dumps(out))
`,
    { port: fx.pop3Port, user: USER, secret: 'a long shared secret for APOP' },
  );
  assert.deepEqual(output, {
    wrong: '-ERR [AUTH] authentication failed',
    apop: `+OK maildrop has 1 message (${Buffer.byteLength(ONE)} octets)`,
    stat: [1, Buffer.byteLength(ONE)],
    quit: '+OK Mailhaven POP3 server signing off (1 message left)',
  });
});
