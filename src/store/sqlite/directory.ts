/**
 * Domains, accounts and aliases: reads (plain functions of Sql) and writes (functions of Tx, run
 * by the committer inside the shared transaction).
 *
 * Decisions (docs/storage.md): addresses are stored lower-case; an alias may not shadow an account
 * (nor the reverse); an alias's own domain must be local; deleting a domain is refused with
 * StoreError('cannot') while accounts or aliases still use it (the CLI says what to remove first).
 * @module
 */
import type { Account, Alias, Domain, Id } from '../types.js';
import { StoreError } from '../types.js';
import { DEFAULT_MAILBOXES, checkQuota, normalizeAddress, normalizeAliasSource, normalizeDomainName } from '../rules.js';
import type { Sql } from './db.js';
import { insertMailbox } from './mailboxes.js';
import { dropMessagesOfMailboxes } from './messages.js';
import type { AccountRow, DomainRow } from './rows.js';
import { ACCOUNT_COLUMNS, toAccount, toDomain } from './rows.js';
import type { Tx } from './tx.js';



// ---- reads -------------------------------------------------------------------------------------

export function findDomain(sql: Sql, name: string): Domain | null {
  const row = sql.get<DomainRow>('SELECT id, name, created_at FROM domains WHERE name = ?', name.trim().toLowerCase());
  return row ? toDomain(row) : null;
}

export function listDomains(sql: Sql): Domain[] {
  return sql.all<DomainRow>('SELECT id, name, created_at FROM domains ORDER BY name').map(toDomain);
}

export function findAccountRow(sql: Sql, address: string): AccountRow | undefined {
  return sql.get<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE address = ?`, address.trim().toLowerCase());
}

export function findAccountRowById(sql: Sql, id: Id): AccountRow | undefined {
  return sql.get<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ?`, id);
}

