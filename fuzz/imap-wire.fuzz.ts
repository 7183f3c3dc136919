/**
 * IMAP wire layer (sans-I/O): the command receiver fed arbitrary bytes in arbitrary chunks, in
 * every receiver mode the session can put it in (command, literal continuation, APPEND
 * streaming, IDLE, AUTHENTICATE), and the command parser fed whatever the receiver produced.
 *
 * Properties:
 * - nothing is thrown but ImapParseError (from the parser); the receiver never throws;
 * - the events do not depend on how the input was split into chunks;
 * - after next() returns null, at most one unfinished line (≤ maxLineLength + 1) is buffered;
 * - every input is handled within a time limit (linear parsing, no hang).
 * @module
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ImapParseError, ImapReceiver, parseAuthResponseLine, parseCommand, parsePendingAppend } from '../src/wire/imap/index.js';
import type { ImapReceiverEvent, ImapReceiverLimits, ImapToken } from '../src/wire/imap/index.js';
import { cutPoints, expectErrorType, fuzzParameters, protocolBytes, splitAt, testTimeoutMs, withinTime } from './support.js';

const ALPHABET = [
  'A1 ', 'a2 ', '* ', '+ ', 'LOGIN ', 'AUTHENTICATE PLAIN', 'AUTHENTICATE PLAIN =', 'SELECT ', 'EXAMINE ', 'APPEND ', 'INBOX ',
  'FETCH ', 'UID ', 'STORE ', 'SEARCH ', 'SEARCH RETURN (MIN MAX) ', 'COPY ', 'MOVE ', 'LIST ', 'STATUS ', 'IDLE', 'DONE',
  'ID ', 'ENABLE ', 'CHARSET UTF-8 ', 'EXPUNGE', 'NOOP', 'CAPABILITY', 'LOGOUT', 'STARTTLS', 'RENAME ', 'CREATE ', 'SETQUOTA ',
  '1:*', '1,2,3:4', '$', '*', '4294967295', '4294967296', '0', 'OR ', 'NOT ', 'ALL ', 'BODY ', 'HEADER ', 'SINCE 1-Jan-2020 ',
  'MODSEQ ', 'LARGER ', 'KEYWORD ', 'BODY[', 'BODY.PEEK[', 'BINARY[', 'HEADER.FIELDS (From To)]', 'TEXT]', ']', '<0.10>',
  '(', ')', '((', '))', '[', '"', '\\', '"a\\"b"', '\\Seen', '\\Recent', '{0}\r\n', '{3}\r\n', '{5}\r\nhello', '{3+}\r\nabc',
  '{99999999999999}\r\n', '{70+}\r\n', '~{4}\r\n', '~{2+}\r\n\0\0', '&-', '&AGE-', '&Jjo', '"02-Jan-2024 03:04:05 +0000" ',
  'FLAGS', '(\\Seen k1) ', 'CONDSTORE', 'QRESYNC ', 'UTF8=ACCEPT', 'RETURN (ALL)', '%', 'dGVzdA==', '=', 'AGZvbwBiYXI=',
];

interface Scenario {
  limits: ImapReceiverLimits;
  utf8Accept: boolean;
}

const scenarios: fc.Arbitrary<Scenario> = fc.record({
  limits: fc.record({
    maxLineLength: fc.integer({ min: 16, max: 400 }),
    maxLiteralSize: fc.integer({ min: 0, max: 80 }),
    maxAppendLiteralSize: fc.integer({ min: 0, max: 200 }),
    maxLiteralsPerCommand: fc.integer({ min: 1, max: 6 }),
    maxNestingDepth: fc.integer({ min: 1, max: 8 }),
    maxNonSyncLiteralSize: fc.option(fc.integer({ min: 0, max: 64 }), { nil: undefined }),
  }),
  utf8Accept: fc.boolean(),
});

/** A comparable record of what happened, chunking-independent (literal data joined). */
type Outcome = string[];

/**
 * Plays the session's part: answers continuations (accept within the limit, reject over it),
 * enters IDLE and AUTHENTICATE modes after those commands, and parses every command.
 */
function drive(chunks: readonly Buffer[], scenario: Scenario): Outcome {
  const receiver = new ImapReceiver(scenario.limits);
  const outcome: Outcome = [];
  let literalData: Buffer[] = [];
  const flushData = (): void => {
    if (literalData.length === 0) return;
    outcome.push(`data ${Buffer.concat(literalData).toString('hex')}`);
    literalData = [];
  };
  const bufferBound = scenario.limits.maxLineLength + 1;
  for (const chunk of chunks) {
    receiver.push(chunk);
    for (;;) {
      const event = receiver.next();
      if (event === null) break;
      if (event.type === 'literalData') {
        literalData.push(event.chunk);
        continue;
      }
      flushData();
      outcome.push(handle(receiver, event, scenario));
    }
    assert.ok(receiver.bufferedBytes <= bufferBound, `receiver holds ${receiver.bufferedBytes} octets (bound ${bufferBound})`);
  }
  flushData();
  outcome.push(`end buffered=${receiver.bufferedBytes} closed=${receiver.closed}`);
  return outcome;
}

