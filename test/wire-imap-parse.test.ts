import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ImapParseError,
  ImapReceiver,
  SequenceSet,
  parseAuthResponseLine,
  parseCommand,
  parsePendingAppend,
  tok,
  type ImapCommand,
  type ParseOptions,
} from '../src/wire/imap/index.js';

/** Runs one command line through the receiver (accepting every literal) and parses it. */
function parse(line: string | Buffer, options: ParseOptions = {}): ImapCommand {
  const receiver = new ImapReceiver({ maxLineLength: 100_000, maxLiteralSize: 100_000, maxAppendLiteralSize: 100_000, maxLiteralsPerCommand: 100 });
  receiver.push(Buffer.concat([Buffer.from(line), Buffer.from('\r\n')]));
  for (let event = receiver.next(); event !== null; event = receiver.next()) {
    if (event.type === 'needContinuation') receiver.acceptLiteral();
    else if (event.type === 'command') return parseCommand(event.tag, event.name, event.args, options);
    else if (event.type !== 'literalStart' && event.type !== 'literalData' && event.type !== 'literalEnd') {
      throw new Error(`unexpected receiver event ${JSON.stringify(event)}`);
    }
  }
  throw new Error('no command event');
}

function rejects(line: string | Buffer, message: string, kind: ImapParseError['kind'] = 'syntax', options: ParseOptions = {}): void {
  assert.throws(() => parse(line, options), (error: unknown) => {
    assert.ok(error instanceof ImapParseError, `not an ImapParseError: ${String(error)}`);
    assert.equal(error.message, message);
    assert.equal(error.kind, kind);
    return true;
  });
}

const set = (text: string): SequenceSet => SequenceSet.parse(text);

