/** The sans-I/O POP3 wire layer: receiver, command parser, responses, message encoder. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AUTH_LINE_LIMIT,
  MessageEncoder,
  Pop3Receiver,
  Pop3SyntaxError,
  encodeContinuation,
  encodeErr,
  encodeMultiline,
  encodeOk,
  keywordOf,
  parseCommand,
} from '../src/wire/pop3/index.js';
import type { Pop3Event } from '../src/wire/pop3/index.js';

// ---- receiver ----------------------------------------------------------------------------------

function drain(receiver: Pop3Receiver): string[] {
  const events: string[] = [];
  let event: Pop3Event | null;
  while ((event = receiver.next()) !== null) events.push(event.type === 'line' ? `line:${event.line.toString('latin1')}` : 'tooLong');
  return events;
}

function receiveSplit(input: Buffer, splits: number[], lineLimit?: number): string[] {
  const receiver = new Pop3Receiver(lineLimit === undefined ? {} : { lineLimit });
  const events: string[] = [];
  let from = 0;
  for (const at of [...splits, input.length]) {
    receiver.push(input.subarray(from, at));
    events.push(...drain(receiver));
    from = at;
  }
  return events;
}

test('receiver: CRLF and bare LF lines come out one by one, in order', () => {
  const receiver = new Pop3Receiver();
  receiver.push(Buffer.from('USER a\r\nPASS b c\nSTAT\r\n\r\nLI'));
  assert.deepEqual(drain(receiver), ['line:USER a', 'line:PASS b c', 'line:STAT', 'line:']);
  assert.equal(receiver.bufferedBytes, 2);
  receiver.push(Buffer.from('ST\r\n'));
  assert.deepEqual(drain(receiver), ['line:LIST']);
  assert.equal(receiver.bufferedBytes, 0);
});

test('receiver: the same input split at every offset gives the same events', () => {
  const input = Buffer.from(`CAPA\r\nUSER x\r\n${'A'.repeat(300)}\r\nNOOP\nQUIT\r\n`);
  const whole = receiveSplit(input, [], 255);
  assert.deepEqual(whole, ['line:CAPA', 'line:USER x', 'tooLong', 'line:NOOP', 'line:QUIT']);
  for (let at = 0; at <= input.length; at++) assert.deepEqual(receiveSplit(input, [at], 255), whole, `split at ${at}`);
  for (let at = 1; at < input.length; at++) assert.deepEqual(receiveSplit(input, [at - 1, at], 255), whole, `split at ${at - 1},${at}`);
});

test('receiver: the limit counts CRLF; a line of exactly the limit passes', () => {
  const ok = `${'a'.repeat(253)}\r\n`;
  const long = `${'a'.repeat(254)}\r\n`;
  const bareLong = `${'a'.repeat(254)}\n`;
  for (let at = 0; at <= 256; at++) {
    assert.deepEqual(receiveSplit(Buffer.from(ok + 'NOOP\r\n'), [Math.min(at, 255)], 255), [`line:${'a'.repeat(253)}`, 'line:NOOP']);
    assert.deepEqual(receiveSplit(Buffer.from(long + 'NOOP\r\n'), [Math.min(at, 256)], 255), ['tooLong', 'line:NOOP']);
    assert.deepEqual(receiveSplit(Buffer.from(bareLong + 'NOOP\r\n'), [Math.min(at, 255)], 255), ['tooLong', 'line:NOOP']);
  }
});

test('receiver: an endless line is reported once and not accumulated', () => {
  const receiver = new Pop3Receiver({ lineLimit: 255 });
  const events: string[] = [];
  for (let i = 0; i < 100; i++) {
    receiver.push(Buffer.alloc(1000, 0x41));
    events.push(...drain(receiver));
  }
  assert.deepEqual(events, ['tooLong']);
  assert.equal(receiver.bufferedBytes, 0);
  receiver.push(Buffer.from('tail\r\nQUIT\r\n'));
  assert.deepEqual(drain(receiver), ['line:QUIT']);
});

test('receiver: discardBuffered drops pipelined bytes after STLS', () => {
  const receiver = new Pop3Receiver();
  receiver.push(Buffer.from('STLS\r\nUSER evil\r\nPASS x\r\npart'));
  assert.deepEqual(receiver.next(), { type: 'line', line: Buffer.from('STLS') });
  assert.equal(receiver.discardBuffered(), 'USER evil\r\nPASS x\r\npart'.length);
  assert.equal(receiver.next(), null);
  receiver.push(Buffer.from('CAPA\r\n'));
  assert.deepEqual(drain(receiver), ['line:CAPA']);
});

test('receiver: default limit is the AUTH line limit', () => {
  const token = 'x'.repeat(AUTH_LINE_LIMIT - 2);
  assert.deepEqual(receiveSplit(Buffer.from(`${token}\r\n`), [5000]), [`line:${token}`]);
  assert.deepEqual(receiveSplit(Buffer.from(`${token}x\r\n`), [5000]), ['tooLong']);
});

// ---- commands ----------------------------------------------------------------------------------

function parse(line: string): unknown {
  return parseCommand(Buffer.from(line, 'utf8'));
}

function syntaxError(line: string): { kind: string; message: string; verb: string | null } {
  try {
    parseCommand(Buffer.from(line, 'utf8'));
  } catch (error) {
    assert.ok(error instanceof Pop3SyntaxError);
    return { kind: error.kind, message: error.message, verb: error.verb };
  }
  assert.fail(`expected a syntax error for ${JSON.stringify(line)}`);
}

test('commands: every verb, case-insensitive', () => {
  assert.deepEqual(parse('user Tim@Example.org'), { verb: 'USER', name: 'Tim@Example.org' });
  assert.deepEqual(parse('PASS  two  spaces '), { verb: 'PASS', password: ' two  spaces ' });
  assert.deepEqual(parse('APOP mrose c4c9334bac560ecc979e58001b3e22fb'), { verb: 'APOP', name: 'mrose', digest: 'c4c9334bac560ecc979e58001b3e22fb' });
  assert.deepEqual(parse('AUTH'), { verb: 'AUTH', mechanism: null, initialResponse: null });
  assert.deepEqual(parse('AUTH plain'), { verb: 'AUTH', mechanism: 'plain', initialResponse: null });
  assert.deepEqual(parse('AUTH PLAIN AHRpbQBwdw=='), { verb: 'AUTH', mechanism: 'PLAIN', initialResponse: 'AHRpbQBwdw==' });
  assert.deepEqual(parse('Stat'), { verb: 'STAT' });
  assert.deepEqual(parse('LIST'), { verb: 'LIST', message: null });
  assert.deepEqual(parse('LIST 12'), { verb: 'LIST', message: 12 });
  assert.deepEqual(parse('LIST '), { verb: 'LIST', message: null });
  assert.deepEqual(parse('uidl 3'), { verb: 'UIDL', message: 3 });
  assert.deepEqual(parse('RETR 1'), { verb: 'RETR', message: 1 });
  assert.deepEqual(parse('DELE 007'), { verb: 'DELE', message: 7 });
  assert.deepEqual(parse('TOP 1 0'), { verb: 'TOP', message: 1, lines: 0 });
  assert.deepEqual(parse('TOP 2 4294967295'), { verb: 'TOP', message: 2, lines: 4294967295 });
  for (const verb of ['STLS', 'CAPA', 'NOOP', 'RSET', 'QUIT']) assert.deepEqual(parse(verb.toLowerCase()), { verb });
});

test('commands: syntax errors name the problem', () => {
  assert.deepEqual(syntaxError('HELO x'), { kind: 'unknownCommand', message: 'unknown command', verb: 'HELO' });
  assert.deepEqual(syntaxError(''), { kind: 'unknownCommand', message: 'unknown command', verb: null });
  assert.deepEqual(syntaxError('RETR'), { kind: 'badArguments', message: 'RETR takes 1 argument', verb: 'RETR' });
  assert.deepEqual(syntaxError('RETR 0'), { kind: 'badArguments', message: 'invalid message number', verb: 'RETR' });
  assert.deepEqual(syntaxError('RETR -1'), { kind: 'badArguments', message: 'invalid message number', verb: 'RETR' });
  assert.deepEqual(syntaxError('RETR 1x'), { kind: 'badArguments', message: 'invalid message number', verb: 'RETR' });
  assert.deepEqual(syntaxError('DELE 99999999999'), { kind: 'badArguments', message: 'invalid message number', verb: 'DELE' });
  assert.deepEqual(syntaxError('TOP 1'), { kind: 'badArguments', message: 'TOP takes 2 arguments', verb: 'TOP' });
  assert.deepEqual(syntaxError('TOP 1 -2'), { kind: 'badArguments', message: 'invalid number of lines', verb: 'TOP' });
  assert.deepEqual(syntaxError('LIST 1 2'), { kind: 'badArguments', message: 'LIST takes at most 1 argument', verb: 'LIST' });
  assert.deepEqual(syntaxError('STAT 1'), { kind: 'badArguments', message: 'STAT takes no arguments', verb: 'STAT' });
  assert.deepEqual(syntaxError('USER a  b'), { kind: 'badArguments', message: 'arguments are separated by single spaces', verb: 'USER' });
  assert.deepEqual(syntaxError('PASS'), { kind: 'badArguments', message: 'PASS needs a password', verb: 'PASS' });
  assert.deepEqual(syntaxError('USER a\u0000b'), { kind: 'badCharacters', message: 'control characters in command', verb: 'USER' });
  assert.deepEqual(syntaxError('USER tïm'), { kind: 'badCharacters', message: 'arguments must be printable ASCII', verb: 'USER' });
  assert.equal(syntaxError('PASS \u0001').kind, 'badCharacters');
  assert.throws(() => parseCommand(Buffer.from([0x50, 0x41, 0x53, 0x53, 0x20, 0xff])), (error: unknown) => error instanceof Pop3SyntaxError && error.kind === 'badCharacters');
});

test('commands: a UTF-8 password is kept as typed', () => {
  assert.deepEqual(parse('PASS pässwörd'), { verb: 'PASS', password: 'pässwörd' });
});

test('commands: keywordOf', () => {
  assert.equal(keywordOf(Buffer.from('retr 1')), 'RETR');
  assert.equal(keywordOf(Buffer.from('GET / HTTP/1.1')), 'GET');
  assert.equal(keywordOf(Buffer.from('toolong x')), '');
  assert.equal(keywordOf(Buffer.from('')), '');
});

// ---- responses ---------------------------------------------------------------------------------

test('responses: single lines, codes, sanitising and the 512-octet cap', () => {
  assert.equal(encodeOk().toString(), '+OK\r\n');
  assert.equal(encodeOk('2 320').toString(), '+OK 2 320\r\n');
  assert.equal(encodeErr('no such message').toString(), '-ERR no such message\r\n');
  assert.equal(encodeErr('Do you have another POP session running?', 'IN-USE').toString(), '-ERR [IN-USE] Do you have another POP session running?\r\n');
  assert.equal(encodeErr('x', 'SYS/TEMP').toString(), '-ERR [SYS/TEMP] x\r\n');
  assert.equal(encodeErr('bad\r\nINJECTED').toString(), '-ERR bad INJECTED\r\n');
  assert.equal(encodeErr('[fake] code').toString(), '-ERR (fake] code\r\n');
  const long = encodeOk('é'.repeat(400));
  assert.ok(long.length <= 512);
  assert.equal(long.subarray(long.length - 2).toString(), '\r\n');
  assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(long));
});

test('responses: multi-line with dot-stuffing, continuation', () => {
  assert.equal(encodeMultiline('2 messages (320 octets)', ['1 120', '2 200']).toString(), '+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n');
  assert.equal(encodeMultiline('capability list follows', []).toString(), '+OK capability list follows\r\n.\r\n');
  assert.equal(encodeMultiline('x', ['.hidden', '..']).toString(), '+OK x\r\n..hidden\r\n...\r\n.\r\n');
  assert.equal(encodeContinuation(Buffer.alloc(0)).toString(), '+ \r\n');
  assert.equal(encodeContinuation(Buffer.from('Username:')).toString(), '+ VXNlcm5hbWU6\r\n');
});

// ---- message encoder ---------------------------------------------------------------------------

function encode(message: string | Buffer, options: { bodyLines?: number } = {}, splits: number[] = []): string {
  const input = typeof message === 'string' ? Buffer.from(message, 'latin1') : message;
  const encoder = new MessageEncoder(options);
  const out: Buffer[] = [];
  let from = 0;
  for (const at of [...splits, input.length]) {
    if (encoder.done) break;
    out.push(encoder.push(input.subarray(from, at)));
    from = at;
  }
  out.push(encoder.end());
  return Buffer.concat(out).toString('latin1');
}

/** The obvious, slow definition the encoder must agree with. */
function reference(message: string, bodyLines?: number): string {
  let out = '';
  let inHeader = true;
  let sent = 0;
  for (const raw of message.split(/(?<=\n)/)) {
    if (raw === '') continue;
    const hasLf = raw.endsWith('\n');
    let content = hasLf ? raw.slice(0, -1) : raw;
    // A CR before the LF is the line end; a CR at the very end becomes the start of one.
    if (content.endsWith('\r')) content = content.slice(0, -1);
    out += `${content.startsWith('.') ? '.' : ''}${content}\r\n`;
    if (!hasLf || bodyLines === undefined) continue;
    if (inHeader) {
      if (content === '') {
        inHeader = false;
        if (bodyLines === 0) break;
      }
    } else if (++sent >= bodyLines) {
      break;
    }
  }
  return `${out}.\r\n`;
}

