/**
 * The SEARCH engine on hand-written messages stored through the real SQLite store: every
 * RFC 3501 6.4.4 key with its exact result set, nesting, sequence and UID sets, MODSEQ
 * (RFC 7162 3.1.5), "$" (RFC 5182), encoded headers and QP/base64 bodies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateSearch, searchUsesModseq } from '../src/imap/search/index.js';
import { SystemFlag } from '../src/store/types.js';
import type { ContextOptions, SearchFixture } from './helpers/imap-search-fixture.js';
import { appendMessages, crlf, deliverWithPrefix, literal, openSearchFixture, parseSearchKey, searchContext } from './helpers/imap-search-fixture.js';

const utf8Base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** uid 1: plain ASCII; Date written in -0700, late in the evening (2 July in UTC). */
const REPORT = crlf(
  'From: Alice Smith <alice@example.org>',
  'To: Bob <bob@example.net>',
  'Cc: carol@example.com',
  'Subject: Quarterly report',
  'Date: Tue, 1 Jul 2003 23:30:00 -0700',
  'Message-ID: <report@example.org>',
  '',
  'The numbers look good this quarter.',
);

/** uid 2: RFC 2047 Latin-1 subject, UTF-8 B-encoded name, quoted-printable Latin-1 body. */
const GREETINGS = crlf(
  'From: =?UTF-8?B?' + utf8Base64('Jürgen Groß') + '?= <juergen@example.de>',
  'To: alice@example.org',
  'Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_M=FCnchen?=',
  'Date: Sun, 15 Aug 2010 08:00:00 +0200',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=iso-8859-1',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Sch=F6ne Gr=FC=DFe vom Marienplatz, und ein sehr langer Satz der umgebrochen =',
  'wird.',
);

/** uid 3: no Date header; UTF-8 B-encoded subject; base64 UTF-8 body; Bcc. */
const GREEK = crlf(
  'From: nikos@example.gr',
  'To: alice@example.org',
  'Bcc: secret-list@example.org',
  'Subject: =?UTF-8?B?' + utf8Base64('Привет мир') + '?=',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: base64',
  '',
  utf8Base64('Ελληνικά: ΣΊΣΥΦΟΣ και καφές, café 🙂'),
);

/** uid 4: alternative text/HTML plus a binary attachment whose bytes spell a word. */
const ALTERNATIVE = crlf(
  'From: newsletter@example.com',
  'To: alice@example.org',
  'Subject: Monthly news',
  'Date: Wed, 2 Jul 2003 00:10:00 +0000',
  'X-Mailer: TestMailer 1.0',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="outer"',
  '',
  '--outer',
  'Content-Type: multipart/alternative; boundary="alt"',
  '',
  '--alt',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'Plain version of the news.',
  '--alt',
  'Content-Type: text/html; charset=us-ascii',
  '',
  '<html><body><p><b>Bold</b> &amp; entity</p></body></html>',
  '--alt--',
  '--outer',
  'Content-Type: application/octet-stream; name="blob.bin"',
  'Content-Transfer-Encoding: base64',
  '',
  Buffer.from('attachmentsecret').toString('base64'),
  '--outer--',
);

/** uid 5: a forwarded message (message/rfc822) with its own header and body. */
const FORWARD = crlf(
  'From: alice@example.org',
  'To: dave@example.org',
  'Subject: Fwd: thing',
  'Date: Mon, 16 Aug 2010 12:00:00 +0000',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary=b1',
  '',
  '--b1',
  'Content-Type: text/plain',
  '',
  'See below.',
  '--b1',
  'Content-Type: message/rfc822',
  '',
  'From: eve@example.net',
  'Subject: Inner subject',
  '',
  'A nested needle sits here.',
  '--b1--',
);

/** uid 6: delivered with a per-recipient prefix; folded header; adjacent encoded words. */
const DELIVERED = crlf(
  'From: Frank <frank@example.org>',
  'To: user@example.org',
  'Subject: =?UTF-8?Q?Caf=C3=A9?= =?UTF-8?Q?_cr=C3=A8me?=',
  'Date: 3 Jul 03 09:00 GMT',
  'X-Long: first part',
  '  second part',
  '',
  'Short body.',
);
const DELIVERED_PREFIX = 'Delivered-To: dave@example.org\r\n';

