import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import PostalMime from 'postal-mime';
import { MessageIndexer, indexMessage } from '../src/mime/indexer.js';
import { extractText } from '../src/mime/text.js';
import { encodeBody, encodeBodyStructure } from '../src/imap/encode/bodystructure.js';
import { encodeEnvelope } from '../src/imap/encode/envelope.js';
import type { MessageIndex, MimePart } from '../src/mime/types.js';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
const CORPUS = resolve(REPO, '..', 'shared', 'corpus');

/** The corpus files (every file but CORPUS.md), or null after a loud skip when it is absent. */
function corpus(t: TestContext): Array<{ name: string; bytes: Buffer }> | null {
  if (!existsSync(CORPUS)) {
    t.skip(`corpus not found at ${CORPUS}: these checks did not run`);
    return null;
  }
  const names = readdirSync(CORPUS)
    .filter((name) => name !== 'CORPUS.md')
    .sort();
  assert.ok(names.length > 0, `${CORPUS} is empty`);
  return names.map((name) => ({ name, bytes: readFileSync(join(CORPUS, name)) }));
}

function countLf(bytes: Buffer, start: number, end: number): number {
  let n = 0;
  for (let pos = bytes.indexOf(0x0a, start); pos !== -1 && pos < end; pos = bytes.indexOf(0x0a, pos + 1)) n++;
  return n;
}

/** Structural invariants of one part and everything below it. */
function checkPart(bytes: Buffer, part: MimePart, where: string, boundaries: Buffer[]): void {
  const label = `${where} ${part.type}/${part.subtype}@${part.headerStart}`;
  assert.ok(0 <= part.headerStart && part.headerStart <= part.bodyStart && part.bodyStart <= part.bodyEnd && part.bodyEnd <= bytes.length, `${label}: ranges in bounds`);
  assert.equal(part.size, part.bodyEnd - part.bodyStart, `${label}: size`);
  assert.equal(part.lines, countLf(bytes, part.bodyStart, part.bodyEnd), `${label}: lines`);
  const header = bytes.subarray(part.headerStart, part.bodyStart).toString('latin1');
  if (part.bodyEnd > part.bodyStart) {
    // A header followed by a body ends in its blank line (RFC 5322 2.1).
    assert.ok(header === '\n' || header === '\r\n' || /\n\r?\n$/.test(header), `${label}: header ends with a blank line`);
  }
  // The part ends at the end of the message, or just before [CR]LF "--" of a boundary line.
  if (part.bodyEnd < bytes.length && boundaries.length > 0) {
    const after = bytes.subarray(part.bodyEnd, part.bodyEnd + 2 + 2 + 500).toString('latin1');
    assert.ok(/^(\r?\n)?--/.test(after), `${label}: ends before a boundary line`);
  }
  const boundary = part.params.find(([name]) => name === 'boundary')?.[1];
  let previous = part.bodyStart;
  for (const child of part.children ?? []) {
    assert.ok(child.headerStart >= previous && child.bodyEnd <= part.bodyEnd, `${label}: children nested in order`);
    assert.equal(bytes[child.headerStart - 1], 0x0a, `${label}: a child starts after its boundary line`);
    const lineStart = bytes.lastIndexOf(0x0a, child.headerStart - 2) + 1;
    assert.equal(bytes.toString('latin1', lineStart, lineStart + 2), '--', `${label}: the line before a child is a boundary line`);
    if (boundary !== undefined && /^[\x20-\x7e]*$/.test(boundary)) {
      assert.equal(bytes.toString('latin1', lineStart + 2, lineStart + 2 + boundary.length), boundary, `${label}: delimiter of this multipart`);
    }
    previous = child.bodyEnd;
    checkPart(bytes, child, where, boundary === undefined ? boundaries : [...boundaries, Buffer.from(boundary)]);
  }
  if (part.message) {
    assert.equal(part.message.part.headerStart, part.bodyStart, `${label}: embedded message starts with the body`);
    assert.equal(part.message.part.bodyEnd, part.bodyEnd, `${label}: embedded message ends with the body`);
    checkPart(bytes, part.message.part, where, boundaries);
  }
}

/** Deterministic pseudo-random numbers (xorshift), so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function indexInChunks(bytes: Buffer, next: () => number): MessageIndex {
  const indexer = new MessageIndexer();
  let pos = 0;
  while (pos < bytes.length) {
    const size = 1 + Math.floor(next() * (next() < 0.3 ? 8 : 4096));
    indexer.write(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return indexer.finish();
}

test('corpus: every message indexes without throwing and satisfies the structural invariants', (t) => {
  const files = corpus(t);
  if (!files) return;
  for (const { name, bytes } of files) {
    const index = indexMessage(bytes);
    assert.equal(index.size, bytes.length, name);
    assert.equal(index.part.headerStart, 0, name);
    assert.equal(index.part.bodyEnd, bytes.length, name);
    checkPart(bytes, index.part, name, []);
    assert.deepEqual(JSON.parse(JSON.stringify(index)), index, `${name}: plain JSON`);
  }
});

test('corpus: random chunkings give the same index as one write', (t) => {
  const files = corpus(t);
  if (!files) return;
  const next = random(20250101);
  for (const { name, bytes } of files) {
    assert.deepEqual(indexInChunks(bytes, next), indexMessage(bytes), name);
  }
});

test('corpus: ENVELOPE, BODY and BODYSTRUCTURE encode to balanced 7-bit IMAP text; text extraction never throws', (t) => {
  const files = corpus(t);
  if (!files) return;
  for (const { name, bytes } of files) {
    const index = indexMessage(bytes);
    for (const wire of [encodeEnvelope(index.envelope), encodeBody(index.part), encodeBodyStructure(index.part)]) {
      // 8-bit only where nothing else can carry it (a raw UTF-8 local part), and then in a literal.
      const outside = withoutLiterals(wire);
      assert.ok(![...outside].some((ch) => ch.charCodeAt(0) === 0 || ch.charCodeAt(0) > 0x7f), `${name}: 7-bit outside literals`);
      assert.equal(depthAfter(wire), 0, `${name}: balanced parentheses`);
    }
    assert.equal(typeof extractText(bytes, index), 'string');
  }
});

/** IMAP text with the contents of its literals removed (sizes count UTF-8 octets). */
function withoutLiterals(wire: string): string {
  const bytes = Buffer.from(wire, 'utf8');
  let out = '';
  let pos = 0;
  for (;;) {
    const match = /\{(\d+)\}\r\n/.exec(bytes.toString('latin1', pos));
    if (!match) return out + bytes.toString('utf8', pos);
    const start = pos + match.index;
    out += bytes.toString('utf8', pos, start);
    pos = start + match[0].length + Number(match[1]);
  }
}

