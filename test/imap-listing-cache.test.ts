/**
 * The shared caches behind IMAP speed (docs/imap.md "Performance"): mailbox listings kept
 * current from the change log (src/imap/listing-cache.ts), and the SEARCH caches by blob hash
 * and row (src/imap/search/fields-cache.ts, header text in the TextCache). Each test drives a
 * real SQLite store and checks the cached answer against what the store says now.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockCache } from '../src/imap/clock-cache.js';
import { ListingCache } from '../src/imap/listing-cache.js';
import { FieldsCache, TextCache, runSearch } from '../src/imap/search/index.js';
import type { SearchContext } from '../src/imap/search/types.js';
import type { MailStore, MessageMeta } from '../src/store/types.js';
import { hasChangeLogPruning, SystemFlag } from '../src/store/types.js';
import type { SearchFixture } from './helpers/imap-search-fixture.js';
import { appendMessages, crlf, deliverWithPrefix, openSearchFixture, parseSearchKey, searchContext } from './helpers/imap-search-fixture.js';

async function withFixture(body: (fx: SearchFixture) => Promise<void>): Promise<void> {
  const fx = await openSearchFixture();
  try {
    await body(fx);
  } finally {
    await fx.close();
  }
}

const message = (n: number): { raw: string } => ({ raw: crlf(`Subject: message ${n}`, `From: sender${n}@example.org`, '', `body of message ${n}`) });

/** What the cache must equal: the store's own listing, compared on the fields sessions use. */
function comparable(messages: readonly MessageMeta[]): unknown[] {
  return messages.map((m) => [m.id, m.uid, m.modseq, m.flags, [...m.keywords], m.size, m.blobHash, m.internalDate.getTime()]);
}

/** The store with its listMessages calls counted. */
function countingStore(store: MailStore): Pick<MailStore, 'listMessages' | 'changesSince' | 'currentModseq'> & { lists: Array<[number | undefined, number | undefined]> } {
  const lists: Array<[number | undefined, number | undefined]> = [];
  return {
    lists,
    listMessages: (mailboxId, from, to) => {
      lists.push([from, to]);
      return store.listMessages(mailboxId, from, to);
    },
    changesSince: (accountId, since, limit) => store.changesSince(accountId, since, limit),
    currentModseq: (accountId) => store.currentModseq(accountId),
  };
}

