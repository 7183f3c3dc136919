/**
 * Message rows: append, deliver, flags, expunge, copy, move, and the reads sessions use.
 *
 * Every write keeps three things exact in the same transaction: the mailbox counters
 * (messages, unseen, octets, UIDNEXT, HIGHESTMODSEQ), the account's quota usage, and the change
 * log. Size counted everywhere is what clients see: prefix + blob.
 * @module
 */
import { shiftIndex } from '../../mime/shift.js';
import type { MessageIndex } from '../../mime/types.js';
import { INBOX, applyFlags, applyKeywords, checkKeywords, sameKeywords } from '../names.js';
import { MAX_UID, checkFlags, checkUids, isUnseen } from '../rules.js';
import type {
  AppendResult,
  CopyResult,
  DeliveryOutcome,
  DeliveryTarget,
  FlagResult,
  FlagUpdate,
  Id,
  MessageMeta,
  NewMessage,
  StagedBlob,
  StoredMessage,
} from '../types.js';
import { StoreError } from '../types.js';
import type { Sql } from './db.js';
import { findAccountRowById } from './directory.js';
import { findMailboxRow, mailboxOfAccount } from './mailboxes.js';
import type { MailboxRow, MessageRow } from './rows.js';
import { MESSAGE_COLUMNS, parseKeywords, toMessageMeta } from './rows.js';
import type { Tx } from './tx.js';


/** What a new row needs, whatever created it (append, delivery, copy). */
interface RowFields {
  blobHash: string;
  size: number;
  prefix: Uint8Array | null;
  flags: number;
  keywords: string[];
  internalDate: number;
}




// ---- reads -------------------------------------------------------------------------------------

/** Listings leave out the prefix BLOB (a Buffer per row, unused by MessageMeta). */
const LISTING_COLUMNS = MESSAGE_COLUMNS.replace(', prefix', '');

export function listMessages(sql: Sql, mailboxId: Id, uidFrom: number, uidTo: number): MessageMeta[] {
  return sql
    .all<MessageRow>(
      `SELECT ${LISTING_COLUMNS} FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`,
      mailboxId,
      uidFrom,
      uidTo,
    )
    .map(toMessageMeta);
}

function rowsByUid(sql: Sql, mailboxId: Id, uids: readonly number[]): MessageRow[] {
  if (uids.length === 0) return [];
  return sql.all<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid`,
    mailboxId,
    JSON.stringify(uids),
  );
}

export function getMessages(sql: Sql, mailboxId: Id, uids: readonly number[]): StoredMessage[] {
  const wanted = checkUids(uids);
  if (wanted.length === 0) return [];
  const rows = sql.all<MessageRow & { index_json: string }>(
    `SELECT m.id, m.mailbox_id, m.uid, m.modseq, m.flags, m.keywords, m.internal_date, m.size, m.blob_hash, m.prefix, i.index_json
       FROM messages m JOIN message_index i ON i.blob_hash = m.blob_hash
      WHERE m.mailbox_id = ? AND m.uid IN (SELECT value FROM json_each(?)) ORDER BY m.uid`,
    mailboxId,
    JSON.stringify(wanted),
  );
  return rows.map((row) => ({
    ...toMessageMeta(row),
    index: shiftIndex(JSON.parse(row.index_json) as MessageIndex, row.prefix?.length ?? 0),
  }));
}

/** The per-copy prefix and blob of a message row, or undefined once it is expunged. */
export function messageBytesOf(sql: Sql, messageId: Id): { prefix: Buffer | null; blob_hash: string; size: number } | undefined {
  return sql.get('SELECT prefix, blob_hash, size FROM messages WHERE id = ?', messageId);
}

// ---- shared write steps ------------------------------------------------------------------------

function hasRoom(tx: Tx, accountId: Id, bytes: number, messages: number): boolean {
  const account = findAccountRowById(tx.sql, accountId);
  if (!account) throw new StoreError('notFound', `no account ${accountId}`);
  if (account.quota_bytes !== null && account.used_bytes + bytes > account.quota_bytes) return false;
  if (account.quota_messages !== null && account.used_messages + messages > account.quota_messages) return false;
  return true;
}

function assertRoom(tx: Tx, accountId: Id, bytes: number, messages: number): void {
  if (!hasRoom(tx, accountId, bytes, messages)) {
    throw new StoreError('overQuota', `account ${accountId} has no room for ${messages} message(s), ${bytes} octets`);
  }
}

function addUsage(tx: Tx, accountId: Id, bytes: number, messages: number): void {
  tx.sql.run('UPDATE accounts SET used_bytes = used_bytes + ?, used_messages = used_messages + ? WHERE id = ?', bytes, messages, accountId);
}

/** Takes the next UID, bumps the counters, inserts the row and logs it. Returns the UID. */
function insertRow(tx: Tx, accountId: Id, mailboxId: Id, modseq: number, fields: RowFields): number {
  const next = tx.sql.get<{ uid: number }>(
    `UPDATE mailboxes SET uidnext = uidnext + 1, message_count = message_count + 1, unseen_count = unseen_count + ?,
            total_size = total_size + ?, highest_modseq = ?
      WHERE id = ? RETURNING uidnext - 1 AS uid`,
    isUnseen(fields.flags),
    fields.size,
    modseq,
    mailboxId,
  );
  if (!next) throw new StoreError('notFound', `no mailbox ${mailboxId}`);
  if (next.uid > MAX_UID) throw new StoreError('cannot', `UID space of mailbox ${mailboxId} exhausted`);
  tx.sql.run(
    `INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_hash, prefix)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    mailboxId,
    next.uid,
    modseq,
    fields.flags,
    JSON.stringify(fields.keywords),
    fields.internalDate,
    fields.size,
    fields.blobHash,
    fields.prefix && fields.prefix.length > 0 ? Buffer.from(fields.prefix) : null,
  );
  tx.log(accountId, modseq, 'added', mailboxId, next.uid, null);
  return next.uid;
}