describe('parseCommand: commands without arguments', () => {
  for (const name of ['CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'CHECK', 'CLOSE', 'UNSELECT', 'IDLE', 'NAMESPACE'] as const) {
    it(name, () => {
      assert.deepStrictEqual(parse(`a ${name.toLowerCase()}`), { tag: 'a', name });
      rejects(`a ${name} x`, 'Unexpected "x"');
    });
  }

  it('EXPUNGE and UID EXPUNGE', () => {
    assert.deepStrictEqual(parse('a EXPUNGE'), { tag: 'a', name: 'EXPUNGE', uid: false, sequenceSet: null });
    assert.deepStrictEqual(parse('a UID EXPUNGE 3:5,9'), { tag: 'a', name: 'EXPUNGE', uid: true, sequenceSet: set('3:5,9') });
    rejects('a UID EXPUNGE', 'Missing sequence set');
  });

  it('unknown commands are reported as such', () => {
    rejects('a XYZZY', 'Unknown command XYZZY', 'unknownCommand');
    rejects('a UID NOOP', 'Unknown command UID NOOP', 'unknownCommand');
    rejects('a UID', 'Missing command after UID');
  });
});

describe('parseCommand: authentication', () => {
  it('LOGIN with atoms, quoted strings and literals (UTF-8)', () => {
    assert.deepStrictEqual(parse('a LOGIN fred "p a\\"ss"'), { tag: 'a', name: 'LOGIN', userid: 'fred', password: 'p a"ss' });
    assert.deepStrictEqual(parse(Buffer.concat([Buffer.from('a LOGIN {5+}\r\njürg {3+}\r\n]x]')])), {
      tag: 'a',
      name: 'LOGIN',
      userid: 'jürg',
      password: ']x]',
    });
    rejects('a LOGIN fred', 'Missing password');
    rejects('a LOGIN fr%d x', 'Invalid characters in user name');
    rejects(Buffer.from([...Buffer.from('a LOGIN {1+}\r\n'), 0xff, ...Buffer.from(' x')]), 'Invalid UTF-8 in user name');
  });

  it('AUTHENTICATE with and without an initial response (RFC 4959)', () => {
    assert.deepStrictEqual(parse('a authenticate plain'), { tag: 'a', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: null });
    assert.deepStrictEqual(parse('a AUTHENTICATE PLAIN ='), { tag: 'a', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: Buffer.alloc(0) });
    assert.deepStrictEqual(parse('a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0'), {
      tag: 'a',
      name: 'AUTHENTICATE',
      mechanism: 'PLAIN',
      initialResponse: Buffer.from('\0fred\0secret'),
    });
    rejects('a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV', 'Invalid base64');
    rejects('a AUTHENTICATE', 'Missing authentication mechanism');
  });

  it('AUTHENTICATE continuation lines', () => {
    assert.deepStrictEqual(parseAuthResponseLine(Buffer.from('*')), { cancelled: true });
    assert.deepStrictEqual(parseAuthResponseLine(Buffer.from('')), { cancelled: false, data: Buffer.alloc(0) });
    assert.deepStrictEqual(parseAuthResponseLine(Buffer.from('Zm9v')), { cancelled: false, data: Buffer.from('foo') });
    assert.throws(() => parseAuthResponseLine(Buffer.from('Zm9v=')), { name: 'ImapParseError', message: 'Invalid base64' });
  });
});

describe('parseCommand: mailboxes', () => {
  it('SELECT and EXAMINE normalize INBOX and decode modified UTF-7', () => {
    assert.deepStrictEqual(parse('a SELECT inbox'), { tag: 'a', name: 'SELECT', mailbox: 'INBOX', condstore: false, qresync: null });
    assert.deepStrictEqual(parse('a EXAMINE "InBox/Sub"'), { tag: 'a', name: 'EXAMINE', mailbox: 'INBOX/Sub', condstore: false, qresync: null });
    assert.deepStrictEqual(parse('a SELECT Entw&APw-rfe'), { tag: 'a', name: 'SELECT', mailbox: 'Entwürfe', condstore: false, qresync: null });
    assert.deepStrictEqual(parse('a SELECT [Gmail]/Sent'), { tag: 'a', name: 'SELECT', mailbox: '[Gmail]/Sent', condstore: false, qresync: null });
    rejects('a SELECT &Jjo!', 'Invalid mailbox name: Mailbox name ends inside a modified BASE64 run (missing "-")');
    rejects('a SELECT Foo*', 'Invalid characters in mailbox name');
    rejects(Buffer.from('a SELECT "Entwürfe"'), '8-bit mailbox name requires ENABLE UTF8=ACCEPT; use modified UTF-7');
  });

  it('takes UTF-8 mailbox names as sent after ENABLE UTF8=ACCEPT (RFC 6855)', () => {
    assert.deepStrictEqual(parse(Buffer.from('a SELECT "Entwürfe"'), { utf8Accept: true }), {
      tag: 'a',
      name: 'SELECT',
      mailbox: 'Entwürfe',
      condstore: false,
      qresync: null,
    });
    assert.deepStrictEqual(parse('a SELECT R&D', { utf8Accept: true }), { tag: 'a', name: 'SELECT', mailbox: 'R&D', condstore: false, qresync: null });
  });

  it('SELECT (CONDSTORE) and (QRESYNC ...) (RFC 7162)', () => {
    assert.deepStrictEqual(parse('a SELECT INBOX (CONDSTORE)'), { tag: 'a', name: 'SELECT', mailbox: 'INBOX', condstore: true, qresync: null });
    assert.deepStrictEqual(parse('a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))'), {
      tag: 'a',
      name: 'SELECT',
      mailbox: 'INBOX',
      condstore: false,
      qresync: { uidValidity: 67890007, modseq: 20050715194045000, knownUids: set('41,43:211,214:541'), sequenceMatch: null },
    });
    assert.deepStrictEqual(parse('a EXAMINE INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))'), {
      tag: 'a',
      name: 'EXAMINE',
      mailbox: 'INBOX',
      condstore: false,
      qresync: {
        uidValidity: 67890007,
        modseq: 90060115194045000,
        knownUids: set('1:29997'),
        sequenceMatch: {
          sequences: set('5000,7500,9000,9990:9999'),
          uids: set('15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997'),
        },
      },
    });
    assert.deepStrictEqual(parse('a SELECT INBOX (QRESYNC (1 2) CONDSTORE)'), {
      tag: 'a',
      name: 'SELECT',
      mailbox: 'INBOX',
      condstore: true,
      qresync: { uidValidity: 1, modseq: 2, knownUids: null, sequenceMatch: null },
    });
    rejects('a SELECT INBOX (QRESYNC (1 2 1:*))', '"*" is not allowed in sequence set 1:*');
    rejects('a SELECT INBOX (QRESYNC (0 2))', 'Invalid UIDVALIDITY 0');
    rejects('a SELECT INBOX (QRESYNC (1 0))', 'Invalid mod-sequence 0');
    rejects('a SELECT INBOX (CONDSTORE CONDSTORE)', 'Unknown or repeated select parameter CONDSTORE');
    rejects('a SELECT INBOX (FOO)', 'Unknown or repeated select parameter FOO');
  });

  it('CREATE with and without USE (RFC 6154)', () => {
    assert.deepStrictEqual(parse('a CREATE Archive/2024'), { tag: 'a', name: 'CREATE', mailbox: 'Archive/2024', specialUse: [] });
    assert.deepStrictEqual(parse('a CREATE MySent (USE (\\sent \\Archive \\X-Custom))'), {
      tag: 'a',
      name: 'CREATE',
      mailbox: 'MySent',
      specialUse: ['\\Sent', '\\Archive', '\\X-Custom'],
    });
    rejects('a CREATE x (USE (Sent))', 'Invalid special-use attribute Sent');
    rejects('a CREATE x (FOO (\\Sent))', 'Unknown or repeated create parameter FOO');
  });

  it('DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT', () => {
    assert.deepStrictEqual(parse('a DELETE "old box"'), { tag: 'a', name: 'DELETE', mailbox: 'old box' });
    assert.deepStrictEqual(parse('a RENAME inbox Archive'), { tag: 'a', name: 'RENAME', from: 'INBOX', to: 'Archive' });
    assert.deepStrictEqual(parse('a SUBSCRIBE news'), { tag: 'a', name: 'SUBSCRIBE', mailbox: 'news' });
    assert.deepStrictEqual(parse('a UNSUBSCRIBE news'), { tag: 'a', name: 'UNSUBSCRIBE', mailbox: 'news' });
    assert.deepStrictEqual(parse('a GETQUOTAROOT INBOX'), { tag: 'a', name: 'GETQUOTAROOT', mailbox: 'INBOX' });
    rejects('a RENAME x', 'Missing new mailbox name');
    rejects('a DELETE (x)', 'Expected mailbox name, got a parenthesized list');
  });

  it('STATUS with extension items', () => {
    assert.deepStrictEqual(parse('a STATUS Drafts (MESSAGES uidnext UIDVALIDITY UNSEEN RECENT HIGHESTMODSEQ SIZE DELETED DELETED-STORAGE APPENDLIMIT)'), {
      tag: 'a',
      name: 'STATUS',
      mailbox: 'Drafts',
      items: ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'RECENT', 'HIGHESTMODSEQ', 'SIZE', 'DELETED', 'DELETED-STORAGE', 'APPENDLIMIT'],
    });
    rejects('a STATUS x ()', 'Missing status item');
    rejects('a STATUS x (FOO)', 'Unknown status item FOO');
  });

  it('LIST basic and extended (RFC 5258, RFC 5819, RFC 6154)', () => {
    const noSelection = { subscribed: false, remote: false, recursiveMatch: false, specialUse: false };
    const noReturn = { subscribed: false, children: false, specialUse: false, status: null };
    assert.deepStrictEqual(parse('a LIST "" %'), { tag: 'a', name: 'LIST', reference: '', patterns: ['%'], selection: noSelection, returns: noReturn, extended: false });
    assert.deepStrictEqual(parse('a LIST ~smith/Mail/ "foo.*"'), {
      tag: 'a',
      name: 'LIST',
      reference: '~smith/Mail/',
      patterns: ['foo.*'],
      selection: noSelection,
      returns: noReturn,
      extended: false,
    });
    assert.deepStrictEqual(parse('a LIST (SUBSCRIBED RECURSIVEMATCH REMOTE special-use) "" ("INBOX" %/&APw-* [Gmail]/*) RETURN (CHILDREN SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN))'), {
      tag: 'a',
      name: 'LIST',
      reference: '',
      patterns: ['INBOX', '%/ü*', '[Gmail]/*'],
      selection: { subscribed: true, remote: true, recursiveMatch: true, specialUse: true },
      returns: { subscribed: true, children: true, specialUse: true, status: ['MESSAGES', 'UNSEEN'] },
      extended: true,
    });
    assert.deepStrictEqual(parse('a LIST () "" % RETURN ()'), { tag: 'a', name: 'LIST', reference: '', patterns: ['%'], selection: noSelection, returns: noReturn, extended: true });
    rejects('a LIST (RECURSIVEMATCH) "" %', 'RECURSIVEMATCH requires SUBSCRIBED');
    rejects('a LIST (FOO) "" %', 'Unknown LIST selection option FOO');
    rejects('a LIST "" % RETURN (FOO)', 'Unknown or repeated LIST return option FOO');
    rejects('a LIST "" ()', 'Missing mailbox pattern');
    rejects('a LIST ""', 'Missing mailbox pattern');
  });

  it('LSUB', () => {
    assert.deepStrictEqual(parse('a LSUB "#news." "comp.mail.*"'), { tag: 'a', name: 'LSUB', reference: '#news.', pattern: 'comp.mail.*' });
  });
});

