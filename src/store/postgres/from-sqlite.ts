/**
 * Moves a whole SQLite installation (docs/storage.md) into an empty PostgreSQL schema, so a
 * single node can become a cluster without clients noticing: every id, UID, UIDVALIDITY, UIDNEXT,
 * MODSEQ, flag, keyword, internal date and per-copy prefix is kept, and so is the change log, so
 * IMAP clients neither re-download (same UIDVALIDITY and UIDs) nor lose their CONDSTORE/QRESYNC
 * state. Also copied: domains, accounts (passwords, quotas, usage, secrets, POP3 retention),
 * aliases, subscriptions, the outbound queue, admin tokens, and every message body that a message
 * or queue entry references (checked against its SHA-256 while it is copied).
 *
 * Everything is written in ONE PostgreSQL transaction: the result is all or nothing, and a failed
 * run can simply be started again. The SQLite database is only read, inside one read transaction
 * (a consistent snapshot); stop the server first, so no new mail arrives in the old store.
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { PoolClient } from 'pg';
import { SCHEMA_VERSION as SQLITE_SCHEMA_VERSION } from '../sqlite/schema.js';
import { StoreError } from '../types.js';
import { DEFAULT_CHUNK_SIZE } from './blobs.js';
import type { SqlParam } from './db.js';
import { checkSchemaName, createPool, row, rows, schemaFromUrl, storeErrorOf } from './db.js';
import { migrate } from './schema.js';

export interface SqliteToPostgresOptions {
  /** The SQLite installation's data directory (mailhaven.db and blobs/). */
  dataDir: string;
  /** The PostgreSQL database; the schema comes from `schema`, else the URL, else "public". */
  url: string;
  schema?: string;
  /** Called as each table is copied (the CLI shows it). */
  onProgress?: (progress: MigrationProgress) => void;
}

export interface MigrationProgress {
  table: string;
  rows: number;
}

/** Rows copied per table, and the bodies copied. */
export interface MigrationReport {
  domains: number;
  accounts: number;
  aliases: number;
  mailboxes: number;
  subscriptions: number;
  messages: number;
  changes: number;
  queue: number;
  adminTokens: number;
  dkimKeys: number;
  blobs: number;
  blobBytes: number;
}

const BATCH = 1000;
type SqliteRow = Record<string, unknown>;

export async function migrateSqliteToPostgres(opts: SqliteToPostgresOptions): Promise<MigrationReport> {
  const schema = checkSchemaName(opts.schema ?? schemaFromUrl(opts.url) ?? 'public');
  const sqlite = openSqlite(opts.dataDir);
  const pool = createPool({ url: opts.url, schema }, 2, () => undefined);
  try {
    await migrate(pool, schema);
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      sqlite.exec('BEGIN'); // one snapshot of the SQLite side for the whole copy
      const report = await copyEverything(sqlite, client, opts);
      await client.query('COMMIT');
      return report;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      });
      throw storeErrorOf(err);
    } finally {
      client.release(broken);
    }
  } finally {
    if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
    sqlite.close();
    await pool.end();
  }
}

