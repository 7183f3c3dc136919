import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ImapParseError,
  ImapReceiver,
  ImapUsageError,
  parseCommand,
  tok,
  type ImapReceiverEvent,
  type ImapReceiverLimits,
} from '../src/wire/imap/index.js';

const LIMITS: ImapReceiverLimits = { maxLineLength: 200, maxLiteralSize: 64, maxAppendLiteralSize: 1000, maxLiteralsPerCommand: 4 };

/** A session stand-in: accepts every synchronizing literal the receiver would allow, rejects
 * the others, enters IDLE / AUTHENTICATE modes after those commands, and merges literalData
 * chunks so that results do not depend on how the input was split. */
class Driver {
  readonly events: ImapReceiverEvent[] = [];
  readonly receiver: ImapReceiver;

  constructor(limits: ImapReceiverLimits = LIMITS) {
    this.receiver = new ImapReceiver(limits);
  }

  feed(chunk: Buffer | string): this {
    this.receiver.push(Buffer.from(chunk));
    for (let event = this.receiver.next(); event !== null; event = this.receiver.next()) this.record(event);
    return this;
  }

  private record(event: ImapReceiverEvent): void {
    const last = this.events[this.events.length - 1];
    if (event.type === 'literalData' && last?.type === 'literalData') {
      this.events[this.events.length - 1] = { type: 'literalData', chunk: Buffer.concat([last.chunk, event.chunk]) };
    } else {
      this.events.push(event.type === 'literalData' ? { type: 'literalData', chunk: Buffer.from(event.chunk) } : event);
    }
    if (event.type === 'needContinuation') {
      if (event.exceedsLimit) this.receiver.rejectLiteral();
      else this.receiver.acceptLiteral();
    }
    if (event.type === 'command' && event.name === 'IDLE') this.receiver.expectIdleDone();
    if (event.type === 'command' && event.name === 'AUTHENTICATE') this.receiver.expectAuthResponse();
  }
}

function eventsOf(input: string | Buffer, limits: ImapReceiverLimits = LIMITS): ImapReceiverEvent[] {
  return new Driver(limits).feed(input).events;
}

const TRANSCRIPT = Buffer.concat([
  Buffer.from('a1 CAPABILITY\r\n'),
  Buffer.from('a2 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n'),
  Buffer.from('a3 SELECT "Sent \\"old\\" \\\\ x"\r\n'),
  Buffer.from('a4 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From {2}\r\nTo)]<0.100>)\r\n'),
  Buffer.from('a5 APPEND [Gmail]/Sent (\\Seen) "17-Jul-1996 02:44:25 -0700" {5+}\r\nhello (\\Draft) {3}\r\nabc ~{4+}\r\n\x00\x01\x02\x03\r\n'),
  Buffer.from('a6 NOOP \r\n'),
  Buffer.from('a7 LOGIN BAD"SYNTAX {4+}\r\nA8 X\r\n'),
  Buffer.from('\r\n'),
  Buffer.from('a9 NOOP\n'),
  Buffer.from('b1 LOGIN {65}\r\n'),
  Buffer.from(`b2 ${'x'.repeat(300)} {3+}\r\nxyz\r\nB3 NOOP\r\n`),
  Buffer.from('b4 NO\x00OP\r\n'),
  Buffer.from('b5 IDLE\r\nDONE\r\n'),
  Buffer.from('b6 AUTHENTICATE PLAIN\r\nAGZyZWQAc2VjcmV0\r\n'),
  Buffer.from('b7 LOGOUT\r\n'),
]);