/** A referenced blob needs its index row and must leave the deletion queue. */
function referenceBlob(tx: Tx, hash: string, index: MessageIndex): void {
  tx.sql.run('INSERT OR IGNORE INTO message_index (blob_hash, index_json) VALUES (?, ?)', hash, JSON.stringify(index));
  tx.sql.run('DELETE FROM blob_trash WHERE hash = ?', hash);
}

/** Deletes rows of one mailbox, keeping counters, quota and change log exact. */
function removeRows(tx: Tx, accountId: Id, mailboxId: Id, rows: readonly MessageRow[], modseq: number): void {
  if (rows.length === 0) return;
  let bytes = 0;
  let unseen = 0;
  for (const row of rows) {
    bytes += row.size;
    unseen += isUnseen(row.flags);
  }
  tx.sql.run('DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))', JSON.stringify(rows.map((row) => row.id)));
  tx.sql.run(
    `UPDATE mailboxes SET message_count = message_count - ?, unseen_count = unseen_count - ?, total_size = total_size - ?,
            highest_modseq = ? WHERE id = ?`,
    rows.length,
    unseen,
    bytes,
    modseq,
    mailboxId,
  );
  addUsage(tx, accountId, -bytes, -rows.length);
  // RFC 7162 3.2: expunged UIDs are associated with the new MODSEQ (QRESYNC VANISHED needs it).
  for (const row of rows) tx.log(accountId, modseq, 'expunged', mailboxId, row.uid, null);
  for (const hash of new Set(rows.map((row) => row.blob_hash))) tx.dropBlobReference(hash);
}

/** Copies rows into `target` in the given order; returns [source UID, new UID] pairs. */
function copyRows(tx: Tx, accountId: Id, rows: readonly MessageRow[], target: MailboxRow, modseq: number): Array<[number, number]> {
  const mapping: Array<[number, number]> = [];
  for (const row of rows) {
    const uid = insertRow(tx, accountId, target.id, modseq, {
      blobHash: row.blob_hash,
      size: row.size,
      prefix: row.prefix,
      flags: row.flags,
      keywords: parseKeywords(row.keywords),
      internalDate: row.internal_date,
    });
    mapping.push([row.uid, uid]);
  }
  return mapping;
}

// ---- operations --------------------------------------------------------------------------------

export function append(tx: Tx, accountId: Id, mailboxId: Id, messages: readonly NewMessage[]): AppendResult[] {
  const mailbox = mailboxOfAccount(tx.sql, accountId, mailboxId);
  if (messages.length === 0) return [];
  const prepared = messages.map((message) => ({
    message,
    fields: {
      blobHash: message.blob.hash,
      size: (message.prefix?.length ?? 0) + message.blob.size,
      prefix: message.prefix ?? null,
      flags: checkFlags(message.flags ?? 0),
      keywords: checkKeywords(message.keywords ?? []),
      internalDate: message.internalDate?.getTime() ?? tx.now,
    },
  }));
  // MULTIAPPEND (RFC 3502) is all or nothing, quota included.
  assertRoom(
    tx,
    accountId,
    prepared.reduce((sum, p) => sum + p.fields.size, 0),
    prepared.length,
  );
  const modseq = tx.modseq(accountId);
  const results: AppendResult[] = [];
  for (const { message, fields } of prepared) {
    referenceBlob(tx, fields.blobHash, message.index);
    const uid = insertRow(tx, accountId, mailbox.id, modseq, fields);
    results.push({ uidValidity: mailbox.uidvalidity, uid, modseq });
  }
  addUsage(
    tx,
    accountId,
    prepared.reduce((sum, p) => sum + p.fields.size, 0),
    prepared.length,
  );
  return results;
}

