/**
 * Inputs the fuzzers (fuzz/*.fuzz.ts, `npm run fuzz`) found, each kept as a regression test with
 * the input that broke (or nearly broke) the code. The slowloris findings live in
 * test/exhaustion.test.ts, where they need a server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../src/http/router.js';
import { MessageIndexer, indexMessage } from '../src/mime/indexer.js';
import type { MimePart } from '../src/mime/types.js';
import { ImapReceiver } from '../src/wire/imap/index.js';
import { parseCommand as parsePop3, Pop3SyntaxError } from '../src/wire/pop3/index.js';
import { parseCommand as parseSmtp, SmtpSyntaxError } from '../src/wire/smtp/index.js';

/** Generous bound: the quadratic versions took seconds on these inputs, the fixed ones take ms. */
const LINEAR_MS = 1000;

function timed<T>(work: () => T): { result: T; ms: number } {
  const started = performance.now();
  const result = work();
  return { result, ms: performance.now() - started };
}

test('IMAP tokenizer: an atom full of "[" is tokenized in linear time (was: copied once per bracket)', () => {
  // fuzz/imap-wire.fuzz.ts counterexample ["[", 199989, "A1 LIST "]: 1.2 s for 200 KB, ~400 ms for a 64 KiB line.
  const receiver = new ImapReceiver({ maxLineLength: 1 << 20, maxLiteralSize: 1024, maxAppendLiteralSize: 1024, maxLiteralsPerCommand: 10, maxNestingDepth: 32 });
  receiver.push(Buffer.from(`A1 LIST ${'['.repeat(400_000)}\r\n`));
  const { result: event, ms } = timed(() => receiver.next());
  assert.equal(event?.type, 'command');
  assert.ok(ms < LINEAR_MS, `took ${ms.toFixed(0)} ms`);
  // A real section attribute still opens a section.
  const sections = new ImapReceiver({ maxLineLength: 1024, maxLiteralSize: 1024, maxAppendLiteralSize: 1024, maxLiteralsPerCommand: 10 });
  sections.push(Buffer.from('A2 FETCH 1 BODY.PEEK[HEADER]\r\n'));
  const fetch = sections.next();
  assert.ok(fetch?.type === 'command');
  assert.equal(fetch.args[1]?.type, 'section');
});

test('SMTP parser: trailing-blank trimming is linear (was: /[ \\t]+$/, 5 s on a 64 KiB line)', () => {
  // fuzz/smtp-wire.fuzz.ts counterexample ["MAIL FROM:", " ", 64828, "x"].
  const line = Buffer.from(`MAIL FROM:${' '.repeat(64_828)}x`);
  const { result, ms } = timed(() => {
    try {
      parseSmtp(line);
      return null;
    } catch (error) {
      return error;
    }
  });
  assert.ok(result instanceof SmtpSyntaxError, 'still a syntax error');
  assert.ok(ms < LINEAR_MS, `took ${ms.toFixed(0)} ms`);
  // Trailing blanks are still tolerated (RFC 5321 4.1.1).
  assert.deepEqual(parseSmtp('NOOP \t '), { verb: 'NOOP', text: null });
});

test('POP3 parser: trailing-space trimming is linear (was: / +$/, 7 s on a 64 KiB line; 360 ms on a 12 KiB AUTH line)', () => {
  // fuzz/pop3-wire.fuzz.ts counterexample ["UIDL ", " ", 65532, "x"].
  const line = Buffer.from(`UIDL ${' '.repeat(65_532)}x`);
  const { result, ms } = timed(() => {
    try {
      parsePop3(line);
      return null;
    } catch (error) {
      return error;
    }
  });
  assert.ok(result instanceof Pop3SyntaxError);
  assert.ok(ms < LINEAR_MS, `took ${ms.toFixed(0)} ms`);
  assert.deepEqual(parsePop3(Buffer.from('LIST 1   ')), { verb: 'LIST', message: 1 });
});

test('MIME indexer: a chunk that starts with "--" in the middle of a line is not a boundary line', () => {
  // fuzz/mime.fuzz.ts: a text line "... --boundary" split just before the dashes became a
  // boundary line, so the index depended on how the message arrived.
  const message = Buffer.from(
    'Content-Type: multipart/mixed; boundary="boundary"\r\n\r\n--boundary\r\nContent-Type: text/plain\r\n\r\n' +
      'This mentions the --boundary\r\nstring in its text\r\n\r\n--boundary--\r\n',
  );
  const whole = indexMessage(message);
  assert.equal(whole.part.children?.length, 1);
  const cut = message.indexOf('--boundary\r\nstring');
  const split = new MessageIndexer();
  split.write(message.subarray(0, cut));
  split.write(message.subarray(cut));
  assert.deepEqual(split.finish(), whole);
});

test('MIME indexer: an embedded message cut short by a boundary counts against the part limit', () => {
  // fuzz/mime.fuzz.ts counterexample: 4 parts indexed with maxParts 3.
  const message = Buffer.from(
    'From: "A" <a@example.com>\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary="b"\r\n\r\npreamble\r\n--b\r\n' +
      'Content-Type: multipart/mixed; boundary="bb"\r\n\r\npreamble\r\n--bb--\r\nepilogue\r\n',
  );
  const index = indexMessage(message, { maxDepth: 1, maxParts: 3 });
  const count = (part: MimePart): number => 1 + (part.children ?? []).reduce((n, child) => n + count(child), 0) + (part.message ? count(part.message.part) : 0);
  assert.ok(count(index.part) <= 3, `${count(index.part)} parts`);
});

test('HTTP router: slash trimming is linear (was: /\\/+$/, 220 ms for one 16 KiB path before authentication)', () => {
  // Found by review after the fuzzers' trailing-blank findings: the same regex shape.
  const router = new Router([{ method: 'GET', path: '/api/v1/users/:id', handle: () => ({ status: 200, body: '' }) as never }]);
  const { result, ms } = timed(() => router.match('GET', `/a${'/'.repeat(64_000)}x`));
  assert.deepEqual(result, { kind: 'none' });
  assert.ok(ms < LINEAR_MS, `took ${ms.toFixed(0)} ms`);
  // Leading and trailing slashes still do not matter.
  const found = router.match('GET', '//api/v1/users/7//');
  assert.ok(found.kind === 'found');
  assert.deepEqual(found.params, { id: '7' });
});