function handle(receiver: ImapReceiver, event: ImapReceiverEvent, scenario: Scenario): string {
  switch (event.type) {
    case 'needContinuation':
      if (event.exceedsLimit) receiver.rejectLiteral();
      else receiver.acceptLiteral();
      return `continuation ${event.tag} ${event.size} ${event.exceedsLimit}`;
    case 'literalStart':
      return `literalStart ${event.tag} ${event.index} ${event.size} ${parsed(() => parsePendingAppend(event.args, { utf8Accept: scenario.utf8Accept }))}`;
    case 'command': {
      if (event.name === 'IDLE') receiver.expectIdleDone();
      // Without an initial response (RFC 4959) the session sends "+ " and reads a response line.
      if (event.name === 'AUTHENTICATE' && event.args.length <= 1) receiver.expectAuthResponse();
      return `command ${event.tag} ${event.name} ${describe(event.args)} ${parsed(() => parseCommand(event.tag, event.name, event.args, { utf8Accept: scenario.utf8Accept }))}`;
    }
    case 'authResponse':
      return `authResponse ${event.cancelled} ${parsed(() => parseAuthResponseLine(event.data))}`;
    case 'error':
      return `error ${event.tag} ${event.kind}`;
    case 'fatal':
      return `fatal ${event.tag} ${event.size}`;
    case 'idleEnd':
      return `idleEnd ${event.done}`;
    case 'literalEnd':
      return 'literalEnd';
    case 'literalData':
      return 'literalData';
  }
}

/** Runs a parser; the only error it may throw is ImapParseError (answered BAD). */
function parsed(parse: () => unknown): string {
  try {
    return `ok ${stringify(parse())}`;
  } catch (error) {
    expectErrorType(error, [ImapParseError], 'IMAP parser');
    return `BAD ${(error as ImapParseError).kind}`;
  }
}

function stringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? 'undefined';
}

function describe(tokens: readonly ImapToken[]): string {
  return stringify(tokens);
}

test('IMAP receiver + parser: arbitrary bytes in arbitrary chunks', { timeout: testTimeoutMs() }, () => {
  fc.assert(
    fc.property(scenarios, protocolBytes(ALPHABET), cutPoints, (scenario, input, cuts) => {
      const whole = withinTime(2000, 'IMAP receiver (one chunk)', () => drive([input], scenario));
      const split = withinTime(2000, 'IMAP receiver (split)', () => drive(splitAt(input, cuts), scenario));
      assert.deepEqual(split, whole, 'events depend on chunking');
    }),
    fuzzParameters(0.6),
  );
});

test('IMAP receiver: pure random octets one byte at a time never throw and stay bounded', { timeout: testTimeoutMs() }, () => {
  fc.assert(
    fc.property(scenarios, fc.uint8Array({ maxLength: 3000 }), (scenario, bytes) => {
      const input = Buffer.from(bytes);
      const bytewise = [...input].map((byte) => Buffer.from([byte]));
      const whole = withinTime(2000, 'IMAP receiver (random octets)', () => drive([input], scenario));
      assert.deepEqual(withinTime(4000, 'IMAP receiver (byte by byte)', () => drive(bytewise, scenario)), whole);
    }),
    fuzzParameters(0.2),
  );
});

test('IMAP receiver: long lines and deep nesting are linear (big limits, large inputs)', { timeout: testTimeoutMs() }, () => {
  const big: Scenario = {
    limits: { maxLineLength: 1 << 20, maxLiteralSize: 1 << 20, maxAppendLiteralSize: 1 << 20, maxLiteralsPerCommand: 1000, maxNestingDepth: 32 },
    utf8Accept: false,
  };
  const unit = fc.constantFrom('(', ')', '[', ']', '"', '\\', ' ', 'a', '{', '}', '1', '+', 'OR ', 'NOT ', 'BODY[', '*', ',', ':');
  fc.assert(
    fc.property(unit, fc.integer({ min: 1000, max: 200_000 }), fc.constantFrom('A1 SEARCH ', 'A1 FETCH ', 'A1 LIST ', 'A1 ID ', ''), (piece, count, prefix) => {
      const input = Buffer.from(`${prefix}${piece.repeat(Math.ceil(count / piece.length))}\r\n`, 'latin1');
      withinTime(3000, `IMAP receiver (${count} × ${JSON.stringify(piece)})`, () => drive([input], big));
    }),
    fuzzParameters(0.2, { numRuns: Math.min(300, Number(process.env['FUZZ_RUNS'] ?? 300)) }),
  );
});
