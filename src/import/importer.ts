/**
 * Imports an mbox file or a Maildir into an account, fast and restartable.
 *
 * Each message is indexed once (mime/indexer), its bytes staged with a BlobWriter, and
 * messages are appended in batches (BATCH_MESSAGES per `store.append`, one transaction each).
 * While a batch commits, the next one is read, indexed and staged (one commit in flight at a time).
 * After each commit the journal (./journal.ts) records the position, so a re-run after a crash or
 * Ctrl-C neither loses nor duplicates messages.
 */
import { realpath } from 'node:fs/promises';
import { indexMessage } from '../mime/indexer.js';
import type { MessageIndex } from '../mime/types.js';
import { StoreError } from '../store/types.js';
import type { Account, MailStore, Mailbox, NewMessage, StagedBlob } from '../store/types.js';
import { ImportError } from './errors.js';
import { journalPath, newJournal, readJournal, writeJournal } from './journal.js';
import type { JournalIdentity, JournalState } from './journal.js';
import { openMaildirReader, openMboxReader } from './sources.js';
import type { ImportReader, SourceMessage } from './sources.js';

/** Messages per transaction: large enough to amortise the commit's fsync, small enough to redo. */
export const BATCH_MESSAGES = 200;
/** A batch is also cut at this many bytes, so memory stays bounded with large messages. */
export const BATCH_BYTES = 32 * 1024 * 1024;
/** Messages indexed and staged ahead of the batch being filled: their blob fsyncs run in parallel. */
const STAGING_WINDOW = 16;
const PROGRESS_INTERVAL_MS = 250;

export type ImportSource = { kind: 'mbox'; path: string } | { kind: 'maildir'; path: string };

export interface ImportProgress {
  messages: number;
  bytes: number;
  elapsedMs: number;
}

export interface ImportOptions {
  store: MailStore;
  dataDir: string;
  account: Account;
  source: ImportSource;
  /** Put every message into this mailbox instead of INBOX (mbox) or the folder's own (Maildir). */
  mailbox?: string;
  batchMessages?: number;
  /** Called after commits, at most every 250 ms. */
  onProgress?: (progress: ImportProgress) => void;
  /** One-line notes for the operator (resuming an earlier run). */
  onNotice?: (text: string) => void;
  /** Defaults to mime/indexer's indexMessage. */
  indexer?: (bytes: Uint8Array) => MessageIndex;
}

export interface ImportSummary {
  /** Messages appended by this run. */
  messages: number;
  /** Mailboxes that received messages in this run. */
  mailboxes: number;
  /** Messages of the batch in doubt that an earlier run had already committed. */
  duplicatesSkipped: number;
  bytes: number;
  seconds: number;
  /** This run continued an earlier one. */
  resumed: boolean;
  journal: string;
}

interface Staged {
  index: MessageIndex;
  blob: StagedBlob;
}

interface Batch {
  mailbox: string;
  messages: NewMessage[];
  bytes: number;
  /** Positions to record once committed, including skipped duplicates (not the messages: their bytes can go). */
  done: Array<SourceMessage['markDone']>;
}

export async function importMessages(options: ImportOptions): Promise<ImportSummary> {
  const started = Date.now();
  const identity = await identityOf(options);
  const journalFile = journalPath(options.dataDir, identity);
  const saved = await readJournal(journalFile);
  const state = saved ?? newJournal(identity);
  if (saved) options.onNotice?.(`continuing an earlier import (${saved.messages} messages imported before; journal ${journalFile})`);
  const reader =
    options.source.kind === 'mbox'
      ? await openMboxReader(identity.path, state, options.mailbox ?? 'INBOX')
      : await openMaildirReader(identity.path, state, options.mailbox ?? null);

  const run = new ImportRun(options, state, journalFile, reader, started);
  await run.prepareMailboxes();
  await run.loadDoubt();
  await run.execute();
  return {
    messages: run.imported,
    mailboxes: run.touched.size,
    duplicatesSkipped: run.duplicatesSkipped,
    bytes: run.bytes,
    seconds: (Date.now() - started) / 1000,
    resumed: saved !== null,
    journal: journalFile,
  };
}

