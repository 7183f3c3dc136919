/**
 * Admin API tokens on SQLite (store/types AdminTokens): a name and the SHA-256 of the token.
 * Tokens change nothing a mail session sees, so they take no MODSEQ and write no change-log row.
 * @module
 */
import type { AdminToken, Id } from '../types.js';
import { StoreError } from '../types.js';
import type { Sql } from './db.js';
import type { Tx } from './tx.js';

interface TokenRow {
  id: number;
  name: string;
  hash: string;
  created_at: number;
  last_used_at: number | null;
}

const COLUMNS = 'id, name, hash, created_at, last_used_at';

function toAdminToken(row: TokenRow): AdminToken {
  return {
    id: row.id,
    name: row.name,
    hash: row.hash,
    createdAt: new Date(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at),
  };
}

export function addAdminToken(tx: Tx, name: string, hash: string): AdminToken {
  if (tx.sql.value<number>('SELECT 1 FROM admin_tokens WHERE name = ?', name) !== undefined) {
    throw new StoreError('exists', `token ${name} exists`);
  }
  const id = Number(tx.sql.run('INSERT INTO admin_tokens (name, hash, created_at) VALUES (?, ?, ?)', name, hash, tx.now).lastInsertRowid);
  return { id, name, hash, createdAt: new Date(tx.now), lastUsedAt: null };
}

export function listAdminTokens(sql: Sql): AdminToken[] {
  return sql.all<TokenRow>(`SELECT ${COLUMNS} FROM admin_tokens ORDER BY id`).map(toAdminToken);
}

export function findAdminTokenByHash(sql: Sql, hash: string): AdminToken | null {
  const row = sql.get<TokenRow>(`SELECT ${COLUMNS} FROM admin_tokens WHERE hash = ?`, hash);
  return row === undefined ? null : toAdminToken(row);
}

export function deleteAdminToken(tx: Tx, name: string): void {
  if (tx.sql.run('DELETE FROM admin_tokens WHERE name = ?', name).changes === 0) throw new StoreError('notFound', `no token ${name}`);
}

export function touchAdminToken(tx: Tx, id: Id, at: number): void {
  tx.sql.run('UPDATE admin_tokens SET last_used_at = ? WHERE id = ?', at, id);
}
