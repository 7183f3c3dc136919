/**
 * The PostgreSQL connection layer: one `pg.Pool` per store whose connections all use the store's
 * schema (a `search_path` startup option, so no extra round trip), integers read as numbers, and
 * PostgreSQL errors mapped onto StoreError once.
 *
 * A write runs in `transaction()`: BEGIN, the operation, COMMIT. Deadlocks and serialization
 * failures roll back and run the whole operation again (a few times, then StoreError('busy'));
 * a lost connection is StoreError('busy') at once, because a COMMIT in flight may or may not have
 * happened and running the operation again could do it twice.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { ClientConfig, CustomTypesConfig, PoolClient, QueryConfig, QueryResultRow } from 'pg';
import { StoreError } from '../types.js';

export type SqlParam = string | number | bigint | boolean | Buffer | Uint8Array | null | readonly SqlParam[];

/** What both a pool and a client in a transaction can do. */
export interface Queryable {
  query(config: QueryConfig<SqlParam[]>): Promise<pg.QueryResult<QueryResultRow>>;
}

/** Schema names are restricted to what needs no quoting anywhere (search_path, LISTEN channels). */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,44}$/;

export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new StoreError('invalid', `schema name ${JSON.stringify(schema)}: use 1-45 of a-z, 0-9, _ (not starting with a digit)`);
  }
  return schema;
}

const BYTEA_OID = 17;
const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * bigint (ids, sizes, MODSEQs) and numeric (sum() of bigints) as JavaScript numbers: every value
 * the store keeps is far below 2^53. bytea fetched in binary format (blob reads) stays the Buffer
 * it arrives as, instead of twice its size in hex. The global pg parsers stay untouched.
 */
type ValueParser = (value: string) => unknown;

function storeTypeParser(oid: number, format?: 'text' | 'binary'): ValueParser {
  if (format === 'binary') {
    // pg hands binary values over as Buffers (typed as strings by @types/pg).
    if (oid === BYTEA_OID) return (value) => value;
    return pg.types.getTypeParser(oid, 'binary') as ValueParser;
  }
  if (oid === INT8_OID || oid === NUMERIC_OID) return (text) => Number(text);
  return pg.types.getTypeParser(oid) as ValueParser;
}

const storeTypes: CustomTypesConfig = { getTypeParser: storeTypeParser as typeof pg.types.getTypeParser };

/**
 * The schema a URL asks for with `options=-c search_path=<schema>` (how a configuration that has
 * only a URL picks a schema), or undefined.
 */
export function schemaFromUrl(url: string): string | undefined {
  let options: string | null;
  try {
    options = new URL(url).searchParams.get('options');
  } catch {
    return undefined;
  }
  const match = /(?:^|\s)-c\s*search_path\s*=\s*"?([a-z_][a-z0-9_]*)"?(?:\s|,|$)/.exec(options ?? '');
  return match?.[1];
}

/**
 * A node that dies or hangs must not keep account rows locked for long: the server drops a
 * connection whose peer stopped answering TCP keepalives (about a minute), and a session idle
 * inside a transaction (a node stuck between two statements) after 60 s. A process that is
 * killed closes its sockets at once and needs neither.
 */
const SESSION_SAFETY = [
  '-c idle_in_transaction_session_timeout=60000',
  '-c tcp_keepalives_idle=30',
  '-c tcp_keepalives_interval=10',
  '-c tcp_keepalives_count=3',
];

export interface ConnectionSettings {
  url: string;
  schema: string;
  /** application_name the server shows for these connections; default "mailhaven". */
  applicationName?: string;
  /** More server settings for these connections, as `-c name=value` options. */
  extraOptions?: string;
  /** Seconds to wait for a free pool connection or a new one before StoreError('busy'). */
  connectTimeoutMs?: number;
}

/**
 * Client settings for the store's schema. The URL's own `options` parameter, if any, is kept and
 * the search_path setting appended to it (pg would otherwise let the URL's value win).
 */
export function clientConfig(settings: ConnectionSettings): ClientConfig {
  const schema = checkSchemaName(settings.schema);
  let connectionString = settings.url;
  let options = [`-c search_path=${schema}`, ...SESSION_SAFETY, ...(settings.extraOptions ? [settings.extraOptions] : [])].join(' ');
  try {
    const parsed = new URL(settings.url);
    const own = parsed.searchParams.get('options');
    if (own !== null) {
      parsed.searchParams.delete('options');
      connectionString = parsed.toString();
      options = `${own} ${options}`;
    }
  } catch {
    // Not a URL pg's own parser cannot read either; let pg report it.
  }
  return {
    connectionString,
    options,
    application_name: settings.applicationName ?? 'mailhaven',
    types: storeTypes,
    keepAlive: true,
    connectionTimeoutMillis: settings.connectTimeoutMs ?? 10_000,
  };
}

export function createPool(settings: ConnectionSettings, max: number, onIdleError: (err: Error) => void): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(settings), max, idleTimeoutMillis: 30_000 });
  // An idle connection that dies (server restart) must not crash the process; pg replaces it.
  pool.on('error', onIdleError);
  return pool;
}

