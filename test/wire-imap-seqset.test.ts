import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ImapParseError, ImapUsageError, MAX_NZ_NUMBER, SequenceSet, formatSequenceSet, formatUidRunsInOrder } from '../src/wire/imap/index.js';

describe('SequenceSet.parse (RFC 3501 9 sequence-set, RFC 5182 "$")', () => {
  it('keeps the ranges as written', () => {
    assert.deepStrictEqual(SequenceSet.parse('2,4:7,9,12:*').ranges, [
      { start: 2, end: 2 },
      { start: 4, end: 7 },
      { start: 9, end: 9 },
      { start: 12, end: '*' },
    ]);
    assert.equal(SequenceSet.parse('*:4,5:7').toString(), '*:4,5:7');
    assert.equal(SequenceSet.parse('$').saved, true);
    assert.equal(SequenceSet.parse('$').toString(), '$');
  });

  const invalid: Array<[string, string]> = [
    ['0', 'Invalid sequence set 0'],
    ['01', 'Invalid sequence set 01'],
    ['1:', 'Invalid sequence set 1:'],
    [':1', 'Invalid sequence set :1'],
    ['1,', 'Invalid sequence set 1,'],
    ['1:2:3', 'Invalid sequence set 1:2:3'],
    ['-1', 'Invalid sequence set -1'],
    ['1,$', 'Invalid sequence set 1,$'],
    ['4294967296', 'Number out of range in sequence set 4294967296'],
    ['12345678901', 'Invalid sequence set 12345678901'],
  ];
  for (const [text, message] of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => SequenceSet.parse(text), (error: unknown) => error instanceof ImapParseError && error.message === message);
    });
  }

  it('can forbid "*" and "$"', () => {
    assert.throws(() => SequenceSet.parse('1:*', { allowStar: false }), { message: '"*" is not allowed in sequence set 1:*' });
    assert.throws(() => SequenceSet.parse('$', { allowSaved: false }), { message: '"$" is not allowed here' });
  });
});

describe('SequenceSet membership and iteration', () => {
  it('resolves "*" to the current maximum, in either order (RFC 3501 9 seq-range)', () => {
    const set = SequenceSet.parse('2,4:7,9,12:*');
    assert.deepStrictEqual([...set.values(15)], [2, 4, 5, 6, 7, 9, 12, 13, 14, 15]);
    assert.deepStrictEqual([...SequenceSet.parse('*:4,5:7').values(10)], [4, 5, 6, 7, 8, 9, 10]);
    assert.deepStrictEqual(SequenceSet.parse('*:4,5:7').normalized(10), [[4, 10]]);
  });

  it('includes the last UID in 3291:* even when it is smaller (RFC 3501 9)', () => {
    const set = SequenceSet.parse('3291:*');
    assert.equal(set.contains(100, 100), true);
    assert.equal(set.contains(99, 100), false);
    assert.equal(set.contains(3291, 100), true);
    assert.deepStrictEqual([...set.values(100)], [100]);
    assert.equal(set.highest(100), 3291);
  });

  it('never materialises large ranges', () => {
    const set = SequenceSet.parse(`1:${MAX_NZ_NUMBER}`);
    assert.equal(set.contains(MAX_NZ_NUMBER, 10), true);
    assert.equal(set.count(MAX_NZ_NUMBER), MAX_NZ_NUMBER);
    assert.equal(set.count(3), 3);
    assert.deepStrictEqual([...set.values(3)], [1, 2, 3]);
    const iterator = set.values(MAX_NZ_NUMBER);
    assert.deepStrictEqual([iterator.next().value, iterator.next().value], [1, 2]);
  });

  it('clips values() and count() to 1..max but reports the true highest()', () => {
    const set = SequenceSet.parse('5:7,20');
    assert.deepStrictEqual([...set.values(6)], [5, 6]);
    assert.equal(set.count(6), 2);
    assert.equal(set.highest(6), 20);
    assert.equal(SequenceSet.parse('*').highest(0), 0);
  });

  it('merges overlapping and adjacent ranges', () => {
    assert.deepStrictEqual(SequenceSet.parse('9,1:3,4,2:5,7').normalized(100), [
      [1, 5],
      [7, 7],
      [9, 9],
    ]);
  });

  it('demands that "$" is resolved first', () => {
    assert.throws(() => SequenceSet.savedResult().contains(1, 1), ImapUsageError);
    assert.throws(() => [...SequenceSet.savedResult().values(5)], ImapUsageError);
  });

  it('contains() agrees with a naive expansion (property)', () => {
    const seqNumber = fc.oneof(fc.integer({ min: 1, max: 60 }), fc.constant<'*'>('*'));
    const range = fc.tuple(seqNumber, seqNumber);
    fc.assert(
      fc.property(fc.array(range, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 50 }), (ranges, max) => {
        const text = ranges.map(([a, b]) => `${a}:${b}`).join(',');
        const set = SequenceSet.parse(text);
        const members = new Set<number>();
        for (const [a, b] of ranges) {
          const lo = Math.min(a === '*' ? max : a, b === '*' ? max : b);
          const hi = Math.max(a === '*' ? max : a, b === '*' ? max : b);
          for (let n = lo; n <= hi; n++) members.add(n);
        }
        for (let n = 0; n <= 62; n++) assert.equal(set.contains(n, max), members.has(n), `${text} max=${max} n=${n}`);
        assert.deepStrictEqual([...set.values(max)], [...members].filter((n) => n >= 1 && n <= max).sort((x, y) => x - y));
      }),
      { numRuns: 500 },
    );
  });
});

describe('sequence set formatting', () => {
  it('compresses sorted UID lists', () => {
    assert.equal(formatSequenceSet([1, 2, 3, 4, 5, 7, 9, 10, 11, 12]), '1:5,7,9:12');
    assert.equal(formatSequenceSet([12, 3, 1, 2, 2, 11]), '1:3,11:12');
    assert.equal(formatSequenceSet([]), '');
    assert.equal(SequenceSet.fromNumbers([4, 1, 2]).toString(), '1:2,4');
  });

  it('keeps the given order for COPYUID (RFC 4315)', () => {
    assert.equal(formatUidRunsInOrder([5, 6, 7, 1, 2, 9]), '5:7,1:2,9');
    assert.equal(formatUidRunsInOrder([3, 2, 1]), '3,2,1');
  });

  it('parse(format(x)) holds the same members (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 40 }), (numbers) => {
        const set = SequenceSet.parse(formatSequenceSet(numbers));
        assert.deepStrictEqual([...set.values(200)], [...new Set(numbers)].sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });
});
