/**
 * Domains, accounts and aliases on PostgreSQL: reads are functions of a Queryable (the pool),
 * writes functions of a PgTx. Same decisions as SQLite (docs/storage.md): addresses lower-case,
 * an alias never shadows an account nor the reverse, a domain in use cannot be deleted.
 *
 * "No alias with an account's address" spans two tables, so a unique index cannot enforce it:
 * adding an account or an alias first takes a transaction advisory lock on the address, which
 * serializes the check-then-insert of two nodes adding the same address at once.
 * @module
 */
import type { Account, Alias, Domain, Id } from '../types.js';
import { StoreError } from '../types.js';
import type { Queryable } from './db.js';
import { row, rows } from './db.js';
import { insertMailbox } from './mailboxes.js';
import { dropMessagesOfMailboxes } from './messages.js';
import type { AccountRow, DomainRow } from './rows.js';
import { ACCOUNT_COLUMNS, toAccount, toDomain } from './rows.js';
import { DEFAULT_MAILBOXES, checkQuota, normalizeAddress, normalizeAliasSource, normalizeDomainName } from '../rules.js';
import type { PgTx } from './tx.js';

/** Advisory lock class of address reservations (first key of the two-int form). */
const ADDRESS_LOCK_CLASS = 0x6d69;

// ---- reads -------------------------------------------------------------------------------------

export async function findDomain(db: Queryable, name: string): Promise<Domain | null> {
  const found = await row<DomainRow>(db, 'SELECT id, name, created_at FROM domains WHERE name = $1', [name.trim().toLowerCase()]);
  return found ? toDomain(found) : null;
}

export async function listDomains(db: Queryable): Promise<Domain[]> {
  return (await rows<DomainRow>(db, 'SELECT id, name, created_at FROM domains ORDER BY name')).map(toDomain);
}

export function findAccountRow(db: Queryable, address: string): Promise<AccountRow | undefined> {
  return row<AccountRow>(db, `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE address = $1`, [address.trim().toLowerCase()]);
}

export function findAccountRowById(db: Queryable, id: Id): Promise<AccountRow | undefined> {
  if (!Number.isSafeInteger(id)) return Promise.resolve(undefined);
  return row<AccountRow>(db, `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = $1`, [id]);
}

export async function listAccounts(db: Queryable): Promise<Account[]> {
  return (await rows<AccountRow>(db, `SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY address`)).map(toAccount);
}

export async function findAlias(db: Queryable, address: string): Promise<Alias | null> {
  const source = address.trim().toLowerCase();
  const found = await rows<{ target: string | null }>(
    db,
    'SELECT t.target FROM aliases a LEFT JOIN alias_targets t ON t.alias_id = a.id WHERE a.address = $1 ORDER BY t.position',
    [source],
  );
  if (found.length === 0) return null;
  return { address: source, targets: found.flatMap((t) => (t.target === null ? [] : [t.target])) };
}

export async function listAliases(db: Queryable): Promise<Alias[]> {
  const found = await rows<{ address: string; target: string }>(
    db,
    'SELECT a.address, t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id ORDER BY a.address, t.position',
  );
  const aliases: Alias[] = [];
  for (const entry of found) {
    const last = aliases[aliases.length - 1];
    if (last && last.address === entry.address) last.targets.push(entry.target);
    else aliases.push({ address: entry.address, targets: [entry.target] });
  }
  return aliases;
}

// ---- writes ------------------------------------------------------------------------------------

async function reserveAddress(tx: PgTx, address: string): Promise<void> {
  await tx.run('SELECT pg_advisory_xact_lock($1, hashtext($2))', [ADDRESS_LOCK_CLASS, address]);
}

export async function addDomain(tx: PgTx, name: string): Promise<Domain> {
  const domain = normalizeDomainName(name);
  if (await findDomain(tx.db, domain)) throw new StoreError('exists', `domain ${domain} exists`);
  const id = await tx.value<number>('INSERT INTO domains (name, created_at) VALUES ($1, $2) RETURNING id', [domain, tx.now]);
  if (id === undefined) throw new Error('domain insert returned no id');
  return { id, name: domain, createdAt: new Date(tx.now) };
}

export async function deleteDomain(tx: PgTx, name: string): Promise<void> {
  const domain = await row<DomainRow>(tx.db, 'SELECT id, name, created_at FROM domains WHERE name = $1 FOR UPDATE', [name.trim().toLowerCase()]);
  if (!domain) throw new StoreError('notFound', `no domain ${name}`);
  const counts = await tx.row<{ accounts: number; aliases: number }>(
    'SELECT (SELECT count(*) FROM accounts WHERE domain_id = $1) AS accounts, (SELECT count(*) FROM aliases WHERE domain_id = $1) AS aliases',
    [domain.id],
  );
  const accounts = counts?.accounts ?? 0;
  const aliases = counts?.aliases ?? 0;
  if (accounts > 0 || aliases > 0) {
    throw new StoreError('cannot', `domain ${domain.name} still has ${accounts} account(s) and ${aliases} alias(es)`);
  }
  await tx.run('DELETE FROM domains WHERE id = $1', [domain.id]);
}