const TRANSCRIPT_EVENTS: ImapReceiverEvent[] = [
  { type: 'command', tag: 'a1', name: 'CAPABILITY', args: [] },
  { type: 'command', tag: 'a2', name: 'LOGIN', args: [tok.literal('FRED FOOBAR'), tok.literal('fat man')] },
  { type: 'command', tag: 'a3', name: 'SELECT', args: [tok.quoted('Sent "old" \\ x')] },
  {
    type: 'needContinuation',
    tag: 'a4',
    name: 'FETCH',
    size: 2,
    binary: false,
    streamed: false,
    limit: 64,
    exceedsLimit: false,
    args: [tok.atom('1:*')],
  },
  {
    type: 'command',
    tag: 'a4',
    name: 'FETCH',
    args: [
      tok.atom('1:*'),
      tok.list(tok.atom('FLAGS'), tok.section('BODY.PEEK', [tok.atom('HEADER.FIELDS'), tok.list(tok.atom('From'), tok.literal('To'))], '<0.100>')),
    ],
  },
  {
    type: 'literalStart',
    tag: 'a5',
    name: 'APPEND',
    index: 0,
    size: 5,
    nonSync: true,
    binary: false,
    args: [tok.atom('[Gmail]/Sent'), tok.list(tok.atom('\\Seen')), tok.quoted('17-Jul-1996 02:44:25 -0700')],
  },
  { type: 'literalData', chunk: Buffer.from('hello') },
  { type: 'literalEnd' },
  {
    type: 'needContinuation',
    tag: 'a5',
    name: 'APPEND',
    size: 3,
    binary: false,
    streamed: true,
    limit: 1000,
    exceedsLimit: false,
    args: [tok.atom('[Gmail]/Sent'), tok.list(tok.atom('\\Seen')), tok.quoted('17-Jul-1996 02:44:25 -0700'), tok.streamed(0, 5), tok.list(tok.atom('\\Draft'))],
  },
  {
    type: 'literalStart',
    tag: 'a5',
    name: 'APPEND',
    index: 1,
    size: 3,
    nonSync: false,
    binary: false,
    args: [tok.atom('[Gmail]/Sent'), tok.list(tok.atom('\\Seen')), tok.quoted('17-Jul-1996 02:44:25 -0700'), tok.streamed(0, 5), tok.list(tok.atom('\\Draft'))],
  },
  { type: 'literalData', chunk: Buffer.from('abc') },
  { type: 'literalEnd' },
  {
    type: 'literalStart',
    tag: 'a5',
    name: 'APPEND',
    index: 2,
    size: 4,
    nonSync: true,
    binary: true,
    args: [
      tok.atom('[Gmail]/Sent'),
      tok.list(tok.atom('\\Seen')),
      tok.quoted('17-Jul-1996 02:44:25 -0700'),
      tok.streamed(0, 5),
      tok.list(tok.atom('\\Draft')),
      tok.streamed(1, 3),
    ],
  },
  { type: 'literalData', chunk: Buffer.from([0, 1, 2, 3]) },
  { type: 'literalEnd' },
  {
    type: 'command',
    tag: 'a5',
    name: 'APPEND',
    args: [
      tok.atom('[Gmail]/Sent'),
      tok.list(tok.atom('\\Seen')),
      tok.quoted('17-Jul-1996 02:44:25 -0700'),
      tok.streamed(0, 5),
      tok.list(tok.atom('\\Draft')),
      tok.streamed(1, 3),
      tok.streamed(2, 4, true),
    ],
  },
  { type: 'error', tag: 'a6', kind: 'syntax', message: 'Unexpected space at end of command' },
  // "A8 X" is the announced literal's data: skipped, never read as a command.
  { type: 'error', tag: 'a7', kind: 'syntax', message: 'Missing space before """' },
  { type: 'command', tag: 'a9', name: 'NOOP', args: [] },
  { type: 'needContinuation', tag: 'b1', name: 'LOGIN', size: 65, binary: false, streamed: false, limit: 64, exceedsLimit: true, args: [] },
  { type: 'error', tag: 'b2', kind: 'lineTooLong', message: 'Command line too long' },
  { type: 'command', tag: 'B3', name: 'NOOP', args: [] },
  { type: 'error', tag: 'b4', kind: 'nul', message: 'NUL octet in command line' },
  { type: 'command', tag: 'b5', name: 'IDLE', args: [] },
  { type: 'idleEnd', done: true },
  { type: 'command', tag: 'b6', name: 'AUTHENTICATE', args: [tok.atom('PLAIN')] },
  { type: 'authResponse', data: Buffer.from('AGZyZWQAc2VjcmV0'), cancelled: false },
  { type: 'command', tag: 'b7', name: 'LOGOUT', args: [] },
];

