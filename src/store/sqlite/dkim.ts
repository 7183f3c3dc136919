/**
 * DKIM keys on SQLite (src/queue/dkim-keys.ts DkimKeyStore): one row per domain and selector,
 * at most one active per domain (kept so by every write here). Keys change nothing a mail
 * session sees, so they take no MODSEQ and write no change-log row.
 * @module
 */
import type { DkimKeyRecord, NewDkimKey } from '../../queue/dkim-keys.js';
import { DKIM_COLUMNS as COLUMNS, toDkimKeyRecord as toRecord } from '../rows.js';
import type { DkimRow } from '../rows.js';
import { StoreError } from '../types.js';
import type { Sql } from './db.js';
import type { Tx } from './tx.js';


export function addDkimKey(tx: Tx, key: NewDkimKey): DkimKeyRecord {
  if (tx.sql.value<number>('SELECT 1 FROM dkim_keys WHERE domain = ? AND selector = ?', key.domain, key.selector) !== undefined) {
    throw new StoreError('exists', `${key.domain} already has a DKIM key with selector ${key.selector}`);
  }
  if (key.active) tx.sql.run('UPDATE dkim_keys SET active = 0 WHERE domain = ?', key.domain);
  const id = Number(
    tx.sql.run(
      'INSERT INTO dkim_keys (domain, selector, algorithm, private_key_enc, public_key, active, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      key.domain,
      key.selector,
      key.algorithm,
      key.privateKeyEnc,
      key.publicKey,
      key.active ? 1 : 0,
      tx.now,
    ).lastInsertRowid,
  );
  return { ...key, id, createdAt: new Date(tx.now) };
}

export function listDkimKeys(sql: Sql, domain: string | undefined): DkimKeyRecord[] {
  const rows =
    domain === undefined
      ? sql.all<DkimRow>(`SELECT ${COLUMNS} FROM dkim_keys ORDER BY domain, created_at, id`)
      : sql.all<DkimRow>(`SELECT ${COLUMNS} FROM dkim_keys WHERE domain = ? ORDER BY created_at, id`, domain);
  return rows.map(toRecord);
}

export function getActiveDkimKey(sql: Sql, domain: string): DkimKeyRecord | null {
  const row = sql.get<DkimRow>(`SELECT ${COLUMNS} FROM dkim_keys WHERE domain = ? AND active = 1 ORDER BY id DESC LIMIT 1`, domain);
  return row === undefined ? null : toRecord(row);
}

export function activateDkimKey(tx: Tx, domain: string, selector: string): void {
  if (tx.sql.value<number>('SELECT 1 FROM dkim_keys WHERE domain = ? AND selector = ?', domain, selector) === undefined) {
    throw new StoreError('notFound', `${domain} has no DKIM key with selector ${selector}`);
  }
  tx.sql.run('UPDATE dkim_keys SET active = (selector = ?) WHERE domain = ?', selector, domain);
}

export function deleteDkimKey(tx: Tx, domain: string, selector: string): void {
  if (tx.sql.run('DELETE FROM dkim_keys WHERE domain = ? AND selector = ?', domain, selector).changes === 0) {
    throw new StoreError('notFound', `${domain} has no DKIM key with selector ${selector}`);
  }
}
