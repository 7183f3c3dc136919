/**
 * What one write operation sees inside its PostgreSQL transaction.
 *
 * Concurrency across nodes rests on row locks taken in one fixed order, so transactions queue
 * instead of deadlocking:
 *   1. account rows (`lockAccounts`, ascending id, FOR NO KEY UPDATE): every write that changes
 *      an account's mail takes its row first. That serializes the account's writers, which is
 *      what makes MODSEQs commit in ascending order, quota checks exact, and flag updates free of
 *      lost updates, whichever node they run on;
 *   2. mailbox rows (UIDNEXT, counters) — only ever written under their account's lock;
 *   3. the `last_uidvalidity` meta row (mailbox creation);
 *   4. blob rows (KEY SHARE while attaching).
 *
 * Change-log rows, blob trash and the NOTIFY are buffered and written by `finish()` in three
 * statements just before COMMIT: a 1000-message expunge is not 1000 round trips. NOTIFY inside the
 * transaction is delivered to other nodes only if it commits (and in commit order).
 * @module
 */
import type { MessageIndex } from '../../mime/types.js';
import type { Change, Id, StagedBlob } from '../types.js';
import { StoreError } from '../types.js';
import type { PgBlobStore } from './blobs.js';
import type { Queryable, SqlParam } from './db.js';
import { row, rows, run } from './db.js';
import type { AccountRow } from './rows.js';
import { ACCOUNT_COLUMNS } from './rows.js';

type ChangeKind = Change['kind'];

interface PendingChange {
  accountId: Id;
  modseq: number;
  kind: ChangeKind;
  mailboxId: Id | null;
  uid: number | null;
  data: string | null;
}

export class PgTx {
  /** Account → the MODSEQ this operation assigned (one per account per operation). */
  readonly touched = new Map<Id, number>();
  /** Hashes that went into blob_trash (known after `finish()`). */
  trashed: string[] = [];
  /** Staged blobs this transaction attached (stored or deduplicated). */
  readonly attached = new Set<StagedBlob>();
  /** Account rows locked by this transaction, with their usage as the transaction changed it. */
  private readonly accounts = new Map<Id, AccountRow>();
  /** Highest account id locked so far (the lock order allows only higher ones after it). */
  private highestLocked = 0;
  private readonly changes: PendingChange[] = [];
  private readonly trashCandidates = new Set<string>();

  constructor(
    readonly db: Queryable,
    /** Wall clock of the operation, milliseconds (injectable for tests). */
    readonly now: number,
    /** NOTIFY channel for wake-ups of other nodes, or null for none. */
    private readonly channel: string | null,
    private readonly blobs: PgBlobStore,
  ) {}

  rows<R extends object>(text: string, values: SqlParam[] = []): Promise<R[]> {
    return rows<R>(this.db, text, values);
  }

  row<R extends object>(text: string, values: SqlParam[] = []): Promise<R | undefined> {
    return row<R>(this.db, text, values);
  }

  async value<T>(text: string, values: SqlParam[] = []): Promise<T | undefined> {
    const first = await row<Record<string, unknown>>(this.db, text, values);
    if (!first) return undefined;
    return Object.values(first)[0] as T;
  }

  run(text: string, values: SqlParam[] = []): Promise<number> {
    return run(this.db, text, values);
  }

