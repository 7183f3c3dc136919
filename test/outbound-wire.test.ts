/**
 * The client side of the SMTP wire (src/queue/client-wire.ts), sans-I/O: replies parsed from
 * input split at every offset, limits, enhanced codes, EHLO keywords; dot-stuffing split at
 * every offset.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DotStuffer, ReplyParser, ReplySyntaxError, describeReply, parseExtensions } from '../src/queue/client-wire.js';
import type { ServerReply } from '../src/queue/client-wire.js';

const transcript = Buffer.from(
  '220-mx.example ESMTP\r\n220 second line\r\n' +
    '250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250-auth=login\r\n250 DSN\r\n' +
    '550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please check.\r\n' +
    '354 go ahead\r\n' +
    '451 4.7.1 Greylisted\n' + // a bare LF ending is tolerated
    '250 2.0.0\r\n',
);

function parseAll(chunks: Buffer[]): ServerReply[] {
  const parser = new ReplyParser();
  return chunks.flatMap((chunk) => parser.feed(chunk));
}

test('replies parse the same at every split offset', () => {
  const whole = parseAll([transcript]);
  assert.deepEqual(whole, [
    { code: 220, enhanced: null, lines: ['mx.example ESMTP', 'second line'] },
    { code: 250, enhanced: null, lines: ['mx.example greets you', 'PIPELINING', 'SIZE 35882577', '8BITMIME', 'AUTH PLAIN LOGIN', 'auth=login', 'DSN'] },
    { code: 550, enhanced: '5.1.1', lines: ['The email account that you tried to reach does not exist.', 'Please check.'] },
    { code: 354, enhanced: null, lines: ['go ahead'] },
    { code: 451, enhanced: '4.7.1', lines: ['Greylisted'] },
    { code: 250, enhanced: '2.0.0', lines: [''] },
  ]);
  for (let offset = 1; offset < transcript.length; offset++) {
    assert.deepEqual(parseAll([transcript.subarray(0, offset), transcript.subarray(offset)]), whole, `split at ${offset}`);
  }
  assert.deepEqual(parseAll([...transcript].map((byte) => Buffer.from([byte]))), whole, 'one octet at a time');
});

test('EHLO keywords and describeReply', () => {
  const [, ehlo, rejected] = parseAll([transcript]);
  const extensions = parseExtensions(ehlo!);
  assert.equal(extensions.get('SIZE'), '35882577');
  assert.equal(extensions.get('AUTH'), 'PLAIN LOGIN', 'the later "AUTH=" line of old servers does not replace it');
  assert.ok(extensions.has('PIPELINING') && extensions.has('DSN') && extensions.has('8BITMIME'));
  assert.ok(!extensions.has('MX.EXAMPLE'), 'the first line is the greeting name');
  assert.equal(describeReply(rejected!), '550 5.1.1 The email account that you tried to reach does not exist. Please check.');
  assert.equal(describeReply({ code: 554, enhanced: null, lines: ['evil\u0000text\u001b[31m'] }), '554 evil text [31m');
});

test('malformed and oversized replies throw ReplySyntaxError', () => {
  assert.throws(() => new ReplyParser().feed(Buffer.from('hello there\r\n')), ReplySyntaxError);
  assert.throws(() => new ReplyParser().feed(Buffer.from('250-a\r\n220 b\r\n')), /code changed/);
  assert.throws(() => new ReplyParser().feed(Buffer.from('199 too low\r\n')), ReplySyntaxError);
  const long = new ReplyParser({ maxLineOctets: 100, maxLines: 5 });
  long.feed(Buffer.alloc(60, 0x61));
  assert.throws(() => long.feed(Buffer.alloc(60, 0x61)), /longer than 100 octets/, 'the limit holds across chunks');
  const many = new ReplyParser({ maxLineOctets: 100, maxLines: 5 });
  assert.throws(() => many.feed(Buffer.from('250-x\r\n'.repeat(6))), /longer than 5 lines/);
  const partial = new ReplyParser();
  partial.feed(Buffer.from('250-x\r\n25'));
  assert.equal(partial.hasBufferedInput, true);
});

function stuffAll(chunks: Buffer[]): Buffer {
  const stuffer = new DotStuffer();
  return Buffer.concat([...chunks.map((chunk) => stuffer.push(chunk)), stuffer.finish()]);
}

test('dot-stuffing (RFC 5321 4.5.2) is the same at every split offset, and the end of data is added', () => {
  const message = Buffer.from('.starts\r\nplain\r\n.\r\n..two\r\nmid.dot\r\n.\r\nbare\n.lf\r\nend.', 'latin1');
  const expected = Buffer.from('..starts\r\nplain\r\n..\r\n...two\r\nmid.dot\r\n..\r\nbare\n..lf\r\nend.\r\n.\r\n', 'latin1');
  assert.equal(stuffAll([message]).toString('latin1'), expected.toString('latin1'));
  for (let offset = 0; offset <= message.length; offset++) {
    assert.ok(stuffAll([message.subarray(0, offset), message.subarray(offset)]).equals(expected), `split at ${offset}`);
  }
  assert.ok(stuffAll([...message].map((byte) => Buffer.from([byte]))).equals(expected), 'one octet at a time');
  assert.equal(stuffAll([Buffer.from('a\r\n')]).toString(), 'a\r\n.\r\n', 'no extra CRLF when the message ends with one');
  assert.equal(stuffAll([Buffer.from('a\r'), Buffer.from('\n')]).toString(), 'a\r\n.\r\n');
  assert.equal(stuffAll([]).toString(), '.\r\n', 'an empty message');
});
