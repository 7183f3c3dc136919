/**
 * The embedded MailStore: SQLite (better-sqlite3, WAL, synchronous=FULL) plus blob files.
 * See docs/storage.md for the layout on disk, the durability order and the group commit.
 *
 * Writes go through the Committer (one transaction per batch, wake-ups after the commit); reads run
 * directly on the same connection with cached prepared statements, and are retried from a timer
 * if the database is momentarily locked.
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { ChangeBus } from '../../events/types.js';
import type { MessageIndex } from '../../mime/types.js';
import type {
  AttemptRecord,
  AttemptWrite,
  CombinedDeliveryResult,
  LocalCopy,
  NewQueueEntry,
  OutboundQueueStore,
  QueueEntry,
  QueueSummary,
} from '../../queue/types.js';
import { FileBlobStore } from '../blobs/files.js';
import type { BlobFs, DurabilityTrace } from '../blobs/files.js';
import { fsStoreError } from '../blobs/fs-errors.js';
import type {
  Account,
  AdminToken,
  Alias,
  AppendResult,
  BlobWriter,
  ChangeBatch,
  ChangeLogPruning,
  CopyResult,
  DeliveryOutcome,
  DeliveryTarget,
  Domain,
  FlagResult,
  FlagUpdate,
  Id,
  MailStore,
  Mailbox,
  MessageMeta,
  NewMessage,
  Pop3ExpiredMessages,
  Pop3RetentionSetting,
  Pop3RetentionTarget,
  RecoveryReport,
  SpecialUse,
  StagedBlob,
  StoredMessage,
} from '../types.js';
import { DEFAULT_CHANGE_RETENTION_MS, StoreError } from '../types.js';
import { ChangePruner } from '../change-pruner.js';
import { Committer } from './committer.js';
import type { CommitterStats } from './committer.js';
import { Sql, isBusy, storeErrorOf } from './db.js';
import * as directory from './directory.js';
import { BlobSweeper } from './gc.js';
import { SqliteChecker } from './fsck.js';
import type { CheckableStore, StoreChecker } from '../checker.js';
import * as mailboxes from './mailboxes.js';
import * as messages from './messages.js';
import * as queue from './queue.js';
import * as pop3 from './pop3.js';
import * as tokens from './tokens.js';
import * as dkim from './dkim.js';
import type { DkimKeyRecord, DkimKeyStore, NewDkimKey } from '../../queue/dkim-keys.js';
import { toAccount, toChange, toMailbox } from './rows.js';
import type { ChangeRow } from './rows.js';
import { pruneChangesBatch, prunedUpTo } from './prune.js';
import { migrate } from './schema.js';
import type { Tx } from './tx.js';
import { ChangeWatcher } from './watcher.js';

export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SqliteStoreOptions {
  dataDir: string;
  bus: ChangeBus;
  logger?: StoreLogger;
  /** How long a write waits for a database locked by another process before StoreError('busy'); default 10 s. */
  busyRetryMs?: number;
  /** Clock in milliseconds (UIDVALIDITY, internal dates, timestamps); tests move it. */
  now?: () => number;
  /** How often to look for commits of other processes; default 250 ms; 0 disables the timer. */
  pollIntervalMs?: number;
  /** A trashed or orphan blob younger than this is kept; default 10 min. */
  blobGraceMs?: number;
  /** Period of the background blob sweep; default 60 s; 0 disables the timer. */
  sweepIntervalMs?: number;
  /** Operations per group commit, at most; default 500. */
  maxBatch?: number;
  /** Change-log rows younger than this are kept; default 30 days (docs/storage.md). */
  changeRetentionMs?: number;
  /** Period of the background change-log pruning; default 1 h; 0 disables the timer. */
  changePruneIntervalMs?: number;
  /** Observer of the durability steps: blob fsync, rename, directory fsync, commit (tests). */
  trace?: DurabilityTrace;
  /** The blob write path's file-system calls (fault-injection tests); default: node:fs. */
  blobFs?: BlobFs;
}

export interface SqliteStoreStats extends CommitterStats {
  /** Wake-ups published on the bus (own commits and other processes' commits). */
  wakeUps: number;
}

