/**
 * Authentication throttle counters shared by every node (auth/throttle-shared.ts ThrottleStore):
 * one row per key in `auth_throttle` (schema migration 3), written with an upsert that first lets
 * the old count leak away, the same arithmetic as MemoryAuthThrottle:
 *
 *   failures(now) = max(0, failures - (now - updated_at) / decay)
 *
 * Time is the database's clock (every node agrees on it). Rows whose count has leaked to zero are
 * deleted now and then, so the table holds only keys that failed within the last few minutes.
 * The counters have their own small pool: a slow throttle query never waits behind deliveries.
 * @module
 */
import type pg from 'pg';
import type { ThrottleStore } from '../../auth/throttle-shared.js';
import { createPool, schemaFromUrl, storeErrorOf } from './db.js';

const DEFAULT_SCHEMA = 'public';
/** Upper bound of keys per call (an IP and an account name). */
const MAX_KEYS = 8;
/** Keys longer than this are cut (an IPv6 /64 or an address is far shorter). */
const MAX_KEY_LENGTH = 320;
/** Failures recorded between two prunes of decayed rows. */
const PRUNE_EVERY = 200;

/** Milliseconds on the database's clock. */
const NOW_MS = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;

export class PostgresThrottleStore implements ThrottleStore {
  #sincePrune = 0;

  constructor(private readonly pool: pg.Pool) {}

  /** A store on the database and schema of a `[storage] url` (the same schema the mail store uses). */
  static open(url: string, onIdleError: (err: Error) => void = () => undefined): PostgresThrottleStore {
    const schema = schemaFromUrl(url) ?? DEFAULT_SCHEMA;
    return new PostgresThrottleStore(createPool({ url, schema, applicationName: 'mailhaven-throttle', connectTimeoutMs: 5000 }, 2, onIdleError));
  }

  async addFailure(keys: readonly string[], decayMs: number): Promise<void> {
    await this.#query(
      `INSERT INTO auth_throttle (key, failures, updated_at)
         SELECT k, 1, ${NOW_MS} FROM unnest($1::text[]) AS k
       ON CONFLICT (key) DO UPDATE SET
         failures = greatest(0, auth_throttle.failures - greatest(0, EXCLUDED.updated_at - auth_throttle.updated_at)::float8 / $2) + 1,
         updated_at = EXCLUDED.updated_at`,
      [clean(keys), decay(decayMs)],
    );
    if (++this.#sincePrune >= PRUNE_EVERY) {
      this.#sincePrune = 0;
      await this.#query(`DELETE FROM auth_throttle WHERE failures - (${NOW_MS} - updated_at)::float8 / $1 <= 0`, [decay(decayMs)]);
    }
  }

  async failures(keys: readonly string[], decayMs: number): Promise<number> {
    const result = await this.#query(
      `SELECT coalesce(max(greatest(0, failures - greatest(0, ${NOW_MS} - updated_at)::float8 / $2)), 0) AS failures
         FROM auth_throttle WHERE key = ANY($1::text[])`,
      [clean(keys), decay(decayMs)],
    );
    return Number((result.rows[0] as { failures?: unknown } | undefined)?.failures ?? 0);
  }

  async clear(key: string): Promise<void> {
    await this.#query('DELETE FROM auth_throttle WHERE key = $1', [clean([key])[0] ?? '']);
  }

  close(): Promise<void> {
    return this.pool.end();
  }

  async #query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.pool.query({ text, values });
    } catch (err) {
      throw storeErrorOf(err);
    }
  }
}

function clean(keys: readonly string[]): string[] {
  return keys.slice(0, MAX_KEYS).map((key) => key.slice(0, MAX_KEY_LENGTH));
}

function decay(decayMs: number): number {
  return Math.max(1, decayMs);
}
