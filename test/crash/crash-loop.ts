/**
 * `npm run test:crash -- [--cycles N] [--seed S] [--backend sqlite|postgres] [--keep]`
 *
 * The crash loop (docs/reliability.md): starts a real `mailhaven serve` process on ephemeral
 * ports, drives concurrent SMTP deliveries, IMAP APPEND/STORE/EXPUNGE/MOVE/RENAME and POP3
 * DELE+QUIT, with one APPEND literal and one SMTP DATA always cut in the middle, and kills the
 * server with SIGKILL at a random moment: after a random time, right after the Nth
 * acknowledgement (while the rest of a group commit is on its way), or while the cut literal
 * waits. After every restart it checks over IMAP that every acknowledged message is present
 * exactly once and byte-identical, acknowledged expunges, moves, renames and POP3 deletions
 * stayed done, cut messages never appear, UIDs ascend and are never reused, UIDNEXT and
 * HIGHESTMODSEQ never go down and HIGHESTMODSEQ is above every MODSEQ sent, quota usage equals the
 * sizes stored; then `mailhaven fsck` must report no problem. Exits 1 on any violation.
 * @module
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { hashPassword } from '../../src/auth/password.js';
import { runCli } from '../../src/cli/run.js';
import { cliContext } from '../../src/compose.js';
import { LocalChangeBus } from '../../src/events/local.js';
import type { FsckReport } from '../../src/fsck/index.js';
import type { MailStore } from '../../src/store/types.js';
import { ImapClient } from './clients.js';
import { CrashModel, tagOf } from './model.js';
import type { AccountView, MailboxView } from './model.js';
import {
  APP_USER,
  ARCHIVE_NAMES,
  DOMAIN,
  MX_USER,
  PASSWORD,
  POP_USER,
  SORTED,
  WORK,
  appenderWorker,
  guard,
  pop3Worker,
  smtpWorker,
  sorterWorker,
  stalledAppend,
  stalledSmtp,
} from './workers.js';
import type { Ports, WorkerContext } from './workers.js';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = join(REPO_ROOT, 'src', 'main.ts');
const TSX = import.meta.resolve('tsx');
const ACCOUNTS = [MX_USER, APP_USER, POP_USER] as const;
const START_TIMEOUT_MS = 60_000;
/** Workers must all notice the kill within this long. */
const SETTLE_TIMEOUT_MS = 30_000;

interface Options {
  cycles: number;
  seed: number;
  backend: 'sqlite' | 'postgres';
  keep: boolean;
  /** Self-test: damage the store after the first kill; the run must then fail. */
  inject: 'lose-message' | 'lose-blob' | null;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: '200' },
      seed: { type: 'string' },
      backend: { type: 'string', default: 'sqlite' },
      keep: { type: 'boolean', default: false },
      inject: { type: 'string' },
    },
    allowPositionals: false,
  });
  const cycles = Number(values.cycles);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isInteger(cycles) || cycles < 1) throw new Error(`--cycles: expected a positive integer, got ${values.cycles}`);
  if (!Number.isInteger(seed)) throw new Error(`--seed: expected an integer, got ${values.seed}`);
  if (values.backend !== 'sqlite' && values.backend !== 'postgres') throw new Error(`--backend: sqlite or postgres, got ${values.backend}`);
  const inject = values.inject ?? null;
  if (inject !== null && inject !== 'lose-message' && inject !== 'lose-blob') throw new Error(`--inject: lose-message or lose-blob, got ${inject}`);
  if (inject !== null && values.backend !== 'sqlite') throw new Error('--inject works on the sqlite backend only');
  return { cycles, seed, backend: values.backend, keep: values.keep, inject };
}