const DEFAULTS = {
  busyRetryMs: 10_000,
  pollIntervalMs: 250,
  blobGraceMs: 10 * 60_000,
  sweepIntervalMs: 60_000,
  changePruneIntervalMs: 3600_000,
};
const DEFAULT_CHANGE_LIMIT = 10_000;
const MAX_UID = 0xffffffff;
/** Orphan hashes remembered for a retry of their trash rows, at most. */
const MAX_UNTRASHED_ORPHANS = 10_000;

const silentLogger: StoreLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export async function openSqliteStore(opts: SqliteStoreOptions): Promise<SqliteMailStore> {
  const busyRetryMs = opts.busyRetryMs ?? DEFAULTS.busyRetryMs;
  try {
    await mkdir(opts.dataDir, { recursive: true });
  } catch (err) {
    throw fsStoreError(err, `creating ${opts.dataDir}`);
  }
  const blobs = new FileBlobStore({ dataDir: opts.dataDir, trace: opts.trace, fs: opts.blobFs });
  await blobs.init();
  let db: Database.Database;
  try {
    db = new Database(join(opts.dataDir, 'mailhaven.db'));
  } catch (err) {
    throw storeErrorOf(err);
  }
  try {
    // Another process may be migrating or writing right now: wait for it without blocking.
    await retryWhileBusy(busyRetryMs, () => {
      db.pragma('busy_timeout = 0');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db);
    });
  } catch (err) {
    db.close();
    await blobs.close();
    throw storeErrorOf(err);
  }
  return new SqliteMailStore(db, blobs, opts, busyRetryMs);
}

async function retryWhileBusy<T>(deadlineMs: number, fn: () => T): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let delay = 1;
  for (;;) {
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err) || Date.now() >= deadline) throw storeErrorOf(err);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}

export class SqliteMailStore implements MailStore, ChangeLogPruning, OutboundQueueStore, DkimKeyStore, CheckableStore {
  private readonly sql: Sql;
  private readonly committer: Committer;
  private readonly pruner: ChangePruner;
  private readonly watcher: ChangeWatcher;
  private readonly sweeper: BlobSweeper;
  private readonly bus: ChangeBus;
  private readonly log: StoreLogger;
  private readonly now: () => number;
  /** Highest MODSEQ published per account, so no wake-up goes out twice. */
  private readonly published = new Map<Id, number>();
  private wakeUps = 0;
  private closed = false;
  /** Orphan blobs whose trash rows could not be written yet (see trashIfUnreferenced). */
  private readonly untrashedOrphans = new Set<string>();
  private readonly blobGraceMs: number;

  constructor(
    private readonly db: Database.Database,
    private readonly blobs: FileBlobStore,
    opts: SqliteStoreOptions,
    private readonly busyRetryMs: number,
  ) {
    this.sql = new Sql(db);
    this.bus = opts.bus;
    this.log = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.blobGraceMs = opts.blobGraceMs ?? DEFAULTS.blobGraceMs;
    this.committer = new Committer({
      sql: this.sql,
      blobs,
      busyRetryMs,
      now: this.now,
      maxBatch: opts.maxBatch,
      onCommit: () => opts.trace?.('committed', ''),
      onCommitted: (txs) => this.afterCommit(txs),
      onOrphanedBlobs: (hashes) => this.trashIfUnreferenced(hashes),
    });
    this.watcher = new ChangeWatcher(
      this.sql,
      opts.pollIntervalMs ?? DEFAULTS.pollIntervalMs,
      (accountId, modseq) => this.publish(accountId, modseq),
      (err) => this.log.warn({ err }, 'change watcher failed'),
    );
    this.sweeper = new BlobSweeper(
      this.sql,
      this.committer,
      blobs,
      this.blobGraceMs,
      opts.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs,
      (err) => this.log.warn({ err }, 'blob sweep failed'),
    );
    this.pruner = new ChangePruner({
      intervalMs: opts.changePruneIntervalMs ?? DEFAULTS.changePruneIntervalMs,
      retentionMs: opts.changeRetentionMs ?? DEFAULT_CHANGE_RETENTION_MS,
      now: this.now,
      pruneBatch: (cutoffMs, limit) => this.write((tx) => pruneChangesBatch(tx, cutoffMs, limit)),
      onError: (err) => this.log.warn({ err }, 'change-log pruning failed'),
      onPruned: (rows) => this.log.info({ rows }, 'change log pruned'),
    });
    this.watcher.start();
    this.sweeper.start();
    this.pruner.start();
  }

