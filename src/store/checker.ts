/**
 * StoreChecker: the optional store capability `mailhaven fsck` uses (src/fsck). A backend gives
 * one consistent read of its stored counters next to the values recomputed from the rows, access
 * to its blobs, and a few repairs that never delete a referenced message. The checks themselves,
 * and what counts as a problem, live in src/fsck, once for every backend.
 * @module
 */
import type { Id, MailStore } from './types.js';

/** A mailbox row's counters as stored, and as recomputed from its message and change-log rows. */
export interface MailboxFacts {
  id: Id;
  accountId: Id;
  address: string;
  name: string;
  uidNext: number;
  highestModseq: number;
  messageCount: number;
  unseenCount: number;
  totalSize: number;
  actual: {
    messageCount: number;
    unseenCount: number;
    totalSize: number;
    /** Highest UID of a live message, 0 when empty. */
    maxUid: number;
    /** Highest UID named by the change log for this mailbox (added, flags, expunged), 0 when none. */
    maxLoggedUid: number;
    /** Highest MODSEQ of a live message, 0 when empty. */
    maxMessageModseq: number;
    /** Highest MODSEQ of a message change (added, flags, expunged) logged for this mailbox. */
    maxLoggedModseq: number;
  };
}

export interface AccountFacts {
  id: Id;
  address: string;
  usedBytes: number;
  usedMessages: number;
  modseq: number;
  actual: {
    usedBytes: number;
    usedMessages: number;
    /** Highest MODSEQ found anywhere for the account: messages, mailboxes, change log. */
    maxModseq: number;
  };
}

/** A blob named by message rows or outbound queue entries, with the sizes they expect. */
export interface BlobReference {
  hash: string;
  /** Distinct blob sizes the references imply (message size minus its prefix; queue size). */
  sizes: number[];
  messages: number;
  queueEntries: number;
  /** Where it is used, for the report: "address/mailbox uid N" or "queue #id" (a few). */
  samples: string[];
}

/** A message row: where it is, for the report. */
export interface MessageLocation {
  address: string;
  mailbox: string;
  uid: number;
}

/** Everything fsck compares, read in one transaction so it is consistent even with a live server. */
export interface FsckFacts {
  mailboxes: MailboxFacts[];
  accounts: AccountFacts[];
  blobs: BlobReference[];
  /** Referenced hashes without a message_index row (FETCH cannot describe those messages). */
  missingIndex: string[];
  /** message_index rows whose blob nothing references (harmless; removable). */
  unusedIndex: string[];
  /** blob_trash rows. */
  trash: Array<{ hash: string; referenced: boolean }>;
  /** Live messages without an `added` entry in the change log (at most `sampleLimit`). */
  unlogged: { count: number; samples: MessageLocation[] };
  /**
   * Messages the change log says were added to a mailbox that still exists, never logged as
   * expunged, and not there: lost mail (at most `sampleLimit`).
   */
  vanished: { count: number; samples: MessageLocation[] };
  /** Live messages whose UID was logged as expunged before: a reused UID (at most `sampleLimit`). */
  reusedUids: { count: number; samples: MessageLocation[] };
}

export interface StoredBlob {
  hash: string;
  /** How long ago the blob was last written (a young unreferenced blob may be about to be committed). */
  ageMs: number;
}

/** A repair: each recomputes inside a write transaction, from the rows as they are then. */
export type FsckRepair =
  /** message/unseen/size counters recomputed; UIDNEXT and HIGHESTMODSEQ raised, never lowered. */
  | { kind: 'mailboxCounters'; mailboxId: Id }
  /** quota usage recomputed; account MODSEQ raised to the highest MODSEQ found, never lowered. */
  | { kind: 'accountUsage'; accountId: Id }
  /** an unreferenced blob is queued for the sweeper (nothing happens if a row names it by then). */
  | { kind: 'trashBlob'; hash: string }
  /** a message_index row nothing references is dropped. */
  | { kind: 'dropIndex'; hash: string }
  /** a blob_trash row of a referenced blob is dropped (the sweeper would keep the blob anyway). */
  | { kind: 'untrash'; hash: string };

export interface StoreChecker {
  /** One consistent read; samples are cut at `sampleLimit`. */
  fsckFacts(sampleLimit: number): Promise<FsckFacts>;
  /** Size (and SHA-256 when `deep`) of a stored blob; null when it is missing. */
  inspectBlob(hash: string, deep: boolean): Promise<{ size: number; sha256?: string } | null>;
  /** Every stored blob. */
  listBlobs(): AsyncIterable<StoredBlob>;
  /** A message row or queue entry names the hash right now, or it is queued in blob_trash. */
  blobState(hash: string): Promise<'referenced' | 'trashed' | 'unreferenced'>;
  /** The grace period of the blob sweeper: unreferenced blobs younger than this are not orphans yet. */
  readonly blobGraceMs: number;
  repair(action: FsckRepair): Promise<void>;
}

/** A store that can be checked (both backends); the interface stays optional for test doubles. */
export interface CheckableStore extends MailStore {
  checker(): StoreChecker;
}

export function isCheckable(store: MailStore): store is CheckableStore {
  return typeof (store as Partial<CheckableStore>).checker === 'function';
}
