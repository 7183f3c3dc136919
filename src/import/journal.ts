/**
 * The progress journal that makes an import restartable.
 *
 * One JSON file per (account, source, --mailbox) in `<data_dir>/import/`, replaced atomically
 * (write, fsync, rename) after every committed batch. It records where the source has been
 * read up to (mbox: a byte offset plus a hash of the bytes before it, to notice a rewritten
 * file; Maildir: per folder, the last file taken in import order), and the "batch in doubt":
 * the mailbox and the UIDNEXT it had before the next batch is committed. A crash between a
 * batch's commit and the journal write leaves exactly that batch in doubt; the next run skips
 * those of its messages whose blob hash is already in the mailbox at or above that UID.
 *
 * A finished import keeps its journal: running the same import again only takes messages
 * added to the source since (none for an unchanged file).
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

export const JOURNAL_VERSION = 1;
/** Bytes before the resume offset whose hash must still match (detects a rewritten mbox). */
export const MBOX_CHECK_WINDOW = 64 * 1024;

export interface MaildirPosition {
  /** `nameSeconds` of the last message taken (null: the file name had none). */
  seconds: number | null;
  key: string;
}

export interface JournalState {
  version: number;
  account: string;
  source: { kind: 'mbox' | 'maildir'; path: string };
  /** The --mailbox option, or null. */
  mailbox: string | null;
  /** Messages imported by all runs together. */
  messages: number;
  /** Mailbox of the next batch and its UIDNEXT before that batch: messages at or above may be in doubt. */
  doubt: { mailbox: string; uidFloor: number } | null;
  mbox?: { offset: number; checkHash: string };
  /** Per folder (relative path, "." for the top), the last message taken. */
  maildir?: Record<string, MaildirPosition>;
  updatedAt: string;
}

export interface JournalIdentity {
  account: string;
  /** Tells a re-created account of the same address apart (its id and creation time). */
  accountKey: string;
  kind: 'mbox' | 'maildir';
  /** Real path of the source. */
  path: string;
  mailbox: string | null;
}

export function journalDirectory(dataDir: string): string {
  return join(dataDir, 'import');
}

export function journalPath(dataDir: string, identity: JournalIdentity): string {
  const digest = createHash('sha256')
    .update([identity.account, identity.accountKey, identity.kind, identity.path, identity.mailbox ?? ''].join('\0'))
    .digest('hex')
    .slice(0, 32);
  return join(journalDirectory(dataDir), `${identity.kind}-${digest}.json`);
}

export function newJournal(identity: JournalIdentity): JournalState {
  return {
    version: JOURNAL_VERSION,
    account: identity.account,
    source: { kind: identity.kind, path: identity.path },
    mailbox: identity.mailbox,
    messages: 0,
    doubt: null,
    updatedAt: new Date().toISOString(),
  };
}

/** The saved state, or null when there is none (or it is unreadable: then the import starts over). */
export async function readJournal(path: string): Promise<JournalState | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const state = JSON.parse(text) as JournalState;
    return state.version === JOURNAL_VERSION ? state : null;
  } catch {
    return null;
  }
}

/** Replaces the journal atomically and durably: a crash leaves the old or the new state, never half. */
export async function writeJournal(path: string, state: JournalState): Promise<void> {
  const dir = join(path, '..');
  await mkdir(dir, { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}

/** sha256 of the file's bytes [max(0, offset - MBOX_CHECK_WINDOW), offset). */
export async function hashBeforeOffset(path: string, offset: number): Promise<string> {
  const start = Math.max(0, offset - MBOX_CHECK_WINDOW);
  const buffer = Buffer.alloc(offset - start);
  const handle = await open(path, 'r');
  try {
    let read = 0;
    while (read < buffer.length) {
      const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return createHash('sha256').update(buffer.subarray(0, read)).digest('hex');
  } finally {
    await handle.close();
  }
}
