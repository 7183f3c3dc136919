/**
 * Admin API tokens on PostgreSQL (store/types AdminTokens), as on SQLite: a name and the SHA-256
 * of the token. Tokens change nothing a mail session sees, so they take no MODSEQ and write no
 * change-log row. Two nodes adding the same name at once: the unique index makes one 'exists'.
 * @module
 */
import type { AdminToken, Id } from '../types.js';
import { StoreError } from '../types.js';
import type { Queryable } from './db.js';
import { row, rows } from './db.js';
import type { PgTx } from './tx.js';

interface TokenRow {
  id: number;
  name: string;
  hash: string;
  created_at: number;
  last_used_at: number | null;
}

const COLUMNS = 'id, name, hash, created_at, last_used_at';

function toAdminToken(token: TokenRow): AdminToken {
  return {
    id: token.id,
    name: token.name,
    hash: token.hash,
    createdAt: new Date(token.created_at),
    lastUsedAt: token.last_used_at === null ? null : new Date(token.last_used_at),
  };
}

export async function addAdminToken(tx: PgTx, name: string, hash: string): Promise<AdminToken> {
  if ((await tx.value<number>('SELECT 1 FROM admin_tokens WHERE name = $1', [name])) !== undefined) {
    throw new StoreError('exists', `token ${name} exists`);
  }
  const inserted = await tx.row<TokenRow>(`INSERT INTO admin_tokens (name, hash, created_at) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`, [
    name,
    hash,
    tx.now,
  ]);
  if (!inserted) throw new Error('token insert returned nothing');
  return toAdminToken(inserted);
}

export async function listAdminTokens(db: Queryable): Promise<AdminToken[]> {
  return (await rows<TokenRow>(db, `SELECT ${COLUMNS} FROM admin_tokens ORDER BY id`)).map(toAdminToken);
}

export async function findAdminTokenByHash(db: Queryable, hash: string): Promise<AdminToken | null> {
  const found = await row<TokenRow>(db, `SELECT ${COLUMNS} FROM admin_tokens WHERE hash = $1`, [hash]);
  return found === undefined ? null : toAdminToken(found);
}

export async function deleteAdminToken(tx: PgTx, name: string): Promise<void> {
  if ((await tx.run('DELETE FROM admin_tokens WHERE name = $1', [name])) === 0) throw new StoreError('notFound', `no token ${name}`);
}

export async function touchAdminToken(tx: PgTx, id: Id, at: number): Promise<void> {
  if (!Number.isSafeInteger(id)) return;
  await tx.run('UPDATE admin_tokens SET last_used_at = $1 WHERE id = $2', [at, id]);
}