export async function addAccount(tx: PgTx, address: string, passwordHash: string, quotaBytes: number | null): Promise<Account> {
  const parsed = normalizeAddress(address);
  checkQuota(quotaBytes, 'quota');
  const domain = await findDomain(tx.db, parsed.domain);
  if (!domain) throw new StoreError('notFound', `no domain ${parsed.domain}`);
  await reserveAddress(tx, parsed.address);
  if (await findAccountRow(tx.db, parsed.address)) throw new StoreError('exists', `account ${parsed.address} exists`);
  if (await findAlias(tx.db, parsed.address)) throw new StoreError('exists', `${parsed.address} is an alias`);
  const id = await tx.value<number>(
    'INSERT INTO accounts (address, domain_id, password_hash, quota_bytes, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id',
    [parsed.address, domain.id, passwordHash, quotaBytes, tx.now],
  );
  if (id === undefined) throw new Error('account insert returned no id');
  const modseq = await tx.modseq(id);
  for (const [name, specialUse] of DEFAULT_MAILBOXES) await insertMailbox(tx, id, name, specialUse, modseq);
  await tx.run('INSERT INTO subscriptions (account_id, name) SELECT $1, n FROM unnest($2::text[]) AS n', [
    id,
    DEFAULT_MAILBOXES.map(([name]) => name),
  ]);
  return toAccount(await mustFindAccountById(tx, id));
}

/** Removes the account with its mailboxes, messages and subscriptions; logs the deletion last. */
export async function deleteAccount(tx: PgTx, address: string): Promise<void> {
  const found = await findAccountRow(tx.db, address);
  if (!found) throw new StoreError('notFound', `no account ${address}`);
  const account = await tx.lockedAccount(found.id);
  if (!account) throw new StoreError('notFound', `no account ${address}`);
  const modseq = await tx.modseq(account.id);
  const mailboxIds = (await tx.rows<{ id: number }>('SELECT id FROM mailboxes WHERE account_id = $1', [account.id])).map((m) => m.id);
  await dropMessagesOfMailboxes(tx, mailboxIds);
  await tx.run('DELETE FROM mailboxes WHERE account_id = $1', [account.id]);
  await tx.run('DELETE FROM subscriptions WHERE account_id = $1', [account.id]);
  await tx.run('DELETE FROM accounts WHERE id = $1', [account.id]);
  // The history of a deleted account is useless; its last entry tells live sessions to log out.
  await tx.forgetChanges(account.id);
  tx.log(account.id, modseq, 'account', null, null, { deleted: true });
}

/** An account column that may be changed, and the value it takes. */
type AccountUpdate =
  | { column: 'password_hash' | 'secret_enc'; value: string | null }
  | { column: 'quota_bytes' | 'quota_messages' | 'pop3_retention_days'; value: number | null };

/** Applies updates to an existing account and logs an account change (sessions re-check credentials). */
export async function updateAccount(tx: PgTx, address: string, updates: readonly AccountUpdate[]): Promise<void> {
  const found = await findAccountRow(tx.db, address);
  if (!found) throw new StoreError('notFound', `no account ${address}`);
  await tx.lockAccount(found.id);
  const assignments = updates.map((update, i) => `${update.column} = $${i + 2}`).join(', ');
  await tx.run(`UPDATE accounts SET ${assignments} WHERE id = $1`, [found.id, ...updates.map((update) => update.value)]);
  tx.forgetAccount(found.id);
  tx.log(found.id, await tx.modseq(found.id), 'account', null, null, { deleted: false });
}

export async function setQuota(tx: PgTx, address: string, quotaBytes: number | null, quotaMessages?: number | null): Promise<void> {
  checkQuota(quotaBytes, 'quota');
  if (quotaMessages === undefined) {
    await updateAccount(tx, address, [{ column: 'quota_bytes', value: quotaBytes }]);
    return;
  }
  checkQuota(quotaMessages, 'message quota');
  await updateAccount(tx, address, [
    { column: 'quota_bytes', value: quotaBytes },
    { column: 'quota_messages', value: quotaMessages },
  ]);
}

export async function addAlias(tx: PgTx, address: string, targets: string[]): Promise<void> {
  const source = normalizeAliasSource(address);
  const domain = await findDomain(tx.db, source.domain);
  if (!domain) throw new StoreError('notFound', `no domain ${source.domain}`);
  const cleaned = [...new Set(targets.map((target) => normalizeAddress(target).address))];
  if (cleaned.length === 0) throw new StoreError('invalid', 'an alias needs at least one target');
  await reserveAddress(tx, source.address);
  if ((await tx.value<number>('SELECT id FROM aliases WHERE address = $1', [source.address])) !== undefined) {
    throw new StoreError('exists', `alias ${source.address} exists`);
  }
  if (await findAccountRow(tx.db, source.address)) throw new StoreError('exists', `${source.address} is an account`);
  const id = await tx.value<number>('INSERT INTO aliases (address, domain_id, created_at) VALUES ($1, $2, $3) RETURNING id', [
    source.address,
    domain.id,
    tx.now,
  ]);
  await tx.run(
    'INSERT INTO alias_targets (alias_id, position, target) SELECT $1, ord - 1, t FROM unnest($2::text[]) WITH ORDINALITY AS x(t, ord)',
    [id ?? null, cleaned],
  );
}

export async function deleteAlias(tx: PgTx, address: string): Promise<void> {
  const source = address.trim().toLowerCase();
  if ((await tx.run('DELETE FROM aliases WHERE address = $1', [source])) === 0) throw new StoreError('notFound', `no alias ${source}`);
}

export async function mustFindAccountById(tx: PgTx, id: Id): Promise<AccountRow> {
  const found = await findAccountRowById(tx.db, id);
  if (!found) throw new StoreError('notFound', `no account ${id}`);
  return found;
}
