/**
 * DKIM keys on PostgreSQL (src/queue/dkim-keys.ts DkimKeyStore), as on SQLite: one row per
 * domain and selector, at most one active per domain. Two nodes activating keys of one domain
 * at once: the row locks taken by the UPDATE serialise them, the last one wins. No MODSEQ, no
 * change-log row (no mail session sees keys).
 * @module
 */
import type { DkimKeyRecord, NewDkimKey } from '../../queue/dkim-keys.js';
import { DKIM_COLUMNS as COLUMNS, toDkimKeyRecord as toRecord } from '../rows.js';
import type { DkimRow } from '../rows.js';
import { StoreError } from '../types.js';
import type { Queryable } from './db.js';
import { row, rows } from './db.js';
import type { PgTx } from './tx.js';


export async function addDkimKey(tx: PgTx, key: NewDkimKey): Promise<DkimKeyRecord> {
  if ((await tx.value<number>('SELECT 1 FROM dkim_keys WHERE domain = $1 AND selector = $2', [key.domain, key.selector])) !== undefined) {
    throw new StoreError('exists', `${key.domain} already has a DKIM key with selector ${key.selector}`);
  }
  if (key.active) await tx.run('UPDATE dkim_keys SET active = false WHERE domain = $1', [key.domain]);
  const inserted = await tx.row<DkimRow>(
    `INSERT INTO dkim_keys (domain, selector, algorithm, private_key_enc, public_key, active, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
    [key.domain, key.selector, key.algorithm, key.privateKeyEnc, key.publicKey, key.active, tx.now],
  );
  if (!inserted) throw new Error('dkim key insert returned nothing');
  return toRecord(inserted);
}

export async function listDkimKeys(db: Queryable, domain: string | undefined): Promise<DkimKeyRecord[]> {
  const found =
    domain === undefined
      ? await rows<DkimRow>(db, `SELECT ${COLUMNS} FROM dkim_keys ORDER BY domain, created_at, id`)
      : await rows<DkimRow>(db, `SELECT ${COLUMNS} FROM dkim_keys WHERE domain = $1 ORDER BY created_at, id`, [domain]);
  return found.map(toRecord);
}

export async function getActiveDkimKey(db: Queryable, domain: string): Promise<DkimKeyRecord | null> {
  const found = await row<DkimRow>(db, `SELECT ${COLUMNS} FROM dkim_keys WHERE domain = $1 AND active ORDER BY id DESC LIMIT 1`, [domain]);
  return found === undefined ? null : toRecord(found);
}

export async function activateDkimKey(tx: PgTx, domain: string, selector: string): Promise<void> {
  if ((await tx.value<number>('SELECT 1 FROM dkim_keys WHERE domain = $1 AND selector = $2', [domain, selector])) === undefined) {
    throw new StoreError('notFound', `${domain} has no DKIM key with selector ${selector}`);
  }
  await tx.run('UPDATE dkim_keys SET active = (selector = $2) WHERE domain = $1', [domain, selector]);
}

export async function deleteDkimKey(tx: PgTx, domain: string, selector: string): Promise<void> {
  if ((await tx.run('DELETE FROM dkim_keys WHERE domain = $1 AND selector = $2', [domain, selector])) === 0) {
    throw new StoreError('notFound', `${domain} has no DKIM key with selector ${selector}`);
  }
}