  /** Counters for tests and metrics: commits, operations, busy retries, wake-ups. */
  stats(): SqliteStoreStats {
    return { ...this.committer.stats, wakeUps: this.wakeUps };
  }

  /** Looks for other processes' commits now instead of waiting for the timer; returns accounts woken. */
  pollForeignChanges(): Promise<number> {
    return this.read(() => this.watcher.poll());
  }

  /** Runs the blob sweep now; returns how many blob files were deleted. */
  sweepBlobs(): Promise<number> {
    this.assertOpen();
    return this.sweeper.sweep();
  }

  /** `mailhaven fsck` (src/fsck): consistent reads of counters and blobs, and safe repairs. */
  checker(): StoreChecker {
    this.assertOpen();
    return new SqliteChecker({ sql: this.sql, blobs: this.blobs, blobGraceMs: this.blobGraceMs, write: (run) => this.write(run) });
  }

  /** Where blob files live (tests and the backup tool need it; protocols never do). */
  get blobDirectory(): string {
    return this.blobs.blobDir;
  }

  // ---- Directory -------------------------------------------------------------------------------

  addDomain(name: string): Promise<Domain> {
    return this.write((tx) => directory.addDomain(tx, name));
  }

  deleteDomain(name: string): Promise<void> {
    return this.write((tx) => directory.deleteDomain(tx, name));
  }

  listDomains(): Promise<Domain[]> {
    return this.read(() => directory.listDomains(this.sql));
  }

  getDomain(name: string): Promise<Domain | null> {
    return this.read(() => directory.findDomain(this.sql, name));
  }

  addAccount(address: string, passwordHash: string, quotaBytes: number | null): Promise<Account> {
    return this.write((tx) => directory.addAccount(tx, address, passwordHash, quotaBytes));
  }

  async deleteAccount(address: string): Promise<void> {
    await this.write((tx) => directory.deleteAccount(tx, address));
  }

  getAccount(address: string): Promise<Account | null> {
    return this.read(() => {
      const row = directory.findAccountRow(this.sql, address);
      return row ? toAccount(row) : null;
    });
  }

  getAccountById(id: Id): Promise<Account | null> {
    return this.read(() => {
      const row = directory.findAccountRowById(this.sql, id);
      return row ? toAccount(row) : null;
    });
  }

  listAccounts(): Promise<Account[]> {
    return this.read(() => directory.listAccounts(this.sql));
  }

  setPassword(address: string, passwordHash: string): Promise<void> {
    return this.write((tx) => directory.updateAccount(tx, address, 'password_hash = ?', passwordHash));
  }

  /** `quotaMessages` is left unchanged when omitted. */
  setQuota(address: string, quotaBytes: number | null, quotaMessages?: number | null): Promise<void> {
    return this.write((tx) => directory.setQuota(tx, address, quotaBytes, quotaMessages));
  }

  setSecret(address: string, encryptedSecret: string | null): Promise<void> {
    return this.write((tx) => directory.updateAccount(tx, address, 'secret_enc = ?', encryptedSecret));
  }

  getSecret(accountId: Id): Promise<string | null> {
    return this.read(() => directory.findAccountRowById(this.sql, accountId)?.secret_enc ?? null);
  }

  addAlias(address: string, targets: string[]): Promise<void> {
    return this.write((tx) => directory.addAlias(tx, address, targets));
  }

  deleteAlias(address: string): Promise<void> {
    return this.write((tx) => directory.deleteAlias(tx, address));
  }

  listAliases(): Promise<Alias[]> {
    return this.read(() => directory.listAliases(this.sql));
  }

  getAlias(address: string): Promise<Alias | null> {
    return this.read(() => directory.findAlias(this.sql, address));
  }