describe('parseCommand: APPEND', () => {
  const date = { date: new Date('1996-07-17T09:44:25.000Z'), zoneMinutes: -420 };

  it('RFC 3501 6.3.11 example with flags and date-time', () => {
    assert.deepStrictEqual(parse('A003 APPEND saved-messages (\\Seen) "17-Jul-1996 02:44:25 -0700" {5+}\r\nhello'), {
      tag: 'A003',
      name: 'APPEND',
      mailbox: 'saved-messages',
      messages: [{ flags: ['\\Seen'], internalDate: date, data: { type: 'streamed', index: 0, size: 5, binary: false } }],
    });
  });

  it('MULTIAPPEND (RFC 3502) with literal8 (RFC 3516) and optional parts', () => {
    assert.deepStrictEqual(parse('a APPEND INBOX {1+}\r\nx () " 7-Jul-1996 02:44:25 +0130" ~{2+}\r\nyz (\\Draft $Label) {0+}\r\n'), {
      tag: 'a',
      name: 'APPEND',
      mailbox: 'INBOX',
      messages: [
        { flags: null, internalDate: null, data: { type: 'streamed', index: 0, size: 1, binary: false } },
        { flags: [], internalDate: { date: new Date('1996-07-07T01:14:25.000Z'), zoneMinutes: 90 }, data: { type: 'streamed', index: 1, size: 2, binary: true } },
        { flags: ['\\Draft', '$Label'], internalDate: null, data: { type: 'streamed', index: 2, size: 0, binary: false } },
      ],
    });
  });

  it('accepts collected literals as message data too', () => {
    assert.deepStrictEqual(parseCommand('a', 'APPEND', [tok.atom('INBOX'), tok.literal('hi')]), {
      tag: 'a',
      name: 'APPEND',
      mailbox: 'INBOX',
      messages: [{ flags: null, internalDate: null, data: { type: 'buffer', value: Buffer.from('hi'), binary: false } }],
    });
  });

  it('parsePendingAppend gives the flags and date-time of the literal about to stream', () => {
    assert.deepStrictEqual(parsePendingAppend([tok.atom('INBOX'), tok.list(tok.atom('\\seen')), tok.quoted('17-Jul-1996 02:44:25 -0700')]), {
      mailbox: 'INBOX',
      index: 0,
      flags: ['\\Seen'],
      internalDate: date,
    });
    assert.deepStrictEqual(parsePendingAppend([tok.atom('INBOX'), tok.streamed(0, 3), tok.list()]), { mailbox: 'INBOX', index: 1, flags: [], internalDate: null });
    assert.throws(() => parsePendingAppend([tok.atom('INBOX'), tok.quoted('32-Jul-1996 02:44:25 -0700')]), {
      name: 'ImapParseError',
      message: 'Invalid date-time "32-Jul-1996 02:44:25 -0700"',
    });
  });

  it('rejects malformed APPENDs', () => {
    rejects('a APPEND INBOX', 'Missing message literal');
    rejects('a APPEND INBOX (\\Seen)', 'Missing message literal');
    rejects('a APPEND INBOX "hello"', 'Invalid date-time "hello"');
    rejects('a APPEND INBOX (\\Recent) {1+}\r\nx', '\\Recent cannot be set by a client');
    rejects('a APPEND INBOX "17-Jul-1996 25:44:25 -0700" {1+}\r\nx', 'Invalid date-time "17-Jul-1996 25:44:25 -0700"');
    rejects('a APPEND INBOX "17-Jly-1996 02:44:25 -0700" {1+}\r\nx', 'Invalid month Jly');
    rejects('a APPEND INBOX "29-Feb-2023 02:44:25 -0700" {1+}\r\nx', 'Invalid date-time "29-Feb-2023 02:44:25 -0700"');
    rejects('a APPEND INBOX {1+}\r\nx "17-Jul-1996 02:44:25 -0700" (\\Seen) {1+}\r\nx', 'Expected message literal');
  });
});

