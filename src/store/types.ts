/**
 * The MailStore interface: everything protocols, delivery and the CLI may ask of storage.
 * Backends: store/sqlite (embedded default) and store/postgres (multi-node, later).
 * Protocol code imports only this file, never a backend.
 */
import type { Readable } from 'node:stream';
import type { MessageIndex } from '../mime/types.js';

export type Id = number;

/** IMAP system flags are kept as a bitmask; keywords as strings. */
export const SystemFlag = {
  Seen: 1,
  Answered: 2,
  Flagged: 4,
  Deleted: 8,
  Draft: 16,
} as const;
export const SYSTEM_FLAG_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['\\Seen', SystemFlag.Seen],
  ['\\Answered', SystemFlag.Answered],
  ['\\Flagged', SystemFlag.Flagged],
  ['\\Deleted', SystemFlag.Deleted],
  ['\\Draft', SystemFlag.Draft],
];

export type SpecialUse = '\\Sent' | '\\Drafts' | '\\Trash' | '\\Junk' | '\\Archive' | '\\All' | '\\Flagged';

export interface Domain {
  id: Id;
  name: string;
  createdAt: Date;
}

export interface Account {
  id: Id;
  /** Lower-cased full address (local@domain). */
  address: string;
  domainId: Id;
  /** PHC string (argon2id). */
  passwordHash: string;
  /** Bytes; null means unlimited. */
  quotaBytes: number | null;
  /** Message count limit; null means unlimited. */
  quotaMessages: number | null;
  usedBytes: number;
  usedMessages: number;
  createdAt: Date;
}

export interface Alias {
  /** "local@domain", or "@domain" for a catch-all. */
  address: string;
  targets: string[];
}

export interface Mailbox {
  id: Id;
  accountId: Id;
  /** Full name, UTF-8, hierarchy delimiter "/". INBOX is always spelled "INBOX". */
  name: string;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  specialUse: SpecialUse | null;
  /** Messages / unseen / total octets, kept exact by the store. */
  messageCount: number;
  unseenCount: number;
  totalSize: number;
}

/** Row of a message as sessions see it (no body). */
export interface MessageMeta {
  id: Id;
  mailboxId: Id;
  uid: number;
  modseq: number;
  /** Bitmask of SystemFlag. */
  flags: number;
  keywords: string[];
  internalDate: Date;
  /** Octets as seen by clients (prefix + blob). */
  size: number;
  blobHash: string;
}

export interface StoredMessage extends MessageMeta {
  /** Index with offsets relative to the message as seen by clients. */
  index: MessageIndex;
}

/** A blob written to a temporary place, not yet durable nor referenced. */
export interface StagedBlob {
  readonly hash: string;
  readonly size: number;
  /** Backend-specific handle (a temp file path for the file blob store). */
  readonly handle: string;
}

/** Writes a message body while it arrives; never buffers it whole. */
export interface BlobWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  readonly size: number;
  finish(): Promise<StagedBlob>;
  /** Throw away what was written (size limit exceeded, client went away). */
  abort(): Promise<void>;
}

export interface NewMessage {
  blob: StagedBlob;
  /** Index of the blob bytes (offsets relative to the blob). */
  index: MessageIndex;
  /** Header lines (CRLF-terminated) prepended for this copy only (Return-Path, Delivered-To...). */
  prefix?: Uint8Array;
  flags?: number;
  keywords?: string[];
  internalDate?: Date;
}

export interface AppendResult {
  uidValidity: number;
  uid: number;
  modseq: number;
}

/** One local recipient of a delivery. */
export interface DeliveryTarget {
  accountId: Id;
  /** Defaults to INBOX; a missing mailbox falls back to INBOX. */
  mailboxName?: string;
  prefix?: Uint8Array;
  flags?: number;
  keywords?: string[];
}

export type DeliveryOutcome =
  | { ok: true; mailboxId: Id; uid: number }
  | { ok: false; reason: 'overQuota' | 'noAccount' };