describe('ImapReceiver: chunking', () => {
  it('yields the expected events for the whole transcript in one chunk', () => {
    assert.deepStrictEqual(eventsOf(TRANSCRIPT), TRANSCRIPT_EVENTS);
  });

  it('yields the same events for every split offset', () => {
    for (let offset = 0; offset <= TRANSCRIPT.length; offset++) {
      const driver = new Driver().feed(TRANSCRIPT.subarray(0, offset)).feed(TRANSCRIPT.subarray(offset));
      assert.deepStrictEqual(driver.events, TRANSCRIPT_EVENTS, `split at ${offset}`);
    }
  });

  it('yields the same events when fed one byte at a time', () => {
    const driver = new Driver();
    for (let i = 0; i < TRANSCRIPT.length; i++) driver.feed(TRANSCRIPT.subarray(i, i + 1));
    assert.deepStrictEqual(driver.events, TRANSCRIPT_EVENTS);
  });

  it('streams literal data as slices without waiting for the whole literal', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('A1 APPEND INBOX {10+}\r\nhel'));
    assert.equal(receiver.next()?.type, 'literalStart');
    assert.deepStrictEqual(receiver.next(), { type: 'literalData', chunk: Buffer.from('hel') });
    assert.equal(receiver.next(), null);
    assert.equal(receiver.bufferedBytes, 0);
    receiver.push(Buffer.from('lo worl'));
    assert.deepStrictEqual(receiver.next(), { type: 'literalData', chunk: Buffer.from('lo worl') });
    assert.deepStrictEqual(receiver.next(), { type: 'literalEnd' });
    assert.equal(receiver.next(), null);
    receiver.push(Buffer.from('\r\n'));
    assert.deepStrictEqual(receiver.next(), { type: 'command', tag: 'A1', name: 'APPEND', args: [tok.atom('INBOX'), tok.streamed(0, 10)] });
  });

  it('keeps at most one unfinished line buffered once next() returns null', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('A1 LOGIN {20+}\r\n0123456789'));
    assert.equal(receiver.next(), null);
    assert.equal(receiver.bufferedBytes, 0);
    receiver.push(Buffer.from('0123456789 {3+}\r\nab'));
    assert.equal(receiver.next(), null);
    assert.equal(receiver.bufferedBytes, 0);
    receiver.push(Buffer.from('c\r\n'));
    assert.deepStrictEqual(receiver.next(), {
      type: 'command',
      tag: 'A1',
      name: 'LOGIN',
      args: [tok.literal('01234567890123456789'), tok.literal('abc')],
    });
  });
});

