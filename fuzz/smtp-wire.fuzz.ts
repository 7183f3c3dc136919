/**
 * SMTP wire layer (sans-I/O): the receiver fed arbitrary bytes in arbitrary chunks in command,
 * DATA and BDAT mode (switched the way the session switches it, including the longer line of
 * an AUTH exchange), and the command parser fed every line it produced.
 *
 * Properties: only SmtpSyntaxError escapes the parser and nothing escapes the receiver; the
 * events do not depend on chunking; after next() returns null at most one partial command line
 * is buffered; DATA output never contains an unstuffed end-of-data line; bounded time per input.
 * @module
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AUTH_LINE_LIMIT, parseCommand, SmtpReceiver, SmtpSyntaxError } from '../src/wire/smtp/index.js';
import type { SmtpEvent } from '../src/wire/smtp/index.js';
import { cutPoints, expectErrorType, fuzzParameters, protocolBytes, splitAt, testTimeoutMs, withinTime } from './support.js';

const ALPHABET = [
  'EHLO ', 'HELO ', 'MAIL FROM:', 'RCPT TO:', 'DATA', 'BDAT ', 'BDAT 5', 'BDAT 0 LAST', 'BDAT 3 LAST', 'RSET', 'NOOP', 'QUIT',
  'VRFY ', 'EXPN ', 'HELP', 'STARTTLS', 'AUTH PLAIN ', 'AUTH LOGIN', 'AUTH CRAM-MD5', 'AUTH XOAUTH2 ', '<a@b.example>', '<>',
  '<"q u"@example.com>', '<@route:a@b>', '<a@[127.0.0.1]>', '<a@[IPv6:::1]>', '<postmaster>', ' SIZE=1000', ' BODY=8BITMIME',
  ' SMTPUTF8', ' RET=HDRS', ' ENVID=a+2Bb', ' NOTIFY=SUCCESS,DELAY', ' ORCPT=rfc822;a@b', ' AUTH=<>', ' REQUIRETLS', 'mx.example',
  '[192.0.2.1]', 'ü', '\t', '  ', 'AGEAYg==', '=', '*', '\r\n', '\r\n.\r\n', '\n.\n', '\r.\r', '..', '.\r\n', 'x'.repeat(600),
];

interface Scenario {
  lineLimit: number;
  textLineLimit: number;
  bareLineEndings: 'reject' | 'normalize';
  maxChunk: number;
}

const scenarios: fc.Arbitrary<Scenario> = fc.record({
  lineLimit: fc.integer({ min: 16, max: 2048 }),
  textLineLimit: fc.constantFrom(0, 40, 1000),
  bareLineEndings: fc.constantFrom('reject' as const, 'normalize' as const),
  maxChunk: fc.integer({ min: 0, max: 300 }),
});

/** Plays the session: DATA → data mode, BDAT n → chunk mode (n capped like a message size limit), AUTH → long line. */
function drive(chunks: readonly Buffer[], scenario: Scenario): string[] {
  const receiver = new SmtpReceiver({ lineLimit: scenario.lineLimit, textLineLimit: scenario.textLineLimit, bareLineEndings: scenario.bareLineEndings });
  const outcome: string[] = [];
  let data: Buffer[] = [];
  let authLine = false;
  const flush = (): void => {
    if (data.length === 0) return;
    const body = Buffer.concat(data);
    outcome.push(`data ${body.toString('hex')}`);
    data = [];
  };
  for (const chunk of chunks) {
    receiver.push(chunk);
    for (;;) {
      const event = receiver.next();
      if (event === null) break;
      if (event.type === 'data') {
        data.push(event.chunk);
        continue;
      }
      flush();
      if (authLine) {
        authLine = false;
        receiver.setLineLimit(scenario.lineLimit);
        outcome.push(`authResponse ${describe(event)}`);
        continue;
      }
      outcome.push(handle(receiver, event, scenario, () => (authLine = true)));
    }
    if (receiver.mode === 'command') {
      const limit = authLine ? AUTH_LINE_LIMIT : scenario.lineLimit;
      assert.ok(receiver.bufferedBytes <= limit, `receiver holds ${receiver.bufferedBytes} octets (line limit ${limit})`);
    } else {
      assert.ok(receiver.bufferedBytes <= 0, `receiver holds ${receiver.bufferedBytes} octets in ${receiver.mode} mode`);
    }
  }
  flush();
  outcome.push(`end ${receiver.mode}`);
  return outcome;
}