/** Parenthesis depth at the end of IMAP text, skipping quoted strings and literals (sizes in octets). */
function depthAfter(wire: string): number {
  const bytes = Buffer.from(wire, 'utf8');
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const ch = bytes[i];
    if (ch === 0x22) {
      for (i++; i < bytes.length && bytes[i] !== 0x22; i++) if (bytes[i] === 0x5c) i++;
    } else if (ch === 0x7b) {
      const close = bytes.indexOf(0x7d, i);
      i = close + 2 + Number(bytes.toString('latin1', i + 1, close));
    } else if (ch === 0x28) depth++;
    else if (ch === 0x29) {
      depth--;
      assert.ok(depth >= 0, 'no unmatched ")"');
    }
  }
  return depth;
}

/**
 * Messages where we disagree with postal-mime on purpose, recognised from the bytes:
 * - an invalid Content-Type is text/plain for us (RFC 2045 5.2), postal-mime keeps the text
 *   (our index carries a warning);
 * - raw 8-bit header bytes that are not UTF-8 are latin1 for us, U+FFFD for postal-mime;
 * - encoded words with an RFC 2231 language tag ("=?utf-8*en?Q?...?="), which postal-mime
 *   does not decode the same way;
 * - "Content-Type: type/subtype name=x" (no ";"): we recover the parameter, postal-mime takes
 *   the whole text as the media type.
 */
function oracleDisagreement(bytes: Buffer, index: MessageIndex): string | null {
  if (index.warnings?.some((w) => w.startsWith('invalid Content-Type'))) return 'invalid Content-Type';
  const header = bytes.subarray(0, index.part.bodyStart);
  if (header.some((b) => b >= 0x80)) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(header);
    } catch {
      return '8-bit header bytes that are not UTF-8';
    }
  }
  if (/=\?[^?\s]*\*[^?\s]*\?[bq]\?/i.test(header.toString('latin1'))) return 'encoded word with a language tag';
  if (/^content-type:[ \t]*[\w.+-]+\/[\w.+-]+[ \t]+[\w-]+=/im.test(bytes.toString('latin1'))) return 'parameter without ";"';
  return null;
}

function leaves(part: MimePart, out: MimePart[] = []): MimePart[] {
  if (part.children) for (const child of part.children) leaves(child, out);
  else {
    out.push(part);
    if (part.message) leaves(part.message.part, out);
  }
  return out;
}

function filename(part: MimePart): string | null {
  return part.disposition?.params.find(([name]) => name === 'filename')?.[1] ?? part.params.find(([name]) => name === 'name')?.[1] ?? null;
}

test('corpus: structure, filenames and decoded subject agree with postal-mime (oracle)', async (t) => {
  const files = corpus(t);
  if (!files) return;
  let compared = 0;
  for (const { name, bytes } of files) {
    if (!name.endsWith('.eml')) continue;
    const index = indexMessage(bytes);
    if (oracleDisagreement(bytes, index) !== null) continue;
    compared++;
    const parsed = await PostalMime.parse(bytes, { rfc822Attachments: true, attachmentEncoding: 'arraybuffer' });
    const ours = leaves(index.part);
    const headerBlock = bytes.toString('latin1').split(/\r?\n\r?\n/)[0] ?? '';
    if ((headerBlock.match(/^subject:/gim) ?? []).length === 1) {
      const normalize = (s: string | undefined): string => (s ?? '').replace(/\s+/g, ' ').trim();
      assert.equal(normalize(index.search.subject), normalize(parsed.subject), `${name}: subject`);
    }
    assert.ok(parsed.attachments.length <= ours.length, `${name}: postal-mime sees ${parsed.attachments.length} attachments, we have ${ours.length} leaf parts`);
    for (const attachment of parsed.attachments) {
      assert.ok(
        ours.some((p) => `${p.type}/${p.subtype}` === attachment.mimeType.toLowerCase()),
        `${name}: attachment type ${attachment.mimeType}`,
      );
      if (attachment.filename) assert.ok(ours.some((p) => filename(p) === attachment.filename), `${name}: filename ${attachment.filename}`);
    }
  }
  t.diagnostic(`compared ${compared} of ${files.length} messages with postal-mime`);
  assert.ok(compared > files.length / 2, `compared ${compared} of ${files.length}`);
});
