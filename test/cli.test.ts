/**
 * The mailhaven command end to end: a real child process per command, a temp config and data
 * folder per test. Asserts exit statuses, the exact one-line errors and the --json output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTempInstance, runMailhaven, runMailhavenProcess } from './helpers/cli.js';
import type { CliResult, TempInstance } from './helpers/cli.js';
import { verifyPassword } from '../src/auth/password.js';

function assertOk(result: CliResult, stdout = ''): void {
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  assert.equal(result.stdout, stdout);
}

function assertFails(result: CliResult, code: number, stderrLine: string): void {
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, `mailhaven: ${stderrLine}\n`);
  assert.equal(result.code, code);
}

async function jsonList<T>(instance: TempInstance, args: string[]): Promise<T> {
  const result = await instance.run([...args, '--json']);
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  return JSON.parse(result.stdout) as T;
}

/** createdAt varies: check it is an ISO date, then drop it. */
function withoutCreatedAt<T extends { createdAt: string }>(rows: T[]): Array<Omit<T, 'createdAt'>> {
  return rows.map(({ createdAt, ...rest }) => {
    assert.match(createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    return rest;
  });
}

async function withDomain(t: Parameters<typeof createTempInstance>[0], domain = 'example.org'): Promise<TempInstance> {
  const instance = createTempInstance(t);
  assertOk(await instance.run(['domain', 'add', domain]));
  return instance;
}

test('domain add, list (table and JSON), IDN conversion, duplicate, del', async (t) => {
  const instance = createTempInstance(t);
  assertOk(await instance.run(['domain', 'add', 'Example.ORG']));
  assertOk(await instance.run(['domain', 'add', 'bücher.example']));
  assertFails(await instance.run(['domain', 'add', 'example.org']), 1, 'domain example.org already exists');
  assertFails(await instance.run(['domain', 'add', 'bad_domain.example']), 1, 'invalid domain "bad_domain.example": label "bad_domain" is not letters, digits and inner hyphens');

  const domains = await jsonList<Array<{ name: string; users: number; aliases: number; createdAt: string }>>(instance, ['domain', 'list']);
  assert.deepEqual(withoutCreatedAt(domains), [
    { name: 'example.org', users: 0, aliases: 0 },
    { name: 'xn--bcher-kva.example', users: 0, aliases: 0 },
  ]);

  const table = await instance.run(['domain', 'list']);
  assert.equal(table.code, 0);
  const lines = table.stdout.split('\n');
  assert.equal(lines[0], 'DOMAIN                 USERS  ALIASES  CREATED');
  assert.match(lines[1] ?? '', new RegExp(`^${'example.org'.padEnd(23)}0      0        \\d{4}-`));
  assert.match(lines[2] ?? '', new RegExp(`^${'xn--bcher-kva.example'.padEnd(23)}0      0        \\d{4}-`));

  assertOk(await instance.run(['domain', 'del', 'bücher.example']));
  assertFails(await instance.run(['domain', 'del', 'bücher.example']), 1, 'no such domain: xn--bcher-kva.example');
  const after = await jsonList<Array<{ name: string }>>(instance, ['domain', 'list']);
  assert.deepEqual(after.map((d) => d.name), ['example.org']);
});

test('domain del refuses while users or aliases remain', async (t) => {
  const instance = await withDomain(t);
  assertOk(await instance.run(['user', 'add', 'alice@example.org', '--password-stdin'], { stdin: 'correct horse\n' }));
  assertOk(await instance.run(['alias', 'add', 'info@example.org', 'alice@example.org']));
  assertFails(await instance.run(['domain', 'del', 'example.org']), 1, 'domain example.org still has 1 user and 1 alias; delete them first');
  assertOk(await instance.run(['alias', 'del', 'info@example.org']));
  assertOk(await instance.run(['user', 'del', 'alice@example.org']));
  assertOk(await instance.run(['domain', 'del', 'example.org']));
  assert.deepEqual(await jsonList(instance, ['domain', 'list']), []);
});

test('user add --password-stdin stores an argon2id hash of exactly the first line', async (t) => {
  const instance = await withDomain(t);
  assertOk(await instance.run(['user', 'add', 'Alice@Example.org', '--password-stdin'], { stdin: 'correct horse\r\nsecond line\n' }));
  const users = await jsonList<Array<Record<string, unknown>>>(instance, ['user', 'list']);
  assert.equal(users.length, 1);
  const [user] = users;
  assert.deepEqual(Object.keys(user ?? {}).sort(), ['address', 'createdAt', 'quotaBytes', 'usedBytes', 'usedMessages']);
  assert.deepEqual({ ...user, createdAt: undefined }, {
    address: 'alice@example.org',
    quotaBytes: null,
    usedBytes: 0,
    usedMessages: 0,
    createdAt: undefined,
  });
  const hash = await storedPasswordHash(instance, 'alice@example.org');
  assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.equal(await verifyPassword(hash, 'correct horse'), true);
  assert.equal(await verifyPassword(hash, 'correct horse\r'), false);
});

test('user add rejects weak, empty and malformed input, unknown domains and duplicates', async (t) => {
  const instance = await withDomain(t);
  const add = (address: string, stdin: string) => instance.run(['user', 'add', address, '--password-stdin'], { stdin });
  assertFails(await add('alice@example.org', 'short\n'), 1, 'weak password: fewer than 8 characters');
  assertFails(await add('alice@example.org', '\n'), 1, 'empty password');
  assertFails(await add('alice@example.org', ''), 1, 'empty password');
  assertFails(await add('alice@example.org', 'ALICE@example.org\n'), 1, 'weak password: same as the address');
  assertFails(await add('alice@example.org', 'alice\tpassword\n'), 1, 'password contains control characters');
  assertFails(await add('alice..x@example.org', 'long enough\n'), 1, 'invalid address "alice..x@example.org": local part must be a dot-atom (RFC 5321 4.1.2)');
  assertFails(await add('alice', 'long enough\n'), 1, 'invalid address "alice": expected local-part@domain');
  assertFails(await add(`${'a'.repeat(65)}@example.org`, 'long enough\n'), 1, `invalid address "${'a'.repeat(65)}@example.org": local part longer than 64 octets`);
  assertFails(await add('alice@nowhere.test', 'long enough\n'), 1, 'unknown domain nowhere.test for alice@nowhere.test (add it with: mailhaven domain add nowhere.test)');
  assertOk(await add('alice@example.org', 'long enough\n'));
  assertFails(await add('ALICE@example.org', 'long enough\n'), 1, 'user alice@example.org already exists');
  const users = await jsonList<Array<{ address: string }>>(instance, ['user', 'list']);
  assert.deepEqual(users.map((u) => u.address), ['alice@example.org']);
});

test('user add without --password-stdin prints one generated password that works', async (t) => {
  const instance = await withDomain(t);
  const result = await instance.run(['user', 'add', 'bob@example.org', '--quota', '2G']);
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^[A-HJ-NP-Za-km-z2-9]{20}\n$/);
  const hash = await storedPasswordHash(instance, 'bob@example.org');
  assert.equal(await verifyPassword(hash, result.stdout.trim()), true);
  const users = await jsonList<Array<{ address: string; quotaBytes: number | null }>>(instance, ['user', 'list']);
  assert.deepEqual(users.map((u) => [u.address, u.quotaBytes]), [['bob@example.org', 2 * 1024 ** 3]]);
});

