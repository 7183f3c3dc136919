/**
 * Message rows on PostgreSQL: append, deliver, flags, expunge, copy, move, and the reads sessions use.
 *
 * Every write first locks the account row (PgTx lock order), then keeps three things exact in the
 * same transaction: the mailbox counters (messages, unseen, octets, UIDNEXT, HIGHESTMODSEQ), the
 * account's quota usage, and the change log. New UIDs come from one
 * `UPDATE mailboxes SET uidnext = uidnext + n ... RETURNING`, which holds the mailbox row until
 * COMMIT: UIDs are unique and ascending per mailbox with any number of nodes writing. Sizes are
 * what clients see: prefix + blob.
 * @module
 */
import { shiftIndex } from '../../mime/shift.js';
import type { MessageIndex } from '../../mime/types.js';
import { INBOX, applyFlags, applyKeywords, checkKeywords, sameKeywords } from '../names.js';
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
import type { Queryable } from './db.js';
import { binaryRows, row, rows } from './db.js';
import { findMailboxRow, mailboxOfAccount } from './mailboxes.js';
import type { AccountRow, MailboxRow, MessageRow } from './rows.js';
import { MESSAGE_COLUMNS, toMessageMeta } from './rows.js';
import { MAX_UID, checkFlags, checkUids, isUnseen } from '../rules.js';
import type { PgTx } from './tx.js';

/** What a new row needs, whatever created it (append, delivery, copy). */
interface RowFields {
  blobHash: string;
  size: number;
  prefix: Uint8Array | null;
  flags: number;
  keywords: string[];
  internalDate: number;
}

/** text[] from a JSON array of strings, keeping the order (keywords travel as JSON in batches). */
const KEYWORDS_FROM_JSON = (json: string): string =>
  `ARRAY(SELECT e FROM jsonb_array_elements_text(${json}::jsonb) WITH ORDINALITY AS x(e, o) ORDER BY o)`;

// ---- reads -------------------------------------------------------------------------------------

/** Listings leave out the prefix bytea (a Buffer per row, unused by MessageMeta). */
const LISTING_COLUMNS = MESSAGE_COLUMNS.replace(', prefix', '');

export async function listMessages(db: Queryable, mailboxId: Id, uidFrom: number, uidTo: number): Promise<MessageMeta[]> {
  if (!Number.isSafeInteger(mailboxId)) return [];
  const found = await rows<MessageRow>(
    db,
    `SELECT ${LISTING_COLUMNS} FROM messages WHERE mailbox_id = $1 AND uid BETWEEN $2 AND $3 ORDER BY uid`,
    [mailboxId, Math.max(0, Math.floor(uidFrom)), Math.min(MAX_UID, Math.floor(uidTo))],
  );
  return found.map(toMessageMeta);
}

function rowsByUid(db: Queryable, mailboxId: Id, uids: readonly number[]): Promise<MessageRow[]> {
  if (uids.length === 0) return Promise.resolve([]);
  return rows<MessageRow>(db, `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid`, [
    mailboxId,
    [...uids],
  ]);
}

export async function getMessages(db: Queryable, mailboxId: Id, uids: readonly number[]): Promise<StoredMessage[]> {
  const wanted = checkUids(uids);
  if (wanted.length === 0 || !Number.isSafeInteger(mailboxId)) return [];
  const found = await rows<MessageRow & { index_json: string }>(
    db,
    `SELECT m.id, m.mailbox_id, m.uid, m.modseq, m.flags, m.keywords, m.internal_date, m.size, m.blob_hash, m.prefix, b.index_json
       FROM messages m JOIN blobs b ON b.hash = m.blob_hash
      WHERE m.mailbox_id = $1 AND m.uid = ANY($2::bigint[]) ORDER BY m.uid`,
    [mailboxId, wanted],
  );
  return found.map((message) => ({
    ...toMessageMeta(message),
    index: shiftIndex(JSON.parse(message.index_json) as MessageIndex, message.prefix?.length ?? 0),
  }));
}