describe('ListingCache', () => {
  test('follows flags, keywords, expunges and new messages from the change log, reading only the new rows', () =>
    withFixture(async (fx) => {
      await appendMessages(fx, [1, 2, 3, 4, 5].map(message));
      const store = countingStore(fx.store);
      const cache = new ListingCache(store, 1000);
      const first = await cache.list(fx.accountId, fx.mailboxId);
      assert.deepEqual(comparable(first.messages), comparable(await fx.store.listMessages(fx.mailboxId)));
      const before = comparable(first.messages);

      await fx.store.updateFlags(fx.accountId, fx.mailboxId, [2, 4], { op: 'add', flags: SystemFlag.Flagged, keywords: ['$Important'] });
      await fx.store.expunge(fx.accountId, fx.mailboxId, [3]);
      await appendMessages(fx, [6, 7].map(message));
      await fx.store.updateFlags(fx.accountId, fx.mailboxId, [7], { op: 'add', flags: SystemFlag.Seen, keywords: [] });
      store.lists.length = 0;

      const second = await cache.list(fx.accountId, fx.mailboxId);
      assert.deepEqual(comparable(second.messages), comparable(await fx.store.listMessages(fx.mailboxId)));
      assert.deepEqual(second.messages.map((m) => m.uid), [1, 2, 4, 5, 6, 7]);
      assert.equal(second.modseq, await fx.store.currentModseq(fx.accountId));
      // Only the rows after the last known UID were read, once.
      assert.deepEqual(store.lists, [[6, undefined]]);
      // A listing handed out earlier is never changed underneath its holder.
      assert.deepEqual(comparable(first.messages), before);
      assert.equal(cache.heldMessages, 6);

      // Nothing changed: no listing read at all.
      store.lists.length = 0;
      assert.deepEqual(comparable((await cache.list(fx.accountId, fx.mailboxId)).messages), comparable(second.messages));
      assert.deepEqual(store.lists, []);
      assert.deepEqual(
        (await cache.range(fx.accountId, fx.mailboxId, 3, 6)).map((m) => m.uid),
        [4, 5, 6],
      );
    }));

  test('a deleted mailbox lists empty; concurrent calls see every commit made before them', () =>
    withFixture(async (fx) => {
      const other = await fx.store.createMailbox(fx.accountId, 'Other');
      const cache = new ListingCache(fx.store, 1000);
      const otherFx = { ...fx, mailboxId: other.id };
      await appendMessages(otherFx, [1, 2].map(message));
      assert.equal((await cache.list(fx.accountId, other.id)).messages.length, 2);
      const lists = await Promise.all([
        cache.list(fx.accountId, other.id),
        appendMessages(otherFx, [3].map(message)).then(() => cache.list(fx.accountId, other.id)),
      ]);
      assert.equal(lists[1].messages.length, 3);
      await fx.store.deleteMailbox(fx.accountId, 'Other');
      assert.deepEqual((await cache.list(fx.accountId, other.id)).messages, []);
      assert.equal(cache.heldMessages, 0);
    }));

  test('a change log pruned past the listing: the listing is read again, not replayed from what is left', () =>
    withFixture(async (fx) => {
      await appendMessages(fx, [1, 2, 3, 4].map(message));
      const store = countingStore(fx.store);
      const cache = new ListingCache(store, 1000);
      await cache.list(fx.accountId, fx.mailboxId);
      await fx.store.updateFlags(fx.accountId, fx.mailboxId, [1], { op: 'add', flags: SystemFlag.Seen, keywords: [] });
      await fx.store.expunge(fx.accountId, fx.mailboxId, [2]);
      assert.ok(hasChangeLogPruning(fx.store));
      assert.ok((await fx.store.pruneChanges(new Date(Date.now() + 60_000))) > 0);
      store.lists.length = 0;
      const listing = await cache.list(fx.accountId, fx.mailboxId);
      assert.deepEqual(comparable(listing.messages), comparable(await fx.store.listMessages(fx.mailboxId)));
      assert.deepEqual(listing.messages.map((m) => [m.uid, m.flags & SystemFlag.Seen]), [[1, SystemFlag.Seen], [3, 0], [4, 0]]);
      assert.deepEqual(store.lists, [[undefined, undefined]], 'one full listing');
      assert.equal(listing.modseq, await fx.store.currentModseq(fx.accountId));
    }));

  test('bounded: a mailbox over a quarter of the bound is not kept, and old mailboxes make room', () =>
    withFixture(async (fx) => {
      await appendMessages(fx, Array.from({ length: 30 }, (_, n) => message(n)));
      const small = await fx.store.createMailbox(fx.accountId, 'Small');
      await appendMessages({ ...fx, mailboxId: small.id }, Array.from({ length: 20 }, (_, n) => message(n)));
      const tiny = new ListingCache(fx.store, 100);
      assert.equal((await tiny.list(fx.accountId, fx.mailboxId)).messages.length, 30);
      assert.equal(tiny.heldMessages, 0);
      assert.equal((await tiny.list(fx.accountId, small.id)).messages.length, 20);
      assert.equal(tiny.heldMessages, 20);

      const cache = new ListingCache(fx.store, 120);
      await cache.list(fx.accountId, fx.mailboxId);
      await cache.list(fx.accountId, small.id);
      assert.equal(cache.heldMessages, 50);
      await appendMessages(fx, Array.from({ length: 80 }, (_, n) => message(n)));
      // INBOX grows to 110: with it the cache would hold 130 > 120, so the least recently
      // used mailbox (Small) goes.
      assert.equal((await cache.list(fx.accountId, fx.mailboxId)).messages.length, 110);
      assert.equal(cache.heldMessages, 110);
    }));
});

