/**
 * How the SEARCH engine spends its work: it yields to the event loop during a long search
 * (other connections keep being served), stops when the session goes away, reads content only
 * for messages the metadata leaves undecided, and reuses decoded text through the cache.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { StoreSearchSource, TextCache, checkpointFor, createSearchEngine, evaluateSearch, runSearch } from '../src/imap/search/index.js';
import type { SearchRunStats } from '../src/imap/search/index.js';
import { SearchAbortedError } from '../src/imap/search/types.js';
import type { SearchContext } from '../src/imap/search/types.js';
import { SystemFlag } from '../src/store/types.js';
import type { SearchFixture } from './helpers/imap-search-fixture.js';
import { appendMessages, copyUntil, crlf, openSearchFixture, parseSearchKey, searchContext } from './helpers/imap-search-fixture.js';

const DISTINCT = 125;
const TOTAL = 20_000;

/** Base message i (0-based): every fifth mentions "needle" in its body; every third is flagged. */
function baseMessage(i: number): { raw: string; flags: number } {
  const body = i % 5 === 0 ? `This is message ${i}. It hides a Needle in the text.` : `This is message ${i}. Nothing to see.`;
  return {
    raw: crlf(`From: sender${i}@example.org`, `Subject: Message ${i}`, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', body, ...Array.from({ length: 20 }, (_, l) => `filler line ${l} of message ${i}`)),
    flags: i % 3 === 0 ? SystemFlag.Flagged : 0,
  };
}

/** A source that counts how often each accessor is used. */
function countingSource(inner: StoreSearchSource): Pick<SearchContext, 'loadIndex' | 'readHeader' | 'readText'> & { counts: { loadIndex: number; readHeader: number; readText: number } } {
  const counts = { loadIndex: 0, readHeader: 0, readText: 0 };
  return {
    counts,
    loadIndex: (uid) => (counts.loadIndex++, inner.loadIndex(uid)),
    readHeader: (uid) => (counts.readHeader++, inner.readHeader(uid)),
    readText: (uid) => (counts.readText++, inner.readText(uid)),
  };
}

const expectedUids = (predicate: (base: number) => boolean, total: number): number[] =>
  Array.from({ length: total }, (_, i) => i + 1).filter((uid) => predicate((uid - 1) % DISTINCT));

describe('SEARCH engine over 20,000 messages', () => {
  let fx: SearchFixture;

  before(async () => {
    fx = await openSearchFixture();
    await appendMessages(fx, Array.from({ length: DISTINCT }, (_, i) => baseMessage(i)));
    await copyUntil(fx, TOTAL);
  });
  after(async () => {
    await fx.close();
  });

  test('the event loop keeps turning: a timer fires and another task progresses during SEARCH TEXT', async () => {
    const ctx = await searchContext(fx);
    assert.equal(ctx.messages.length, TOTAL);
    let timerTicks = 0;
    const timer = setInterval(() => timerTicks++, 1);
    // Another "connection": a task that needs one event-loop turn per step.
    let otherSteps = 0;
    let searching = true;
    const other = (async () => {
      while (searching) {
        await yieldToEventLoop();
        otherSteps++;
      }
    })();
    const stats: SearchRunStats = { decidedByMetadata: 0, contentEvaluated: 0, checkpoints: 0 };
    try {
      const uids = await runSearch(parseSearchKey('SEARCH TEXT needle').key, ctx, {}, stats);
      assert.deepEqual(uids, expectedUids((base) => base % 5 === 0, TOTAL));
      assert.equal(uids.length, 4000);
    } finally {
      searching = false;
      clearInterval(timer);
      await other;
    }
    assert.equal(stats.contentEvaluated, TOTAL);
    assert.ok(stats.checkpoints >= 20, `only ${stats.checkpoints} checkpoints`);
    assert.ok(timerTicks >= 20, `the 1 ms timer fired only ${timerTicks} times`);
    assert.ok(otherSteps >= 20, `the other task progressed only ${otherSteps} times`);
  });

  test('a session that goes away stops the search at the next checkpoint', async () => {
    const controller = new AbortController();
    const source = countingSource(new StoreSearchSource({ store: fx.store, mailboxId: fx.mailboxId }));
    let checkpoints = 0;
    const checkpoint = checkpointFor(controller.signal);
    const ctx = await searchContext(fx, {
      source,
      checkpoint: async () => {
        if (++checkpoints === 3) controller.abort();
        await checkpoint();
      },
    });
    await assert.rejects(evaluateSearch(parseSearchKey('SEARCH BODY needle').key, ctx), SearchAbortedError);
    assert.equal(checkpoints, 3);
    assert.ok(source.counts.readText < TOTAL, `read ${source.counts.readText} texts after the abort`);
  });

  test('content is read only for messages the metadata leaves undecided', async () => {
    const source = countingSource(new StoreSearchSource({ store: fx.store, mailboxId: fx.mailboxId }));
    const ctx = await searchContext(fx, { source });
    const stats: SearchRunStats = { decidedByMetadata: 0, contentEvaluated: 0, checkpoints: 0 };
    const uids = await runSearch(parseSearchKey('SEARCH FLAGGED UID 1:1000 BODY needle').key, ctx, {}, stats);
    assert.deepEqual(uids, expectedUids((base) => base % 15 === 0, 1000));
    // Flagged among UIDs 1-1000: bases 0, 3, ..., 123 of 125, eight rounds.
    const flagged = expectedUids((base) => base % 3 === 0, 1000).length;
    assert.equal(flagged, 336);
    assert.equal(stats.contentEvaluated, flagged);
    assert.equal(stats.decidedByMetadata, TOTAL - flagged);
    assert.equal(source.counts.readText, flagged);
    assert.equal(source.counts.readHeader, 0);
  });

  test('OR stops at the first true child; cheaper children are tried first', async () => {
    const source = countingSource(new StoreSearchSource({ store: fx.store, mailboxId: fx.mailboxId }));
    const ctx = await searchContext(fx, { source });
    // BODY is written first but the subject (index) is cheaper, so it is tried first.
    const uids = await evaluateSearch(parseSearchKey('SEARCH UID 1:125 OR BODY needle SUBJECT "message 1"').key, ctx);
    const subjectMatches = (base: number): boolean => `message ${base}`.includes('message 1');
    assert.deepEqual(uids, expectedUids((base) => base % 5 === 0 || subjectMatches(base), 125));
    const bySubject = expectedUids(subjectMatches, 125).length;
    assert.equal(bySubject, 36);
    assert.equal(source.counts.loadIndex, 125);
    assert.equal(source.counts.readText, 125 - bySubject);
  });

  test('the text cache serves identical bodies (same blob) without reading them again', async () => {
    const cache = new TextCache({ maxBytes: 16 * 1024 * 1024 });
    const engine = createSearchEngine({ textCache: cache });
    const source = countingSource(new StoreSearchSource({ store: fx.store, mailboxId: fx.mailboxId }));
    const ctx = await searchContext(fx, { source });
    const uids = await engine(parseSearchKey('SEARCH UID 1:2000 BODY needle').key, ctx);
    assert.deepEqual(uids, expectedUids((base) => base % 5 === 0, 2000));
    // 2,000 messages share 125 blobs: each text is decoded once, the rest are hits.
    assert.equal(source.counts.readText, DISTINCT);
    assert.deepEqual({ hits: cache.stats.hits, misses: cache.stats.misses, entries: cache.stats.entries }, { hits: 2000 - DISTINCT, misses: DISTINCT, entries: DISTINCT });
  });
});

describe('SEARCH engine: one very large text', () => {
  /** A one-message context whose decoded body text is `text` (no store: the contract alone). */
  function oneMessage(text: string, checkpoint: () => Promise<void>): SearchContext {
    const message = { seq: 1, uid: 9, flags: 0, keywords: [], recent: false, internalDate: new Date(0), size: text.length, modseq: 1, blobHash: 'h' };
    return {
      messages: [message],
      charset: 'UTF-8',
      savedResult: null,
      timeZoneOffsetMinutes: 0,
      loadIndex: () => Promise.resolve(null),
      readHeader: () => Promise.resolve(Buffer.from('Subject: big\r\n\r\n')),
      readText: () => Promise.resolve(text),
      checkpoint,
    };
  }

  test('is matched in slices with checkpoints between them, finding a needle across a slice edge', async () => {
    const slice = 256 * 1024;
    const size = 4 * slice;
    let checkpoints = 0;
    const count = (): Promise<void> => (checkpoints++, yieldToEventLoop());
    const filler = 'ab'.repeat(size / 2);
    // Absent: every slice is looked at, with a checkpoint after each (sliceMs 0 yields every time).
    const stats: SearchRunStats = { decidedByMetadata: 0, contentEvaluated: 0, checkpoints: 0 };
    assert.deepEqual(await runSearch(parseSearchKey('SEARCH BODY needle').key, oneMessage(filler, count), { sliceMs: 0 }, stats), []);
    assert.equal(stats.checkpoints, 5);
    assert.equal(checkpoints, 5);
    // Present across the first slice edge, in another case.
    const straddling = filler.slice(0, slice - 3) + 'NEEDLE' + filler.slice(slice + 3);
    assert.equal(straddling.length, size);
    assert.deepEqual(await runSearch(parseSearchKey('SEARCH BODY needle').key, oneMessage(straddling, count), { sliceMs: 0 }), [9]);
    // Found in the header without reading further.
    assert.deepEqual(await runSearch(parseSearchKey('SEARCH TEXT "subject: BIG"').key, oneMessage(filler, count), { sliceMs: 0 }), [9]);
  });
});

