/**
 * `mailhaven export ADDRESS --maildir DIR | --mbox FILE`: an account's mail in the formats every
 * mail program and server reads, the inverse of src/import (a re-import gives the same mailboxes,
 * messages and flags):
 *
 * - Maildir++: INBOX in DIR, each other mailbox in DIR/.Name (levels joined by ".", names in
 *   modified UTF-7); every message in cur/ as "<seconds>.M<uid>P<pid>.<host>,S=<size>:2,<flags>"
 *   with the flag letters of cr.yp.to/proto/maildir.html and Dovecot keyword letters listed in
 *   the folder's dovecot-keywords; the file time is the INTERNALDATE.
 * - mboxrd: one mailbox per file, LF line endings, a From_ line with the Return-Path and the
 *   INTERNALDATE, ">" added before every line matching /^>*From /, and the flags in Status,
 *   X-Status and X-Keywords fields (mutt, Dovecot), replacing any such fields already there.
 * @module
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, utimes, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { encodeMailboxName } from '../wire/imap/mutf7.js';
import type { Account, Mailbox, MailStore, MessageMeta } from '../store/types.js';
import { SystemFlag } from '../store/types.js';

export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

export interface ExportSummary {
  mailboxes: number;
  messages: number;
  bytes: number;
}

export interface ExportOptions {
  store: MailStore;
  address: string;
  /** Only this mailbox (default: all for Maildir, INBOX for mbox). */
  mailbox?: string;
}

async function accountOf(store: MailStore, address: string): Promise<Account> {
  const account = await store.getAccount(address);
  if (account === null) throw new ExportError(`no such user: ${address}`);
  return account;
}

async function mailboxesOf(store: MailStore, account: Account, only: string | undefined): Promise<Mailbox[]> {
  const all = await store.listMailboxes(account.id);
  if (only === undefined) return all.sort((a, b) => (a.name === 'INBOX' ? -1 : b.name === 'INBOX' ? 1 : a.name < b.name ? -1 : 1));
  const box = all.find((candidate) => candidate.name === only || (only.toUpperCase() === 'INBOX' && candidate.name === 'INBOX'));
  if (box === undefined) throw new ExportError(`${account.address} has no mailbox "${only}"`);
  return [box];
}

// ---- Maildir ---------------------------------------------------------------------------

const FLAG_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [SystemFlag.Draft, 'D'],
  [SystemFlag.Flagged, 'F'],
  [SystemFlag.Answered, 'R'],
  [SystemFlag.Seen, 'S'],
  [SystemFlag.Deleted, 'T'],
];
/** Dovecot maps keywords to the letters a–z, in the order of dovecot-keywords. */
const KEYWORD_LETTERS = 'abcdefghijklmnopqrstuvwxyz';
// A folder's keywords beyond the 26th have no letter and are left out of the file names.

export async function exportMaildir(options: ExportOptions & { directory: string }): Promise<ExportSummary> {
  const account = await accountOf(options.store, options.address);
  const boxes = await mailboxesOf(options.store, account, options.mailbox);
  const host = osHostname().replace(/[/:]/g, '_');
  let messages = 0;
  let bytes = 0;
  for (const box of boxes) {
    const folder = box.name === 'INBOX' ? options.directory : join(options.directory, maildirFolderName(box.name));
    for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(folder, sub), { recursive: true });
    if (box.name !== 'INBOX') await writeFile(join(folder, 'maildirfolder'), '');
    const list = await options.store.listMessages(box.id);
    const keywords = [...new Set(list.flatMap((message) => message.keywords))].slice(0, KEYWORD_LETTERS.length);
    if (keywords.length > 0) await writeFile(join(folder, 'dovecot-keywords'), keywords.map((keyword, i) => `${i} ${keyword}\n`).join(''));
    for (const message of list) {
      const name = `${Math.floor(message.internalDate.getTime() / 1000)}.M${message.uid}P${process.pid}.${host},S=${message.size}:2,${maildirFlags(message, keywords)}`;
      const temp = join(folder, 'tmp', name.slice(0, name.indexOf(':')));
      await writeMessage(options.store, message, temp, (chunk) => chunk);
      await utimes(temp, message.internalDate, message.internalDate);
      await rename(temp, join(folder, 'cur', name));
      messages++;
      bytes += message.size;
    }
  }
  return { mailboxes: boxes.length, messages, bytes };
}

/** "Archive/2024" → ".Archive.2024"; each level in modified UTF-7, a "." inside a level as "&AC4-". */
export function maildirFolderName(mailbox: string): string {
  return `.${mailbox
    .split('/')
    .map((level) => encodeMailboxName(level).replace(/\./g, '&AC4-'))
    .join('.')}`;
}