describe('ClockCache', () => {
  test('within its bound, unused entries go oldest first and used ones get a second chance', () => {
    const cache = new ClockCache<number>(100);
    for (let i = 0; i < 100; i++) cache.set(`k${i}`, i, 1);
    for (const i of [0, 1, 50]) assert.equal(cache.get(`k${i}`), i);
    // 20 more: the 20 oldest unused (k2..k21) go; k0 and k1, used, stay.
    for (let i = 100; i < 120; i++) cache.set(`k${i}`, i, 1);
    assert.equal(cache.size, 100);
    assert.equal(cache.bytes, 100);
    const held = (i: number): boolean => cache.get(`k${i}`) !== undefined;
    assert.deepEqual([0, 1, 50, 22, 119].map(held), [true, true, true, true, true]);
    assert.deepEqual([2, 21].map(held), [false, false]);
    // Thousands of evictions in a row keep the count and the bound exact.
    for (let i = 120; i < 20_000; i++) cache.set(`k${i}`, i, 1);
    assert.equal(cache.size, 100);
    assert.equal(cache.get('k19999'), 19999);
    assert.equal(cache.get('k19899'), undefined);
    cache.set('k19999', -1, 30);
    assert.equal(cache.bytes, 100);
    assert.equal(cache.get('k19999'), -1);
  });
});

describe('SEARCH caches', () => {
  async function contextWithRows(fx: SearchFixture): Promise<SearchContext> {
    const ctx = await searchContext(fx);
    const rows = await fx.store.listMessages(fx.mailboxId);
    return { ...ctx, messages: ctx.messages.map((m, i) => ({ ...m, rowId: rows[i]!.id })) };
  }

  test('SUBJECT/FROM and SENT* come from the fields cache the second time, without reading the index', () =>
    withFixture(async (fx) => {
      await appendMessages(fx, [
        { raw: crlf('Subject: quarterly budget', 'From: Ann <ann@example.org>', 'Date: Tue, 1 Jul 2003 23:30:00 -0700', '', 'text') },
        { raw: crlf('Subject: garden party', 'From: Bob <bob@example.org>', 'Date: Wed, 2 Jul 2003 10:00:00 +0000', '', 'text') },
      ]);
      const fields = new FieldsCache(1024 * 1024);
      const ctx = await contextWithRows(fx);
      let indexReads = 0;
      const counted: SearchContext = { ...ctx, loadIndex: (uid) => (indexReads++, ctx.loadIndex(uid)) };
      const key = parseSearchKey('SEARCH OR OR SUBJECT budget FROM bob SENTON 1-Jul-2003').key;
      assert.deepEqual(await runSearch(key, counted, { fieldsCache: fields }), [1, 2]);
      assert.equal(indexReads, 2);
      assert.equal(fields.size, 2);
      assert.deepEqual(await runSearch(parseSearchKey('SEARCH SUBJECT garden').key, counted, { fieldsCache: fields }), [2]);
      assert.deepEqual(await runSearch(parseSearchKey('SEARCH SENTON 1-Jul-2003').key, counted, { fieldsCache: fields }), [1]);
      assert.equal(indexReads, 2);
    }));

  test('TEXT reads no header bytes the second time, and a per-copy prefix stays searchable', () =>
    withFixture(async (fx) => {
      const raw = crlf('Subject: shared body', 'From: ann@example.org', '', 'the same text for everyone');
      await deliverWithPrefix(fx, raw, 'Delivered-To: first@example.org\r\n', new Date());
      await deliverWithPrefix(fx, raw, 'Delivered-To: second@example.org\r\n', new Date());
      const text = new TextCache({ maxBytes: 1024 * 1024 });
      const ctx = await contextWithRows(fx);
      let headerReads = 0;
      const counted: SearchContext = { ...ctx, readHeader: (uid) => (headerReads++, ctx.readHeader(uid)) };
      assert.deepEqual(await runSearch(parseSearchKey('SEARCH TEXT second@example.org').key, counted, { textCache: text }), [2]);
      assert.equal(headerReads, 2);
      // Same blob, different prefix: the header text is kept per row, not per blob.
      assert.deepEqual(await runSearch(parseSearchKey('SEARCH TEXT first@example.org').key, counted, { textCache: text }), [1]);
      assert.deepEqual(await runSearch(parseSearchKey('SEARCH TEXT everyone').key, counted, { textCache: text }), [1, 2]);
      assert.equal(headerReads, 2);
    }));
});