describe('ImapReceiver: tokens', () => {
  it('tokenizes atoms, quoted strings, nested lists, NIL and sections', () => {
    assert.deepStrictEqual(eventsOf('t STORE 1,2:* +FLAGS.SILENT (\\Seen $Junk) ((a) NIL "") BODY[] BINARY.PEEK[1.2]<0.5>\r\n'), [
      {
        type: 'command',
        tag: 't',
        name: 'STORE',
        args: [
          tok.atom('1,2:*'),
          tok.atom('+FLAGS.SILENT'),
          tok.list(tok.atom('\\Seen'), tok.atom('$Junk')),
          tok.list(tok.list(tok.atom('a')), tok.atom('NIL'), tok.quoted('')),
          tok.section('BODY', []),
          tok.section('BINARY.PEEK', [tok.atom('1.2')], '<0.5>'),
        ],
      },
    ]);
  });

  it('keeps "[" and "]" as atom characters outside fetch sections', () => {
    assert.deepStrictEqual(eventsOf('t LIST "" [Gmail]/%\r\n'), [
      { type: 'command', tag: 't', name: 'LIST', args: [tok.quoted(''), tok.atom('[Gmail]/%')] },
    ]);
  });

  it('keeps 8-bit octets of quoted strings as bytes', () => {
    assert.deepStrictEqual(eventsOf(Buffer.concat([Buffer.from('t SELECT "'), Buffer.from('Entwürfe'), Buffer.from('"\r\n')])), [
      { type: 'command', tag: 't', name: 'SELECT', args: [tok.quoted(Buffer.from('Entwürfe'))] },
    ]);
  });

  it('upper-cases command names and keeps tags as sent', () => {
    assert.deepStrictEqual(eventsOf('Tag.1] uid fetch 1 UID\r\n'), [
      { type: 'command', tag: 'Tag.1]', name: 'UID', args: [tok.atom('fetch'), tok.atom('1'), tok.atom('UID')] },
    ]);
  });

  it('ignores empty lines between commands and accepts bare LF line ends', () => {
    assert.deepStrictEqual(eventsOf('\r\n\na NOOP\nb LOGIN {1+}\nx\n'), [
      { type: 'command', tag: 'a', name: 'NOOP', args: [] },
      { type: 'command', tag: 'b', name: 'LOGIN', args: [tok.literal('x')] },
    ]);
  });

  const syntaxErrors: Array<[string, string | null, string]> = [
    ['+ NOOP', null, 'Invalid tag'],
    [' NOOP', null, 'Missing tag'],
    ['a1', 'a1', 'Missing command'],
    ['a1 ', 'a1', 'Missing command'],
    ['a1 NO(OP', 'a1', 'Invalid command name'],
    ['a1 FETCH 1  FLAGS', 'a1', 'Unexpected space'],
    ['a1 FETCH 1 ( FLAGS)', 'a1', 'Unexpected space'],
    ['a1 FETCH 1 (FLAGS )', 'a1', 'Unexpected space before closing delimiter'],
    ['a1 FETCH 1 (FLAGS', 'a1', 'Missing ")"'],
    ['a1 FETCH 1 FLAGS)', 'a1', 'Unexpected ")"'],
    ['a1 FETCH 1 BODY[TEXT', 'a1', 'Missing "]"'],
    ['a1 FETCH 1 (FLAGS)(UID)', 'a1', 'Missing space before "("'],
    ['a1 LOGIN "fred', 'a1', 'Unterminated quoted string'],
    ['a1 LOGIN "fr\\ed" x', 'a1', 'Invalid escape in quoted string'],
    ['a1 LOGIN "fr\red" x', 'a1', 'Invalid character in quoted string'],
    ['a1 LOGIN fr\red x', 'a1', 'Invalid control character'],
    ['a1 LOGIN fred{3}x', 'a1', 'Missing space before "{"'],
    ['a1 LOGIN fred {3}x', 'a1', 'Unexpected "{" (a literal must end its line)'],
    ['a1 LOGIN fred{3}', 'a1', 'Missing space before literal'],
    ['a1 LOGIN fred {5-}', 'a1', 'Unexpected "{" (a literal must end its line)'],
  ];
  for (const [line, tag, message] of syntaxErrors) {
    it(`rejects ${JSON.stringify(line)} with "${message}"`, () => {
      assert.deepStrictEqual(eventsOf(`${line}\r\nz NOOP\r\n`), [
        { type: 'error', tag, kind: 'syntax', message },
        { type: 'command', tag: 'z', name: 'NOOP', args: [] },
      ]);
    });
  }

  it('rejects 8-bit octets in atoms', () => {
    assert.deepStrictEqual(eventsOf(Buffer.from('a1 SELECT Entwürfe\r\n')), [
      { type: 'error', tag: 'a1', kind: 'syntax', message: '8-bit characters must be sent as a quoted string or literal' },
    ]);
  });
});

