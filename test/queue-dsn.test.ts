/**
 * RFC 3464 DSNs (src/queue/dsn.ts): the message built, parsed back with postal-mime (an
 * independent MIME parser), and the NOTIFY rules of RFC 3461.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import PostalMime from 'postal-mime';
import type { DsnInput, DsnRecipientReport } from '../src/queue/dsn.js';
import { buildDsn, headerBlock, wantsDsn } from '../src/queue/dsn.js';

const ORIGINAL = Buffer.from('From: Ann <ann@example.test>\r\nTo: bob@remote.test\r\nSubject: Quarterly figures\r\n\r\nThe figures are attached.\r\n');
const ARRIVED = new Date('2026-11-20T10:00:00Z');
const NOW = new Date('2026-11-21T11:30:00Z');

function failed(address: string, overrides: Partial<DsnRecipientReport> = {}): DsnRecipientReport {
  return {
    recipient: { address, orcpt: null },
    action: 'failed',
    status: '5.1.1',
    remoteMta: 'mx1.remote.test',
    diagnostic: { code: 550, text: '550 5.1.1 user unknown' },
    lastAttemptAt: NOW,
    willRetryUntil: null,
    ...overrides,
  };
}

function input(recipients: DsnRecipientReport[], overrides: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: 'mx.example.test',
    entry: { id: 42, sender: 'ann@example.test', envid: 'Q-7', createdAt: ARRIVED },
    recipients,
    original: headerBlock(ORIGINAL),
    headersOnly: true,
    now: NOW,
    ...overrides,
  };
}

interface Parsed {
  headers: Map<string, string>;
  text: string;
  parts: Array<{ mimeType: string; content: string }>;
}

async function parse(bytes: Buffer): Promise<Parsed> {
  const email = await PostalMime.parse(bytes, { attachmentEncoding: 'utf8' });
  return {
    headers: new Map(email.headers.map((h) => [h.key, h.value])),
    text: email.text ?? '',
    parts: email.attachments.map((a) => ({ mimeType: a.mimeType, content: typeof a.content === 'string' ? a.content : Buffer.from(new Uint8Array(a.content)).toString('utf8') })),
  };
}

/** message/delivery-status as blocks of fields (RFC 3464 2.1: per-message, then per-recipient). */
function blocks(status: string): Array<Map<string, string>> {
  return status
    .split(/\r?\n\r?\n/)
    .filter((block) => block.trim() !== '')
    .map((block) => new Map(block.split(/\r?\n/).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()])));
}

test('a failure DSN is multipart/report with a human part, message/delivery-status and the original headers', async () => {
  const bytes = buildDsn(input([failed('bob@remote.test', { recipient: { address: 'bob@remote.test', orcpt: { addrType: 'rfc822', address: 'Bob@Remote.test' } } })]));
  assert.ok(!bytes.toString('latin1').replace(/\r\n/g, '').includes('\n'), 'CRLF line ends only');
  const dsn = await parse(bytes);
  assert.match(dsn.headers.get('content-type') ?? '', /^multipart\/report; report-type=delivery-status;\s+boundary="[^"]+"$/);
  assert.equal(dsn.headers.get('to'), '<ann@example.test>');
  assert.equal(dsn.headers.get('from'), 'Mail Delivery System <MAILER-DAEMON@mx.example.test>');
  assert.equal(dsn.headers.get('subject'), 'Undelivered Mail Returned to Sender');
  assert.equal(dsn.headers.get('auto-submitted'), 'auto-replied');
  assert.equal(dsn.headers.get('date'), 'Sat, 21 Nov 2026 11:30:00 +0000');
  assert.match(dsn.headers.get('message-id') ?? '', /^<dsn\.[a-z0-9.]+@mx\.example\.test>$/);
  assert.match(dsn.text, /could not be delivered/);
  assert.match(dsn.text, /<bob@remote\.test>: delivery failed\r?\n\s+mx1\.remote\.test said: 550 5\.1\.1 user unknown/);
  assert.deepEqual(
    dsn.parts.map((p) => p.mimeType),
    ['message/delivery-status', 'text/rfc822-headers'],
  );
  const [perMessage, recipient, ...rest] = blocks(dsn.parts[0]?.content ?? '');
  assert.equal(rest.length, 0);
  assert.equal(perMessage?.get('reporting-mta'), 'dns; mx.example.test');
  assert.equal(perMessage?.get('original-envelope-id'), 'Q-7');
  assert.equal(perMessage?.get('arrival-date'), 'Fri, 20 Nov 2026 10:00:00 +0000');
  assert.deepEqual(Object.fromEntries(recipient ?? []), {
    'original-recipient': 'rfc822; Bob@Remote.test',
    'final-recipient': 'rfc822; bob@remote.test',
    action: 'failed',
    status: '5.1.1',
    'remote-mta': 'dns; mx1.remote.test',
    'diagnostic-code': 'smtp; 550 5.1.1 user unknown',
    'last-attempt-date': 'Sat, 21 Nov 2026 11:30:00 +0000',
  });
  assert.equal(dsn.parts[1]?.content.replace(/\r?\n/g, '\r\n').trimEnd(), 'From: Ann <ann@example.test>\r\nTo: bob@remote.test\r\nSubject: Quarterly figures');
});

