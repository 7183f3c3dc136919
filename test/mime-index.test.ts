import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MessageIndexer, MimeIndexerStateError, indexMessage } from '../src/mime/indexer.js';
import { shiftIndex } from '../src/mime/shift.js';
import { findPart, sectionRange } from '../src/mime/section.js';
import { decodeHeaderValue, extractText } from '../src/mime/text.js';
import { parseDate } from '../src/mime/date.js';
import { parseAddressList } from '../src/mime/address.js';
import type { MessageIndex, MimePart } from '../src/mime/types.js';
import { encodeBodyStructure } from '../src/imap/encode/bodystructure.js';
import { encodeEnvelope } from '../src/imap/encode/envelope.js';

/** Joins lines with CRLF (every line, the last one too, ends in CRLF unless it is ''). */
function crlf(...lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** The part's ranges, size and lines, for compact exact assertions. */
function shape(part: MimePart): [number, number, number, number, number] {
  return [part.headerStart, part.bodyStart, part.bodyEnd, part.size, part.lines];
}

function slice(bytes: Buffer, start: number, end: number): string {
  return bytes.subarray(start, end).toString('latin1');
}

function child(part: MimePart, ...path: number[]): MimePart {
  let current = part;
  for (const n of path) {
    const next = current.children?.[n];
    assert.ok(next, `no child ${n}`);
    current = next;
  }
  return current;
}

// A multipart/mixed with preamble and epilogue, a nested multipart/alternative whose own
// epilogue stays inside it, a message/rfc822 part and a multipart/digest (RFC 2046 5.1).
const NESTED = crlf(
  'From: a@b',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  'preamble',
  '--b1',
  'Content-Type: text/plain',
  '',
  'part1',
  '--b1',
  'Content-Type: multipart/alternative; boundary=b2',
  '',
  '--b2',
  '',
  'alt1',
  '',
  '--b2',
  'Content-Type: text/html',
  '',
  '<b>x</b>',
  '--b2--',
  'epi2',
  '--b1',
  'Content-Type: message/rfc822',
  '',
  'Subject: inner',
  'From: c@d',
  '',
  'inner body',
  '--b1',
  'Content-Type: multipart/digest; boundary=b3',
  '',
  '--b3',
  '',
  'Subject: d1',
  '',
  'd1 body',
  '--b3',
  'Content-Type: text/plain',
  '',
  'not a message',
  '--b3--',
  '--b1--',
  'epilogue',
  '',
);

test('nested multipart: offsets, sizes and lines of every part (sizes and lines as Dovecot 2.3 reports them)', () => {
  const index = indexMessage(NESTED);
  const top = index.part;
  assert.equal(index.size, 499);
  assert.deepEqual(shape(top), [0, 78, 499, 421, 40]);
  assert.equal(top.type, 'multipart');
  assert.equal(top.subtype, 'mixed');
  assert.deepEqual(top.params, [['boundary', 'b1']]);
  assert.equal(top.children?.length, 4);

  const text = child(top, 0);
  assert.deepEqual(shape(text), [94, 122, 127, 5, 0]);
  assert.equal(slice(NESTED, text.headerStart, text.bodyStart), 'Content-Type: text/plain\r\n\r\n');
  assert.equal(slice(NESTED, text.bodyStart, text.bodyEnd), 'part1');

  const alternative = child(top, 1);
  assert.deepEqual(shape(alternative), [135, 187, 258, 71, 9]);
  assert.ok(slice(NESTED, alternative.bodyStart, alternative.bodyEnd).endsWith('--b2--\r\nepi2'));
  assert.deepEqual(shape(child(top, 1, 0)), [193, 195, 201, 6, 1]);
  assert.equal(slice(NESTED, 195, 201), 'alt1\r\n');
  assert.deepEqual(shape(child(top, 1, 1)), [209, 236, 244, 8, 0]);
  assert.equal(child(top, 1, 1).subtype, 'html');

  const message = child(top, 2);
  assert.deepEqual(shape(message), [266, 298, 337, 39, 3]);
  assert.equal(message.type, 'message');
  assert.equal(message.subtype, 'rfc822');
  assert.deepEqual(message.params, []);
  assert.equal(message.message?.envelope.subject, 'inner');
  assert.deepEqual(message.message?.envelope.from, [{ name: null, adl: null, mailbox: 'c', host: 'd' }]);
  assert.deepEqual(shape(message.message.part), [298, 327, 337, 10, 0]);
  assert.equal(slice(NESTED, 327, 337), 'inner body');

  const digest = child(top, 3);
  assert.deepEqual(shape(digest), [345, 392, 481, 89, 10]);
  const digested = child(top, 3, 0);
  assert.equal(`${digested.type}/${digested.subtype}`, 'message/rfc822', 'RFC 2046 5.1.5: digest parts default to message/rfc822');
  assert.deepEqual(shape(digested), [398, 400, 422, 22, 2]);
  assert.equal(digested.message?.envelope.subject, 'd1');
  assert.deepEqual(shape(digested.message.part), [400, 415, 422, 7, 0]);
  const explicit = child(top, 3, 1);
  assert.equal(`${explicit.type}/${explicit.subtype}`, 'text/plain');
  assert.deepEqual(shape(explicit), [430, 458, 471, 13, 0]);
  assert.equal(index.warnings, undefined);
});

test('single part: BODY[1] is the body; lines count LFs, a last line without one does not count (as Dovecot)', () => {
  const bytes = crlf('Subject: hi', 'From: a@b', '', 'hello', 'world');
  const index = indexMessage(bytes);
  assert.deepEqual(shape(index.part), [0, 26, 38, 12, 1]);
  assert.deepEqual(index.part.params, [['charset', 'us-ascii']]);
  assert.equal(index.part.encoding, '7BIT');
  assert.equal(slice(bytes, 0, index.part.bodyStart), 'Subject: hi\r\nFrom: a@b\r\n\r\n');
});

test('bare LF and mixed line endings', () => {
  const lf = Buffer.from('Subject: hi\nFrom: a@b\n\nhello\nworld\n');
  assert.deepEqual(shape(indexMessage(lf).part), [0, 23, 35, 12, 2]);

  const mixed = Buffer.from('From: a@b\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\n\r\n--b\n\nlf part\n\n--b\r\nContent-Type: text/plain\r\n\r\ncrlf\r\n--b--\n');
  const index = indexMessage(mixed);
  assert.equal(index.part.bodyStart, 73);
  assert.deepEqual(shape(child(index.part, 0)), [77, 78, 86, 8, 1]);
  assert.equal(slice(mixed, 78, 86), 'lf part\n');
  assert.deepEqual(shape(child(index.part, 1)), [92, 120, 124, 4, 0]);
  assert.equal(slice(mixed, 120, 124), 'crlf');
});

test('a boundary line inside a child header ends the header; the newline before it belongs to the boundary', () => {
  const bytes = crlf('From: a@b', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: text/html', 'X-Foo: bar', '--b', '', 'second', '--b--', '');
  const index = indexMessage(bytes);
  const first = child(index.part, 0);
  assert.deepEqual(shape(first), [80, 115, 115, 0, 0]);
  assert.equal(slice(bytes, first.headerStart, first.bodyStart), 'Content-Type: text/html\r\nX-Foo: bar');
  assert.equal(first.subtype, 'html');
  assert.deepEqual(shape(child(index.part, 1)), [122, 124, 130, 6, 0]);
});

test('missing close-delimiter: the last part runs to the end, with a warning', () => {
  const bytes = crlf('From: a@b', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=b', '', '--b', '', 'first', '--b', '', 'second no end', '');
  const index = indexMessage(bytes);
  assert.deepEqual(shape(child(index.part, 0)), [80, 82, 87, 5, 0]);
  assert.deepEqual(shape(child(index.part, 1)), [94, 96, 111, 15, 1]);
  assert.deepEqual(index.warnings, ['multipart at 0 has no close-delimiter']);
});

test('headers without a body: no blank line, no final newline, empty message, blank line only', () => {
  const noNewline = Buffer.from('From: a@b\r\nSubject: header only');
  assert.deepEqual(shape(indexMessage(noNewline).part), [0, 31, 31, 0, 0]);
  assert.equal(indexMessage(noNewline).envelope.subject, 'header only');
  const trailing = Buffer.from('From: a@b\r\nSubject: header only\r\n');
  assert.deepEqual(shape(indexMessage(trailing).part), [0, 33, 33, 0, 0]);
  const empty = indexMessage(Buffer.alloc(0));
  assert.deepEqual(shape(empty.part), [0, 0, 0, 0, 0]);
  assert.equal(empty.size, 0);
  assert.deepEqual(empty.envelope.from, null);
  const blank = indexMessage(Buffer.from('\r\nbody only\r\n'));
  assert.deepEqual(shape(blank.part), [0, 2, 13, 11, 1]);
});

test('lines without a colon stay in the header (no blank line = no body), as in Dovecot', () => {
  const bytes = crlf('Subject: nocolon', 'This line has no colon', 'From: a@b', 'body without blank line', '');
  const index = indexMessage(bytes);
  assert.deepEqual(shape(index.part), [0, 78, 78, 0, 0]);
  assert.deepEqual(index.envelope.from, [{ name: null, adl: null, mailbox: 'a', host: 'b' }]);
});

test('multipart without a usable boundary, or closed at once: no children', () => {
  const none = indexMessage(crlf('From: a@b', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed', '', '--x', '', 'hello', '--x--', ''));
  assert.deepEqual(none.part.children, []);
  assert.deepEqual(shape(none.part), [0, 63, 84, 21, 4]);
  assert.deepEqual(none.warnings, ['multipart at 0 has no boundary parameter']);
  const closed = indexMessage(crlf('From: a@b', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=b', '', '--b--', 'epi', ''));
  assert.deepEqual(closed.part.children, []);
  assert.equal(closed.warnings, undefined);
});

test('the longest matching boundary wins; boundary lines may carry trailing junk; an outer boundary closes inner parts', () => {
  const bytes = crlf(
    'From: a@b',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary=abc',
    '',
    '--abc',
    'Content-Type: multipart/mixed; boundary=abcdef',
    '',
    '--abcdef',
    '',
    'inner',
    '--abc  trailing junk',
    '',
    'outer2',
    '--abc--',
    '',
  );
  const index = indexMessage(bytes);
  const inner = child(index.part, 0);
  assert.deepEqual(shape(inner), [84, 134, 151, 17, 2]);
  assert.deepEqual(shape(child(inner, 0)), [144, 146, 151, 5, 0]);
  assert.equal(slice(bytes, 146, 151), 'inner');
  assert.deepEqual(shape(child(index.part, 1)), [175, 177, 183, 6, 0]);
  assert.equal(slice(bytes, 177, 183), 'outer2');
  assert.deepEqual(index.warnings, ['multipart at 84 has no close-delimiter']);
});

test('message/rfc822 whose "header" is cut by a boundary: the embedded part is empty, the CRLF goes to the boundary', () => {
  const bytes = crlf('From: a@b', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: message/rfc822', '', 'this is not a header', '--b--', '');
  const message = child(indexMessage(bytes).part, 0);
  assert.deepEqual(shape(message), [80, 112, 132, 20, 0]);
  assert.deepEqual(shape(message.message!.part), [112, 132, 132, 0, 0]);
  assert.equal(message.message!.envelope.subject, null);
});

test('duplicate fields: the first Content-* wins, the last Subject/Message-ID wins, address fields merge (as Dovecot)', () => {
  const index = indexMessage(
    crlf('Subject: first', 'Subject: second', 'From: a@one', 'From: b@two', 'MIME-Version: 1.0', 'Content-Type: text/html', 'Content-Type: text/x-second', 'Message-ID: <1@x>', 'Message-ID: <2@x>', '', 'body', ''),
  );
  assert.equal(index.part.subtype, 'html');
  assert.equal(index.envelope.subject, 'second');
  assert.equal(index.envelope.messageId, '<2@x>');
  assert.deepEqual(index.envelope.from, [
    { name: null, adl: null, mailbox: 'a', host: 'one' },
    { name: null, adl: null, mailbox: 'b', host: 'two' },
  ]);
  assert.equal(index.search.subject, 'second');
  assert.equal(index.search.from, 'a@one, b@two');
});

test('Content-* fields: RFC 2231 continuations and charsets, RFC 2047 filenames, disposition, language, location, md5, id', () => {
  const index = indexMessage(
    crlf(
      'From: a@b',
      'MIME-Version: 1.0',
      'Content-Type: application/octet-stream;',
      " name*0*=utf-8''%E2%82%AC%20rates;",
      ' name*1=".txt";',
      " title*=iso-8859-1'en'caf%E9",
      'Content-Disposition: ATTACHMENT; filename="=?utf-8?B?w6kudHh0?="; size=12',
      'Content-Language: en, de-DE',
      'Content-Location: http://x.test/a',
      'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==',
      'Content-ID: <cid@x>',
      'Content-Description: a file',
      'Content-Transfer-Encoding: Base64',
      '',
      'aGVsbG8=',
      '',
    ),
  );
  const part = index.part;
  assert.equal(`${part.type}/${part.subtype}`, 'application/octet-stream');
  assert.deepEqual(part.params, [
    ['name', '€ rates.txt'],
    ['title', 'café'],
  ]);
  assert.deepEqual(part.disposition, { type: 'attachment', params: [['filename', 'é.txt'], ['size', '12']] });
  assert.deepEqual(part.language, ['en', 'de-DE']);
  assert.equal(part.location, 'http://x.test/a');
  assert.equal(part.md5, 'Q2hlY2sgSW50ZWdyaXR5IQ==');
  assert.equal(part.id, '<cid@x>');
  assert.equal(part.description, 'a file');
  assert.equal(part.encoding, 'BASE64');
});

test('Content-Type defaults and repairs (RFC 2045 5.2): missing, invalid, no subtype, missing ";", unquoted values', () => {
  const ct = (value: string): MimePart => indexMessage(crlf('From: a@b', 'MIME-Version: 1.0', `Content-Type: ${value}`, '', 'x', '')).part;
  assert.deepEqual([ct('text; charset=iso-8859-1').type, ct('text; charset=iso-8859-1').subtype, ct('text; charset=iso-8859-1').params], ['text', 'plain', [['charset', 'iso-8859-1']]]);
  assert.deepEqual([ct('<html>').type, ct('<html>').subtype], ['text', 'plain']);
  assert.deepEqual(ct('BINARY;name="Alices_PDP-10"').params, [['name', 'Alices_PDP-10'], ['charset', 'us-ascii']]);
  assert.deepEqual(ct('application/pdf name="Invoice.pdf"').params, [['name', 'Invoice.pdf']]);
  assert.deepEqual(ct('multipart/alternative;; boundary="foo"').params, [['boundary', 'foo']]);
  assert.deepEqual(ct('Text/PLAIN; Charset=UTF-8 (comment); format=flowed').params, [['charset', 'UTF-8'], ['format', 'flowed']]);
  assert.deepEqual(ct('application/pdf; name=invoice_(2).pdf').params, [['name', 'invoice_(2).pdf']]);
  assert.deepEqual(ct('application/x-foo; ;; charset=; name="a b"; x').params, [['charset', ''], ['name', 'a b']]);
  const none = indexMessage(crlf('From: a@b', '', 'x', '')).part;
  assert.deepEqual([none.type, none.subtype, none.params], ['text', 'plain', [['charset', 'us-ascii']]]);
});

test('Content-Transfer-Encoding: default 7BIT, upper-cased, stray punctuation dropped, garbage kept as written, ignored without MIME', () => {
  const cte = (value: string, mime = true): string =>
    indexMessage(crlf('From: a@b', ...(mime ? ['MIME-Version: 1.0'] : []), `Content-Transfer-Encoding: ${value}`, '', 'x', '')).part.encoding;
  assert.equal(cte('quoted-printable'), 'QUOTED-PRINTABLE');
  assert.equal(cte('quoted-printable;'), 'QUOTED-PRINTABLE');
  assert.equal(cte('x-weird junk'), 'X-WEIRD JUNK');
  assert.equal(cte(' 8bit (comment)'), '8BIT');
  assert.equal(cte(''), '7BIT');
  // RFC 2045 4: no MIME-Version (and no Content-Type): not MIME, the Content-* fields mean nothing.
  assert.equal(cte('base64', false), '7BIT');
});

test('ENVELOPE: groups, routes, quoted local parts, comments, encoded names, defaults (RFC 3501 7.4.2)', () => {
  const index = indexMessage(
    crlf(
      'From: "Joe Q. Public" <john.q.public@example.com>',
      'To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>',
      'Cc: <boss@nil.test>, "Giant; \\"Big\\" Box" <sysservices@example.net>',
      'Bcc: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, undisclosed-recipients:;',
      'Reply-To: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>',
      'Sender: <@route1,@route2:user@host.test>',
      'Subject:   spaced',
      '\t  subject  ',
      'Date: Thu, 13 Feb 1969 23:32:54 -0330',
      'In-Reply-To: <a@b> <c@d>',
      'Message-ID:',
      '',
      'x',
      '',
    ),
  );
  const e = index.envelope;
  assert.equal(e.date, 'Thu, 13 Feb 1969 23:32:54 -0330');
  assert.equal(e.subject, 'spaced subject');
  assert.deepEqual(e.from, [{ name: 'Joe Q. Public', adl: null, mailbox: 'john.q.public', host: 'example.com' }]);
  assert.deepEqual(e.sender, [{ name: null, adl: '@route1,@route2', mailbox: 'user', host: 'host.test' }]);
  assert.deepEqual(e.replyTo, [{ name: 'Pete', adl: null, mailbox: 'pete', host: 'silly.test' }]);
  assert.deepEqual(e.to, [
    { name: 'Mary Smith', adl: null, mailbox: 'mary', host: 'x.test' },
    { name: null, adl: null, mailbox: 'jdoe', host: 'example.org' },
    { name: 'Who?', adl: null, mailbox: 'one', host: 'y.test' },
  ]);
  assert.deepEqual(e.cc, [
    { name: null, adl: null, mailbox: 'boss', host: 'nil.test' },
    { name: 'Giant; "Big" Box', adl: null, mailbox: 'sysservices', host: 'example.net' },
  ]);
  assert.deepEqual(e.bcc, [
    { name: null, adl: null, mailbox: 'A Group', host: null },
    { name: 'Ed Jones', adl: null, mailbox: 'c', host: 'a.test' },
    { name: null, adl: null, mailbox: 'joe', host: 'where.test' },
    { name: 'John', adl: null, mailbox: 'jdoe', host: 'one.test' },
    { name: null, adl: null, mailbox: null, host: null },
    { name: null, adl: null, mailbox: 'undisclosed-recipients', host: null },
    { name: null, adl: null, mailbox: null, host: null },
  ]);
  assert.equal(e.inReplyTo, '<a@b> <c@d>');
  assert.equal(e.messageId, '', 'present but empty is the empty string, absent is NIL');
  // RFC 3501 7.4.2: Sender and Reply-To default to From.
  const defaults = indexMessage(crlf('From: a@b', '', '')).envelope;
  assert.deepEqual(defaults.sender, defaults.from);
  assert.deepEqual(defaults.replyTo, defaults.from);
  assert.equal(defaults.subject, null);
});

test('addresses: garbage is tolerated; missing parts are filled like Dovecot; names are RFC 2047 decoded', () => {
  assert.deepEqual(parseAddressList('foo'), [{ name: null, adl: null, mailbox: 'foo', host: 'MISSING_DOMAIN' }]);
  assert.deepEqual(parseAddressList('"quoted local"@example.com'), [{ name: null, adl: null, mailbox: 'quoted local', host: 'example.com' }]);
  assert.deepEqual(parseAddressList('=?utf-8?B?SsO2cmc=?= <j@x.test>'), [{ name: 'Jörg', adl: null, mailbox: 'j', host: 'x.test' }]);
  assert.deepEqual(parseAddressList('=?utf-8?Q?caf=C3=A9?= =?utf-8?Q?_cr=C3=A8me?= <c@x>')[0]?.name, 'café crème');
  assert.deepEqual(parseAddressList('@nodomain, user@, <>'), [
    { name: null, adl: null, mailbox: 'MISSING_MAILBOX', host: 'nodomain' },
    { name: null, adl: null, mailbox: 'user', host: 'MISSING_DOMAIN' },
    { name: null, adl: null, mailbox: 'MISSING_MAILBOX', host: 'MISSING_DOMAIN' },
  ]);
  assert.deepEqual(parseAddressList('john@x (John Comment)'), [{ name: 'John Comment', adl: null, mailbox: 'john', host: 'x' }]);
  assert.deepEqual(parseAddressList('Mary Smith'), [{ name: 'Mary Smith', adl: null, mailbox: 'MISSING_MAILBOX', host: 'MISSING_DOMAIN' }]);
  assert.deepEqual(parseAddressList('Big Bug bb@bug.com'), [{ name: 'Big Bug', adl: null, mailbox: 'bb', host: 'bug.com' }]);
  assert.deepEqual(parseAddressList('tim@x.com concierge@x.com'), [
    { name: null, adl: null, mailbox: 'tim', host: 'x.com' },
    { name: null, adl: null, mailbox: 'concierge', host: 'x.com' },
  ]);
  assert.deepEqual(parseAddressList('test1@local>'), [{ name: null, adl: null, mailbox: 'test1', host: 'local' }]);
  assert.deepEqual(parseAddressList('jdoe@test   . example'), [{ name: null, adl: null, mailbox: 'jdoe', host: 'test.example' }]);
  assert.deepEqual(parseAddressList(',,a@b,,'), [{ name: null, adl: null, mailbox: 'a', host: 'b' }]);
  assert.deepEqual(parseAddressList('group: ;'), [
    { name: null, adl: null, mailbox: 'group', host: null },
    { name: null, adl: null, mailbox: null, host: null },
  ]);
  assert.deepEqual(parseAddressList('Unclosed: a@b'), [
    { name: null, adl: null, mailbox: 'Unclosed', host: null },
    { name: null, adl: null, mailbox: 'a', host: 'b' },
    { name: null, adl: null, mailbox: null, host: null },
  ]);
  assert.deepEqual(parseAddressList('"unterminated <x@y'), [{ name: null, adl: null, mailbox: 'unterminated <x@y', host: 'MISSING_DOMAIN' }]);
  assert.deepEqual(parseAddressList('a@[127.0.0.1]'), [{ name: null, adl: null, mailbox: 'a', host: '[127.0.0.1]' }]);
  assert.deepEqual(parseAddressList(''), []);
});

test('8-bit raw headers: UTF-8 kept, other 8-bit bytes read as latin1, NUL bytes survive', () => {
  const bytes = Buffer.concat([
    Buffer.from('From: J\xc3\xb6rg <j@x.test>\r\nSubject: caf\xe9 latin1\r\nTo: caf\xc3\xa9 <u@x>\r\nMessage-ID: <a\x00b@x>\r\n\r\nx\r\n', 'latin1'),
  ]);
  const index = indexMessage(bytes);
  assert.equal(index.envelope.from?.[0]?.name, 'Jörg');
  assert.equal(index.envelope.subject, 'café latin1');
  assert.equal(index.envelope.to?.[0]?.name, 'café');
  assert.equal(index.envelope.messageId, '<a\u0000b@x>');
  assert.equal(index.search.subject, 'café latin1');
  // Mostly UTF-8 with a character cut in two (seen in the wild): UTF-8 with U+FFFD, not latin1.
  const cut = indexMessage(Buffer.from('Subject: \xd0\xae\xd0\xbd\xd0\r\n\r\n', 'latin1'));
  assert.equal(cut.envelope.subject, 'Юн\ufffd');
});

test('SEARCH fields: decoded subject and addresses, Date as epoch ms, Message-ID', () => {
  const index = indexMessage(
    crlf(
      'Subject: =?iso-8859-1?q?caf=e9?= =?utf-8?B?IGNyw6htZQ==?=',
      'From: =?utf-8?Q?J=C3=B6rg?= <j@x.test>',
      'To: a@b',
      'To: c@d',
      'Cc: Ann <ann@x>',
      'Date: Tue, 1 Jul 2003 10:52:37 +0200',
      'Message-ID: <id@x>',
      '',
      '',
    ),
  );
  assert.deepEqual(index.search, {
    subject: 'café crème',
    from: 'Jörg <j@x.test>',
    to: 'a@b, c@d',
    cc: 'Ann <ann@x>',
    bcc: '',
    date: Date.UTC(2003, 6, 1, 8, 52, 37),
    messageId: '<id@x>',
  });
});

test('Date parsing: RFC 5322, obsolete forms, and common garbage', () => {
  assert.equal(parseDate('Thu, 13 Feb 1969 23:32:54 -0330'), Date.UTC(1969, 1, 14, 3, 2, 54));
  assert.equal(parseDate('13 Feb 69 23:32 GMT'), Date.UTC(1969, 1, 13, 23, 32, 0));
  assert.equal(parseDate('Fri, 21 Nov 1997 09:55:06 -0600 (CST)'), Date.UTC(1997, 10, 21, 15, 55, 6));
  assert.equal(parseDate('21 Nov 97 09:55:06 EST'), Date.UTC(1997, 10, 21, 14, 55, 6));
  assert.equal(parseDate('Mon, 2 Jan 2006 15:04:05'), Date.UTC(2006, 0, 2, 15, 4, 5), 'no zone: UTC');
  assert.equal(parseDate('Mon Jan  2 15:04:05 2006'), Date.UTC(2006, 0, 2, 15, 4, 5), 'asctime order');
  assert.equal(parseDate('2006-01-02T15:04:05+01:00'), Date.UTC(2006, 0, 2, 14, 4, 5));
  assert.equal(parseDate('Mon, 02 Jan 2006 15:04:05 GMT+0100'), Date.UTC(2006, 0, 2, 14, 4, 5));
  assert.equal(parseDate('02-Jan-2006 15:04:05 z'), Date.UTC(2006, 0, 2, 15, 4, 5));
  assert.equal(parseDate('1 Jan 049 00:00:00 +0000'), Date.UTC(1949, 0, 1));
  assert.equal(parseDate('31 Feb 2006 10:00:00 +0000'), null);
  assert.equal(parseDate('not a date'), null);
  assert.equal(parseDate(''), null);
  assert.equal(parseDate(null), null);
});

test('limits: nesting deeper than maxDepth stays opaque, with a warning, offsets exact', () => {
  const depth = 40;
  let head = 'From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=d0\r\n\r\n';
  let tail = '';
  for (let i = 1; i <= depth; i++) {
    head += `--d${i - 1}\r\nContent-Type: multipart/mixed; boundary=d${i}\r\n\r\n`;
    tail = `\r\n--d${i - 1}--\r\n` + tail;
  }
  const bytes = Buffer.from(head + 'leaf' + tail);
  const index = indexMessage(bytes, { maxDepth: 32 });
  let part = index.part;
  let levels = 0;
  while (part.children && part.children.length > 0) {
    part = part.children[0]!;
    levels++;
  }
  assert.equal(levels, 32);
  assert.deepEqual(part.children, [], 'the part at the limit keeps its type but gets no children');
  assert.ok(index.warnings?.includes(`nesting deeper than 32 at ${part.headerStart}: kept as an opaque part`));
  assert.equal(index.part.bodyEnd, bytes.length);
  // A message/rfc822 chain is limited the same way.
  let chain = '';
  for (let i = 0; i < 50; i++) chain += 'MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n';
  const messages = indexMessage(Buffer.from(chain + 'Subject: deep\r\n\r\nx'), { maxDepth: 5 });
  let m = messages.part;
  let hops = 0;
  while (m.message) {
    m = m.message.part;
    hops++;
  }
  assert.equal(hops, 5);
  assert.equal(m.type, 'message');
});

test('limits: 200,000 parts index in bounded time and memory; parts past maxParts are body of the multipart', () => {
  const count = 200_000;
  const partText = '--p\r\n\r\nx\r\n';
  const bytes = Buffer.from('From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n' + partText.repeat(count) + '--p--\r\n');
  const started = Date.now();
  const index = indexMessage(bytes);
  assert.ok(Date.now() - started < 10_000);
  assert.equal(index.part.children?.length, 1999, '2000 parts including the multipart itself');
  assert.equal(index.part.bodyEnd, bytes.length);
  assert.ok(index.warnings?.includes('more than 2000 parts: the rest of the message is not indexed'));
  assert.ok(JSON.stringify(index).length < 600_000);
});

test('limits: a 20 MB header keeps exact offsets; fields past the cap are ignored', () => {
  const filler = 'X-Filler: ' + 'a'.repeat(990) + '\r\n';
  const big = Buffer.from('Subject: kept\r\n' + filler.repeat(20_000) + 'From: late@x\r\n\r\nbody');
  const index = indexMessage(big);
  assert.equal(index.part.bodyStart, big.length - 4);
  assert.equal(index.part.size, 4);
  assert.equal(index.envelope.subject, 'kept');
  assert.equal(index.envelope.from, null, 'From sits beyond the 256 KiB cap');
  assert.deepEqual(index.warnings, ['header at 0 longer than 262144 bytes: the rest of its fields are ignored']);
  // One 20 MB line without any newline at all.
  const line = Buffer.alloc(20 * 1024 * 1024, 0x61);
  const one = indexMessage(line);
  assert.deepEqual(shape(one.part), [0, line.length, line.length, 0, 0]);
});

test('limits: the header text kept in the index is bounded (maxIndexChars)', () => {
  const description = 'Content-Description: ' + 'd'.repeat(100 * 1024) + '\r\n';
  const part = `--b\r\nContent-Type: text/plain\r\n${description}\r\nx\r\n`;
  const bytes = Buffer.from('From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n' + part.repeat(100) + '--b--\r\n');
  const index = indexMessage(bytes);
  const kept = index.part.children?.length ?? 0;
  assert.ok(kept > 30 && kept < 45, `kept ${kept} parts`);
  assert.ok(JSON.stringify(index).length < 4.5 * 1024 * 1024);
  assert.equal(index.part.bodyEnd, bytes.length);
  assert.ok(index.warnings?.some((w) => w.startsWith('index larger than 4194304 characters')));
});

test('the index is plain JSON', () => {
  const index = indexMessage(NESTED);
  assert.deepEqual(JSON.parse(JSON.stringify(index)), index);
  assert.equal(index.version, 1);
});

test('streaming: writing the same bytes split at every offset gives the same index', () => {
  const whole = indexMessage(NESTED);
  for (let cut = 0; cut <= NESTED.length; cut++) {
    const indexer = new MessageIndexer();
    indexer.write(NESTED.subarray(0, cut));
    indexer.write(NESTED.subarray(cut));
    assert.deepEqual(indexer.finish(), whole, `cut at ${cut}`);
  }
  const byByte = new MessageIndexer();
  for (let i = 0; i < NESTED.length; i++) byByte.write(NESTED.subarray(i, i + 1));
  assert.deepEqual(byByte.finish(), whole);
});

test('streaming: random chunkings of random multipart messages give the same index (fast-check)', () => {
  const line = fc.constantFrom('--a', '--a--', '--ab', '--ab--', '', 'x', 'Content-Type: multipart/mixed; boundary=ab', 'Content-Type: message/rfc822', 'Subject: s', 'text line', '-- a');
  const message = fc.tuple(fc.array(line, { maxLength: 40 }), fc.constantFrom('\r\n', '\n')).map(([lines, eol]) =>
    Buffer.from(['From: a@b', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=a', '', ...lines].join(eol)),
  );
  fc.assert(
    fc.property(message, fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 20 }), (bytes, sizes) => {
      const whole = indexMessage(bytes);
      const indexer = new MessageIndexer();
      let pos = 0;
      let i = 0;
      while (pos < bytes.length) {
        const size = sizes[i++ % sizes.length]!;
        indexer.write(bytes.subarray(pos, pos + size));
        pos += size;
      }
      assert.deepEqual(indexer.finish(), whole);
      checkRanges(whole.part, bytes.length);
    }),
    { numRuns: 300 },
  );
});

test('fuzz: arbitrary bytes never throw, ranges stay nested, encoders accept the result (fast-check)', () => {
  const fragment = fc.oneof(
    fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)),
    fc.constantFrom('\r\n', '\n', '\r', '--b', '--b--', ':', 'Content-Type: multipart/mixed; boundary=b', 'Content-Type: message/rfc822', 'MIME-Version: 1.0', '=?utf-8?q?x', '"', '(', '<', '@').map((t) => Buffer.from(t)),
  );
  fc.assert(
    fc.property(fc.array(fragment, { maxLength: 60 }), fc.integer({ min: 1, max: 9 }), (pieces, step) => {
      const bytes = Buffer.concat(pieces);
      const index = indexMessage(bytes);
      checkRanges(index.part, bytes.length);
      assert.equal(index.part.bodyEnd, bytes.length);
      const indexer = new MessageIndexer();
      for (let pos = 0; pos < bytes.length; pos += step) indexer.write(bytes.subarray(pos, pos + step));
      assert.deepEqual(indexer.finish(), index);
      assert.equal(typeof encodeBodyStructure(index.part), 'string');
      assert.equal(typeof encodeEnvelope(index.envelope), 'string');
      assert.equal(typeof extractText(bytes, index), 'string');
    }),
    { numRuns: 500 },
  );
});

/** Ranges nest and stay in bounds. */
function checkRanges(part: MimePart, size: number): void {
  assert.ok(0 <= part.headerStart && part.headerStart <= part.bodyStart && part.bodyStart <= part.bodyEnd && part.bodyEnd <= size);
  assert.equal(part.size, part.bodyEnd - part.bodyStart);
  let previousEnd = part.bodyStart;
  for (const c of part.children ?? []) {
    assert.ok(c.headerStart >= previousEnd && c.bodyEnd <= part.bodyEnd);
    previousEnd = c.bodyEnd;
    checkRanges(c, size);
  }
  if (part.message) {
    assert.equal(part.message.part.headerStart, part.bodyStart);
    assert.equal(part.message.part.bodyEnd, part.bodyEnd);
    checkRanges(part.message.part, size);
  }
}

test('misuse throws a typed error', () => {
  const indexer = new MessageIndexer();
  indexer.finish();
  assert.throws(() => indexer.write(Buffer.from('x')), MimeIndexerStateError);
  assert.throws(() => indexer.finish(), MimeIndexerStateError);
});

test('shiftIndex: the prefix joins the top-level header; every other offset moves', () => {
  const index = indexMessage(NESTED);
  const prefix = Buffer.from('Return-Path: <x@y>\r\nDelivered-To: z@y\r\n');
  const shifted = shiftIndex(index, prefix.length);
  const direct = indexMessage(Buffer.concat([prefix, NESTED]));
  assert.deepEqual(shifted.part, direct.part);
  assert.equal(shifted.size, NESTED.length + prefix.length);
  assert.equal(shifted.part.headerStart, 0);
  assert.equal(shifted.part.bodyStart, 78 + prefix.length);
  assert.equal(child(shifted.part, 2).message?.part.headerStart, 298 + prefix.length);
  assert.equal(index.part.bodyStart, 78, 'the input is not modified');
  assert.deepEqual(shiftIndex(index, 0), index);
  assert.throws(() => shiftIndex(index, -1), RangeError);
});

test('sections: part numbers, MIME, HEADER and TEXT as byte ranges (RFC 3501 6.4.5)', () => {
  const index = indexMessage(NESTED);
  const text = (path: number[], spec: '' | 'MIME' | 'HEADER' | 'TEXT' = ''): string | null => {
    const range = sectionRange(index, path, spec);
    return range ? slice(NESTED, range.start, range.end) : null;
  };
  assert.equal(text([1]), 'part1');
  assert.equal(text([1], 'MIME'), 'Content-Type: text/plain\r\n\r\n');
  assert.equal(text([2, 2]), '<b>x</b>');
  assert.equal(text([3]), 'Subject: inner\r\nFrom: c@d\r\n\r\ninner body');
  assert.equal(text([3], 'HEADER'), 'Subject: inner\r\nFrom: c@d\r\n\r\n');
  assert.equal(text([3], 'TEXT'), 'inner body');
  assert.equal(text([3, 1]), 'inner body', 'part 1 of a non-multipart embedded message is its body');
  assert.equal(text([4, 1], 'TEXT'), 'd1 body');
  assert.equal(text([4, 1, 1]), 'd1 body');
  assert.equal(text([], 'HEADER'), slice(NESTED, 0, 78));
  assert.equal(text([1], 'HEADER'), null, 'HEADER only exists for message/rfc822 parts');
  assert.equal(text([5]), null);
  assert.equal(text([1, 1]), null);
  assert.equal(text([0]), null);
  const single = crlf('Subject: x', '', 'body');
  const singleIndex = indexMessage(single);
  assert.deepEqual(sectionRange(singleIndex, [1]), { start: 14, end: 18 });
  assert.deepEqual(sectionRange(singleIndex, [], 'TEXT'), { start: 14, end: 18 });
  assert.equal(findPart(singleIndex, [2]), null);
  // message/global is a leaf in IMAP4rev1 (as in BODYSTRUCTURE), encapsulated on request.
  const global = crlf('From: a@b', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: message/global', '', 'Subject: g', '', 'gbody', '--b--', '');
  const globalIndex = indexMessage(global);
  assert.equal(sectionRange(globalIndex, [1, 1]), null);
  assert.equal(sectionRange(globalIndex, [1], 'TEXT'), null);
  const inner = sectionRange(globalIndex, [1, 1], '', { messageGlobal: true });
  assert.equal(inner && slice(global, inner.start, inner.end), 'gbody');
});

test('extractText: QP, base64, charsets, HTML, embedded messages, cap', () => {
  const bytes = crlf(
    'From: a@b',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary=b',
    '',
    '--b',
    'Content-Type: text/plain; charset=iso-8859-1',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'caf=E9 soft=',
    'break',
    '--b',
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('<html><head><style>p{}</style></head><body><p>Hello &amp; <b>bye</b>&#33;</p><script>x()</script></body></html>').toString('base64'),
    '--b',
    'Content-Type: image/png',
    'Content-Transfer-Encoding: base64',
    '',
    'iVBORw0KGgo=',
    '--b',
    'Content-Type: message/rfc822',
    '',
    'Subject: inner',
    'Content-Type: text/plain; charset=koi8-r',
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 8bit',
    '',
    '\xf0\xd2\xc9\xd7\xc5\xd4',
    '--b--',
    '',
  );
  const index = indexMessage(bytes);
  assert.equal(extractText(bytes, index), 'café softbreak\nHello & bye!\nПривет');
  assert.equal(extractText(bytes, index, 8), 'café sof');
});

test('decodeHeaderValue: RFC 2047 words, split multi-byte characters, raw 8-bit bytes, garbage', () => {
  assert.equal(decodeHeaderValue('=?utf-8?Q?caf=C3?= =?utf-8?Q?=A9?= x'), 'café x');
  assert.equal(decodeHeaderValue('a =?iso-8859-1?q?caf=e9?=\r\n =?iso-8859-1?q?_x?= b'), 'a café x b');
  assert.equal(decodeHeaderValue('=?utf-8*en?Q?hi?='), 'hi');
  assert.equal(decodeHeaderValue(Buffer.from('caf\xe9', 'latin1')), 'café');
  assert.equal(decodeHeaderValue(Buffer.from('caf\xc3\xa9', 'latin1')), 'café');
  assert.equal(decodeHeaderValue('=?unknown-charset?Q?hi?='), 'hi');
  assert.equal(decodeHeaderValue('plain'), 'plain');
  assert.equal(decodeHeaderValue('=?broken'), '=?broken');
});

test('index of a message with every kind of oddity never throws', () => {
  const odd: Buffer[] = [
    Buffer.from('\ufeffFrom: bom@x\r\n\r\nbody'),
    Buffer.from('From x Thu Jan  1 00:00:00 1970\nSubject: mbox\n\nbody\n'),
    Buffer.from(' leading continuation\r\nSubject: x\r\n\r\n'),
    Buffer.from('Content-Type: multipart/mixed; boundary=""\r\nMIME-Version: 1.0\r\n\r\n--\r\n\r\n'),
    Buffer.from('Content-Type: multipart/mixed; boundary=' + 'x'.repeat(600) + '\r\nMIME-Version: 1.0\r\n\r\n--' + 'x'.repeat(600) + '\r\n\r\n'),
    Buffer.from('\r\r\r\n\n\n\x00\x00\xff\xfe'),
    Buffer.from('constructor: x\r\n__proto__: y\r\ntoString: z\r\n\r\n'),
  ];
  for (const bytes of odd) {
    const index: MessageIndex = indexMessage(bytes);
    checkRanges(index.part, bytes.length);
    assert.equal(index.part.bodyEnd, bytes.length);
  }
});