describe('parseCommand: FETCH', () => {
  const fetch = (line: string): ImapCommand => parse(line);

  it('macros expand (RFC 3501 6.4.5)', () => {
    assert.deepStrictEqual(fetch('a FETCH 1:* all'), {
      tag: 'a',
      name: 'FETCH',
      uid: false,
      sequenceSet: set('1:*'),
      items: [{ type: 'FLAGS' }, { type: 'INTERNALDATE' }, { type: 'RFC822.SIZE' }, { type: 'ENVELOPE' }],
      macro: 'ALL',
      changedSince: null,
      vanished: false,
    });
    assert.deepStrictEqual(fetch('a FETCH 2 FAST'), {
      tag: 'a',
      name: 'FETCH',
      uid: false,
      sequenceSet: set('2'),
      items: [{ type: 'FLAGS' }, { type: 'INTERNALDATE' }, { type: 'RFC822.SIZE' }],
      macro: 'FAST',
      changedSince: null,
      vanished: false,
    });
    assert.deepStrictEqual((fetch('a FETCH 2 FULL') as { items: unknown }).items, [
      { type: 'FLAGS' },
      { type: 'INTERNALDATE' },
      { type: 'RFC822.SIZE' },
      { type: 'ENVELOPE' },
      { type: 'BODY' },
    ]);
    rejects('a FETCH 1 (ALL)', 'Unknown fetch attribute ALL');
  });

  it('every simple attribute', () => {
    assert.deepStrictEqual(
      (fetch('a FETCH 1 (ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ)') as { items: unknown }).items,
      [
        { type: 'ENVELOPE' },
        { type: 'FLAGS' },
        { type: 'INTERNALDATE' },
        { type: 'RFC822' },
        { type: 'RFC822.HEADER' },
        { type: 'RFC822.SIZE' },
        { type: 'RFC822.TEXT' },
        { type: 'BODY' },
        { type: 'BODYSTRUCTURE' },
        { type: 'UID' },
        { type: 'MODSEQ' },
      ],
    );
  });

  it('body sections, partials and BINARY (RFC 3516)', () => {
    assert.deepStrictEqual(
      (fetch('a UID FETCH 1 (BODY[] BODY.PEEK[HEADER] body[1.2.TEXT]<0.2048> BODY[3.MIME] BODY.PEEK[HEADER.FIELDS (From "To" {7+}\r\nSubject)] BODY[1.HEADER.FIELDS.NOT (X-Spam)] BINARY[] BINARY.PEEK[1.1]<100.200> BINARY.SIZE[2])') as { items: unknown }).items,
      [
        { type: 'BODY_SECTION', peek: false, section: { part: [], specifier: null, fields: [] }, partial: null },
        { type: 'BODY_SECTION', peek: true, section: { part: [], specifier: 'HEADER', fields: [] }, partial: null },
        { type: 'BODY_SECTION', peek: false, section: { part: [1, 2], specifier: 'TEXT', fields: [] }, partial: { offset: 0, length: 2048 } },
        { type: 'BODY_SECTION', peek: false, section: { part: [3], specifier: 'MIME', fields: [] }, partial: null },
        { type: 'BODY_SECTION', peek: true, section: { part: [], specifier: 'HEADER.FIELDS', fields: ['From', 'To', 'Subject'] }, partial: null },
        { type: 'BODY_SECTION', peek: false, section: { part: [1], specifier: 'HEADER.FIELDS.NOT', fields: ['X-Spam'] }, partial: null },
        { type: 'BINARY', peek: false, part: [], partial: null },
        { type: 'BINARY', peek: true, part: [1, 1], partial: { offset: 100, length: 200 } },
        { type: 'BINARY.SIZE', part: [2] },
      ],
    );
  });

  it('rejects malformed sections', () => {
    rejects('a FETCH 1 BODY[MIME]', 'MIME requires a part number');
    rejects('a FETCH 1 BODY[HEADER.FIELDS]', 'Missing header field list');
    rejects('a FETCH 1 BODY[HEADER.FIELDS ()]', 'Invalid header field list');
    rejects('a FETCH 1 BODY[HEADER (From)]', 'Invalid section');
    rejects('a FETCH 1 BODY[HEADER.FIELDS ("Fr:om")]', 'Invalid header field name');
    rejects('a FETCH 1 BODY[0]', 'Invalid section part 0');
    rejects('a FETCH 1 BODY[1.FOO]', 'Invalid section 1.FOO');
    rejects('a FETCH 1 BODY[]<0>', 'Invalid partial range <0>');
    rejects('a FETCH 1 BODY[]<0.0>', 'Invalid partial range <0.0>');
    rejects('a FETCH 1 BINARY[TEXT]', 'Invalid binary section');
    rejects('a FETCH 1 BINARY.SIZE[1]<0.5>', 'BINARY.SIZE takes no partial range');
    rejects('a FETCH 1 ()', 'Empty fetch attribute list');
    rejects('a FETCH 1 FOO', 'Unknown fetch attribute FOO');
    rejects('a FETCH 1', 'Missing fetch attribute');
  });

  it('CHANGEDSINCE and VANISHED modifiers (RFC 7162)', () => {
    assert.deepStrictEqual(fetch('a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)'), {
      tag: 'a',
      name: 'FETCH',
      uid: true,
      sequenceSet: set('300:500'),
      items: [{ type: 'FLAGS' }],
      macro: null,
      changedSince: 12345,
      vanished: true,
    });
    // Above 2^53 a value keeps its order against every modseq the server issues, not its last digits.
    assert.equal((fetch('a FETCH 1 UID (CHANGEDSINCE 9223372036854775807)') as { changedSince: number }).changedSince, 2 ** 63);
    rejects('a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)', 'Invalid mod-sequence 9223372036854775808');
    rejects('a FETCH 1 FLAGS (CHANGEDSINCE 0)', 'Invalid mod-sequence 0');
    rejects('a FETCH 1 FLAGS (CHANGEDSINCE 5 VANISHED)', 'VANISHED is only allowed in UID FETCH');
    rejects('a UID FETCH 1 FLAGS (VANISHED)', 'VANISHED requires CHANGEDSINCE');
    rejects('a FETCH 1 FLAGS (FOO)', 'Unknown or repeated fetch modifier FOO');
  });

  it('sequence sets: "$" and range errors', () => {
    assert.deepStrictEqual((fetch('a FETCH $ FLAGS') as { sequenceSet: SequenceSet }).sequenceSet, SequenceSet.savedResult());
    rejects('a FETCH 0 FLAGS', 'Invalid sequence set 0');
    rejects('a FETCH 4294967296 FLAGS', 'Number out of range in sequence set 4294967296');
    rejects('a FETCH 1,,2 FLAGS', 'Invalid sequence set 1,,2');
    rejects('a FETCH "1" FLAGS', 'Expected sequence set, got a quoted string');
  });
});

