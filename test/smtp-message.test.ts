/**
 * The pieces between the receiver and the blob store, fed the same input split at every offset:
 * the BDAT bare line-ending filter, and IncomingMessage (trace fields first, Date/Message-ID
 * completion from the buffered header, the size limit while streaming).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BareLineEndingFilter } from '../src/smtp/line-endings.js';
import { IncomingMessage } from '../src/smtp/message.js';
import { presentFields, receivedField, rfc5322Date, withProtocol } from '../src/smtp/trace.js';
import type { BlobWriter, StagedBlob } from '../src/store/types.js';

/** A BlobWriter that keeps the bytes in memory. */
class MemoryWriter implements BlobWriter {
  chunks: Buffer[] = [];
  aborted = false;
  finished = false;
  get size(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  }
  write(chunk: Uint8Array): Promise<void> {
    assert.ok(!this.aborted && !this.finished, 'write after the end');
    this.chunks.push(Buffer.from(chunk));
    return Promise.resolve();
  }
  finish(): Promise<StagedBlob> {
    this.finished = true;
    return Promise.resolve({ hash: 'h', size: this.size, handle: 'memory' });
  }
  abort(): Promise<void> {
    this.aborted = true;
    return Promise.resolve();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function splits(input: string): Array<[Buffer, Buffer]> {
  const bytes = Buffer.from(input, 'latin1');
  return Array.from({ length: bytes.length + 1 }, (_, at) => [bytes.subarray(0, at), bytes.subarray(at)]);
}

test('BareLineEndingFilter: CRLF passes, bare LF and bare CR are caught wherever the chunks split', () => {
  const cases: Array<[string, string | null]> = [
    ['a\r\nb\r\n', null],
    ['a\nb\r\n', 'bareLf'],
    ['a\rb\r\n', 'bareCr'],
    ['a\r\nb\r', 'bareCr'],
    ['\r\r\n', 'bareCr'],
  ];
  for (const [input, expected] of cases) {
    for (const [first, second] of splits(input)) {
      const filter = new BareLineEndingFilter(false);
      const out = [filter.filter(first), filter.filter(second)];
      const error = filter.finish();
      assert.equal(error, expected, `${JSON.stringify(input)} split at ${first.length}`);
      if (expected === null) assert.equal(Buffer.concat(out.map((chunk) => chunk ?? Buffer.alloc(0))).toString('latin1'), input);
    }
  }
});

test('BareLineEndingFilter in normalize mode: bare LF becomes CRLF at any split, bare CR still fails', () => {
  for (const [first, second] of splits('a\nb\r\nc\n')) {
    const filter = new BareLineEndingFilter(true);
    const out = Buffer.concat([filter.filter(first) ?? Buffer.alloc(0), filter.filter(second) ?? Buffer.alloc(0)]);
    assert.equal(filter.finish(), null);
    assert.equal(out.toString('latin1'), 'a\r\nb\r\nc\r\n', `split at ${first.length}`);
  }
  const filter = new BareLineEndingFilter(true);
  assert.equal(filter.filter(Buffer.from('a\rb')), null);
  assert.equal(filter.finish(), 'bareCr');
});

const NOW = new Date('2030-05-06T07:08:09Z');
const options = (completeHeader: boolean, sizeLimit = 1_000_000) => ({
  sizeLimit,
  trace: Buffer.from('Received: from x ([192.0.2.1])\r\n'),
  completeHeader: completeHeader ? { hostname: 'mx.example', now: NOW } : null,
  maxDepth: 32,
  maxParts: 100,
});

test('IncomingMessage: the trace field first, then the message as sent (MX: nothing added)', async () => {
  const input = 'Subject: x\r\n\r\nbody\r\n';
  for (const [first, second] of splits(input)) {
    const writer = new MemoryWriter();
    const message = await IncomingMessage.open(writer, options(false));
    await message.write(first);
    await message.write(second);
    const { blob, index } = await message.finish();
    assert.equal(writer.text(), `Received: from x ([192.0.2.1])\r\n${input}`);
    assert.equal(blob.size, writer.size);
    assert.equal(index.size, writer.size);
    assert.equal(message.clientBytes, input.length);
  }
});

test('IncomingMessage (submission): missing Date and Message-ID added in front, found ones kept, at any split', async () => {
  const cases: Array<[string, boolean, boolean]> = [
    ['Subject: x\r\n\r\nbody\r\n', true, true],
    ['Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: x\r\n\r\nbody\r\n', false, true],
    ['Subject: x\r\nmessage-id: <a@b>\r\n\r\nDate: in the body\r\n', true, false],
    ['Subject: only a header\r\n', true, true],
    ['\r\nno header at all\r\n', true, true],
  ];
  for (const [input, addsDate, addsId] of cases) {
    for (const [first, second] of splits(input)) {
      const writer = new MemoryWriter();
      const message = await IncomingMessage.open(writer, options(true));
      await message.write(first);
      await message.write(second);
      await message.finish();
      const text = writer.text();
      const added = text.slice('Received: from x ([192.0.2.1])\r\n'.length, text.length - input.length);
      assert.ok(text.endsWith(input), `${JSON.stringify(input)} at ${first.length}`);
      assert.equal(added.includes('Date: Mon, 6 May 2030 07:08:09 +0000\r\n'), addsDate, `${JSON.stringify(input)} at ${first.length}: ${JSON.stringify(added)}`);
      assert.equal(/Message-ID: <[\w.]+@mx\.example>\r\n/.test(added), addsId);
    }
  }
});

test('IncomingMessage: past the size limit the blob is dropped and nothing more is written', async () => {
  const writer = new MemoryWriter();
  const message = await IncomingMessage.open(writer, options(false, 10));
  await message.write(Buffer.from('Subject: '));
  assert.equal(message.oversized, false);
  await message.write(Buffer.from('too long\r\n'));
  assert.equal(message.oversized, true);
  assert.equal(writer.aborted, true);
  await message.write(Buffer.from('more\r\n'));
  assert.equal(message.clientBytes, 19);
  await assert.rejects(message.finish());
});

test('Received field: exact form, IPv6 literal, no TLS clause without TLS, "for" only when given', () => {
  const field = receivedField({
    helo: { kind: 'domain', domain: 'client.example' },
    remoteAddress: '2001:db8::7',
    hostname: 'mx.example',
    protocol: withProtocol({ ehlo: true, utf8: false, tls: true, authenticated: true }),
    id: 'abc1',
    tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    recipient: 'bob@example.com',
    date: NOW,
  });
  assert.equal(
    field.toString(),
    'Received: from client.example ([IPv6:2001:db8::7])\r\n' +
      '\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n' +
      '\tby mx.example (Mailhaven) with ESMTPSA id abc1\r\n' +
      '\tfor <bob@example.com>; Mon, 6 May 2030 07:08:09 +0000\r\n',
  );
  const plain = receivedField({
    helo: { kind: 'invalid', text: 'bad\r\nhelo' },
    remoteAddress: '192.0.2.1',
    hostname: 'mx.example',
    protocol: withProtocol({ ehlo: false, utf8: false, tls: false, authenticated: false }),
    id: 'x2',
    tls: null,
    recipient: null,
    date: NOW,
  });
  // An EHLO argument that is not a domain never reaches the header: the IP stands in for it.
  assert.equal(plain.toString(), 'Received: from [192.0.2.1] ([192.0.2.1])\r\n\tby mx.example (Mailhaven) with SMTP id x2; Mon, 6 May 2030 07:08:09 +0000\r\n');
  assert.equal(withProtocol({ ehlo: true, utf8: true, tls: false, authenticated: true }), 'UTF8SMTPA');
  assert.equal(rfc5322Date(new Date('2031-12-31T23:59:05Z')), 'Wed, 31 Dec 2031 23:59:05 +0000');
  assert.deepEqual(presentFields(Buffer.from('X-Date: 1\r\nSubject: Message-ID: no\r\n')), { date: false, messageId: false });
});
