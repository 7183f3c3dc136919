import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { SmtpReceiver, SmtpReceiverStateError } from '../src/wire/smtp/receiver.js';
import type { SmtpEvent, SmtpReceiverOptions } from '../src/wire/smtp/receiver.js';

/** Events in a comparable form: data chunks merged, lines as latin1 text. */
type Seen =
  | { type: 'command'; line: string }
  | { type: 'lineTooLong' }
  | { type: 'data'; text: string }
  | { type: 'dataEnd' }
  | { type: 'dataError'; reason: string }
  | { type: 'chunkEnd'; last: boolean };

/**
 * Plays a minimal session: DATA switches to DATA mode, BDAT n [LAST] to BDAT mode, STARTTLS
 * discards what is buffered. Feeds `chunks` one by one, draining events after each push.
 */
function run(chunks: readonly Buffer[], options: SmtpReceiverOptions = {}): { events: Seen[]; discarded: number[] } {
  const receiver = new SmtpReceiver(options);
  const events: Seen[] = [];
  const discarded: number[] = [];
  const record = (event: SmtpEvent): void => {
    const last = events[events.length - 1];
    if (event.type === 'data') {
      if (last?.type === 'data') last.text += event.chunk.toString('latin1');
      else events.push({ type: 'data', text: event.chunk.toString('latin1') });
      return;
    }
    if (event.type === 'command') {
      const line = event.line.toString('latin1');
      events.push({ type: 'command', line });
      const bdat = /^BDAT (\d+)( LAST)?$/i.exec(line);
      if (/^DATA$/i.test(line)) receiver.startData();
      else if (bdat !== null) receiver.expectChunk(Number(bdat[1]), bdat[2] !== undefined);
      else if (/^STARTTLS$/i.test(line)) discarded.push(receiver.discardBuffered());
      return;
    }
    events.push(event);
  };
  for (const chunk of chunks) {
    receiver.push(chunk);
    for (let event = receiver.next(); event !== null; event = receiver.next()) record(event);
  }
  return { events, discarded };
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

function splitAt(input: Buffer, offsets: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let previous = 0;
  for (const offset of [...offsets].sort((a, b) => a - b)) {
    chunks.push(input.subarray(previous, offset));
    previous = offset;
  }
  chunks.push(input.subarray(previous));
  return chunks;
}

/** Asserts that every 2-way split, every 3-way split on a stride, and byte-by-byte give `expected`. */
function assertSplitInvariant(input: Buffer, expected: Seen[], options: SmtpReceiverOptions = {}): void {
  assert.deepEqual(run([input], options).events, expected, 'whole input');
  for (let offset = 0; offset <= input.length; offset++) {
    assert.deepEqual(run(splitAt(input, [offset]), options).events, expected, `split at ${offset}`);
  }
  // Three-way splits on a stride, so long inputs stay at about 40 x 40 runs.
  const stride = Math.max(3, Math.ceil(input.length / 40));
  for (let a = 0; a <= input.length; a += stride) {
    for (let b = a; b <= input.length; b += stride + 2) {
      assert.deepEqual(run(splitAt(input, [a, b]), options).events, expected, `split at ${a},${b}`);
    }
  }
  const byteByByte = [...input].map((byte) => Buffer.from([byte]));
  assert.deepEqual(run(byteByByte, options).events, expected, 'byte by byte');
}

test('pipelined commands in one chunk come out one by one, in order', () => {
  const { events } = run([bytes('EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nNOOP\r\n')]);
  assert.deepEqual(events, [
    { type: 'command', line: 'EHLO client.example' },
    { type: 'command', line: 'MAIL FROM:<a@example.org>' },
    { type: 'command', line: 'RCPT TO:<b@example.net>' },
    { type: 'command', line: 'NOOP' },
  ]);
});

test('a command split byte by byte is assembled (smtp-proto "d","a","t","a" case)', () => {
  const { events } = run(['q', 'u', 'i', 't', '\r', '\n'].map(bytes));
  assert.deepEqual(events, [{ type: 'command', line: 'quit' }]);
});

test('command lines keep their raw octets (UTF-8 stays UTF-8)', () => {
  const receiver = new SmtpReceiver();
  receiver.push(Buffer.from('RCPT TO:<δοκιμή@παράδειγμα.δοκιμή>\r\n', 'utf8'));
  const event = receiver.next();
  assert.equal(event?.type, 'command');
  assert.equal(event.type === 'command' ? event.line.toString('utf8') : '', 'RCPT TO:<δοκιμή@παράδειγμα.δοκιμή>');
  assert.equal(receiver.next(), null);
});

test('DATA is dot-unstuffed with CRLF kept, and ends only at CRLF.CRLF', () => {
  const input = bytes('DATA\r\nSubject: hi\r\n\r\n..leading dot\r\n.x\r\nlast line\r\n.\r\nQUIT\r\n');
  assertSplitInvariant(input, [
    { type: 'command', line: 'DATA' },
    { type: 'data', text: 'Subject: hi\r\n\r\n.leading dot\r\nx\r\nlast line\r\n' },
    { type: 'dataEnd' },
    { type: 'command', line: 'QUIT' },
  ]);
});

test('an empty DATA body ends at the DATA line CRLF followed by .CRLF', () => {
  assertSplitInvariant(bytes('DATA\r\n.\r\nRSET\r\n'), [
    { type: 'command', line: 'DATA' },
    { type: 'dataEnd' },
    { type: 'command', line: 'RSET' },
  ]);
});

test('a line of two dots is one dot of content; ".." then "." ends', () => {
  assertSplitInvariant(bytes('DATA\r\n..\r\n.\r\n'), [
    { type: 'command', line: 'DATA' },
    { type: 'data', text: '.\r\n' },
    { type: 'dataEnd' },
  ]);
});

test('bytes after DATA wait for startData(); the session decides the mode', () => {
  const receiver = new SmtpReceiver();
  receiver.push(bytes('DATA\r\nbody\r\n.\r\n'));
  assert.deepEqual(receiver.next(), { type: 'command', line: bytes('DATA') });
  assert.equal(receiver.bufferedBytes, 9);
  receiver.startData();
  assert.deepEqual(receiver.next(), { type: 'data', chunk: bytes('body\r\n') });
  assert.deepEqual(receiver.next(), { type: 'dataEnd' });
  assert.equal(receiver.mode, 'command');
  assert.equal(receiver.next(), null);
});

test('DATA is streamed: each push yields its data at once, nothing is accumulated', () => {
  const receiver = new SmtpReceiver({ textLineLimit: 0 });
  receiver.push(bytes('DATA\r\n'));
  assert.equal(receiver.next()?.type, 'command');
  receiver.startData();
  let total = 0;
  for (let i = 0; i < 50; i++) {
    receiver.push(Buffer.alloc(64 * 1024, 0x61));
    const event = receiver.next();
    assert.equal(event?.type, 'data');
    total += event?.type === 'data' ? event.chunk.length : 0;
    assert.equal(receiver.next(), null);
    assert.equal(receiver.bufferedBytes, 0);
  }
  receiver.push(bytes('\r\n.\r\n'));
  assert.deepEqual(receiver.next(), { type: 'data', chunk: bytes('\r\n') });
  assert.deepEqual(receiver.next(), { type: 'dataEnd' });
  assert.equal(total, 50 * 64 * 1024);
});

// The smuggling matrix: each sequence would end DATA for some server; here it must not.
// Each case: the sequence, the error it must raise in reject mode, and in normalize mode.
const SMUGGLING: Array<[name: string, sequence: string, reject: string, normalize: string]> = [
  ['LF.LF', '\n.\n', 'bareLf', 'bareLf'],
  ['LF.CRLF', '\n.\r\n', 'bareLf', 'bareLf'],
  ['CRLF.LF', '\r\n.\n', 'bareLf', 'bareLf'],
  ['CR.CR', '\r.\r', 'bareCr', 'bareCr'],
  ['CR.CRLF', '\r.\r\n', 'bareCr', 'bareCr'],
  ['CRLF.CR', '\r\n.\r', 'bareCr', 'bareCr'],
  ['CR.LF', '\r.\n', 'bareCr', 'bareCr'],
  ['LF.CR', '\n.\r', 'bareLf', 'bareCr'],
  ['CRLF.CRCRLF', '\r\n.\r\r\n', 'bareCr', 'bareCr'],
  ['CR CR.CR', '\r\r.\r', 'bareCr', 'bareCr'],
  ['CRLF.LFCRLF', '\r\n.\n\r\n', 'bareLf', 'bareLf'],
  ['CRLF.NUL CRLF', '\r\n.\0\r\n', 'none', 'none'],
  ['CRLF..CRLF', '\r\n..\r\n', 'none', 'none'],
];

for (const [name, sequence, rejectReason, normalizeReason] of SMUGGLING) {
  for (const mode of ['reject', 'normalize'] as const) {
    test(`smuggling ${name} (${mode}) never ends DATA; the injected commands stay message data`, () => {
      const injected = 'MAIL FROM:<attacker@evil.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nForged\r\n';
      const input = bytes(`DATA\r\nSubject: x\r\n${sequence}${injected}\r\n.\r\nQUIT\r\n`);
      const { events } = run([input], { bareLineEndings: mode });
      const reason = mode === 'reject' ? rejectReason : normalizeReason;
      const errors = events.filter((event) => event.type === 'dataError');
      assert.deepEqual(errors, reason === 'none' ? [] : [{ type: 'dataError', reason }]);
      const commands = events.filter((event) => event.type === 'command').map((event) => (event.type === 'command' ? event.line : ''));
      assert.deepEqual(commands, ['DATA', 'QUIT']);
      assert.equal(events.filter((event) => event.type === 'dataEnd').length, 1);
      assert.deepEqual(events[events.length - 2], { type: 'dataEnd' });
      assertSplitInvariant(input, events, { bareLineEndings: mode });
    });
  }
}

test('a message with an ordinary dot-stuffed CRLF..CRLF line has exact content', () => {
  const { events } = run([bytes('DATA\r\na\r\n..\r\nb\r\n.\r\n')]);
  assert.deepEqual(events, [
    { type: 'command', line: 'DATA' },
    { type: 'data', text: 'a\r\n.\r\nb\r\n' },
    { type: 'dataEnd' },
  ]);
});

test('reject mode: a bare LF fails the message once, data stops, the real end still ends it', () => {
  assertSplitInvariant(bytes('DATA\r\nok line\r\nbad\nline\r\nmore\n\r\n.\r\nNOOP\r\n'), [
    { type: 'command', line: 'DATA' },
    { type: 'data', text: 'ok line\r\nbad' },
    { type: 'dataError', reason: 'bareLf' },
    { type: 'dataEnd' },
    { type: 'command', line: 'NOOP' },
  ]);
});

test('reject mode: a bare CR fails the message', () => {
  assertSplitInvariant(bytes('DATA\r\nab\rcd\r\n.\r\n'), [
    { type: 'command', line: 'DATA' },
    { type: 'data', text: 'ab' },
    { type: 'dataError', reason: 'bareCr' },
    { type: 'dataEnd' },
  ]);
});

test('normalize mode: bare LF becomes CRLF, and a dot line after it is unstuffed', () => {
  assertSplitInvariant(
    bytes('DATA\r\nline one\nline two\n..three\r\n.\r\n'),
    [
      { type: 'command', line: 'DATA' },
      { type: 'data', text: 'line one\r\nline two\r\n.three\r\n' },
      { type: 'dataEnd' },
    ],
    { bareLineEndings: 'normalize' },
  );
});

test('a DATA command ended by a bare LF cannot be followed by an immediate end', () => {
  const { events } = run([bytes('DATA\n.\r\nx\r\n.\r\n')]);
  assert.deepEqual(events, [
    { type: 'command', line: 'DATA' },
    { type: 'dataError', reason: 'bareLf' },
    { type: 'dataEnd' },
  ]);
});

test('command line limit: 512 octets with CRLF pass, 513 give lineTooLong and parsing goes on', () => {
  const ok = `NOOP ${'a'.repeat(512 - 7)}`;
  const long = `NOOP ${'a'.repeat(512 - 6)}`;
  assert.equal(Buffer.byteLength(`${ok}\r\n`), 512);
  assertSplitInvariant(bytes(`${ok}\r\n${long}\r\nQUIT\r\n`), [
    { type: 'command', line: ok },
    { type: 'lineTooLong' },
    { type: 'command', line: 'QUIT' },
  ]);
});

test('a long line is reported before its end arrives and never buffered past the limit', () => {
  const receiver = new SmtpReceiver({ lineLimit: 64 });
  receiver.push(bytes('x'.repeat(63)));
  assert.equal(receiver.next(), null);
  assert.equal(receiver.bufferedBytes, 63);
  receiver.push(bytes('x'));
  assert.deepEqual(receiver.next(), { type: 'lineTooLong' });
  for (let i = 0; i < 100; i++) {
    receiver.push(Buffer.alloc(1000, 0x78));
    assert.equal(receiver.next(), null);
    assert.equal(receiver.bufferedBytes, 0);
  }
  receiver.push(bytes('yyy\r\nQUIT\r\n'));
  assert.deepEqual(receiver.next(), { type: 'command', line: bytes('QUIT') });
  assert.equal(receiver.next(), null);
});

test('setLineLimit raises the limit for AUTH responses (RFC 4954: 12288)', () => {
  const receiver = new SmtpReceiver();
  const response = 'A'.repeat(4000);
  receiver.setLineLimit(12288);
  receiver.push(bytes(`${response}\r\n`));
  assert.deepEqual(receiver.next(), { type: 'command', line: bytes(response) });
  receiver.setLineLimit(512);
  receiver.push(bytes(`${response}\r\n`));
  assert.deepEqual(receiver.next(), { type: 'lineTooLong' });
});

test('text line limit: 998 octets + CRLF pass, 999 fail with lineTooLong (not counting a stuffing dot)', () => {
  const ok = 'a'.repeat(998);
  const stuffed = `.${'.'.repeat(998)}`;
  assertSplitInvariant(bytes(`DATA\r\n${ok}\r\n${stuffed}\r\n.\r\n`), [
    { type: 'command', line: 'DATA' },
    { type: 'data', text: `${ok}\r\n${'.'.repeat(998)}\r\n` },
    { type: 'dataEnd' },
  ]);
  const { events } = run([bytes(`DATA\r\n${'b'.repeat(999)}\r\n.\r\n`)]);
  assert.deepEqual(events, [
    { type: 'command', line: 'DATA' },
    { type: 'data', text: 'b'.repeat(998) },
    { type: 'dataError', reason: 'lineTooLong' },
    { type: 'dataEnd' },
  ]);
});

test('BDAT yields exactly the chunk octets raw, then chunkEnd', () => {
  const body = 'a\r\n.\r\nb\nc';
  assertSplitInvariant(bytes(`BDAT ${body.length}\r\n${body}BDAT 3 LAST\r\n.\r\nQUIT\r\n`), [
    { type: 'command', line: `BDAT ${body.length}` },
    { type: 'data', text: body },
    { type: 'chunkEnd', last: false },
    { type: 'command', line: 'BDAT 3 LAST' },
    { type: 'data', text: '.\r\n' },
    { type: 'chunkEnd', last: true },
    { type: 'command', line: 'QUIT' },
  ]);
});

test('BDAT 0 LAST ends at once', () => {
  assert.deepEqual(run([bytes('BDAT 0 LAST\r\nQUIT\r\n')]).events, [
    { type: 'command', line: 'BDAT 0 LAST' },
    { type: 'chunkEnd', last: true },
    { type: 'command', line: 'QUIT' },
  ]);
});

test('STARTTLS: discardBuffered throws away the plaintext that followed the command', () => {
  const { events, discarded } = run([bytes('STARTTLS\r\nMAIL FROM:<x@y.example>\r\nRCPT TO:<z')]);
  assert.deepEqual(events, [{ type: 'command', line: 'STARTTLS' }]);
  assert.deepEqual(discarded, [Buffer.byteLength('MAIL FROM:<x@y.example>\r\nRCPT TO:<z')]);
});

test('discardBuffered counts a partial line already buffered', () => {
  const receiver = new SmtpReceiver();
  receiver.push(bytes('NOOP\r\nPARTIAL'));
  assert.equal(receiver.next()?.type, 'command');
  assert.equal(receiver.next(), null);
  assert.equal(receiver.discardBuffered(), 7);
  assert.equal(receiver.bufferedBytes, 0);
  receiver.push(bytes('QUIT\r\n'));
  assert.deepEqual(receiver.next(), { type: 'command', line: bytes('QUIT') });
});

test('mode switches in the wrong mode are programming errors', () => {
  const receiver = new SmtpReceiver();
  receiver.startData();
  assert.throws(() => receiver.startData(), SmtpReceiverStateError);
  assert.throws(() => receiver.expectChunk(1, true), SmtpReceiverStateError);
  assert.throws(() => new SmtpReceiver({ lineLimit: 2 }), RangeError);
});

test('property: any chunking of a mixed stream gives the same events', () => {
  const input = bytes(
    'EHLO a.example\r\nMAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\nDATA\r\n' +
      'x\r\n..y\r\n.\r\n' +
      `${'z'.repeat(600)}\r\n` +
      'BDAT 4 LAST\r\n\r\n.\r\n' +
      'DATA\r\n\n.\r\nsmuggled\r\n.\r\nQUIT\r\n',
  );
  const expected = run([input]).events;
  assert.deepEqual(expected, [
    { type: 'command', line: 'EHLO a.example' },
    { type: 'command', line: 'MAIL FROM:<a@a.example>' },
    { type: 'command', line: 'RCPT TO:<b@b.example>' },
    { type: 'command', line: 'DATA' },
    { type: 'data', text: 'x\r\n.y\r\n' },
    { type: 'dataEnd' },
    { type: 'lineTooLong' },
    { type: 'command', line: 'BDAT 4 LAST' },
    { type: 'data', text: '\r\n.\r' },
    { type: 'chunkEnd', last: true },
    // The "\n" left over from BDAT ends an empty line.
    { type: 'command', line: '' },
    { type: 'command', line: 'DATA' },
    { type: 'dataError', reason: 'bareLf' },
    { type: 'dataEnd' },
    { type: 'command', line: 'QUIT' },
  ]);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: input.length }), { maxLength: 12 }), (offsets) => {
      assert.deepEqual(run(splitAt(input, offsets)).events, expected);
    }),
    { numRuns: 300 },
  );
});