/** One blob, many recipients: N rows, one blob. Per-target refusals do not fail the others. */
export function deliver(
  tx: Tx,
  blob: StagedBlob,
  index: MessageIndex,
  targets: readonly DeliveryTarget[],
  internalDate: number,
): DeliveryOutcome[] {
  const outcomes: DeliveryOutcome[] = [];
  let stored = 0;
  for (const target of targets) {
    const outcome = deliverOne(tx, blob, index, target, internalDate);
    if (outcome.ok) stored++;
    outcomes.push(outcome);
  }
  // Nobody took it: the promoted blob must not stay behind.
  if (stored === 0) tx.dropBlobReference(blob.hash);
  return outcomes;
}

function deliverOne(tx: Tx, blob: StagedBlob, index: MessageIndex, target: DeliveryTarget, internalDate: number): DeliveryOutcome {
  if (!findAccountRowById(tx.sql, target.accountId)) return { ok: false, reason: 'noAccount' };
  const named = target.mailboxName === undefined ? undefined : findMailboxRow(tx.sql, target.accountId, target.mailboxName);
  const mailbox = named ?? findMailboxRow(tx.sql, target.accountId, INBOX);
  if (!mailbox) return { ok: false, reason: 'noAccount' };
  const fields: RowFields = {
    blobHash: blob.hash,
    size: (target.prefix?.length ?? 0) + blob.size,
    prefix: target.prefix ?? null,
    flags: checkFlags(target.flags ?? 0),
    keywords: checkKeywords(target.keywords ?? []),
    internalDate,
  };
  if (!hasRoom(tx, target.accountId, fields.size, 1)) return { ok: false, reason: 'overQuota' };
  referenceBlob(tx, blob.hash, index);
  const uid = insertRow(tx, target.accountId, mailbox.id, tx.modseq(target.accountId), fields);
  addUsage(tx, target.accountId, fields.size, 1);
  return { ok: true, mailboxId: mailbox.id, uid };
}

/**
 * STORE (RFC 3501 6.4.6) with CONDSTORE (RFC 7162 3.1.3): a message whose MODSEQ is above
 * UNCHANGEDSINCE is left alone and reported; one that passes gets a new MODSEQ even when its flags
 * end up equal ("If the operation is successful, the server MUST update the mod-sequence"). Without
 * UNCHANGEDSINCE only messages whose flags really change get a new MODSEQ.
 */
export function updateFlags(tx: Tx, accountId: Id, mailboxId: Id, uids: readonly number[], update: FlagUpdate): FlagResult {
  mailboxOfAccount(tx.sql, accountId, mailboxId);
  const flags = checkFlags(update.flags);
  const keywords = checkKeywords(update.keywords);
  const result: FlagResult = { changed: [], modifiedSince: [] };
  let unseenDelta = 0;
  let modseq = 0;
  for (const row of rowsByUid(tx.sql, mailboxId, checkUids(uids))) {
    if (update.unchangedSince !== undefined && row.modseq > update.unchangedSince) {
      result.modifiedSince.push(row.uid);
      continue;
    }
    const current = parseKeywords(row.keywords);
    const nextFlags = applyFlags(row.flags, update.op, flags);
    const proposed = applyKeywords(current, update.op, keywords);
    const nextKeywords = sameKeywords(current, proposed) ? current : proposed;
    if (nextFlags === row.flags && nextKeywords === current && update.unchangedSince === undefined) continue;
    modseq = tx.modseq(accountId);
    tx.sql.run('UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE id = ?', nextFlags, JSON.stringify(nextKeywords), modseq, row.id);
    unseenDelta += isUnseen(nextFlags) - isUnseen(row.flags);
    tx.log(accountId, modseq, 'flags', mailboxId, row.uid, { flags: nextFlags, keywords: nextKeywords });
    result.changed.push({ uid: row.uid, modseq, flags: nextFlags, keywords: nextKeywords });
  }
  if (modseq > 0) {
    tx.sql.run('UPDATE mailboxes SET unseen_count = unseen_count + ?, highest_modseq = ? WHERE id = ?', unseenDelta, modseq, mailboxId);
  }
  return result;
}

