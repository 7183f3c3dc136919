/**
 * POP3 benchmark (`npm run bench -- pop3`), the workload of the POP3 issue:
 *
 * - RETR of 1,000 messages of 100 KiB in one session, one command at a time as fetchmail and
 *   getmail do (messages/s and MB/s, 1 MB = 10^6 octets);
 * - STAT, LIST and UIDL of a 50,000-message maildrop (ms per command, and the login that takes
 *   the snapshot), median of 3 sessions.
 *
 * Mailhaven runs a full server on a fresh data dir on the repository's disk (not os.tmpdir(),
 * which may be a RAM disk), plaintext POP3 on loopback (this measures POP3, not TLS). In the
 * same run, when the reference stack is up (../shared/refstack/start.sh writes
 * /tmp/refstack.ready) and this process may write its Maildirs (root), the same workload
 * against Dovecot's POP3, with the ratios (> 1: Mailhaven is faster). Prints nothing; returns
 * figures.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { hashPassword } from '../src/auth/password.js';
import { createSharedAuth, openStore, protocolHandlers } from '../src/compose.js';
import { loadConfig } from '../src/config/index.js';
import { LocalChangeBus } from '../src/events/local.js';
import { createLogger } from '../src/log/index.js';
import { indexMessage } from '../src/mime/indexer.js';
import { startServer } from '../src/server.js';
import type { Id, MailStore, NewMessage } from '../src/store/types.js';

export interface BenchPop3Options {
  /** Messages retrieved; default 1000. */
  retrMessages?: number;
  /** Octets per retrieved message; default 100 KiB. */
  retrSize?: number;
  /** Maildrop size for STAT/LIST/UIDL; default 50,000. */
  listMessages?: number;
  /** Parent directory of the temp data dir; default `<cwd>/.tmp`. */
  dir?: string;
  /** Also run against Dovecot when /tmp/refstack.ready exists; default true. */
  reference?: boolean;
}

interface Workload {
  retrMessages: number;
  retrSize: number;
  listMessages: number;
}

interface Figures {
  retrPerSecond: number;
  retrMBps: number;
  loginMs: number;
  statMs: number;
  listMs: number;
  uidlMs: number;
}

const REFSTACK_READY = '/tmp/refstack.ready';
/** Refstack users no other benchmark touches. */
const DOVECOT_RETR_USER = 'user160';
const DOVECOT_LIST_USER = 'user161';
const PASSWORD = 'bench password';
const REPEATS = 3;

export async function benchPop3(opts: BenchPop3Options = {}): Promise<Record<string, number>> {
  const workload: Workload = { retrMessages: opts.retrMessages ?? 1000, retrSize: opts.retrSize ?? 100 * 1024, listMessages: opts.listMessages ?? 50_000 };
  const results: Record<string, number> = {};
  const ours = await benchMailhaven(opts.dir ?? join(process.cwd(), '.tmp'), workload);
  record(results, 'mailhaven', ours);
  if ((opts.reference ?? true) && existsSync(REFSTACK_READY) && process.getuid?.() === 0) {
    const dovecot = await benchDovecot(readReady(), workload);
    record(results, 'dovecot', dovecot);
    results['ratio.retrPerSecond'] = round(ours.retrPerSecond / dovecot.retrPerSecond);
    // Times: lower is better, so the ratio is theirs over ours.
    results['ratio.stat'] = round(dovecot.statMs / ours.statMs);
    results['ratio.list'] = round(dovecot.listMs / ours.listMs);
    results['ratio.uidl'] = round(dovecot.uidlMs / ours.uidlMs);
    results['ratio.login'] = round(dovecot.loginMs / ours.loginMs);
  }
  return results;
}

function record(results: Record<string, number>, name: string, figures: Figures): void {
  for (const [key, value] of Object.entries(figures) as Array<[string, number]>) results[`${name}.${key}`] = round(value);
}

function round(value: number): number {
  return Number(value.toFixed(2));
}

// ---- Mailhaven ---------------------------------------------------------------------------------