describe('ImapReceiver: literals', () => {
  it('collects RFC 7888 non-synchronizing literals into the command (section 3 example)', () => {
    assert.deepStrictEqual(eventsOf('A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n'), [
      { type: 'command', tag: 'A001', name: 'LOGIN', args: [tok.literal('FRED FOOBAR'), tok.literal('fat man')] },
    ]);
  });

  it('waits for the session after needContinuation, even when the octets are already buffered', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('A1 LOGIN {4}\r\nfred x\r\n'));
    assert.equal(receiver.next()?.type, 'needContinuation');
    assert.equal(receiver.next(), null);
    assert.equal(receiver.next(), null);
    receiver.acceptLiteral();
    assert.deepStrictEqual(receiver.next(), { type: 'command', tag: 'A1', name: 'LOGIN', args: [tok.literal('fred'), tok.atom('x')] });
  });

  it('after rejectLiteral() reads the next line as a new command', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('A1 LOGIN {4}\r\nA2 NOOP\r\n'));
    assert.equal(receiver.next()?.type, 'needContinuation');
    receiver.rejectLiteral();
    assert.deepStrictEqual(receiver.next(), { type: 'command', tag: 'A2', name: 'NOOP', args: [] });
  });

  it('refuses acceptLiteral() over the limit and answers calls in the wrong state', () => {
    const receiver = new ImapReceiver(LIMITS);
    assert.throws(() => receiver.acceptLiteral(), ImapUsageError);
    assert.throws(() => receiver.rejectLiteral(), ImapUsageError);
    assert.throws(() => receiver.abortCommand(), ImapUsageError);
    receiver.push(Buffer.from('A1 LOGIN {65}\r\n'));
    const event = receiver.next();
    assert.deepStrictEqual(event, {
      type: 'needContinuation',
      tag: 'A1',
      name: 'LOGIN',
      size: 65,
      binary: false,
      streamed: false,
      limit: 64,
      exceedsLimit: true,
      args: [],
    });
    assert.throws(() => receiver.acceptLiteral(), { name: 'ImapUsageError', message: 'acceptLiteral() for a literal over the receiver limit; reject it' });
    assert.throws(() => receiver.expectIdleDone(), ImapUsageError);
  });

  it('treats a non-synchronizing literal over the limit as fatal and then stops', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('A1 LOGIN {65+}\r\n' + 'x'.repeat(65) + '\r\nA2 NOOP\r\n'));
    assert.deepStrictEqual(receiver.next(), { type: 'fatal', reason: 'literalTooBig', tag: 'A1', size: 65, limit: 64 });
    assert.equal(receiver.closed, true);
    assert.equal(receiver.next(), null);
    receiver.push(Buffer.from('A3 NOOP\r\n'));
    assert.equal(receiver.next(), null);
    assert.equal(receiver.bufferedBytes, 0);
  });

  it('applies the APPEND limit to APPEND message data and the LITERAL- cap to non-synchronizing literals', () => {
    assert.deepStrictEqual(eventsOf('A1 APPEND INBOX {1001+}\r\n'), [{ type: 'fatal', reason: 'literalTooBig', tag: 'A1', size: 1001, limit: 1000 }]);
    const literalMinus = { ...LIMITS, maxNonSyncLiteralSize: 4 };
    assert.deepStrictEqual(eventsOf('A1 APPEND INBOX {5+}\r\n', literalMinus), [
      { type: 'fatal', reason: 'literalTooBig', tag: 'A1', size: 5, limit: 4 },
    ]);
    // LITERAL- does not limit synchronizing literals (RFC 7888 5).
    assert.deepStrictEqual(eventsOf('A1 APPEND INBOX {5}\r\n', literalMinus)[0], {
      type: 'needContinuation',
      tag: 'A1',
      name: 'APPEND',
      size: 5,
      binary: false,
      streamed: true,
      limit: 1000,
      exceedsLimit: false,
      args: [tok.atom('INBOX')],
    });
  });

  it('collects a literal mailbox name in APPEND and streams only the message', () => {
    assert.deepStrictEqual(eventsOf('A1 APPEND {5+}\r\nINBOX {2+}\r\nhi\r\n'), [
      { type: 'literalStart', tag: 'A1', name: 'APPEND', index: 0, size: 2, nonSync: true, binary: false, args: [tok.literal('INBOX')] },
      { type: 'literalData', chunk: Buffer.from('hi') },
      { type: 'literalEnd' },
      { type: 'command', tag: 'A1', name: 'APPEND', args: [tok.literal('INBOX'), tok.streamed(0, 2)] },
    ]);
  });

  it('handles empty literals', () => {
    assert.deepStrictEqual(eventsOf('A1 LOGIN {0+}\r\n {0+}\r\n\r\nA2 APPEND INBOX {0+}\r\n\r\n'), [
      { type: 'command', tag: 'A1', name: 'LOGIN', args: [tok.literal(''), tok.literal('')] },
      { type: 'literalStart', tag: 'A2', name: 'APPEND', index: 0, size: 0, nonSync: true, binary: false, args: [tok.atom('INBOX')] },
      { type: 'literalEnd' },
      { type: 'command', tag: 'A2', name: 'APPEND', args: [tok.atom('INBOX'), tok.streamed(0, 0)] },
    ]);
  });

  it('limits literals per command; a skipped non-synchronizing literal is never read as a command', () => {
    const limits = { ...LIMITS, maxLiteralsPerCommand: 1 };
    assert.deepStrictEqual(eventsOf('A1 LOGIN {1+}\r\na {9+}\r\nA2 NOOP\r\n {1}\r\nA3 NOOP\r\n', limits), [
      { type: 'error', tag: 'A1', kind: 'tooManyLiterals', message: 'Too many literals in one command' },
      { type: 'command', tag: 'A3', name: 'NOOP', args: [] },
    ]);
    assert.deepStrictEqual(eventsOf('A1 LOGIN {1+}\r\na {1}\r\nA2 NOOP\r\n', limits), [
      { type: 'error', tag: 'A1', kind: 'tooManyLiterals', message: 'Too many literals in one command' },
      { type: 'command', tag: 'A2', name: 'NOOP', args: [] },
    ]);
  });

  it('skips the literal announced by a line with a syntax error', () => {
    assert.deepStrictEqual(eventsOf('A1 LOGIN "x {9+}\r\nA2 NOOP\r\n\r\nA3 NOOP\r\n'), [
      { type: 'error', tag: 'A1', kind: 'syntax', message: 'Unterminated quoted string' },
      { type: 'command', tag: 'A3', name: 'NOOP', args: [] },
    ]);
  });

  it('abortCommand() skips the rest of a streamed APPEND', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('A1 APPEND INBOX {6+}\r\nabcdef (\\Seen) {2+}\r\nxy\r\nA2 NOOP\r\n'));
    assert.equal(receiver.next()?.type, 'literalStart');
    receiver.abortCommand();
    assert.deepStrictEqual(receiver.next(), { type: 'command', tag: 'A2', name: 'NOOP', args: [] });
  });

  it('abortCommand() after needContinuation ends the command like rejectLiteral()', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('A1 APPEND NoSuchBox {6}\r\nA2 NOOP\r\n'));
    assert.equal(receiver.next()?.type, 'needContinuation');
    receiver.abortCommand();
    assert.deepStrictEqual(receiver.next(), { type: 'command', tag: 'A2', name: 'NOOP', args: [] });
  });
});

