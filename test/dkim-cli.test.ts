/**
 * `mailhaven dkim generate|list|dns|activate|delete` through the real CLI: the TXT record format
 * (RFC 6376 3.6.1, RFC 8463 for Ed25519), listing, rotation, errors and exit statuses, and that
 * the private key is stored sealed with secret.key and matches the published public key.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadOrCreateSecretKey } from '../src/auth/secret.js';
import { LocalChangeBus } from '../src/events/local.js';
import { openDkimPrivateKey, publicKeyOfPrivate } from '../src/queue/dkim-keys.js';
import type { DkimKeyInfo } from '../src/queue/dkim-keys.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { createTempInstance } from './helpers/cli.js';

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function recordValue(stdout: string, name: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith(`${name}  TXT  `));
  assert.ok(line !== undefined, `no record line for ${name} in:\n${stdout}`);
  return line.slice(`${name}  TXT  `.length);
}

test('generate: RSA 2048 by default, the TXT record to publish, a zone-file line in 255-octet strings', async (t) => {
  const instance = createTempInstance(t);
  assert.equal((await instance.run(['domain', 'add', 'example.org'])).code, 0);
  const created = await instance.run(['dkim', 'generate', 'Example.ORG']);
  assert.equal(created.stderr, '');
  assert.equal(created.code, 0);
  const selector = /Created rsa key (mh\d{8}) for example\.org \(active/.exec(created.stdout)?.[1];
  assert.ok(selector !== undefined, created.stdout);
  const value = recordValue(created.stdout, `${selector}._domainkey.example.org`);
  const match = /^v=DKIM1; k=rsa; p=([A-Za-z0-9+/]+=*)$/.exec(value);
  assert.ok(match !== null, value);
  // p= is a DER SubjectPublicKeyInfo of a 2048-bit RSA key.
  const publicKey = createPublicKey({ key: Buffer.from(match[1]!, 'base64'), format: 'der', type: 'spki' });
  assert.equal(publicKey.asymmetricKeyType, 'rsa');
  assert.equal(publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  // The zone-file form: the same value, cut into quoted strings of at most 255 octets.
  const zoneLine = created.stdout.split('\n').find((l) => l.startsWith(`${selector}._domainkey.example.org. IN TXT (`));
  assert.ok(zoneLine !== undefined, created.stdout);
  const strings = [...zoneLine.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  assert.ok(strings.length >= 2, 'an RSA-2048 record needs more than one string');
  assert.ok(strings.every((s) => s.length <= 255));
  assert.equal(strings.join(''), value);

  // Stored sealed with secret.key, bound to domain and selector; it matches the published key.
  const store = await openSqliteStore({ dataDir: instance.dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(() => store.close());
  const [row] = await store.listDkimKeys('example.org');
  assert.ok(row !== undefined);
  assert.match(row.privateKeyEnc, /^v1:/);
  assert.ok(!row.privateKeyEnc.includes('PRIVATE KEY'));
  const pem = openDkimPrivateKey(row, await loadOrCreateSecretKey(join(instance.dataDir, 'secret.key')));
  assert.equal(publicKeyOfPrivate('rsa', pem), match[1]);
});

test('generate ed25519: p= is the bare 32-octet key (RFC 8463); list shows both keys, text and JSON', async (t) => {
  const instance = createTempInstance(t);
  await instance.run(['domain', 'add', 'example.org']);
  await instance.run(['domain', 'add', 'other.test']);
  assert.equal((await instance.run(['dkim', 'generate', 'example.org', '--selector', 'ed1', '--algorithm', 'ed25519'])).code, 0);
  const rsa = await instance.run(['dkim', 'generate', 'other.test', '--selector', 'r1', '--json']);
  assert.equal(rsa.code, 0);
  const rsaKey = JSON.parse(rsa.stdout) as DkimKeyInfo;
  assert.deepEqual([rsaKey.domain, rsaKey.selector, rsaKey.algorithm, rsaKey.active, rsaKey.record.name], ['other.test', 'r1', 'rsa', true, 'r1._domainkey.other.test']);

  const dns = await instance.run(['dkim', 'dns', 'example.org', '--json']);
  assert.equal(dns.code, 0);
  const [record] = JSON.parse(dns.stdout) as Array<{ name: string; type: string; value: string }>;
  assert.equal(record?.name, 'ed1._domainkey.example.org');
  assert.equal(record?.type, 'TXT');
  const p = /^v=DKIM1; k=ed25519; p=([A-Za-z0-9+/]+=*)$/.exec(record?.value ?? '')?.[1];
  assert.ok(p !== undefined, record?.value);
  assert.equal(Buffer.from(p, 'base64').length, 32);

  const json = await instance.run(['dkim', 'list', '--json']);
  const keys = JSON.parse(json.stdout) as DkimKeyInfo[];
  assert.deepEqual(
    keys.map((k) => [k.domain, k.selector, k.algorithm, k.active]),
    [
      ['example.org', 'ed1', 'ed25519', true],
      ['other.test', 'r1', 'rsa', true],
    ],
  );
  assert.ok(keys.every((k) => ISO_DATE.test(k.createdAt)));
  assert.ok(!json.stdout.includes('privateKey'), 'the private key is never listed');
  const table = await instance.run(['dkim', 'list', 'other.test']);
  assert.equal(table.stdout, `DOMAIN      SELECTOR  ALGORITHM  ACTIVE  CREATED\nother.test  r1        rsa        active  ${keys[1]?.createdAt}\n`);
});

test('rotation: a second key waits for activate; the active key cannot be deleted without --force', async (t) => {
  const instance = createTempInstance(t);
  await instance.run(['domain', 'add', 'example.org']);
  await instance.run(['dkim', 'generate', 'example.org', '--selector', 'old', '--algorithm', 'ed25519']);
  const next = await instance.run(['dkim', 'generate', 'example.org', '--selector', 'new', '--algorithm', 'ed25519']);
  assert.equal(next.code, 0);
  assert.match(next.stdout, /not active yet: publish the record, wait for DNS, then run "mailhaven dkim activate example\.org new"/);
  const active = async (): Promise<string[]> =>
    (JSON.parse((await instance.run(['dkim', 'list', 'example.org', '--json'])).stdout) as DkimKeyInfo[]).filter((k) => k.active).map((k) => k.selector);
  assert.deepEqual(await active(), ['old']);

  // During the rotation both records are published.
  const dns = await instance.run(['dkim', 'dns', 'example.org']);
  assert.match(dns.stdout, /^; old \(ed25519, active\)\n/);
  assert.match(dns.stdout, /\n; new \(ed25519\)\nnew\._domainkey\.example\.org {2}TXT {2}v=DKIM1; k=ed25519; p=/);

  assert.equal((await instance.run(['dkim', 'activate', 'example.org', 'new'])).code, 0);
  assert.deepEqual(await active(), ['new']);
  const refused = await instance.run(['dkim', 'delete', 'example.org', 'new']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^mailhaven: new is the active key of example\.org: activate another selector first/);
  assert.equal((await instance.run(['dkim', 'delete', 'example.org', 'old'])).code, 0);
  assert.deepEqual(
    (JSON.parse((await instance.run(['dkim', 'list', '--json'])).stdout) as DkimKeyInfo[]).map((k) => k.selector),
    ['new'],
  );
  assert.equal((await instance.run(['dkim', 'delete', 'example.org', 'new', '--force'])).code, 0);
  assert.equal((await instance.run(['dkim', 'list', '--json'])).stdout, '[]\n');
});

test('errors: unknown domain, bad algorithm, bad selector, duplicate selector, unknown key', async (t) => {
  const instance = createTempInstance(t);
  await instance.run(['domain', 'add', 'example.org']);
  const unknown = await instance.run(['dkim', 'generate', 'nowhere.test']);
  assert.deepEqual([unknown.code, unknown.stderr], [1, 'mailhaven: nowhere.test is not a local domain\n']);
  const algorithm = await instance.run(['dkim', 'generate', 'example.org', '--algorithm', 'dsa']);
  assert.deepEqual([algorithm.code, algorithm.stderr], [2, 'mailhaven: --algorithm must be one of rsa, ed25519\n']);
  const selector = await instance.run(['dkim', 'generate', 'example.org', '--selector', 'bad_selector!']);
  assert.equal(selector.code, 2);
  assert.match(selector.stderr, /^mailhaven: invalid selector "bad_selector!"/);
  assert.equal((await instance.run(['dkim', 'generate', 'example.org', '--selector', 's1', '--algorithm', 'ed25519'])).code, 0);
  const duplicate = await instance.run(['dkim', 'generate', 'example.org', '--selector', 'S1', '--algorithm', 'ed25519']);
  assert.deepEqual([duplicate.code, duplicate.stderr], [1, 'mailhaven: example.org already has a key with selector s1\n']);
  const missing = await instance.run(['dkim', 'activate', 'example.org', 'nope']);
  assert.deepEqual([missing.code, missing.stderr], [1, 'mailhaven: example.org has no key with selector nope\n']);
  const noKeys = await instance.run(['domain', 'add', 'bare.test']).then(() => instance.run(['dkim', 'dns', 'bare.test']));
  assert.deepEqual([noKeys.code, noKeys.stderr], [1, 'mailhaven: bare.test has no DKIM key (mailhaven dkim generate bare.test)\n']);
  const usage = await instance.run(['dkim', 'activate', 'example.org']);
  assert.equal(usage.code, 2);
});
