/**
 * A full server for protocol tests: config on a fresh temp data dir, the SQLite store, the
 * change bus, the shared auth pieces and every protocol handler (src/compose.ts), listening on
 * 127.0.0.1 ephemeral ports. Domains, users and aliases are added straight through the store
 * (passwords hashed with hashPassword), the way `mailhaven user add` does.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { generate } from 'selfsigned';
import { hashPassword } from '../../src/auth/password.js';
import { createSharedAuth, openStore, protocolHandlers, startOutbound } from '../../src/compose.js';
import type { Outbound, OutboundOptions, ProtocolOptions, SharedAuth } from '../../src/compose.js';
import { loadConfig } from '../../src/config/index.js';
import type { Config, ListenerName } from '../../src/config/index.js';
import { LocalChangeBus } from '../../src/events/local.js';
import { createLogger } from '../../src/log/index.js';
import type { Logger } from '../../src/log/index.js';
import { startServer } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { SqliteStoreOptions } from '../../src/store/sqlite/index.js';
import type { Account, MailStore, MessageMeta } from '../../src/store/types.js';

/** One EC pair per test process: RSA generation per server would dominate the run time. */
let sharedPair: Promise<{ cert: string; private: string }> | null = null;
function testPair(): Promise<{ cert: string; private: string }> {
  sharedPair ??= generate([{ name: 'commonName', value: 'mx.test.example' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'mx.test.example' }, { type: 2, value: 'localhost' }] }],
  });
  return sharedPair;
}

export interface TestServerOptions {
  /** Listeners bound on 127.0.0.1:0. Default: smtp, submission, submissions. */
  listeners?: ListenerName[];
  /** Extra TOML (top level keys first, then tables such as [limits] or [auth]). */
  toml?: string;
  protocols?: ProtocolOptions;
  /** Keep the configured SASL advertisement (CRAM-MD5/SCRAM off unless auth.secret_mechanisms). */
  defaultMechanisms?: boolean;
  /** Log lines collected here (JSON objects) instead of being discarded. */
  logLines?: Array<Record<string, unknown>>;
  /** data_dir (absolute, e.g. a small tmpfs for disk-full tests); default `<temp dir>/data`. */
  dataDir?: string;
  /** Fault tests: open the SQLite store with these options (a shorter busy budget, a faulty blob fs). */
  sqlite?: Pick<SqliteStoreOptions, 'busyRetryMs' | 'blobFs'>;
  /** Run the outbound queue worker as `serve` does (src/compose.ts startOutbound); off by default. */
  outbound?: OutboundOptions;
}

export interface TestServer {
  dir: string;
  config: Config;
  store: MailStore;
  server: RunningServer;
  auth: SharedAuth;
  port(listener: ListenerName): number;
  addDomain(name: string): Promise<void>;
  addUser(address: string, password: string, quotaBytes?: number | null): Promise<Account>;
  addAlias(address: string, targets: string[]): Promise<void>;
  /** Message rows of a mailbox of an account (INBOX by default). */
  messages(address: string, mailbox?: string): Promise<MessageMeta[]>;
  /** The bytes of every message in a mailbox, as IMAP would show them, oldest first. */
  messageTexts(address: string, mailbox?: string): Promise<string[]>;
  /** The outbound worker, when `outbound` was given. */
  outbound: Outbound | null;
  close(): Promise<void>;
}

const ALL_LISTENERS: ListenerName[] = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s', 'http'];

export async function startTestServer(t: TestContext, options: TestServerOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-smtp-'));
  const listeners = options.listeners ?? ['smtp', 'submission', 'submissions'];
  const pair = await testPair();
  writeFileSync(join(dir, 'test.crt'), pair.cert);
  writeFileSync(join(dir, 'test.key'), pair.private);
  const listen = ALL_LISTENERS.map((name) => `${name} = [${listeners.includes(name) ? '"127.0.0.1:0"' : ''}]`);
  const { top, tables } = splitToml(withoutSystemDns(options.toml ?? ''));
  const file = join(dir, 'mailhaven.toml');
  writeFileSync(
    file,
    ['hostname = "mx.test.example"', `data_dir = ${JSON.stringify(options.dataDir ?? 'data')}`, 'shutdown_timeout = "2s"', top, '[tls]', 'cert = "test.crt"', 'key = "test.key"', tables, '[listen]', ...listen, ''].join('\n'),
  );
  const config = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 1000 });
  const logger = testLogger(options.logLines);
  const bus = new LocalChangeBus();
  const store =
    options.sqlite === undefined
      ? await openStore(config, bus, logger, { server: true })
      : await openSqliteStore({ dataDir: config.dataDir, bus, logger, ...options.sqlite });
  const auth = await createSharedAuth(config, store);
  // Most protocol tests exercise every mechanism; the production default (off) has its own test.
  if (options.defaultMechanisms !== true) auth.sasl.advertiseSecretMechanisms = true;
  let server: RunningServer;
  let outbound: Outbound | null = null;
  try {
    outbound = options.outbound === undefined ? null : await startOutbound(config, store, logger, options.outbound);
    server = await startServer(config, { store: outbound?.store ?? store, bus, logger }, await protocolHandlers(auth, options.protocols));
  } catch (error) {
    await outbound?.worker.stop();
    await store.close();
    throw error;
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await Promise.all([outbound?.worker.stop(), server.close(2000)]);
    await store.close();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  };
  t.after(close);

  const accountId = async (address: string): Promise<number> => {
    const account = await store.getAccount(address);
    if (account === null) throw new Error(`no account ${address}`);
    return account.id;
  };
  const messages = async (address: string, mailbox = 'INBOX'): Promise<MessageMeta[]> => {
    const box = await store.getMailbox(await accountId(address), mailbox);
    if (box === null) throw new Error(`no mailbox ${mailbox} for ${address}`);
    return store.listMessages(box.id);
  };
  return {
    dir,
    config,
    store,
    server,
    auth,
    port(listener) {
      const address = server.addresses()[listener][0];
      if (address === undefined) throw new Error(`${listener} is not listening`);
      return address.port;
    },
    addDomain: async (name) => void (await store.addDomain(name)),
    addUser: async (address, password, quotaBytes = null) => store.addAccount(address, await hashPassword(password), quotaBytes),
    addAlias: (address, targets) => store.addAlias(address, targets),
    messages,
    async messageTexts(address, mailbox) {
      const rows = await messages(address, mailbox);
      const texts: string[] = [];
      for (const row of rows) texts.push((await store.readMessage(row)).toString('utf8'));
      return texts;
    },
    outbound,
    close,
  };
}

/** Top-level keys must come before the first [table] in TOML. */
/**
 * Mail authentication on the MX looks up DNS. A test that names no DNS servers of its own (a
 * test DNS server in `[outbound] resolvers`) or its own `[mail_auth]` gets the checks off, so no
 * test depends on this machine's resolver answering quickly.
 */
function withoutSystemDns(toml: string): string {
  if (/^\s*resolvers\s*=/m.test(toml) || /^\s*\[mail_auth\]/m.test(toml)) return toml;
  return `${toml}\n[mail_auth]\nverify = false\n`;
}

function splitToml(toml: string): { top: string; tables: string } {
  const index = toml.search(/^\s*\[/m);
  if (index === -1) return { top: toml, tables: '' };
  return { top: toml.slice(0, index), tables: toml.slice(index) };
}

function testLogger(lines: Array<Record<string, unknown>> | undefined): Logger {
  if (lines === undefined) return createLogger({ level: 'silent' });
  return createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
}
