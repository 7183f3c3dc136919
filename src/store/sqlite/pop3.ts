/**
 * POP3 retention on SQLite (store/types Pop3Retention): policies in `domains` and `accounts`
 * (`pop3_retention_days`: days, 0 = never, NULL = not set) and the first download time in
 * `messages.pop3_downloaded_at` (milliseconds). Recording downloads changes nothing IMAP can
 * see, so it takes no MODSEQ and writes no change-log row.
 * @module
 */
import type { Id, Pop3ExpiredMessages, Pop3RetentionSetting, Pop3RetentionTarget } from '../types.js';
import { MAX_POP3_RETENTION_DAYS, StoreError } from '../types.js';
import type { Sql } from './db.js';
import { findAccountRow, findDomain, updateAccount } from './directory.js';
import type { Tx } from './tx.js';

const DAY_MS = 86_400_000;
const NEVER = 0;
/** The policy in force: the account's own, else its domain's (NULL or 0 means never). */
const EFFECTIVE_DAYS = 'COALESCE(a.pop3_retention_days, d.pop3_retention_days, 0)';

function toColumn(setting: Pop3RetentionSetting): number | null {
  if (setting === null) return null;
  if (setting === 'never') return NEVER;
  if (!Number.isSafeInteger(setting) || setting < 1 || setting > MAX_POP3_RETENTION_DAYS) {
    throw new StoreError('invalid', `retention must be 1 to ${MAX_POP3_RETENTION_DAYS} days, got ${setting}`);
  }
  return setting;
}

function fromColumn(value: number | null | undefined): Pop3RetentionSetting {
  if (value === null || value === undefined) return null;
  return value === NEVER ? 'never' : value;
}

export function setPop3Retention(tx: Tx, target: Pop3RetentionTarget, setting: Pop3RetentionSetting): void {
  const days = toColumn(setting);
  if ('domain' in target) {
    const domain = findDomain(tx.sql, target.domain);
    if (!domain) throw new StoreError('notFound', `no domain ${target.domain}`);
    tx.sql.run('UPDATE domains SET pop3_retention_days = ? WHERE id = ?', days, domain.id);
    return;
  }
  // Logged as an account change, like the password and the shared secret.
  updateAccount(tx, target.address, 'pop3_retention_days = ?', days);
}

export function getPop3Retention(sql: Sql, target: Pop3RetentionTarget): Pop3RetentionSetting {
  if ('domain' in target) {
    const domain = findDomain(sql, target.domain);
    if (!domain) throw new StoreError('notFound', `no domain ${target.domain}`);
    return fromColumn(sql.value<number | null>('SELECT pop3_retention_days FROM domains WHERE id = ?', domain.id));
  }
  const account = findAccountRow(sql, target.address);
  if (!account) throw new StoreError('notFound', `no account ${target.address}`);
  return fromColumn(sql.value<number | null>('SELECT pop3_retention_days FROM accounts WHERE id = ?', account.id));
}

export function pop3RetentionDays(sql: Sql, accountId: Id): number | null {
  const days = sql.value<number>(
    `SELECT ${EFFECTIVE_DAYS} FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.id = ?`,
    accountId,
  );
  return days === undefined || days === NEVER ? null : days;
}

export function shortestPop3Retention(sql: Sql): number | null {
  const days = sql.value<number | null>(
    `SELECT min(days) FROM (
       SELECT pop3_retention_days AS days FROM domains
       UNION ALL SELECT pop3_retention_days FROM accounts
     ) WHERE days > 0`,
  );
  return days ?? null;
}

export function recordPop3Downloads(tx: Tx, mailboxId: Id, uids: readonly number[], at: number): void {
  for (const uid of new Set(uids)) {
    tx.sql.run(
      'UPDATE messages SET pop3_downloaded_at = ? WHERE mailbox_id = ? AND uid = ? AND pop3_downloaded_at IS NULL',
      at,
      mailboxId,
      uid,
    );
  }
}

export function listPop3Expired(sql: Sql, now: number, limit: number, afterAccountId: Id): Pop3ExpiredMessages[] {
  const rows = sql.all<{ account_id: number; mailbox_id: number; uid: number }>(
    `SELECT mb.account_id, m.mailbox_id, m.uid
       FROM messages m
       JOIN mailboxes mb ON mb.id = m.mailbox_id
       JOIN accounts a ON a.id = mb.account_id
       JOIN domains d ON d.id = a.domain_id
      WHERE m.pop3_downloaded_at IS NOT NULL
        AND mb.name = 'INBOX'
        AND mb.account_id > ?
        AND ${EFFECTIVE_DAYS} > 0
        AND m.pop3_downloaded_at <= ? - ${EFFECTIVE_DAYS} * ${DAY_MS}
      ORDER BY mb.account_id, m.mailbox_id, m.uid
      LIMIT ?`,
    afterAccountId,
    now,
    Math.max(1, Math.floor(limit)),
  );
  const groups: Pop3ExpiredMessages[] = [];
  for (const row of rows) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last.accountId === row.account_id && last.mailboxId === row.mailbox_id) last.uids.push(row.uid);
    else groups.push({ accountId: row.account_id, mailboxId: row.mailbox_id, uids: [row.uid] });
  }
  return groups;
}
