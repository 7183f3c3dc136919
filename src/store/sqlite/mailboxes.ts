/**
 * Mailboxes and subscriptions (RFC 3501 6.3.3–6.3.7).
 *
 * UIDVALIDITY of a new mailbox is max(now in seconds, meta.last_uidvalidity + 1), and the meta row
 * is updated: a mailbox deleted and re-created gets a new UIDVALIDITY even when the clock went back,
 * which is what lets UIDs restart (RFC 3501 2.3.1.1).
 * @module
 */
import type { Id, Mailbox, SpecialUse } from '../types.js';
import { StoreError } from '../types.js';
import { HIERARCHY_DELIMITER, INBOX, canonicalMailboxName, checkMailboxName, isInferiorOf, parentNames } from '../names.js';
import { MAX_UIDVALIDITY, SPECIAL_USES } from '../rules.js';
import type { Sql } from './db.js';
import { dropMessagesOfMailboxes, moveAllMessages } from './messages.js';
import type { MailboxRow } from './rows.js';
import { MAILBOX_COLUMNS, toMailbox } from './rows.js';
import type { Tx } from './tx.js';


// ---- reads -------------------------------------------------------------------------------------

export function findMailboxRow(sql: Sql, accountId: Id, name: string): MailboxRow | undefined {
  return sql.get<MailboxRow>(
    `SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ?`,
    accountId,
    canonicalMailboxName(name),
  );
}

export function findMailboxRowById(sql: Sql, mailboxId: Id): MailboxRow | undefined {
  return sql.get<MailboxRow>(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?`, mailboxId);
}

export function listMailboxes(sql: Sql, accountId: Id): Mailbox[] {
  return sql.all<MailboxRow>(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? ORDER BY name`, accountId).map(toMailbox);
}

export function listSubscriptions(sql: Sql, accountId: Id): string[] {
  return sql.column<string>('SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name', accountId);
}

/** The mailbox, checked to belong to the account (a session must not reach another account's mailbox). */
export function mailboxOfAccount(sql: Sql, accountId: Id, mailboxId: Id): MailboxRow {
  const row = findMailboxRowById(sql, mailboxId);
  if (!row || row.account_id !== accountId) throw new StoreError('notFound', `no mailbox ${mailboxId} in account ${accountId}`);
  return row;
}

// ---- writes ------------------------------------------------------------------------------------

function nextUidValidity(tx: Tx): number {
  const last = Number(tx.sql.value<string>("SELECT value FROM meta WHERE key = 'last_uidvalidity'") ?? '0');
  const value = Math.max(Math.floor(tx.now / 1000), last + 1);
  if (value > MAX_UIDVALIDITY) throw new StoreError('cannot', 'UIDVALIDITY space exhausted');
  tx.sql.run("UPDATE meta SET value = ? WHERE key = 'last_uidvalidity'", String(value));
  return value;
}

/** Inserts one mailbox row (name already canonical and free) and logs its creation. */
export function insertMailbox(tx: Tx, accountId: Id, name: string, specialUse: SpecialUse | null, modseq: number): MailboxRow {
  const id = Number(
    tx.sql.run(
      'INSERT INTO mailboxes (account_id, name, uidvalidity, highest_modseq, special_use) VALUES (?, ?, ?, ?, ?)',
      accountId,
      name,
      nextUidValidity(tx),
      modseq,
      specialUse,
    ).lastInsertRowid,
  );
  tx.log(accountId, modseq, 'mailboxCreated', id, null, { name });
  const row = findMailboxRowById(tx.sql, id);
  if (!row) throw new Error(`mailbox ${id} vanished after insert`);
  return row;
}

/** RFC 3501 6.3.3: superior names that do not exist are created too. */
function createMissingParents(tx: Tx, accountId: Id, name: string, modseq: number): void {
  for (const parent of parentNames(name)) {
    if (!findMailboxRow(tx.sql, accountId, parent)) insertMailbox(tx, accountId, parent, null, modseq);
  }
}