describe('parseCommand: STORE, COPY, MOVE', () => {
  it('STORE forms (RFC 3501 6.4.6) and UNCHANGEDSINCE (RFC 7162)', () => {
    assert.deepStrictEqual(parse('a STORE 2:4 +FLAGS (\\deleted)'), {
      tag: 'a',
      name: 'STORE',
      uid: false,
      sequenceSet: set('2:4'),
      unchangedSince: null,
      action: 'add',
      silent: false,
      flags: ['\\Deleted'],
    });
    assert.deepStrictEqual(parse('a UID STORE 1 (UNCHANGEDSINCE 320162338) -flags.silent \\Seen $Forwarded'), {
      tag: 'a',
      name: 'STORE',
      uid: true,
      sequenceSet: set('1'),
      unchangedSince: 320162338,
      action: 'remove',
      silent: true,
      flags: ['\\Seen', '$Forwarded'],
    });
    assert.deepStrictEqual(parse('a STORE * FLAGS ()'), {
      tag: 'a',
      name: 'STORE',
      uid: false,
      sequenceSet: set('*'),
      unchangedSince: null,
      action: 'set',
      silent: false,
      flags: [],
    });
    rejects('a STORE 1 FLAGS', 'Missing flag');
    rejects('a STORE 1 +FLAG (\\Seen)', 'Invalid store item +FLAG');
    rejects('a STORE 1 FLAGS (\\*)', 'Invalid flag \\*');
    rejects('a STORE 1 FLAGS (\\Recent)', '\\Recent cannot be set by a client');
    rejects('a STORE 1 FLAGS (a]b)', 'Invalid flag a]b');
    rejects('a STORE 1 (UNCHANGEDSINCE) FLAGS ()', 'Missing mod-sequence');
  });

  it('COPY, MOVE and their UID forms', () => {
    assert.deepStrictEqual(parse('a COPY 2:4 MEETING'), { tag: 'a', name: 'COPY', uid: false, sequenceSet: set('2:4'), mailbox: 'MEETING' });
    assert.deepStrictEqual(parse('a UID MOVE 42:69 foo'), { tag: 'a', name: 'MOVE', uid: true, sequenceSet: set('42:69'), mailbox: 'foo' });
    assert.deepStrictEqual(parse('a MOVE $ Trash'), { tag: 'a', name: 'MOVE', uid: false, sequenceSet: SequenceSet.savedResult(), mailbox: 'Trash' });
    rejects('a COPY 1', 'Missing mailbox name');
  });
});

