import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parser } from 'imapflow/lib/handler/imap-handler.js';
import { parseBodystructure, parseEnvelope } from 'imapflow/lib/tools.js';
import { indexMessage } from '../src/mime/indexer.js';
import { encodeBody, encodeBodyStructure } from '../src/imap/encode/bodystructure.js';
import { encodeEnvelope, imapString, literal, nstring, quoted } from '../src/imap/encode/envelope.js';

function crlf(...lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

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

/** What Dovecot 2.3.19 answers for NESTED (FETCH BODYSTRUCTURE), captured from the refstack. */
const DOVECOT_NESTED =
  '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL)(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL)' +
  '("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 8 0 NIL NIL NIL NIL) "alternative" ("boundary" "b2") NIL NIL NIL)' +
  '("message" "rfc822" NIL NIL NIL "7bit" 39 (NIL "inner" ((NIL NIL "c" "d")) ((NIL NIL "c" "d")) ((NIL NIL "c" "d")) NIL NIL NIL NIL NIL) ' +
  '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)' +
  '(("message" "rfc822" NIL NIL NIL "7bit" 22 (NIL "d1" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL)' +
  '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0 NIL NIL NIL NIL) "digest" ("boundary" "b3") NIL NIL NIL) "mixed" ("boundary" "b1") NIL NIL NIL)';

test('BODYSTRUCTURE of a nested message is what Dovecot sends (encoding names upper-cased)', () => {
  const index = indexMessage(NESTED);
  assert.equal(encodeBodyStructure(index.part), DOVECOT_NESTED.replaceAll('"7bit"', '"7BIT"'));
});

test('BODY has no extension data (RFC 3501 7.4.2)', () => {
  const index = indexMessage(NESTED);
  assert.equal(
    encodeBody(index.part),
    '(("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 5 0)(("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 6 1)("text" "html" ("charset" "us-ascii") NIL NIL "7BIT" 8 0) "alternative")' +
      '("message" "rfc822" NIL NIL NIL "7BIT" 39 (NIL "inner" ((NIL NIL "c" "d")) ((NIL NIL "c" "d")) ((NIL NIL "c" "d")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 0) 3)' +
      '(("message" "rfc822" NIL NIL NIL "7BIT" 22 (NIL "d1" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 7 0) 2)("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 13 0) "digest") "mixed")',
  );
});

test('single part with every extension field, and the RFC 3501 7.4.2 example shape', () => {
  const index = indexMessage(
    crlf(
      'From: a@b',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=US-ASCII; name=cc.diff',
      'Content-ID: <960723163407.20117h@cac.washington.edu>',
      'Content-Description: Compiler diff',
      'Content-Transfer-Encoding: BASE64',
      'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==',
      'Content-Disposition: attachment; filename=cc.diff',
      'Content-Language: en, de',
      'Content-Location: http://x.test/cc.diff',
      '',
      'AAAA',
      'BBBB',
      '',
    ),
  );
  assert.equal(
    encodeBodyStructure(index.part),
    '("text" "plain" ("charset" "US-ASCII" "name" "cc.diff") "<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 12 2 ' +
      '"Q2hlY2sgSW50ZWdyaXR5IQ==" ("attachment" ("filename" "cc.diff")) ("en" "de") "http://x.test/cc.diff")',
  );
  assert.equal(encodeBody(index.part), '("text" "plain" ("charset" "US-ASCII" "name" "cc.diff") "<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 12 2)');
});

test('ENVELOPE: groups, routes, escapes, NIL for absent, "" for empty (RFC 3501 7.4.2)', () => {
  const index = indexMessage(
    crlf(
      'Date: Thu, 13 Feb 1969 23:32:54 -0330',
      'From: "Joe Q. Public" <john.q.public@example.com>',
      'Sender: <@route1,@route2:user@host.test>',
      'To: A Group:Ed Jones <c@a.test>,joe@where.test;, undisclosed-recipients:;',
      'Cc: "Giant; \\"Big\\" Box" <sysservices@example.net>',
      'Subject: back\\slash',
      'Message-ID:',
      '',
      '',
    ),
  );
  assert.equal(
    encodeEnvelope(index.envelope),
    '("Thu, 13 Feb 1969 23:32:54 -0330" "back\\\\slash" (("Joe Q. Public" NIL "john.q.public" "example.com")) ((NIL "@route1,@route2" "user" "host.test")) ' +
      '(("Joe Q. Public" NIL "john.q.public" "example.com")) ((NIL NIL "A Group" NIL)("Ed Jones" NIL "c" "a.test")(NIL NIL "joe" "where.test")(NIL NIL NIL NIL)' +
      '(NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) (("Giant; \\"Big\\" Box" NIL "sysservices" "example.net")) NIL NIL "")',
  );
});

test('non-ASCII text is RFC 2047 encoded without UTF8=ACCEPT and sent as UTF-8 with it (RFC 6855 3)', () => {
  const index = indexMessage(Buffer.from('From: J\xc3\xb6rg <j@x.test>\r\nSubject: caf\xe9\r\nMessage-ID: <\xc3\xa9@x>\r\n\r\n', 'latin1'));
  assert.equal(
    encodeEnvelope(index.envelope),
    '(NIL "=?UTF-8?Q?caf=C3=A9?=" (("=?UTF-8?Q?J=C3=B6rg?=" NIL "j" "x.test")) (("=?UTF-8?Q?J=C3=B6rg?=" NIL "j" "x.test")) (("=?UTF-8?Q?J=C3=B6rg?=" NIL "j" "x.test")) NIL NIL NIL NIL {6}\r\n<é@x>)',
  );
  assert.equal(
    encodeEnvelope(index.envelope, { utf8: true }),
    '(NIL "café" (("Jörg" NIL "j" "x.test")) (("Jörg" NIL "j" "x.test")) (("Jörg" NIL "j" "x.test")) NIL NIL NIL NIL "<é@x>")',
  );
});

test('non-ASCII parameter values go out in RFC 2231 form (name*), or as UTF-8 with UTF8=ACCEPT', () => {
  const index = indexMessage(
    crlf('From: a@b', 'MIME-Version: 1.0', 'Content-Type: application/pdf; name="=?utf-8?B?4oKsLnBkZg==?="', 'Content-Disposition: attachment; filename*=utf-8\'\'%E2%82%AC%20x.pdf', '', 'x', ''),
  );
  assert.equal(
    encodeBodyStructure(index.part),
    `("application" "pdf" ("name*" "utf-8''%E2%82%AC.pdf") NIL NIL "7BIT" 3 NIL ("attachment" ("filename*" "utf-8''%E2%82%AC%20x.pdf")) NIL NIL)`,
  );
  assert.equal(encodeBodyStructure(index.part, { utf8: true }), '("application" "pdf" ("name" "€.pdf") NIL NIL "7BIT" 3 NIL ("attachment" ("filename" "€ x.pdf")) NIL NIL)');
});

test('a multipart without children gets one empty text/plain part, as in Dovecot (the grammar needs 1*body)', () => {
  const index = indexMessage(crlf('From: a@b', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed', '', '--x', '', 'hello', '--x--', ''));
  assert.equal(encodeBodyStructure(index.part), '(("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL) "mixed" NIL NIL NIL NIL)');
  assert.equal(encodeBody(index.part), '(("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0) "mixed")');
});

test('message/global is a basic part in IMAP4rev1 (as Dovecot 2.3), an encapsulated message on request', () => {
  const index = indexMessage(crlf('From: a@b', 'MIME-Version: 1.0', 'Content-Type: message/global', '', 'Subject: glob', '', 'global body', ''));
  assert.equal(encodeBodyStructure(index.part), '("message" "global" NIL NIL NIL "7BIT" 30 NIL NIL NIL NIL)');
  assert.equal(
    encodeBodyStructure(index.part, { messageGlobal: true }),
    '("message" "global" NIL NIL NIL "7BIT" 30 (NIL "glob" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 13 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)',
  );
});

test('a message/rfc822 part past the nesting limit still has the envelope/body/lines the grammar needs', () => {
  const index = indexMessage(crlf('MIME-Version: 1.0', 'Content-Type: message/rfc822', '', 'MIME-Version: 1.0', 'Content-Type: message/rfc822', '', 'Subject: deep', '', 'x'), { maxDepth: 1 });
  assert.equal(
    encodeBody(index.part),
    '("message" "rfc822" NIL NIL NIL "7BIT" 69 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ("message" "rfc822" NIL NIL NIL "7BIT" 18 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0) 2) 5)',
  );
});

test('strings: quoted with escapes, CR/LF folded to spaces, NUL dropped, literal when 8-bit must stay', () => {
  assert.equal(quoted('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(imapString('line1\r\nline2\x00', 'raw'), '"line1 line2"');
  assert.equal(nstring(null, 'raw'), 'NIL');
  assert.equal(literal('é'), '{2}\r\né');
  assert.equal(imapString('é', 'raw'), '{2}\r\né');
  assert.equal(imapString('é', 'text'), '"=?UTF-8?Q?=C3=A9?="');
  assert.equal(imapString('é', 'raw', { utf8: true }), '"é"');
});

test('a real IMAP client parses what we send (imapflow)', async () => {
  const index = indexMessage(
    Buffer.from(
      [
        'From: =?utf-8?Q?J=C3=B6rg?= <j@x.test>',
        'To: Group: a@b, "c d" <c@d>;',
        'Subject: =?utf-8?Q?caf=C3=A9?=',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary=b',
        '',
        '--b',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'hello',
        '--b',
        "Content-Type: application/pdf; name*=utf-8''%E2%82%AC.pdf",
        'Content-Disposition: attachment; filename="=?utf-8?B?4oKsLnBkZg==?="',
        'Content-Transfer-Encoding: base64',
        '',
        'AAAA',
        '--b--',
        '',
      ].join('\r\n'),
    ),
  );
  const response = await parser(`* 1 FETCH (BODYSTRUCTURE ${encodeBodyStructure(index.part)} ENVELOPE ${encodeEnvelope(index.envelope)})`);
  const items = response.attributes?.[1] as unknown[];
  const structure = parseBodystructure(items[1] as never);
  const envelope = parseEnvelope(items[3] as never);
  assert.equal(structure.type, 'multipart/mixed');
  assert.equal(structure.childNodes?.[1]?.type, 'application/pdf');
  assert.equal(structure.childNodes?.[1]?.parameters?.name, '€.pdf');
  assert.equal(structure.childNodes?.[1]?.dispositionParameters?.filename, '€.pdf');
  assert.equal(structure.childNodes?.[0]?.size, 5);
  assert.equal(envelope.subject, 'café');
  assert.deepEqual(envelope.from, [{ name: 'Jörg', address: 'j@x.test' }]);
  // imapflow flattens the group: its name, then its members.
  assert.deepEqual(envelope.to, [
    { name: 'Group', address: '' },
    { name: '', address: 'a@b' },
    { name: 'c d', address: 'c@d' },
  ]);
});
