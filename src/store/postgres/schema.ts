/**
 * Versioned schema for PostgreSQL. `schema_version` holds the number of migrations applied; the
 * missing ones run at open in ONE transaction that first takes a transaction-scoped advisory lock
 * (pg_advisory_xact_lock) on the schema's name: two nodes starting at once queue on the lock, and
 * the second finds the work done. A crash mid-upgrade rolls everything back.
 * Append migrations; never edit one that has shipped.
 *
 * Same data as the SQLite schema (docs/storage.md), with these differences (docs/postgres.md):
 * - message bodies live in the database: `blob_data` (one row per written body, `staged` until a
 *   transaction references it, then `stored`) and `blob_chunks` (its bytes, 256 KiB per row);
 *   `blobs` maps a SHA-256 to its data and carries the message index shared by identical bodies;
 * - `messages.blob_hash` and `queue.blob_hash` are foreign keys to `blobs`, so the database itself
 *   refuses to delete a blob something references (the sweeper relies on it across nodes);
 * - keywords are text[]; times are bigint milliseconds, like SQLite, so clocks stay injectable;
 * - names, addresses and hashes use the "C" collation: byte order and byte equality, as in SQLite,
 *   whatever the database's locale.
 * @module
 */
import type pg from 'pg';
import { StoreError } from '../types.js';
import { checkSchemaName, rows } from './db.js';

