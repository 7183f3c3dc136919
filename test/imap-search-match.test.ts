/**
 * The pure parts of the SEARCH engine: case-insensitive matching, the charset check, the day
 * arithmetic of the date keys, and the decoded-text cache.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FOLDS_TO_ASCII } from '../src/imap/search/match-text.js';
import {
  SUPPORTED_SEARCH_CHARSETS,
  FoldedNeedle,
  TextCache,
  decodeSearchString,
  foldCase,
  isSupportedSearchCharset,
  matchesText,
} from '../src/imap/search/index.js';
import { dayNumber, dayOfInstant, searchDay, sentDay, writtenDay } from '../src/imap/search/dates.js';
import { indexMessage } from '../src/mime/indexer.js';

describe('matchesText', () => {
  test('substring, case-insensitive, empty needle matches', () => {
    assert.equal(matchesText('Quarterly Report', 'report'), true);
    assert.equal(matchesText('Quarterly Report', 'REPORT'), true);
    assert.equal(matchesText('Quarterly Report', 'reports'), false);
    assert.equal(matchesText('', ''), true);
    assert.equal(matchesText('anything', ''), true);
    assert.equal(matchesText('', 'a'), false);
  });

  test('RegExp syntax in the needle is literal text', () => {
    assert.equal(matchesText('cost: $5 (approx.) [a|b] c*d+e? f\\g {2}', '$5 (approx.) [a|b] c*d+e? f\\g {2}'), true);
    assert.equal(matchesText('abc', '.'), false);
    assert.equal(matchesText('a.c', '.'), true);
    assert.equal(matchesText('x^y', '^y'), true);
  });

  test('Unicode case folding beyond toLowerCase', () => {
    assert.equal(matchesText('Grüße aus München', 'GRÜSSE'), true);
    assert.equal(matchesText('GRÜSSE', 'grüße'), true);
    assert.equal(matchesText('Straße', 'STRASSE'), true);
    assert.equal(matchesText('STRAẞE', 'straße'), true);
    assert.equal(matchesText('STRAẞE', 'strasse'), true);
    // Final sigma: "ΣΊΣΥΦΟΣ" lower-cases with a final ς; a needle ending mid-word still matches.
    assert.equal(matchesText('ΣΊΣΥΦΟΣ', 'σίσυφος'), true);
    assert.equal(matchesText('σίσυφοσα', 'ΣΊΣΥΦΟΣ'), true);
    assert.equal(matchesText('ΣΊΣΥΦΟΣΑ', 'σίσυφος'), true);
    assert.equal(matchesText('ﬁle', 'FILE'), true);
    // Kelvin sign and long s (simple folding).
    assert.equal(matchesText('5 \u212A', '5 k'), true);
    assert.equal(matchesText('\u017Fun', 'SUN'), true);
    assert.equal(matchesText('Привет МИР', 'мир'), true);
    assert.equal(matchesText('emoji 🙂 here', '🙂 HERE'), true);
    assert.equal(matchesText('café', 'cafe'), false);
  });

  test('NFC: composed and decomposed forms are the same text', () => {
    assert.equal(matchesText('caf\u00e9', 'cafe\u0301'), true);
    assert.equal(matchesText('cafe\u0301 au lait', 'CAF\u00c9 AU'), true);
  });

  test('foldCase is idempotent and the needle helper agrees with matchesText', () => {
    assert.equal(foldCase('ΣΊΣΥΦΟΣ'), 'σίσυφοσ');
    assert.equal(foldCase('Straße'), 'strasse');
    assert.equal(foldCase('ABC'), 'abc');
    const needle = new FoldedNeedle('Grüße');
    assert.equal(needle.folded, 'grüsse');
    assert.equal(needle.foundIn('VIELE GRÜSSE'), true);
    assert.equal(needle.foundIn('viele Grüne'), false);
  });

  test('FOLDS_TO_ASCII lists exactly the non-ASCII code points whose fold contains ASCII', () => {
    const found: number[] = [];
    for (let cp = 0x80; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x7f]/.test(foldCase(String.fromCodePoint(cp)))) found.push(cp);
    }
    assert.deepEqual(found, [0xdf, 0x130, 0x131, 0x149, 0x17f, 0x37e, 0x1e9a, 0x1e9e, 0x1fef, 0x212a, 0xfb00, 0xfb01, 0xfb02, 0xfb03, 0xfb04, 0xfb05, 0xfb06]);
    for (const cp of found) assert.equal(FOLDS_TO_ASCII.test(String.fromCodePoint(cp)), true, cp.toString(16));
    assert.equal(FOLDS_TO_ASCII.test('Grüne Ölfässer'), false);
  });

  test('an ASCII needle finds its folded forms in non-ASCII text', () => {
    assert.equal(matchesText('Grüne Straße', 'strasse'), true);
    assert.equal(matchesText('Grüne Strasse', 'STRASSE'), true);
    assert.equal(matchesText('Grüne Strase', 'strasse'), false);
    assert.equal(matchesText('Ölfässer', 'olf'), false);
    assert.equal(matchesText('the ﬃce', 'ffice'), true);
    // Full folding turns İ into i + U+0307 (the Turkic rule that would give "i" needs a language).
    assert.equal(matchesText('DİYARBAKIR', 'bakir'), true);
    assert.equal(matchesText('DİYARBAKIR', 'diyar'), false);
    // Dotless ı upper-cases to I, so it meets i (CaseFolding.txt keeps it apart: more lenient).
    assert.equal(matchesText('ıi', 'II'), true);
  });

  test('property: on NFC text, a match is exactly a substring of the folded forms', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'B', 'ß', 'S', 's', 'ẞ', 'Σ', 'ς', 'σ', 'é', 'É', 'K', '\u212A', 'ﬁ', 'I', 'ı', 'İ', ' ', '.', '*', 'Ω', 'ω') });
    fc.assert(
      fc.property(text, text, (hayRaw, needleRaw) => {
        const hay = hayRaw.normalize('NFC');
        const needle = needleRaw.normalize('NFC');
        assert.equal(matchesText(hay, needle), foldCase(hay).includes(foldCase(needle)));
      }),
      { numRuns: 3000 },
    );
  });

  test('property: a string always matches itself re-cased, and any of its substrings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.nat(), fc.nat(), (raw, a, b) => {
        const hay = raw.normalize('NFC');
        assert.equal(matchesText(hay.toUpperCase(), hay), true);
        assert.equal(matchesText(hay, hay.toLowerCase()), true);
        const chars = [...hay];
        const from = chars.length === 0 ? 0 : a % chars.length;
        const to = from + (chars.length === 0 ? 0 : b % (chars.length - from + 1));
        const piece = chars.slice(from, to).join('').normalize('NFC');
        if (hay.includes(piece)) assert.equal(matchesText(hay, piece), true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('SEARCH charset check', () => {
  test('UTF-8 and US-ASCII are supported, nothing else', () => {
    assert.deepEqual(SUPPORTED_SEARCH_CHARSETS, ['UTF-8', 'US-ASCII']);
    assert.equal(isSupportedSearchCharset(null), true);
    assert.equal(isSupportedSearchCharset('UTF-8'), true);
    assert.equal(isSupportedSearchCharset('utf-8'), true);
    assert.equal(isSupportedSearchCharset('US-ASCII'), true);
    assert.equal(isSupportedSearchCharset('ISO-8859-1'), false);
    assert.equal(isSupportedSearchCharset('UTF8'), false);
    assert.equal(isSupportedSearchCharset('X-UNKNOWN'), false);
  });

  test('search strings decode as UTF-8; bad bytes become U+FFFD', () => {
    assert.equal(decodeSearchString(Buffer.from('Grüße', 'utf8')), 'Grüße');
    assert.equal(decodeSearchString(Buffer.from([0x61, 0xff, 0x62])), 'a\ufffdb');
  });
});

describe('date keys: day arithmetic', () => {
  test('day numbers', () => {
    assert.equal(dayNumber(1970, 1, 1), 0);
    assert.equal(dayNumber(1970, 1, 2), 1);
    assert.equal(dayNumber(1969, 12, 31), -1);
    assert.equal(dayNumber(2000, 3, 1) - dayNumber(2000, 2, 28), 2);
    assert.equal(searchDay({ year: 1994, month: 2, day: 1 }), dayNumber(1994, 2, 1));
    // Years below 100 stay themselves (Date.UTC would make 50 into 1950).
    assert.equal(dayNumber(50, 1, 1) < dayNumber(1950, 1, 1), true);
  });

  test('the day of an instant depends on the zone', () => {
    const instant = new Date('2010-08-16T23:30:00Z');
    assert.equal(dayOfInstant(instant, 0), dayNumber(2010, 8, 16));
    assert.equal(dayOfInstant(instant, 30), dayNumber(2010, 8, 17));
    assert.equal(dayOfInstant(instant, -600), dayNumber(2010, 8, 16));
    assert.equal(dayOfInstant(new Date('2010-08-17T03:00:00Z'), -240), dayNumber(2010, 8, 16));
  });

  test('the day written in a Date header', () => {
    assert.equal(writtenDay('Tue, 1 Jul 2003 23:30:00 -0700'), dayNumber(2003, 7, 1));
    assert.equal(writtenDay('1 Jul 03 10:00 GMT'), dayNumber(2003, 7, 1));
    assert.equal(writtenDay('Thu, 01 Jan 70 00:00:00 +0000'), dayNumber(1970, 1, 1));
    // RFC 5322 4.3: a three-digit year has 1900 added.
    assert.equal(writtenDay('Fri, 21 Nov 103 09:55:06 -0600'), dayNumber(2003, 11, 21));
    assert.equal(writtenDay('(comment 9 Sep 1999) 5 September 2001 08:00 +0200'), dayNumber(2001, 9, 5));
    assert.equal(writtenDay('Mon Jan  2 15:04:05 2006'), dayNumber(2006, 1, 2));
    assert.equal(writtenDay('2003-07-01T23:30:00-07:00'), dayNumber(2003, 7, 1));
    assert.equal(writtenDay('31 Feb 2003 10:00 +0000'), null);
    assert.equal(writtenDay('yesterday'), null);
  });

  test('sentDay: the written day, the UTC day as a fallback, null without a parsable date', () => {
    const index = (date: string | null): ReturnType<typeof indexMessage> =>
      indexMessage(Buffer.from(`${date === null ? '' : `Date: ${date}\r\n`}Subject: x\r\n\r\nbody\r\n`));
    assert.equal(sentDay(index('Tue, 1 Jul 2003 23:30:00 -0700')), dayNumber(2003, 7, 1));
    assert.equal(sentDay(index('Wed, 2 Jul 2003 01:30:00 +0900')), dayNumber(2003, 7, 2));
    assert.equal(sentDay(index(null)), null);
    assert.equal(sentDay(index('not a date at all')), null);
  });
});

describe('TextCache', () => {
  test('least recently used entries go first, within the byte bound', () => {
    // Each entry costs 96 + 2 * (key + text) bytes: 96 + 2 * (1 + 100) = 298.
    const cache = new TextCache({ maxBytes: 900, maxEntryBytes: 900 });
    const text = (c: string): string => c.repeat(100);
    cache.set('a', text('a'));
    cache.set('b', text('b'));
    cache.set('c', text('c'));
    assert.deepEqual(cache.stats, { hits: 0, misses: 0, entries: 3, bytes: 894 });
    assert.equal(cache.get('a'), text('a'));
    cache.set('d', text('d'));
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), text('a'));
    assert.equal(cache.get('c'), text('c'));
    assert.equal(cache.get('d'), text('d'));
    assert.deepEqual(cache.stats, { hits: 4, misses: 1, entries: 3, bytes: 894 });
  });

  test('an entry larger than maxEntryBytes is not kept; replacing an entry updates the size', () => {
    const cache = new TextCache({ maxBytes: 10_000, maxEntryBytes: 1000 });
    cache.set('big', 'x'.repeat(1000));
    assert.equal(cache.get('big'), undefined);
    cache.set('k', 'x'.repeat(10));
    cache.set('k', 'y'.repeat(20));
    assert.equal(cache.get('k'), 'y'.repeat(20));
    assert.equal(cache.stats.bytes, 96 + 2 * 21);
    cache.clear();
    assert.deepEqual(cache.stats, { hits: 1, misses: 1, entries: 0, bytes: 0 });
  });
});