/** uid 7: appended then expunged, so sequence numbers and UIDs differ after it. */
const THROWAWAY = crlf('Subject: gone', '', 'gone');

/** uid 8: the large one. */
const LARGE = crlf('From: bulk@example.com', 'Subject: Large', 'Date: 1 Jan 2024 10:00:00 +0000', '', ...Array.from({ length: 100 }, (_, i) => `line ${i} ${'x'.repeat(60)}`));

const DAY = (iso: string): Date => new Date(iso);

interface Mailbox {
  fx: SearchFixture;
  sizes: Map<number, number>;
  modseqs: Map<number, number>;
}

/** Builds the mailbox above: UIDs 1-6 and 8 (7 expunged). */
async function buildMailbox(): Promise<Mailbox> {
  const fx = await openSearchFixture();
  await appendMessages(fx, [
    { raw: REPORT, flags: SystemFlag.Seen, keywords: ['$Important'], internalDate: DAY('2003-07-02T10:00:00Z') },
    { raw: GREETINGS, flags: SystemFlag.Flagged | SystemFlag.Answered, internalDate: DAY('2010-08-15T06:00:00Z') },
    { raw: GREEK, flags: SystemFlag.Deleted | SystemFlag.Seen, internalDate: DAY('2010-08-16T23:30:00Z') },
    { raw: ALTERNATIVE, flags: SystemFlag.Draft, keywords: ['Newsletter'], internalDate: DAY('2003-07-03T00:00:00Z') },
    { raw: FORWARD, keywords: ['work', '$Important'], internalDate: DAY('2010-08-17T12:00:00Z') },
  ]);
  await deliverWithPrefix(fx, DELIVERED, DELIVERED_PREFIX, DAY('2003-07-03T09:00:00Z'));
  await appendMessages(fx, [{ raw: THROWAWAY }, { raw: LARGE, flags: SystemFlag.Seen, internalDate: DAY('2024-01-01T10:00:00Z') }]);
  await fx.store.expunge(fx.accountId, fx.mailboxId, [7]);
  const rows = await fx.store.listMessages(fx.mailboxId);
  return { fx, sizes: new Map(rows.map((r) => [r.uid, r.size])), modseqs: new Map(rows.map((r) => [r.uid, r.modseq])) };
}

async function search(fx: SearchFixture, command: string, options: ContextOptions = {}): Promise<number[]> {
  const { key } = parseSearchKey(command);
  return evaluateSearch(key, await searchContext(fx, options));
}