test('user passwd replaces the password and needs --password-stdin', async (t) => {
  const instance = await withDomain(t);
  assertOk(await instance.run(['user', 'add', 'alice@example.org', '--password-stdin'], { stdin: 'first password\n' }));
  assertOk(await instance.run(['user', 'passwd', 'alice@example.org', '--password-stdin'], { stdin: 'second password\n' }));
  const hash = await storedPasswordHash(instance, 'alice@example.org');
  assert.equal(await verifyPassword(hash, 'second password'), true);
  assert.equal(await verifyPassword(hash, 'first password'), false);
  assertFails(
    await instance.run(['user', 'passwd', 'alice@example.org']),
    2,
    'user passwd needs --password-stdin (the password is never taken from the command line)',
  );
  assertFails(await instance.run(['user', 'passwd', 'alice@example.org', '--password-stdin'], { stdin: 'tiny\n' }), 1, 'weak password: fewer than 8 characters');
  assertFails(await instance.run(['user', 'passwd', 'nobody@example.org', '--password-stdin'], { stdin: 'long enough\n' }), 1, 'no such user: nobody@example.org');
});

test('user quota: 500M, 2G, unlimited, 0 and garbage', async (t) => {
  const instance = await withDomain(t);
  assertOk(await instance.run(['user', 'add', 'alice@example.org', '--password-stdin', '--quota', '1G'], { stdin: 'long enough\n' }));
  const quota = async (): Promise<number | null> => {
    const users = await jsonList<Array<{ quotaBytes: number | null }>>(instance, ['user', 'list']);
    return users[0]?.quotaBytes ?? null;
  };
  assert.equal(await quota(), 1024 ** 3);
  assertOk(await instance.run(['user', 'quota', 'alice@example.org', '500M']));
  assert.equal(await quota(), 500 * 1024 ** 2);
  assertOk(await instance.run(['user', 'quota', 'alice@example.org', '2G']));
  assert.equal(await quota(), 2 * 1024 ** 3);
  const table = await instance.run(['user', 'list']);
  assertOk(table, 'ADDRESS            QUOTA  USED  MESSAGES\nalice@example.org  2G     0     0\n');
  assertOk(await instance.run(['user', 'quota', 'alice@example.org', 'unlimited']));
  assert.equal(await quota(), null);
  assertOk(await instance.run(['user', 'quota', 'alice@example.org', '500M']));
  assertOk(await instance.run(['user', 'quota', 'alice@example.org', '0']));
  assert.equal(await quota(), null);
  assertFails(
    await instance.run(['user', 'quota', 'alice@example.org', 'lots']),
    2,
    'invalid size "lots": expected a number with an optional unit K, M, G or T (e.g. 500M, 2G), or "unlimited"',
  );
  assertFails(await instance.run(['user', 'quota', 'nobody@example.org', '1G']), 1, 'no such user: nobody@example.org');
  assertFails(await instance.run(['user', 'quota', 'alice@example.org']), 2, "missing required argument 'size'");
});

