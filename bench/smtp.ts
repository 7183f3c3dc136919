/**
 * SMTP benchmark (`npm run bench -- smtp`): messages per second accepted AND durably delivered to
 * INBOX, 10 KiB messages, over 20 concurrent sessions and over 1 session, on the MX listener of a
 * full server (store with fsync on, in a temp dir on the repository's disk, not os.tmpdir()).
 *
 * In the same run, when the reference stack is up (../shared/refstack/start.sh writes
 * /tmp/refstack.ready), the same workload against Postfix delivering into Dovecot (timed until
 * every message is in the Maildir) and against Postfix's smtp-sink (a discard server: the
 * protocol's ceiling on this machine), with the ratios. Prints nothing; returns figures.
 *
 * `--storage postgres` (issue #9): the same load against `mailhaven serve` processes on the
 * PostgreSQL backend (MAILHAVEN_TEST_POSTGRES_URL, a fresh schema per run): one node, and two
 * nodes on one database with the sessions split over both; beside them one `mailhaven serve` on
 * SQLite, run the same way (a separate process, logs at info to /dev/null).
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashPassword } from '../src/auth/password.js';
import { createSharedAuth, openStore, protocolHandlers } from '../src/compose.js';
import { loadConfig } from '../src/config/index.js';
import { LocalChangeBus } from '../src/events/local.js';
import { createLogger } from '../src/log/index.js';
import { startServer } from '../src/server.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { DEFAULT_TEST_POSTGRES_URL, dropSchema, freshSchemaName } from '../src/store/postgres/testing.js';
import type { MailStore } from '../src/store/types.js';
import { freePort, waitForPort } from './ports.js';

export interface BenchSmtpOptions {
  /** Messages per run; default 5000 (the workload). */
  messages?: number;
  /** Concurrent sessions to measure; default [20, 1]. */
  sessions?: number[];
  /** Parent directory of the temp data dir; default `<cwd>/.tmp`. */
  dir?: string;
  /** Also run against Postfix+Dovecot and smtp-sink when /tmp/refstack.ready exists; default true. */
  reference?: boolean;
  /** `postgres`: server processes on PostgreSQL (1 and 2 nodes) beside one on SQLite. */
  storage?: 'sqlite' | 'postgres';
}

const MESSAGE_SIZE = 10 * 1024;
const REFSTACK_READY = '/tmp/refstack.ready';
/** A refstack user the other benchmarks leave alone. */
const REFSTACK_USER = 'user197';

interface Target {
  port: number;
  recipient: string;
}

export async function benchSmtp(opts: BenchSmtpOptions = {}): Promise<Record<string, number>> {
  const total = opts.messages ?? 5000;
  const levels = opts.sessions ?? [20, 1];
  if (opts.storage === 'postgres') return benchStorage(opts.dir ?? join(process.cwd(), '.tmp'), total, levels);
  const results: Record<string, number> = {};
  for (const sessions of levels) {
    results[`mailhaven.s${sessions}.perSecond`] = await benchMailhaven(opts.dir ?? join(process.cwd(), '.tmp'), total, sessions);
  }
  if ((opts.reference ?? true) && existsSync(REFSTACK_READY)) {
    const ready = readReady();
    for (const sessions of levels) {
      const postfix = await benchPostfixDovecot(ready, total, sessions);
      const sink = await benchSink(total, sessions);
      const ours = results[`mailhaven.s${sessions}.perSecond`] ?? 0;
      results[`postfixDovecot.s${sessions}.perSecond`] = postfix;
      results[`smtpSink.s${sessions}.perSecond`] = sink;
      results[`ratio.s${sessions}.vsPostfixDovecot`] = Number((ours / postfix).toFixed(2));
      results[`ratio.s${sessions}.vsSmtpSink`] = Number((ours / sink).toFixed(2));
    }
  }
  return results;
}

// --- Mailhaven ------------------------------------------------------------------------------