test('over a real TCP socket, written in odd pieces, the events are the same', async () => {
  const input = bytes('EHLO a.example\r\nDATA\r\nline\r\n\n.\r\nMAIL FROM:<x@y.example>\r\n..\r\n.\r\nQUIT\r\n');
  const received: Buffer[] = [];
  const server = createServer((socket) => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    await new Promise<void>((resolve, reject) => {
      const client = connect(port, '127.0.0.1', () => {
        client.setNoDelay(true);
        for (let offset = 0; offset < input.length; offset += 7) client.write(input.subarray(offset, offset + 7));
        client.end();
      });
      client.on('error', reject);
      client.on('close', () => resolve());
      client.resume();
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  assert.deepEqual(Buffer.concat(received), input);
  assert.deepEqual(run(received).events, [
    { type: 'command', line: 'EHLO a.example' },
    { type: 'command', line: 'DATA' },
    { type: 'data', text: 'line\r\n' },
    { type: 'dataError', reason: 'bareLf' },
    { type: 'dataEnd' },
    { type: 'command', line: 'QUIT' },
  ]);
});

test('property: random CR/LF/dot soup after DATA splits the same way however it is chunked', () => {
  const soup = fc.array(fc.constantFrom('\r', '\n', '.', 'a', '\r\n', '\r\n.', '\r\n.\r\n'), { maxLength: 40 });
  fc.assert(
    fc.property(soup, fc.array(fc.nat(), { maxLength: 8 }), fc.constantFrom('reject' as const, 'normalize' as const), (parts, cuts, mode) => {
      const input = bytes(`DATA\r\n${parts.join('')}\r\n.\r\nQUIT\r\n`);
      const whole = run([input], { bareLineEndings: mode }).events;
      const offsets = cuts.map((cut) => cut % (input.length + 1));
      assert.deepEqual(run(splitAt(input, offsets), { bareLineEndings: mode }).events, whole);
      assert.deepEqual(run([...input].map((byte) => Buffer.from([byte])), { bareLineEndings: mode }).events, whole);
      // Unless the soup holds a real CRLF.CRLF (counting the DATA line's CRLF), DATA ends only at
      // the final terminator and nothing in the soup is read as a command.
      if (!`\r\n${parts.join('')}\r\n.\r\n`.slice(0, -3).includes('\r\n.\r\n')) {
        const kinds = whole.map((event) => (event.type === 'command' ? event.line : event.type));
        assert.deepEqual(kinds.filter((kind) => kind !== 'data' && kind !== 'dataError'), ['DATA', 'dataEnd', 'QUIT']);
      }
    }),
    { numRuns: 500 },
  );
});
