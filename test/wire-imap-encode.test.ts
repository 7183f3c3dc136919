import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parser as imapflowParser } from 'imapflow/lib/handler/imap-handler.js';
import { ImapEncodeError, encode, parseDateTime, type FetchItem } from '../src/wire/imap/index.js';

const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString('utf8');

describe('encode: status responses (RFC 3501 7.1)', () => {
  it('tagged responses with and without response codes', () => {
    assert.equal(text(encode.tagged('A1', 'OK', null, 'LOGIN completed')), 'A1 OK LOGIN completed\r\n');
    assert.equal(text(encode.tagged('A2', 'NO', 'TRYCREATE', 'No such mailbox')), 'A2 NO [TRYCREATE] No such mailbox\r\n');
    assert.equal(text(encode.tagged('A3', 'BAD', 'CLIENTBUG', 'Syntax error')), 'A3 BAD [CLIENTBUG] Syntax error\r\n');
    assert.equal(text(encode.tagged('A4', 'OK', 'READ-WRITE', '')), 'A4 OK [READ-WRITE] Completed\r\n');
  });

  it('response codes with arguments', () => {
    const line = (code: encode.ResponseCode): string => text(encode.untaggedStatus('OK', code, 'x'));
    assert.equal(line({ code: 'UIDVALIDITY', value: 3857529045 }), '* OK [UIDVALIDITY 3857529045] x\r\n');
    assert.equal(line({ code: 'UIDNEXT', value: 4392 }), '* OK [UIDNEXT 4392] x\r\n');
    assert.equal(line({ code: 'HIGHESTMODSEQ', value: 715194045007 }), '* OK [HIGHESTMODSEQ 715194045007] x\r\n');
    assert.equal(line({ code: 'PERMANENTFLAGS', flags: ['\\Deleted', '\\Seen', '\\*'] }), '* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] x\r\n');
    assert.equal(line({ code: 'CAPABILITY', capabilities: ['IMAP4rev1', 'AUTH=PLAIN'] }), '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] x\r\n');
    assert.equal(line({ code: 'BADCHARSET', charsets: ['UTF-8', 'US-ASCII'] }), '* OK [BADCHARSET (UTF-8 US-ASCII)] x\r\n');
    assert.equal(line({ code: 'BADCHARSET' }), '* OK [BADCHARSET] x\r\n');
    assert.equal(line({ code: 'APPENDUID', uidValidity: 38505, uids: [3955] }), '* OK [APPENDUID 38505 3955] x\r\n');
    assert.equal(line({ code: 'APPENDUID', uidValidity: 38505, uids: [3955, 3956, 3957, 3960] }), '* OK [APPENDUID 38505 3955:3957,3960] x\r\n');
    assert.equal(
      line({ code: 'COPYUID', uidValidity: 38505, sourceUids: [304, 319, 320, 321], destinationUids: [3956, 3957, 3958, 3959] }),
      '* OK [COPYUID 38505 304,319:321 3956:3959] x\r\n',
    );
    assert.equal(line({ code: 'MODIFIED', set: [7, 9, 8, 12] }), '* OK [MODIFIED 7:9,12] x\r\n');
    assert.throws(() => line({ code: 'COPYUID', uidValidity: 1, sourceUids: [1, 2], destinationUids: [3] }), ImapEncodeError);
  });

  it('untagged BYE and PREAUTH', () => {
    assert.equal(text(encode.untaggedStatus('BYE', 'TOOBIG', 'Literal too big')), '* BYE [TOOBIG] Literal too big\r\n');
    assert.equal(text(encode.untaggedStatus('PREAUTH', null, 'Welcome')), '* PREAUTH Welcome\r\n');
  });

  it('keeps response text to TEXT-CHARs', () => {
    assert.equal(text(encode.tagged('A1', 'NO', null, 'bad\r\nA2 OK injected')), 'A1 NO bad A2 OK injected\r\n');
    assert.equal(text(encode.tagged('A1', 'NO', null, 'Entwürfe missing')), 'A1 NO Entw?rfe missing\r\n');
    assert.equal(text(encode.tagged('A1', 'NO', null, 'Entwürfe missing', { utf8: true })), 'A1 NO Entwürfe missing\r\n');
    assert.throws(() => encode.tagged('A 1', 'OK', null, 'x'), ImapEncodeError);
  });

  it('continuation requests (RFC 3501 7.5)', () => {
    assert.equal(text(encode.continuation()), '+ Ready\r\n');
    assert.equal(text(encode.continuation('idling')), '+ idling\r\n');
    assert.equal(text(encode.continuationBase64(Buffer.from('challenge'))), '+ Y2hhbGxlbmdl\r\n');
    assert.equal(text(encode.continuationBase64(Buffer.alloc(0))), '+ \r\n');
  });
});

