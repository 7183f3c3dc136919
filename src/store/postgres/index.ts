/**
 * The multi-node MailStore: PostgreSQL for everything, message bodies included, so nodes share
 * nothing but the database (docs/postgres.md).
 *
 * Each write is one transaction on a pool connection (no group commit: PostgreSQL commits
 * concurrent transactions together by itself). Its wake-ups are NOTIFYed inside the transaction
 * for other nodes and published on this node's bus right after COMMIT, before the caller's
 * promise resolves, so a listener that reads the change log already sees the change. Reads run on
 * the pool directly and see committed data only.
 * @module
 */
import { PassThrough, Readable, pipeline } from 'node:stream';
import type pg from 'pg';
import { PostgresChangeBus, checkChannelName, DEFAULT_CHANNEL } from '../../events/postgres.js';
import type { PostgresChangeBusOptions } from '../../events/postgres.js';
import type { ChangeBus, WakeUp } from '../../events/types.js';
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
import { PgBlobStore } from './blobs.js';
import type { Queryable } from './db.js';
import { checkSchemaName, clientConfig, createPool, row, rows, schemaFromUrl, storeErrorOf, transaction } from './db.js';
import * as directory from './directory.js';
import { PgBlobSweeper } from './gc.js';
import { PgChecker } from './fsck.js';
import type { CheckableStore, StoreChecker } from '../checker.js';
import { PostgresMaildropLocks } from './maildrop-locks.js';
import * as mailboxes from './mailboxes.js';
import * as messages from './messages.js';
import * as pop3 from './pop3.js';
import * as queue from './queue.js';
import * as tokens from './tokens.js';
import * as dkim from './dkim.js';
import type { DkimKeyRecord, DkimKeyStore, NewDkimKey } from '../../queue/dkim-keys.js';
import type { ChangeRow } from './rows.js';
import { toAccount, toChange, toMailbox } from './rows.js';
import { MAX_UID } from '../rules.js';
import { pruneChangesBatch, prunedUpTo } from './prune.js';
import { migrate } from './schema.js';
import { PgTx } from './tx.js';

export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database (any form pg accepts). */
  url: string;
  /**
   * Schema holding the tables, created if missing; default: the URL's own
   * `options=-c search_path=<schema>`, else "public".
   */
  schema?: string;
  /**
   * Where this node's sessions subscribe. A PostgresChangeBus is used as it is; any other bus
   * (the LocalChangeBus of the composition root) receives the wake-ups of every node through a
   * PostgresChangeBus the store creates, listens with and closes.
   */
  bus?: ChangeBus;
  /** Listen for other nodes' commits (a server); false for one-shot admin commands. Default true. */
  listen?: boolean;
  /** Where blobs live; only "database" exists today. */
  blobs?: 'database';
  logger?: StoreLogger;
  /** Clock in milliseconds (UIDVALIDITY, internal dates, timestamps); tests move it. */
  now?: () => number;
  /** Pool connections, at most; default 10. */
  poolSize?: number;
  /** Attempts of a transaction that hit a deadlock or serialization failure; default 5. */
  attempts?: number;
  /** Period of the background blob sweep; default 60 s; 0 disables the timer. */
  sweepIntervalMs?: number;
  /** Change-log rows younger than this are kept; default 30 days (docs/storage.md). */
  changeRetentionMs?: number;
  /** Period of the background change-log pruning; default 1 h; 0 disables the timer. */
  changePruneIntervalMs?: number;
  /** Staged blob data untouched this long belongs to a dead writer (removed at recovery); default 1 h. */
  stagedGraceMs?: number;
  /** Bytes per chunk row of new blobs; default 256 KiB. */
  chunkSize?: number;
  /** Reconnect backoff and heartbeat of the LISTEN connection the store creates. */
  listenTuning?: Pick<PostgresChangeBusOptions, 'reconnectDelayMs' | 'heartbeatMs'>;
}

export interface PostgresStoreStats {
  /** Transactions committed (one per write operation). */
  commits: number;
  /** Write operations that failed (their own error, or the database's). */
  failures: number;
  /** Transactions run again after a deadlock or serialization failure. */
  retries: number;
  /** Wake-ups published after this node's commits. */
  wakeUps: number;
}

