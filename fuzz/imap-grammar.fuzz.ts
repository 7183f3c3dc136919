/**
 * IMAP grammar pieces: modified UTF-7 mailbox names (RFC 3501 5.1.3), sequence sets (RFC 3501 9,
 * never materialised), and the SEARCH parser (nesting limits, RFC 3501 6.4.4).
 * @module
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeMailboxName,
  encodeMailboxName,
  ImapParseError,
  ImapReceiver,
  MailboxNameError,
  MAX_NZ_NUMBER,
  MAX_SEARCH_DEPTH,
  parseCommand,
  SequenceSet,
} from '../src/wire/imap/index.js';
import { expectErrorType, fuzzParameters, testTimeoutMs, withinTime } from './support.js';

/** Strings without lone surrogates: every one has a modified UTF-7 spelling. */
const mailboxNames = fc.string({ unit: fc.oneof(fc.constantFrom('&', '-', '/', '.', ' ', '~', '&-', '+', ','), fc.constantFrom('ä', '日本', '😀', '\u0000', '\u007f', '\uffff', '\u{10ffff}'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 40 });

test('modified UTF-7: decode(encode(x)) = x, and encode(decode(w)) = w for every accepted w', { timeout: testTimeoutMs() }, () => {
  fc.assert(
    fc.property(mailboxNames, (name) => {
      const wire = encodeMailboxName(name);
      assert.match(wire, /^[\x20-\x7e]*$/, 'the wire form is printable ASCII');
      assert.equal(decodeMailboxName(wire), name);
    }),
    fuzzParameters(0.15),
  );
});

test('modified UTF-7: arbitrary input is decoded canonically or refused with MailboxNameError', { timeout: testTimeoutMs() }, () => {
  const wireLike = fc.string({ unit: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('&', '-', 'A', 'G', 'E', 'Jjo', 'AGE', ',', '+', '/', 'a', '&-', '&AGEAZQ-', '&2D3eAA-') }, { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) }), maxLength: 60 });
  fc.assert(
    fc.property(wireLike, (wire) => {
      let name: string;
      try {
        name = decodeMailboxName(wire);
      } catch (error) {
        expectErrorType(error, [MailboxNameError], 'decodeMailboxName');
        return;
      }
      assert.equal(encodeMailboxName(name), wire, 'an accepted name has exactly one spelling');
    }),
    fuzzParameters(0.15),
  );
  // Lone surrogates cannot be encoded: the documented error, nothing else.
  assert.throws(() => encodeMailboxName('a\ud800b'), MailboxNameError);
});

const seqNumber = fc.oneof(fc.constant('*' as const), fc.integer({ min: 1, max: MAX_NZ_NUMBER }), fc.integer({ min: 1, max: 40 }));
const seqRanges = fc.array(fc.tuple(seqNumber, seqNumber), { minLength: 1, maxLength: 30 });

test('sequence sets: huge ranges cost nothing; count, contains and values agree on small maxima', { timeout: testTimeoutMs() }, () => {
  fc.assert(
    fc.property(seqRanges, fc.oneof(fc.integer({ min: 0, max: 60 }), fc.constant(MAX_NZ_NUMBER)), fc.nat({ max: 70 }), (ranges, max, probe) => {
      const text = ranges.map(([a, b]) => (a === b ? String(a) : `${a}:${b}`)).join(',');
      const set = withinTime(1000, `parse ${text}`, () => SequenceSet.parse(text));
      assert.equal(set.toString(), text);
      const count = withinTime(1000, 'count', () => set.count(max));
      withinTime(1000, 'contains/highest', () => (set.contains(probe, max), set.highest(max)));
      if (max > 100) return;
      const members = [...set.values(max)];
      assert.equal(members.length, count);
      assert.deepEqual(members, [...new Set(members)].sort((x, y) => x - y), 'values are ascending and unique');
      // Reference: membership straight from the ranges as written.
      const expected = (n: number): boolean =>
        ranges.some(([a, b]) => {
          const lo = Math.min(a === '*' ? max : a, b === '*' ? max : b);
          const hi = Math.max(a === '*' ? max : a, b === '*' ? max : b);
          return n >= lo && n <= hi;
        });
      for (let n = 1; n <= max; n++) assert.equal(set.contains(n, max), expected(n), `contains(${n})`);
      assert.equal(members.every(expected), true);
    }),
    fuzzParameters(0.2),
  );
});