test('RET=FULL returns the whole message as message/rfc822', async () => {
  const dsn = await parse(buildDsn(input([failed('bob@remote.test')], { original: ORIGINAL, headersOnly: false })));
  const returned = dsn.parts.find((p) => p.mimeType === 'message/rfc822');
  assert.ok(returned, `parts: ${dsn.parts.map((p) => p.mimeType).join(', ')}`);
  assert.match(returned.content, /Subject: Quarterly figures\r?\n\r?\nThe figures are attached\.\r?\n/);
});

test('a delay DSN carries Will-Retry-Until; no reply gives a non-smtp diagnostic type and no Remote-MTA', async () => {
  const until = new Date('2026-11-25T10:00:00Z');
  const report = failed('bob@remote.test', {
    action: 'delayed',
    status: '4.4.1',
    remoteMta: null,
    diagnostic: { code: 0, text: 'connection refused\r\nInjected: header' },
    willRetryUntil: until,
  });
  const dsn = await parse(buildDsn(input([report])));
  assert.equal(dsn.headers.get('subject'), 'Delayed Mail (still being retried)');
  assert.equal(dsn.headers.get('injected'), undefined, 'CR/LF in a diagnostic never makes a header field');
  const [, recipient] = blocks(dsn.parts[0]?.content ?? '');
  assert.equal(recipient?.get('action'), 'delayed');
  assert.equal(recipient?.get('will-retry-until'), 'Wed, 25 Nov 2026 10:00:00 +0000');
  assert.equal(recipient?.get('diagnostic-code'), 'X-Mailhaven; connection refused Injected: header');
  assert.equal(recipient?.has('remote-mta'), false);
  assert.equal(recipient?.has('original-recipient'), false, 'Original-Recipient only from ORCPT');
});

test('several recipients: one block each, in order; no ENVID, no Original-Envelope-Id', async () => {
  const dsn = await parse(buildDsn(input([failed('a@remote.test'), failed('b@remote.test', { status: '5.2.2' })], { entry: { id: 1, sender: 'ann@example.test', envid: null, createdAt: ARRIVED } })));
  const [perMessage, ...recipients] = blocks(dsn.parts[0]?.content ?? '');
  assert.equal(perMessage?.has('original-envelope-id'), false);
  assert.deepEqual(
    recipients.map((r) => [r.get('final-recipient'), r.get('status')]),
    [
      ['rfc822; a@remote.test', '5.1.1'],
      ['rfc822; b@remote.test', '5.2.2'],
    ],
  );
});

test('an internationalized address uses message/global-delivery-status and the utf-8 address type (RFC 6533)', () => {
  const bytes = buildDsn(input([failed('José@remote.test')]));
  assert.match(bytes.toString('utf8'), /Content-Type: message\/global-delivery-status\r\n/);
  assert.match(bytes.toString('utf8'), /Final-Recipient: utf-8; José@remote\.test\r\n/);
});

test('NOTIFY rules (RFC 3461 4.1, 6.1)', () => {
  assert.equal(wantsDsn('ann@example.test', null, 'failed'), true, 'default: FAILURE');
  assert.equal(wantsDsn('ann@example.test', null, 'delayed'), true, 'default: DELAY too');
  assert.equal(wantsDsn('ann@example.test', null, 'relayed'), false, 'no success report unless asked');
  assert.equal(wantsDsn('ann@example.test', 'NEVER', 'failed'), false);
  assert.equal(wantsDsn('ann@example.test', ['SUCCESS'], 'relayed'), true);
  assert.equal(wantsDsn('ann@example.test', ['SUCCESS'], 'delivered'), true);
  assert.equal(wantsDsn('ann@example.test', ['SUCCESS'], 'failed'), false);
  assert.equal(wantsDsn('ann@example.test', ['FAILURE'], 'delayed'), false);
  assert.equal(wantsDsn('ann@example.test', ['FAILURE', 'DELAY'], 'delayed'), true);
  for (const action of ['failed', 'delayed', 'delivered', 'relayed'] as const) {
    assert.equal(wantsDsn('', ['SUCCESS', 'FAILURE', 'DELAY'], action), false, `null sender, ${action}`);
  }
});

test('headerBlock: up to the empty line, bounded, cut at a line end', () => {
  assert.equal(headerBlock(ORIGINAL).toString(), 'From: Ann <ann@example.test>\r\nTo: bob@remote.test\r\nSubject: Quarterly figures\r\n\r\n');
  assert.equal(headerBlock(Buffer.from('A: 1\nB: 2\n\nbody\n')).toString(), 'A: 1\nB: 2\n\n');
  const long = Buffer.from(`${'X-Long: aaaaaaaaaa\r\n'.repeat(100)}\r\nbody`);
  const cut = headerBlock(long, 100);
  assert.ok(cut.length <= 100);
  assert.ok(cut.toString().endsWith('\r\n'));
  assert.equal(headerBlock(Buffer.from('no line end at all'), 5).length, 0);
});
