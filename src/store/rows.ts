/**
 * Row shapes shared by the SQLite and PostgreSQL schemas (same tables, same column names) and
 * their conversion to the MailStore types. The one difference: keywords are a JSON text column in
 * SQLite and a text[] in PostgreSQL.
 * @module
 */
import type { DkimAlgorithm, DkimKeyRecord } from '../queue/dkim-keys.js';
import type { AccountFacts, MailboxFacts } from './checker.js';
import type { QueueEntry, QueuedRecipient } from '../queue/types.js';
import type { Account, Change, DeliveryOutcome, Domain, Mailbox, MessageMeta, SpecialUse } from './types.js';

export interface DomainRow {
  id: number;
  name: string;
  created_at: number;
}

export interface AccountRow {
  id: number;
  address: string;
  domain_id: number;
  password_hash: string;
  quota_bytes: number | null;
  quota_messages: number | null;
  used_bytes: number;
  used_messages: number;
  modseq: number;
  secret_enc: string | null;
  created_at: number;
}

export interface MailboxRow {
  id: number;
  account_id: number;
  name: string;
  uidvalidity: number;
  uidnext: number;
  highest_modseq: number;
  special_use: string | null;
  message_count: number;
  unseen_count: number;
  total_size: number;
}

export interface MessageRow {
  id: number;
  mailbox_id: number;
  uid: number;
  modseq: number;
  flags: number;
  /** JSON text (SQLite) or an array (PostgreSQL). */
  keywords: string | readonly string[];
  internal_date: number;
  size: number;
  blob_hash: string;
  prefix: Buffer | null;
}

export interface ChangeRow {
  modseq: number;
  kind: Change['kind'];
  mailbox_id: number | null;
  uid: number | null;
  data: string | null;
}

export const ACCOUNT_COLUMNS =
  'id, address, domain_id, password_hash, quota_bytes, quota_messages, used_bytes, used_messages, modseq, secret_enc, created_at';
export const MESSAGE_COLUMNS = 'id, mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_hash, prefix';
export const MAILBOX_COLUMNS =
  'id, account_id, name, uidvalidity, uidnext, highest_modseq, special_use, message_count, unseen_count, total_size';

export function toDomain(row: DomainRow): Domain {
  return { id: row.id, name: row.name, createdAt: new Date(row.created_at) };
}

export function toAccount(row: AccountRow): Account {
  return {
    id: row.id,
    address: row.address,
    domainId: row.domain_id,
    passwordHash: row.password_hash,
    quotaBytes: row.quota_bytes,
    quotaMessages: row.quota_messages,
    usedBytes: row.used_bytes,
    usedMessages: row.used_messages,
    createdAt: new Date(row.created_at),
  };
}

export function toMailbox(row: MailboxRow): Mailbox {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    uidValidity: row.uidvalidity,
    uidNext: row.uidnext,
    highestModseq: row.highest_modseq,
    specialUse: row.special_use as SpecialUse | null,
    messageCount: row.message_count,
    unseenCount: row.unseen_count,
    totalSize: row.total_size,
  };
}

export function toMessageMeta(row: MessageRow): MessageMeta {
  return {
    id: row.id,
    mailboxId: row.mailbox_id,
    uid: row.uid,
    modseq: row.modseq,
    flags: row.flags,
    keywords: parseKeywords(row.keywords),
    internalDate: new Date(row.internal_date),
    size: row.size,
    blobHash: row.blob_hash,
  };
}

export function parseKeywords(stored: string | readonly string[]): string[] {
  if (typeof stored !== 'string') return [...stored];
  // Most messages have none: no JSON parse for them (listings of 100,000 rows).
  if (stored === '[]') return [];
  const value: unknown = JSON.parse(stored);
  return Array.isArray(value) ? value.filter((k): k is string => typeof k === 'string') : [];
}

interface ChangeData {
  flags?: number;
  keywords?: string[];
  name?: string;
  oldName?: string;
  deleted?: boolean;
}

export function toChange(row: ChangeRow): Change {
  const data = (row.data === null ? {} : JSON.parse(row.data)) as ChangeData;
  const mailboxId = row.mailbox_id ?? 0;
  const uid = row.uid ?? 0;
  switch (row.kind) {
    case 'added':
      return { kind: 'added', modseq: row.modseq, mailboxId, uid };
    case 'flags':
      return { kind: 'flags', modseq: row.modseq, mailboxId, uid, flags: data.flags ?? 0, keywords: data.keywords ?? [] };
    case 'expunged':
      return { kind: 'expunged', modseq: row.modseq, mailboxId, uid };
    case 'mailboxCreated':
      return { kind: 'mailboxCreated', modseq: row.modseq, mailboxId, name: data.name ?? '' };
    case 'mailboxRenamed':
      return { kind: 'mailboxRenamed', modseq: row.modseq, mailboxId, name: data.name ?? '', oldName: data.oldName ?? '' };
    case 'mailboxDeleted':
      return { kind: 'mailboxDeleted', modseq: row.modseq, mailboxId, name: data.name ?? '' };
    case 'account':
      return { kind: 'account', modseq: row.modseq, deleted: data.deleted ?? false };
  }
}