test('sequence sets: arbitrary text parses or fails with ImapParseError', { timeout: testTimeoutMs() }, () => {
  const unit = fc.constantFrom('1', '0', '9', '*', ':', ',', '$', '4294967295', '4294967296', '99999999999', '-', ' ', 'a', '');
  fc.assert(
    fc.property(fc.array(unit, { maxLength: 40 }).map((p) => p.join('')), fc.boolean(), fc.boolean(), (text, allowSaved, allowStar) => {
      try {
        const set = SequenceSet.parse(text, { allowSaved, allowStar });
        if (!set.saved) assert.ok(set.count(MAX_NZ_NUMBER) >= 1);
      } catch (error) {
        expectErrorType(error, [ImapParseError], 'SequenceSet.parse');
      }
    }),
    fuzzParameters(0.1),
  );
});

type Key = string;
/** Search keys as text, nested through OR, NOT and parentheses. */
const searchKeys: fc.Arbitrary<Key> = fc.letrec<{ key: Key }>((tie) => ({
  key: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('ALL', 'SEEN', 'UNSEEN', '1:*', '$', 'UID 1:4294967295', 'BODY x', 'SUBJECT "a b"', 'HEADER X-A y', 'SINCE 1-Feb-2024', 'LARGER 10', 'MODSEQ 5', 'KEYWORD k', 'NEW', 'FOO', 'BEFORE 31-Feb-2024', 'SMALLER 99999999999999999999'),
    tie('key').map((k) => `NOT ${k}`),
    fc.tuple(tie('key'), tie('key')).map(([a, b]) => `OR ${a} ${b}`),
    fc.array(tie('key'), { minLength: 1, maxLength: 3 }).map((keys) => `(${keys.join(' ')})`),
  ),
})).key;

function parseSearchLine(line: string): unknown {
  const receiver = new ImapReceiver({ maxLineLength: 1 << 20, maxLiteralSize: 1024, maxAppendLiteralSize: 1024, maxLiteralsPerCommand: 10, maxNestingDepth: 32 });
  receiver.push(Buffer.from(`A1 ${line}\r\n`, 'latin1'));
  const event = receiver.next();
  if (event?.type !== 'command') return event?.type;
  return parseCommand(event.tag, event.name, event.args);
}

test('SEARCH parser: any nesting parses or is BAD; depth beyond the limit is refused, never a stack overflow', { timeout: testTimeoutMs() }, () => {
  fc.assert(
    fc.property(fc.array(searchKeys, { minLength: 1, maxLength: 4 }), fc.constantFrom('SEARCH ', 'UID SEARCH ', 'SEARCH RETURN (COUNT) ', 'SEARCH CHARSET UTF-8 '), (keys, prefix) => {
      withinTime(1000, 'SEARCH parse', () => {
        try {
          parseSearchLine(prefix + keys.join(' '));
        } catch (error) {
          expectErrorType(error, [ImapParseError], 'SEARCH parser');
        }
      });
    }),
    fuzzParameters(0.2),
  );
  // Chains far past the limit (and past any stack) are refused as too deep.
  for (const line of [`SEARCH ${'NOT '.repeat(100_000)}ALL`, `SEARCH ${'OR ALL '.repeat(100_000)}ALL`]) {
    assert.throws(() => withinTime(1000, 'deep SEARCH', () => parseSearchLine(line)), (error: unknown) => error instanceof ImapParseError && error.kind === 'tooDeep');
  }
  assert.ok(MAX_SEARCH_DEPTH < 1000);
});
