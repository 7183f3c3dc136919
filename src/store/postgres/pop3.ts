/**
 * POP3 retention on PostgreSQL, the same model as SQLite (store/sqlite/pop3.ts, docs/pop3.md):
 * policies in `domains` and `accounts` (`pop3_retention_days`: days, 0 = never, NULL = not set)
 * and the first download time in `messages.pop3_downloaded_at` (milliseconds). Recording
 * downloads changes nothing IMAP can see, so it takes no MODSEQ and writes no change-log row; it
 * still takes the account lock, like every other write of message rows (PgTx lock order).
 * @module
 */
import type { Id, Pop3ExpiredMessages, Pop3RetentionSetting, Pop3RetentionTarget } from '../types.js';
import { MAX_POP3_RETENTION_DAYS, StoreError } from '../types.js';
import type { Queryable } from './db.js';
import { row, rows } from './db.js';
import { findAccountRow, findDomain, updateAccount } from './directory.js';
import { checkUids } from '../rules.js';
import type { PgTx } from './tx.js';

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

export async function setPop3Retention(tx: PgTx, target: Pop3RetentionTarget, setting: Pop3RetentionSetting): Promise<void> {
  const days = toColumn(setting);
  if ('domain' in target) {
    const domain = await findDomain(tx.db, target.domain);
    if (!domain) throw new StoreError('notFound', `no domain ${target.domain}`);
    await tx.run('UPDATE domains SET pop3_retention_days = $1 WHERE id = $2', [days, domain.id]);
    return;
  }
  // Logged as an account change, like the password and the shared secret.
  await updateAccount(tx, target.address, [{ column: 'pop3_retention_days', value: days }]);
}

export async function getPop3Retention(db: Queryable, target: Pop3RetentionTarget): Promise<Pop3RetentionSetting> {
  if ('domain' in target) {
    const domain = await findDomain(db, target.domain);
    if (!domain) throw new StoreError('notFound', `no domain ${target.domain}`);
    const found = await row<{ days: number | null }>(db, 'SELECT pop3_retention_days AS days FROM domains WHERE id = $1', [domain.id]);
    return fromColumn(found?.days);
  }
  const account = await findAccountRow(db, target.address);
  if (!account) throw new StoreError('notFound', `no account ${target.address}`);
  const found = await row<{ days: number | null }>(db, 'SELECT pop3_retention_days AS days FROM accounts WHERE id = $1', [account.id]);
  return fromColumn(found?.days);
}

export async function pop3RetentionDays(db: Queryable, accountId: Id): Promise<number | null> {
  if (!Number.isSafeInteger(accountId)) return null;
  const found = await row<{ days: number }>(
    db,
    `SELECT ${EFFECTIVE_DAYS} AS days FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.id = $1`,
    [accountId],
  );
  return found === undefined || found.days === NEVER ? null : found.days;
}

export async function shortestPop3Retention(db: Queryable): Promise<number | null> {
  const found = await row<{ days: number | null }>(
    db,
    `SELECT min(days) AS days FROM (
       SELECT pop3_retention_days AS days FROM domains
       UNION ALL SELECT pop3_retention_days FROM accounts
     ) AS policies WHERE days > 0`,
  );
  return found?.days ?? null;
}

export async function recordPop3Downloads(tx: PgTx, mailboxId: Id, uids: readonly number[], at: number): Promise<void> {
  const wanted = checkUids(uids);
  if (wanted.length === 0 || !Number.isSafeInteger(mailboxId)) return;
  const owner = await tx.value<number>('SELECT account_id FROM mailboxes WHERE id = $1', [mailboxId]);
  if (owner === undefined) return;
  await tx.lockAccounts([owner]);
  await tx.run(
    'UPDATE messages SET pop3_downloaded_at = $1 WHERE mailbox_id = $2 AND uid = ANY($3::bigint[]) AND pop3_downloaded_at IS NULL',
    [at, mailboxId, wanted],
  );
}

export async function listPop3Expired(db: Queryable, now: number, limit: number, afterAccountId: Id): Promise<Pop3ExpiredMessages[]> {
  const found = await rows<{ account_id: number; mailbox_id: number; uid: number }>(
    db,
    `SELECT mb.account_id, m.mailbox_id, m.uid
       FROM messages m
       JOIN mailboxes mb ON mb.id = m.mailbox_id
       JOIN accounts a ON a.id = mb.account_id
       JOIN domains d ON d.id = a.domain_id
      WHERE m.pop3_downloaded_at IS NOT NULL
        AND mb.name = 'INBOX'
        AND mb.account_id > $1
        AND ${EFFECTIVE_DAYS} > 0
        AND m.pop3_downloaded_at <= $2::bigint - ${EFFECTIVE_DAYS}::bigint * ${DAY_MS}
      ORDER BY mb.account_id, m.mailbox_id, m.uid
      LIMIT $3`,
    [Number.isSafeInteger(afterAccountId) ? afterAccountId : 0, now, Math.max(1, Math.floor(limit))],
  );
  const groups: Pop3ExpiredMessages[] = [];
  for (const entry of found) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last.accountId === entry.account_id && last.mailboxId === entry.mailbox_id) last.uids.push(entry.uid);
    else groups.push({ accountId: entry.account_id, mailboxId: entry.mailbox_id, uids: [entry.uid] });
  }
  return groups;
}
