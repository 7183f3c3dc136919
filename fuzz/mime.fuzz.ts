/**
 * The MIME indexer (src/mime): arbitrary bytes, generated MIME trees and mutated corpus messages
 * (../shared/corpus, read in place), fed in arbitrary chunks.
 *
 * Properties: never throws; offsets are in bounds and nested (0 ≤ headerStart ≤ bodyStart ≤
 * bodyEnd ≤ size, children inside their parent, in order); the number of parts and the depth stay
 * within the limits; the index is plain JSON and does not depend on chunking; BODYSTRUCTURE,
 * ENVELOPE and text extraction work on it; bounded time per message.
 * @module
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { MessageIndexer, indexMessage } from '../src/mime/indexer.js';
import type { IndexOptions } from '../src/mime/indexer.js';
import { extractText } from '../src/mime/text.js';
import type { MessageIndex, MimePart } from '../src/mime/types.js';
import { encodeBody, encodeBodyStructure } from '../src/imap/encode/bodystructure.js';
import { encodeEnvelope } from '../src/imap/encode/envelope.js';
import { cutPoints, fuzzParameters, splitAt, testTimeoutMs, withinTime } from './support.js';

const CORPUS = resolve(fileURLToPath(new URL('..', import.meta.url)), '..', 'shared', 'corpus');

function corpusFiles(): Buffer[] {
  if (!existsSync(CORPUS)) return [];
  return readdirSync(CORPUS)
    .filter((name) => name !== 'CORPUS.md')
    .sort()
    .map((name) => readFileSync(join(CORPUS, name)));
}

interface Limits {
  maxDepth: number;
  maxParts: number;
  maxHeaderBytes: number;
}

/** Checks the structural invariants; returns [parts, deepest depth]. */
function checkTree(part: MimePart, size: number, depth: number, limits: Limits): [number, number] {
  assert.ok(0 <= part.headerStart && part.headerStart <= part.bodyStart && part.bodyStart <= part.bodyEnd && part.bodyEnd <= size, `offsets out of bounds: ${part.headerStart} ${part.bodyStart} ${part.bodyEnd} (size ${size})`);
  assert.equal(part.size, part.bodyEnd - part.bodyStart);
  assert.ok(part.lines >= 0 && part.lines <= part.size);
  let parts = 1;
  let deepest = depth;
  let previous = part.bodyStart;
  for (const child of part.children ?? []) {
    assert.ok(child.headerStart >= previous && child.bodyEnd <= part.bodyEnd, 'children nested and in order');
    previous = child.bodyEnd;
    const [n, d] = checkTree(child, size, depth + 1, limits);
    parts += n;
    deepest = Math.max(deepest, d);
  }
  if (part.message !== undefined) {
    const inner = part.message.part;
    assert.ok(inner.headerStart >= part.bodyStart && inner.bodyEnd <= part.bodyEnd, 'embedded message inside its part');
    const [n, d] = checkTree(inner, size, depth + 1, limits);
    parts += n;
    deepest = Math.max(deepest, d);
  }
  return [parts, deepest];
}

function indexChunks(chunks: readonly Buffer[], options: IndexOptions): MessageIndex {
  const indexer = new MessageIndexer(options);
  for (const chunk of chunks) indexer.write(chunk);
  return indexer.finish();
}

function checkMessage(bytes: Buffer, chunks: readonly Buffer[], limits: Limits): void {
  const index = withinTime(3000, `indexing ${bytes.length} octets`, () => indexMessage(bytes, limits));
  assert.equal(index.size, bytes.length);
  assert.equal(index.part.headerStart, 0);
  assert.equal(index.part.bodyEnd, bytes.length);
  const [parts, deepest] = checkTree(index.part, bytes.length, 0, limits);
  assert.ok(parts <= limits.maxParts, `${parts} parts indexed, limit ${limits.maxParts}`);
  // Each multipart or message level adds a multipart and its child, or a message and its root.
  assert.ok(deepest <= 2 * (limits.maxDepth + 1), `depth ${deepest} for a limit of ${limits.maxDepth}`);
  assert.deepEqual(JSON.parse(JSON.stringify(index)), index, 'plain JSON');
  assert.deepEqual(withinTime(3000, 'indexing in chunks', () => indexChunks(chunks, limits)), index, 'index depends on chunking');
  withinTime(3000, 'BODYSTRUCTURE/ENVELOPE/text', () => {
    encodeBodyStructure(index.part);
    encodeBody(index.part);
    encodeEnvelope(index.envelope);
    assert.equal(typeof extractText(bytes, index), 'string');
  });
}