  // ---- Mailboxes -------------------------------------------------------------------------------

  listMailboxes(accountId: Id): Promise<Mailbox[]> {
    return this.read(() => mailboxes.listMailboxes(this.sql, accountId));
  }

  getMailbox(accountId: Id, name: string): Promise<Mailbox | null> {
    return this.read(() => {
      const row = mailboxes.findMailboxRow(this.sql, accountId, name);
      return row ? toMailbox(row) : null;
    });
  }

  getMailboxById(mailboxId: Id): Promise<Mailbox | null> {
    return this.read(() => {
      const row = mailboxes.findMailboxRowById(this.sql, mailboxId);
      return row ? toMailbox(row) : null;
    });
  }

  createMailbox(accountId: Id, name: string, specialUse: SpecialUse | null = null): Promise<Mailbox> {
    return this.write((tx) => mailboxes.createMailbox(tx, accountId, name, specialUse));
  }

  deleteMailbox(accountId: Id, name: string): Promise<void> {
    return this.write((tx) => mailboxes.deleteMailbox(tx, accountId, name));
  }

  renameMailbox(accountId: Id, oldName: string, newName: string): Promise<void> {
    return this.write((tx) => mailboxes.renameMailbox(tx, accountId, oldName, newName));
  }

  listSubscriptions(accountId: Id): Promise<string[]> {
    return this.read(() => mailboxes.listSubscriptions(this.sql, accountId));
  }

  subscribe(accountId: Id, name: string): Promise<void> {
    return this.write((tx) => mailboxes.subscribe(tx, accountId, name));
  }

  unsubscribe(accountId: Id, name: string): Promise<void> {
    return this.write((tx) => mailboxes.unsubscribe(tx, accountId, name));
  }

  // ---- Messages --------------------------------------------------------------------------------

  createBlobWriter(): BlobWriter {
    this.assertOpen();
    return this.blobs.createWriter();
  }

  append(accountId: Id, mailboxId: Id, newMessages: NewMessage[]): Promise<AppendResult[]> {
    const blobs = uniqueBlobs(newMessages.map((message) => message.blob));
    return this.write((tx) => messages.append(tx, accountId, mailboxId, newMessages), blobs);
  }

  deliver(blob: StagedBlob, index: MessageIndex, targets: DeliveryTarget[], internalDate?: Date): Promise<DeliveryOutcome[]> {
    return this.write((tx) => messages.deliver(tx, blob, index, targets, internalDate?.getTime() ?? tx.now), [blob]);
  }

  // ---- OutboundQueueStore (src/queue/types.ts) ----------------------------------------------

  deliverAndEnqueue(blob: StagedBlob, index: MessageIndex, copies: LocalCopy[], entry: NewQueueEntry, internalDate?: Date): Promise<CombinedDeliveryResult> {
    return this.write((tx) => queue.deliverAndEnqueue(tx, blob, index, copies, entry, internalDate?.getTime() ?? tx.now), [blob]);
  }

  listQueue(limit = 1000): Promise<QueueEntry[]> {
    return this.read(() => queue.listQueue(this.sql, Math.max(1, Math.floor(limit))));
  }

  removeQueueEntry(id: Id): Promise<void> {
    return this.write((tx) => queue.removeQueueEntry(tx, id));
  }

  getQueueEntry(id: Id): Promise<QueueEntry | null> {
    return this.read(() => queue.getQueueEntry(this.sql, id));
  }

  claimDue(owner: string, now: Date, leaseMs: number, limit: number): Promise<QueueEntry[]> {
    return this.write((tx) => queue.claimDue(tx, owner, now.getTime(), Math.max(0, leaseMs), Math.max(1, Math.floor(limit))));
  }

  recordAttempt(id: Id, owner: string, record: AttemptRecord): Promise<AttemptWrite> {
    return this.write((tx) => queue.recordAttempt(tx, id, owner, record));
  }

  renewLease(id: Id, owner: string, until: Date): Promise<boolean> {
    return this.write((tx) => queue.renewLease(tx, id, owner, until.getTime()));
  }