export interface QueueRow {
  id: number;
  blob_hash: string;
  size: number;
  sender: string;
  /** JSON text of QueueRecipient[]. */
  recipients: string;
  ret: string | null;
  envid: string | null;
  body: string | null;
  /** 0/1 in SQLite, boolean in PostgreSQL. */
  smtputf8: number | boolean;
  submitter: string | null;
  client_address: string;
  created_at: number;
  next_attempt_at: number;
  attempts: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_error: string | null;
  /** 0/1 in SQLite, boolean in PostgreSQL. */
  delay_notified: number | boolean;
}

export function toQueueEntry(row: QueueRow): QueueEntry {
  return {
    id: row.id,
    blobHash: row.blob_hash,
    size: row.size,
    sender: row.sender,
    recipients: parseQueuedRecipients(row.recipients),
    ret: row.ret as QueueEntry['ret'],
    envid: row.envid,
    body: row.body as QueueEntry['body'],
    smtputf8: row.smtputf8 === true || row.smtputf8 === 1,
    submitter: row.submitter,
    clientAddress: row.client_address,
    createdAt: new Date(row.created_at),
    nextAttemptAt: new Date(row.next_attempt_at),
    attempts: row.attempts,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until === null ? null : new Date(Number(row.lease_until)),
    lastError: row.last_error,
    delayNotified: row.delay_notified === true || row.delay_notified === 1,
  };
}

/** Recipients as stored; entries written before per-recipient state existed are all pending. */
export function parseQueuedRecipients(json: string): QueuedRecipient[] {
  const parsed = JSON.parse(json) as Array<Partial<QueuedRecipient> & Pick<QueuedRecipient, 'address' | 'kind'>>;
  return parsed.map((recipient) => ({
    address: recipient.address,
    kind: recipient.kind,
    notify: recipient.notify ?? null,
    orcpt: recipient.orcpt ?? null,
    state: recipient.state ?? 'pending',
    last: recipient.last ?? null,
  }));
}

export function isOverQuota(outcome: DeliveryOutcome | undefined): boolean {
  return outcome !== undefined && !outcome.ok && outcome.reason === 'overQuota';
}

/** What fsck reads per mailbox: its counters and the live figures beside them (src/fsck). */
export interface MailboxFactsRow {
  id: number;
  account_id: number;
  address: string;
  name: string;
  uidnext: number;
  highest_modseq: number;
  message_count: number;
  unseen_count: number;
  total_size: number;
  n: number;
  unseen: number;
  size: number;
  max_uid: number;
  max_modseq: number;
  logged_uid: number | null;
  logged_modseq: number | null;
}

export function toMailboxFacts(row: MailboxFactsRow): MailboxFacts {
  return {
    id: row.id,
    accountId: row.account_id,
    address: row.address,
    name: row.name,
    uidNext: row.uidnext,
    highestModseq: row.highest_modseq,
    messageCount: row.message_count,
    unseenCount: row.unseen_count,
    totalSize: row.total_size,
    actual: {
      messageCount: row.n,
      unseenCount: row.unseen,
      totalSize: row.size,
      maxUid: row.max_uid,
      maxLoggedUid: row.logged_uid ?? 0,
      maxMessageModseq: row.max_modseq,
      maxLoggedModseq: row.logged_modseq ?? 0,
    },
  };
}

/** What fsck reads per account: quota and MODSEQ counters, and the live figures. */
export interface AccountFactsRow {
  id: number;
  address: string;
  used_bytes: number;
  used_messages: number;
  modseq: number;
  bytes: number;
  messages: number;
  max_modseq: number;
}

export function toAccountFacts(row: AccountFactsRow): AccountFacts {
  return {
    id: row.id,
    address: row.address,
    usedBytes: row.used_bytes,
    usedMessages: row.used_messages,
    modseq: row.modseq,
    actual: { usedBytes: row.bytes, usedMessages: row.messages, maxModseq: row.max_modseq },
  };
}

export interface DkimRow {
  id: number;
  domain: string;
  selector: string;
  algorithm: string;
  private_key_enc: string;
  public_key: string;
  /** 0/1 in SQLite, a boolean in PostgreSQL. */
  active: number | boolean;
  created_at: number;
}

export const DKIM_COLUMNS = 'id, domain, selector, algorithm, private_key_enc, public_key, active, created_at';

export function toDkimKeyRecord(row: DkimRow): DkimKeyRecord {
  return {
    id: row.id,
    domain: row.domain,
    selector: row.selector,
    algorithm: row.algorithm as DkimAlgorithm,
    privateKeyEnc: row.private_key_enc,
    publicKey: row.public_key,
    active: row.active === true || row.active === 1,
    createdAt: new Date(row.created_at),
  };
}