/** The per-copy prefix and blob of a message row, or undefined once it is expunged. */
export function messageBytesOf(db: Queryable, messageId: Id): Promise<{ prefix: Buffer | null; blob_hash: string; size: number } | undefined> {
  if (!Number.isSafeInteger(messageId)) return Promise.resolve(undefined);
  return row(db, 'SELECT prefix, blob_hash, size FROM messages WHERE id = $1', [messageId]);
}

/**
 * Bytes [$2, $3) of a message as clients see it (prefix + blob), in ONE query: the prefix part
 * first (seq -1), then the overlapping part of each chunk. No row at all: the message is gone.
 */
const READ_MESSAGE = `
  WITH r AS (
    SELECT prefix, blob_hash, plen, stop, least(greatest($2::bigint, 0), stop) AS start
      FROM (SELECT prefix, blob_hash, coalesce(octet_length(prefix), 0)::bigint AS plen, least(greatest($3::bigint, 0), size) AS stop
              FROM messages WHERE id = $1::bigint) AS m)
  SELECT -1 AS seq,
         CASE WHEN start < least(stop, plen) THEN substring(prefix FROM (start + 1)::integer FOR (least(stop, plen) - start)::integer)
              ELSE ''::bytea END AS part
    FROM r
  UNION ALL
  SELECT c.seq,
         substring(c.data FROM (greatest(x.bs - c.seq::bigint * b.chunk_size, 0) + 1)::integer
                          FOR (least(x.be - c.seq::bigint * b.chunk_size, b.chunk_size) - greatest(x.bs - c.seq::bigint * b.chunk_size, 0))::integer)
    FROM (SELECT blob_hash, greatest(start - plen, 0) AS bs, stop - plen AS be FROM r WHERE stop > plen AND stop > start) AS x
    JOIN blobs b ON b.hash = x.blob_hash
    JOIN blob_chunks c ON c.data_id = b.data_id AND c.seq >= x.bs / b.chunk_size AND c.seq <= (x.be - 1) / b.chunk_size
  ORDER BY seq`;

/** Small reads (IMAP partial FETCH, headers): the range in memory, or undefined when the message is gone. */
export async function readMessageRange(db: Queryable, messageId: Id, start: number, end: number): Promise<Buffer | undefined> {
  if (!Number.isSafeInteger(messageId)) return undefined;
  const parts = await binaryRows<{ seq: number; part: Buffer }>(db, READ_MESSAGE, [messageId, Math.floor(start), Math.floor(end)]);
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0]?.part : Buffer.concat(parts.map((p) => p.part));
}

// ---- shared write steps ------------------------------------------------------------------------

/** Room for more under the account's quota, read under the lock this transaction holds. */
async function hasRoom(tx: PgTx, accountId: Id, bytes: number, messages: number): Promise<boolean> {
  const account = await tx.lockedAccount(accountId);
  if (!account) throw new StoreError('notFound', `no account ${accountId}`);
  return fits(account, bytes, messages);
}

function fits(account: AccountRow, bytes: number, messages: number): boolean {
  if (account.quota_bytes !== null && account.used_bytes + bytes > account.quota_bytes) return false;
  if (account.quota_messages !== null && account.used_messages + messages > account.quota_messages) return false;
  return true;
}

async function assertRoom(tx: PgTx, accountId: Id, bytes: number, messages: number): Promise<void> {
  if (!(await hasRoom(tx, accountId, bytes, messages))) {
    throw new StoreError('overQuota', `account ${accountId} has no room for ${messages} message(s), ${bytes} octets`);
  }
}

async function addUsage(tx: PgTx, accountId: Id, bytes: number, messages: number): Promise<void> {
  if (bytes === 0 && messages === 0) return;
  await tx.run('UPDATE accounts SET used_bytes = used_bytes + $1, used_messages = used_messages + $2 WHERE id = $3', [bytes, messages, accountId]);
  tx.noteUsage(accountId, bytes, messages);
}

