/**
 * The POP3 admin commands: `user apop` (the shared secret for APOP, stored encrypted) and
 * `user|domain pop3-retention`, run through the real command line code with a temp instance.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decryptSecret } from '../src/auth/secret.js';
import { LocalChangeBus } from '../src/events/local.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { MailStore } from '../src/store/types.js';
import { createTempInstance } from './helpers/cli.js';
import type { CliResult, TempInstance } from './helpers/cli.js';

function assertOk(result: CliResult): void {
  assert.deepEqual({ code: result.code, stdout: result.stdout, stderr: result.stderr }, { code: 0, stdout: '', stderr: '' });
}

function assertFails(result: CliResult, code: number, line: string): void {
  assert.deepEqual({ code: result.code, stdout: result.stdout, stderr: result.stderr }, { code, stdout: '', stderr: `mailhaven: ${line}\n` });
}

async function instanceWithUser(t: Parameters<typeof createTempInstance>[0]): Promise<TempInstance> {
  const instance = createTempInstance(t);
  assertOk(await instance.run(['domain', 'add', 'example.org']));
  assertOk(await instance.run(['user', 'add', 'tim@example.org', '--password-stdin'], { stdin: 'login password 1\n' }));
  return instance;
}

/** Opens the instance's store directly (the CLI has closed it) to look at what was written. */
async function withStore<T>(instance: TempInstance, run: (store: MailStore) => Promise<T>): Promise<T> {
  const bus = new LocalChangeBus();
  const store = await openSqliteStore({ dataDir: instance.dataDir, bus, pollIntervalMs: 0, sweepIntervalMs: 0 });
  try {
    return await run(store);
  } finally {
    await store.close();
    await bus.close();
  }
}

test('user apop --secret-stdin stores the secret encrypted under data_dir/secret.key; --disable removes it', async (t) => {
  const instance = await instanceWithUser(t);
  assertOk(await instance.run(['user', 'apop', 'Tim@Example.org', '--secret-stdin'], { stdin: 'tanstaaf-but-longer\r\nignored\n' }));
  const keyFile = join(instance.dataDir, 'secret.key');
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  const key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
  await withStore(instance, async (store) => {
    const account = await store.getAccount('tim@example.org');
    const stored = await store.getSecret(account!.id);
    assert.ok(stored !== null && stored.startsWith('v1:'));
    assert.ok(!stored.includes('tanstaaf'));
    assert.equal(decryptSecret(stored, key, account!.id), 'tanstaaf-but-longer');
  });
  assertOk(await instance.run(['user', 'apop', 'tim@example.org', '--disable']));
  await withStore(instance, async (store) => {
    const account = await store.getAccount('tim@example.org');
    assert.equal(await store.getSecret(account!.id), null);
  });
});

test('user apop refuses weak secrets, the login password, unknown users and wrong usage', async (t) => {
  const instance = await instanceWithUser(t);
  assertFails(await instance.run(['user', 'apop', 'tim@example.org', '--secret-stdin'], { stdin: 'short\n' }), 1, 'weak secret: fewer than 8 characters');
  assertFails(await instance.run(['user', 'apop', 'tim@example.org', '--secret-stdin'], { stdin: '\n' }), 1, 'empty secret');
  assertFails(await instance.run(['user', 'apop', 'tim@example.org', '--secret-stdin'], { stdin: 'login password 1\n' }), 1, 'the shared secret must not be the login password');
  assertFails(await instance.run(['user', 'apop', 'nobody@example.org', '--secret-stdin'], { stdin: 'long enough secret\n' }), 1, 'no such user: nobody@example.org');
  assertFails(await instance.run(['user', 'apop', 'nobody@example.org', '--disable']), 1, 'no such user: nobody@example.org');
  assertFails(await instance.run(['user', 'apop', 'tim@example.org']), 2, 'user apop needs exactly one of --secret-stdin and --disable');
  assertFails(await instance.run(['user', 'apop', 'tim@example.org', '--disable', '--secret-stdin']), 2, 'user apop needs exactly one of --secret-stdin and --disable');
});

test('pop3-retention per domain and per user, with inherit and never', async (t) => {
  const instance = await instanceWithUser(t);
  assertOk(await instance.run(['domain', 'pop3-retention', 'Example.org', '30']));
  assertOk(await instance.run(['user', 'pop3-retention', 'tim@example.org', '7']));
  await withStore(instance, async (store) => {
    assert.equal(await store.getPop3Retention({ domain: 'example.org' }), 30);
    assert.equal(await store.getPop3Retention({ address: 'tim@example.org' }), 7);
  });
  assertOk(await instance.run(['user', 'pop3-retention', 'tim@example.org', 'never']));
  await withStore(instance, async (store) => {
    const account = await store.getAccount('tim@example.org');
    assert.equal(await store.pop3RetentionDays(account!.id), null);
  });
  assertOk(await instance.run(['user', 'pop3-retention', 'tim@example.org', 'inherit']));
  await withStore(instance, async (store) => {
    const account = await store.getAccount('tim@example.org');
    assert.equal(await store.pop3RetentionDays(account!.id), 30);
  });
  assertOk(await instance.run(['domain', 'pop3-retention', 'example.org', 'never']));
  await withStore(instance, async (store) => assert.equal(await store.shortestPop3Retention(), null));

  assertFails(await instance.run(['domain', 'pop3-retention', 'example.org', 'inherit']), 2, 'expected a number of days (1 to 36500) or "never", got "inherit"');
  assertFails(await instance.run(['user', 'pop3-retention', 'tim@example.org', '0']), 2, 'expected a number of days (1 to 36500), "never" or "inherit", got "0"');
  assertFails(await instance.run(['user', 'pop3-retention', 'tim@example.org', '36501']), 2, 'expected a number of days (1 to 36500), "never" or "inherit", got "36501"');
  assertFails(await instance.run(['domain', 'pop3-retention', 'missing.example', '3']), 1, 'no such domain: missing.example');
  assertFails(await instance.run(['user', 'pop3-retention', 'ghost@example.org', '3']), 1, 'no such user: ghost@example.org');
});