async function benchMailhaven(parent: string, total: number, sessions: number): Promise<number> {
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'bench-smtp-'));
  const file = join(dir, 'mailhaven.toml');
  const listeners = ['submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s', 'http'].map((name) => `${name} = []`);
  // No SPF/DKIM/DMARC checks (as in the refstack's Postfix): for the made-up sender domain they
  // only wait on DNS, which would measure the resolver, not the server.
  await writeFile(file, ['hostname = "bench.example"', 'data_dir = "data"', '[mail_auth]', 'verify = false', '[listen]', 'smtp = ["127.0.0.1:0"]', ...listeners, ''].join('\n'));
  const config = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 1000 });
  const logger = createLogger({ level: 'silent' });
  const bus = new LocalChangeBus();
  const store = await openStore(config, bus, logger, { server: true });
  try {
    await store.addDomain('bench.example');
    const account = await store.addAccount('bench@bench.example', '$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA', null);
    const server = await startServer(config, { store, bus, logger }, await protocolHandlers(await createSharedAuth(config, store)));
    try {
      const port = server.addresses().smtp[0]?.port ?? 0;
      const seconds = await send({ port, recipient: 'bench@bench.example' }, total, sessions);
      const inbox = await store.getMailbox(account.id, 'INBOX');
      const stored = inbox === null ? 0 : (await store.listMessages(inbox.id)).length;
      if (stored !== total) throw new Error(`expected ${total} messages in INBOX, found ${stored}`);
      return Math.round(total / seconds);
    } finally {
      await server.close(1000);
    }
  } finally {
    await store.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// --- Mailhaven as server processes: SQLite, PostgreSQL with one and two nodes ----------------

const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');
/** The nodes log as configured by default (info: a line per connection and command, to /dev/null here); MAILHAVEN_BENCH_LOG_LEVEL=warn measures without. */
const LOG_LEVEL = process.env.MAILHAVEN_BENCH_LOG_LEVEL ?? 'info';
const TSX = import.meta.resolve('tsx');
/** Recipients of the runs: one account (all writes to one mailbox), or one per session. */
const benchRecipients = (accounts: number): string[] => Array.from({ length: accounts }, (_, i) => `bench${i}@bench.example`);

interface Backend {
  /** `[storage]` lines of the config. */
  storage: string[];
  /** Opens the store the nodes use (setup and counting, from this process). */
  open(dataDir: string): Promise<MailStore>;
  drop(): Promise<void>;
}

async function benchStorage(parent: string, total: number, levels: number[]): Promise<Record<string, number>> {
  const results: Record<string, number> = {};
  const record = (key: string, value: number): void => {
    results[key] = value;
    // Progress on stderr: a long run that is cut short still tells what it measured.
    console.error(`# smtp ${key}\t${value}`);
  };
  for (const sessions of levels) {
    record(`sqlite.1node.s${sessions}.perSecond`, await benchNodes(parent, sqliteBackend(), 1, total, sessions));
    record(`postgres.1node.s${sessions}.perSecond`, await benchNodes(parent, postgresBackend(), 1, total, sessions));
    // One session cannot be split over two nodes.
    if (sessions > 1) record(`postgres.2nodes.s${sessions}.perSecond`, await benchNodes(parent, postgresBackend(), 2, total, sessions));
    // Writes to one account are serialized (docs/postgres.md, Limits): the same load spread over
    // one account per session is what several nodes are for.
    if (sessions > 1) {
      record(`sqlite.1node.s${sessions}.accounts${sessions}.perSecond`, await benchNodes(parent, sqliteBackend(), 1, total, sessions, sessions));
      record(`postgres.1node.s${sessions}.accounts${sessions}.perSecond`, await benchNodes(parent, postgresBackend(), 1, total, sessions, sessions));
      record(`postgres.2nodes.s${sessions}.accounts${sessions}.perSecond`, await benchNodes(parent, postgresBackend(), 2, total, sessions, sessions));
    }
    const sqlite = results[`sqlite.1node.s${sessions}.perSecond`] ?? 0;
    results[`ratio.s${sessions}.postgres1nodeVsSqlite`] = Number(((results[`postgres.1node.s${sessions}.perSecond`] ?? 0) / sqlite).toFixed(2));
    if (sessions > 1) results[`ratio.s${sessions}.postgres2nodesVsSqlite`] = Number(((results[`postgres.2nodes.s${sessions}.perSecond`] ?? 0) / sqlite).toFixed(2));
  }
  return results;
}

function sqliteBackend(): Backend {
  return {
    storage: [],
    open: async (dataDir) => {
      const file = join(dataDir, '..', 'setup.toml');
      await writeFile(file, ['hostname = "bench.example"', `data_dir = "${dataDir}"`, ''].join('\n'));
      const config = loadConfig({ configPath: file, env: {}, cwd: dataDir, uid: 1000 });
      return openStore(config, new LocalChangeBus(), createLogger({ level: 'silent' }), { server: false });
    },
    drop: () => Promise.resolve(),
  };
}

function postgresBackend(): Backend {
  const base = process.env.MAILHAVEN_TEST_POSTGRES_URL ?? DEFAULT_TEST_POSTGRES_URL;
  const schema = freshSchemaName();
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    storage: ['[storage]', 'backend = "postgres"', `url = "${url.toString()}"`],
    open: () => openPostgresStore({ url: url.toString(), listen: false, sweepIntervalMs: 0 }),
    drop: () => dropSchema(base, schema),
  };
}