  /**
   * Locks the accounts' rows (ascending id, the global lock order) and returns the rows found, by
   * id. Rows stay cached while the lock is held: `noteUsage` keeps their usage exact.
   */
  async lockAccounts(ids: Iterable<Id>): Promise<Map<Id, AccountRow>> {
    const wanted = [...new Set(ids)].filter((id) => Number.isSafeInteger(id) && id > 0).sort((a, b) => a - b);
    const missing = wanted.filter((id) => !this.accounts.has(id));
    if (missing.length > 0) {
      // Taking a lower id after a higher one breaks the lock order: a bug, not a runtime state.
      if ((missing[0] ?? 0) < this.highestLocked) throw new Error(`account ${missing[0]} locked after account ${this.highestLocked} in one transaction`);
      const found = await this.rows<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE`, [
        missing,
      ]);
      for (const account of found) this.accounts.set(account.id, account);
      this.highestLocked = Math.max(this.highestLocked, ...missing);
    }
    const locked = new Map<Id, AccountRow>();
    for (const id of wanted) {
      const account = this.accounts.get(id);
      if (account) locked.set(id, account);
    }
    return locked;
  }

  /** Locks one account; StoreError('notFound') when it does not exist. */
  async lockAccount(id: Id): Promise<AccountRow> {
    const account = (await this.lockAccounts([id])).get(id);
    if (!account) throw new StoreError('notFound', `no account ${id}`);
    return account;
  }

  /** The account row as it is now in this transaction (locking it first if needed), or undefined. */
  async lockedAccount(id: Id): Promise<AccountRow | undefined> {
    return this.accounts.get(id) ?? (await this.lockAccounts([id])).get(id);
  }

  /** The transaction changed the account's usage in the database: keep the cached row exact. */
  noteUsage(id: Id, bytes: number, messages: number): void {
    const account = this.accounts.get(id);
    if (!account) return;
    account.used_bytes += bytes;
    account.used_messages += messages;
  }

  /** The transaction changed other columns of the account: read it again when next needed. */
  forgetAccount(id: Id): void {
    this.accounts.delete(id);
  }

  /**
   * The account's next MODSEQ, assigned once per operation: every row the operation touches gets
   * it. The account row stays locked until COMMIT, so MODSEQs commit in ascending order (RFC 7162 3.1).
   * An account not locked yet is locked by this same statement.
   */
  async modseq(accountId: Id): Promise<number> {
    const assigned = this.touched.get(accountId);
    if (assigned !== undefined) return assigned;
    if (!this.accounts.has(accountId) && accountId < this.highestLocked) await this.lockAccount(accountId); // (throws: lock order)
    const account = await this.row<AccountRow>(`UPDATE accounts SET modseq = modseq + 1 WHERE id = $1 RETURNING ${ACCOUNT_COLUMNS}`, [accountId]);
    if (account === undefined) throw new StoreError('notFound', `no account ${accountId}`);
    this.accounts.set(accountId, account);
    this.highestLocked = Math.max(this.highestLocked, accountId);
    this.touched.set(accountId, account.modseq);
    return account.modseq;
  }

  log(accountId: Id, modseq: number, kind: ChangeKind, mailboxId: Id | null, uid: number | null, data: object | null): void {
    this.changes.push({ accountId, modseq, kind, mailboxId, uid, data: data === null ? null : JSON.stringify(data) });
  }

  /** Deletes the account's change log, including what this transaction logged for it so far. */
  async forgetChanges(accountId: Id): Promise<void> {
    for (let i = this.changes.length - 1; i >= 0; i--) if (this.changes[i]?.accountId === accountId) this.changes.splice(i, 1);
    await this.run('DELETE FROM changes WHERE account_id = $1', [accountId]);
  }

  /**
   * A staged blob is about to be referenced: store it (or find the stored copy of the same bytes)
   * in this transaction. A stored copy that was waiting in blob_trash leaves it.
   */
  async attachBlob(blob: StagedBlob, index: MessageIndex): Promise<void> {
    if (this.attached.has(blob)) return;
    if ((await this.blobs.attach(this.db, blob, JSON.stringify(index), this.now)) === 'existing') {
      await this.run('DELETE FROM blob_trash WHERE hash = $1', [blob.hash]);
    }
    this.attached.add(blob);
  }

  /**
   * Rows naming `hash` were deleted: if no message or queue row names it at the end of the
   * transaction, it goes to blob_trash for the sweeper.
   */
  dropBlobReference(hash: string): void {
    this.trashCandidates.add(hash);
  }

  /**
   * Writes what was buffered, in one statement right before COMMIT: the change log (in the order
   * logged: identity values follow ORDER BY ord), blob trash for hashes nothing references any
   * more, and the NOTIFY of every account this transaction gave a MODSEQ.
   */
  async finish(): Promise<void> {
    const parts: string[] = [];
    const values: SqlParam[] = [];
    const param = (value: SqlParam): string => {
      values.push(value);
      return `$${values.length}`;
    };
    if (this.changes.length > 0) {
      const c = this.changes;
      parts.push(`logged AS (
        INSERT INTO changes (account_id, modseq, kind, mailbox_id, uid, data, created_at)
        SELECT a, m, k, mb, u, d, ${param(this.now)}::bigint
          FROM unnest(${param(c.map((x) => x.accountId))}::bigint[], ${param(c.map((x) => x.modseq))}::bigint[], ${param(c.map((x) => x.kind))}::text[],
                      ${param(c.map((x) => x.mailboxId))}::bigint[], ${param(c.map((x) => x.uid))}::bigint[], ${param(c.map((x) => x.data))}::text[])
               WITH ORDINALITY AS t(a, m, k, mb, u, d, ord)
         ORDER BY ord)`);
    }
    if (this.trashCandidates.size > 0) {
      parts.push(`trashed AS (
        INSERT INTO blob_trash (hash, queued_at)
        SELECT h, ${param(this.now)}::bigint FROM unnest(${param([...this.trashCandidates])}::text[]) AS h
         WHERE NOT EXISTS (SELECT 1 FROM messages WHERE blob_hash = h)
           AND NOT EXISTS (SELECT 1 FROM queue WHERE blob_hash = h)
           AND EXISTS (SELECT 1 FROM blobs WHERE hash = h)
        ON CONFLICT (hash) DO UPDATE SET queued_at = EXCLUDED.queued_at
        RETURNING hash)`);
    }
    const notify =
      this.channel !== null && this.touched.size > 0
        ? `(SELECT count(pg_notify(${param(this.channel)}, p)) FROM unnest(${param([...this.touched].map(([accountId, modseq]) => `${accountId}:${modseq}`))}::text[]) AS p)`
        : '0';
    if (parts.length === 0 && notify === '0') return;
    const trashed = this.trashCandidates.size > 0 ? '(SELECT coalesce(array_agg(hash), ARRAY[]::text[]) FROM trashed)' : 'ARRAY[]::text[]';
    const done = await this.row<{ trashed: string[] }>(
      `${parts.length > 0 ? `WITH ${parts.join(',\n')}\n` : ''}SELECT ${trashed} AS trashed, ${notify} AS notified`,
      values,
    );
    this.trashed = done?.trashed ?? [];
  }
}
