/**
 * The MailStore conformance suite on the PostgreSQL backend, each test in a fresh schema of the
 * test database (dropped afterwards). No reachable server: the suite is skipped with the reason,
 * loudly, unless MAILHAVEN_REQUIRE_POSTGRES=1 (CI), where that is a failure.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runStoreConformance } from '../src/store/conformance.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { dropSchema, freshSchemaName, postgresTestTarget, withTestClient } from '../src/store/postgres/testing.js';

const target = await postgresTestTarget();

if (target.unavailable !== null) {
  const reason = `PostgreSQL not reachable at ${target.url} (${target.unavailable}); set MAILHAVEN_TEST_POSTGRES_URL`;
  if (target.required) {
    test('PostgreSQL conformance suite', () => assert.fail(`${reason}, and MAILHAVEN_REQUIRE_POSTGRES=1 requires it`));
  } else {
    console.warn(`\n*** SKIPPING the PostgreSQL store conformance suite: ${reason} ***\n`);
    test('PostgreSQL conformance suite', { skip: reason }, () => undefined);
  }
} else {
  runStoreConformance('postgres', async ({ now }) => {
    const schema = freshSchemaName();
    const store = await openPostgresStore({ url: target.url, schema, now, sweepIntervalMs: 0, poolSize: 5 });
    return {
      store,
      bus: store.bus,
      cleanup: () => dropSchema(target.url, schema),
      countBlobs: () =>
        withTestClient(target.url, async (client) => Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.blobs`)).rows[0]?.n)),
    };
  });
}