export function listAccounts(sql: Sql): Account[] {
  return sql.all<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY address`).map(toAccount);
}

export function findAlias(sql: Sql, address: string): Alias | null {
  const source = address.trim().toLowerCase();
  const id = sql.value<number>('SELECT id FROM aliases WHERE address = ?', source);
  if (id === undefined) return null;
  return { address: source, targets: sql.column<string>('SELECT target FROM alias_targets WHERE alias_id = ? ORDER BY position', id) };
}

export function listAliases(sql: Sql): Alias[] {
  const rows = sql.all<{ address: string; target: string }>(
    'SELECT a.address, t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id ORDER BY a.address, t.position',
  );
  const aliases: Alias[] = [];
  for (const row of rows) {
    const last = aliases[aliases.length - 1];
    if (last && last.address === row.address) last.targets.push(row.target);
    else aliases.push({ address: row.address, targets: [row.target] });
  }
  return aliases;
}

// ---- writes ------------------------------------------------------------------------------------

export function addDomain(tx: Tx, name: string): Domain {
  const domain = normalizeDomainName(name);
  if (findDomain(tx.sql, domain)) throw new StoreError('exists', `domain ${domain} exists`);
  const id = Number(tx.sql.run('INSERT INTO domains (name, created_at) VALUES (?, ?)', domain, tx.now).lastInsertRowid);
  return { id, name: domain, createdAt: new Date(tx.now) };
}

export function deleteDomain(tx: Tx, name: string): void {
  const domain = findDomain(tx.sql, name);
  if (!domain) throw new StoreError('notFound', `no domain ${name}`);
  const accounts = tx.sql.value<number>('SELECT count(*) FROM accounts WHERE domain_id = ?', domain.id) ?? 0;
  const aliases = tx.sql.value<number>('SELECT count(*) FROM aliases WHERE domain_id = ?', domain.id) ?? 0;
  if (accounts > 0 || aliases > 0) {
    throw new StoreError('cannot', `domain ${domain.name} still has ${accounts} account(s) and ${aliases} alias(es)`);
  }
  tx.sql.run('DELETE FROM domains WHERE id = ?', domain.id);
}

export function addAccount(tx: Tx, address: string, passwordHash: string, quotaBytes: number | null): Account {
  const parsed = normalizeAddress(address);
  checkQuota(quotaBytes, 'quota');
  const domain = findDomain(tx.sql, parsed.domain);
  if (!domain) throw new StoreError('notFound', `no domain ${parsed.domain}`);
  if (findAccountRow(tx.sql, parsed.address)) throw new StoreError('exists', `account ${parsed.address} exists`);
  if (findAlias(tx.sql, parsed.address)) throw new StoreError('exists', `${parsed.address} is an alias`);
  const id = Number(
    tx.sql.run(
      'INSERT INTO accounts (address, domain_id, password_hash, quota_bytes, created_at) VALUES (?, ?, ?, ?, ?)',
      parsed.address,
      domain.id,
      passwordHash,
      quotaBytes,
      tx.now,
    ).lastInsertRowid,
  );
  const modseq = tx.modseq(id);
  for (const [name, specialUse] of DEFAULT_MAILBOXES) {
    insertMailbox(tx, id, name, specialUse, modseq);
    tx.sql.run('INSERT INTO subscriptions (account_id, name) VALUES (?, ?)', id, name);
  }
  return toAccount(mustFindAccountById(tx, id));
}

/** Removes the account with its mailboxes, messages and subscriptions; logs the deletion last. */
export function deleteAccount(tx: Tx, address: string): void {
  const account = findAccountRow(tx.sql, address);
  if (!account) throw new StoreError('notFound', `no account ${address}`);
  const modseq = tx.modseq(account.id);
  const mailboxIds = tx.sql.column<number>('SELECT id FROM mailboxes WHERE account_id = ?', account.id);
  dropMessagesOfMailboxes(tx, mailboxIds);
  tx.sql.run('DELETE FROM mailboxes WHERE account_id = ?', account.id);
  tx.sql.run('DELETE FROM subscriptions WHERE account_id = ?', account.id);
  tx.sql.run('DELETE FROM accounts WHERE id = ?', account.id);
  // The history of a deleted account is useless; its last entry tells live sessions to log out.
  tx.sql.run('DELETE FROM changes WHERE account_id = ?', account.id);
  tx.log(account.id, modseq, 'account', null, null, { deleted: true });
}

/** Applies an update to an existing account and logs an account change (sessions re-check credentials). */
export function updateAccount(tx: Tx, address: string, assignments: string, ...values: Array<string | number | null>): void {
  const account = findAccountRow(tx.sql, address);
  if (!account) throw new StoreError('notFound', `no account ${address}`);
  tx.sql.run(`UPDATE accounts SET ${assignments} WHERE id = ?`, ...values, account.id);
  tx.log(account.id, tx.modseq(account.id), 'account', null, null, { deleted: false });
}

export function setQuota(tx: Tx, address: string, quotaBytes: number | null, quotaMessages?: number | null): void {
  checkQuota(quotaBytes, 'quota');
  if (quotaMessages === undefined) {
    updateAccount(tx, address, 'quota_bytes = ?', quotaBytes);
    return;
  }
  checkQuota(quotaMessages, 'message quota');
  updateAccount(tx, address, 'quota_bytes = ?, quota_messages = ?', quotaBytes, quotaMessages);
}

export function addAlias(tx: Tx, address: string, targets: string[]): void {
  const source = normalizeAliasSource(address);
  const domain = findDomain(tx.sql, source.domain);
  if (!domain) throw new StoreError('notFound', `no domain ${source.domain}`);
  const cleaned = [...new Set(targets.map((target) => normalizeAddress(target).address))];
  if (cleaned.length === 0) throw new StoreError('invalid', 'an alias needs at least one target');
  if (tx.sql.value<number>('SELECT id FROM aliases WHERE address = ?', source.address) !== undefined) {
    throw new StoreError('exists', `alias ${source.address} exists`);
  }
  if (findAccountRow(tx.sql, source.address)) throw new StoreError('exists', `${source.address} is an account`);
  const id = tx.sql.run('INSERT INTO aliases (address, domain_id, created_at) VALUES (?, ?, ?)', source.address, domain.id, tx.now)
    .lastInsertRowid;
  cleaned.forEach((target, position) => {
    tx.sql.run('INSERT INTO alias_targets (alias_id, position, target) VALUES (?, ?, ?)', id, position, target);
  });
}

export function deleteAlias(tx: Tx, address: string): void {
  const source = address.trim().toLowerCase();
  const result = tx.sql.run('DELETE FROM aliases WHERE address = ?', source);
  if (result.changes === 0) throw new StoreError('notFound', `no alias ${source}`);
}

export function mustFindAccountById(tx: Tx, id: Id): AccountRow {
  const row = findAccountRowById(tx.sql, id);
  if (!row) throw new StoreError('notFound', `no account ${id}`);
  return row;
}
