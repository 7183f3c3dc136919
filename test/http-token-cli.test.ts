/**
 * `mailhaven token create|list|revoke`, in-process through runCli like the other CLI tests:
 * exact output, exit statuses, and that a created token opens the API of a server on the same
 * data directory while a revoked one no longer does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalChangeBus } from '../src/events/local.js';
import { TokenOperations } from '../src/http/tokens.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { createTempInstance } from './helpers/cli.js';

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test('token create prints the token once; list shows names and dates; revoke removes it', async (t) => {
  const instance = createTempInstance(t);
  const created = await instance.run(['token', 'create', 'ci']);
  assert.equal(created.stderr, '');
  assert.equal(created.code, 0);
  assert.match(created.stdout, /^mh_[A-Za-z0-9_-]{43}\n$/);
  const token = created.stdout.trim();

  const json = await instance.run(['token', 'list', '--json']);
  assert.equal(json.code, 0);
  const listed = JSON.parse(json.stdout) as Array<{ name: string; createdAt: string; lastUsedAt: string | null }>;
  assert.equal(listed.length, 1);
  assert.equal(listed[0]?.name, 'ci');
  assert.match(listed[0]?.createdAt ?? '', ISO_DATE);
  assert.equal(listed[0]?.lastUsedAt, null);
  assert.ok(!json.stdout.includes(token), 'the token is never listed');

  const table = await instance.run(['token', 'list']);
  assert.equal(table.stdout, `NAME  CREATED${' '.repeat(19)}LAST USED\nci    ${listed[0]?.createdAt}  never\n`);

  // The token works against the same data directory, then stops working once revoked.
  const store = await openSqliteStore({ dataDir: instance.dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(() => store.close());
  const operations = new TokenOperations(store);
  assert.equal((await operations.verify(token))?.name, 'ci');
  const revoked = await instance.run(['token', 'revoke', 'ci']);
  assert.deepEqual([revoked.code, revoked.stdout, revoked.stderr], [0, '', '']);
  assert.equal(await operations.verify(token), null);
  assert.equal((await instance.run(['token', 'list'])).stdout, 'NAME  CREATED  LAST USED\n');
});

test('token errors: duplicate name, invalid name, unknown token, missing argument', async (t) => {
  const instance = createTempInstance(t);
  assert.equal((await instance.run(['token', 'create', 'grafana'])).code, 0);
  const cases: Array<[string[], number, string]> = [
    [['token', 'create', 'grafana'], 1, 'token grafana already exists'],
    [['token', 'create', 'has space'], 2, 'invalid token name "has space": 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'],
    [['token', 'revoke', 'nobody'], 1, 'no such token: nobody'],
    [['token', 'create'], 2, "missing required argument 'name'"],
  ];
  for (const [args, code, message] of cases) {
    const result = await instance.run(args);
    assert.deepEqual([result.code, result.stdout, result.stderr], [code, '', `mailhaven: ${message}\n`], args.join(' '));
  }
});
