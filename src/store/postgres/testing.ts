/**
 * Test support for the PostgreSQL backend: where the test server is, whether it answers, and a
 * fresh schema per store so tests never see each other's rows (they may run concurrently against
 * one database). Used by test/store-postgres*.test.ts; not part of the server.
 *
 * `MAILHAVEN_TEST_POSTGRES_URL` names the server (default: the local one, database `test`).
 * `MAILHAVEN_REQUIRE_POSTGRES=1` (set by .ci/run) turns "not reachable" from a skip into a failure.
 * @module
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_TEST_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface PostgresTestTarget {
  url: string;
  /** Null when the server answered; otherwise why not. */
  unavailable: string | null;
  /** A missing server is a failure, not a skip. */
  required: boolean;
}

/** Connects once (3 s at most) to find out whether the test server is there. */
export async function postgresTestTarget(env: NodeJS.ProcessEnv = process.env): Promise<PostgresTestTarget> {
  const url = env.MAILHAVEN_TEST_POSTGRES_URL ?? DEFAULT_TEST_POSTGRES_URL;
  const required = env.MAILHAVEN_REQUIRE_POSTGRES === '1';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { url, unavailable: null, required };
  } catch (err) {
    return { url, unavailable: err instanceof Error ? err.message || err.name : String(err), required };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A schema name nobody else uses: mh_test_<random>. */
export function freshSchemaName(): string {
  return `mh_test_${randomBytes(6).toString('hex')}`;
}

/** Runs SQL on its own short connection (test setup and inspection, outside any store). */
export async function withTestClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function dropSchema(url: string, schema: string): Promise<void> {
  if (!/^mh_test_[0-9a-f]+$/.test(schema)) throw new Error(`refusing to drop ${schema}: not a test schema`);
  return withTestClient(url, async (client) => {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });
}
