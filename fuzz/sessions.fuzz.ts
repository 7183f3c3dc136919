/**
 * The session layer over real sockets: an in-process server (test/helpers/server.ts, SQLite,
 * 127.0.0.1 ephemeral ports) gets generated command mixes and byte noise on IMAP, SMTP and POP3,
 * starting from every session state: before login, logged in, selected, in IDLE, mid-AUTH,
 * inside an APPEND literal, inside DATA and BDAT, in the POP3 transaction state.
 *
 * Properties: the server never logs an error (an unexpected exception is logged at level error
 * and answered SERVERBUG / 451 / -ERR [SYS/TEMP]); no such answer is sent; every session either
 * answers or closes within a time limit; after each input a fresh client is served normally.
 * The number of runs is bounded (FUZZ_SESSION_RUNS, default 25 per protocol) as well as timed.
 * @module
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { PASSWORD, USER, sampleMessage, startImapServer } from '../test/helpers/imap-client.js';
import type { ImapTestServer } from '../test/helpers/imap-client.js';
import { cutPoints, fuzzParameters, protocolBytes, splitAt, testTimeoutMs, withinTimeAsync } from './support.js';

const RUNS = Number(process.env['FUZZ_SESSION_RUNS'] ?? 25);
const PLAIN = Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64');

/** A raw client: collects everything the server sends; `closed` settles when the socket ends. */
class RawClient {
  received = '';
  readonly closed: Promise<void>;
  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => void (this.received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async open(port: number): Promise<RawClient> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  /** Waits until the transcript matches (or the socket closes, or the time is up). */
  async waitFor(pattern: RegExp, ms = 3000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (pattern.test(this.received)) return true;
      if (this.socket.destroyed) return pattern.test(this.received);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return false;
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }
}

interface Protocol {
  name: 'imap' | 'smtp' | 'pop3';
  greeting: RegExp;
  /** Prefixes that bring a session into a state, each ending where the fuzz bytes go. */
  states: Record<string, Array<[send: string, expect: RegExp]>>;
  alphabet: string[];
  probe: [send: string, expect: RegExp];
  internalError: RegExp;
}

const IMAP: Protocol = {
  name: 'imap',
  greeting: /^\* OK /,
  states: {
    notAuthenticated: [],
    authenticated: [[`L LOGIN "${USER}" "${PASSWORD}"\r\n`, /L OK/]],
    selected: [[`L LOGIN "${USER}" "${PASSWORD}"\r\n`, /L OK/], ['S SELECT INBOX\r\n', /S OK/]],
    idle: [[`L LOGIN "${USER}" "${PASSWORD}"\r\n`, /L OK/], ['S SELECT INBOX\r\n', /S OK/], ['I IDLE\r\n', /\+ idling/]],
    midAuthenticate: [['A AUTHENTICATE PLAIN\r\n', /\+ /]],
    inAppendLiteral: [[`L LOGIN "${USER}" "${PASSWORD}"\r\n`, /L OK/], ['P APPEND INBOX {200}\r\n', /\+ /]],
  },
  alphabet: [
    'A1 ', 'T ', 'NOOP', 'CAPABILITY', 'LOGOUT', 'SELECT INBOX', 'EXAMINE INBOX', 'CREATE x', 'DELETE x', 'RENAME x y', 'LIST "" *',
    'STATUS INBOX (MESSAGES UIDNEXT)', 'FETCH 1:* (FLAGS BODY.PEEK[] BODYSTRUCTURE ENVELOPE)', 'FETCH 1 BODY[1.2.MIME]<0.5>', 'UID FETCH 1:* ',
    'STORE 1 +FLAGS (\\Seen k)', 'SEARCH ', 'OR ALL NOT SEEN', 'BODY x', 'UID SEARCH 1:4294967295', 'COPY 1 INBOX', 'MOVE 1 x', 'EXPUNGE',
    'UID EXPUNGE 1', 'CLOSE', 'UNSELECT', 'IDLE', 'DONE', 'ENABLE CONDSTORE QRESYNC UTF8=ACCEPT', 'ID NIL', 'NAMESPACE', 'GETQUOTAROOT INBOX',
    'APPEND INBOX {3}\r\nabc', 'APPEND INBOX {3+}\r\nabc', 'APPEND INBOX (\\Seen) {0}\r\n', 'AUTHENTICATE PLAIN', `AUTHENTICATE PLAIN ${PLAIN}`, '*', PLAIN,
    'STARTTLS', '{5}\r\nhello', '(', ')', '"', '$', 'CHECK', 'SEARCH RETURN (SAVE) ALL', 'FETCH $ FLAGS', 'SELECT INBOX (QRESYNC (1 1))',
  ],
  probe: ['P1 NOOP\r\n', /P1 OK/],
  internalError: /SERVERBUG/,
};

const SMTP: Protocol = {
  name: 'smtp',
  greeting: /^220 /,
  states: {
    greeted: [],
    helo: [['EHLO fuzz.test\r\n', /250 /]],
    mail: [['EHLO fuzz.test\r\n', /250 /], ['MAIL FROM:<a@fuzz.test>\r\n', /250 /], [`RCPT TO:<${USER}>\r\n`, /250 /]],
    inData: [['EHLO fuzz.test\r\n', /250 /], ['MAIL FROM:<a@fuzz.test>\r\n', /250 /], [`RCPT TO:<${USER}>\r\n`, /250 /], ['DATA\r\n', /354 /]],
    inBdat: [['EHLO fuzz.test\r\n', /250 /], ['MAIL FROM:<a@fuzz.test>\r\n', /250 /], [`RCPT TO:<${USER}>\r\n`, /250 /], ['BDAT 100\r\n', /$/]],
    midAuth: [['EHLO fuzz.test\r\n', /250 /], ['AUTH LOGIN\r\n', /334 /]],
  },
  alphabet: [
    'EHLO x', 'HELO x', 'MAIL FROM:<a@b.test>', 'MAIL FROM:<>', ` SIZE=10 BODY=8BITMIME`, `RCPT TO:<${USER}>`, 'RCPT TO:<postmaster>', 'DATA', 'BDAT 3',
    'BDAT 0 LAST', 'RSET', 'NOOP', 'QUIT', 'VRFY x', 'HELP', 'STARTTLS', 'AUTH PLAIN', `AUTH PLAIN ${PLAIN}`, 'AUTH LOGIN', '*', '=', '\r\n.\r\n', '.', '..',
    'Subject: x\r\n\r\nbody', 'From: a@b\r\n', '\n.\n', 'ü',
  ],
  probe: ['NOOP\r\n', /250 /],
  internalError: /^451 4\.3\.0 .*(internal|Internal)/m,
};

const POP3: Protocol = {
  name: 'pop3',
  greeting: /^\+OK /,
  states: {
    authorization: [],
    afterUser: [[`USER ${USER}\r\n`, /\+OK/]],
    transaction: [[`USER ${USER}\r\n`, /\+OK/], [`PASS ${PASSWORD}\r\n`, /\+OK.*\r\n.*$/]],
    midAuth: [['AUTH PLAIN\r\n', /\+ /]],
  },
  alphabet: [
    'USER x', `USER ${USER}`, `PASS ${PASSWORD}`, 'PASS x', 'STAT', 'LIST', 'LIST 1', 'RETR 1', 'TOP 1 0', 'DELE 1', 'RSET', 'NOOP', 'UIDL', 'UIDL 1',
    'CAPA', 'STLS', 'AUTH', 'AUTH PLAIN', `AUTH PLAIN ${PLAIN}`, 'APOP a b', 'UTF8', 'QUIT', '4294967296', '*', PLAIN,
  ],
  probe: ['NOOP\r\n', /^\+OK|-ERR/m],
  internalError: /SYS\/TEMP\] internal/,
};

