/**
 * Mailboxes and subscriptions on PostgreSQL (RFC 3501 6.3.3–6.3.7), same rules as SQLite.
 *
 * UIDVALIDITY of a new mailbox is max(now in seconds, last + 1) from the `last_uidvalidity` meta
 * row, updated in one statement that also locks the row until COMMIT: two nodes creating mailboxes
 * at once get distinct, ascending values, and a mailbox deleted and re-created always gets a new
 * one even when the clock went back (RFC 3501 2.3.1.1).
 * @module
 */
import type { Id, Mailbox, SpecialUse } from '../types.js';
import { StoreError } from '../types.js';
import { HIERARCHY_DELIMITER, INBOX, canonicalMailboxName, checkMailboxName, isInferiorOf, parentNames } from '../names.js';
import type { Queryable } from './db.js';
import { row, rows } from './db.js';
import { dropMessagesOfMailboxes, moveAllMessages } from './messages.js';
import type { MailboxRow } from './rows.js';
import { MAILBOX_COLUMNS, toMailbox } from './rows.js';
import { MAX_UIDVALIDITY, SPECIAL_USES } from '../rules.js';
import type { PgTx } from './tx.js';

// ---- reads -------------------------------------------------------------------------------------

export function findMailboxRow(db: Queryable, accountId: Id, name: string): Promise<MailboxRow | undefined> {
  if (!Number.isSafeInteger(accountId)) return Promise.resolve(undefined);
  return row<MailboxRow>(db, `SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 AND name = $2`, [
    accountId,
    canonicalMailboxName(name),
  ]);
}

export function findMailboxRowById(db: Queryable, mailboxId: Id): Promise<MailboxRow | undefined> {
  if (!Number.isSafeInteger(mailboxId)) return Promise.resolve(undefined);
  return row<MailboxRow>(db, `SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1`, [mailboxId]);
}

export async function listMailboxes(db: Queryable, accountId: Id): Promise<Mailbox[]> {
  if (!Number.isSafeInteger(accountId)) return [];
  return (await rows<MailboxRow>(db, `SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 ORDER BY name`, [accountId])).map(toMailbox);
}

export async function listSubscriptions(db: Queryable, accountId: Id): Promise<string[]> {
  if (!Number.isSafeInteger(accountId)) return [];
  return (await rows<{ name: string }>(db, 'SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name', [accountId])).map((s) => s.name);
}

/** The mailbox, checked to belong to the account (a session must not reach another account's mailbox). */
export async function mailboxOfAccount(db: Queryable, accountId: Id, mailboxId: Id): Promise<MailboxRow> {
  const found = await findMailboxRowById(db, mailboxId);
  if (!found || found.account_id !== accountId) throw new StoreError('notFound', `no mailbox ${mailboxId} in account ${accountId}`);
  return found;
}

// ---- writes ------------------------------------------------------------------------------------

async function nextUidValidity(tx: PgTx): Promise<number> {
  const value = await tx.value<number>(
    "UPDATE meta SET value = greatest($1::bigint, value + 1) WHERE key = 'last_uidvalidity' RETURNING value",
    [Math.floor(tx.now / 1000)],
  );
  if (value === undefined) throw new Error('meta row last_uidvalidity is missing');
  if (value > MAX_UIDVALIDITY) throw new StoreError('cannot', 'UIDVALIDITY space exhausted');
  return value;
}

/** Inserts one mailbox row (name already canonical and free) and logs its creation. */
export async function insertMailbox(tx: PgTx, accountId: Id, name: string, specialUse: SpecialUse | null, modseq: number): Promise<MailboxRow> {
  const inserted = await tx.row<MailboxRow>(
    `INSERT INTO mailboxes (account_id, name, uidvalidity, highest_modseq, special_use) VALUES ($1, $2, $3, $4, $5)
     RETURNING ${MAILBOX_COLUMNS}`,
    [accountId, name, await nextUidValidity(tx), modseq, specialUse],
  );
  if (!inserted) throw new Error(`mailbox ${name} insert returned nothing`);
  tx.log(accountId, modseq, 'mailboxCreated', inserted.id, null, { name });
  return inserted;
}

/** RFC 3501 6.3.3: superior names that do not exist are created too. */
async function createMissingParents(tx: PgTx, accountId: Id, name: string, modseq: number): Promise<void> {
  for (const parent of parentNames(name)) {
    if (!(await findMailboxRow(tx.db, accountId, parent))) await insertMailbox(tx, accountId, parent, null, modseq);
  }
}