  retryQueueEntries(target: Id | 'all', now: Date): Promise<number> {
    return this.write((tx) => queue.retryQueueEntries(tx, target, now.getTime()));
  }

  openQueueMessage(entry: Pick<QueueEntry, 'blobHash' | 'size'>): Promise<Readable> {
    this.assertOpen();
    return this.blobs.open(entry.blobHash, 0, entry.size);
  }

  queueSummary(): Promise<QueueSummary> {
    return this.read(() => queue.queueSummary(this.sql));
  }

  listMessages(mailboxId: Id, uidFrom = 1, uidTo = MAX_UID): Promise<MessageMeta[]> {
    return this.read(() => messages.listMessages(this.sql, mailboxId, uidFrom, uidTo));
  }

  getMessages(mailboxId: Id, uids: number[]): Promise<StoredMessage[]> {
    return this.read(() => messages.getMessages(this.sql, mailboxId, uids));
  }

  async openMessage(message: MessageMeta, start = 0, end = message.size): Promise<Readable> {
    const row = await this.read(() => messages.messageBytesOf(this.sql, message.id));
    if (!row) throw new StoreError('notFound', `message ${message.id} was expunged`);
    const prefix = row.prefix ?? Buffer.alloc(0);
    const to = Math.min(Math.max(end, 0), row.size);
    const from = Math.min(Math.max(start, 0), to);
    const head = prefix.subarray(Math.min(from, prefix.length), Math.min(to, prefix.length));
    if (to <= prefix.length) return Readable.from(head.length > 0 ? [head] : [], { objectMode: false });
    const body = await this.blobs.open(row.blob_hash, Math.max(from - prefix.length, 0), to - prefix.length);
    if (head.length === 0) return body;
    const out = new PassThrough();
    out.write(head);
    // pipeline destroys the file stream if the reader goes away, and passes read errors on.
    pipeline(body, out, () => undefined);
    return out;
  }

  async readMessage(message: MessageMeta, start = 0, end = message.size): Promise<Buffer> {
    const row = await this.read(() => messages.messageBytesOf(this.sql, message.id));
    if (!row) throw new StoreError('notFound', `message ${message.id} was expunged`);
    const prefix = row.prefix ?? Buffer.alloc(0);
    const to = Math.min(Math.max(end, 0), row.size);
    const from = Math.min(Math.max(start, 0), to);
    const head = prefix.subarray(Math.min(from, prefix.length), Math.min(to, prefix.length));
    if (to <= prefix.length) return Buffer.from(head);
    const body = await this.blobs.read(row.blob_hash, Math.max(from - prefix.length, 0), to - prefix.length);
    return head.length === 0 ? body : Buffer.concat([head, body]);
  }

  updateFlags(accountId: Id, mailboxId: Id, uids: number[], update: FlagUpdate): Promise<FlagResult> {
    return this.write((tx) => messages.updateFlags(tx, accountId, mailboxId, uids, update));
  }

  expunge(accountId: Id, mailboxId: Id, uids: number[]): Promise<{ uids: number[]; modseq: number }> {
    return this.write((tx) => messages.expunge(tx, accountId, mailboxId, uids));
  }

  copy(accountId: Id, fromMailboxId: Id, uids: number[], toMailboxId: Id): Promise<CopyResult> {
    return this.write((tx) => messages.copy(tx, accountId, fromMailboxId, uids, toMailboxId));
  }

  move(accountId: Id, fromMailboxId: Id, uids: number[], toMailboxId: Id): Promise<CopyResult & { modseq: number }> {
    return this.write((tx) => messages.move(tx, accountId, fromMailboxId, uids, toMailboxId));
  }

  // ---- ChangeLog -------------------------------------------------------------------------------

  changesSince(accountId: Id, since: number, limit = DEFAULT_CHANGE_LIMIT): Promise<ChangeBatch> {
    return this.read(() => this.readChanges(accountId, since, Math.max(1, Math.floor(limit))));
  }

  pruneChanges(olderThan: Date, batchSize?: number): Promise<number> {
    this.assertOpen();
    return this.pruner.prune(olderThan.getTime(), batchSize);
  }

