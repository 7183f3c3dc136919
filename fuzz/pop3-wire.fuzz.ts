/**
 * POP3 wire layer (sans-I/O): the line receiver fed arbitrary bytes in arbitrary chunks, and the
 * command parser fed every line. Properties: only Pop3SyntaxError escapes the parser; lines do
 * not depend on chunking; after next() returns null at most one partial line is buffered; a
 * line is never longer than the limit; bounded time per input.
 * @module
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCommand, Pop3Receiver, Pop3SyntaxError } from '../src/wire/pop3/index.js';
import { cutPoints, expectErrorType, fuzzParameters, protocolBytes, splitAt, testTimeoutMs, withinTime } from './support.js';

const ALPHABET = [
  'USER ', 'PASS ', 'APOP ', 'STAT', 'LIST', 'LIST 1', 'RETR ', 'DELE ', 'NOOP', 'RSET', 'QUIT', 'TOP ', 'TOP 1 0', 'UIDL',
  'UIDL 1', 'CAPA', 'STLS', 'AUTH', 'AUTH PLAIN', 'AUTH PLAIN AGEAYg==', 'UTF8', 'LANG', '1', '0', '4294967296', '99999999999999999999',
  '-1', ' ', '  ', '\t', 'tim@example.org', 'c4c9334bac560ecc979e58001b3e22fb', '*', '=', 'é', '\r\n', '\n', '\r',
];

function drive(chunks: readonly Buffer[], lineLimit: number): string[] {
  const receiver = new Pop3Receiver({ lineLimit });
  const outcome: string[] = [];
  for (const chunk of chunks) {
    receiver.push(chunk);
    for (;;) {
      const event = receiver.next();
      if (event === null) break;
      if (event.type === 'lineTooLong') {
        outcome.push('lineTooLong');
        continue;
      }
      assert.ok(event.line.length + 1 <= lineLimit, `a line of ${event.line.length} octets passed the limit of ${lineLimit}`);
      try {
        outcome.push(`command ${JSON.stringify(parseCommand(event.line))}`);
      } catch (error) {
        expectErrorType(error, [Pop3SyntaxError], 'POP3 parser');
        outcome.push(`-ERR ${(error as Pop3SyntaxError).message}`);
      }
    }
    assert.ok(receiver.bufferedBytes <= lineLimit, `receiver holds ${receiver.bufferedBytes} octets (limit ${lineLimit})`);
  }
  outcome.push(`end ${receiver.bufferedBytes}`);
  return outcome;
}

test('POP3 receiver + parser: arbitrary bytes in arbitrary chunks', { timeout: testTimeoutMs() }, () => {
  fc.assert(
    fc.property(fc.integer({ min: 3, max: 600 }), protocolBytes(ALPHABET, 3000), cutPoints, (lineLimit, input, cuts) => {
      const whole = withinTime(2000, 'POP3 receiver (one chunk)', () => drive([input], lineLimit));
      const split = withinTime(2000, 'POP3 receiver (split)', () => drive(splitAt(input, cuts), lineLimit));
      assert.deepEqual(split, whole, 'lines depend on chunking');
    }),
    fuzzParameters(0.7),
  );
});

test('POP3 parser: long lines of one character are linear', { timeout: testTimeoutMs() }, () => {
  const unit = fc.constantFrom(' ', '\t', 'a', '1', '0', '-', 'é', '*');
  const verb = fc.constantFrom('USER ', 'PASS ', 'APOP a ', 'TOP ', 'LIST ', 'AUTH PLAIN ', 'UIDL ', '');
  fc.assert(
    fc.property(verb, unit, fc.integer({ min: 100, max: 64 * 1024 }), fc.constantFrom('', 'x', ' 1'), (prefix, piece, count, suffix) => {
      const line = Buffer.from(`${prefix}${piece.repeat(count)}${suffix}`, 'utf8');
      withinTime(500, `POP3 parseCommand (${count} × ${JSON.stringify(piece)} after ${prefix})`, () => {
        try {
          parseCommand(line);
        } catch (error) {
          expectErrorType(error, [Pop3SyntaxError], 'POP3 parser');
        }
      });
      withinTime(500, `POP3 receiver (${count} × ${JSON.stringify(piece)})`, () => drive([line, Buffer.from('\r\n')], 12288));
    }),
    fuzzParameters(0.3, { numRuns: Math.min(500, Number(process.env['FUZZ_RUNS'] ?? 500)) }),
  );
});