describe('encode: strings and values (RFC 3501 9)', () => {
  const one = (value: encode.ImapValue, options: encode.EncodeOptions = {}): string => text(encode.untagged([value], options));

  it('string: quoted when possible, literal for 8-bit, CR/LF and long values', () => {
    assert.equal(one(encode.string('a "b" \\c')), '* "a \\"b\\" \\\\c"\r\n');
    assert.equal(one(encode.string('')), '* ""\r\n');
    assert.equal(one(encode.string('größe')), '* {7}\r\ngröße\r\n');
    assert.equal(one(encode.string('größe'), { utf8: true }), '* "größe"\r\n');
    assert.equal(one(encode.string('a\r\nb')), '* {4}\r\na\r\nb\r\n');
    assert.equal(one(encode.string('x'.repeat(1025))), `* {1025}\r\n${'x'.repeat(1025)}\r\n`);
    assert.equal(one(encode.string(Buffer.from([0xff, 0xfe])), { utf8: true }), '* {2}\r\n\ufffd\ufffd\r\n');
  });

  it('quoted, literal and literal8 forms', () => {
    assert.equal(one(encode.quoted('x')), '* "x"\r\n');
    assert.throws(() => one(encode.quoted('a\nb')), { name: 'ImapEncodeError', message: 'Value cannot be sent as a quoted string' });
    assert.equal(one(encode.literal('abc')), '* {3}\r\nabc\r\n');
    assert.throws(() => one(encode.literal(Buffer.from([0]))), { name: 'ImapEncodeError', message: 'NUL octets need literal8 (RFC 3516)' });
    assert.deepStrictEqual(Buffer.concat(encode.untagged([encode.literal8(Buffer.from([0, 1]))])), Buffer.from('* ~{2}\r\n\x00\x01\r\n', 'latin1'));
  });

  it('passes literal contents through as their own chunk, without copying', () => {
    const body = Buffer.from('From: a@example.org\r\n\r\nhello\r\n');
    const chunks = encode.fetchResponse(12, [encode.raw('UID'), encode.number(9), encode.raw('BODY[]'), encode.literal(body)]);
    assert.equal(chunks.length, 3);
    assert.equal(chunks[1], body);
    assert.equal(text(chunks), `* 12 FETCH (UID 9 BODY[] {${body.length}}\r\n${body.toString()})\r\n`);
  });

  it('astring and nstring', () => {
    assert.equal(one(encode.astring('[Gmail]/Sent')), '* [Gmail]/Sent\r\n');
    assert.equal(one(encode.astring('two words')), '* "two words"\r\n');
    assert.equal(one(encode.astring('NIL')), '* "NIL"\r\n');
    assert.equal(one(encode.astring('')), '* ""\r\n');
    assert.equal(one(encode.astring('a%b')), '* "a%b"\r\n');
    assert.equal(one(encode.nstring(null)), '* NIL\r\n');
    assert.equal(one(encode.nstring('x')), '* "x"\r\n');
  });

  it('mailbox names: INBOX spelling, modified UTF-7, or UTF-8 after ENABLE UTF8=ACCEPT', () => {
    assert.equal(one(encode.mailboxName('inbox')), '* INBOX\r\n');
    assert.equal(one(encode.mailboxName('Entwürfe')), '* Entw&APw-rfe\r\n');
    assert.equal(one(encode.mailboxName('R&D')), '* R&-D\r\n');
    assert.equal(one(encode.mailboxName('Sent Items')), '* "Sent Items"\r\n');
    assert.equal(one(encode.mailboxName('Entwürfe', { utf8: true }), { utf8: true }), '* "Entwürfe"\r\n');
  });

  it('atoms, flags, numbers and sequence sets are checked', () => {
    assert.equal(one(encode.flagList(['\\Seen', '$Forwarded'])), '* (\\Seen $Forwarded)\r\n');
    assert.equal(one(encode.flagList([])), '* ()\r\n');
    assert.throws(() => encode.atom('a b'), ImapEncodeError);
    assert.throws(() => encode.atom('a]'), ImapEncodeError);
    assert.throws(() => encode.number(-1), ImapEncodeError);
    assert.throws(() => encode.number(1.5), ImapEncodeError);
    assert.throws(() => encode.raw('a\r\n'), ImapEncodeError);
    assert.equal(one(encode.sequenceSet([5, 1, 2, 3, 9, 10])), '* 1:3,5,9:10\r\n');
    assert.throws(() => encode.sequenceSet([]), ImapEncodeError);
  });

  it('date-time round-trips through the parser', () => {
    const date = new Date('1996-07-17T09:44:25.000Z');
    assert.equal(encode.formatDateTime(date, -420), '17-Jul-1996 02:44:25 -0700');
    assert.equal(encode.formatDateTime(date), '17-Jul-1996 09:44:25 +0000');
    assert.equal(encode.formatDateTime(new Date('2024-01-05T23:30:00.000Z'), 330), '06-Jan-2024 05:00:00 +0530');
    assert.deepStrictEqual(parseDateTime(encode.formatDateTime(date, -420)), { date, zoneMinutes: -420 });
    assert.equal(one(encode.dateTime(date, 60)), '* "17-Jul-1996 10:44:25 +0100"\r\n');
  });
});