  currentModseq(accountId: Id): Promise<number> {
    return this.read(
      () =>
        this.sql.value<number>('SELECT modseq FROM accounts WHERE id = ?', accountId) ??
        this.sql.value<number>('SELECT max(modseq) FROM changes WHERE account_id = ?', accountId) ??
        0,
    );
  }

  // ---- POP3 retention --------------------------------------------------------------------------

  setPop3Retention(target: Pop3RetentionTarget, setting: Pop3RetentionSetting): Promise<void> {
    return this.write((tx) => pop3.setPop3Retention(tx, target, setting));
  }

  getPop3Retention(target: Pop3RetentionTarget): Promise<Pop3RetentionSetting> {
    return this.read(() => pop3.getPop3Retention(this.sql, target));
  }

  pop3RetentionDays(accountId: Id): Promise<number | null> {
    return this.read(() => pop3.pop3RetentionDays(this.sql, accountId));
  }

  shortestPop3Retention(): Promise<number | null> {
    return this.read(() => pop3.shortestPop3Retention(this.sql));
  }

  recordPop3Downloads(mailboxId: Id, uids: number[], at: Date): Promise<void> {
    if (uids.length === 0) return Promise.resolve();
    return this.write((tx) => pop3.recordPop3Downloads(tx, mailboxId, uids, at.getTime()));
  }

  listPop3Expired(now: Date, options: { limit?: number; afterAccountId?: Id } = {}): Promise<Pop3ExpiredMessages[]> {
    return this.read(() => pop3.listPop3Expired(this.sql, now.getTime(), options.limit ?? 1000, options.afterAccountId ?? 0));
  }

  // ---- admin API tokens ------------------------------------------------------------------------

  addAdminToken(name: string, hash: string): Promise<AdminToken> {
    return this.write((tx) => tokens.addAdminToken(tx, name, hash));
  }

  listAdminTokens(): Promise<AdminToken[]> {
    return this.read(() => tokens.listAdminTokens(this.sql));
  }

  findAdminTokenByHash(hash: string): Promise<AdminToken | null> {
    return this.read(() => tokens.findAdminTokenByHash(this.sql, hash));
  }

  deleteAdminToken(name: string): Promise<void> {
    return this.write((tx) => tokens.deleteAdminToken(tx, name));
  }

  touchAdminToken(id: Id, at: Date): Promise<void> {
    return this.write((tx) => tokens.touchAdminToken(tx, id, at.getTime()));
  }

  // ---- DkimKeyStore (src/queue/dkim-keys.ts) ---------------------------------------------------

  addDkimKey(key: NewDkimKey): Promise<DkimKeyRecord> {
    return this.write((tx) => dkim.addDkimKey(tx, key));
  }

  listDkimKeys(domain?: string): Promise<DkimKeyRecord[]> {
    return this.read(() => dkim.listDkimKeys(this.sql, domain));
  }

  getActiveDkimKey(domain: string): Promise<DkimKeyRecord | null> {
    return this.read(() => dkim.getActiveDkimKey(this.sql, domain));
  }

  activateDkimKey(domain: string, selector: string): Promise<void> {
    return this.write((tx) => dkim.activateDkimKey(tx, domain, selector));
  }

  deleteDkimKey(domain: string, selector: string): Promise<void> {
    return this.write((tx) => dkim.deleteDkimKey(tx, domain, selector));
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  async recover(): Promise<RecoveryReport> {
    this.assertOpen();
    const tempFilesRemoved = await this.blobs.removeAbandonedTemp();
    let orphanBlobsRemoved = await this.sweeper.sweep();
    for await (const hash of this.blobs.listHashes()) {
      if (await this.sweeper.removeOrphan(hash)) orphanBlobsRemoved++;
    }
    this.log.info({ tempFilesRemoved, orphanBlobsRemoved }, 'store recovery done');
    return { tempFilesRemoved, orphanBlobsRemoved };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pruner.stop();
    await this.sweeper.stop();
    await this.committer.close();
    this.watcher.stop();
    await this.blobs.close();
    this.db.close();
  }

  // ---- internals -------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new StoreError('cannot', 'the store is closed');
  }

