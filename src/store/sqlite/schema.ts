/**
 * Versioned schema. `PRAGMA user_version` holds the number of migrations applied; `migrate()` runs
 * the missing ones in one transaction at open, so a crash mid-upgrade leaves the old schema intact.
 * Append migrations; never edit one that has shipped.
 * @module
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../types.js';

const MIGRATIONS: readonly string[] = [
  // 1: the initial schema.
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE domains (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
  );

  -- AUTOINCREMENT on accounts, mailboxes and messages: an id is never given to a new row after
  -- a delete, so a live session holding an old id can never reach someone else's data.
  CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    address        TEXT NOT NULL UNIQUE,
    domain_id      INTEGER NOT NULL REFERENCES domains(id),
    password_hash  TEXT NOT NULL,
    quota_bytes    INTEGER,
    quota_messages INTEGER,
    used_bytes     INTEGER NOT NULL DEFAULT 0,
    used_messages  INTEGER NOT NULL DEFAULT 0,
    modseq         INTEGER NOT NULL DEFAULT 0,
    secret_enc     TEXT,
    created_at     INTEGER NOT NULL
  );
  CREATE INDEX accounts_domain ON accounts(domain_id);

  CREATE TABLE aliases (
    id         INTEGER PRIMARY KEY,
    address    TEXT NOT NULL UNIQUE,
    domain_id  INTEGER NOT NULL REFERENCES domains(id),
    created_at INTEGER NOT NULL
  );
  CREATE INDEX aliases_domain ON aliases(domain_id);

  CREATE TABLE alias_targets (
    alias_id INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    target   TEXT NOT NULL,
    PRIMARY KEY (alias_id, position)
  ) WITHOUT ROWID;

  CREATE TABLE mailboxes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    uidvalidity    INTEGER NOT NULL,
    uidnext        INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 0,
    special_use    TEXT,
    message_count  INTEGER NOT NULL DEFAULT 0,
    unseen_count   INTEGER NOT NULL DEFAULT 0,
    total_size     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
  );

  CREATE TABLE subscriptions (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
  ) WITHOUT ROWID;

  CREATE TABLE messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    modseq        INTEGER NOT NULL,
    flags         INTEGER NOT NULL DEFAULT 0,
    keywords      TEXT NOT NULL DEFAULT '[]',
    internal_date INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    blob_hash     TEXT NOT NULL,
    prefix        BLOB,
    UNIQUE (mailbox_id, uid)
  );
  CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
  CREATE INDEX messages_blob ON messages(blob_hash);

  -- Identical bytes share one index row, like they share one blob.
  CREATE TABLE message_index (
    blob_hash  TEXT PRIMARY KEY,
    index_json TEXT NOT NULL
  ) WITHOUT ROWID;

  -- AUTOINCREMENT: ids are never reused, so "rows after id N" (cross-process notice) is exact
  -- even after an account's rows are deleted.
  CREATE TABLE changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    mailbox_id INTEGER,
    uid        INTEGER,
    data       TEXT
  );
  CREATE INDEX changes_account ON changes(account_id, modseq);

  CREATE TABLE blob_trash (
    hash      TEXT PRIMARY KEY,
    queued_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  INSERT INTO meta(key, value) VALUES ('last_uidvalidity', '0');
  `,
  // POP3 retention (docs/pop3.md): a policy per domain or account (days; 0 = never; NULL =
  // not set, an account then follows its domain) and when each message was first downloaded
  // by POP3 RETR. The partial index keeps the scheduler's scan to downloaded messages only.
  `
  ALTER TABLE domains ADD COLUMN pop3_retention_days INTEGER;
  ALTER TABLE accounts ADD COLUMN pop3_retention_days INTEGER;
  ALTER TABLE messages ADD COLUMN pop3_downloaded_at INTEGER;
  CREATE INDEX messages_pop3_downloaded ON messages(pop3_downloaded_at) WHERE pop3_downloaded_at IS NOT NULL;
  `,
  // The outbound queue (src/queue/types.ts). Each entry references its message blob like a
  // message row does, so the blob stays while either needs it.
  `
  CREATE TABLE queue (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    blob_hash       TEXT NOT NULL,
    size            INTEGER NOT NULL,
    sender          TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    ret             TEXT,
    envid           TEXT,
    body            TEXT,
    smtputf8        INTEGER NOT NULL DEFAULT 0,
    submitter       TEXT,
    client_address  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX queue_blob ON queue(blob_hash);
  CREATE INDEX queue_due ON queue(next_attempt_at);
  `,
  // Admin API tokens (docs/http.md): only the SHA-256 of each token is kept.
  `
  CREATE TABLE admin_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
  );
  `,
  // Outbound delivery (docs/outbound.md). A worker claims an entry with a lease (owner + expiry):
  // a claim whose node died expires and the entry is retried (a duplicate is acceptable, a loss is
  // not). Per-recipient state lives in the recipients JSON. DKIM keys (docs/dkim.md) live in the
  // store so every node signs with the same key; the private key is encrypted with secret.key.
  `
  ALTER TABLE queue ADD COLUMN lease_owner TEXT;
  ALTER TABLE queue ADD COLUMN lease_until INTEGER;
  ALTER TABLE queue ADD COLUMN last_error TEXT;
  ALTER TABLE queue ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;

  CREATE TABLE dkim_keys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    domain          TEXT NOT NULL,
    selector        TEXT NOT NULL,
    algorithm       TEXT NOT NULL,
    private_key_enc TEXT NOT NULL,
    public_key      TEXT NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    UNIQUE (domain, selector)
  );
  `,
  // Change-log pruning (docs/storage.md): when each row was written (milliseconds; rows older
  // than this migration count from it), and per account the highest MODSEQ whose rows may be gone.
  `
  ALTER TABLE changes ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
  UPDATE changes SET created_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
  CREATE TABLE changes_pruned (
    account_id INTEGER PRIMARY KEY,
    modseq     INTEGER NOT NULL
  );
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to SCHEMA_VERSION; refuses a database written by a newer Mailhaven. */
export function migrate(db: Database.Database): { from: number; to: number } {
  const from = Number(db.pragma('user_version', { simple: true }));
  if (from > SCHEMA_VERSION) {
    throw new StoreError('cannot', `database schema version ${from} is newer than this program (${SCHEMA_VERSION})`);
  }
  if (from === SCHEMA_VERSION) return { from, to: from };
  db.transaction(() => {
    for (let version = from; version < SCHEMA_VERSION; version++) db.exec(MIGRATIONS[version] ?? '');
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
  return { from, to: SCHEMA_VERSION };
}