const MIGRATIONS: readonly string[] = [
  // 1: the initial schema (SQLite migrations 1-4 together).
  `
  CREATE TABLE meta (
    key   text PRIMARY KEY,
    value bigint NOT NULL
  );
  INSERT INTO meta (key, value) VALUES ('last_uidvalidity', 0);

  CREATE TABLE domains (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text COLLATE "C" NOT NULL UNIQUE,
    created_at          bigint NOT NULL,
    pop3_retention_days integer
  );

  -- Identity columns never hand out a value twice, so a session holding an old id can never
  -- reach a newer row.
  CREATE TABLE accounts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address             text COLLATE "C" NOT NULL UNIQUE,
    domain_id           bigint NOT NULL REFERENCES domains(id),
    password_hash       text NOT NULL,
    quota_bytes         bigint,
    quota_messages      bigint,
    used_bytes          bigint NOT NULL DEFAULT 0,
    used_messages       bigint NOT NULL DEFAULT 0,
    modseq              bigint NOT NULL DEFAULT 0,
    secret_enc          text,
    created_at          bigint NOT NULL,
    pop3_retention_days integer
  );
  CREATE INDEX accounts_domain ON accounts(domain_id);

  CREATE TABLE aliases (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address    text COLLATE "C" NOT NULL UNIQUE,
    domain_id  bigint NOT NULL REFERENCES domains(id),
    created_at bigint NOT NULL
  );
  CREATE INDEX aliases_domain ON aliases(domain_id);

  CREATE TABLE alias_targets (
    alias_id bigint NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
    position integer NOT NULL,
    target   text NOT NULL,
    PRIMARY KEY (alias_id, position)
  );

  CREATE TABLE mailboxes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name           text COLLATE "C" NOT NULL,
    uidvalidity    bigint NOT NULL,
    uidnext        bigint NOT NULL DEFAULT 1,
    highest_modseq bigint NOT NULL DEFAULT 0,
    special_use    text,
    message_count  bigint NOT NULL DEFAULT 0,
    unseen_count   bigint NOT NULL DEFAULT 0,
    total_size     bigint NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
  );

  CREATE TABLE subscriptions (
    account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       text COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, name)
  );

  -- The bytes of message bodies. A writer streams chunks into a 'staged' row; the transaction
  -- that first references the body turns it 'stored' (or deletes it when the same bytes are
  -- stored already). touched_at (database clock) lets recovery find staged rows of dead writers.
  CREATE TABLE blob_data (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state      text NOT NULL CHECK (state IN ('staged', 'stored')),
    hash       text,
    size       bigint,
    owner      text NOT NULL,
    touched_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX blob_data_staged ON blob_data(touched_at) WHERE state = 'staged';

  CREATE TABLE blob_chunks (
    data_id bigint NOT NULL REFERENCES blob_data(id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (data_id, seq)
  );
  -- Uncompressed out-of-line storage: substring() of a chunk reads only the TOAST pieces it needs,
  -- so a partial FETCH of a large body costs what it returns.
  ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

  CREATE TABLE blobs (
    hash       text COLLATE "C" PRIMARY KEY,
    size       bigint NOT NULL,
    data_id    bigint NOT NULL UNIQUE REFERENCES blob_data(id),
    chunk_size integer NOT NULL,
    index_json text NOT NULL,
    created_at bigint NOT NULL
  );

  CREATE TABLE messages (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox_id         bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid                bigint NOT NULL,
    modseq             bigint NOT NULL,
    flags              integer NOT NULL DEFAULT 0,
    keywords           text[] NOT NULL DEFAULT '{}',
    internal_date      bigint NOT NULL,
    size               bigint NOT NULL,
    blob_hash          text COLLATE "C" NOT NULL REFERENCES blobs(hash),
    prefix             bytea,
    pop3_downloaded_at bigint,
    UNIQUE (mailbox_id, uid)
  );
  CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
  CREATE INDEX messages_blob ON messages(blob_hash);
  CREATE INDEX messages_pop3_downloaded ON messages(pop3_downloaded_at) WHERE pop3_downloaded_at IS NOT NULL;

  CREATE TABLE changes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL,
    modseq     bigint NOT NULL,
    kind       text NOT NULL,
    mailbox_id bigint,
    uid        bigint,
    data       text
  );
  CREATE INDEX changes_account ON changes(account_id, modseq);

  CREATE TABLE blob_trash (
    hash      text COLLATE "C" PRIMARY KEY,
    queued_at bigint NOT NULL
  );

  CREATE TABLE queue (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    blob_hash       text COLLATE "C" NOT NULL REFERENCES blobs(hash),
    size            bigint NOT NULL,
    sender          text NOT NULL,
    recipients      text NOT NULL,
    ret             text,
    envid           text,
    body            text,
    smtputf8        boolean NOT NULL DEFAULT false,
    submitter       text,
    client_address  text NOT NULL,
    created_at      bigint NOT NULL,
    next_attempt_at bigint NOT NULL,
    attempts        integer NOT NULL DEFAULT 0
  );
  CREATE INDEX queue_blob ON queue(blob_hash);
  CREATE INDEX queue_due ON queue(next_attempt_at);

  -- Admin API tokens (docs/http.md): only the SHA-256 of each token is kept.
  CREATE TABLE admin_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text COLLATE "C" NOT NULL UNIQUE,
    hash         text COLLATE "C" NOT NULL UNIQUE,
    created_at   bigint NOT NULL,
    last_used_at bigint
  );
  `,
  // 2: outbound delivery leases and DKIM keys (SQLite migration 7).
  `
  ALTER TABLE queue ADD COLUMN lease_owner text;
  ALTER TABLE queue ADD COLUMN lease_until bigint;
  ALTER TABLE queue ADD COLUMN last_error text;
  ALTER TABLE queue ADD COLUMN delay_notified boolean NOT NULL DEFAULT false;

  CREATE TABLE dkim_keys (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain          text COLLATE "C" NOT NULL,
    selector        text COLLATE "C" NOT NULL,
    algorithm       text NOT NULL,
    private_key_enc text NOT NULL,
    public_key      text NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    created_at      bigint NOT NULL,
    UNIQUE (domain, selector)
  );
  `,
  // 3: authentication throttle counters shared by every node (store/postgres/throttle.ts).
  `
  CREATE TABLE auth_throttle (
    key        text COLLATE "C" PRIMARY KEY,
    failures   double precision NOT NULL,
    updated_at bigint NOT NULL
  );
  `,
  // 4: change-log pruning (docs/storage.md): when each row was written (milliseconds; the default,
  // evaluated once for the rows already there, dates them from this migration without rewriting
  // the table), and per account the highest MODSEQ whose rows may be gone.
  `
  ALTER TABLE changes ADD COLUMN created_at bigint NOT NULL DEFAULT (extract(epoch FROM now()) * 1000)::bigint;
  CREATE TABLE changes_pruned (
    account_id bigint PRIMARY KEY,
    modseq     bigint NOT NULL
  );
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Advisory lock namespace of Mailhaven migrations (first key of the two-int form). */
const MIGRATION_LOCK_CLASS = 0x6d68; // "mh"

/**
 * Creates the schema if needed and brings it to SCHEMA_VERSION, serialized across nodes; refuses
 * a schema written by a newer Mailhaven (StoreError 'cannot').
 */
export async function migrate(pool: pg.Pool, schema: string): Promise<{ from: number; to: number }> {
  checkSchemaName(schema);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query({ text: 'SELECT pg_advisory_xact_lock($1, hashtext($2))', values: [MIGRATION_LOCK_CLASS, schema] });
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.schema_version (version integer NOT NULL)`);
    const [current] = await rows<{ version: number }>(client, `SELECT version FROM ${schema}.schema_version`);
    const from = current?.version ?? 0;
    if (from > SCHEMA_VERSION) {
      throw new StoreError('cannot', `database schema ${schema} is at version ${from}, newer than this program (${SCHEMA_VERSION})`);
    }
    for (let version = from; version < SCHEMA_VERSION; version++) await client.query(MIGRATIONS[version] ?? '');
    if (current === undefined) await client.query({ text: `INSERT INTO ${schema}.schema_version (version) VALUES ($1)`, values: [SCHEMA_VERSION] });
    else if (from !== SCHEMA_VERSION) await client.query({ text: `UPDATE ${schema}.schema_version SET version = $1`, values: [SCHEMA_VERSION] });
    await client.query('COMMIT');
    return { from, to: SCHEMA_VERSION };
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
      broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