  private write<T>(run: (tx: Tx) => T, blobs: readonly StagedBlob[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('cannot', 'the store is closed'));
    return this.committer.submit(blobs, run);
  }

  /** Runs a synchronous read; a momentarily locked database is retried from a timer. */
  private async read<T>(fn: () => T): Promise<T> {
    this.assertOpen();
    return retryWhileBusy(this.busyRetryMs, fn);
  }

  private readChanges(accountId: Id, since: number, limit: number): ChangeBatch {
    const select = 'SELECT id, account_id, modseq, kind, mailbox_id, uid, data FROM changes WHERE account_id = ? AND modseq > ?';
    let rows = this.sql.all<ChangeRow>(`${select} ORDER BY modseq, id LIMIT ?`, accountId, since, limit + 1);
    if (rows.length > limit) {
      // Never split one MODSEQ across batches: the caller resumes from the batch's MODSEQ.
      const last = rows[limit - 1]?.modseq ?? since;
      const cut = rows.slice(0, limit).filter((row) => row.modseq < last || rows[limit]?.modseq !== last);
      rows = cut.length > 0 ? cut : this.sql.all<ChangeRow>(`${select} AND modseq <= ? ORDER BY modseq, id`, accountId, since, last);
    }
    const batch: ChangeBatch = { modseq: rows[rows.length - 1]?.modseq ?? since, changes: rows.map(toChange) };
    // Read after the rows: a prune committed before them shows in the mark (docs/storage.md).
    const pruned = prunedUpTo(this.sql, accountId);
    if (since < pruned) {
      batch.truncated = true;
      batch.prunedUpTo = pruned;
    }
    return batch;
  }

  /** Runs right after a commit, before the callers' continuations: wake-ups, GC, watcher cursor. */
  private afterCommit(txs: readonly Tx[]): void {
    const trashed: string[] = [];
    const highest = new Map<Id, number>();
    for (const tx of txs) {
      for (const [accountId, modseq] of tx.touched) highest.set(accountId, Math.max(highest.get(accountId) ?? 0, modseq));
      trashed.push(...tx.trashed);
    }
    try {
      this.watcher.noteOwnCommit();
    } catch (err) {
      this.log.warn({ err }, 'change watcher cursor not advanced');
    }
    for (const [accountId, modseq] of highest) this.publish(accountId, modseq);
    if (trashed.length > 0) this.sweeper.schedule(trashed);
    if (this.untrashedOrphans.size > 0 && !this.closed) this.trashIfUnreferenced([]);
  }

  private publish(accountId: Id, modseq: number): void {
    if (modseq <= (this.published.get(accountId) ?? 0)) return;
    this.published.set(accountId, modseq);
    this.wakeUps++;
    try {
      this.bus.publish({ accountId, modseq });
    } catch (err) {
      this.log.error({ err, accountId }, 'publishing a wake-up failed');
    }
  }

  /**
   * Blobs promoted for operations that then failed: queue them for deletion unless referenced.
   * When that write fails too (disk full, database busy), the hashes are kept and retried after
   * the next successful commit, so the space comes back without a restart.
   */
  private trashIfUnreferenced(hashes: readonly string[]): void {
    this.keepUntrashed(hashes);
    const batch = [...this.untrashedOrphans];
    this.untrashedOrphans.clear();
    this.committer
      .submit([], (tx) => {
        for (const hash of batch) tx.dropBlobReference(hash);
      })
      .catch((err: unknown) => {
        this.keepUntrashed(batch);
        this.log.warn({ err, orphans: batch.length }, 'could not queue orphan blobs yet; retrying after the next commit');
      });
  }

  /** Bounded: past the cap, recovery at the next start finds the rest (orphan scan). */
  private keepUntrashed(hashes: readonly string[]): void {
    for (const hash of hashes) if (this.untrashedOrphans.size < MAX_UNTRASHED_ORPHANS) this.untrashedOrphans.add(hash);
  }
}

function uniqueBlobs(blobs: readonly StagedBlob[]): StagedBlob[] {
  return [...new Set(blobs)];
}