/** mulberry32: small, seedable, good enough to pick operations and sizes. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the installation --------------------------------------------------------------------------

interface Installation {
  dir: string;
  config: string;
  cleanup: () => Promise<void>;
}

async function install(options: Options): Promise<Installation> {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-crash-'));
  let storage = '';
  let cleanup = (): Promise<void> => Promise.resolve();
  let store: MailStore;
  if (options.backend === 'sqlite') {
    const { openSqliteStore } = await import('../../src/store/sqlite/index.js');
    store = await openSqliteStore({ dataDir: join(dir, 'data'), bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  } else {
    const { openPostgresStore } = await import('../../src/store/postgres/index.js');
    const { dropSchema, freshSchemaName, postgresTestTarget } = await import('../../src/store/postgres/testing.js');
    const target = await postgresTestTarget();
    if (target.unavailable !== null) throw new Error(`PostgreSQL at ${target.url} is not reachable: ${target.unavailable}`);
    const schema = freshSchemaName();
    const url = new URL(target.url);
    url.searchParams.set('options', `-c search_path=${schema}`);
    storage = `[storage]\nbackend = "postgres"\nurl = "${url.toString()}"\n`;
    store = await openPostgresStore({ url: url.toString(), listen: false });
    cleanup = () => dropSchema(target.url, schema);
  }
  try {
    await store.addDomain(DOMAIN);
    const hash = await hashPassword(PASSWORD);
    for (const address of ACCOUNTS) {
      const account = await store.addAccount(address, hash, null);
      // Quota limits far away, so IMAP GETQUOTAROOT reports the usage the check compares.
      await store.setQuota(address, 1 << 30, 1_000_000);
      if (address === APP_USER) {
        await store.createMailbox(account.id, WORK);
        await store.createMailbox(account.id, ARCHIVE_NAMES[0]);
      }
      if (address === MX_USER) await store.createMailbox(account.id, SORTED);
    }
  } finally {
    await store.close();
  }
  const config = join(dir, 'mailhaven.toml');
  writeFileSync(
    config,
    [
      `hostname = "mail.${DOMAIN}"`,
      'data_dir = "data"',
      'shutdown_timeout = "5s"',
      storage,
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
  return {
    dir,
    config,
    cleanup: async () => {
      await cleanup();
      if (!options.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- the server process ------------------------------------------------------------------------

interface Server {
  child: ChildProcessWithoutNullStreams;
  ports: Ports;
  exited: Promise<void>;
  stderr: () => string;
}

async function startServer(inst: Installation): Promise<Server> {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', '--config', inst.config], {
    cwd: inst.dir,
    env: { ...process.env, MAILHAVEN_CONFIG: '' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = once(child, 'exit').then(() => undefined);
  const ports: Partial<Ports> = {};
  let pending = '';
  child.stdout.setEncoding('utf8');
  const ready = new Promise<void>((resolveReady, reject) => {
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { msg?: string; listener?: string; port?: number; level?: string | number };
        if (entry.msg === 'listening' && entry.port && (entry.listener === 'smtp' || entry.listener === 'imap' || entry.listener === 'pop3')) ports[entry.listener] = entry.port;
        if (entry.msg === 'ready') resolveReady();
      }
    });
    void exited.then(() => reject(new Error(`the server exited during start-up: ${stderr}`)));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS);
  try {
    await ready;
  } finally {
    clearTimeout(timer);
  }
  if (!ports.smtp || !ports.imap || !ports.pop3) throw new Error('the server did not report its listeners');
  return { child, ports: ports as Ports, exited, stderr: () => stderr };
}

// ---- the check ---------------------------------------------------------------------------------

function unquote(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1).replace(/\\(["\\])/g, '$1') : name;
}

async function readAccount(port: number, account: string): Promise<AccountView> {
  const client = await ImapClient.login(port, account, PASSWORD);
  try {
    const list = await client.ok('LIST "" "*"');
    const names = list.untagged.map((r) => /^\* LIST \([^)]*\) (?:"(?:[^"\\]|\\.)*"|NIL) (.+)$/.exec(r.text)?.[1]).filter((n): n is string => n !== undefined).map(unquote);
    const mailboxes: MailboxView[] = [];
    for (const name of names.sort()) {
      const selected = await client.ok(`SELECT "${name}"`);
      const text = selected.untagged.map((r) => r.text).join('\n');
      const number = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
      const view: MailboxView = {
        name,
        uidValidity: number(/\[UIDVALIDITY (\d+)\]/),
        uidNext: number(/\[UIDNEXT (\d+)\]/),
        highestModseq: number(/\[HIGHESTMODSEQ (\d+)\]/),
        messages: [],
      };
      if (number(/^\* (\d+) EXISTS/m) > 0) {
        const fetched = await client.ok('UID FETCH 1:* (UID MODSEQ RFC822.SIZE BODY.PEEK[])');
        for (const response of fetched.untagged) {
          if (!/^\* \d+ FETCH/.test(response.text)) continue;
          const bytes = response.literals[0] ?? Buffer.alloc(0);
          view.messages.push({
            uid: Number(/UID (\d+)/.exec(response.text)?.[1]),
            modseq: Number(/MODSEQ \((\d+)\)/.exec(response.text)?.[1]),
            size: Number(/RFC822\.SIZE (\d+)/.exec(response.text)?.[1]),
            tag: tagOf(bytes),
            bytes,
          });
        }
        view.messages.sort((a, b) => a.uid - b.uid);
      }
      mailboxes.push(view);
    }
    const quota = await client.ok('GETQUOTAROOT INBOX');
    const quotaText = quota.untagged.map((r) => r.text).join('\n');
    await client.run('LOGOUT').catch(() => undefined);
    return {
      account,
      mailboxes,
      quota: {
        storageKiB: Number(/STORAGE (\d+) \d+/.exec(quotaText)?.[1] ?? NaN),
        messages: Number(/MESSAGE (\d+) \d+/.exec(quotaText)?.[1] ?? NaN),
      },
    };
  } finally {
    client.close();
  }
}

async function runFsck(inst: Installation): Promise<{ clean: boolean; summary: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io = {
    stdin: Readable.from([]),
    stdout: { write: (text: string) => stdout.push(text), isTTY: false },
    stderr: { write: (text: string) => stderr.push(text), isTTY: false },
    env: { ...process.env, MAILHAVEN_CONFIG: '' },
    cwd: inst.dir,
  };
  const code = await runCli(['fsck', '--json', '--config', inst.config], cliContext(io), 'crash-loop');
  const out = stdout.join('');
  if (!out.startsWith('{')) return { clean: false, summary: `fsck failed (exit ${code}): ${stderr.join('').trim()}` };
  const report = JSON.parse(out) as FsckReport;
  const problems = report.findings.filter((f) => f.severity === 'problem');
  const notices = report.findings.filter((f) => f.severity === 'notice').map((f) => f.code);
  return {
    clean: code === 0 && problems.length === 0,
    summary:
      problems.length > 0
        ? problems.map((f) => `${f.code} ${f.subject}: ${f.detail}`).join('; ')
        : `clean${notices.length > 0 ? ` (notices: ${notices.join(', ')})` : ''}`,
  };
}

// ---- one cycle ---------------------------------------------------------------------------------

type KillMode = 'timer' | 'ack' | 'literal';

interface CycleStats {
  acks: Record<'smtp' | 'imap' | 'pop3', number>;
  mode: string;
  killedAfterMs: number;
}

async function loadAndKill(server: Server, ctxBase: Omit<WorkerContext, 'onAck'>, rng: () => number): Promise<CycleStats> {
  const roll = rng();
  const mode: KillMode = roll < 0.5 ? 'timer' : roll < 0.8 ? 'ack' : 'literal';
  const acks = { smtp: 0, imap: 0, pop3: 0 };
  const ackTarget = 1 + Math.floor(rng() * 25);
  const delay = Math.floor(rng() * 2500);
  /** Acknowledgements before a timer or literal kill is armed: the workers have warmed up. */
  const warmUp = 1 + Math.floor(rng() * 10);
  let warmedUp = (): void => undefined;
  const warm = new Promise<void>((resolveWarm) => (warmedUp = resolveWarm));
  const started = Date.now();
  let killedAt = 0;
  const kill = (): void => {
    if (killedAt !== 0) return;
    killedAt = Date.now();
    server.child.kill('SIGKILL');
  };
  const ctx: WorkerContext = {
    ...ctxBase,
    onAck: (kind) => {
      acks[kind]++;
      if (acks.smtp + acks.imap + acks.pop3 >= warmUp) warmedUp();
      // Synchronously, from the reply's data event: the other operations of the same group
      // commit are being answered right now.
      if (mode === 'ack' && acks.smtp + acks.imap + acks.pop3 >= ackTarget) kill();
    },
  };
  const stalled = [guard(ctx, 'cut DATA', () => stalledSmtp(ctx))];
  let halfSent = (): void => undefined;
  const literalSent = new Promise<void>((resolveSent) => (halfSent = resolveSent));
  stalled.push(guard(ctx, 'cut literal', () => stalledAppend(ctx, halfSent)));
  const workers = [
    guard(ctx, 'smtp 1', () => smtpWorker(ctx, [MX_USER])),
    guard(ctx, 'smtp 2', () => smtpWorker(ctx, [MX_USER, POP_USER])),
    guard(ctx, 'smtp 3', () => smtpWorker(ctx, [APP_USER])),
    guard(ctx, 'sorter', () => sorterWorker(ctx)),
    guard(ctx, 'appender', () => appenderWorker(ctx)),
    guard(ctx, 'pop3', () => pop3Worker(ctx)),
  ];
  // Whatever happens, the server dies within 15 s.
  const fallback = setTimeout(kill, 15_000);
  if (mode === 'literal') {
    // Half of the literal is on its way; the server is reading it (or waiting for the rest).
    await Promise.race([Promise.all([literalSent, warm]), server.exited]);
    setTimeout(kill, Math.floor(rng() * 300));
  } else if (mode === 'timer') {
    await Promise.race([warm, server.exited]);
    setTimeout(kill, delay);
  }
  await server.exited;
  clearTimeout(fallback);
  const settled = Promise.all([...workers, ...stalled]);
  const timeout = new Promise<'timeout'>((resolveTimeout) => setTimeout(() => resolveTimeout('timeout'), SETTLE_TIMEOUT_MS).unref());
  if ((await Promise.race([settled, timeout])) === 'timeout') ctx.problems.push('workers did not notice the kill');
  const label = mode === 'ack' ? `at ack ${ackTarget}` : mode === 'timer' ? `${delay} ms after ack ${warmUp}` : `mid-literal after ack ${warmUp}`;
  return { acks, mode: label, killedAfterMs: (killedAt || Date.now()) - started };
}

