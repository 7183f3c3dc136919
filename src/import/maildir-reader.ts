/**
 * Reads a Maildir (or Maildir++ tree) as a list of folders, each a sorted list of messages.
 *
 * - Messages are the files in `new/` and `cur/`; `tmp/` is ignored (deliveries in progress).
 * - Flags come from the info suffix ":2,<letters>" of the file name (https://cr.yp.to/proto/maildir.html):
 *   S \Seen, R \Answered (replied), F \Flagged, T \Deleted (trashed), D \Draft; lower-case a–z are
 *   Dovecot keywords, numbered by the folder's `dovecot-keywords` file ("0 $Forwarded").
 * - INTERNALDATE is the leading seconds of the file name ("1700000000.M1P2.host"), else the mtime.
 * - Maildir++ subfolders ".Sent", ".Archive.2024" are mailboxes "Sent", "Archive/2024"
 *   (names in modified UTF-7 are decoded).
 * Messages are ordered by that date, then by name, so UIDs follow arrival order and a resumed
 * import finds its place again (./journal.ts).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SystemFlag } from '../store/types.js';
import { ImportError } from './errors.js';
import { validKeywords } from './keywords.js';
import { decodeModifiedUtf7 } from './mutf7.js';

export interface MaildirFolder {
  /** Mailbox name, "/" as hierarchy delimiter; "INBOX" for the top folder. */
  mailbox: string;
  path: string;
}

export interface MaildirEntry {
  /** The file name without the ":2,..." info: stable when a client changes flags. */
  key: string;
  path: string;
  flags: number;
  keywords: string[];
  /** Seconds from the file name, or null (then the file's mtime is used). */
  nameSeconds: number | null;
}

const FLAG_LETTERS: Record<string, number> = {
  S: SystemFlag.Seen,
  R: SystemFlag.Answered,
  F: SystemFlag.Flagged,
  T: SystemFlag.Deleted,
  D: SystemFlag.Draft,
};

/** The top folder (INBOX) when it has cur/ or new/, then the Maildir++ subfolders sorted by name. */
export async function listMaildirFolders(root: string): Promise<MaildirFolder[]> {
  let entries: string[];
  try {
    entries = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    throw new ImportError('source', `cannot read ${root}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const folders: MaildirFolder[] = [];
  if (entries.includes('cur') || entries.includes('new')) folders.push({ mailbox: 'INBOX', path: root });
  const subfolders: MaildirFolder[] = [];
  for (const name of entries) {
    if (!name.startsWith('.') || name === '.' || name === '..') continue;
    const path = join(root, name);
    if (!(await isMaildir(path))) continue;
    const mailbox = name
      .slice(1)
      .split('.')
      .map(decodeModifiedUtf7)
      .join('/');
    if (mailbox === '' || mailbox.split('/').includes('')) continue;
    subfolders.push({ mailbox: mailbox.toUpperCase() === 'INBOX' ? 'INBOX' : mailbox, path });
  }
  subfolders.sort((a, b) => (a.mailbox < b.mailbox ? -1 : a.mailbox > b.mailbox ? 1 : 0));
  folders.push(...subfolders);
  if (folders.length === 0) throw new ImportError('source', `${root} is not a Maildir: no cur/, new/ or Maildir++ subfolders`);
  return folders;
}

async function isMaildir(path: string): Promise<boolean> {
  for (const sub of ['cur', 'new']) {
    try {
      if ((await stat(join(path, sub))).isDirectory()) return true;
    } catch {
      // missing: try the other one
    }
  }
  return false;
}

/** The messages of one folder, in import order. */
export async function listMaildirMessages(folder: MaildirFolder): Promise<MaildirEntry[]> {
  const keywordNames = await readDovecotKeywords(folder.path);
  const entries: MaildirEntry[] = [];
  for (const sub of ['new', 'cur'] as const) {
    const dir = join(folder.path, sub);
    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    } catch {
      continue; // a folder may lack new/ or cur/
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      entries.push(parseEntry(join(dir, name), name, keywordNames));
    }
  }
  return entries.sort(compareEntries);
}

export function compareEntries(a: Pick<MaildirEntry, 'key' | 'nameSeconds'>, b: Pick<MaildirEntry, 'key' | 'nameSeconds'>): number {
  const sa = a.nameSeconds ?? Number.MAX_SAFE_INTEGER;
  const sb = b.nameSeconds ?? Number.MAX_SAFE_INTEGER;
  if (sa !== sb) return sa - sb;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function parseEntry(path: string, name: string, keywordNames: ReadonlyMap<string, string>): MaildirEntry {
  // "unique:2,FLAGS"; some tools use "!" or ";" where ":" is not allowed in file names.
  const info = /^(.*?)[:!;]2,([A-Za-z]*)$/.exec(name);
  const key = info?.[1] ?? name;
  const letters = info?.[2] ?? '';
  let flags = 0;
  const keywords: string[] = [];
  for (const letter of letters) {
    const flag = FLAG_LETTERS[letter];
    if (flag !== undefined) flags |= flag;
    const keyword = keywordNames.get(letter);
    if (keyword !== undefined) keywords.push(keyword);
  }
  const seconds = /^(\d{1,12})(?:\.|$)/.exec(key);
  return { key, path, flags, keywords: validKeywords(keywords), nameSeconds: seconds ? Number(seconds[1]) : null };
}

/** Dovecot's `dovecot-keywords`: "<index> <keyword>" lines; index 0 is letter "a". */
async function readDovecotKeywords(folderPath: string): Promise<Map<string, string>> {
  const letters = new Map<string, string>();
  let text: string;
  try {
    text = await readFile(join(folderPath, 'dovecot-keywords'), 'utf8');
  } catch {
    return letters;
  }
  for (const line of text.split(/\r?\n/)) {
    const match = /^(\d+) (\S+)$/.exec(line.trim());
    if (!match) continue;
    const index = Number(match[1]);
    if (index < 26) letters.set(String.fromCharCode(0x61 + index), match[2] ?? '');
  }
  return letters;
}

/** The message bytes and the date to store as INTERNALDATE. */
export async function readMaildirMessage(entry: MaildirEntry): Promise<{ bytes: Buffer; date: Date }> {
  try {
    const bytes = await readFile(entry.path);
    const date = entry.nameSeconds !== null ? new Date(entry.nameSeconds * 1000) : (await stat(entry.path)).mtime;
    return { bytes, date };
  } catch (err) {
    throw new ImportError('source', `cannot read ${entry.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
