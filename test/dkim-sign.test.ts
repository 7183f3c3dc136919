/**
 * DKIM signing (src/queue/dkim.ts): keys generated the way `mailhaven dkim generate` does,
 * messages signed as a stream, and the signature checked by mailauth's dkimVerify against a test
 * DNS zone (test/helpers/dns-server.ts) serving the TXT record the CLI prints, for RSA and Ed25519.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { dkimVerify } from 'mailauth';
import { LocalChangeBus } from '../src/events/local.js';
import { DkimSigner } from '../src/queue/dkim.js';
import { DkimAdminOperations, txtStrings } from '../src/queue/dkim-keys.js';
import type { DkimAlgorithm, DkimKeyInfo } from '../src/queue/dkim-keys.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { SqliteMailStore } from '../src/store/sqlite/index.js';
import { rr, startDnsServer } from './helpers/dns-server.js';
import type { Zone } from './helpers/dns-server.js';

const SECRET = randomBytes(32);

async function setup(t: TestContext): Promise<{ store: SqliteMailStore; admin: DkimAdminOperations; signer: DkimSigner }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-dkim-'));
  const store = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await store.addDomain('example.org');
  await store.addDomain('lists.example.org');
  const admin = new DkimAdminOperations({ store, secretKey: () => Promise.resolve(SECRET) });
  return { store, admin, signer: new DkimSigner({ store, secretKey: SECRET }) };
}

function message(from: string, body = 'Hello there,\r\n\r\nthis is the body.  \r\n\r\n\r\n'): Buffer {
  return Buffer.from(
    [`From: Alice <${from}>`, 'To: bob@remote.test', 'Subject: signed', 'Date: Thu, 26 Nov 2026 08:00:00 +0000', 'Message-ID: <m1@example.org>', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', body].join('\r\n'),
  );
}

/** A stream in small chunks, so the signer really streams. */
function chunked(bytes: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 7) parts.push(bytes.subarray(at, at + 7));
  return Readable.from(parts);
}

async function zoneResolver(t: TestContext, keys: DkimKeyInfo[]): Promise<(name: string, type: string) => Promise<string[][] | string[]>> {
  const zone: Zone = {};
  for (const key of keys) zone[key.record.name] = [rr('TXT', key.record.name, txtStrings(key.record.value))];
  const server = await startDnsServer(t, zone);
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([server]);
  return (name, type) => resolver.resolve(name, type) as Promise<string[][] | string[]>;
}

for (const algorithm of ['rsa', 'ed25519'] as DkimAlgorithm[]) {
  test(`${algorithm}: a signed message verifies against the published TXT record; a changed body does not`, async (t) => {
    const { admin, signer } = await setup(t);
    const key = await admin.generate('example.org', { selector: `sel-${algorithm}`, algorithm });
    assert.equal(key.active, true, 'the first key of a domain is active');
    assert.match(key.record.value, new RegExp(`^v=DKIM1; k=${algorithm}; p=[A-Za-z0-9+/]+=*$`));
    const bytes = message('alice@example.org');
    const signature = await signer.sign({ sender: 'alice@example.org', open: () => chunked(bytes) });
    assert.ok(signature !== null);
    assert.equal(signature.domain, 'example.org');
    assert.equal(signature.selector, `sel-${algorithm}`);
    assert.match(signature.header, /^DKIM-Signature: /);
    assert.ok(signature.header.endsWith('\r\n'));
    const tags = signature.header.replace(/\r\n[ \t]+/g, ' ');
    assert.match(tags, new RegExp(`a=${algorithm}-sha256;`));
    assert.match(tags, /c=relaxed\/relaxed;/);
    assert.match(tags, /d=example\.org;/);
    for (const field of ['From', 'To', 'Subject', 'Date', 'Message-ID', 'MIME-Version', 'Content-Type']) assert.match(tags, new RegExp(`h=[^;]*\\b${field}\\b`), field);

    const resolver = await zoneResolver(t, [key]);
    const signed = Buffer.concat([Buffer.from(signature.header), bytes]);
    const verified = await dkimVerify(signed, { resolver });
    assert.equal(verified.results.length, 1);
    assert.equal(verified.results[0]?.status.result, 'pass', JSON.stringify(verified.results[0]?.status));
    assert.equal(verified.results[0]?.signingDomain, 'example.org');

    const tampered = Buffer.concat([Buffer.from(signature.header), message('alice@example.org', 'Hello there,\r\n\r\nthis is another body.\r\n')]);
    const rejected = await dkimVerify(tampered, { resolver });
    assert.notEqual(rejected.results[0]?.status.result, 'pass');
  });
}

test('the From domain is preferred over the envelope sender; no key for either gives null', async (t) => {
  const { admin, signer } = await setup(t);
  await admin.generate('lists.example.org', { selector: 'l1', algorithm: 'ed25519' });
  const fromLists = message('news@lists.example.org');
  const viaFrom = await signer.sign({ sender: 'bounce@example.org', open: () => Readable.from([fromLists]) });
  assert.equal(viaFrom?.domain, 'lists.example.org');

  // From names a foreign domain: the envelope sender's domain signs, if it has a key.
  const foreign = message('someone@elsewhere.test');
  assert.equal((await signer.sign({ sender: 'x@lists.example.org', open: () => Readable.from([foreign]) }))?.domain, 'lists.example.org');
  // Neither has a key: unsigned.
  assert.equal(await signer.sign({ sender: 'x@example.org', open: () => Readable.from([foreign]) }), null);
  assert.equal(await signer.sign({ sender: '', open: () => Readable.from([foreign]) }), null);
});

test('rotation: a new key signs only once activated, and verifies with its own record', async (t) => {
  const { admin, signer } = await setup(t);
  const old = await admin.generate('example.org', { selector: 'old', algorithm: 'ed25519' });
  const next = await admin.generate('example.org', { selector: 'new', algorithm: 'rsa' });
  assert.equal(next.active, false, 'a second key waits for activation (publish its record first)');
  const bytes = message('alice@example.org');
  assert.equal((await signer.sign({ sender: 'alice@example.org', open: () => Readable.from([bytes]) }))?.selector, 'old');
  await admin.activate('example.org', 'new');
  const signature = await signer.sign({ sender: 'alice@example.org', open: () => Readable.from([bytes]) });
  assert.equal(signature?.selector, 'new');
  const resolver = await zoneResolver(t, [old, next]);
  const verified = await dkimVerify(Buffer.concat([Buffer.from(signature?.header ?? ''), bytes]), { resolver });
  assert.equal(verified.results[0]?.status.result, 'pass');
  await admin.delete('example.org', 'old');
  assert.deepEqual(
    (await admin.list('example.org')).map((k) => [k.selector, k.active]),
    [['new', true]],
  );
});

test('a key sealed for another selector or with another secret key is not used', async (t) => {
  const { store, admin } = await setup(t);
  await admin.generate('example.org', { selector: 's1', algorithm: 'ed25519' });
  const wrongSecret = new DkimSigner({ store, secretKey: randomBytes(32) });
  assert.equal(await wrongSecret.sign({ sender: 'a@example.org', open: () => Readable.from([message('a@example.org')]) }), null);
  // The sealed key copied onto another selector's row does not open (domain and selector are bound in).
  const [row] = await store.listDkimKeys('example.org');
  assert.ok(row !== undefined);
  await store.addDkimKey({ ...row, selector: 's2', active: true });
  const signer = new DkimSigner({ store, secretKey: SECRET });
  assert.equal(await signer.sign({ sender: 'a@example.org', open: () => Readable.from([message('a@example.org')]) }), null);
});