test('user del removes the account', async (t) => {
  const instance = await withDomain(t);
  assertOk(await instance.run(['user', 'add', 'alice@example.org', '--password-stdin'], { stdin: 'long enough\n' }));
  assertOk(await instance.run(['user', 'add', 'bob@example.org', '--password-stdin'], { stdin: 'long enough\n' }));
  assertOk(await instance.run(['user', 'del', 'alice@example.org']));
  assertFails(await instance.run(['user', 'del', 'alice@example.org']), 1, 'no such user: alice@example.org');
  const users = await jsonList<Array<{ address: string }>>(instance, ['user', 'list']);
  assert.deepEqual(users.map((u) => u.address), ['bob@example.org']);
});

test('alias add, list, del, including a catch-all and remote targets', async (t) => {
  const instance = await withDomain(t);
  assertOk(await instance.run(['user', 'add', 'alice@example.org', '--password-stdin'], { stdin: 'long enough\n' }));
  assertOk(await instance.run(['alias', 'add', 'Info@Example.org', 'alice@example.org', 'Partner@Remote.test', 'alice@example.org']));
  assertOk(await instance.run(['alias', 'add', '@example.org', 'alice@example.org']));
  assertFails(await instance.run(['alias', 'add', 'info@example.org', 'alice@example.org']), 1, 'alias info@example.org already exists');
  assertFails(await instance.run(['alias', 'add', 'alice@example.org', 'partner@remote.test']), 1, 'alice@example.org is already a user');
  assertFails(await instance.run(['alias', 'add', 'sales@nowhere.test', 'alice@example.org']), 1, 'unknown domain nowhere.test for sales@nowhere.test (add it with: mailhaven domain add nowhere.test)');
  assertFails(await instance.run(['alias', 'add', 'sales@example.org', 'not-an-address']), 1, 'invalid address "not-an-address": expected local-part@domain');
  assertFails(await instance.run(['alias', 'add', 'sales@example.org']), 2, "missing required argument 'targets'");
  assertFails(await instance.run(['user', 'add', 'info@example.org', '--password-stdin'], { stdin: 'long enough\n' }), 1, 'info@example.org is already an alias');

  assert.deepEqual(await jsonList(instance, ['alias', 'list']), [
    { address: '@example.org', targets: ['alice@example.org'] },
    { address: 'info@example.org', targets: ['alice@example.org', 'partner@remote.test'] },
  ]);
  assertOk(
    await instance.run(['alias', 'list']),
    'ALIAS             TARGETS\n@example.org      alice@example.org\ninfo@example.org  alice@example.org, partner@remote.test\n',
  );

  assertOk(await instance.run(['alias', 'del', '@example.org']));
  assertFails(await instance.run(['alias', 'del', '@example.org']), 1, 'no such alias: @example.org');
  assert.deepEqual(await jsonList(instance, ['alias', 'list']), [{ address: 'info@example.org', targets: ['alice@example.org', 'partner@remote.test'] }]);
});