describe('encode: data responses', () => {
  it('capability, enabled, exists, recent, expunge, flags, vanished', () => {
    assert.equal(text(encode.capabilityResponse(['IMAP4rev1', 'IDLE'])), '* CAPABILITY IMAP4rev1 IDLE\r\n');
    assert.equal(text(encode.enabledResponse(['CONDSTORE'])), '* ENABLED CONDSTORE\r\n');
    assert.equal(text(encode.existsResponse(172)), '* 172 EXISTS\r\n');
    assert.equal(text(encode.recentResponse(1)), '* 1 RECENT\r\n');
    assert.equal(text(encode.expungeResponse(3)), '* 3 EXPUNGE\r\n');
    assert.equal(text(encode.flagsResponse(['\\Answered', '\\Flagged'])), '* FLAGS (\\Answered \\Flagged)\r\n');
    assert.equal(text(encode.vanishedResponse([41, 43, 44, 45], true)), '* VANISHED (EARLIER) 41,43:45\r\n');
    assert.equal(text(encode.vanishedResponse([405], false)), '* VANISHED 405\r\n');
  });

  it('LIST, LSUB and STATUS', () => {
    assert.equal(text(encode.listResponse({ attributes: ['\\HasNoChildren', '\\Sent'], delimiter: '/', name: 'Gesendete Objekte' })), '* LIST (\\HasNoChildren \\Sent) "/" "Gesendete Objekte"\r\n');
    assert.equal(text(encode.listResponse({ attributes: ['\\Noselect'], delimiter: null, name: '' })), '* LIST (\\Noselect) NIL ""\r\n');
    assert.equal(
      text(encode.listResponse({ attributes: ['\\Subscribed'], delimiter: '/', name: 'Foo', extended: [encode.raw('CHILDINFO'), encode.list([encode.quoted('SUBSCRIBED')])] })),
      '* LIST (\\Subscribed) "/" Foo (CHILDINFO ("SUBSCRIBED"))\r\n',
    );
    assert.equal(text(encode.listResponse({ attributes: [], delimiter: '/', name: 'inbox', command: 'LSUB' })), '* LSUB () "/" INBOX\r\n');
    assert.equal(text(encode.statusResponse('Entwürfe', [['MESSAGES', 231], ['UIDNEXT', 44292]])), '* STATUS Entw&APw-rfe (MESSAGES 231 UIDNEXT 44292)\r\n');
  });

  it('SEARCH and ESEARCH', () => {
    assert.equal(text(encode.searchResponse([2, 84, 882])), '* SEARCH 2 84 882\r\n');
    assert.equal(text(encode.searchResponse([])), '* SEARCH\r\n');
    assert.equal(text(encode.searchResponse([2, 10], 917162500)), '* SEARCH 2 10 (MODSEQ 917162500)\r\n');
    assert.equal(text(encode.esearchResponse({ tag: 'A282', uid: false, min: 2, count: 3 })), '* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n');
    assert.equal(
      text(encode.esearchResponse({ tag: 'A283', uid: true, all: [2, 10, 11, 12, 13, 14, 15, 16, 17, 43], modseq: 5 })),
      '* ESEARCH (TAG "A283") UID ALL 2,10:17,43 MODSEQ 5\r\n',
    );
    assert.equal(text(encode.esearchResponse({ tag: 'A284', uid: false, all: [] })), '* ESEARCH (TAG "A284")\r\n');
  });

  it('ID, NAMESPACE, QUOTA, QUOTAROOT', () => {
    assert.equal(text(encode.idResponse([['name', 'Mailhaven'], ['os', null]])), '* ID ("name" "Mailhaven" "os" NIL)\r\n');
    assert.equal(text(encode.idResponse(null)), '* ID NIL\r\n');
    assert.equal(text(encode.namespaceResponse([{ prefix: '', delimiter: '/' }], [], [])), '* NAMESPACE (("" "/")) NIL NIL\r\n');
    assert.equal(text(encode.quotaResponse('', [{ name: 'STORAGE', usage: 10, limit: 512 }])), '* QUOTA "" (STORAGE 10 512)\r\n');
    assert.equal(text(encode.quotaRootResponse('INBOX', [''])), '* QUOTAROOT INBOX ""\r\n');
  });
});

