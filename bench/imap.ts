/**
 * IMAP benchmark, Mailhaven and Dovecot (../shared/refstack) side by side in one run, same
 * machine, same messages, same client code:
 *
 * - FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE) over 10,000 and 100,000 messages
 *   (seconds for the whole response, after one warm-up pass each);
 * - SEARCH TEXT over 10,000 messages (seconds per search, unique bodies);
 * - APPEND with 10 concurrent clients (messages/s, durable on both sides);
 * - mixed load: 10 clients looping SELECT / FETCH / STORE / SEARCH / NOOP (commands/s);
 * - memory per session with idle connections in IDLE (KiB: growth of the proportional set
 *   size, PSS, divided by the connections; ours: the one server process after a full GC, plus
 *   its JS heap growth as a second figure; Dovecot: its imap processes, one per connection,
 *   capped at 1,500 by its process_limit of 2000).
 *
 * 100,000 messages take a few minutes to seed: ours through the store API (blob writes with
 * fsync, 500 rows per transaction), Dovecot's as Maildir files (kept between runs when they are
 * still exactly these messages). `MAILHAVEN_BENCH_PROFILE=DIR` writes a CPU profile of our server.
 *
 * Every timed figure is the median of 3 rounds in which the servers take turns (the machine is
 * shared: load that comes and goes must not favour whoever ran first).
 *
 * Mailhaven runs in a child process (this file with MAILHAVEN_BENCH_CHILD=1) so that client
 * work and server memory are measured apart, as they are for Dovecot. Dovecot must be running
 * (`../shared/refstack/start.sh`); without it only our figures are printed. Messages are written
 * into our store directly and into Dovecot's Maildir directly (both then index on first access).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const USER_PASSWORD = 'bench-pass';
const FETCH_ITEMS = '(UID FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE)';

export interface BenchImapOptions {
  /** Sizes of the FETCH mailboxes; default [10000, 100000]. */
  fetchSizes?: number[];
  /** Messages in the SEARCH mailbox; default 10000. */
  searchSize?: number;
  /** Idle connections per server; default 5000 for us, min(that, 1500) for Dovecot. */
  idleConnections?: number;
  /** Seconds of mixed load; default 10. */
  mixedSeconds?: number;
  /** Rounds per timed figure, servers taking turns; the median is reported. Default 3. */
  rounds?: number;
  /** Which servers to measure; default both (Dovecot only when the refstack runs). */
  servers?: Array<'mailhaven' | 'dovecot'>;
  /** Figures to measure; default all. */
  only?: Array<'fetch' | 'search' | 'mixed' | 'append' | 'idle'>;
  /**
   * `postgres` (issue #9): also ours on PostgreSQL (MAILHAVEN_TEST_POSTGRES_URL, a fresh schema
   * each), one node (`mailhavenPostgres`) and two sharing the schema (`mailhavenPostgres2nodes`:
   * APPEND and mixed-load clients alternate between them), beside ours on SQLite.
   */
  storage?: 'sqlite' | 'postgres';
}

// ---- messages ----------------------------------------------------------------------------------

const WORDS = ['alpha', 'budget', 'cluster', 'delta', 'engine', 'forecast', 'garden', 'harbor', 'island', 'jungle', 'kernel', 'lantern', 'meadow', 'nectar', 'orbit', 'pepper', 'quartz', 'river', 'summit', 'timber'];