/** `nodes` × `mailhaven serve` on one backend; the sessions go round-robin over the nodes. */
async function benchNodes(parent: string, backend: Backend, nodes: number, total: number, sessions: number, accounts = 1): Promise<number> {
  const recipients = benchRecipients(accounts);
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'bench-smtp-nodes-'));
  const running: ChildProcess[] = [];
  try {
    const setup = await backend.open(join(dir, 'node0-data'));
    try {
      await setup.addDomain('bench.example');
      const hash = await hashPassword('bench password');
      for (const address of recipients) await setup.addAccount(address, hash, null);
    } finally {
      await setup.close();
    }
    const ports: number[] = [];
    for (let n = 0; n < nodes; n++) {
      const port = await freePort();
      const file = join(dir, `node${n}.toml`);
      const off = ['submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s', 'http'].map((name) => `${name} = []`);
      // Node 0 uses the data dir the setup made (SQLite keeps the store there). No SPF/DKIM/DMARC
      // checks: they wait on DNS for the made-up sender domain, and this measures the storage.
      await writeFile(file, [`hostname = "node${n}.bench.example"`, `data_dir = "node${n}-data"`, ...backend.storage, '[mail_auth]', 'verify = false', '[log]', `level = "${LOG_LEVEL}"`, '[listen]', `smtp = ["127.0.0.1:${port}"]`, ...off, ''].join('\n'));
      const child = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', '--config', file], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, MAILHAVEN_CONFIG: '' } });
      running.push(child);
      await waitForPort(port, 600);
      ports.push(port);
    }
    // Session i: node i mod nodes, recipient i mod accounts.
    const targets = Array.from({ length: Math.max(sessions, nodes) }, (_, i) => ({ port: ports[i % nodes]!, recipient: recipients[i % accounts]! }));
    const seconds = await send(targets, total, sessions);
    const check = await backend.open(join(dir, 'node0-data'));
    try {
      let stored = 0;
      for (const address of recipients) {
        const account = await check.getAccount(address);
        const inbox = account === null ? null : await check.getMailbox(account.id, 'INBOX');
        stored += inbox === null ? 0 : (await check.listMessages(inbox.id)).length;
      }
      if (stored !== total) throw new Error(`expected ${total} messages in INBOX, found ${stored}`);
    } finally {
      await check.close();
    }
    return Math.round(total / seconds);
  } finally {
    await Promise.all(
      running.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await backend.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

// --- the reference stack --------------------------------------------------------------------

function readReady(): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of readFileSync(REFSTACK_READY, 'utf8').split('\n')) {
    const equals = line.indexOf('=');
    if (equals > 0) values[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return values;
}

/** Postfix accepts and queues; Dovecot stores. Timed until the last message is in the Maildir. */
async function benchPostfixDovecot(ready: Record<string, string>, total: number, sessions: number): Promise<number> {
  const domain = ready.DOMAIN ?? 'example.test';
  const maildir = join(ready.MAIL_ROOT ?? '/tmp/refstack/mail', domain, REFSTACK_USER, 'Maildir');
  const before = countMaildir(maildir);
  const started = process.hrtime.bigint();
  await send({ port: Number(ready.SMTP_PORT ?? 10025), recipient: `${REFSTACK_USER}@${domain}` }, total, sessions);
  const deadline = Date.now() + 600_000;
  while (countMaildir(maildir) < before + total) {
    if (Date.now() > deadline) throw new Error('Postfix+Dovecot did not deliver every message within 10 minutes');
    await sleep(20);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await cleanMailbox(ready);
  return Math.round(total / seconds);
}

function countMaildir(maildir: string): number {
  let count = 0;
  for (const sub of ['new', 'cur']) {
    try {
      count += readdirSync(join(maildir, sub)).length;
    } catch {
      // not created yet
    }
  }
  return count;
}

/** Empties the benchmark user's INBOX through doveadm, so repeated runs do not grow it. */
async function cleanMailbox(ready: Record<string, string>): Promise<void> {
  const user = `${REFSTACK_USER}@${ready.DOMAIN ?? 'example.test'}`;
  const conf = ready.DOVECOT_CONF === undefined ? [] : ['-c', ready.DOVECOT_CONF];
  await new Promise<void>((resolve) => {
    // Best effort: the figures come from counting files, not from this.
    execFile('doveadm', [...conf, 'expunge', '-u', user, 'mailbox', 'INBOX', 'all'], () => resolve());
  });
}

/** smtp-sink accepts and discards: what SMTP itself costs on this machine. */
async function benchSink(total: number, sessions: number): Promise<number> {
  const port = await freePort();
  // smtp-sink refuses to run as root without a user to switch to.
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const sink: ChildProcess = spawn('/usr/sbin/smtp-sink', [...user, '-c', `127.0.0.1:${port}`, '1000'], { stdio: 'ignore' });
  try {
    await waitForPort(port);
    const seconds = await send({ port, recipient: 'sink@example.test' }, total, sessions);
    return Math.round(total / seconds);
  } finally {
    sink.kill('SIGTERM');
  }
}

// --- the load generator ---------------------------------------------------------------------

/**
 * Sends `total` messages over `sessions` connections (PIPELINING: MAIL/RCPT/DATA in one write),
 * session i to target i mod the number of targets. Returns seconds.
 */
async function send(targets: Target | Target[], total: number, sessions: number): Promise<number> {
  const list = Array.isArray(targets) ? targets : [targets];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: sessions }, async (_, i) => {
      const target = list[i % list.length]!;
      const client = await BenchClient.open(target.port);
      try {
        await client.expect(250, 'EHLO bench-client.example');
        while (next < total) {
          const body = benchMessage(next++);
          client.write(`MAIL FROM:<sender@bench-client.example>\r\nRCPT TO:<${target.recipient}>\r\nDATA\r\n`);
          await client.reply(250);
          await client.reply(250);
          await client.reply(354);
          client.write(body);
          await client.reply(250);
        }
        client.write('QUIT\r\n');
        await client.reply(221);
      } finally {
        client.close();
      }
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** A 10 KiB message with 78-octet lines, dot-stuffed and terminated. */
function benchMessage(n: number): Buffer {
  const head = `From: sender@bench-client.example\r\nTo: bench\r\nSubject: bench ${n}\r\nMessage-ID: <${n}.${Date.now()}@bench-client.example>\r\n\r\n`;
  const line = `${'benchmark line '.repeat(6).slice(0, 76)}\r\n`;
  const lines = Math.ceil((MESSAGE_SIZE - head.length) / line.length);
  return Buffer.from(`${head}${line.repeat(lines)}.\r\n`, 'ascii');
}

class BenchClient {
  #buffer = '';
  #waiter: (() => void) | null = null;
  #closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<BenchClient> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const client = new BenchClient(socket);
    await client.reply(220);
    return client;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async expect(code: number, line: string): Promise<void> {
    this.write(`${line}\r\n`);
    await this.reply(code);
  }

  /** Reads one (possibly multi-line) reply and checks its code. */
  async reply(code: number): Promise<void> {
    for (;;) {
      const match = /^(\d{3})(?:-[^\n]*\n\1)*[ ][^\n]*\n/.exec(this.#buffer);
      if (match !== null) {
        this.#buffer = this.#buffer.slice(match[0].length);
        if (Number(match[1]) !== code) throw new Error(`expected ${code}, got ${match[0].trim()}`);
        return;
      }
      if (this.#closed) throw new Error(`connection closed waiting for ${code}`);
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }
}
