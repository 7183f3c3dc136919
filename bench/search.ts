/**
 * SEARCH benchmark: the engine of src/imap/search over 10,000 distinct messages in a fresh
 * SQLite store (fsync on, temp dir under `<cwd>/.tmp` as the other benchmarks), read through
 * StoreSearchSource as a session would. Messages are 2 to 9 KiB and varied: plain 7bit,
 * quoted-printable Latin-1, multipart/alternative with HTML, base64 UTF-8 with a PDF
 * attachment. One in 50 mentions the needle in its body, one in 100 in its subject.
 *
 * Figures (messages examined per second, wall clock, median of 3 runs):
 * - text: SEARCH TEXT without the text cache (every header and text part read and decoded);
 * - textCachedCold / textCachedWarm: the same through a TextCache, first run and repeat
 *   (a search-as-you-type client repeats searches). TEXT still reads each header (the header
 *   can hold per-recipient lines, so it is not cached by blob); BODY is the pure case:
 * - body, bodyCachedWarm: SEARCH BODY without the cache and with a warm one;
 * - subject: SEARCH SUBJECT (index rows only); flags: SEARCH FLAGGED NOT SEEN (metadata only);
 * - eventLoopDelayP99Ms / eventLoopMaxDelayMs: event-loop delay (1 ms resolution) during the
 *   uncached TEXT runs: how long another connection could have waited;
 * - cacheMiB: bytes the cache holds after the runs.
 * Prints nothing; returns figures.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { LocalChangeBus } from '../src/events/local.js';
import { StoreSearchSource, TextCache, createSearchEngine } from '../src/imap/search/index.js';
import type { EvaluateSearch, SearchContext, SearchKey, SearchMessage } from '../src/imap/search/types.js';
import { indexMessage } from '../src/mime/indexer.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { MailStore, NewMessage } from '../src/store/types.js';
import { SystemFlag } from '../src/store/types.js';

export interface BenchSearchOptions {
  /** Messages in the mailbox; default 10,000. */
  messages?: number;
  /** Parent directory of the temp folder; default `<cwd>/.tmp`. */
  dir?: string;
  /** Runs per figure (the median is reported); default 3. */
  runs?: number;
}

const NEEDLE = 'zanzibar';