test('usage errors exit 2 with one line', async (t) => {
  const instance = createTempInstance(t);
  assertFails(await instance.run(['user']), 2, 'missing command (see mailhaven --help)');
  assertFails(await instance.run(['frobnicate']), 2, "unknown command 'frobnicate'");
  assertFails(await instance.run(['domain', 'lst']), 2, "unknown command 'lst' (Did you mean list?)");
  assertFails(await instance.run(['user', 'list', '--jsn']), 2, "unknown option '--jsn' (Did you mean --json?)");
  assertFails(await instance.run(['domain', 'add']), 2, "missing required argument 'domain'");
  assertFails(await instance.run(['domain', 'add', 'a.example', 'b.example']), 2, "too many arguments for 'add'. Expected 1 argument but got 2.");
});

test('--help and --version exit 0 on stdout', async () => {
  const help = await runMailhavenProcess(['--help']);
  assert.equal(help.code, 0);
  assert.equal(help.stderr, '');
  assert.match(help.stdout, /^Usage: mailhaven \[options\] \[command\]\n/);
  for (const command of ['serve', 'domain', 'user', 'alias', 'import']) assert.match(help.stdout, new RegExp(`\\n  ${command} `));
  const version = await runMailhavenProcess(['--version']);
  assert.deepEqual(version, { code: 0, signal: null, stdout: '0.1.0\n', stderr: '' });
});

test('configuration errors exit 78 naming file, key and reason', async (t) => {
  const instance = createTempInstance(t, '[limits]\nmessage_size = "lots"\n');
  assertFails(await instance.run(['domain', 'list']), 78, `${instance.configPath}: limits.message_size: expected a size like 50M, got "lots"`);
  const missing = join(instance.dir, 'missing.toml');
  assertFails(await runMailhaven(['domain', 'list', '--config', missing]), 78, `${missing}: cannot read: file not found`);
  assertFails(await runMailhaven(['serve', '--config', instance.configPath]), 78, `${instance.configPath}: limits.message_size: expected a size like 50M, got "lots"`);
});

test('--config also works before the command and through $MAILHAVEN_CONFIG', async (t) => {
  const instance = createTempInstance(t);
  assertOk(await runMailhaven(['--config', instance.configPath, 'domain', 'add', 'one.example']));
  assertOk(await runMailhaven(['domain', 'add', 'two.example'], { env: { MAILHAVEN_CONFIG: instance.configPath } }));
  const listed = await jsonList<Array<{ name: string }>>(instance, ['domain', 'list']);
  assert.deepEqual(listed.map((d) => d.name), ['one.example', 'two.example']);
});

/** The stored PHC string, read through the store the way auth will. */
async function storedPasswordHash(instance: TempInstance, address: string): Promise<string> {
  const { openSqliteStore } = await import('../src/store/sqlite/index.js');
  const { LocalChangeBus } = await import('../src/events/local.js');
  const store = await openSqliteStore({ dataDir: instance.dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  try {
    const account = await store.getAccount(address);
    assert.ok(account, `account ${address} exists`);
    return account.passwordHash;
  } finally {
    await store.close();
  }
}

test('import: usage errors, unknown user, and the summary line', async (t) => {
  const instance = await withDomain(t);
  const mbox = join(instance.dir, 'in.mbox');
  writeFileSync(mbox, 'From a@example.net Sun Jan 23 20:41:55 2022\nSubject: one\n\nbody\n\nFrom b@example.net Sun Jan 23 20:41:56 2022\nSubject: two\n\nbody\n');
  assertFails(await instance.run(['import', 'alice@example.org']), 2, 'import needs --mbox FILE or --maildir DIR');
  assertFails(await instance.run(['import', 'alice@example.org', '--mbox', mbox, '--maildir', instance.dir]), 2, 'give either --mbox or --maildir, not both');
  assertFails(await instance.run(['import', 'alice@example.org', '--mbox', mbox, '--mailbox', 'a//b']), 2, 'invalid mailbox name "a//b": levels separated by "/" must not be empty');
  assertFails(await instance.run(['import', 'alice@example.org', '--mbox', mbox]), 1, 'no such user: alice@example.org');
  assertOk(await instance.run(['user', 'add', 'alice@example.org', '--password-stdin'], { stdin: 'long enough\n' }));
  assertFails(await instance.run(['import', 'alice@example.org', '--mbox', join(instance.dir, 'missing.mbox')]), 1, `cannot read ${join(instance.dir, 'missing.mbox')}: ENOENT`);
  const result = await instance.run(['import', 'alice@example.org', '--mbox', mbox, '--mailbox', 'Old/2022']);
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^imported 2 messages into 1 mailbox in \d+\.\d s\n$/);
  const users = await jsonList<Array<{ usedMessages: number }>>(instance, ['user', 'list']);
  assert.equal(users[0]?.usedMessages, 2);
});
