/**
 * Shared set-up for the SEARCH engine tests and bench/search.ts: a real SQLite store in a temp
 * dir, messages indexed with mime/indexer and stored through the MailStore interface, a
 * SearchContext built from the store's rows the way a session would, and search keys parsed
 * from command text by the real wire parser.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { LocalChangeBus } from '../../src/events/local.js';
import { StoreSearchSource } from '../../src/imap/search/index.js';
import type { SearchContext, SearchKey, SearchMessage } from '../../src/imap/search/types.js';
import { indexMessage } from '../../src/mime/indexer.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { MailStore, NewMessage } from '../../src/store/types.js';
import { ImapReceiver, parseCommand } from '../../src/wire/imap/index.js';

export interface SearchFixture {
  readonly store: MailStore;
  readonly accountId: number;
  readonly mailboxId: number;
  close(): Promise<void>;
}

export async function openSearchFixture(): Promise<SearchFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-search-'));
  const bus = new LocalChangeBus();
  const store = await openSqliteStore({ dataDir, bus, pollIntervalMs: 0, sweepIntervalMs: 0 });
  await store.addDomain('example.org');
  const account = await store.addAccount('user@example.org', '$argon2id$x', null);
  const inbox = await store.getMailbox(account.id, 'INBOX');
  if (inbox === null) throw new Error('no INBOX');
  return {
    store,
    accountId: account.id,
    mailboxId: inbox.id,
    close: async () => {
      await store.close();
      await bus.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestMessage {
  /** The message, lines joined with CRLF by `crlf`. */
  readonly raw: string | Buffer;
  readonly flags?: number;
  readonly keywords?: string[];
  readonly internalDate?: Date;
}

/** Lines joined with CRLF, ending with one. */
export function crlf(...lines: string[]): string {
  return lines.join('\r\n') + '\r\n';
}

async function stage(store: MailStore, bytes: Buffer): Promise<NewMessage['blob']> {
  const writer = store.createBlobWriter();
  await writer.write(bytes);
  return writer.finish();
}

/** Appends messages in order (in batches of `batch` per transaction); resolves to their UIDs. */
export async function appendMessages(fx: SearchFixture, messages: readonly TestMessage[], batch = 500): Promise<number[]> {
  const uids: number[] = [];
  for (let at = 0; at < messages.length; at += batch) {
    const news: NewMessage[] = [];
    for (const m of messages.slice(at, at + batch)) {
      const bytes = Buffer.isBuffer(m.raw) ? m.raw : Buffer.from(m.raw, 'utf8');
      news.push({ blob: await stage(fx.store, bytes), index: indexMessage(bytes), flags: m.flags ?? 0, keywords: m.keywords ?? [], internalDate: m.internalDate });
    }
    const results = await fx.store.append(fx.accountId, fx.mailboxId, news);
    uids.push(...results.map((r) => r.uid));
  }
  return uids;
}

/**
 * Grows the mailbox to `target` messages by copying its first messages into itself (copies
 * share blobs, so this costs no blob writes). UID u then holds the same message as UID
 * ((u - 1) % n) + 1, where n is the count before, when the UIDs started at 1 without gaps.
 */
export async function copyUntil(fx: SearchFixture, target: number): Promise<void> {
  for (;;) {
    const count = (await fx.store.listMessages(fx.mailboxId)).length;
    if (count >= target || count === 0) return;
    const uids = Array.from({ length: Math.min(count, target - count) }, (_, i) => i + 1);
    await fx.store.copy(fx.accountId, fx.mailboxId, uids, fx.mailboxId);
  }
}

/** Delivers one message with a per-recipient prefix (Delivered-To...); resolves to its UID. */
export async function deliverWithPrefix(fx: SearchFixture, raw: string, prefix: string, internalDate: Date): Promise<number> {
  const bytes = Buffer.from(raw, 'utf8');
  const [outcome] = await fx.store.deliver(await stage(fx.store, bytes), indexMessage(bytes), [{ accountId: fx.accountId, prefix: Buffer.from(prefix, 'utf8') }], internalDate);
  if (outcome?.ok !== true) throw new Error('delivery failed');
  return outcome.uid;
}

export interface ContextOptions {
  recent?: readonly number[];
  savedResult?: readonly number[] | null;
  charset?: 'UTF-8' | 'US-ASCII';
  timeZoneOffsetMinutes?: number;
  checkpoint?: () => Promise<void>;
  /** Content accessors; default a StoreSearchSource on the fixture's mailbox. */
  source?: Pick<SearchContext, 'loadIndex' | 'readHeader' | 'readText'>;
}

/** A SearchContext over the mailbox as it is now, built the way a session builds its view. */
export async function searchContext(fx: SearchFixture, options: ContextOptions = {}): Promise<SearchContext> {
  const rows = await fx.store.listMessages(fx.mailboxId);
  const recent = new Set(options.recent ?? []);
  const messages: SearchMessage[] = rows.map((row, i) => ({
    seq: i + 1,
    uid: row.uid,
    flags: row.flags,
    keywords: row.keywords,
    recent: recent.has(row.uid),
    internalDate: row.internalDate,
    size: row.size,
    modseq: row.modseq,
    blobHash: row.blobHash,
  }));
  const source = options.source ?? new StoreSearchSource({ store: fx.store, mailboxId: fx.mailboxId });
  return {
    messages,
    charset: options.charset ?? 'UTF-8',
    savedResult: options.savedResult ?? null,
    timeZoneOffsetMinutes: options.timeZoneOffsetMinutes ?? 0,
    loadIndex: (uid) => source.loadIndex(uid),
    readHeader: (uid) => source.readHeader(uid),
    readText: (uid) => source.readText(uid),
    checkpoint: options.checkpoint ?? (() => yieldToEventLoop()),
  };
}

/** A literal for non-ASCII or awkward strings in command text: `{n+}CRLF` then the bytes. */
export function literal(text: string): string {
  return `{${Buffer.byteLength(text, 'utf8')}+}\r\n${text}`;
}

/**
 * The search key of a command line such as `SEARCH OR SEEN FLAGGED` or
 * `UID SEARCH CHARSET UTF-8 BODY {4+}\r\nxxxx`, parsed by the wire layer, with the criteria
 * ANDed as the session does.
 */
export function parseSearchKey(commandText: string): { key: SearchKey; charset: string | null } {
  const receiver = new ImapReceiver({ maxLineLength: 100_000, maxLiteralSize: 100_000, maxAppendLiteralSize: 100_000, maxLiteralsPerCommand: 100 });
  receiver.push(Buffer.from(`t ${commandText}\r\n`, 'utf8'));
  for (let event = receiver.next(); event !== null; event = receiver.next()) {
    if (event.type === 'needContinuation') receiver.acceptLiteral();
    else if (event.type === 'command') {
      const command = parseCommand(event.tag, event.name, event.args);
      if (command.name !== 'SEARCH') throw new Error(`not a SEARCH: ${command.name}`);
      const [first, ...rest] = command.criteria;
      if (first === undefined) throw new Error('no criteria');
      return { key: rest.length === 0 ? first : { type: 'AND', keys: command.criteria }, charset: command.charset };
    }
  }
  throw new Error('no command event');
}