const DEFAULT_SCHEMA = 'public';
const DEFAULT_CHANGE_LIMIT = 10_000;
const silentLogger: StoreLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The NOTIFY channel of a schema: separate schemas (test runs, tenants) must not wake each other. */
export function channelForSchema(schema: string): string {
  return schema === DEFAULT_SCHEMA ? DEFAULT_CHANNEL : checkChannelName(`${DEFAULT_CHANNEL}_${schema}`);
}

/**
 * Why a configured `[storage] url` cannot work, or null: it must be a postgres:// (or
 * postgresql://) URL, and a search_path it names must be a usable schema name.
 */
export function postgresUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a URL; expected postgres://user:password@host:5432/database';
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return `scheme ${parsed.protocol} is not postgres:`;
  const options = parsed.searchParams.get('options');
  if (options !== null && /search_path/.test(options) && schemaFromUrl(url) === undefined) {
    return 'the search_path in options must be one schema name (a-z, 0-9, _)';
  }
  const schema = schemaFromUrl(url);
  if (schema !== undefined) {
    try {
      checkSchemaName(schema);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
  return null;
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresMailStore> {
  const schema = checkSchemaName(opts.schema ?? schemaFromUrl(opts.url) ?? DEFAULT_SCHEMA);
  if (opts.blobs !== undefined && opts.blobs !== 'database') throw new StoreError('invalid', `unknown blob store ${String(opts.blobs)}`);
  const log = opts.logger ?? silentLogger;
  const settings = { url: opts.url, schema };
  const onIdleError = (err: Error): void => log.warn({ err }, 'idle database connection failed');
  const pool = createPool(settings, opts.poolSize ?? 10, onIdleError);
  // Blob chunks are committed without waiting for their WAL flush (PgBlobStore.createWriter).
  const stagingPool = createPool(
    { ...settings, applicationName: 'mailhaven-staging', extraOptions: '-c synchronous_commit=off' },
    Math.max(2, Math.ceil((opts.poolSize ?? 10) / 2)),
    onIdleError,
  );
  try {
    await migrate(pool, schema);
  } catch (err) {
    await pool.end().catch(() => undefined);
    await stagingPool.end().catch(() => undefined);
    throw storeErrorOf(err);
  }
  const listen = opts.listen ?? true;
  const ownsBus = !(opts.bus instanceof PostgresChangeBus);
  let store: PostgresMailStore | null = null;
  const bus =
    opts.bus instanceof PostgresChangeBus
      ? opts.bus
      : new PostgresChangeBus({
          ...(listen ? { connection: clientConfig({ ...settings, applicationName: 'mailhaven-listen' }) } : {}),
          ...opts.listenTuning,
          channel: channelForSchema(schema),
          ...(opts.bus ? { local: opts.bus } : {}),
          resync: (remembered) => (store ? store.modseqsSince(remembered) : Promise.resolve([])),
          onError: (err, context) => log.warn({ err }, context),
        });
  store = new PostgresMailStore(pool, stagingPool, bus, ownsBus, { ...opts, schema }, log);
  if (listen && ownsBus && !(await bus.start())) {
    log.warn({ schema }, 'not listening for other nodes yet; retrying in the background');
  }
  return store;
}

export class PostgresMailStore implements MailStore, ChangeLogPruning, OutboundQueueStore, DkimKeyStore, CheckableStore {
  readonly schema: string;
  private readonly blobs: PgBlobStore;
  private readonly sweeper: PgBlobSweeper;
  private readonly pruner: ChangePruner;
  private readonly now: () => number;
  private readonly attempts: number;
  private readonly counters: PostgresStoreStats = { commits: 0, failures: 0, retries: 0, wakeUps: 0 };
  private readonly url: string;
  private locks: PostgresMaildropLocks | null = null;
  private closed = false;
  private inFlight = 0;
  private drained: Array<() => void> = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly stagingPool: pg.Pool,
    /** This node's bus: wake-ups of every node are delivered here. */
    readonly bus: PostgresChangeBus,
    private readonly ownsBus: boolean,
    opts: PostgresStoreOptions,
    private readonly log: StoreLogger,
  ) {
    this.schema = opts.schema ?? DEFAULT_SCHEMA;
    this.url = opts.url;
    this.now = opts.now ?? Date.now;
    this.attempts = Math.max(1, opts.attempts ?? 5);
    this.blobs = new PgBlobStore({ pool, stagingPool, chunkSize: opts.chunkSize, stagedGraceMs: opts.stagedGraceMs });
    this.sweeper = new PgBlobSweeper(pool, this.blobs, opts.sweepIntervalMs ?? 60_000, (err) => this.log.warn({ err }, 'blob sweep failed'));
    this.sweeper.start();
    this.pruner = new ChangePruner({
      intervalMs: opts.changePruneIntervalMs ?? 3600_000,
      retentionMs: opts.changeRetentionMs ?? DEFAULT_CHANGE_RETENTION_MS,
      now: this.now,
      pruneBatch: (cutoffMs, limit) => this.write((tx) => pruneChangesBatch(tx, cutoffMs, limit)),
      onError: (err) => this.log.warn({ err }, 'change-log pruning failed'),
      onPruned: (rows) => this.log.info({ rows }, 'change log pruned'),
    });
    this.pruner.start();
  }

  /** Counters for tests and metrics. */
  stats(): PostgresStoreStats {
    return { ...this.counters };
  }

  /**
   * POP3 maildrop locks shared by every node (advisory locks; pop3/lock.ts MaildropLocks), made
   * once per store and closed with it. The composition root gives them to the POP3 handler.
   */
  maildropLocks(): PostgresMaildropLocks {
    this.assertOpen();
    this.locks ??= new PostgresMaildropLocks(clientConfig({ url: this.url, schema: this.schema }));
    return this.locks;
  }

  /** `mailhaven fsck` (src/fsck): one-snapshot reads of counters and blobs, and safe repairs. */
  checker(): StoreChecker {
    this.assertOpen();
    return new PgChecker({ pool: this.pool, write: (work) => this.write(work) });
  }

  /** Runs the blob sweep now; returns how many blobs were deleted. */
  sweepBlobs(): Promise<number> {
    this.assertOpen();
    return this.sweeper.sweep();
  }

  // ---- Directory -------------------------------------------------------------------------------

  addDomain(name: string): Promise<Domain> {
    return this.write((tx) => directory.addDomain(tx, name));
  }

  deleteDomain(name: string): Promise<void> {
    return this.write((tx) => directory.deleteDomain(tx, name));
  }

  listDomains(): Promise<Domain[]> {
    return this.read((db) => directory.listDomains(db));
  }

  getDomain(name: string): Promise<Domain | null> {
    return this.read((db) => directory.findDomain(db, name));
  }

  addAccount(address: string, passwordHash: string, quotaBytes: number | null): Promise<Account> {
    return this.write((tx) => directory.addAccount(tx, address, passwordHash, quotaBytes));
  }

  deleteAccount(address: string): Promise<void> {
    return this.write((tx) => directory.deleteAccount(tx, address));
  }

  getAccount(address: string): Promise<Account | null> {
    return this.read(async (db) => {
      const found = await directory.findAccountRow(db, address);
      return found ? toAccount(found) : null;
    });
  }

  getAccountById(id: Id): Promise<Account | null> {
    return this.read(async (db) => {
      const found = await directory.findAccountRowById(db, id);
      return found ? toAccount(found) : null;
    });
  }

  listAccounts(): Promise<Account[]> {
    return this.read((db) => directory.listAccounts(db));
  }

  setPassword(address: string, passwordHash: string): Promise<void> {
    return this.write((tx) => directory.updateAccount(tx, address, [{ column: 'password_hash', value: passwordHash }]));
  }

  /** `quotaMessages` is left unchanged when omitted. */
  setQuota(address: string, quotaBytes: number | null, quotaMessages?: number | null): Promise<void> {
    return this.write((tx) => directory.setQuota(tx, address, quotaBytes, quotaMessages));
  }

  setSecret(address: string, encryptedSecret: string | null): Promise<void> {
    return this.write((tx) => directory.updateAccount(tx, address, [{ column: 'secret_enc', value: encryptedSecret }]));
  }

  getSecret(accountId: Id): Promise<string | null> {
    return this.read(async (db) => (await directory.findAccountRowById(db, accountId))?.secret_enc ?? null);
  }

  addAlias(address: string, targets: string[]): Promise<void> {
    return this.write((tx) => directory.addAlias(tx, address, targets));
  }

  deleteAlias(address: string): Promise<void> {
    return this.write((tx) => directory.deleteAlias(tx, address));
  }

  listAliases(): Promise<Alias[]> {
    return this.read((db) => directory.listAliases(db));
  }

  getAlias(address: string): Promise<Alias | null> {
    return this.read((db) => directory.findAlias(db, address));
  }

  // ---- Mailboxes -------------------------------------------------------------------------------

  listMailboxes(accountId: Id): Promise<Mailbox[]> {
    return this.read((db) => mailboxes.listMailboxes(db, accountId));
  }

  getMailbox(accountId: Id, name: string): Promise<Mailbox | null> {
    return this.read(async (db) => {
      const found = await mailboxes.findMailboxRow(db, accountId, name);
      return found ? toMailbox(found) : null;
    });
  }

  getMailboxById(mailboxId: Id): Promise<Mailbox | null> {
    return this.read(async (db) => {
      const found = await mailboxes.findMailboxRowById(db, mailboxId);
      return found ? toMailbox(found) : null;
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
    return this.read((db) => mailboxes.listSubscriptions(db, accountId));
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
    return this.write(
      (tx) => messages.append(tx, accountId, mailboxId, newMessages),
      newMessages.map((message) => message.blob),
    );
  }

  deliver(blob: StagedBlob, index: MessageIndex, targets: DeliveryTarget[], internalDate?: Date): Promise<DeliveryOutcome[]> {
    return this.write((tx) => messages.deliver(tx, blob, index, targets, internalDate?.getTime() ?? tx.now), [blob]);
  }

  listMessages(mailboxId: Id, uidFrom = 1, uidTo = MAX_UID): Promise<MessageMeta[]> {
    return this.read((db) => messages.listMessages(db, mailboxId, uidFrom, uidTo));
  }

  getMessages(mailboxId: Id, uids: number[]): Promise<StoredMessage[]> {
    return this.read((db) => messages.getMessages(db, mailboxId, uids));
  }

  async openMessage(message: MessageMeta, start = 0, end = message.size): Promise<Readable> {
    const stored = await this.read((db) => messages.messageBytesOf(db, message.id));
    if (!stored) throw new StoreError('notFound', `message ${message.id} was expunged`);
    const prefix = stored.prefix ?? Buffer.alloc(0);
    const to = Math.min(Math.max(end, 0), stored.size);
    const from = Math.min(Math.max(start, 0), to);
    const head = prefix.subarray(Math.min(from, prefix.length), Math.min(to, prefix.length));
    if (to <= prefix.length) return Readable.from(head.length > 0 ? [head] : [], { objectMode: false });
    const body = await this.blobs.open(stored.blob_hash, Math.max(from - prefix.length, 0), to - prefix.length);
    if (head.length === 0) return body;
    const out = new PassThrough();
    out.write(head);
    // pipeline stops the chunk reads if the reader goes away, and passes read errors on.
    pipeline(body, out, () => undefined);
    return out;
  }

  async readMessage(message: MessageMeta, start = 0, end = message.size): Promise<Buffer> {
    const bytes = await this.read((db) => messages.readMessageRange(db, message.id, start, end));
    if (!bytes) throw new StoreError('notFound', `message ${message.id} was expunged`);
    return bytes;
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

  // ---- OutboundQueueStore (src/queue/types.ts) -------------------------------------------------

  deliverAndEnqueue(blob: StagedBlob, index: MessageIndex, copies: LocalCopy[], entry: NewQueueEntry, internalDate?: Date): Promise<CombinedDeliveryResult> {
    return this.write((tx) => queue.deliverAndEnqueue(tx, blob, index, copies, entry, internalDate?.getTime() ?? tx.now), [blob]);
  }

  listQueue(limit = 1000): Promise<QueueEntry[]> {
    return this.read((db) => queue.listQueue(db, Math.max(1, Math.floor(limit))));
  }

  removeQueueEntry(id: Id): Promise<void> {
    return this.write((tx) => queue.removeQueueEntry(tx, id));
  }

  getQueueEntry(id: Id): Promise<QueueEntry | null> {
    return this.read((db) => queue.getQueueEntry(db, id));
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
    return this.read((db) => queue.queueSummary(db));
  }

  // ---- ChangeLog -------------------------------------------------------------------------------

  changesSince(accountId: Id, since: number, limit = DEFAULT_CHANGE_LIMIT): Promise<ChangeBatch> {
    return this.read((db) => readChanges(db, accountId, since, Math.max(1, Math.floor(limit))));
  }

  pruneChanges(olderThan: Date, batchSize?: number): Promise<number> {
    this.assertOpen();
    return this.pruner.prune(olderThan.getTime(), batchSize);
  }

  currentModseq(accountId: Id): Promise<number> {
    return this.read(async (db) => {
      if (!Number.isSafeInteger(accountId)) return 0;
      const found = await row<{ modseq: number | null }>(
        db,
        'SELECT coalesce((SELECT modseq FROM accounts WHERE id = $1), (SELECT max(modseq) FROM changes WHERE account_id = $1), 0) AS modseq',
        [accountId],
      );
      return found?.modseq ?? 0;
    });
  }

  /**
   * For the bus after a reconnect: every account whose MODSEQ is above what was delivered, and
   * remembered accounts that were deleted meanwhile (their last change-log entry says so).
   */
  async modseqsSince(remembered: ReadonlyMap<Id, number>): Promise<WakeUp[]> {
    if (this.closed) return [];
    const wakes: WakeUp[] = [];
    const current = await rows<{ id: number; modseq: number }>(this.pool, 'SELECT id, modseq FROM accounts WHERE modseq > 0');
    const existing = new Set<Id>();
    for (const account of current) {
      existing.add(account.id);
      if (account.modseq > (remembered.get(account.id) ?? 0)) wakes.push({ accountId: account.id, modseq: account.modseq });
    }
    const gone = [...remembered.keys()].filter((id) => !existing.has(id));
    if (gone.length > 0) {
      const deleted = await rows<{ account_id: number; modseq: number }>(
        this.pool,
        'SELECT account_id, max(modseq) AS modseq FROM changes WHERE account_id = ANY($1::bigint[]) GROUP BY account_id',
        [gone],
      );
      for (const entry of deleted) {
        if (entry.modseq > (remembered.get(entry.account_id) ?? 0)) wakes.push({ accountId: entry.account_id, modseq: entry.modseq });
      }
    }
    return wakes;
  }

  // ---- POP3 retention --------------------------------------------------------------------------

  setPop3Retention(target: Pop3RetentionTarget, setting: Pop3RetentionSetting): Promise<void> {
    return this.write((tx) => pop3.setPop3Retention(tx, target, setting));
  }

  getPop3Retention(target: Pop3RetentionTarget): Promise<Pop3RetentionSetting> {
    return this.read((db) => pop3.getPop3Retention(db, target));
  }

  pop3RetentionDays(accountId: Id): Promise<number | null> {
    return this.read((db) => pop3.pop3RetentionDays(db, accountId));
  }

  shortestPop3Retention(): Promise<number | null> {
    return this.read((db) => pop3.shortestPop3Retention(db));
  }

  recordPop3Downloads(mailboxId: Id, uids: number[], at: Date): Promise<void> {
    if (uids.length === 0) return Promise.resolve();
    return this.write((tx) => pop3.recordPop3Downloads(tx, mailboxId, uids, at.getTime()));
  }

  listPop3Expired(now: Date, options: { limit?: number; afterAccountId?: Id } = {}): Promise<Pop3ExpiredMessages[]> {
    return this.read((db) => pop3.listPop3Expired(db, now.getTime(), options.limit ?? 1000, options.afterAccountId ?? 0));
  }

  // ---- admin API tokens ------------------------------------------------------------------------

  addAdminToken(name: string, hash: string): Promise<AdminToken> {
    return this.write((tx) => tokens.addAdminToken(tx, name, hash));
  }

  listAdminTokens(): Promise<AdminToken[]> {
    return this.read((db) => tokens.listAdminTokens(db));
  }

  findAdminTokenByHash(hash: string): Promise<AdminToken | null> {
    return this.read((db) => tokens.findAdminTokenByHash(db, hash));
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
    return this.read((db) => dkim.listDkimKeys(db, domain));
  }

  getActiveDkimKey(domain: string): Promise<DkimKeyRecord | null> {
    return this.read((db) => dkim.getActiveDkimKey(db, domain));
  }

  activateDkimKey(domain: string, selector: string): Promise<void> {
    return this.write((tx) => dkim.activateDkimKey(tx, domain, selector));
  }

  deleteDkimKey(domain: string, selector: string): Promise<void> {
    return this.write((tx) => dkim.deleteDkimKey(tx, domain, selector));
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /**
   * Startup recovery: staged data of dead writers, the blob trash, and stored blobs nothing
   * references. Safe while other nodes run: the database refuses to delete what they reference.
   */
  async recover(): Promise<RecoveryReport> {
    this.assertOpen();
    const tempFilesRemoved = await this.blobs.removeAbandonedTemp();
    const swept = await this.sweeper.sweep();
    const orphans = await this.sweeper.removeOrphans();
    const report = { tempFilesRemoved, orphanBlobsRemoved: swept + orphans };
    this.log.info(report, 'store recovery done');
    return report;
  }

  /** Waits for writes in flight, then releases the connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pruner.stop();
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
    await this.sweeper.stop();
    await this.locks?.close();
    await this.blobs.close();
    if (this.ownsBus) await this.bus.close();
    await this.stagingPool.end();
    await this.pool.end();
  }

  // ---- internals -------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new StoreError('cannot', 'the store is closed');
  }

  /**
   * One write operation = one transaction (run again on deadlocks). Staged blobs are reserved
   * first, attached inside, and the ones not attached are discarded after it.
   */
  private async write<T>(work: (tx: PgTx) => Promise<T>, staged: readonly StagedBlob[] = []): Promise<T> {
    this.assertOpen();
    this.inFlight++;
    const blobs = [...new Set(staged)];
    let committed: PgTx | null = null;
    try {
      if (blobs.length > 0) {
        const [refused] = await this.blobs.promote([blobs]);
        if (refused) throw refused;
      }
      const channel = this.bus.channel;
      const { value, tx } = await transaction(
        this.pool,
        async (client) => {
          const tx = new PgTx(client, this.now(), channel, this.blobs);
          const value = await work(tx);
          await tx.finish();
          return { value, tx };
        },
        { attempts: this.attempts, onRetry: () => this.counters.retries++ },
      );
      committed = tx;
      this.counters.commits++;
      this.afterCommit(tx);
      return value;
    } catch (err) {
      this.counters.failures++;
      throw err;
    } finally {
      if (blobs.length > 0) await this.blobs.settle(blobs, committed?.attached ?? new Set());
      if (--this.inFlight === 0) this.wakeDrained();
    }
  }

  private async read<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await work(this.pool);
    } catch (err) {
      throw storeErrorOf(err);
    }
  }

  /** Right after COMMIT, before the caller continues: this node's wake-ups, then the sweep. */
  private afterCommit(tx: PgTx): void {
    for (const [accountId, modseq] of tx.touched) {
      this.counters.wakeUps++;
      try {
        this.bus.publish({ accountId, modseq });
      } catch (err) {
        this.log.error({ err, accountId }, 'publishing a wake-up failed');
      }
    }
    if (tx.trashed.length > 0) this.sweeper.schedule(tx.trashed);
  }

  private wakeDrained(): void {
    const waiters = this.drained;
    this.drained = [];
    for (const wake of waiters) wake();
  }
}

async function readChanges(db: Queryable, accountId: Id, since: number, limit: number): Promise<ChangeBatch> {
  if (!Number.isSafeInteger(accountId)) return { modseq: since, changes: [] };
  const select = 'SELECT modseq, kind, mailbox_id, uid, data FROM changes WHERE account_id = $1 AND modseq > $2';
  let found = await rows<ChangeRow>(db, `${select} ORDER BY modseq, id LIMIT $3`, [accountId, since, limit + 1]);
  if (found.length > limit) {
    // Never split one MODSEQ across batches: the caller resumes from the batch's MODSEQ.
    const last = found[limit - 1]?.modseq ?? since;
    const cut = found.slice(0, limit).filter((change) => change.modseq < last || found[limit]?.modseq !== last);
    found = cut.length > 0 ? cut : await rows<ChangeRow>(db, `${select} AND modseq <= $3 ORDER BY modseq, id`, [accountId, since, last]);
  }
  const batch: ChangeBatch = { modseq: found[found.length - 1]?.modseq ?? since, changes: found.map(toChange) };
  // Read after the rows: a prune committed before them shows in the mark (docs/storage.md).
  const pruned = await prunedUpTo(db, accountId);
  if (since < pruned) {
    batch.truncated = true;
    batch.prunedUpTo = pruned;
  }
  return batch;
}
