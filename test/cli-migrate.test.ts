/**
 * mailhaven migrate --to: a SQLite installation made with the CLI itself ends up in PostgreSQL
 * with the same account, mailboxes, UIDs and bytes.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { dropSchema, freshSchemaName, postgresTestTarget } from '../src/store/postgres/testing.js';
import { createTempInstance } from './helpers/cli.js';

const target = await postgresTestTarget();
const skip = target.unavailable === null || target.required ? false : `PostgreSQL not reachable at ${target.url} (${target.unavailable})`;

function withSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.toString();
}

test('migrate --to copies accounts and messages with their UIDs; usage errors exit 2', { skip }, async (t) => {
  const instance = createTempInstance(t);
  assert.equal((await instance.run(['domain', 'add', 'example.org'])).code, 0);
  assert.equal((await instance.run(['user', 'add', 'ann@example.org', '--password-stdin'], { stdin: 'a long passphrase\n' })).code, 0);
  const mbox = join(instance.dir, 'in.mbox');
  writeFileSync(
    mbox,
    'From a@example.net Mon Jan  1 10:00:00 2024\nSubject: one\n\nfirst\n\n' +
      'From a@example.net Tue Jan  2 10:00:00 2024\nSubject: two\n\nsecond\n',
  );
  assert.equal((await instance.run(['import', 'ann@example.org', '--mbox', mbox])).code, 0);

  const bad = await instance.run(['migrate', '--to', 'mysql://x']);
  assert.deepEqual([bad.code, bad.stderr], [2, 'mailhaven: --to must be a postgres:// URL\n']);

  const schema = freshSchemaName();
  t.after(() => dropSchema(target.url, schema));
  const result = await instance.run(['migrate', '--to', withSchema(target.url, schema)]);
  assert.deepEqual(result, { code: 0, signal: null, stdout: 'migrated 1 account and 2 messages to PostgreSQL\n', stderr: '' });

  const pg = await openPostgresStore({ url: target.url, schema, listen: false, sweepIntervalMs: 0 });
  t.after(() => pg.close());
  const account = await pg.getAccount('ann@example.org');
  assert.ok(account);
  const inbox = await pg.getMailbox(account.id, 'INBOX');
  assert.ok(inbox);
  const messages = await pg.listMessages(inbox.id);
  assert.deepEqual(messages.map((m) => m.uid), [1, 2]);
  const first = await pg.readMessage(messages[0]!);
  assert.equal(first.toString('utf8'), 'Subject: one\r\n\r\nfirst\r\n');
});