test('message: CRLF, bare LF, dot-stuffing, missing final line end', () => {
  assert.equal(encode('Subject: a\r\n\r\nbody\r\n'), 'Subject: a\r\n\r\nbody\r\n.\r\n');
  assert.equal(encode('Subject: a\n\nbody\n.\n..x\n'), 'Subject: a\r\n\r\nbody\r\n..\r\n...x\r\n.\r\n');
  assert.equal(encode('Subject: a\r\n\r\nno end'), 'Subject: a\r\n\r\nno end\r\n.\r\n');
  assert.equal(encode('Subject: a\r\n\r\nends in CR\r'), 'Subject: a\r\n\r\nends in CR\r\n.\r\n');
  assert.equal(encode('a\rb\r\n'), 'a\rb\r\n.\r\n');
  assert.equal(encode(''), '.\r\n');
  assert.equal(encode('.'), '..\r\n.\r\n');
});

test('message: TOP sends the header, the blank line and exactly n body lines', () => {
  const message = 'From: a\r\nSubject: b\r\n\r\nline 1\r\n.line 2\nline 3\r\nline 4';
  assert.equal(encode(message, { bodyLines: 0 }), 'From: a\r\nSubject: b\r\n\r\n.\r\n');
  assert.equal(encode(message, { bodyLines: 1 }), 'From: a\r\nSubject: b\r\n\r\nline 1\r\n.\r\n');
  assert.equal(encode(message, { bodyLines: 2 }), 'From: a\r\nSubject: b\r\n\r\nline 1\r\n..line 2\r\n.\r\n');
  assert.equal(encode(message, { bodyLines: 3 }), 'From: a\r\nSubject: b\r\n\r\nline 1\r\n..line 2\r\nline 3\r\n.\r\n');
  assert.equal(encode(message, { bodyLines: 4 }), 'From: a\r\nSubject: b\r\n\r\nline 1\r\n..line 2\r\nline 3\r\nline 4\r\n.\r\n');
  assert.equal(encode(message, { bodyLines: 100 }), encode(message));
  // No blank line: the whole message is header.
  assert.equal(encode('From: a\r\nSubject: b\r\n', { bodyLines: 0 }), 'From: a\r\nSubject: b\r\n.\r\n');
  // Bare-LF header end.
  assert.equal(encode('From: a\n\nx\ny\n', { bodyLines: 1 }), 'From: a\r\n\r\nx\r\n.\r\n');
});