/** A deterministic message of about 2–4 KiB; every 5th is multipart with an attachment. */
export function benchMessage(n: number): Buffer {
  const word = (k: number): string => WORDS[(n * 7 + k * 13) % WORDS.length]!;
  const body = Array.from({ length: 20 + (n % 20) }, (_, line) => `${word(line)} ${word(line + 1)} report line ${line} for item ${n} ${word(line + 2)}`).join('\r\n');
  const rare = n % 997 === 0 ? '\r\nthe needle zebrafish appears here\r\n' : '\r\n';
  const header =
    `From: "Sender ${n % 50}" <sender${n % 50}@example.org>\r\nTo: user@example.test\r\nSubject: ${word(1)} ${word(2)} ${n}\r\n` +
    `Date: Mon, 1 Jan 2024 ${String(n % 24).padStart(2, '0')}:00:00 +0000\r\nMessage-ID: <bench-${n}@example.org>\r\nMIME-Version: 1.0\r\n`;
  if (n % 5 !== 0) return Buffer.from(`${header}Content-Type: text/plain; charset=utf-8\r\n\r\n${body}${rare}`);
  return Buffer.from(
    `${header}Content-Type: multipart/mixed; boundary="b${n}"\r\n\r\n--b${n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}${rare}\r\n--b${n}\r\n` +
      `Content-Type: application/octet-stream; name="data-${n}.bin"\r\nContent-Disposition: attachment; filename="data-${n}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
      `${Buffer.alloc(600, n % 256).toString('base64')}\r\n--b${n}--\r\n`,
  );
}

// ---- a minimal IMAP client that never buffers a whole response --------------------------------

class BenchClient {
  #pending: { tag: string; resolve: (bytes: number) => void; reject: (e: Error) => void } | null = null;
  #tail = '';
  #partial = '';
  #bytes = 0;
  #tag = 0;
  #untagged: ((line: string) => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.#data(chunk));
    socket.on('error', (e) => this.#pending?.reject(e));
    socket.on('close', () => this.#pending?.reject(new Error('connection closed')));
  }

  static async open(port: number, user: string, password: string): Promise<BenchClient> {
    const socket = connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    const client = new BenchClient(socket);
    await client.#waitGreeting();
    await client.run(`LOGIN "${user}" "${password}"`);
    return client;
  }

  /** Sends a command, resolves with the octets of the whole response once the tagged line is in. */
  run(command: string): Promise<number> {
    const tag = `b${++this.#tag}`;
    this.#bytes = 0;
    const done = new Promise<number>((resolve, reject) => (this.#pending = { tag, resolve, reject }));
    this.socket.write(`${tag} ${command}\r\n`);
    return done;
  }

  /** APPEND with a synchronizing literal. */
  async append(mailbox: string, message: Buffer): Promise<void> {
    const tag = `b${++this.#tag}`;
    const continued = new Promise<void>((resolve) => (this.#untagged = (line) => line.startsWith('+') && resolve()));
    const done = new Promise<number>((resolve, reject) => (this.#pending = { tag, resolve, reject }));
    this.socket.write(`${tag} APPEND ${mailbox} {${message.length}}\r\n`);
    await continued;
    this.#untagged = null;
    this.socket.write(Buffer.concat([message, Buffer.from('\r\n')]));
    await done;
  }

  /** Enters IDLE and resolves on "+ idling". */
  async idle(): Promise<void> {
    const continued = new Promise<void>((resolve) => (this.#untagged = (line) => line.startsWith('+') && resolve()));
    this.socket.write(`i${++this.#tag} IDLE\r\n`);
    await continued;
    this.#untagged = null;
  }

  close(): void {
    this.socket.destroy();
  }

  #waitGreeting(): Promise<void> {
    return new Promise((resolve) => (this.#untagged = (line) => line.startsWith('* OK') && resolve()));
  }

  #data(chunk: Buffer): void {
    this.#bytes += chunk.length;
    const fresh = chunk.toString('latin1');
    if (this.#untagged !== null) {
      const lines = (this.#partial + fresh).split('\r\n');
      this.#partial = lines.pop() ?? '';
      for (const line of lines) this.#untagged?.(line);
    } else {
      this.#partial = '';
    }
    const pending = this.#pending;
    if (pending === null) return;
    // Only the tagged line matters: look for it in the new octets plus a little carry-over.
    const text = this.#tail + fresh;
    this.#tail = text.slice(-200);
    const at = text.startsWith(`${pending.tag} `) ? 0 : text.indexOf(`\r\n${pending.tag} `) + 2;
    if (at < 2 && !text.startsWith(`${pending.tag} `)) return;
    const end = text.indexOf('\r\n', at);
    if (end < 0) return;
    this.#pending = null;
    this.#tail = '';
    const line = text.slice(at, end);
    if (!/^\S+ OK/.test(line)) pending.reject(new Error(`server said: ${line}`));
    else pending.resolve(this.#bytes);
  }
}

// ---- the two servers ---------------------------------------------------------------------------

interface ServerUnderTest {
  name: string;
  port: number;
  /** Several nodes of one installation: client k of APPEND and the mixed load uses ports[k % n]. */
  ports?: number[];
  /** Puts `count` messages (benchMessage(0..count-1), or unique when `unique`) into `mailbox` of `user`. */
  populate(user: string, mailbox: string, count: number): Promise<void>;
  user(index: number): string;
  /** Users for the idle connections, spread so per-user connection limits do not bite. */
  idleUser(index: number): string;
  /**
   * Memory of the server side in KiB, as proportional set size (PSS, /proc/PID/smaps_rollup):
   * for us the one server process (after a full GC), for Dovecot the sum over its imap
   * processes (one per connection). For us also the JS heap plus external memory (`heapKib`):
   * what the sessions themselves hold, without the allocator's arenas.
   */
  memoryKiB(): Promise<{ kib: number; heapKib?: number }>;
  stop(): Promise<void>;
}

type ChildAsk = { op: 'populate'; user: string; mailbox: string; count: number } | { op: 'rss' } | { op: 'stop' };
type ChildRequest = ChildAsk & { id: number };

/** Client k's port: the nodes in turn (several nodes), else the one port. */
function portFor(server: ServerUnderTest, k: number): number {
  return server.ports?.[k % server.ports.length] ?? server.port;
}

/** Our server on PostgreSQL (`url`); `join`: another node of an installation already set up. */
interface OurStorage {
  url: string;
  join?: boolean;
}

async function startOurs(storage: OurStorage | null = null): Promise<ServerUnderTest> {
  // MAILHAVEN_BENCH_PROFILE=DIR writes a CPU profile of our server process into DIR.
  const profile = process.env.MAILHAVEN_BENCH_PROFILE;
  const execArgv = ['--import', 'tsx', '--expose-gc', ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [])];
  const child: ChildProcess = fork(SELF, [], { execArgv, env: { ...process.env, MAILHAVEN_BENCH_CHILD: '1', MAILHAVEN_BENCH_STORAGE_URL: storage?.url ?? '', MAILHAVEN_BENCH_JOIN: storage?.join === true ? '1' : '' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies = new Map<number, (value: unknown) => void>();
  let nextId = 0;
  child.on('message', (message: { id: number; value: unknown }) => replies.get(message.id)?.(message.value));
  const ask = <T>(request: ChildAsk): Promise<T> => {
    const id = ++nextId;
    return new Promise<T>((resolve) => {
      replies.set(id, resolve as (value: unknown) => void);
      child.send({ ...request, id });
    });
  };
  const [ready] = (await once(child, 'message')) as [{ port: number }];
  return {
    name: 'mailhaven',
    port: ready.port,
    user: (index) => `bench${index}@example.test`,
    idleUser: (index) => `bench${index % 10}@example.test`,
    populate: (user, mailbox, count) => ask({ op: 'populate', user, mailbox, count }),
    memoryKiB: () => ask<{ kib: number; heapKib: number }>({ op: 'rss' }),
    async stop() {
      const exited = once(child, 'exit');
      await ask({ op: 'stop' });
      // The child exits by itself (a CPU profile is written on a normal exit); kill as a fallback.
      const timer = setTimeout(() => child.kill(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Ours on a fresh PostgreSQL schema: one node, or two sharing it; the schema goes at stop. */
async function startOursOnPostgres(nodes: 1 | 2): Promise<ServerUnderTest> {
  const { DEFAULT_TEST_POSTGRES_URL, dropSchema, freshSchemaName } = await import('../src/store/postgres/testing.js');
  const base = process.env.MAILHAVEN_TEST_POSTGRES_URL ?? DEFAULT_TEST_POSTGRES_URL;
  const schema = freshSchemaName();
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const first = await startOurs({ url: url.toString() });
  const second = nodes === 2 ? await startOurs({ url: url.toString(), join: true }) : null;
  return {
    ...first,
    name: nodes === 1 ? 'mailhavenPostgres' : 'mailhavenPostgres2nodes',
    ports: second === null ? [first.port] : [first.port, second.port],
    async stop() {
      await first.stop();
      await second?.stop();
      await dropSchema(base, schema);
    },
  };
}

function readyFile(): Record<string, string> | null {
  if (!existsSync('/tmp/refstack.ready')) return null;
  return Object.fromEntries(
    readFileSync('/tmp/refstack.ready', 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** Dovecot users user170..user179 are the benchmark's (their Maildirs are rewritten). */
function startDovecot(ready: Record<string, string>): ServerUnderTest {
  const root = ready.MAIL_ROOT!;
  const owner = statSync(root);
  return {
    name: 'dovecot',
    port: Number(ready.IMAP_PORT),
    user: (index) => `user${170 + index}@example.test`,
    // mail_max_userip_connections is 100 in the refstack: 50 users, at most 30 each.
    idleUser: (index) => `user${100 + (index % 50)}@example.test`,
    async populate(user, mailbox, count) {
      const [local, domain] = user.split('@') as [string, string];
      const maildir = join(root, domain, local, 'Maildir');
      const folder = mailbox === 'INBOX' ? maildir : join(maildir, `.${mailbox}`);
      // Writing 100,000 files and letting Dovecot index them takes long: a Maildir left by an
      // earlier run with exactly these messages is kept.
      if (count > 0 && existsSync(join(folder, 'cur')) && readdirSync(join(folder, 'cur')).length === count && readdirSync(join(folder, 'new')).length === 0) return;
      rmSync(folder, { recursive: true, force: true });
      for (const sub of ['', 'cur', 'new', 'tmp']) {
        mkdirSync(join(folder, sub), { recursive: true });
        chownSync(join(folder, sub), owner.uid, owner.gid);
      }
      for (const dir of [join(root, domain, local), maildir]) chownSync(dir, owner.uid, owner.gid);
      for (let n = 0; n < count; n++) {
        const message = benchMessage(n);
        const file = join(folder, 'cur', `${1700000000 + n}.M${n}P1.bench,S=${message.length}:2,`);
        writeFileSync(file, message);
        chownSync(file, owner.uid, owner.gid);
      }
      await Promise.resolve();
    },
    async memoryKiB() {
      let total = 0;
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'imap') continue;
          const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
          total += Number(match?.[1] ?? 0);
        } catch {
          // the process ended meanwhile
        }
      }
      return Promise.resolve({ kib: total });
    },
    stop: () => Promise.resolve(),
  };
}

// ---- measurements ------------------------------------------------------------------------------

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function timed<T>(run: () => Promise<T>): Promise<number> {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
}

async function fetchAll(server: ServerUnderTest, user: string): Promise<number> {
  const client = await BenchClient.open(server.port, user, server.name === 'dovecot' ? 'pass' : USER_PASSWORD);
  try {
    await client.run('SELECT INBOX');
    await client.run(`FETCH 1:* ${FETCH_ITEMS}`); // warm-up: Dovecot builds its index and cache here
    return await timed(() => client.run(`FETCH 1:* ${FETCH_ITEMS}`));
  } finally {
    client.close();
  }
}

async function searchText(server: ServerUnderTest, user: string): Promise<number> {
  const client = await BenchClient.open(server.port, user, server.name === 'dovecot' ? 'pass' : USER_PASSWORD);
  try {
    await client.run('SELECT INBOX');
    await client.run('SEARCH TEXT zebrafish'); // warm-up
    const runs = 3;
    return (await timed(async () => {
      for (let i = 0; i < runs; i++) await client.run('SEARCH TEXT zebrafish');
    })) / runs;
  } finally {
    client.close();
  }
}

async function appendRate(server: ServerUnderTest, user: string, clients = 10, each = 40): Promise<number> {
  const password = server.name === 'dovecot' ? 'pass' : USER_PASSWORD;
  const connections = await Promise.all(Array.from({ length: clients }, (_, k) => BenchClient.open(portFor(server, k), user, password)));
  try {
    const seconds = await timed(() => Promise.all(connections.map(async (c, k) => {
      for (let i = 0; i < each; i++) await c.append('INBOX', benchMessage(100_000 + k * each + i));
    })));
    return (clients * each) / seconds;
  } finally {
    connections.forEach((c) => c.close());
  }
}

async function mixedLoad(server: ServerUnderTest, user: string, seconds: number, clients = 10): Promise<number> {
  const password = server.name === 'dovecot' ? 'pass' : USER_PASSWORD;
  const connections = await Promise.all(Array.from({ length: clients }, (_, k) => BenchClient.open(portFor(server, k), user, password)));
  let commands = 0;
  const deadline = performance.now() + seconds * 1000;
  try {
    await Promise.all(connections.map(async (c, k) => {
      await c.run('SELECT INBOX');
      for (let i = 0; performance.now() < deadline; i++) {
        const n = ((k * 131 + i * 17) % 900) + 1;
        await c.run(`FETCH ${n}:${n + 20} (UID FLAGS ENVELOPE)`);
        await c.run(`STORE ${n} ${i % 2 === 0 ? '+' : '-'}FLAGS (\\Seen)`);
        await c.run(`UID SEARCH SUBJECT ${WORDS[i % WORDS.length]}`);
        await c.run(`FETCH ${n} BODY.PEEK[]`);
        await c.run('NOOP');
        commands += 5;
      }
    }));
    return commands / seconds;
  } finally {
    connections.forEach((c) => c.close());
  }
}

async function idleMemory(server: ServerUnderTest, count: number): Promise<{ kib: number; heapKib?: number }> {
  const password = server.name === 'dovecot' ? 'pass' : USER_PASSWORD;
  // Warm-up: one batch of logins first, so the baseline already includes what a login costs
  // transiently (argon2id's 19 MiB per verification stays in the allocator's arenas).
  const warm = await Promise.all(Array.from({ length: 50 }, (_, k) => BenchClient.open(server.port, server.idleUser(k), password)));
  warm.forEach((c) => c.close());
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const before = await server.memoryKiB();
  const clients: BenchClient[] = [];
  try {
    for (let i = 0; i < count; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => BenchClient.open(server.port, server.idleUser(i + k), password)));
      await Promise.all(batch.map(async (c) => {
        await c.run('SELECT INBOX');
        await c.idle();
      }));
      clients.push(...batch);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = await server.memoryKiB();
    return {
      kib: (after.kib - before.kib) / count,
      ...(after.heapKib !== undefined && before.heapKib !== undefined ? { heapKib: (after.heapKib - before.heapKib) / count } : {}),
    };
  } finally {
    clients.forEach((c) => c.close());
  }
}

export async function benchImap(options: BenchImapOptions = {}): Promise<Record<string, number>> {
  const fetchSizes = options.fetchSizes ?? [10_000, 100_000];
  const searchSize = options.searchSize ?? 10_000;
  const idle = options.idleConnections ?? 5000;
  const mixedSeconds = options.mixedSeconds ?? 10;
  const wanted = options.servers ?? ['mailhaven', 'dovecot'];
  const only = new Set(options.only ?? ['fetch', 'search', 'mixed', 'append', 'idle']);
  const ready = readyFile();
  const servers: ServerUnderTest[] = wanted.includes('mailhaven') ? [await startOurs()] : [];
  if (!wanted.includes('dovecot')) {
    // only ours, on request
  } else if (ready !== null) servers.push(startDovecot(ready));
  else console.error('# dovecot: /tmp/refstack.ready not found (run ../shared/refstack/start.sh); only our figures');
  if (options.storage === 'postgres') servers.push(await startOursOnPostgres(1), await startOursOnPostgres(2));
  const results: Record<string, number> = {};
  const record = (key: string, server: ServerUnderTest, value: number): void => {
    results[`${key}.${server.name}`] = value;
    // Progress on stderr: a long run that is cut short still tells what it measured.
    console.error(`# imap ${key}.${server.name}\t${Number.isInteger(value) ? value : value.toFixed(3)}`);
  };
  // Each figure is measured `rounds` times, the servers taking turns, and the median is kept:
  // the machine is shared, and load that comes and goes must not favour whoever ran first.
  const rounds = Math.max(1, options.rounds ?? 3);
  const samples = new Map<string, number[]>();
  const sample = (key: string, server: ServerUnderTest, value: number): void => {
    const name = `${key}.${server.name}`;
    samples.set(name, [...(samples.get(name) ?? []), value]);
    console.error(`# imap ${name}\tround ${samples.get(name)!.length}: ${Number.isInteger(value) ? value : value.toFixed(3)}`);
  };
  const measure = async (key: string, run: (server: ServerUnderTest) => Promise<number>): Promise<void> => {
    for (let round = 0; round < rounds; round++) for (const server of servers) sample(key, server, await run(server));
    for (const server of servers) record(key, server, median(samples.get(`${key}.${server.name}`)!));
  };
  try {
    if (only.has('fetch')) {
      for (const [i, size] of fetchSizes.entries()) {
        for (const server of servers) await server.populate(server.user(i), 'INBOX', size);
        await measure(`fetch${size}.seconds`, (server) => fetchAll(server, server.user(i)));
      }
    }
    if (only.has('search') || only.has('mixed')) for (const server of servers) await server.populate(server.user(5), 'INBOX', searchSize);
    if (only.has('search')) await measure(`searchText${searchSize}.seconds`, (server) => searchText(server, server.user(5)));
    if (only.has('mixed')) await measure('mixed10.commandsPerSecond', (server) => mixedLoad(server, server.user(5), mixedSeconds));
    if (only.has('append')) {
      for (const server of servers) await server.populate(server.user(6), 'INBOX', 0);
      await measure('append10.messagesPerSecond', (server) => appendRate(server, server.user(6)));
    }
    for (const server of servers) {
      if (only.has('idle')) {
        const connections = server.name === 'dovecot' ? Math.min(idle, 1500) : idle;
        // Ours in a fresh process: the caches and freed arenas of the figures above would move
        // its PSS by more than the sessions weigh. (Dovecot's imap processes start fresh anyway.)
        const target = server.name === 'mailhaven' ? await startOurs() : server;
        const memory = await idleMemory(target, connections).finally(() => (target === server ? undefined : target.stop()));
        record('idle.kibPerSession', server, memory.kib);
        if (memory.heapKib !== undefined) record('idle.heapKibPerSession', server, memory.heapKib);
        record('idle.connections', server, connections);
      }
    }
  } finally {
    for (const server of servers) await server.stop();
  }
  // Ratios: above 1 means we are ahead (less time, more throughput, less memory).
  for (const key of Object.keys(results).filter((k) => k.endsWith('.mailhaven'))) {
    const base = key.slice(0, -'.mailhaven'.length);
    const theirs = results[`${base}.dovecot`];
    const ours = results[key]!;
    if (theirs === undefined || base === 'idle.connections' || base === 'idle.heapKibPerSession') continue;
    const lowerIsBetter = base.endsWith('.seconds') || base.endsWith('kibPerSession');
    results[`${base}.ratio`] = lowerIsBetter ? theirs / ours : ours / theirs;
  }
  // --storage postgres: ours on PostgreSQL against ours on SQLite (above 1: PostgreSQL ahead).
  for (const key of Object.keys(results).filter((k) => /\.mailhavenPostgres(?:2nodes)?$/.test(k))) {
    const [base, variant] = [key.slice(0, key.lastIndexOf('.')), key.slice(key.lastIndexOf('.') + 1)];
    const sqlite = results[`${base}.mailhaven`];
    if (sqlite === undefined || base.startsWith('idle.')) continue;
    const ratio = base.endsWith('.seconds') ? sqlite / results[key]! : results[key]! / sqlite;
    results[`${base}.${variant}VsSqlite`] = ratio;
  }
  return results;
}

// ---- child mode: our server in its own process ---------------------------------------------------

async function runChild(): Promise<void> {
  const { loadConfig } = await import('../src/config/index.js');
  const { createSharedAuth, openStore, protocolHandlers } = await import('../src/compose.js');
  const { LocalChangeBus } = await import('../src/events/local.js');
  const { createLogger } = await import('../src/log/index.js');
  const { startServer } = await import('../src/server.js');
  const { hashPassword } = await import('../src/auth/password.js');
  const { MessageIndexer } = await import('../src/mime/indexer.js');
  const parent = join(process.cwd(), '.tmp');
  mkdirSync(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'bench-imap-'));
  const file = join(dir, 'mailhaven.toml');
  const listen = ['smtp', 'submission', 'submissions', 'imaps', 'pop3', 'pop3s', 'http'].map((name) => `${name} = []`);
  // --storage postgres: the schema in the URL; a joining node finds the accounts there already.
  const storageUrl = process.env.MAILHAVEN_BENCH_STORAGE_URL ?? '';
  const storage = storageUrl === '' ? [] : ['[storage]', 'backend = "postgres"', `url = "${storageUrl}"`];
  writeFileSync(file, ['hostname = "bench.example"', 'data_dir = "data"', ...storage, '[auth]', 'allow_plaintext_on_loopback = true', '[limits]', 'sessions_per_account = 100000', 'connections = 100000', 'connections_per_ip = 100000', '[listen]', 'imap = ["127.0.0.1:0"]', ...listen, ''].join('\n'));
  const config = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 1000 });
  const logger = createLogger({ level: 'silent' });
  const bus = new LocalChangeBus();
  const store = await openStore(config, bus, logger, { server: true });
  const auth = await createSharedAuth(config, store);
  const server = await startServer(config, { store, bus, logger }, await protocolHandlers(auth));
  if (process.env.MAILHAVEN_BENCH_JOIN !== '1') {
    await store.addDomain('example.test');
    const hash = await hashPassword(USER_PASSWORD);
    for (let i = 0; i < 10; i++) await store.addAccount(`bench${i}@example.test`, hash, null);
  }
  const send = (message: unknown): void => void process.send?.(message);
  process.on('message', (request: ChildRequest) => {
    void (async () => {
      switch (request.op) {
        case 'populate': {
          const account = (await store.getAccount(request.user))!;
          const mailbox = (await store.getMailbox(account.id, request.mailbox))!;
          // Through the store API (as APPEND and delivery store), 500 per transaction; the blob
          // writes of a batch run side by side, since each waits for its own fsync.
          const stage = async (n: number) => {
            const bytes = benchMessage(n);
            const writer = store.createBlobWriter();
            const indexer = new MessageIndexer();
            indexer.write(bytes);
            await writer.write(bytes);
            return { blob: await writer.finish(), index: indexer.finish(), flags: n % 3 === 0 ? 1 : 0, internalDate: new Date(1_700_000_000_000 + n * 1000) };
          };
          for (let from = 0; from < request.count; from += 500) {
            const numbers = Array.from({ length: Math.min(500, request.count - from) }, (_, k) => from + k);
            const batch = [];
            for (let at = 0; at < numbers.length; at += 50) batch.push(...(await Promise.all(numbers.slice(at, at + 50).map(stage))));
            await store.append(account.id, mailbox.id, batch);
          }
          return send({ id: request.id, value: null });
        }
        case 'rss':
        {
          (globalThis as { gc?: () => void }).gc?.();
          const usage = process.memoryUsage();
          const pss = Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? 0);
          return send({ id: request.id, value: { kib: pss, heapKib: Math.round((usage.heapUsed + usage.external) / 1024) } });
        }
        case 'stop':
          await server.close(1000);
          await store.close();
          await bus.close();
          await rm(dir, { recursive: true, force: true });
          send({ id: request.id, value: null });
          process.disconnect();
          process.exit(0);
      }
    })();
  });
  send({ port: server.addresses().imap[0]!.port });
}

if (process.env.MAILHAVEN_BENCH_CHILD === '1') await runChild();