export function expunge(tx: Tx, accountId: Id, mailboxId: Id, uids: readonly number[]): { uids: number[]; modseq: number } {
  mailboxOfAccount(tx.sql, accountId, mailboxId);
  const rows = rowsByUid(tx.sql, mailboxId, checkUids(uids));
  if (rows.length === 0) return { uids: [], modseq: currentModseqOf(tx, accountId) };
  const modseq = tx.modseq(accountId);
  removeRows(tx, accountId, mailboxId, rows, modseq);
  return { uids: rows.map((row) => row.uid), modseq };
}

export function copy(tx: Tx, accountId: Id, fromMailboxId: Id, uids: readonly number[], toMailboxId: Id): CopyResult {
  mailboxOfAccount(tx.sql, accountId, fromMailboxId);
  const target = mailboxOfAccount(tx.sql, accountId, toMailboxId);
  const rows = rowsByUid(tx.sql, fromMailboxId, checkUids(uids));
  if (rows.length === 0) return { uidValidity: target.uidvalidity, mapping: [] };
  const bytes = rows.reduce((sum, row) => sum + row.size, 0);
  assertRoom(tx, accountId, bytes, rows.length);
  const mapping = copyRows(tx, accountId, rows, target, tx.modseq(accountId));
  addUsage(tx, accountId, bytes, rows.length);
  return { uidValidity: target.uidvalidity, mapping };
}

/** RFC 6851: copy and expunge in one transaction; usage does not change (same account). */
export function move(tx: Tx, accountId: Id, fromMailboxId: Id, uids: readonly number[], toMailboxId: Id): CopyResult & { modseq: number } {
  if (fromMailboxId === toMailboxId) throw new StoreError('cannot', 'source and destination are the same mailbox');
  mailboxOfAccount(tx.sql, accountId, fromMailboxId);
  const target = mailboxOfAccount(tx.sql, accountId, toMailboxId);
  const rows = rowsByUid(tx.sql, fromMailboxId, checkUids(uids));
  if (rows.length === 0) return { uidValidity: target.uidvalidity, mapping: [], modseq: currentModseqOf(tx, accountId) };
  const modseq = tx.modseq(accountId);
  const mapping = moveRows(tx, accountId, fromMailboxId, rows, target, modseq);
  return { uidValidity: target.uidvalidity, mapping, modseq };
}

function moveRows(tx: Tx, accountId: Id, fromMailboxId: Id, rows: readonly MessageRow[], target: MailboxRow, modseq: number): Array<[number, number]> {
  const bytes = rows.reduce((sum, row) => sum + row.size, 0);
  // Copy first so the blobs stay referenced while the source rows go.
  const mapping = copyRows(tx, accountId, rows, target, modseq);
  addUsage(tx, accountId, bytes, rows.length);
  removeRows(tx, accountId, fromMailboxId, rows, modseq);
  return mapping;
}

/** RENAME INBOX (RFC 3501 6.3.5): every INBOX message moves to the new mailbox, with new UIDs. */
export function moveAllMessages(tx: Tx, accountId: Id, source: MailboxRow, target: MailboxRow, modseq: number): void {
  const rows = tx.sql.all<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = ? ORDER BY uid`, source.id);
  moveRows(tx, accountId, source.id, rows, target, modseq);
}

/** Mailbox or account deletion: rows go without per-message change entries; usage follows. */
export function dropMessagesOfMailboxes(tx: Tx, mailboxIds: readonly Id[]): void {
  for (const mailboxId of mailboxIds) {
    const owner = tx.sql.get<{ account_id: number; message_count: number; total_size: number }>(
      'SELECT account_id, message_count, total_size FROM mailboxes WHERE id = ?',
      mailboxId,
    );
    if (!owner) continue;
    const hashes = tx.sql.column<string>('SELECT DISTINCT blob_hash FROM messages WHERE mailbox_id = ?', mailboxId);
    tx.sql.run('DELETE FROM messages WHERE mailbox_id = ?', mailboxId);
    addUsage(tx, owner.account_id, -owner.total_size, -owner.message_count);
    for (const hash of hashes) tx.dropBlobReference(hash);
  }
}

export function currentModseqOf(tx: Tx, accountId: Id): number {
  return tx.touched.get(accountId) ?? tx.sql.value<number>('SELECT modseq FROM accounts WHERE id = ?', accountId) ?? 0;
}