export function createMailbox(tx: Tx, accountId: Id, requested: string, specialUse: SpecialUse | null): Mailbox {
  if (specialUse !== null && !SPECIAL_USES.has(specialUse)) throw new StoreError('invalid', `unknown special use ${specialUse}`);
  // RFC 3501 6.3.3: a trailing delimiter only declares the intent to create inferiors.
  const trimmed = requested.endsWith(HIERARCHY_DELIMITER) ? requested.slice(0, -1) : requested;
  const name = checkMailboxName(trimmed);
  if (findMailboxRow(tx.sql, accountId, name)) throw new StoreError('exists', `mailbox ${name} exists`);
  const modseq = tx.modseq(accountId);
  createMissingParents(tx, accountId, name, modseq);
  return toMailbox(insertMailbox(tx, accountId, name, specialUse, modseq));
}

/** RFC 3501 6.3.4: the mailbox and its messages go; inferior names stay. INBOX cannot be deleted. */
export function deleteMailbox(tx: Tx, accountId: Id, requested: string): void {
  const name = canonicalMailboxName(requested);
  if (name === INBOX) throw new StoreError('cannot', 'INBOX cannot be deleted');
  const row = findMailboxRow(tx.sql, accountId, name);
  if (!row) throw new StoreError('notFound', `no mailbox ${name}`);
  const modseq = tx.modseq(accountId);
  dropMessagesOfMailboxes(tx, [row.id]);
  tx.sql.run('DELETE FROM mailboxes WHERE id = ?', row.id);
  tx.log(accountId, modseq, 'mailboxDeleted', row.id, null, { name });
}

/**
 * RFC 3501 6.3.5: renames the mailbox and its inferiors ("a" → "b" renames "a/x" → "b/x").
 * Renaming INBOX creates the new mailbox, moves every INBOX message into it (new UIDs there) and
 * leaves INBOX empty; INBOX's inferiors are unaffected. Subscriptions are not touched (RFC 9051 6.3.6).
 */
export function renameMailbox(tx: Tx, accountId: Id, requestedOld: string, requestedNew: string): void {
  const oldName = canonicalMailboxName(requestedOld);
  const newName = checkMailboxName(requestedNew);
  const source = findMailboxRow(tx.sql, accountId, oldName);
  if (!source) throw new StoreError('notFound', `no mailbox ${oldName}`);
  if (findMailboxRow(tx.sql, accountId, newName)) throw new StoreError('exists', `mailbox ${newName} exists`);
  const modseq = tx.modseq(accountId);

  if (oldName === INBOX) {
    // "INBOX/old" is fine here: INBOX itself stays where it is.
    createMissingParents(tx, accountId, newName, modseq);
    const target = insertMailbox(tx, accountId, newName, null, modseq);
    moveAllMessages(tx, accountId, source, target, modseq);
    return;
  }
  if (isInferiorOf(newName, oldName)) throw new StoreError('cannot', `cannot rename ${oldName} into itself`);

  const inferiors = tx.sql.all<MailboxRow>(
    `SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND substr(name, 1, ?) = ? ORDER BY name`,
    accountId,
    oldName.length + 1,
    oldName + HIERARCHY_DELIMITER,
  );
  const renames: Array<[MailboxRow, string]> = [[source, newName]];
  for (const inferior of inferiors) renames.push([inferior, newName + inferior.name.slice(oldName.length)]);
  for (const [, name] of renames.slice(1)) {
    if (findMailboxRow(tx.sql, accountId, name)) throw new StoreError('exists', `mailbox ${name} exists`);
  }
  createMissingParents(tx, accountId, newName, modseq);
  for (const [row, name] of renames) {
    tx.sql.run('UPDATE mailboxes SET name = ? WHERE id = ?', name, row.id);
    tx.log(accountId, modseq, 'mailboxRenamed', row.id, null, { name, oldName: row.name });
  }
}

export function subscribe(tx: Tx, accountId: Id, requested: string): void {
  const name = checkMailboxName(requested);
  mustHaveAccount(tx, accountId);
  tx.sql.run('INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)', accountId, name);
}

export function unsubscribe(tx: Tx, accountId: Id, requested: string): void {
  mustHaveAccount(tx, accountId);
  tx.sql.run('DELETE FROM subscriptions WHERE account_id = ? AND name = ?', accountId, canonicalMailboxName(requested));
}

function mustHaveAccount(tx: Tx, accountId: Id): void {
  if (tx.sql.value<number>('SELECT 1 FROM accounts WHERE id = ?', accountId) === undefined) {
    throw new StoreError('notFound', `no account ${accountId}`);
  }
}