/**
 * Takes `fields.length` consecutive UIDs, bumps the mailbox counters (and with `usage`, the
 * account's quota usage), inserts the rows in order and logs them, in one statement. Returns the
 * UIDs in the order of `fields`.
 */
async function insertRows(
  tx: PgTx,
  accountId: Id,
  mailboxId: Id,
  modseq: number,
  fields: readonly RowFields[],
  usage: 'count' | 'unchanged',
): Promise<number[]> {
  if (fields.length === 0) return [];
  const unseen = fields.reduce((sum, f) => sum + isUnseen(f.flags), 0);
  const bytes = fields.reduce((sum, f) => sum + f.size, 0);
  const inserted = await tx.rows<{ uid: number }>(
    `WITH alloc AS (
       UPDATE mailboxes SET uidnext = uidnext + $2::bigint, message_count = message_count + $2::bigint,
              unseen_count = unseen_count + $3::bigint, total_size = total_size + $4::bigint, highest_modseq = $5::bigint
        WHERE id = $1::bigint RETURNING uidnext - $2::bigint AS first),
     usage AS (
       UPDATE accounts SET used_bytes = used_bytes + $4::bigint, used_messages = used_messages + $2::bigint
        WHERE id = $12::bigint AND $13::boolean AND EXISTS (SELECT 1 FROM alloc))
     INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_hash, prefix)
     SELECT $1::bigint, alloc.first + u.ord - 1, $5::bigint, u.flags, ${KEYWORDS_FROM_JSON('u.keywords')}, u.internal_date, u.size, u.blob_hash, u.prefix
       FROM alloc, unnest($6::integer[], $7::text[], $8::bigint[], $9::bigint[], $10::text[], $11::bytea[])
            WITH ORDINALITY AS u(flags, keywords, internal_date, size, blob_hash, prefix, ord)
      ORDER BY u.ord
     RETURNING uid`,
    [
      mailboxId,
      fields.length,
      unseen,
      bytes,
      modseq,
      fields.map((f) => f.flags),
      fields.map((f) => JSON.stringify(f.keywords)),
      fields.map((f) => f.internalDate),
      fields.map((f) => f.size),
      fields.map((f) => f.blobHash),
      fields.map((f) => (f.prefix && f.prefix.length > 0 ? Buffer.from(f.prefix) : null)),
      accountId,
      usage === 'count',
    ],
  );
  if (inserted.length !== fields.length) throw new StoreError('notFound', `no mailbox ${mailboxId}`);
  if (usage === 'count') tx.noteUsage(accountId, bytes, fields.length);
  const uids = inserted.map((r) => r.uid).sort((a, b) => a - b);
  if ((uids[uids.length - 1] ?? 0) > MAX_UID) throw new StoreError('cannot', `UID space of mailbox ${mailboxId} exhausted`);
  for (const uid of uids) tx.log(accountId, modseq, 'added', mailboxId, uid, null);
  return uids;
}

/** Deletes rows of one mailbox, keeping counters, quota (with `usage`) and change log exact. */
async function removeRows(
  tx: PgTx,
  accountId: Id,
  mailboxId: Id,
  removed: readonly MessageRow[],
  modseq: number,
  usage: 'count' | 'unchanged',
): Promise<void> {
  if (removed.length === 0) return;
  let bytes = 0;
  let unseen = 0;
  for (const message of removed) {
    bytes += message.size;
    unseen += isUnseen(message.flags);
  }
  await tx.run('DELETE FROM messages WHERE id = ANY($1::bigint[])', [removed.map((m) => m.id)]);
  await tx.run(
    `UPDATE mailboxes SET message_count = message_count - $1, unseen_count = unseen_count - $2, total_size = total_size - $3,
            highest_modseq = $4 WHERE id = $5`,
    [removed.length, unseen, bytes, modseq, mailboxId],
  );
  if (usage === 'count') await addUsage(tx, accountId, -bytes, -removed.length);
  // RFC 7162 3.2: expunged UIDs are associated with the new MODSEQ (QRESYNC VANISHED needs it).
  for (const message of removed) tx.log(accountId, modseq, 'expunged', mailboxId, message.uid, null);
  for (const hash of new Set(removed.map((m) => m.blob_hash))) tx.dropBlobReference(hash);
}