/** Rows typed by the caller (the SQL decides their shape). */
export async function rows<R extends object>(db: Queryable, text: string, values: SqlParam[] = []): Promise<R[]> {
  try {
    return (await db.query({ text, values })).rows as R[];
  } catch (err) {
    throw annotate(err, text);
  }
}

export async function row<R extends object>(db: Queryable, text: string, values: SqlParam[] = []): Promise<R | undefined> {
  return (await rows<R>(db, text, values))[0];
}

/**
 * Rows in binary format: for statements returning only bytea columns (blob reads), which then
 * arrive as Buffers without the hex round trip.
 */
export async function binaryRows<R extends object>(db: Queryable, text: string, values: SqlParam[] = []): Promise<R[]> {
  // `binary` is a per-query option of pg that @types/pg does not declare.
  const config: QueryConfig<SqlParam[]> & { binary: boolean } = { text, values, binary: true };
  try {
    return (await db.query(config)).rows as R[];
  } catch (err) {
    throw annotate(err, text);
  }
}

/** Number of rows the statement touched. */
export async function run(db: Queryable, text: string, values: SqlParam[] = []): Promise<number> {
  try {
    return (await db.query({ text, values })).rowCount ?? 0;
  } catch (err) {
    throw annotate(err, text);
  }
}

/** Keeps the failing statement next to a database error, for logs (the message stays pg's). */
function annotate(err: unknown, text: string): unknown {
  if (err instanceof Error && sqlState(err) !== undefined && !('statement' in err)) {
    Object.defineProperty(err, 'statement', { value: text.replace(/\s+/g, ' ').trim(), enumerable: false });
  }
  return err;
}

// ---- errors ------------------------------------------------------------------------------------

/** SQLSTATE of a PostgreSQL error (pg's DatabaseError carries it as `code`). */
export function sqlState(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code)) {
    return err.code;
  }
  return undefined;
}

/** Deadlock or serialization failure: the transaction was rolled back and may simply run again. */
export function isRetryable(err: unknown): boolean {
  const state = sqlState(err);
  return state === '40001' || state === '40P01';
}

const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** The connection is gone or could not be made (server down, restarted, network, pool timeout). */
export function isConnectionError(err: unknown): boolean {
  const state = sqlState(err);
  if (state !== undefined) return state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03';
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' && NETWORK_ERRORS.has(err.code)) return true;
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed|timeout exceeded when trying to connect/i.test(message);
}

/** Maps a database failure to a StoreError; StoreErrors and program bugs pass through. */
export function storeErrorOf(err: unknown): unknown {
  if (err instanceof StoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isConnectionError(err)) return new StoreError('busy', `database unavailable: ${message}`);
  if (/Cannot use a pool after calling end/.test(message)) return new StoreError('cannot', 'the store is closed');
  const state = sqlState(err);
  if (state === undefined) return err;
  if (isRetryable(err)) return new StoreError('busy', `database contention: ${message}`);
  switch (state) {
    case '23505': // unique_violation
      return new StoreError('exists', message);
    case '23503': // foreign_key_violation: something still uses it, or it went away meanwhile
      return new StoreError('cannot', message);
    case '55P03': // lock_not_available (lock_timeout)
    case '57014': // query_canceled (statement_timeout)
    case '53200': // out_of_memory
    case '53300': // too_many_connections
      return new StoreError('busy', `database busy: ${message}`);
    case '53100': // disk_full
      return new StoreError('noSpace', `database: ${message}`);
  }
  if (state.startsWith('22')) return new StoreError('invalid', `database rejected a value: ${message}`);
  if (state.startsWith('58') || state.startsWith('XX')) return new StoreError('io', `database ${state}: ${message}`);
  return err;
}

// ---- transactions ------------------------------------------------------------------------------

export interface TransactionOptions {
  /** Attempts for deadlocks and serialization failures before StoreError('busy'). */
  attempts: number;
  /** Called when an attempt is rolled back to be tried again. */
  onRetry?: (err: unknown, attempt: number) => void;
}

/**
 * Runs `work` in one transaction on a pool connection and commits. `work` may run more than once
 * (deadlock, serialization failure), each time on a fresh transaction: it must keep its state in
 * what it creates per call.
 */
export async function transaction<T>(pool: pg.Pool, work: (client: PoolClient) => Promise<T>, opts: TransactionOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw storeErrorOf(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const value = await work(client);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // The connection is unusable: pg must discard it rather than hand it out again.
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
      if (isRetryable(err) && attempt < opts.attempts) {
        opts.onRetry?.(err, attempt);
        await sleep(backoffMs(attempt));
        continue;
      }
      throw storeErrorOf(err);
    } finally {
      client.release(broken);
    }
  }
}

/** 2, 4, 8... ms with jitter, so two nodes that deadlocked do not meet again in lockstep. */
function backoffMs(attempt: number): number {
  const base = Math.min(2 ** attempt, 100);
  return base / 2 + Math.random() * base;
}