describe('SEARCH engine over a real store', () => {
  let mailbox: Mailbox;
  const run = (command: string, options: ContextOptions = {}): Promise<number[]> => search(mailbox.fx, command, options);

  before(async () => {
    mailbox = await buildMailbox();
  });
  after(async () => {
    await mailbox.fx.close();
  });

  test('the mailbox is what the other tests assume', () => {
    assert.deepEqual([...mailbox.sizes.keys()], [1, 2, 3, 4, 5, 6, 8]);
    assert.equal(mailbox.sizes.get(6), Buffer.byteLength(DELIVERED_PREFIX + DELIVERED));
    assert.equal(mailbox.sizes.get(8), Buffer.byteLength(LARGE));
  });

  test('ALL and the flag keys', async () => {
    assert.deepEqual(await run('SEARCH ALL'), [1, 2, 3, 4, 5, 6, 8]);
    assert.deepEqual(await run('SEARCH SEEN'), [1, 3, 8]);
    assert.deepEqual(await run('SEARCH UNSEEN'), [2, 4, 5, 6]);
    assert.deepEqual(await run('SEARCH ANSWERED'), [2]);
    assert.deepEqual(await run('SEARCH UNANSWERED'), [1, 3, 4, 5, 6, 8]);
    assert.deepEqual(await run('SEARCH FLAGGED'), [2]);
    assert.deepEqual(await run('SEARCH UNFLAGGED'), [1, 3, 4, 5, 6, 8]);
    assert.deepEqual(await run('SEARCH DELETED'), [3]);
    assert.deepEqual(await run('SEARCH UNDELETED'), [1, 2, 4, 5, 6, 8]);
    assert.deepEqual(await run('SEARCH DRAFT'), [4]);
    assert.deepEqual(await run('SEARCH UNDRAFT'), [1, 2, 3, 5, 6, 8]);
  });

  test('RECENT, NEW and OLD use the session\'s \\Recent', async () => {
    const recent = { recent: [5, 6, 8] };
    assert.deepEqual(await run('SEARCH RECENT', recent), [5, 6, 8]);
    assert.deepEqual(await run('SEARCH OLD', recent), [1, 2, 3, 4]);
    // NEW = RECENT UNSEEN; 8 is recent but seen.
    assert.deepEqual(await run('SEARCH NEW', recent), [5, 6]);
    assert.deepEqual(await run('SEARCH NOT NEW', recent), [1, 2, 3, 4, 8]);
    assert.deepEqual(await run('SEARCH RECENT'), []);
  });

  test('KEYWORD and UNKEYWORD compare case-insensitively', async () => {
    assert.deepEqual(await run('SEARCH KEYWORD $Important'), [1, 5]);
    assert.deepEqual(await run('SEARCH KEYWORD $IMPORTANT'), [1, 5]);
    assert.deepEqual(await run('SEARCH KEYWORD Work'), [5]);
    assert.deepEqual(await run('SEARCH KEYWORD nosuch'), []);
    assert.deepEqual(await run('SEARCH UNKEYWORD $important'), [2, 3, 4, 6, 8]);
  });

  test('LARGER and SMALLER are strict comparisons with RFC822.SIZE', async () => {
    const large = mailbox.sizes.get(8)!;
    assert.deepEqual(await run(`SEARCH LARGER ${large - 1}`), [8]);
    assert.deepEqual(await run(`SEARCH LARGER ${large}`), []);
    assert.deepEqual(await run(`SEARCH SMALLER ${large}`), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(await run(`SEARCH SMALLER ${large + 1}`), [1, 2, 3, 4, 5, 6, 8]);
    const report = mailbox.sizes.get(1)!;
    assert.deepEqual(await run(`SEARCH SMALLER ${report + 1} LARGER ${report - 1}`), [1]);
    assert.deepEqual(await run('SEARCH LARGER 4294967296'), []);
  });

  test('BEFORE, ON and SINCE use the INTERNALDATE day in the configured zone', async () => {
    assert.deepEqual(await run('SEARCH ON 2-Jul-2003'), [1]);
    assert.deepEqual(await run('SEARCH ON 3-Jul-2003'), [4, 6]);
    assert.deepEqual(await run('SEARCH BEFORE 3-Jul-2003'), [1]);
    assert.deepEqual(await run('SEARCH SINCE 17-Aug-2010'), [5, 8]);
    assert.deepEqual(await run('SEARCH SINCE 1-Jan-2030'), []);
    assert.deepEqual(await run('SEARCH BEFORE 1-Jan-2000'), []);
    // uid 3 arrived 2010-08-16 23:30 UTC, which is 17 August two hours east of UTC and
    // uid 4 (2003-07-03 00:00 UTC) is 2 July five hours west of it.
    assert.deepEqual(await run('SEARCH ON 16-Aug-2010'), [3]);
    assert.deepEqual(await run('SEARCH ON 17-Aug-2010', { timeZoneOffsetMinutes: 120 }), [3, 5]);
    assert.deepEqual(await run('SEARCH ON 2-Jul-2003', { timeZoneOffsetMinutes: -300 }), [1, 4]);
  });

  test('SENTBEFORE, SENTON and SENTSINCE use the Date header as written', async () => {
    // uid 1 says 1 Jul 2003 23:30 -0700 (2 July in UTC): it was sent "on" 1 July.
    assert.deepEqual(await run('SEARCH SENTON 1-Jul-2003'), [1]);
    assert.deepEqual(await run('SEARCH SENTON 2-Jul-2003'), [4]);
    // uid 6: "3 Jul 03" is a two-digit year (RFC 5322 4.3).
    assert.deepEqual(await run('SEARCH SENTON 3-Jul-2003'), [6]);
    assert.deepEqual(await run('SEARCH SENTBEFORE 2-Jul-2003'), [1]);
    assert.deepEqual(await run('SEARCH SENTBEFORE 1-Jan-2011'), [1, 2, 4, 5, 6]);
    // uid 3 has no Date header: it matches no SENT* key, nor its negation's complement.
    assert.deepEqual(await run('SEARCH SENTSINCE 1-Jan-1970'), [1, 2, 4, 5, 6, 8]);
    assert.deepEqual(await run('SEARCH SENTSINCE 15-Aug-2010'), [2, 5, 8]);
    assert.deepEqual(await run('SEARCH NOT SENTSINCE 1-Jan-1970'), [3]);
  });

  test('sequence sets use the session\'s sequence numbers; "*" is the last message', async () => {
    // UID 7 was expunged, so sequence 7 is UID 8.
    assert.deepEqual(await run('SEARCH 7'), [8]);
    assert.deepEqual(await run('SEARCH *'), [8]);
    assert.deepEqual(await run('SEARCH 2:4'), [2, 3, 4]);
    assert.deepEqual(await run('SEARCH 4:2,6'), [2, 3, 4, 6]);
    assert.deepEqual(await run('SEARCH 5:*'), [5, 6, 8]);
    assert.deepEqual(await run('SEARCH 1:4294967295'), [1, 2, 3, 4, 5, 6, 8]);
    assert.deepEqual(await run('SEARCH 8:9'), []);
  });

  test('UID sets; "*" is the highest UID, so n:* always includes it (RFC 3501 6.4.8)', async () => {
    assert.deepEqual(await run('UID SEARCH UID 7'), []);
    assert.deepEqual(await run('UID SEARCH UID 6:*'), [6, 8]);
    assert.deepEqual(await run('UID SEARCH UID 100:*'), [8]);
    assert.deepEqual(await run('UID SEARCH UID 1,3,5:6'), [1, 3, 5, 6]);
    assert.deepEqual(await run('SEARCH UID 2:3 SEEN'), [3]);
  });

  test('"$" is the saved result in both SEARCH forms (RFC 5182)', async () => {
    const saved = { savedResult: [1, 3, 8] };
    assert.deepEqual(await run('SEARCH $', saved), [1, 3, 8]);
    assert.deepEqual(await run('UID SEARCH UID $', saved), [1, 3, 8]);
    assert.deepEqual(await run('UID SEARCH $ SMALLER 1000', saved), [1, 3]);
    assert.deepEqual(await run('SEARCH OR $ 2', saved), [1, 2, 3, 8]);
    assert.deepEqual(await run('SEARCH NOT $', saved), [2, 4, 5, 6]);
    // Nothing saved: "$" is a valid set that matches nothing (RFC 5182 2.1).
    assert.deepEqual(await run('SEARCH $'), []);
    assert.deepEqual(await run('SEARCH $', { savedResult: [] }), []);
  });

  test('SUBJECT, FROM, TO, CC and BCC match decoded header values case-insensitively', async () => {
    assert.deepEqual(await run('SEARCH SUBJECT quarterly'), [1]);
    assert.deepEqual(await run('SEARCH SUBJECT "REPORT"'), [1]);
    // RFC 2047 Latin-1 Q-encoding; ß folds to ss.
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 SUBJECT ${literal('grüße aus')}`), [2]);
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 SUBJECT ${literal('GRÜSSE')}`), [2]);
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 SUBJECT ${literal('мир')}`), [3]);
    // Two adjacent encoded words join without the space between them (RFC 2047 6.2).
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 SUBJECT ${literal('café crème')}`), [6]);
    assert.deepEqual(await run('SEARCH SUBJECT ""'), [1, 2, 3, 4, 5, 6, 8]);
    assert.deepEqual(await run('SEARCH FROM ALICE@EXAMPLE.ORG'), [1, 5]);
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 FROM ${literal('jürgen groß')}`), [2]);
    assert.deepEqual(await run('SEARCH FROM "Alice Smith"'), [1]);
    assert.deepEqual(await run('SEARCH TO bob'), [1]);
    assert.deepEqual(await run('SEARCH TO alice@example.org'), [2, 3, 4]);
    assert.deepEqual(await run('SEARCH CC carol'), [1]);
    assert.deepEqual(await run('SEARCH CC example'), [1]);
    assert.deepEqual(await run('SEARCH BCC secret-list'), [3]);
    // The forwarded message's own From is not the envelope's FROM.
    assert.deepEqual(await run('SEARCH FROM eve'), []);
  });

  test('HEADER: any field by name, decoded, unfolded; empty string means "has the field"', async () => {
    assert.deepEqual(await run('SEARCH HEADER X-Mailer testmailer'), [4]);
    assert.deepEqual(await run('SEARCH HEADER x-mailer ""'), [4]);
    assert.deepEqual(await run('SEARCH HEADER X-Absent ""'), []);
    assert.deepEqual(await run('SEARCH HEADER Message-ID <report@example.org>'), [1]);
    // Folded lines unfold to one space (RFC 5322 2.2.3).
    assert.deepEqual(await run('SEARCH HEADER X-Long "part second"'), [6]);
    // The per-recipient prefix is part of the header clients see.
    assert.deepEqual(await run('SEARCH HEADER Delivered-To dave'), [6]);
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 HEADER Subject ${literal('MÜNCHEN')}`), [2]);
    assert.deepEqual(await run('SEARCH HEADER Content-Transfer-Encoding base64'), [3]);
    // Only the top-level header: the forwarded message's Subject is not a header of uid 5.
    assert.deepEqual(await run('SEARCH HEADER Subject inner'), []);
  });

  test('BODY: text parts decoded (QP, base64, charsets, HTML); attachments are not searched', async () => {
    assert.deepEqual(await run('SEARCH BODY quarter'), [1]);
    assert.deepEqual(await run('SEARCH BODY quarterly'), []);
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 BODY ${literal('schöne grüsse')}`), [2]);
    // A soft line break (RFC 2045 6.7 rule 5) joins "umgebrochen wird".
    assert.deepEqual(await run('SEARCH BODY "umgebrochen wird"'), [2]);
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 BODY ${literal('σίσυφος')}`), [3]);
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 BODY ${literal('ΣΊΣΥΦΟΣ ΚΑΙ')}`), [3]);
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 BODY ${literal('CAFÉ 🙂')}`), [3]);
    // A decomposed é (e + U+0301) is the same text after NFC.
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 BODY ${literal('cafe\u0301')}`), [3]);
    assert.deepEqual(await run('SEARCH BODY "bold & entity"'), [4]);
    assert.deepEqual(await run('SEARCH BODY "plain version"'), [4]);
    assert.deepEqual(await run('SEARCH BODY attachmentsecret'), []);
    assert.deepEqual(await run('SEARCH BODY "<b>"'), []);
    // The forwarded message's header and body are part of the outer body.
    assert.deepEqual(await run('SEARCH BODY "nested needle"'), [5]);
    assert.deepEqual(await run('SEARCH BODY "inner subject"'), [5]);
    // Header text is not body text.
    assert.deepEqual(await run('SEARCH BODY alice'), []);
    assert.deepEqual(await run('SEARCH BODY ""'), [1, 2, 3, 4, 5, 6, 8]);
  });

  test('TEXT: header or body', async () => {
    assert.deepEqual(await run('SEARCH TEXT quarterly'), [1]);
    assert.deepEqual(await run('SEARCH TEXT quarter'), [1]);
    assert.deepEqual(await run('SEARCH TEXT "Subject: Monthly"'), [4]);
    assert.deepEqual(await run('SEARCH TEXT alice@example.org'), [1, 2, 3, 4, 5]);
    assert.deepEqual(await run(`SEARCH CHARSET UTF-8 TEXT ${literal('grüsse')}`), [2]);
    assert.deepEqual(await run('SEARCH TEXT nested'), [5]);
    assert.deepEqual(await run('SEARCH TEXT delivered-to'), [6]);
    assert.deepEqual(await run('SEARCH TEXT "no such text anywhere"'), []);
  });

  test('US-ASCII charset and no charset decode the same way', async () => {
    assert.deepEqual(await run('SEARCH CHARSET US-ASCII BODY Quarter', { charset: 'US-ASCII' }), [1]);
    assert.deepEqual(await run(`SEARCH BODY ${literal('café')}`), [3]);
  });

  test('NOT, OR and parentheses nest; implicit AND intersects', async () => {
    assert.deepEqual(await run('SEARCH OR SEEN FLAGGED'), [1, 2, 3, 8]);
    assert.deepEqual(await run('SEARCH NOT SEEN'), [2, 4, 5, 6]);
    assert.deepEqual(await run('SEARCH NOT NOT SEEN'), [1, 3, 8]);
    assert.deepEqual(await run('SEARCH SEEN UNDELETED'), [1, 8]);
    assert.deepEqual(await run('SEARCH (SEEN UNDELETED) SUBJECT large'), [8]);
    assert.deepEqual(await run('SEARCH OR (SEEN BODY quarter) (FLAGGED SUBJECT grüsse)'.replace('grüsse', 'aus')), [1, 2]);
    assert.deepEqual(await run('SEARCH OR OR DRAFT DELETED ANSWERED'), [2, 3, 4]);
    assert.deepEqual(await run('SEARCH NOT OR BODY quarter BODY nested'), [2, 3, 4, 6, 8]);
    assert.deepEqual(await run('SEARCH OR NOT BODY quarter SUBJECT quarterly'), [1, 2, 3, 4, 5, 6, 8]);
    assert.deepEqual(await run('SEARCH NOT (SUBJECT quarterly BODY quarter)'), [2, 3, 4, 5, 6, 8]);
    assert.deepEqual(await run('SEARCH ((((SEEN))))'), [1, 3, 8]);
    assert.deepEqual(await run('SEARCH NOT ALL'), []);
    assert.deepEqual(await run('SEARCH OR ALL BODY nothing'), [1, 2, 3, 4, 5, 6, 8]);
    // FROM "Smith" example of RFC 3501 6.4.4.
    assert.deepEqual(await run('SEARCH SEEN SINCE 1-Feb-1994 NOT FROM "Smith"'), [3, 8]);
  });

  test('the deepest nesting the parser allows evaluates', async () => {
    const depth = 49;
    const command = `SEARCH ${'NOT '.repeat(depth)}SEEN`;
    assert.deepEqual(await run(command), [2, 4, 5, 6]);
    const ors = `SEARCH ${'OR DRAFT '.repeat(24)}FLAGGED`;
    assert.deepEqual(await run(ors), [2, 4]);
  });
});

describe('SEARCH engine: changing mailboxes', () => {
  test('MODSEQ matches messages changed at or after the value; entry names are ignored', async () => {
    const { fx, modseqs } = await buildMailbox();
    try {
      const highest = Math.max(...modseqs.values());
      assert.deepEqual(await search(fx, `SEARCH MODSEQ ${highest}`), [...modseqs].filter(([, m]) => m >= highest).map(([uid]) => uid));
      const update = await fx.store.updateFlags(fx.accountId, fx.mailboxId, [2, 5], { op: 'add', flags: SystemFlag.Draft, keywords: [] });
      const changed = update.changed[0]!.modseq;
      assert.deepEqual(await search(fx, `SEARCH MODSEQ ${changed}`), [2, 5]);
      assert.deepEqual(await search(fx, `SEARCH MODSEQ "/flags/\\\\draft" all ${changed}`), [2, 5]);
      assert.deepEqual(await search(fx, `SEARCH MODSEQ ${changed + 1}`), []);
      assert.deepEqual(await search(fx, 'SEARCH MODSEQ 0'), [1, 2, 3, 4, 5, 6, 8]);
      assert.deepEqual(await search(fx, `SEARCH OR NOT MODSEQ ${changed} LARGER 50000`), [1, 3, 4, 6, 8]);
      assert.equal(searchUsesModseq(parseSearchKey(`SEARCH OR SEEN NOT MODSEQ ${changed}`).key), true);
      assert.equal(searchUsesModseq(parseSearchKey('SEARCH OR SEEN NOT BODY x').key), false);
    } finally {
      await fx.close();
    }
  });

  test('a message expunged after the view was built matches nothing that reads content', async () => {
    const { fx } = await buildMailbox();
    try {
      const ctx = await searchContext(fx);
      await fx.store.expunge(fx.accountId, fx.mailboxId, [3, 5]);
      const { key } = parseSearchKey('SEARCH NOT BODY "no such words"');
      assert.deepEqual(await evaluateSearch(key, ctx), [1, 2, 4, 6, 8]);
      // Metadata-only keys answer from the session's view (RFC 3501 7.4.1: until it learns
      // of the expunge, the session still has those messages).
      assert.deepEqual(await evaluateSearch(parseSearchKey('SEARCH DELETED').key, ctx), [3]);
    } finally {
      await fx.close();
    }
  });

  test('an empty mailbox gives an empty result for every key', async () => {
    const fx = await openSearchFixture();
    try {
      for (const command of ['SEARCH ALL', 'SEARCH *', 'UID SEARCH UID 1:*', 'SEARCH BODY x', 'SEARCH NOT SEEN', 'SEARCH $']) {
        assert.deepEqual(await search(fx, command), [], command);
      }
    } finally {
      await fx.close();
    }
  });
});