/** Copies rows into `target` in the given order; returns [source UID, new UID] pairs. */
async function copyRows(
  tx: PgTx,
  accountId: Id,
  source: readonly MessageRow[],
  target: MailboxRow,
  modseq: number,
  usage: 'count' | 'unchanged',
): Promise<Array<[number, number]>> {
  const uids = await insertRows(
    tx,
    accountId,
    target.id,
    modseq,
    source.map((m) => ({
      blobHash: m.blob_hash,
      size: m.size,
      prefix: m.prefix,
      flags: m.flags,
      keywords: m.keywords,
      internalDate: m.internal_date,
    })),
    usage,
  );
  return source.map((m, i): [number, number] => [m.uid, uids[i] ?? 0]);
}

// ---- operations --------------------------------------------------------------------------------

export async function append(tx: PgTx, accountId: Id, mailboxId: Id, messages: readonly NewMessage[]): Promise<AppendResult[]> {
  if (messages.length === 0) {
    await tx.lockAccount(accountId);
    await mailboxOfAccount(tx.db, accountId, mailboxId);
    return [];
  }
  // Something will be stored (or the transaction rolls back): lock and take the MODSEQ at once.
  const modseq = await tx.modseq(accountId);
  const mailbox = await mailboxOfAccount(tx.db, accountId, mailboxId);
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
  const bytes = prepared.reduce((sum, p) => sum + p.fields.size, 0);
  // MULTIAPPEND (RFC 3502) is all or nothing, quota included.
  await assertRoom(tx, accountId, bytes, prepared.length);
  for (const { message } of prepared) await tx.attachBlob(message.blob, message.index);
  const uids = await insertRows(
    tx,
    accountId,
    mailbox.id,
    modseq,
    prepared.map((p) => p.fields),
    'count',
  );
  return uids.map((uid) => ({ uidValidity: mailbox.uidvalidity, uid, modseq }));
}

/** One blob, many recipients: N rows, one blob. Per-target refusals do not fail the others. */
export async function deliver(
  tx: PgTx,
  blob: StagedBlob,
  index: MessageIndex,
  targets: readonly DeliveryTarget[],
  internalDate: number,
): Promise<DeliveryOutcome[]> {
  const accounts = await tx.lockAccounts(targets.map((target) => target.accountId));
  const outcomes: DeliveryOutcome[] = [];
  for (const target of targets) outcomes.push(await deliverOne(tx, blob, index, target, internalDate, accounts.has(target.accountId)));
  // Nobody took it: the staged blob is not attached, and the store discards it after the commit.
  return outcomes;
}

async function deliverOne(
  tx: PgTx,
  blob: StagedBlob,
  index: MessageIndex,
  target: DeliveryTarget,
  internalDate: number,
  accountExists: boolean,
): Promise<DeliveryOutcome> {
  if (!accountExists) return { ok: false, reason: 'noAccount' };
  const named = target.mailboxName === undefined ? undefined : await findMailboxRow(tx.db, target.accountId, target.mailboxName);
  const mailbox = named ?? (await findMailboxRow(tx.db, target.accountId, INBOX));
  if (!mailbox) return { ok: false, reason: 'noAccount' };
  const fields: RowFields = {
    blobHash: blob.hash,
    size: (target.prefix?.length ?? 0) + blob.size,
    prefix: target.prefix ?? null,
    flags: checkFlags(target.flags ?? 0),
    keywords: checkKeywords(target.keywords ?? []),
    internalDate,
  };
  if (!(await hasRoom(tx, target.accountId, fields.size, 1))) return { ok: false, reason: 'overQuota' };
  await tx.attachBlob(blob, index);
  const [uid] = await insertRows(tx, target.accountId, mailbox.id, await tx.modseq(target.accountId), [fields], 'count');
  return { ok: true, mailboxId: mailbox.id, uid: uid ?? 0 };
}