async function benchMailhaven(parent: string, workload: Workload): Promise<Figures> {
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'bench-pop3-'));
  const file = join(dir, 'mailhaven.toml');
  const off = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3s', 'http'].map((name) => `${name} = []`);
  await writeFile(file, ['hostname = "bench.example"', 'data_dir = "data"', '[auth]', 'allow_plaintext_on_loopback = true', '[listen]', 'pop3 = ["127.0.0.1:0"]', ...off, ''].join('\n'));
  const config = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 1000 });
  const logger = createLogger({ level: 'silent' });
  const bus = new LocalChangeBus();
  const store = await openStore(config, bus, logger, { server: true });
  try {
    await store.addDomain('example.org');
    const hash = await hashPassword(PASSWORD);
    const retrUser = await addUser(store, 'retr@example.org', hash);
    const listUser = await addUser(store, 'list@example.org', hash);
    await fillRetr(store, retrUser, workload);
    await fillList(store, listUser, workload.listMessages);
    const server = await startServer(config, { store, bus, logger }, await protocolHandlers(await createSharedAuth(config, store), { pop3: { retentionIntervalMs: 0 } }));
    try {
      const port = server.addresses().pop3[0]!.port;
      const retr = await measureRetr(port, 'retr@example.org', PASSWORD, workload);
      const listing = await measureListing(port, 'list@example.org', PASSWORD, workload.listMessages);
      return { ...retr, ...listing };
    } finally {
      await server.close(2000);
    }
  } finally {
    await store.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function addUser(store: MailStore, address: string, hash: string): Promise<{ accountId: Id; inboxId: Id }> {
  const account = await store.addAccount(address, hash, null);
  const inbox = await store.getMailbox(account.id, 'INBOX');
  return { accountId: account.id, inboxId: inbox!.id };
}

/** Distinct messages (one blob each), appended 50 at a time. */
async function fillRetr(store: MailStore, user: { accountId: Id; inboxId: Id }, workload: Workload): Promise<void> {
  for (let start = 0; start < workload.retrMessages; start += 50) {
    const batch: NewMessage[] = [];
    for (let i = start; i < Math.min(start + 50, workload.retrMessages); i++) {
      const bytes = benchMessage(i, workload.retrSize, '\r\n');
      const writer = store.createBlobWriter();
      await writer.write(bytes);
      batch.push({ blob: await writer.finish(), index: indexMessage(bytes) });
    }
    await store.append(user.accountId, user.inboxId, batch);
  }
}

/** STAT/LIST/UIDL read no message bodies: 1,000 rows share each staged blob (one fsync per batch). */
async function fillList(store: MailStore, user: { accountId: Id; inboxId: Id }, count: number): Promise<void> {
  const bytes = benchMessage(0, 2048, '\r\n');
  const index = indexMessage(bytes);
  for (let start = 0; start < count; start += 1000) {
    const writer = store.createBlobWriter();
    await writer.write(bytes);
    const blob = await writer.finish();
    const batch = Array.from({ length: Math.min(1000, count - start) }, (): NewMessage => ({ blob, index }));
    await store.append(user.accountId, user.inboxId, batch);
  }
}

// ---- Dovecot -----------------------------------------------------------------------------------

type Ready = Record<string, string>;

function readReady(): Ready {
  const ready: Ready = {};
  for (const line of readFileSync(REFSTACK_READY, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) ready[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return ready;
}

async function benchDovecot(ready: Ready, workload: Workload): Promise<Figures> {
  const domain = ready.DOMAIN ?? 'example.test';
  const port = Number(ready.POP3_PORT ?? 10110);
  const password = ready.PASS ?? 'pass';
  const root = ready.MAIL_ROOT ?? '/tmp/refstack/mail';
  await writeMaildir(join(root, domain, DOVECOT_RETR_USER), workload.retrMessages, (i) => benchMessage(i, workload.retrSize, '\n'));
  const listBody = benchMessage(0, 2048, '\n');
  await writeMaildir(join(root, domain, DOVECOT_LIST_USER), workload.listMessages, () => listBody);
  const retrUser = `${DOVECOT_RETR_USER}@${domain}`;
  const listUser = `${DOVECOT_LIST_USER}@${domain}`;
  // First logins index the new Maildirs: not part of the measurement.
  await warmUp(port, retrUser, password);
  await warmUp(port, listUser, password);
  const retr = await measureRetr(port, retrUser, password, workload);
  const listing = await measureListing(port, listUser, password, workload.listMessages);
  return { ...retr, ...listing };
}

/**
 * A fresh Maildir owned by Dovecot's vmail user, messages in cur/ with their sizes in the name
 * (S= real, W= with CRLF) as Dovecot's own delivery writes them, so no file is read to size it.
 */
async function writeMaildir(home: string, count: number, body: (i: number) => Buffer): Promise<void> {
  const maildir = join(home, 'Maildir');
  await rm(maildir, { recursive: true, force: true });
  for (const sub of ['', 'cur', 'new', 'tmp']) await mkdir(join(maildir, sub), { recursive: true, mode: 0o700 });
  const base: number = Math.floor(Date.now() / 1000) - count;
  for (let i = 0; i < count; i++) {
    const bytes = body(i);
    const lines = bytes.reduce((n, byte) => n + (byte === 0x0a ? 1 : 0), 0);
    await writeFile(join(maildir, 'cur', `${base + i}.M${i}P1.bench,S=${bytes.length},W=${bytes.length + lines}:2,`), bytes);
  }
  execFileSync('chown', ['-R', '999:995', home]);
  await chown(home, 999, 995);
}

async function warmUp(port: number, user: string, password: string): Promise<void> {
  const client = await Pop3Client.open(port);
  await client.login(user, password);
  await client.multiline('LIST');
  await client.command('QUIT');
  client.close();
}

// ---- measurement -------------------------------------------------------------------------------

async function measureRetr(port: number, user: string, password: string, workload: Workload): Promise<Pick<Figures, 'retrPerSecond' | 'retrMBps'>> {
  const client = await Pop3Client.open(port);
  await client.login(user, password);
  let octets = 0;
  const started = process.hrtime.bigint();
  for (let n = 1; n <= workload.retrMessages; n++) octets += await client.multiline(`RETR ${n}`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await client.command('QUIT');
  client.close();
  return { retrPerSecond: workload.retrMessages / seconds, retrMBps: octets / seconds / 1e6 };
}

async function measureListing(port: number, user: string, password: string, count: number): Promise<Pick<Figures, 'loginMs' | 'statMs' | 'listMs' | 'uidlMs'>> {
  const samples = { loginMs: [] as number[], statMs: [] as number[], listMs: [] as number[], uidlMs: [] as number[] };
  for (let i = 0; i < REPEATS; i++) {
    const client = await Pop3Client.open(port);
    samples.loginMs.push(await timed(() => client.login(user, password)));
    samples.statMs.push(await timed(() => client.command('STAT')));
    samples.listMs.push(await timed(async () => expectLines(await client.multilineLines('LIST'), count)));
    samples.uidlMs.push(await timed(async () => expectLines(await client.multilineLines('UIDL'), count)));
    await client.command('QUIT');
    client.close();
  }
  return { loginMs: median(samples.loginMs), statMs: median(samples.statMs), listMs: median(samples.listMs), uidlMs: median(samples.uidlMs) };
}

function expectLines(lines: number, count: number): void {
  if (lines !== count) throw new Error(`expected ${count} listing lines, got ${lines}`);
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** A message of about `size` octets with 76-character lines and the given line end. */
function benchMessage(n: number, size: number, eol: string): Buffer {
  const head = `From: bench@example.net${eol}To: user@example.org${eol}Subject: bench message ${n}${eol}Message-ID: <bench-${n}@example.net>${eol}${eol}`;
  const line = `${`message ${n} `.padEnd(74, 'x')}${eol}`;
  const lines = Math.max(1, Math.floor((size - head.length) / line.length));
  return Buffer.from(head + line.repeat(lines), 'latin1');
}

/** The leanest client that can drive the benchmark: counts octets, parses nothing it need not. */
class Pop3Client {
  #socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #waiter: (() => void) | null = null;
  #ended = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#waiter?.();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#waiter?.();
    });
  }

  static async open(port: number): Promise<Pop3Client> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new Pop3Client(socket);
    await client.#line();
    return client;
  }

  async login(user: string, password: string): Promise<void> {
    await this.command(`USER ${user}`);
    const reply = await this.command(`PASS ${password}`);
    if (!reply.startsWith('+OK')) throw new Error(`login failed: ${reply}`);
  }

  async command(line: string): Promise<string> {
    this.#socket.write(`${line}\r\n`);
    return this.#line();
  }

  /** Sends a command with a multi-line answer; returns the octets received for it. */
  async multiline(line: string): Promise<number> {
    this.#socket.write(`${line}\r\n`);
    const status = await this.#line();
    if (!status.startsWith('+OK')) throw new Error(`${line}: ${status}`);
    let octets = 0;
    for (;;) {
      const end = this.#buffer.indexOf('\r\n.\r\n');
      // The body may start with the terminator itself (an empty listing).
      if (octets === 0 && this.#buffer.subarray(0, 3).toString('latin1') === '.\r\n') {
        this.#buffer = this.#buffer.subarray(3);
        return 0;
      }
      if (end !== -1) {
        octets += end + 2;
        this.#buffer = this.#buffer.subarray(end + 5);
        return octets;
      }
      // Keep the last 4 octets: the terminator may straddle two chunks.
      const keep = Math.min(4, this.#buffer.length);
      octets += this.#buffer.length - keep;
      this.#buffer = this.#buffer.subarray(this.#buffer.length - keep);
      await this.#wait();
    }
  }

  /** A multi-line answer's line count. */
  async multilineLines(line: string): Promise<number> {
    this.#socket.write(`${line}\r\n`);
    const status = await this.#line();
    if (!status.startsWith('+OK')) throw new Error(`${line}: ${status}`);
    let lines = 0;
    for (;;) {
      const lf = this.#buffer.indexOf(0x0a);
      if (lf === -1) {
        await this.#wait();
        continue;
      }
      const isEnd = lf === 2 && this.#buffer[0] === 0x2e;
      this.#buffer = this.#buffer.subarray(lf + 1);
      if (isEnd) return lines;
      lines++;
    }
  }

  close(): void {
    this.#socket.destroy();
  }

  async #line(): Promise<string> {
    for (;;) {
      const lf = this.#buffer.indexOf(0x0a);
      if (lf !== -1) {
        const line = this.#buffer.subarray(0, lf).toString('latin1').replace(/\r$/, '');
        this.#buffer = this.#buffer.subarray(lf + 1);
        return line;
      }
      await this.#wait();
    }
  }

  #wait(): Promise<void> {
    if (this.#ended) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve) => {
      this.#waiter = () => {
        this.#waiter = null;
        resolve();
      };
    });
  }
}