function openSqlite(dataDir: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(join(dataDir, 'mailhaven.db'), { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new StoreError('notFound', `no SQLite installation in ${dataDir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const version = Number(db.pragma('user_version', { simple: true }));
  if (version !== SQLITE_SCHEMA_VERSION) {
    db.close();
    throw new StoreError(
      'cannot',
      version < SQLITE_SCHEMA_VERSION
        ? `the SQLite database is at schema version ${version}; open it once with this Mailhaven (any admin command) to upgrade it to ${SQLITE_SCHEMA_VERSION}`
        : `the SQLite database (schema version ${version}) is newer than this program (${SQLITE_SCHEMA_VERSION})`,
    );
  }
  return db;
}

async function copyEverything(sqlite: Database.Database, pg: PoolClient, opts: SqliteToPostgresOptions): Promise<MigrationReport> {
  const taken = await row<{ n: number }>(pg, 'SELECT (SELECT count(*) FROM domains) + (SELECT count(*) FROM accounts) + (SELECT count(*) FROM blobs) AS n');
  if ((taken?.n ?? 0) > 0) throw new StoreError('cannot', 'the PostgreSQL schema is not empty: migrate only into a new schema or database');
  const progress = (table: string, count: number): number => {
    opts.onProgress?.({ table, rows: count });
    return count;
  };
  const copy = (table: string, select: string, insert: Insert): Promise<number> => copyTable(sqlite, pg, select, insert).then((n) => progress(table, n));

  const report: MigrationReport = {
    domains: await copy('domains', 'SELECT id, name, created_at, pop3_retention_days FROM domains', DOMAINS),
    accounts: await copy(
      'accounts',
      `SELECT id, address, domain_id, password_hash, quota_bytes, quota_messages, used_bytes, used_messages, modseq, secret_enc,
              created_at, pop3_retention_days FROM accounts`,
      ACCOUNTS,
    ),
    aliases: await copy('aliases', 'SELECT id, address, domain_id, created_at FROM aliases', ALIASES),
    mailboxes: 0,
    subscriptions: 0,
    messages: 0,
    changes: 0,
    queue: 0,
    adminTokens: 0,
    dkimKeys: 0,
    blobs: 0,
    blobBytes: 0,
  };
  await copy('alias_targets', 'SELECT alias_id, position, target FROM alias_targets', ALIAS_TARGETS);
  report.mailboxes = await copy(
    'mailboxes',
    'SELECT id, account_id, name, uidvalidity, uidnext, highest_modseq, special_use, message_count, unseen_count, total_size FROM mailboxes',
    MAILBOXES,
  );
  report.subscriptions = await copy('subscriptions', 'SELECT account_id, name FROM subscriptions', SUBSCRIPTIONS);
  const blobs = await copyBlobs(sqlite, pg, opts.dataDir);
  report.blobs = progress('blobs', blobs.count);
  report.blobBytes = blobs.bytes;
  report.messages = await copy(
    'messages',
    'SELECT id, mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_hash, prefix, pop3_downloaded_at FROM messages',
    MESSAGES,
  );
  report.changes = await copy('changes', 'SELECT id, account_id, modseq, kind, mailbox_id, uid, data, created_at FROM changes', CHANGES);
  // Without the marks, a pruned log would look complete and QRESYNC would miss expunges.
  await copy('changes_pruned', 'SELECT account_id, modseq FROM changes_pruned', CHANGES_PRUNED);
  report.queue = await copy(
    'queue',
    `SELECT id, blob_hash, size, sender, recipients, ret, envid, body, smtputf8, submitter, client_address, created_at,
            next_attempt_at, attempts, lease_owner, lease_until, last_error, delay_notified FROM queue`,
    QUEUE,
  );
  report.adminTokens = await copy('admin_tokens', 'SELECT id, name, hash, created_at, last_used_at FROM admin_tokens', ADMIN_TOKENS);
  // Private keys stay sealed as they are: the PostgreSQL nodes need the same secret.key.
  report.dkimKeys = await copy(
    'dkim_keys',
    'SELECT id, domain, selector, algorithm, private_key_enc, public_key, active, created_at FROM dkim_keys',
    DKIM_KEYS,
  );

  const lastUidValidity = (sqlite.prepare("SELECT value FROM meta WHERE key = 'last_uidvalidity'").pluck().get() as string | undefined) ?? '0';
  await pg.query({ text: "UPDATE meta SET value = $1 WHERE key = 'last_uidvalidity'", values: [Number(lastUidValidity)] });
  // New rows continue after the copied ids (identity columns were given explicit values).
  for (const table of ['domains', 'accounts', 'aliases', 'mailboxes', 'messages', 'changes', 'queue', 'admin_tokens', 'dkim_keys']) {
    await pg.query(
      `SELECT setval(pg_get_serial_sequence('${table}', 'id'), coalesce((SELECT max(id) FROM ${table}), 0) + 1, false)`,
    );
  }
  return report;
}

// ---- tables ------------------------------------------------------------------------------------

/** How one table's rows become one INSERT ... SELECT FROM unnest(...) per batch. */
interface Insert {
  table: string;
  /** Column name and PostgreSQL array type, in SELECT order. */
  columns: ReadonlyArray<readonly [string, string]>;
  /** Converts one SQLite value of the column (defaults to the value itself). */
  convert?: Partial<Record<string, (value: unknown) => SqlParam>>;
  /** The table has an identity id given explicitly. */
  identity?: boolean;
}

const asBoolean = (value: unknown): SqlParam => value === 1 || value === true;
const keywordsToJson = (value: unknown): SqlParam => (typeof value === 'string' ? value : '[]');

const DOMAINS: Insert = {
  table: 'domains',
  identity: true,
  columns: [
    ['id', 'bigint'],
    ['name', 'text'],
    ['created_at', 'bigint'],
    ['pop3_retention_days', 'integer'],
  ],
};
const ACCOUNTS: Insert = {
  table: 'accounts',
  identity: true,
  columns: [
    ['id', 'bigint'],
    ['address', 'text'],
    ['domain_id', 'bigint'],
    ['password_hash', 'text'],
    ['quota_bytes', 'bigint'],
    ['quota_messages', 'bigint'],
    ['used_bytes', 'bigint'],
    ['used_messages', 'bigint'],
    ['modseq', 'bigint'],
    ['secret_enc', 'text'],
    ['created_at', 'bigint'],
    ['pop3_retention_days', 'integer'],
  ],
};
const ALIASES: Insert = {
  table: 'aliases',
  identity: true,
  columns: [
    ['id', 'bigint'],
    ['address', 'text'],
    ['domain_id', 'bigint'],
    ['created_at', 'bigint'],
  ],
};
const ALIAS_TARGETS: Insert = {
  table: 'alias_targets',
  columns: [
    ['alias_id', 'bigint'],
    ['position', 'integer'],
    ['target', 'text'],
  ],
};
const MAILBOXES: Insert = {
  table: 'mailboxes',
  identity: true,
  columns: [
    ['id', 'bigint'],
    ['account_id', 'bigint'],
    ['name', 'text'],
    ['uidvalidity', 'bigint'],
    ['uidnext', 'bigint'],
    ['highest_modseq', 'bigint'],
    ['special_use', 'text'],
    ['message_count', 'bigint'],
    ['unseen_count', 'bigint'],
    ['total_size', 'bigint'],
  ],
};
const SUBSCRIPTIONS: Insert = {
  table: 'subscriptions',
  columns: [
    ['account_id', 'bigint'],
    ['name', 'text'],
  ],
};
const MESSAGES: Insert = {
  table: 'messages',
  identity: true,
  columns: [
    ['id', 'bigint'],
    ['mailbox_id', 'bigint'],
    ['uid', 'bigint'],
    ['modseq', 'bigint'],
    ['flags', 'integer'],
    ['keywords', 'text'],
    ['internal_date', 'bigint'],
    ['size', 'bigint'],
    ['blob_hash', 'text'],
    ['prefix', 'bytea'],
    ['pop3_downloaded_at', 'bigint'],
  ],
  convert: { keywords: keywordsToJson },
};
const CHANGES: Insert = {
  table: 'changes',
  identity: true,
  columns: [
    ['id', 'bigint'],
    ['account_id', 'bigint'],
    ['modseq', 'bigint'],
    ['kind', 'text'],
    ['mailbox_id', 'bigint'],
    ['uid', 'bigint'],
    ['data', 'text'],
    ['created_at', 'bigint'],
  ],
};
const CHANGES_PRUNED: Insert = {
  table: 'changes_pruned',
  columns: [
    ['account_id', 'bigint'],
    ['modseq', 'bigint'],
  ],
};
const QUEUE: Insert = {
  table: 'queue',
  identity: true,
  columns: [
    ['id', 'bigint'],
    ['blob_hash', 'text'],
    ['size', 'bigint'],
    ['sender', 'text'],
    ['recipients', 'text'],
    ['ret', 'text'],
    ['envid', 'text'],
    ['body', 'text'],
    ['smtputf8', 'boolean'],
    ['submitter', 'text'],
    ['client_address', 'text'],
    ['created_at', 'bigint'],
    ['next_attempt_at', 'bigint'],
    ['attempts', 'integer'],
    ['lease_owner', 'text'],
    ['lease_until', 'bigint'],
    ['last_error', 'text'],
    ['delay_notified', 'boolean'],
  ],
  convert: { smtputf8: asBoolean, delay_notified: asBoolean },
};
const ADMIN_TOKENS: Insert = {
  table: 'admin_tokens',
  identity: true,
  columns: [
    ['id', 'bigint'],
    ['name', 'text'],
    ['hash', 'text'],
    ['created_at', 'bigint'],
    ['last_used_at', 'bigint'],
  ],
};
const DKIM_KEYS: Insert = {
  table: 'dkim_keys',
  identity: true,
  columns: [
    ['id', 'bigint'],
    ['domain', 'text'],
    ['selector', 'text'],
    ['algorithm', 'text'],
    ['private_key_enc', 'text'],
    ['public_key', 'text'],
    ['active', 'boolean'],
    ['created_at', 'bigint'],
  ],
  convert: { active: asBoolean },
};

/** Streams a SQLite table into PostgreSQL in batches; returns the number of rows. */
async function copyTable(sqlite: Database.Database, pg: PoolClient, select: string, insert: Insert): Promise<number> {
  let count = 0;
  let batch: SqliteRow[] = [];
  for (const sqliteRow of sqlite.prepare(select).iterate() as IterableIterator<SqliteRow>) {
    batch.push(sqliteRow);
    if (batch.length === BATCH) {
      await insertBatch(pg, insert, batch);
      count += batch.length;
      batch = [];
    }
  }
  if (batch.length > 0) await insertBatch(pg, insert, batch);
  return count + batch.length;
}

async function insertBatch(pg: PoolClient, insert: Insert, batch: readonly SqliteRow[]): Promise<void> {
  const names = insert.columns.map(([name]) => name);
  const arrays = insert.columns.map(([name]) => batch.map((source) => toParam(source[name], insert.convert?.[name])));
  const unnest = insert.columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
  // Keywords travel as JSON text and become text[] here, in the order they were stored.
  const selected = names.map((name) =>
    insert.table === 'messages' && name === 'keywords'
      ? `ARRAY(SELECT e FROM jsonb_array_elements_text(u.keywords::jsonb) WITH ORDINALITY AS k(e, o) ORDER BY o)`
      : `u.${name}`,
  );
  await pg.query({
    text: `INSERT INTO ${insert.table} (${names.join(', ')}) ${insert.identity ? 'OVERRIDING SYSTEM VALUE' : ''}
           SELECT ${selected.join(', ')} FROM unnest(${unnest}) AS u(${names.join(', ')})`,
    values: arrays,
  });
}

function toParam(value: unknown, convert?: (value: unknown) => SqlParam): SqlParam {
  if (convert) return convert(value);
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || Buffer.isBuffer(value)) return value;
  throw new StoreError('invalid', `unexpected SQLite value of type ${typeof value}`);
}

// ---- blobs -------------------------------------------------------------------------------------

/**
 * Every body a message or queue entry references, with its message index, copied into chunk rows
 * and checked against its hash. A missing or damaged body stops the migration.
 */
async function copyBlobs(sqlite: Database.Database, pg: PoolClient, dataDir: string): Promise<{ count: number; bytes: number }> {
  const referenced = sqlite.prepare(
    `SELECT h.blob_hash AS hash, i.index_json AS index_json
       FROM (SELECT blob_hash FROM messages UNION SELECT blob_hash FROM queue) h
       LEFT JOIN message_index i ON i.blob_hash = h.blob_hash
      ORDER BY h.blob_hash`,
  );
  let count = 0;
  let bytes = 0;
  for (const blob of referenced.iterate() as IterableIterator<{ hash: string; index_json: string | null }>) {
    if (blob.index_json === null) throw new StoreError('cannot', `blob ${blob.hash} has no message index in the SQLite database`);
    bytes += await copyBlob(pg, join(dataDir, 'blobs', blob.hash.slice(0, 2), blob.hash), blob.hash, blob.index_json);
    count++;
  }
  return { count, bytes };
}

async function copyBlob(pg: PoolClient, path: string, hash: string, indexJson: string): Promise<number> {
  const created = await rows<{ id: number }>(pg, "INSERT INTO blob_data (state, owner, hash) VALUES ('stored', 'migration', $1) RETURNING id", [hash]);
  const dataId = created[0]?.id;
  if (dataId === undefined) throw new Error('blob_data insert returned no id');
  const digest = createHash('sha256');
  let size = 0;
  let seq = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (data: Buffer): Promise<void> => {
    await pg.query({ text: 'INSERT INTO blob_chunks (data_id, seq, data) VALUES ($1, $2, $3)', values: [dataId, seq++, data] });
  };
  try {
    for await (const piece of createReadStream(path, { highWaterMark: DEFAULT_CHUNK_SIZE })) {
      const buffer = piece as Buffer;
      digest.update(buffer);
      size += buffer.length;
      pending.push(buffer);
      pendingBytes += buffer.length;
      while (pendingBytes >= DEFAULT_CHUNK_SIZE) {
        const all = Buffer.concat(pending);
        await flush(all.subarray(0, DEFAULT_CHUNK_SIZE));
        const rest = all.subarray(DEFAULT_CHUNK_SIZE);
        pending = rest.length > 0 ? [rest] : [];
        pendingBytes = rest.length;
      }
    }
  } catch (err) {
    throw new StoreError('io', `reading blob ${hash}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (pendingBytes > 0) await flush(Buffer.concat(pending));
  if (digest.digest('hex') !== hash) throw new StoreError('io', `blob file ${path} does not match its hash`);
  await pg.query({ text: 'UPDATE blob_data SET size = $1 WHERE id = $2', values: [size, dataId] });
  await pg.query({
    text: 'INSERT INTO blobs (hash, size, data_id, chunk_size, index_json, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
    values: [hash, size, dataId, DEFAULT_CHUNK_SIZE, indexJson, Date.now()],
  });
  return size;
}