test('message: done turns true as soon as TOP has its lines', () => {
  const encoder = new MessageEncoder({ bodyLines: 1 });
  assert.equal(encoder.push(Buffer.from('H: v\r\n\r\n')).toString(), 'H: v\r\n\r\n');
  assert.equal(encoder.done, false);
  assert.equal(encoder.push(Buffer.from('one\r\ntwo\r\n')).toString(), 'one\r\n');
  assert.equal(encoder.done, true);
  assert.equal(encoder.push(Buffer.from('three\r\n')).length, 0);
  assert.equal(encoder.end().toString(), '.\r\n');
});

test('message: consumed counts the stored octets used, so a whole TOP can be told apart', () => {
  const message = Buffer.from('H: v\r\n\r\none\r\ntwo');
  const whole = new MessageEncoder({ bodyLines: 5 });
  whole.push(message);
  assert.equal(whole.consumed, message.length);
  const exact = new MessageEncoder({ bodyLines: 2 });
  exact.push(message.subarray(0, 10));
  exact.push(message.subarray(10));
  assert.equal(exact.consumed, message.length);
  const part = new MessageEncoder({ bodyLines: 1 });
  part.push(message);
  assert.equal(part.consumed, 'H: v\r\n\r\none\r\n'.length);
  assert.equal(part.push(Buffer.from('more')).length, 0);
  assert.equal(part.consumed, 'H: v\r\n\r\none\r\n'.length);
});