describe('ImapReceiver: limits', () => {
  it('reports an overlong line with its tag and resynchronises at the next line end', () => {
    assert.deepStrictEqual(eventsOf(`A1 LOGIN ${'x'.repeat(300)}\r\nA2 NOOP\r\n`), [
      { type: 'error', tag: 'A1', kind: 'lineTooLong', message: 'Command line too long' },
      { type: 'command', tag: 'A2', name: 'NOOP', args: [] },
    ]);
  });

  it('accepts a line of exactly maxLineLength octets and rejects one more', () => {
    const exact = `A1 LOGIN ${'x'.repeat(LIMITS.maxLineLength - 11)} y`;
    assert.equal(exact.length, LIMITS.maxLineLength);
    assert.equal(eventsOf(`${exact}\r\n`)[0]?.type, 'command');
    assert.deepStrictEqual(eventsOf(`${exact}y\r\n`), [{ type: 'error', tag: 'A1', kind: 'lineTooLong', message: 'Command line too long' }]);
  });

  it('counts the whole command text across literals', () => {
    const half = 'x'.repeat(110);
    assert.deepStrictEqual(eventsOf(`A1 LOGIN ${half} {1+}\r\nz ${half}\r\nA2 NOOP\r\n`), [
      { type: 'error', tag: 'A1', kind: 'lineTooLong', message: 'Command line too long' },
      { type: 'command', tag: 'A2', name: 'NOOP', args: [] },
    ]);
  });

  it('still skips a literal announced at the end of an overlong line, whatever its digits', () => {
    // The literal is "A2 NOOP\r\n"; the empty line after it ends the dropped command.
    const input = `A1 LOGIN ${'x'.repeat(300)} {${'0'.repeat(50)}9+}\r\nA2 NOOP\r\n\r\nA3 NOOP\r\n`;
    assert.deepStrictEqual(eventsOf(input), [
      { type: 'error', tag: 'A1', kind: 'lineTooLong', message: 'Command line too long' },
      { type: 'command', tag: 'A3', name: 'NOOP', args: [] },
    ]);
  });

  it('reports no tag when the overlong line has none within the limit', () => {
    assert.deepStrictEqual(eventsOf(`${'x'.repeat(300)}\r\n`), [{ type: 'error', tag: null, kind: 'lineTooLong', message: 'Command line too long' }]);
  });

  it('rejects NUL octets in command lines but not in literal8 contents', () => {
    assert.deepStrictEqual(eventsOf('A1 LOGIN a\x00 b\r\nA2 LOGIN ~{1+}\r\n\x00 b\r\n'), [
      { type: 'error', tag: 'A1', kind: 'nul', message: 'NUL octet in command line' },
      { type: 'command', tag: 'A2', name: 'LOGIN', args: [tok.literal(Buffer.from([0]), true), tok.atom('b')] },
    ]);
  });

  it('limits parenthesis nesting', () => {
    const limits = { ...LIMITS, maxNestingDepth: 3 };
    assert.equal(eventsOf('A1 X (((a)))\r\n', limits)[0]?.type, 'command');
    assert.deepStrictEqual(eventsOf('A1 X ((((a))))\r\nA2 NOOP\r\n', limits), [
      { type: 'error', tag: 'A1', kind: 'nestingTooDeep', message: 'Too many nested parentheses' },
      { type: 'command', tag: 'A2', name: 'NOOP', args: [] },
    ]);
  });
});