export type FlagOp = 'set' | 'add' | 'remove';

export interface FlagUpdate {
  op: FlagOp;
  flags: number;
  keywords: string[];
  /** CONDSTORE UNCHANGEDSINCE: messages with a higher modseq are left alone and reported. */
  unchangedSince?: number;
}

export interface FlagResult {
  /** Messages whose flags changed, with their new state. */
  changed: Array<{ uid: number; modseq: number; flags: number; keywords: string[] }>;
  /** UIDs refused because of UNCHANGEDSINCE. */
  modifiedSince: number[];
}

export interface CopyResult {
  uidValidity: number;
  /** Pairs of source UID and destination UID, in source order. */
  mapping: Array<[number, number]>;
}

/** Changes recorded in the change log, in commit order. */
export type Change =
  | { kind: 'added'; modseq: number; mailboxId: Id; uid: number }
  | { kind: 'flags'; modseq: number; mailboxId: Id; uid: number; flags: number; keywords: string[] }
  | { kind: 'expunged'; modseq: number; mailboxId: Id; uid: number }
  | { kind: 'mailboxCreated'; modseq: number; mailboxId: Id; name: string }
  | { kind: 'mailboxRenamed'; modseq: number; mailboxId: Id; name: string; oldName: string }
  | { kind: 'mailboxDeleted'; modseq: number; mailboxId: Id; name: string }
  /** Password, quota or existence of the account changed (a deleted account logs sessions out). */
  | { kind: 'account'; modseq: number; deleted: boolean };

export interface ChangeBatch {
  /** Highest modseq included; pass it back as `since` next time. */
  modseq: number;
  changes: Change[];
  /**
   * Present (true) when the log was pruned above `since`: some changes with a MODSEQ in
   * (since, oldestKept) are gone, so `changes` is not the whole story. The changes returned are
   * still exact; a reader must compare with the current state (a full listing) instead of
   * replaying. Absent when the batch is complete.
   */
  truncated?: true;
  /** With `truncated`: every change with a MODSEQ at or below this may be gone. */
  prunedUpTo?: number;
}