async function startFuzzServer(t: TestContext, logLines: Array<Record<string, unknown>>): Promise<ImapTestServer> {
  const server = await startImapServer(t, {
    listeners: ['imap', 'imaps', 'smtp', 'pop3'],
    logLines,
    // Generous limits so the run is about parsing and state, not about being cut off.
    toml: '[limits]\nerrors_per_session = 1000\ncommand_timeout = "5s"',
  });
  for (let i = 0; i < 3; i++) await server.deliver(USER, sampleMessage(`m${i}`, `body ${i}\r\n`));
  return server;
}

async function enterState(client: RawClient, steps: Array<[string, RegExp]>): Promise<boolean> {
  for (const [send, expect] of steps) {
    const before = client.received.length;
    client.write(send);
    const reached = await client.waitFor({ test: (text: string) => expect.test(text.slice(before)) } as RegExp);
    if (!reached) return false;
  }
  return true;
}

function errorLogs(logLines: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return logLines.filter((line) => typeof line['level'] === 'number' && line['level'] >= 50);
}

async function fuzzProtocol(t: TestContext, protocol: Protocol): Promise<void> {
  const logLines: Array<Record<string, unknown>> = [];
  const server = await startFuzzServer(t, logLines);
  const port = server.port(protocol.name);
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...Object.keys(protocol.states)), protocolBytes(protocol.alphabet, 1500), cutPoints, async (state, input, cuts) => {
      logLines.length = 0;
      const client = await RawClient.open(port);
      try {
        assert.ok(await client.waitFor(protocol.greeting), `no ${protocol.name} greeting`);
        assert.ok(await enterState(client, protocol.states[state]!), `could not reach state ${state}: ${client.received}`);
        for (const piece of splitAt(input, cuts)) {
          client.write(piece);
          await new Promise((resolve) => setImmediate(resolve));
        }
        // Let the server work through the input; a session that hangs is caught by the probe below.
        await new Promise((resolve) => setTimeout(resolve, 30));
      } finally {
        client.socket.end();
        await withinTimeAsync(8000, `${protocol.name} session close after ${state}`, () => client.closed.then(() => undefined, () => undefined)).catch(() => client.socket.destroy());
      }
      assert.doesNotMatch(client.received, protocol.internalError, `${protocol.name} answered with an internal error in state ${state}`);
      // A fresh client is served normally: the server survived the input.
      const probe = await RawClient.open(port);
      try {
        assert.ok(await probe.waitFor(protocol.greeting), `no greeting after the input (${protocol.name}, ${state})`);
        probe.write(protocol.probe[0]);
        assert.ok(await probe.waitFor(protocol.probe[1]), `probe not answered: ${probe.received}`);
      } finally {
        probe.socket.destroy();
      }
      const errors = errorLogs(logLines);
      assert.deepEqual(errors, [], `${protocol.name} logged errors in state ${state}`);
    }),
    fuzzParameters(1 / 3, { numRuns: RUNS }),
  );
}

test('IMAP sessions: command mixes and noise in every state', { timeout: testTimeoutMs() }, (t) => fuzzProtocol(t, IMAP));
test('SMTP sessions: command mixes and noise in every state (DATA, BDAT, AUTH included)', { timeout: testTimeoutMs() }, (t) => fuzzProtocol(t, SMTP));
test('POP3 sessions: command mixes and noise in every state', { timeout: testTimeoutMs() }, (t) => fuzzProtocol(t, POP3));