describe('ImapReceiver: modes', () => {
  it('reads DONE in IDLE mode (any case) and then commands again', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('A1 IDLE\r\ndone\r\nA2 NOOP\r\n'));
    assert.equal(receiver.next()?.type, 'command');
    receiver.expectIdleDone();
    assert.deepStrictEqual(receiver.next(), { type: 'idleEnd', done: true });
    assert.deepStrictEqual(receiver.next(), { type: 'command', tag: 'A2', name: 'NOOP', args: [] });
  });

  it('ends IDLE with done=false on any other line', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('A2 NOOP\r\n'));
    receiver.expectIdleDone();
    assert.deepStrictEqual(receiver.next(), { type: 'idleEnd', done: false });
    assert.equal(receiver.next(), null);
  });

  it('returns raw AUTHENTICATE responses and recognises "*"', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('\r\n*\r\n{5}\r\n'));
    receiver.expectAuthResponse();
    assert.deepStrictEqual(receiver.next(), { type: 'authResponse', data: Buffer.alloc(0), cancelled: false });
    receiver.expectAuthResponse();
    assert.deepStrictEqual(receiver.next(), { type: 'authResponse', data: Buffer.from('*'), cancelled: true });
    receiver.expectAuthResponse();
    assert.deepStrictEqual(receiver.next(), { type: 'authResponse', data: Buffer.from('{5}'), cancelled: false });
  });

  it('reports an overlong AUTHENTICATE response without a tag and returns to command mode', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from(`${'A'.repeat(300)}\r\nA2 NOOP\r\n`));
    receiver.expectAuthResponse();
    assert.deepStrictEqual(receiver.next(), { type: 'error', tag: null, kind: 'lineTooLong', message: 'Command line too long' });
    assert.deepStrictEqual(receiver.next(), { type: 'command', tag: 'A2', name: 'NOOP', args: [] });
  });

  it('discardBuffered() drops plaintext pipelined after STARTTLS', () => {
    const receiver = new ImapReceiver(LIMITS);
    receiver.push(Buffer.from('A1 STARTTLS\r\nA2 LOGIN fred secret\r\n'));
    assert.deepStrictEqual(receiver.next(), { type: 'command', tag: 'A1', name: 'STARTTLS', args: [] });
    assert.equal(receiver.discardBuffered(), 'A2 LOGIN fred secret\r\n'.length);
    assert.equal(receiver.next(), null);
    receiver.push(Buffer.from('A3 CAPABILITY\r\n'));
    assert.deepStrictEqual(receiver.next(), { type: 'command', tag: 'A3', name: 'CAPABILITY', args: [] });
  });
});