export async function benchSearch(opts: BenchSearchOptions = {}): Promise<Record<string, number>> {
  const total = opts.messages ?? 10_000;
  const runs = opts.runs ?? 3;
  const parent = opts.dir ?? join(process.cwd(), '.tmp');
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'bench-search-'));
  const bus = new LocalChangeBus();
  const store = await openSqliteStore({ dataDir: dir, bus, pollIntervalMs: 0, sweepIntervalMs: 0 });
  try {
    await store.addDomain('bench.example');
    const account = await store.addAccount('bench@bench.example', '$argon2id$bench', null);
    const inbox = await store.getMailbox(account.id, 'INBOX');
    if (inbox === null) throw new Error('no INBOX');
    await fill(store, account.id, inbox.id, total);
    const ctx = await contextOf(store, inbox.id);

    const text: SearchKey = { type: 'TEXT', value: Buffer.from(NEEDLE) };
    const expectedText = expectedTextMatches(total);
    const plain = createSearchEngine();
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const textRate = await median(runs, () => rate(plain, text, ctx, expectedText));
    delay.disable();

    const cache = new TextCache({ maxBytes: 256 * 1024 * 1024 });
    const cached = createSearchEngine({ textCache: cache });
    const cold = await rate(cached, text, ctx, expectedText);
    const warm = await median(runs, () => rate(cached, text, ctx, expectedText));

    const body: SearchKey = { type: 'BODY', value: Buffer.from(NEEDLE) };
    const expectedBody = expectedBodyMatches(total);
    const bodyRate = await median(runs, () => rate(plain, body, ctx, expectedBody));
    await rate(cached, body, ctx, expectedBody);
    const bodyWarm = await median(runs, () => rate(cached, body, ctx, expectedBody));

    const subject: SearchKey = { type: 'SUBJECT', value: Buffer.from(NEEDLE) };
    const subjectRate = await median(runs, () => rate(plain, subject, ctx, Math.ceil(total / 100)));
    const flags: SearchKey = { type: 'AND', keys: [{ type: 'FLAGGED' }, { type: 'NOT', key: { type: 'SEEN' } }] };
    const flagsRate = await median(runs, () => rate(plain, flags, ctx, null));

    return {
      textMessagesPerSecond: textRate,
      textCachedColdMessagesPerSecond: cold,
      textCachedWarmMessagesPerSecond: warm,
      bodyMessagesPerSecond: bodyRate,
      bodyCachedWarmMessagesPerSecond: bodyWarm,
      subjectMessagesPerSecond: subjectRate,
      flagsMessagesPerSecond: flagsRate,
      eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
      eventLoopMaxDelayMs: delay.max / 1e6,
      cacheMiB: cache.stats.bytes / 2 ** 20,
    };
  } finally {
    await store.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Messages per second of one search; checks the number of matches when `expected` is given. */
async function rate(engine: EvaluateSearch, key: SearchKey, ctx: SearchContext, expected: number | null): Promise<number> {
  const started = process.hrtime.bigint();
  const uids = await engine(key, ctx);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (expected !== null && uids.length !== expected) throw new Error(`expected ${expected} matches, got ${uids.length}`);
  return ctx.messages.length / seconds;
}

async function median(runs: number, measure: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await measure());
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

async function contextOf(store: MailStore, mailboxId: number): Promise<SearchContext> {
  const rows = await store.listMessages(mailboxId);
  const messages: SearchMessage[] = rows.map((row, i) => ({
    seq: i + 1,
    uid: row.uid,
    flags: row.flags,
    keywords: row.keywords,
    recent: false,
    internalDate: row.internalDate,
    size: row.size,
    modseq: row.modseq,
    blobHash: row.blobHash,
  }));
  // A fresh source per context, as a session builds one per command; rows are batched inside.
  const source = new StoreSearchSource({ store, mailboxId });
  return {
    messages,
    charset: 'UTF-8',
    savedResult: null,
    timeZoneOffsetMinutes: 0,
    loadIndex: (uid) => source.loadIndex(uid),
    readHeader: (uid) => source.readHeader(uid),
    readText: (uid) => source.readText(uid),
    checkpoint: () => yieldToEventLoop(),
  };
}

/** Stages blobs 16 at a time (fsyncs overlap) and appends them 500 per transaction. */
async function fill(store: MailStore, accountId: number, mailboxId: number, total: number): Promise<void> {
  const batch = 500;
  for (let at = 0; at < total; at += batch) {
    const indexes = Array.from({ length: Math.min(batch, total - at) }, (_, j) => at + j);
    const news: NewMessage[] = [];
    for (let k = 0; k < indexes.length; k += 16) {
      const staged = await Promise.all(
        indexes.slice(k, k + 16).map(async (i) => {
          const bytes = Buffer.from(generate(i), 'latin1');
          const writer = store.createBlobWriter();
          await writer.write(bytes);
          const message: NewMessage = { blob: await writer.finish(), index: indexMessage(bytes), flags: i % 7 === 0 ? SystemFlag.Flagged : SystemFlag.Seen };
          return message;
        }),
      );
      news.push(...staged);
    }
    await store.append(accountId, mailboxId, news);
  }
}

function expectedTextMatches(total: number): number {
  let count = 0;
  for (let i = 0; i < total; i++) if (mentionsInBody(i) || mentionsInSubject(i)) count++;
  return count;
}

function expectedBodyMatches(total: number): number {
  let count = 0;
  for (let i = 0; i < total; i++) if (mentionsInBody(i)) count++;
  return count;
}

const mentionsInBody = (i: number): boolean => i % 50 === 7;
const mentionsInSubject = (i: number): boolean => i % 100 === 3;

const WORDS = ['alpha', 'budget', 'meeting', 'quarterly', 'review', 'schedule', 'project', 'invoice', 'travel', 'update', 'weekly', 'report'];

/** Paragraphs of filler text, different per message. */
function paragraph(i: number, lines: number): string[] {
  const out: string[] = [];
  for (let l = 0; l < lines; l++) {
    const w = (k: number): string => WORDS[(i * 7 + l * 3 + k) % WORDS.length]!;
    out.push(`Line ${l} of message ${i}: the ${w(0)} about the ${w(1)} and the ${w(2)} needs a ${w(3)} before the ${w(4)}.`);
  }
  return out;
}

/** Message `i` as a latin1 byte string (CRLF line ends). */
function generate(i: number): string {
  const subject = mentionsInSubject(i) ? `Trip to Zanzibar, part ${i}` : `Message ${i} about the ${WORDS[i % WORDS.length]}`;
  const header = [
    `From: Sender ${i % 97} <sender${i % 97}@example.net>`,
    `To: bench@bench.example`,
    `Subject: ${subject}`,
    `Date: Mon, 1 Jan 2024 10:${String(i % 60).padStart(2, '0')}:00 +0000`,
    `Message-ID: <bench-${i}@example.net>`,
    'MIME-Version: 1.0',
  ];
  const body = paragraph(i, 20 + (i % 40));
  if (mentionsInBody(i)) body.splice(5, 0, `Remember the ${NEEDLE.toUpperCase()} booking.`);
  switch (i % 4) {
    case 0:
      return [...header, 'Content-Type: text/plain; charset=us-ascii', '', ...body, ''].join('\r\n');
    case 1: {
      // Quoted-printable Latin-1: "Grüße" as =FC=DF, lines soft-broken.
      const qp = body.map((line) => `Gr=FC=DFe, ${line.slice(0, 60)}=\r\n${line.slice(60)}`);
      return [...header, 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: quoted-printable', '', ...qp, ''].join('\r\n');
    }
    case 2: {
      const html = `<html><body>${body.map((line) => `<p>${line.replace('the', '<b>the</b>')}</p>`).join('\r\n')}</body></html>`;
      return [
        ...header,
        'Content-Type: multipart/alternative; boundary="alt"',
        '',
        '--alt',
        'Content-Type: text/plain; charset=us-ascii',
        '',
        ...body,
        '--alt',
        'Content-Type: text/html; charset=us-ascii',
        '',
        html,
        '--alt--',
        '',
      ].join('\r\n');
    }
    default: {
      const text = Buffer.from(body.join('\r\n') + '\r\nΧαιρετίσματα\r\n', 'utf8').toString('base64').replace(/.{76}/g, '$&\r\n');
      const pdf = Buffer.alloc(3000, i % 251).toString('base64').replace(/.{76}/g, '$&\r\n');
      return [
        ...header,
        'Content-Type: multipart/mixed; boundary="mix"',
        '',
        '--mix',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: base64',
        '',
        text,
        '--mix',
        'Content-Type: application/pdf; name="doc.pdf"',
        'Content-Transfer-Encoding: base64',
        '',
        pdf,
        '--mix--',
        '',
      ].join('\r\n');
    }
  }
}