/**
 * STORE (RFC 3501 6.4.6) with CONDSTORE (RFC 7162 3.1.3): a message whose MODSEQ is above
 * UNCHANGEDSINCE is left alone and reported; one that passes gets a new MODSEQ even when its flags
 * end up equal ("If the operation is successful, the server MUST update the mod-sequence"). Without
 * UNCHANGEDSINCE only messages whose flags really change get a new MODSEQ.
 */
export async function updateFlags(tx: PgTx, accountId: Id, mailboxId: Id, uids: readonly number[], update: FlagUpdate): Promise<FlagResult> {
  const flags = checkFlags(update.flags);
  const keywords = checkKeywords(update.keywords);
  const wanted = checkUids(uids);
  await tx.lockAccount(accountId);
  await mailboxOfAccount(tx.db, accountId, mailboxId);
  const result: FlagResult = { changed: [], modifiedSince: [] };
  const updates: Array<{ id: Id; flags: number; keywords: string[] }> = [];
  let unseenDelta = 0;
  let modseq = 0;
  for (const message of await rowsByUid(tx.db, mailboxId, wanted)) {
    if (update.unchangedSince !== undefined && message.modseq > update.unchangedSince) {
      result.modifiedSince.push(message.uid);
      continue;
    }
    const current = message.keywords;
    const nextFlags = applyFlags(message.flags, update.op, flags);
    const proposed = applyKeywords(current, update.op, keywords);
    const nextKeywords = sameKeywords(current, proposed) ? current : proposed;
    if (nextFlags === message.flags && nextKeywords === current && update.unchangedSince === undefined) continue;
    modseq = await tx.modseq(accountId);
    updates.push({ id: message.id, flags: nextFlags, keywords: nextKeywords });
    unseenDelta += isUnseen(nextFlags) - isUnseen(message.flags);
    tx.log(accountId, modseq, 'flags', mailboxId, message.uid, { flags: nextFlags, keywords: nextKeywords });
    result.changed.push({ uid: message.uid, modseq, flags: nextFlags, keywords: nextKeywords });
  }
  if (updates.length === 0) return result;
  await tx.run(
    `UPDATE messages m SET flags = u.flags, keywords = ${KEYWORDS_FROM_JSON('u.keywords')}, modseq = $4
       FROM unnest($1::bigint[], $2::integer[], $3::text[]) AS u(id, flags, keywords) WHERE m.id = u.id`,
    [updates.map((u) => u.id), updates.map((u) => u.flags), updates.map((u) => JSON.stringify(u.keywords)), modseq],
  );
  await tx.run('UPDATE mailboxes SET unseen_count = unseen_count + $1, highest_modseq = $2 WHERE id = $3', [unseenDelta, modseq, mailboxId]);
  return result;
}

export async function expunge(tx: PgTx, accountId: Id, mailboxId: Id, uids: readonly number[]): Promise<{ uids: number[]; modseq: number }> {
  const wanted = checkUids(uids);
  await tx.lockAccount(accountId);
  await mailboxOfAccount(tx.db, accountId, mailboxId);
  const found = await rowsByUid(tx.db, mailboxId, wanted);
  if (found.length === 0) return { uids: [], modseq: await currentModseqOf(tx, accountId) };
  const modseq = await tx.modseq(accountId);
  await removeRows(tx, accountId, mailboxId, found, modseq, 'count');
  return { uids: found.map((m) => m.uid), modseq };
}