describe('encode: fetch item names (RFC 3501 7.4.2)', () => {
  it('names fetch items as the response must echo them', () => {
    const name = (item: FetchItem): string => text(encode.untagged([encode.fetchItemName(item)]));
    assert.equal(name({ type: 'BODY_SECTION', peek: true, section: { part: [], specifier: null, fields: [] }, partial: null }), '* BODY[]\r\n');
    assert.equal(
      name({ type: 'BODY_SECTION', peek: false, section: { part: [1, 2], specifier: 'HEADER.FIELDS.NOT', fields: ['From', 'X]Y'] }, partial: { offset: 10, length: 5 } }),
      '* BODY[1.2.HEADER.FIELDS.NOT (From "X]Y")]<10>\r\n',
    );
    assert.equal(name({ type: 'BINARY', peek: true, part: [3], partial: null }), '* BINARY[3]\r\n');
    assert.equal(name({ type: 'BINARY.SIZE', part: [] }), '* BINARY.SIZE[]\r\n');
    assert.equal(name({ type: 'RFC822.SIZE' }), '* RFC822.SIZE\r\n');
  });
});

describe('encode: read back by an independent parser (imapflow)', () => {
  it('parses a FETCH response with a literal, envelope and section name', async () => {
    const chunks = encode.fetchResponse(1, [
      encode.raw('UID'),
      encode.number(5),
      encode.fetchItemName({ type: 'BODY_SECTION', peek: false, section: { part: [], specifier: 'HEADER.FIELDS', fields: ['From'] }, partial: null }),
      encode.literal('From: x\r\n\r\n'),
      encode.raw('FLAGS'),
      encode.flagList(['\\Seen']),
    ]);
    const wire = Buffer.concat(chunks);
    const parsed = await imapflowParser(wire.subarray(0, wire.length - 2));
    assert.deepStrictEqual(JSON.parse(JSON.stringify(parsed)), {
      tag: '*',
      command: '1',
      attributes: [
        { type: 'ATOM', value: 'FETCH' },
        [
          { type: 'ATOM', value: 'UID' },
          { type: 'ATOM', value: '5' },
          { type: 'ATOM', value: 'BODY', section: [{ type: 'ATOM', value: 'HEADER.FIELDS' }, [{ type: 'ATOM', value: 'From' }]] },
          { type: 'LITERAL', value: 'From: x\r\n\r\n' },
          { type: 'ATOM', value: 'FLAGS' },
          [{ type: 'ATOM', value: '\\Seen' }],
        ],
      ],
    });
  });

  it('parses a tagged response with COPYUID', async () => {
    const wire = Buffer.concat(encode.tagged('A1', 'OK', { code: 'COPYUID', uidValidity: 5, sourceUids: [1, 2, 3, 7], destinationUids: [10, 11, 12, 13] }, 'Done'));
    const parsed = await imapflowParser(wire.subarray(0, wire.length - 2));
    assert.deepStrictEqual(JSON.parse(JSON.stringify(parsed)), {
      tag: 'A1',
      command: 'OK',
      attributes: [
        {
          type: 'ATOM',
          value: '',
          section: [
            { type: 'ATOM', value: 'COPYUID' },
            { type: 'ATOM', value: '5' },
            { type: 'SEQUENCE', value: '1:3,7' },
            { type: 'SEQUENCE', value: '10:13' },
          ],
        },
        { type: 'TEXT', value: 'Done' },
      ],
    });
  });
});