/**
 * The harness's own test: takes away something the server acknowledged, as a broken durability
 * path would, so the next check must report it (and fsck too).
 */
async function injectDamage(inst: Installation, kind: 'lose-message' | 'lose-blob'): Promise<string> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(inst.dir, 'data', 'mailhaven.db'));
  try {
    const row = db.prepare('SELECT id, blob_hash FROM messages ORDER BY random() LIMIT 1').get() as { id: number; blob_hash: string } | undefined;
    if (!row) return 'nothing to damage';
    if (kind === 'lose-message') {
      db.prepare('DELETE FROM messages WHERE id = ?').run(row.id);
      return `deleted message row ${row.id}`;
    }
    rmSync(join(inst.dir, 'data', 'blobs', row.blob_hash.slice(0, 2), row.blob_hash));
    return `deleted blob ${row.blob_hash}`;
  } finally {
    db.close();
  }
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const options = parseOptions();
  const started = Date.now();
  const rng = seededRandom(options.seed);
  const model = new CrashModel();
  let tags = 0;
  const inst = await install(options);
  process.stdout.write(`crash loop: ${options.cycles} cycles, seed ${options.seed}, backend ${options.backend}, data in ${inst.dir}\n`);
  const totals = { smtp: 0, imap: 0, pop3: 0 };
  let failed = false;
  let server: Server | null = null;
  try {
    for (let cycle = 0; cycle <= options.cycles; cycle++) {
      server = await startServer(inst);
      // Check what the previous cycle left (for cycle 0: the fresh installation).
      const views = new Map<string, AccountView>();
      for (const account of ACCOUNTS) {
        try {
          const view = await readAccount(server.ports.imap, account);
          views.set(account, view);
          model.check(view, cycle);
        } catch (err) {
          model.violations.push(`cycle ${cycle}, ${account}: reading the mailboxes failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const fsck = await runFsck(inst);
      if (!fsck.clean) model.violations.push(`cycle ${cycle}: fsck: ${fsck.summary}`);
      const live = [...views.values()].reduce((sum, v) => sum + v.mailboxes.reduce((n, m) => n + m.messages.length, 0), 0);
      if (model.violations.length > 0) {
        failed = true;
        server.child.kill('SIGKILL');
        await server.exited;
        break;
      }
      if (cycle === options.cycles) {
        process.stdout.write(`final check: ${live} messages, fsck ${fsck.summary}\n`);
        server.child.kill('SIGTERM');
        await server.exited;
        break;
      }
      const problems: string[] = [];
      const stats = await loadAndKill(server, { ports: server.ports, model, rng, nextTag: (prefix) => `${prefix}-${options.seed}-${++tags}`, problems, views }, rng);
      for (const kind of ['smtp', 'imap', 'pop3'] as const) totals[kind] += stats.acks[kind];
      process.stdout.write(
        `cycle ${cycle + 1}/${options.cycles}: killed ${stats.mode} (${stats.killedAfterMs} ms); acks smtp ${stats.acks.smtp}, imap ${stats.acks.imap}, pop3 ${stats.acks.pop3}; ${live} messages before; fsck ${fsck.summary}\n`,
      );
      if (options.inject !== null && cycle === 0) process.stdout.write(`injected: ${await injectDamage(inst, options.inject)}\n`);
      if (problems.length > 0) {
        model.violations.push(...problems.map((p) => `cycle ${cycle + 1}: ${p}`));
        process.stdout.write(`server stderr: ${server.stderr()}\n`);
        failed = true;
        break;
      }
    }
  } catch (err) {
    failed = true;
    model.violations.push(`harness: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`acknowledged: ${totals.smtp} SMTP deliveries, ${totals.imap} IMAP operations, ${totals.pop3} POP3 sessions; ${seconds} s\n`);
  process.stdout.write(`cut by a kill, per message: ${model.inFlightOutcomes.done} done, ${model.inFlightOutcomes.notDone} not done (each checked to be one or the other)\n`);
  if (failed || model.violations.length > 0) {
    process.stdout.write(`VIOLATIONS (${model.violations.length}):\n${model.violations.map((v) => `  ${v}`).join('\n')}\n`);
    process.stdout.write(`data directory kept: ${inst.dir} (seed ${options.seed})\n`);
    return 1;
  }
  await inst.cleanup();
  process.stdout.write(`OK: ${options.cycles} kill cycles, no violation (seed ${options.seed})\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`crash loop: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