describe('parseCommand: SEARCH', () => {
  const search = (line: string, options: ParseOptions = {}): ImapCommand => parse(line, options);

  it('RFC 3501 6.4.4 examples', () => {
    assert.deepStrictEqual(search('A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"'), {
      tag: 'A282',
      name: 'SEARCH',
      uid: false,
      charset: null,
      returnOptions: null,
      criteria: [{ type: 'FLAGGED' }, { type: 'SINCE', date: { year: 1994, month: 2, day: 1 } }, { type: 'NOT', key: { type: 'FROM', value: Buffer.from('Smith') } }],
    });
    assert.deepStrictEqual(search('A284 SEARCH CHARSET UTF-8 TEXT {6+}\r\nXXXXXX'), {
      tag: 'A284',
      name: 'SEARCH',
      uid: false,
      charset: 'UTF-8',
      returnOptions: null,
      criteria: [{ type: 'TEXT', value: Buffer.from('XXXXXX') }],
    });
  });

  it('every key form', () => {
    const keys = (search(
      'a UID SEARCH ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN ' +
        'KEYWORD $Junk UNKEYWORD foo BCC b BODY "b o" CC c FROM f SUBJECT s TEXT t TO t2 HEADER X-Mailer mutt ' +
        'BEFORE "1-Jan-2000" ON 29-Feb-2024 SINCE 01-Mar-2024 SENTBEFORE 2-Jan-2000 SENTON 3-Jan-2000 SENTSINCE 4-Jan-2000 ' +
        'LARGER 100 SMALLER 9007199254740993 UID 1:*,7 2,4:* $ (SEEN UNSEEN) OR SEEN (NOT DELETED) MODSEQ 0 MODSEQ "/flags/\\\\draft" priv 620162338',
    ) as { criteria: unknown }).criteria;
    assert.deepStrictEqual(keys, [
      { type: 'ALL' },
      { type: 'ANSWERED' },
      { type: 'DELETED' },
      { type: 'DRAFT' },
      { type: 'FLAGGED' },
      { type: 'NEW' },
      { type: 'OLD' },
      { type: 'RECENT' },
      { type: 'SEEN' },
      { type: 'UNANSWERED' },
      { type: 'UNDELETED' },
      { type: 'UNDRAFT' },
      { type: 'UNFLAGGED' },
      { type: 'UNSEEN' },
      { type: 'KEYWORD', keyword: '$Junk' },
      { type: 'UNKEYWORD', keyword: 'foo' },
      { type: 'BCC', value: Buffer.from('b') },
      { type: 'BODY', value: Buffer.from('b o') },
      { type: 'CC', value: Buffer.from('c') },
      { type: 'FROM', value: Buffer.from('f') },
      { type: 'SUBJECT', value: Buffer.from('s') },
      { type: 'TEXT', value: Buffer.from('t') },
      { type: 'TO', value: Buffer.from('t2') },
      { type: 'HEADER', field: 'X-Mailer', value: Buffer.from('mutt') },
      { type: 'BEFORE', date: { year: 2000, month: 1, day: 1 } },
      { type: 'ON', date: { year: 2024, month: 2, day: 29 } },
      { type: 'SINCE', date: { year: 2024, month: 3, day: 1 } },
      { type: 'SENTBEFORE', date: { year: 2000, month: 1, day: 2 } },
      { type: 'SENTON', date: { year: 2000, month: 1, day: 3 } },
      { type: 'SENTSINCE', date: { year: 2000, month: 1, day: 4 } },
      { type: 'LARGER', size: 100 },
      { type: 'SMALLER', size: 2 ** 53 },
      { type: 'UID', set: set('1:*,7') },
      { type: 'SEQUENCE', set: set('2,4:*') },
      { type: 'SEQUENCE', set: SequenceSet.savedResult() },
      { type: 'AND', keys: [{ type: 'SEEN' }, { type: 'UNSEEN' }] },
      { type: 'OR', left: { type: 'SEEN' }, right: { type: 'AND', keys: [{ type: 'NOT', key: { type: 'DELETED' } }] } },
      { type: 'MODSEQ', modseq: 0, entry: null },
      { type: 'MODSEQ', modseq: 620162338, entry: { flag: '\\Draft', entryType: 'priv' } },
    ]);
  });

  it('RETURN options (RFC 4731, RFC 5182)', () => {
    assert.deepStrictEqual(search('a UID SEARCH RETURN (MIN MAX COUNT ALL SAVE min) CHARSET "utf-8" $'), {
      tag: 'a',
      name: 'SEARCH',
      uid: true,
      charset: 'UTF-8',
      returnOptions: ['MIN', 'MAX', 'COUNT', 'ALL', 'SAVE'],
      criteria: [{ type: 'SEQUENCE', set: SequenceSet.savedResult() }],
    });
    assert.deepStrictEqual((search('a SEARCH RETURN () ALL') as { returnOptions: unknown }).returnOptions, []);
    rejects('a SEARCH RETURN (PARTIAL 1:10) ALL', 'Unknown search return option PARTIAL');
  });

  it('keeps the bytes of strings in the declared charset', () => {
    const latin1 = Buffer.from([0x53, 0xfc, 0x64]);
    const command = parse(Buffer.concat([Buffer.from('a SEARCH CHARSET ISO-8859-1 SUBJECT {3+}\r\n'), latin1]));
    assert.deepStrictEqual((command as { criteria: unknown }).criteria, [{ type: 'SUBJECT', value: latin1 }]);
  });

  it('rejects malformed criteria', () => {
    rejects('a SEARCH', 'Missing search key');
    rejects('a SEARCH FOO', 'Unknown search key FOO');
    rejects('a SEARCH OR SEEN', 'Missing search key');
    rejects('a SEARCH ()', 'Missing search key');
    rejects('a SEARCH SINCE 30-Feb-2024', 'Invalid date 30-Feb-2024');
    rejects('a SEARCH SINCE 2024-02-01', 'Invalid date 2024-02-01');
    rejects('a SEARCH KEYWORD \\Seen', 'Invalid keyword \\Seen');
    rejects('a SEARCH HEADER "" x', 'Invalid header field name');
    rejects('a SEARCH LARGER -1', 'Invalid size -1');
    rejects('a SEARCH MODSEQ "/flags/\\\\seen" mine 1', 'Invalid MODSEQ entry type mine');
    rejects('a SEARCH CHARSET UTF-8 ALL', 'CHARSET is not allowed after ENABLE UTF8=ACCEPT', 'syntax', { utf8Accept: true });
  });

  it('limits OR / NOT / parenthesis nesting', () => {
    assert.equal(parse(`a SEARCH ${'NOT '.repeat(49)}SEEN`).name, 'SEARCH');
    rejects(`a SEARCH ${'NOT '.repeat(50)}SEEN`, 'Search criteria nested too deeply', 'tooDeep');
    rejects(`a SEARCH ${'OR SEEN '.repeat(60)}SEEN`, 'Search criteria nested too deeply', 'tooDeep');
  });
});