export async function copy(tx: PgTx, accountId: Id, fromMailboxId: Id, uids: readonly number[], toMailboxId: Id): Promise<CopyResult> {
  const wanted = checkUids(uids);
  await tx.lockAccount(accountId);
  await mailboxOfAccount(tx.db, accountId, fromMailboxId);
  const target = await mailboxOfAccount(tx.db, accountId, toMailboxId);
  const found = await rowsByUid(tx.db, fromMailboxId, wanted);
  if (found.length === 0) return { uidValidity: target.uidvalidity, mapping: [] };
  const bytes = found.reduce((sum, m) => sum + m.size, 0);
  await assertRoom(tx, accountId, bytes, found.length);
  const mapping = await copyRows(tx, accountId, found, target, await tx.modseq(accountId), 'count');
  return { uidValidity: target.uidvalidity, mapping };
}

/** RFC 6851: copy and expunge in one transaction; usage does not change (same account). */
export async function move(
  tx: PgTx,
  accountId: Id,
  fromMailboxId: Id,
  uids: readonly number[],
  toMailboxId: Id,
): Promise<CopyResult & { modseq: number }> {
  if (fromMailboxId === toMailboxId) throw new StoreError('cannot', 'source and destination are the same mailbox');
  const wanted = checkUids(uids);
  await tx.lockAccount(accountId);
  await mailboxOfAccount(tx.db, accountId, fromMailboxId);
  const target = await mailboxOfAccount(tx.db, accountId, toMailboxId);
  const found = await rowsByUid(tx.db, fromMailboxId, wanted);
  if (found.length === 0) return { uidValidity: target.uidvalidity, mapping: [], modseq: await currentModseqOf(tx, accountId) };
  const modseq = await tx.modseq(accountId);
  const mapping = await moveRows(tx, accountId, fromMailboxId, found, target, modseq);
  return { uidValidity: target.uidvalidity, mapping, modseq };
}

async function moveRows(
  tx: PgTx,
  accountId: Id,
  fromMailboxId: Id,
  moved: readonly MessageRow[],
  target: MailboxRow,
  modseq: number,
): Promise<Array<[number, number]>> {
  // Copy first so the blobs stay referenced while the source rows go; usage does not change.
  const mapping = await copyRows(tx, accountId, moved, target, modseq, 'unchanged');
  await removeRows(tx, accountId, fromMailboxId, moved, modseq, 'unchanged');
  return mapping;
}

/** RENAME INBOX (RFC 3501 6.3.5): every INBOX message moves to the new mailbox, with new UIDs. */
export async function moveAllMessages(tx: PgTx, accountId: Id, source: MailboxRow, target: MailboxRow, modseq: number): Promise<void> {
  const moved = await tx.rows<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 ORDER BY uid`, [source.id]);
  await moveRows(tx, accountId, source.id, moved, target, modseq);
}

/** Mailbox or account deletion: rows go without per-message change entries; usage follows. */
export async function dropMessagesOfMailboxes(tx: PgTx, mailboxIds: readonly Id[]): Promise<void> {
  if (mailboxIds.length === 0) return;
  const owners = await tx.rows<{ account_id: number; messages: number; bytes: number }>(
    `SELECT account_id, sum(message_count) AS messages, sum(total_size) AS bytes FROM mailboxes
      WHERE id = ANY($1::bigint[]) GROUP BY account_id`,
    [[...mailboxIds]],
  );
  const hashes = await tx.rows<{ blob_hash: string }>(
    'WITH d AS (DELETE FROM messages WHERE mailbox_id = ANY($1::bigint[]) RETURNING blob_hash) SELECT DISTINCT blob_hash FROM d',
    [[...mailboxIds]],
  );
  for (const owner of owners) await addUsage(tx, owner.account_id, -owner.bytes, -owner.messages);
  for (const { blob_hash } of hashes) tx.dropBlobReference(blob_hash);
}

export async function currentModseqOf(tx: PgTx, accountId: Id): Promise<number> {
  return tx.touched.get(accountId) ?? (await tx.value<number>('SELECT modseq FROM accounts WHERE id = $1', [accountId])) ?? 0;
}