async function identityOf(options: ImportOptions): Promise<JournalIdentity> {
  let path: string;
  try {
    path = await realpath(options.source.path);
  } catch (err) {
    throw new ImportError('source', `cannot read ${options.source.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const { account } = options;
  return {
    account: account.address,
    accountKey: `${account.id}:${account.createdAt.getTime()}`,
    kind: options.source.kind,
    path,
    mailbox: options.mailbox ?? null,
  };
}

class ImportRun {
  imported = 0;
  bytes = 0;
  duplicatesSkipped = 0;
  readonly touched = new Set<string>();
  private readonly mailboxes = new Map<string, Mailbox>();
  /** Blob hashes (with counts) of messages that may be the batch in doubt; null once past it. */
  private doubt: { mailbox: string; hashes: Map<string, number> } | null = null;
  private readonly indexer: (bytes: Uint8Array) => MessageIndex;
  private readonly batchMessages: number;
  private lastProgress = 0;

  constructor(
    private readonly options: ImportOptions,
    private readonly state: JournalState,
    private readonly journalFile: string,
    private readonly reader: ImportReader,
    private readonly started: number,
  ) {
    this.indexer = options.indexer ?? indexMessage;
    this.batchMessages = options.batchMessages ?? BATCH_MESSAGES;
  }

  async prepareMailboxes(): Promise<void> {
    for (const name of await this.reader.mailboxes()) await this.mailbox(name);
  }

  /** The messages an interrupted run may have committed without recording it. */
  async loadDoubt(): Promise<void> {
    const doubt = this.state.doubt;
    if (!doubt) return;
    const mailbox = await this.mailbox(doubt.mailbox);
    const hashes = new Map<string, number>();
    for (const message of await this.options.store.listMessages(mailbox.id, doubt.uidFloor)) {
      hashes.set(message.blobHash, (hashes.get(message.blobHash) ?? 0) + 1);
    }
    if (hashes.size > 0) this.doubt = { mailbox: doubt.mailbox, hashes };
  }

  async execute(): Promise<void> {
    let batch: Batch | null = null;
    /** The commit in flight; resolves to its error so a failure is never an unhandled rejection. */
    let inFlight: Promise<Error | null> = Promise.resolve(null);
    /** Messages being indexed and staged, oldest first (blob fsyncs overlap on the thread pool). */
    const staging: Array<{ message: SourceMessage; outcome: Promise<Staged | Error> }> = [];

    const flush = async (full: Batch): Promise<void> => {
      await rethrow(inFlight);
      inFlight = this.commit(full).then(
        () => null,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
    };
    /** Moves the oldest staged message into the current batch, in source order. */
    const takeOldest = async (): Promise<void> => {
      const oldest = staging.shift();
      if (!oldest) return;
      const staged = await oldest.outcome;
      if (staged instanceof Error) throw staged;
      const { message } = oldest;
      if (batch && (batch.mailbox !== message.mailbox || batch.messages.length >= this.batchMessages || batch.bytes >= BATCH_BYTES)) {
        await flush(batch);
        batch = null;
      }
      batch ??= { mailbox: message.mailbox, messages: [], bytes: 0, done: [] };
      if (!this.isCommittedDuplicate(message.mailbox, staged.blob)) {
        batch.messages.push(this.newMessage(message, staged));
        batch.bytes += message.bytes.length;
      }
      batch.done.push(message.markDone);
    };

    try {
      for await (const message of this.reader.messages()) {
        staging.push({ message, outcome: this.prepare(message).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))) });
        if (staging.length >= STAGING_WINDOW) await takeOldest();
      }
      while (staging.length > 0) await takeOldest();
      if (batch) await flush(batch);
    } catch (err) {
      // Let a running commit finish so its journal entry is written; the first failure is the one reported.
      await inFlight;
      await Promise.all(staging.map((entry) => entry.outcome));
      throw err;
    }
    await rethrow(inFlight);
  }

  /** Indexes (synchronously, now) and stages one message. */
  private async prepare(message: SourceMessage): Promise<Staged> {
    const index = this.indexer(message.bytes);
    const blob = await this.stage(message.bytes);
    return { index, blob };
  }

  private newMessage(message: SourceMessage, { index, blob }: Staged): NewMessage {
    const internalDate = message.date ?? (index.search.date !== null ? new Date(index.search.date) : new Date());
    const prepared: NewMessage = { blob, index, flags: message.flags, internalDate: validDate(internalDate) };
    if (message.keywords.length > 0) prepared.keywords = message.keywords;
    return prepared;
  }

  /**
   * The batch in doubt is committed whole or not at all, and it is the first thing read after
   * the journal's position: its messages are skipped while they match, and the check ends at
   * the first message that does not.
   */
  private isCommittedDuplicate(mailbox: string, blob: StagedBlob): boolean {
    if (!this.doubt) return false;
    const count = this.doubt.mailbox === mailbox ? (this.doubt.hashes.get(blob.hash) ?? 0) : 0;
    if (count === 0) {
      this.doubt = null;
      return false;
    }
    this.doubt.hashes.set(blob.hash, count - 1);
    this.duplicatesSkipped++;
    return true;
  }

  private async stage(bytes: Buffer): Promise<StagedBlob> {
    const writer = this.options.store.createBlobWriter();
    try {
      await writer.write(bytes);
      return await writer.finish();
    } catch (err) {
      await writer.abort().catch(() => undefined);
      throw err;
    }
  }

  private async commit(batch: Batch): Promise<void> {
    const { store, account } = this.options;
    if (batch.messages.length > 0) {
      const mailbox = await this.mailbox(batch.mailbox);
      if (this.state.doubt?.mailbox !== batch.mailbox) {
        // Record the UID floor of a mailbox before its first batch, so a crash right after is resolvable.
        const current = (await store.getMailboxById(mailbox.id)) ?? mailbox;
        this.state.doubt = { mailbox: batch.mailbox, uidFloor: current.uidNext };
        await this.saveJournal();
      }
      let results;
      try {
        results = await store.append(account.id, mailbox.id, batch.messages);
      } catch (err) {
        throw this.describeStoreFailure(err);
      }
      const last = results[results.length - 1];
      if (last) this.state.doubt = { mailbox: batch.mailbox, uidFloor: last.uid + 1 };
      this.state.messages += batch.messages.length;
      this.imported += batch.messages.length;
      this.bytes += batch.bytes;
      this.touched.add(batch.mailbox);
    }
    for (const markDone of batch.done) markDone(this.state);
    await this.saveJournal();
    this.reportProgress();
  }

  private async saveJournal(): Promise<void> {
    await this.reader.seal(this.state);
    await writeJournal(this.journalFile, this.state);
  }

  private reportProgress(): void {
    const now = Date.now();
    if (!this.options.onProgress || now - this.lastProgress < PROGRESS_INTERVAL_MS) return;
    this.lastProgress = now;
    this.options.onProgress({ messages: this.imported, bytes: this.bytes, elapsedMs: now - this.started });
  }

  private describeStoreFailure(err: unknown): Error {
    if (!(err instanceof StoreError)) return err instanceof Error ? err : new Error(String(err));
    if (err.code === 'overQuota') {
      return new ImportError(
        'overQuota',
        `over quota after ${this.state.messages} imported messages; raise the quota (mailhaven user quota) and run the same import again to continue`,
      );
    }
    return new ImportError('source', `store: ${err.message}`);
  }

  /** The mailbox by name, created (with missing parents) when absent. */
  private async mailbox(name: string): Promise<Mailbox> {
    const cached = this.mailboxes.get(name);
    if (cached) return cached;
    const { store, account } = this.options;
    let mailbox = await store.getMailbox(account.id, name);
    if (!mailbox) {
      const parts = name.split('/');
      for (let depth = 1; depth <= parts.length; depth++) {
        mailbox = await this.findOrCreate(parts.slice(0, depth).join('/'));
      }
    }
    if (!mailbox) throw new ImportError('mailbox', `cannot create mailbox "${name}"`);
    this.mailboxes.set(name, mailbox);
    return mailbox;
  }

  private async findOrCreate(name: string): Promise<Mailbox> {
    const { store, account } = this.options;
    const existing = await store.getMailbox(account.id, name);
    if (existing) return existing;
    try {
      return await store.createMailbox(account.id, name);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'exists') {
        const raced = await store.getMailbox(account.id, name);
        if (raced) return raced;
      }
      const reason = err instanceof Error ? err.message : String(err);
      throw new ImportError('mailbox', `cannot create mailbox "${name}": ${reason}`);
    }
  }
}

async function rethrow(outcome: Promise<Error | null>): Promise<void> {
  const err = await outcome;
  if (err !== null) throw err;
}

/** Dates the store can keep: a bogus year from a broken header becomes "now". */
function validDate(date: Date): Date {
  const time = date.getTime();
  return Number.isFinite(time) && time > 0 && time < Date.UTC(10000, 0, 1) ? date : new Date();
}