export async function createMailbox(tx: PgTx, accountId: Id, requested: string, specialUse: SpecialUse | null): Promise<Mailbox> {
  if (specialUse !== null && !SPECIAL_USES.has(specialUse)) throw new StoreError('invalid', `unknown special use ${specialUse}`);
  // RFC 3501 6.3.3: a trailing delimiter only declares the intent to create inferiors.
  const trimmed = requested.endsWith(HIERARCHY_DELIMITER) ? requested.slice(0, -1) : requested;
  const name = checkMailboxName(trimmed);
  await tx.lockAccount(accountId);
  if (await findMailboxRow(tx.db, accountId, name)) throw new StoreError('exists', `mailbox ${name} exists`);
  const modseq = await tx.modseq(accountId);
  await createMissingParents(tx, accountId, name, modseq);
  return toMailbox(await insertMailbox(tx, accountId, name, specialUse, modseq));
}

/** RFC 3501 6.3.4: the mailbox and its messages go; inferior names stay. INBOX cannot be deleted. */
export async function deleteMailbox(tx: PgTx, accountId: Id, requested: string): Promise<void> {
  const name = canonicalMailboxName(requested);
  if (name === INBOX) throw new StoreError('cannot', 'INBOX cannot be deleted');
  await tx.lockAccount(accountId);
  const found = await findMailboxRow(tx.db, accountId, name);
  if (!found) throw new StoreError('notFound', `no mailbox ${name}`);
  const modseq = await tx.modseq(accountId);
  await dropMessagesOfMailboxes(tx, [found.id]);
  await tx.run('DELETE FROM mailboxes WHERE id = $1', [found.id]);
  tx.log(accountId, modseq, 'mailboxDeleted', found.id, null, { name });
}

/**
 * RFC 3501 6.3.5: renames the mailbox and its inferiors ("a" → "b" renames "a/x" → "b/x").
 * Renaming INBOX creates the new mailbox, moves every INBOX message into it (new UIDs there) and
 * leaves INBOX empty; INBOX's inferiors are unaffected. Subscriptions are not touched (RFC 9051 6.3.6).
 */
export async function renameMailbox(tx: PgTx, accountId: Id, requestedOld: string, requestedNew: string): Promise<void> {
  const oldName = canonicalMailboxName(requestedOld);
  const newName = checkMailboxName(requestedNew);
  await tx.lockAccount(accountId);
  const source = await findMailboxRow(tx.db, accountId, oldName);
  if (!source) throw new StoreError('notFound', `no mailbox ${oldName}`);
  if (await findMailboxRow(tx.db, accountId, newName)) throw new StoreError('exists', `mailbox ${newName} exists`);
  const modseq = await tx.modseq(accountId);

  if (oldName === INBOX) {
    // "INBOX/old" is fine here: INBOX itself stays where it is.
    await createMissingParents(tx, accountId, newName, modseq);
    const target = await insertMailbox(tx, accountId, newName, null, modseq);
    await moveAllMessages(tx, accountId, source, target, modseq);
    return;
  }
  if (isInferiorOf(newName, oldName)) throw new StoreError('cannot', `cannot rename ${oldName} into itself`);

  const inferiors = await tx.rows<MailboxRow>(
    `SELECT ${MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 AND starts_with(name, $2) ORDER BY name`,
    [accountId, oldName + HIERARCHY_DELIMITER],
  );
  const renames: Array<[MailboxRow, string]> = [[source, newName]];
  for (const inferior of inferiors) renames.push([inferior, newName + inferior.name.slice(oldName.length)]);
  for (const [, name] of renames.slice(1)) {
    if (await findMailboxRow(tx.db, accountId, name)) throw new StoreError('exists', `mailbox ${name} exists`);
  }
  await createMissingParents(tx, accountId, newName, modseq);
  // One statement: names swap places freely inside it (the unique index is checked per row, but
  // every target name is free, as checked above).
  await tx.run('UPDATE mailboxes SET name = r.name FROM unnest($1::bigint[], $2::text[]) AS r(id, name) WHERE mailboxes.id = r.id', [
    renames.map(([mailbox]) => mailbox.id),
    renames.map(([, name]) => name),
  ]);
  for (const [mailbox, name] of renames) tx.log(accountId, modseq, 'mailboxRenamed', mailbox.id, null, { name, oldName: mailbox.name });
}

export async function subscribe(tx: PgTx, accountId: Id, requested: string): Promise<void> {
  const name = checkMailboxName(requested);
  await mustHaveAccount(tx, accountId);
  await tx.run('INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [accountId, name]);
}

export async function unsubscribe(tx: PgTx, accountId: Id, requested: string): Promise<void> {
  await mustHaveAccount(tx, accountId);
  await tx.run('DELETE FROM subscriptions WHERE account_id = $1 AND name = $2', [accountId, canonicalMailboxName(requested)]);
}

async function mustHaveAccount(tx: PgTx, accountId: Id): Promise<void> {
  if (!Number.isSafeInteger(accountId) || (await tx.value<number>('SELECT 1 FROM accounts WHERE id = $1', [accountId])) === undefined) {
    throw new StoreError('notFound', `no account ${accountId}`);
  }
}
