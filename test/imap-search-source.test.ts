/**
 * StoreSearchSource: the content accessors of a SearchContext on the MailStore interface.
 * What it reads from the store (batched rows, header bytes, text parts only, capped) and what
 * it returns for expunged messages.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreSearchSource } from '../src/imap/search/index.js';
import type { MessageMeta, Messages } from '../src/store/types.js';
import type { SearchFixture } from './helpers/imap-search-fixture.js';
import { appendMessages, crlf, deliverWithPrefix, openSearchFixture } from './helpers/imap-search-fixture.js';

/** The fixture's store, recording getMessages calls and readMessage ranges. */
function spyStore(fx: SearchFixture): Pick<Messages, 'getMessages' | 'readMessage'> & { batches: number[][]; reads: Array<[number, number, number]> } {
  const batches: number[][] = [];
  const reads: Array<[number, number, number]> = [];
  return {
    batches,
    reads,
    getMessages: (mailboxId, uids) => {
      batches.push([...uids]);
      return fx.store.getMessages(mailboxId, uids);
    },
    readMessage: (message: MessageMeta, start?: number, end?: number) => {
      reads.push([message.uid, start ?? 0, end ?? message.size]);
      return fx.store.readMessage(message, start, end);
    },
  };
}

async function withFixture(body: (fx: SearchFixture) => Promise<void>): Promise<void> {
  const fx = await openSearchFixture();
  try {
    await body(fx);
  } finally {
    await fx.close();
  }
}

const ATTACHMENT = 'A'.repeat(76);
/** Text, a 200 KiB attachment, text again. */
const WITH_ATTACHMENT = crlf(
  'Subject: big attachment',
  'Content-Type: multipart/mixed; boundary=m',
  '',
  '--m',
  'Content-Type: text/plain',
  '',
  'first text',
  '--m',
  'Content-Type: application/octet-stream',
  'Content-Transfer-Encoding: base64',
  '',
  ...Array.from({ length: 2700 }, () => ATTACHMENT),
  '--m',
  'Content-Type: text/plain',
  '',
  'second text',
  '--m--',
);

describe('StoreSearchSource', () => {
  test('index lookups started together become one getMessages call', async () => {
    await withFixture(async (fx) => {
      await appendMessages(fx, Array.from({ length: 10 }, (_, i) => ({ raw: crlf(`Subject: m${i}`, '', 'x') })));
      const store = spyStore(fx);
      const source = new StoreSearchSource({ store, mailboxId: fx.mailboxId });
      const indexes = await Promise.all([3, 1, 2, 9, 42].map((uid) => source.loadIndex(uid)));
      assert.deepEqual(
        indexes.map((index) => index?.search.subject ?? null),
        ['m2', 'm0', 'm1', 'm8', null],
      );
      assert.deepEqual(store.batches, [[1, 2, 3, 9, 42]]);
      // Rows are kept: the header of a looked-up message needs no second query.
      await source.readHeader(3);
      assert.equal(store.batches.length, 1);
    });
  });

  test('a batch is split at maxBatch', async () => {
    await withFixture(async (fx) => {
      await appendMessages(fx, Array.from({ length: 5 }, (_, i) => ({ raw: crlf(`Subject: m${i}`, '', 'x') })));
      const store = spyStore(fx);
      const source = new StoreSearchSource({ store, mailboxId: fx.mailboxId, maxBatch: 2 });
      await Promise.all([1, 2, 3, 4, 5].map((uid) => source.loadIndex(uid)));
      assert.deepEqual(store.batches, [[1, 2], [3, 4], [5]]);
    });
  });

  test('the header includes the per-recipient prefix and stops at the blank line', async () => {
    await withFixture(async (fx) => {
      const uid = await deliverWithPrefix(fx, crlf('Subject: hello', '', 'body text'), 'Delivered-To: u@example.org\r\n', new Date('2024-01-01T00:00:00Z'));
      const source = new StoreSearchSource({ store: fx.store, mailboxId: fx.mailboxId });
      assert.equal((await source.readHeader(uid))?.toString('utf8'), 'Delivered-To: u@example.org\r\nSubject: hello\r\n\r\n');
      assert.equal(await source.readText(uid), 'body text\r\n');
    });
  });

  test('a large message: only the text parts are read, never the attachment', async () => {
    await withFixture(async (fx) => {
      const [uid] = await appendMessages(fx, [{ raw: WITH_ATTACHMENT }]);
      const store = spyStore(fx);
      const source = new StoreSearchSource({ store, mailboxId: fx.mailboxId });
      assert.equal(await source.readText(uid!), 'first text\nsecond text');
      const raw = Buffer.from(WITH_ATTACHMENT);
      const attachmentStart = raw.indexOf(ATTACHMENT);
      const attachmentEnd = raw.lastIndexOf(ATTACHMENT) + ATTACHMENT.length;
      assert.equal(store.reads.length, 2);
      for (const [, start, end] of store.reads) assert.ok(end <= attachmentStart || start >= attachmentEnd, `read ${start}-${end} overlaps the attachment`);
      assert.equal(store.reads.reduce((sum, [, start, end]) => sum + end - start, 0), 'first text'.length + 'second text'.length);
    });
  });

  test('a small message is read once for both header and text', async () => {
    await withFixture(async (fx) => {
      const [uid] = await appendMessages(fx, [{ raw: crlf('Subject: small', '', 'small body') }]);
      const store = spyStore(fx);
      const source = new StoreSearchSource({ store, mailboxId: fx.mailboxId });
      assert.equal((await source.readHeader(uid!))?.toString(), 'Subject: small\r\n\r\n');
      assert.equal(await source.readText(uid!), 'small body\r\n');
      assert.equal(store.reads.length, 1);
    });
  });

  test('text is capped: at most maxTextChars returned and twice that read', async () => {
    await withFixture(async (fx) => {
      const [uid] = await appendMessages(fx, [{ raw: crlf('Subject: long', '', ...Array.from({ length: 5000 }, (_, i) => `line ${i} of a long text body`)) }]);
      const store = spyStore(fx);
      const source = new StoreSearchSource({ store, mailboxId: fx.mailboxId, maxTextChars: 1000, smallMessageBytes: 0 });
      const text = await source.readText(uid!);
      assert.equal(text?.length, 1000);
      assert.ok(text?.startsWith('line 0 of a long text body\r\nline 1 '));
      assert.deepEqual(
        store.reads.map(([, start, end]) => end - start),
        [2000],
      );
    });
  });

  test('an expunged message gives null from every accessor', async () => {
    await withFixture(async (fx) => {
      const [first, second] = await appendMessages(fx, [{ raw: crlf('Subject: a', '', 'a') }, { raw: crlf('Subject: b', '', 'b') }]);
      const source = new StoreSearchSource({ store: fx.store, mailboxId: fx.mailboxId });
      // Row loaded, then the message goes: the byte reads find it gone.
      assert.notEqual(await source.loadIndex(second!), null);
      await fx.store.expunge(fx.accountId, fx.mailboxId, [first!, second!]);
      assert.equal(await source.loadIndex(first!), null);
      assert.equal(await source.readHeader(first!), null);
      assert.equal(await source.readText(first!), null);
      assert.equal(await source.readHeader(second!), null);
      assert.equal(await source.readText(second!), null);
    });
  });
});