describe('parseCommand: ID, ENABLE, NAMESPACE, QUOTA', () => {
  it('ID (RFC 2971)', () => {
    assert.deepStrictEqual(parse('a ID ("name" "sodr" "version" "19.34" "vendor" NIL)'), {
      tag: 'a',
      name: 'ID',
      parameters: [
        ['name', 'sodr'],
        ['version', '19.34'],
        ['vendor', null],
      ],
    });
    assert.deepStrictEqual(parse('a ID NIL'), { tag: 'a', name: 'ID', parameters: null });
    assert.deepStrictEqual(parse('a ID ()'), { tag: 'a', name: 'ID', parameters: [] });
    rejects(`a ID ("${'k'.repeat(31)}" "v")`, 'ID field too long');
    rejects(`a ID (${'"k" "v" '.repeat(31).trim()})`, 'Too many ID fields');
    rejects('a ID ("k")', 'Missing ID field value');
  });

  it('ENABLE (RFC 5161)', () => {
    assert.deepStrictEqual(parse('a ENABLE condstore qresync UTF8=ACCEPT'), { tag: 'a', name: 'ENABLE', capabilities: ['CONDSTORE', 'QRESYNC', 'UTF8=ACCEPT'] });
    rejects('a ENABLE', 'Missing capability');
  });

  it('GETQUOTA and SETQUOTA (RFC 9208)', () => {
    assert.deepStrictEqual(parse('a GETQUOTA ""'), { tag: 'a', name: 'GETQUOTA', root: '' });
    assert.deepStrictEqual(parse('a SETQUOTA "" (STORAGE 512 message 1000)'), {
      tag: 'a',
      name: 'SETQUOTA',
      root: '',
      limits: [
        { resource: 'STORAGE', limit: 512 },
        { resource: 'MESSAGE', limit: 1000 },
      ],
    });
    assert.deepStrictEqual(parse('a SETQUOTA x ()'), { tag: 'a', name: 'SETQUOTA', root: 'x', limits: [] });
    rejects('a SETQUOTA x (STORAGE)', 'Missing resource limit');
  });
});