export class StoreError extends Error {
  constructor(
    readonly code:
      | 'exists'
      | 'notFound'
      | 'overQuota'
      | 'invalid'
      | 'busy'
      | 'noSpace'
      | 'io'
      | 'hasChildren'
      | 'cannot',
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** Accounts, domains and aliases: what the CLI and auth need. */
export interface Directory {
  addDomain(name: string): Promise<Domain>;
  deleteDomain(name: string): Promise<void>;
  listDomains(): Promise<Domain[]>;
  getDomain(name: string): Promise<Domain | null>;

  /** Creates the account and its default mailboxes (INBOX, Sent, Drafts, Trash, Junk, Archive). */
  addAccount(address: string, passwordHash: string, quotaBytes: number | null): Promise<Account>;
  deleteAccount(address: string): Promise<void>;
  getAccount(address: string): Promise<Account | null>;
  getAccountById(id: Id): Promise<Account | null>;
  listAccounts(): Promise<Account[]>;
  setPassword(address: string, passwordHash: string): Promise<void>;
  /** `quotaMessages` (a message count limit; null = unlimited) is left unchanged when omitted. */
  setQuota(address: string, quotaBytes: number | null, quotaMessages?: number | null): Promise<void>;
  /** Per-account secret (already encrypted by the caller) for APOP/CRAM-MD5; null removes it. */
  setSecret(address: string, encryptedSecret: string | null): Promise<void>;
  getSecret(accountId: Id): Promise<string | null>;

  addAlias(address: string, targets: string[]): Promise<void>;
  deleteAlias(address: string): Promise<void>;
  listAliases(): Promise<Alias[]>;
  getAlias(address: string): Promise<Alias | null>;
}

export interface Mailboxes {
  listMailboxes(accountId: Id): Promise<Mailbox[]>;
  /** Case-insensitive for INBOX, exact otherwise. */
  getMailbox(accountId: Id, name: string): Promise<Mailbox | null>;
  getMailboxById(mailboxId: Id): Promise<Mailbox | null>;
  createMailbox(accountId: Id, name: string, specialUse?: SpecialUse | null): Promise<Mailbox>;
  /** Deletes the mailbox and its messages (children stay; RFC 3501 6.3.4). */
  deleteMailbox(accountId: Id, name: string): Promise<void>;
  /** Renames the mailbox and its children; renaming INBOX moves its messages (RFC 3501 6.3.5). */
  renameMailbox(accountId: Id, oldName: string, newName: string): Promise<void>;
  listSubscriptions(accountId: Id): Promise<string[]>;
  subscribe(accountId: Id, name: string): Promise<void>;
  unsubscribe(accountId: Id, name: string): Promise<void>;
}

export interface Messages {
  /** A writer to stream a new message body into; pass its StagedBlob to append/deliver. */
  createBlobWriter(): BlobWriter;
  /** Appends messages atomically (MULTIAPPEND is all or nothing). */
  append(accountId: Id, mailboxId: Id, messages: NewMessage[]): Promise<AppendResult[]>;
  /** Delivers one blob to many recipients in one transaction; the blob is stored once. */
  deliver(blob: StagedBlob, index: MessageIndex, targets: DeliveryTarget[], internalDate?: Date): Promise<DeliveryOutcome[]>;
  /** Message rows with uid in [uidFrom, uidTo], ascending by UID. */
  listMessages(mailboxId: Id, uidFrom?: number, uidTo?: number): Promise<MessageMeta[]>;
  /** Message rows with an index, for the given UIDs (ascending). */
  getMessages(mailboxId: Id, uids: number[]): Promise<StoredMessage[]>;
  /** Bytes [start, end) of the message as clients see it (prefix + blob). */
  openMessage(message: MessageMeta, start?: number, end?: number): Promise<Readable>;
  /** Convenience for small reads: the whole range in memory. */
  readMessage(message: MessageMeta, start?: number, end?: number): Promise<Buffer>;
  updateFlags(accountId: Id, mailboxId: Id, uids: number[], update: FlagUpdate): Promise<FlagResult>;
  /** Removes the given messages; returns UIDs actually expunged with the modseq. */
  expunge(accountId: Id, mailboxId: Id, uids: number[]): Promise<{ uids: number[]; modseq: number }>;
  copy(accountId: Id, fromMailboxId: Id, uids: number[], toMailboxId: Id): Promise<CopyResult>;
  /** Copy + expunge in one transaction (RFC 6851). */
  move(accountId: Id, fromMailboxId: Id, uids: number[], toMailboxId: Id): Promise<CopyResult & { modseq: number }>;
}

export interface ChangeLog {
  /**
   * Changes for one account with modseq > since, oldest first, at most `limit`. When old
   * changes were pruned (ChangeLogPruning) and `since` is below what was pruned, the batch says
   * so with `truncated` (docs/storage.md, "Change-log pruning").
   */
  changesSince(accountId: Id, since: number, limit?: number): Promise<ChangeBatch>;
  /** Highest modseq assigned for the account so far. */
  currentModseq(accountId: Id): Promise<number>;
}

/** Change-log rows younger than this are kept (docs/storage.md, "Change-log pruning"): 30 days. */
export const DEFAULT_CHANGE_RETENTION_MS = 30 * 24 * 3600_000;

/**
 * Removing old change-log rows, a few hundred per transaction. Both backends implement it and
 * also run it from a timer; readers learn of it through `ChangeBatch.truncated`.
 */
export interface ChangeLogPruning {
  /**
   * Deletes change-log rows written before `olderThan`, in batches of at most `batchSize` rows
   * (default 500), each its own short transaction, and records per account the highest MODSEQ
   * removed. Returns how many rows went.
   */
  pruneChanges(olderThan: Date, batchSize?: number): Promise<number>;
}

export function hasChangeLogPruning(store: object): store is ChangeLogPruning {
  return typeof (store as Partial<ChangeLogPruning>).pruneChanges === 'function';
}

/** Whose POP3 retention policy is meant: a whole domain, or one account. */
export type Pop3RetentionTarget = { domain: string } | { address: string };

/**
 * A POP3 retention policy as set: whole days after the first POP3 download, `'never'`, or null
 * for "not set" (an account then follows its domain; a domain without a policy keeps mail).
 */
export type Pop3RetentionSetting = number | 'never' | null;

/** INBOX messages of one account whose retention period has passed. */
export interface Pop3ExpiredMessages {
  accountId: Id;
  mailboxId: Id;
  /** Ascending. */
  uids: number[];
}

/** Longest POP3 retention period accepted, days (100 years). */
export const MAX_POP3_RETENTION_DAYS = 36_500;

/**
 * POP3 "leave mail on server, delete after N days" (docs/pop3.md): a policy per domain or
 * account, and the time each message was first downloaded by POP3 RETR. A moved or copied
 * message is a new row and starts without a download time.
 */
export interface Pop3Retention {
  /** Sets or clears a policy; days must be 1..MAX_POP3_RETENTION_DAYS (else StoreError 'invalid'). */
  setPop3Retention(target: Pop3RetentionTarget, setting: Pop3RetentionSetting): Promise<void>;
  /** The policy as set on the domain or account itself (no inheritance). */
  getPop3Retention(target: Pop3RetentionTarget): Promise<Pop3RetentionSetting>;
  /** The policy in force for an account (its own, else its domain's): days, or null for never. */
  pop3RetentionDays(accountId: Id): Promise<number | null>;
  /** The shortest policy set on any domain or account, or null when none is (CAPA EXPIRE before login). */
  shortestPop3Retention(): Promise<number | null>;
  /** Records the first download time of messages; messages downloaded before keep their first time. */
  recordPop3Downloads(mailboxId: Id, uids: number[], at: Date): Promise<void>;
  /**
   * INBOX messages downloaded at least their account's policy days before `now`, grouped by
   * account in ascending account id, at most `limit` messages in all (default 1000), only of
   * accounts with an id above `afterAccountId` (a cursor; default 0). Expunging them is up to
   * the caller.
   */
  listPop3Expired(now: Date, options?: { limit?: number; afterAccountId?: Id }): Promise<Pop3ExpiredMessages[]>;
}

/** An admin API token as stored: never the token itself, only its SHA-256 (docs/http.md). */
export interface AdminToken {
  id: Id;
  /** Unique label chosen by the operator ("ci", "grafana"). */
  name: string;
  /** Lower-case hex SHA-256 of the token string. */
  hash: string;
  createdAt: Date;
  /** Last successful use, updated at most once a minute; null if never used. */
  lastUsedAt: Date | null;
}

/** Bearer tokens of the HTTP admin API (`mailhaven token create|list|revoke`). */
export interface AdminTokens {
  /** StoreError 'exists' when the name (or, astronomically unlikely, the hash) is taken. */
  addAdminToken(name: string, hash: string): Promise<AdminToken>;
  /** Oldest first. */
  listAdminTokens(): Promise<AdminToken[]>;
  findAdminTokenByHash(hash: string): Promise<AdminToken | null>;
  /** Deletes the token: it stops working at once. StoreError 'notFound' when there is none. */
  deleteAdminToken(name: string): Promise<void>;
  touchAdminToken(id: Id, at: Date): Promise<void>;
}

export interface MailStore extends Directory, Mailboxes, Messages, ChangeLog, Pop3Retention, AdminTokens {
  /** Startup recovery: temp files, orphan blobs, unfinished deletions. */
  recover(): Promise<RecoveryReport>;
  close(): Promise<void>;
}

export interface RecoveryReport {
  tempFilesRemoved: number;
  orphanBlobsRemoved: number;
}