test('message: split at every offset gives the same bytes', () => {
  const message = 'From: a\n.Sub: b\r\n\r\n.\r\nx\ry\n\n..\r\nlast\r';
  for (const bodyLines of [undefined, 0, 1, 2, 3, 10]) {
    const whole = encode(message, bodyLines === undefined ? {} : { bodyLines });
    assert.equal(whole, reference(message, bodyLines), `reference, bodyLines ${bodyLines}`);
    for (let at = 0; at <= message.length; at++) {
      assert.equal(encode(message, bodyLines === undefined ? {} : { bodyLines }, [at]), whole, `split at ${at}, bodyLines ${bodyLines}`);
      for (let second = at; second <= message.length; second += 3) {
        assert.equal(encode(message, bodyLines === undefined ? {} : { bodyLines }, [at, second]), whole, `split at ${at},${second}`);
      }
    }
  }
});

test('message: property: agrees with the reference for any text and any splits', () => {
  const alphabet = fc.constantFrom('a', '.', '\r', '\n', ' ', 'H', ':');
  fc.assert(
    fc.property(
      fc.array(alphabet, { maxLength: 60 }).map((chars) => chars.join('')),
      fc.option(fc.nat({ max: 6 }), { nil: undefined }),
      fc.array(fc.nat({ max: 60 }), { maxLength: 4 }),
      (message, bodyLines, cuts) => {
        const splits = [...new Set(cuts.map((cut) => Math.min(cut, message.length)))].sort((a, b) => a - b);
        const options = bodyLines === undefined ? {} : { bodyLines };
        assert.equal(encode(message, options, splits), reference(message, bodyLines));
      },
    ),
    { numRuns: 2000 },
  );
});

test('message: output of a CRLF message without dot lines is the input itself', () => {
  const body = Buffer.from('Subject: x\r\n\r\n' + 'line of text\r\n'.repeat(5000));
  const encoder = new MessageEncoder();
  const out = encoder.push(body);
  // Same memory, no copy.
  assert.equal(out.buffer, body.buffer);
  assert.equal(out.byteOffset, body.byteOffset);
  assert.equal(out.length, body.length);
});
