/**
 * Import sources behind one shape: a stream of messages not imported yet (per the journal),
 * each able to record its own position in the journal once its batch is committed.
 */
import { stat } from 'node:fs/promises';
import { relative } from 'node:path';
import { ImportError } from './errors.js';
import { hashBeforeOffset } from './journal.js';
import type { JournalState } from './journal.js';
import { normalizeMessage } from './line-endings.js';
import { compareEntries, listMaildirFolders, listMaildirMessages, readMaildirMessage } from './maildir-reader.js';
import { readMbox } from './mbox-reader.js';
import { statusFromHeader } from './status-headers.js';

export interface SourceMessage {
  /** Target mailbox name. */
  mailbox: string;
  /** CRLF message bytes. */
  bytes: Buffer;
  flags: number;
  keywords: string[];
  /** INTERNALDATE from the source (From_ line, Maildir file name or mtime); null: use the Date header. */
  date: Date | null;
  /** Records in the journal that this message (and all before it) is done. */
  markDone: (state: JournalState) => void;
}

export interface ImportReader {
  /** Every mailbox the source maps to, created before the first message (empty ones too). */
  mailboxes(): Promise<string[]>;
  messages(): AsyncGenerator<SourceMessage>;
  /** Brings position data that is costly to compute up to date before the journal is written. */
  seal(state: JournalState): Promise<void>;
}

export async function openMboxReader(path: string, state: JournalState, mailbox: string): Promise<ImportReader> {
  const offset = state.mbox?.offset ?? 0;
  if (offset > 0) await checkMboxUnchanged(path, offset, state.mbox?.checkHash ?? '');
  return {
    mailboxes: () => Promise.resolve([mailbox]),
    async *messages() {
      for await (const message of readMbox(path, offset)) {
        const status = statusFromHeader(message.bytes);
        const end = message.end; // the closure keeps only the offset, not the message bytes
        yield {
          mailbox,
          bytes: message.bytes,
          flags: status.flags,
          keywords: status.keywords,
          date: message.fromLineDate,
          markDone: (journal) => {
            journal.mbox = { offset: end, checkHash: '' };
          },
        };
      }
    },
    async seal(journal) {
      if (journal.mbox && journal.mbox.checkHash === '') journal.mbox.checkHash = await hashBeforeOffset(path, journal.mbox.offset);
    },
  };
}

async function checkMboxUnchanged(path: string, offset: number, checkHash: string): Promise<void> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new ImportError('source', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (size < offset || (await hashBeforeOffset(path, offset)) !== checkHash) {
    throw new ImportError('changed', `${path} changed since the earlier import stopped at byte ${offset}`);
  }
}

export async function openMaildirReader(root: string, state: JournalState, mailboxOverride: string | null): Promise<ImportReader> {
  const folders = await listMaildirFolders(root);
  // Where the earlier runs stopped, per folder (a snapshot: the journal object changes as batches commit).
  const lastDone = new Map(Object.entries(state.maildir ?? {}));
  return {
    mailboxes: () => Promise.resolve([...new Set(folders.map((folder) => mailboxOverride ?? folder.mailbox))]),
    async *messages() {
      for (const folder of folders) {
        const folderKey = relative(root, folder.path) || '.';
        const entries = await listMaildirMessages(folder);
        for (const entry of entries) {
          const done = lastDone.get(folderKey);
          if (done && compareEntries(entry, { key: done.key, nameSeconds: done.seconds }) <= 0) continue;
          const { bytes, date } = await readMaildirMessage(entry);
          yield {
            mailbox: mailboxOverride ?? folder.mailbox,
            bytes: normalizeMessage(bytes, { unescapeFrom: false }),
            flags: entry.flags,
            keywords: entry.keywords,
            date,
            markDone: (journal) => {
              (journal.maildir ??= {})[folderKey] = { seconds: entry.nameSeconds, key: entry.key };
            },
          };
        }
      }
    },
    seal: () => Promise.resolve(),
  };
}