const limits: fc.Arbitrary<Limits> = fc.record({
  maxDepth: fc.integer({ min: 0, max: 40 }),
  maxParts: fc.integer({ min: 1, max: 3000 }),
  maxHeaderBytes: fc.constantFrom(64, 4096, 256 * 1024),
});

/** A MIME tree as text: multiparts (with boundaries that may share prefixes), messages, leaves. */
const mimeEntity: fc.Arbitrary<string> = fc.letrec<{ entity: string }>((tie) => ({
  entity: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.constantFrom('text/plain', 'text/html; charset="utf-8"', 'application/octet-stream', 'image/png; name=a.png', 'x'), fc.constantFrom('', 'hello\r\n', '--b\r\n', '\r\n\r\n', '=?utf-8?q?a?=', '\n.\n', 'line\nline\r\n')).map(
      ([type, body]) => `Content-Type: ${type}\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}`,
    ),
    fc.tuple(fc.constantFrom('b', 'b1', 'bb', '==x', 'a b', '"'), fc.array(tie('entity'), { maxLength: 4 }), fc.constantFrom('mixed', 'alternative', 'digest', 'related'), fc.boolean(), fc.constantFrom('\r\n', '\n')).map(
      ([boundary, children, sub, close, nl]) =>
        `Content-Type: multipart/${sub}; boundary="${boundary}"${nl}${nl}preamble${nl}` +
        children.map((child) => `--${boundary}${nl}${child}${nl}`).join('') +
        (close ? `--${boundary}--${nl}epilogue` : ''),
    ),
    tie('entity').map((inner) => `Content-Type: message/rfc822\r\n\r\nFrom: a@b\r\nSubject: inner\r\n${inner}`),
  ),
})).entity;

test('MIME indexer: generated trees in arbitrary chunks', { timeout: testTimeoutMs() }, () => {
  fc.assert(
    fc.property(mimeEntity, limits, cutPoints, (text, lim, cuts) => {
      const bytes = Buffer.from(`From: "A" <a@example.com>\r\nSubject: x\r\nMIME-Version: 1.0\r\n${text}`, 'latin1');
      checkMessage(bytes, splitAt(bytes, cuts), lim);
    }),
    fuzzParameters(0.3),
  );
});

test('MIME indexer: arbitrary octets', { timeout: testTimeoutMs() }, () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4000 }), limits, cutPoints, (raw, lim, cuts) => {
      const bytes = Buffer.from(raw);
      checkMessage(bytes, splitAt(bytes, cuts), lim);
    }),
    fuzzParameters(0.15),
  );
});

test('MIME indexer: mutated corpus messages', { timeout: testTimeoutMs() }, (t) => {
  const files = corpusFiles();
  if (files.length === 0) {
    t.skip(`corpus not found at ${CORPUS}`);
    return;
  }
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom('\r\n--', '--\r\n', '\r\n\r\n', 'Content-Type: multipart/mixed; boundary=x\r\n', '\r\n--x\r\n', '\r\n--x--\r\n', '\n', '\r', '\0', '=?', ';', '"') }),
    fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.nat({ max: 2000 }) }),
  );
  fc.assert(
    fc.property(fc.nat({ max: files.length - 1 }), fc.array(mutation, { maxLength: 8 }), limits, cutPoints, (which, mutations, lim, cuts) => {
      let bytes = files[which]!;
      for (const m of mutations) {
        const at = bytes.length === 0 ? 0 : m.at % bytes.length;
        if (m.kind === 'flip') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte]), bytes.subarray(at + 1)]);
        else if (m.kind === 'truncate') bytes = bytes.subarray(0, at);
        else if (m.kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(m.text, 'latin1'), bytes.subarray(at)]);
        else bytes = Buffer.concat([bytes.subarray(0, at + m.length), bytes.subarray(at)]);
      }
      checkMessage(bytes, splitAt(bytes, cuts), lim);
    }),
    fuzzParameters(0.55),
  );
});