function handle(receiver: SmtpReceiver, event: SmtpEvent, scenario: Scenario, startAuth: () => void): string {
  if (event.type !== 'command') return describe(event);
  let command;
  try {
    command = parseCommand(event.line, { lenientHelo: scenario.maxChunk % 2 === 0 });
  } catch (error) {
    expectErrorType(error, [SmtpSyntaxError], 'SMTP parser');
    return `reply ${(error as SmtpSyntaxError).message}`;
  }
  switch (command.verb) {
    case 'DATA':
      receiver.startData();
      break;
    case 'BDAT':
      // The session refuses chunks over the message size limit; within it, it reads them.
      if (command.size <= scenario.maxChunk) receiver.expectChunk(command.size, command.last);
      break;
    case 'AUTH':
      if (command.initialResponse === null) {
        receiver.setLineLimit(AUTH_LINE_LIMIT);
        startAuth();
      }
      break;
    default:
      break;
  }
  return `command ${JSON.stringify(command)}`;
}

function describe(event: SmtpEvent): string {
  switch (event.type) {
    case 'command':
      return `line ${event.line.toString('hex')}`;
    case 'data':
      return 'data';
    case 'dataError':
      return `dataError ${event.reason}`;
    case 'chunkEnd':
      return `chunkEnd ${event.last}`;
    default:
      return event.type;
  }
}

test('SMTP receiver + parser: arbitrary bytes in arbitrary chunks, every mode', { timeout: testTimeoutMs() }, () => {
  fc.assert(
    fc.property(scenarios, protocolBytes(ALPHABET, 4000), cutPoints, (scenario, input, cuts) => {
      const whole = withinTime(2000, 'SMTP receiver (one chunk)', () => drive([input], scenario));
      const split = withinTime(2000, 'SMTP receiver (split)', () => drive(splitAt(input, cuts), scenario));
      assert.deepEqual(split, whole, 'events depend on chunking');
    }),
    fuzzParameters(0.5),
  );
});

test('SMTP DATA: the message ends exactly at the first real CRLF.CRLF, and is unstuffed', { timeout: testTimeoutMs() }, () => {
  const body = fc.array(fc.constantFrom('a', '.', '..', '\r\n', '\n', '\r', '\r\n.', '.\r\n', 'x.y', ' '), { maxLength: 80 }).map((p) => p.join(''));
  fc.assert(
    fc.property(body, cutPoints, fc.constantFrom('reject' as const, 'normalize' as const), (text, cuts, bareLineEndings) => {
      const input = Buffer.from(`DATA\r\n${text}\r\n.\r\nQUIT\r\n`, 'latin1');
      const outcome = drive(splitAt(input, cuts), { lineLimit: 512, textLineLimit: 0, bareLineEndings, maxChunk: 0 });
      // Whatever the body, the real end comes at the latest at the CRLF.CRLF we appended.
      assert.ok(outcome.some((line) => line.startsWith('command {"verb":"QUIT"')), outcome.join('\n'));
      // Reference model for bodies without bare CR or LF (RFC 5321 4.1.1.4, 4.5.2): the DATA
      // line's CRLF starts the search; the CRLF before the dot belongs to the content.
      const stream = `\r\n${text}\r\n.\r\n`;
      if (/\r(?!\n)|(?<!\r)\n/.test(stream)) return;
      const end = stream.indexOf('\r\n.\r\n');
      const content = stream.slice(2, end + 2).replace(/(^|\r\n)\./g, '$1');
      const data = outcome.find((line) => line.startsWith('data '));
      assert.equal(data === undefined ? '' : Buffer.from(data.slice(5), 'hex').toString('latin1'), content);
    }),
    fuzzParameters(0.2),
  );
});

test('SMTP parser: long lines of one character are linear', { timeout: testTimeoutMs() }, () => {
  const unit = fc.constantFrom(' ', '\t', 'a', '<', '>', '"', '\\', '@', '.', ':', ',', '[', ']', '=', '+', 'é');
  const verb = fc.constantFrom('MAIL FROM:', 'RCPT TO:', 'EHLO ', 'VRFY ', 'AUTH PLAIN ', 'NOOP ', 'HELO ', 'MAIL FROM:<a@b> ', 'RCPT TO:<');
  fc.assert(
    fc.property(verb, unit, fc.integer({ min: 100, max: 64 * 1024 }), fc.constantFrom('', 'x', '>'), (prefix, piece, count, suffix) => {
      const line = Buffer.from(`${prefix}${piece.repeat(count)}${suffix}`, 'utf8');
      withinTime(500, `SMTP parseCommand (${count} × ${JSON.stringify(piece)} after ${prefix})`, () => {
        try {
          parseCommand(line);
        } catch (error) {
          expectErrorType(error, [SmtpSyntaxError], 'SMTP parser');
        }
      });
    }),
    fuzzParameters(0.3, { numRuns: Math.min(500, Number(process.env['FUZZ_RUNS'] ?? 500)) }),
  );
});