function maildirFlags(message: MessageMeta, keywords: readonly string[]): string {
  const system = FLAG_LETTERS.filter(([flag]) => (message.flags & flag) !== 0).map(([, letter]) => letter);
  const custom = message.keywords.map((keyword) => KEYWORD_LETTERS[keywords.indexOf(keyword)]).filter((letter): letter is string => letter !== undefined);
  // Maildir: letters in ASCII order (upper case before lower case).
  return [...system, ...custom.sort()].join('');
}

/** Streams one message into a new file through `transform`, fsynced before it is renamed. */
async function writeMessage(store: MailStore, message: MessageMeta, path: string, transform: (chunk: Buffer) => Buffer): Promise<void> {
  const input = await store.openMessage(message);
  const output = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  for await (const chunk of input as AsyncIterable<Buffer>) {
    if (!output.write(transform(chunk))) await new Promise<void>((resolve) => output.once('drain', () => resolve()));
  }
  output.end();
  await finished(output);
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// ---- mbox ------------------------------------------------------------------------------

export async function exportMbox(options: ExportOptions & { file: string }): Promise<ExportSummary> {
  const account = await accountOf(options.store, options.address);
  const [box] = await mailboxesOf(options.store, account, options.mailbox ?? 'INBOX');
  if (box === undefined) throw new ExportError(`${account.address} has no INBOX`);
  const temp = `${options.file}.${process.pid}.tmp`;
  const output = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
  let messages = 0;
  let bytes = 0;
  try {
    for (const message of await options.store.listMessages(box.id)) {
      const content = await options.store.readMessage(message);
      const text = mboxEntry(content, message);
      if (!output.write(text)) await new Promise<void>((resolve) => output.once('drain', () => resolve()));
      messages++;
      bytes += message.size;
    }
    output.end();
    await finished(output);
  } catch (err) {
    output.destroy();
    throw err;
  }
  await rename(temp, options.file);
  return { mailboxes: 1, messages, bytes };
}

/** One mboxrd entry: From_ line, status fields, the message with LF endings and quoted From lines, an empty line. */
export function mboxEntry(content: Buffer, message: Pick<MessageMeta, 'flags' | 'keywords' | 'internalDate'>): Buffer {
  const text = content.toString('latin1').replace(/\r\n/g, '\n');
  const { header, body } = splitMessage(text);
  const returnPath = /^Return-Path:[ \t]*<([^>\s]*)>/im.exec(header)?.[1];
  const sender = returnPath === undefined || returnPath === '' ? 'MAILER-DAEMON' : returnPath;
  const kept = removeFields(header, ['status', 'x-status', 'x-keywords']);
  const status = statusFields(message);
  const joined = `${kept}${status}${body}`;
  const quoted = joined.replace(/^(>*From )/gm, '>$1');
  const ending = quoted.endsWith('\n') ? '' : '\n';
  return Buffer.from(`From ${sender} ${asctime(message.internalDate)}\n${quoted}${ending}\n`, 'latin1');
}

/** The header with its last newline, and the body from the empty line on (which it starts with). */
function splitMessage(text: string): { header: string; body: string } {
  if (text.startsWith('\n')) return { header: '', body: text };
  const split = text.indexOf('\n\n');
  if (split === -1) return { header: text.endsWith('\n') ? text : `${text}\n`, body: '\n' };
  return { header: text.slice(0, split + 1), body: text.slice(split + 1) };
}

function removeFields(header: string, names: readonly string[]): string {
  const lines = header.split('\n');
  const out: string[] = [];
  let skipping = false;
  for (const line of lines) {
    if (/^[ \t]/.test(line) && skipping) continue;
    const name = /^([^:\s]+)[ \t]*:/.exec(line)?.[1]?.toLowerCase();
    skipping = name !== undefined && names.includes(name);
    if (!skipping) out.push(line);
  }
  return out.join('\n');
}

function statusFields(message: Pick<MessageMeta, 'flags' | 'keywords'>): string {
  const has = (flag: number): boolean => (message.flags & flag) !== 0;
  const status = `${has(SystemFlag.Seen) ? 'R' : ''}O`;
  const xStatus = [has(SystemFlag.Answered) ? 'A' : '', has(SystemFlag.Flagged) ? 'F' : '', has(SystemFlag.Draft) ? 'T' : '', has(SystemFlag.Deleted) ? 'D' : ''].join('');
  const lines = [`Status: ${status}`];
  if (xStatus !== '') lines.push(`X-Status: ${xStatus}`);
  if (message.keywords.length > 0) lines.push(`X-Keywords: ${message.keywords.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** asctime(3) in UTC: "Sun Jan  5 20:41:55 2022". */
function asctime(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${String(date.getUTCDate()).padStart(2, ' ')} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} ${date.getUTCFullYear()}`;
}