describe('ImapReceiver: cost', () => {
  it('stays linear when a 64 KB line arrives one byte per packet (was quadratic: 11 s)', () => {
    const receiver = new ImapReceiver({ ...LIMITS, maxLineLength: 100_000 });
    const line = Buffer.from(`A1 LOGIN ${'x'.repeat(64_000)} y\r\n`);
    const started = performance.now();
    const events: ImapReceiverEvent[] = [];
    for (let i = 0; i < line.length; i++) {
      receiver.push(line.subarray(i, i + 1));
      for (let event = receiver.next(); event !== null; event = receiver.next()) events.push(event);
    }
    const elapsed = performance.now() - started;
    assert.deepStrictEqual(events, [{ type: 'command', tag: 'A1', name: 'LOGIN', args: [tok.atom('x'.repeat(64_000)), tok.atom('y')] }]);
    assert.ok(elapsed < 3000, `took ${elapsed.toFixed(0)} ms`);
  });
});

describe('ImapReceiver + parseCommand: arbitrary input (property)', () => {
  // Lines shaped like commands (tag, name, grammar-ish arguments), with some breakage mixed in.
  const names = ['FETCH', 'UID FETCH', 'UID SEARCH', 'SEARCH', 'STORE', 'APPEND', 'LIST', 'SELECT', 'LOGIN', 'STATUS', 'ID', 'CREATE', 'IDLE', 'AUTHENTICATE', 'COPY', 'NOOP'];
  const args = [
    'INBOX', '1:*', '$', '1,3:5', '(UID FLAGS)', 'BODY[]', 'BODY.PEEK[HEADER.FIELDS (From {2+}\r\nTo)]<0.5>', 'BINARY[1]', '(OR SEEN (NOT 2))', 'OR', 'NOT',
    'SEEN', '"x"', '"a\\"b"', '""', '{3}\r\nabc', '{2+}\r\nxy', '~{1+}\r\n\x00', '{0}\r\n', '{9}\r\n', 'FLAGS', '(\\Seen)', '+FLAGS.SILENT', 'RETURN',
    '(MIN ALL)', 'CHARSET', 'UTF-8', 'MODSEQ', '17-Jul-1996', '"17-Jul-1996 02:44:25 -0700"', 'NIL', 'ENVELOPE', '(CHANGEDSINCE 5)', '&APw-', '(CONDSTORE)', 'PLAIN', '=',
  ];
  const oddities = [' ', '\r', '\x00', '\xff', '(', '"', '{5+}'];
  const some = <T,>(usual: T[], rare: T[]): fc.Arbitrary<T> =>
    fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...usual) }, { weight: 1, arbitrary: fc.constantFrom(...rare) });
  const line = fc
    .tuple(some(['A1', 'b.2'], ['*', '', '+x']), fc.constantFrom(...names), fc.array(fc.constantFrom(...args), { maxLength: 6 }), some([''], oddities), some(['\r\n', '\n'], ['']))
    .map(([tag, name, rest, odd, end]) => `${tag} ${name}${rest.map((a) => ' ' + a).join('')}${odd}${end}`);
  const input = fc
    .array(fc.oneof({ weight: 4, arbitrary: line }, { weight: 1, arbitrary: fc.constantFrom('DONE\r\n', 'AGZv\r\n', '*\r\n') }), { maxLength: 6 })
    .map((lines) => Buffer.from(lines.join(''), 'latin1'));
  const limits: ImapReceiverLimits = { maxLineLength: 120, maxLiteralSize: 8, maxAppendLiteralSize: 16, maxLiteralsPerCommand: 3, maxNestingDepth: 4 };

  function run(chunks: Buffer[]): ImapReceiverEvent[] {
    const driver = new Driver(limits);
    for (const chunk of chunks) driver.feed(chunk);
    for (const event of driver.events) {
      if (event.type !== 'command') continue;
      try {
        parseCommand(event.tag, event.name, event.args);
      } catch (error) {
        if (!(error instanceof ImapParseError)) throw error;
      }
    }
    return driver.events;
  }

  it('never throws anything but ImapParseError, and chunking never changes the events', () => {
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        const whole = run([bytes]);
        const offsets = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...offsets].map((start, i) => bytes.subarray(start, [...offsets, bytes.length][i]));
        assert.deepStrictEqual(run(chunks), whole);
      }),
      { numRuns: 3000 },
    );
  });
});
