/**
 * Admin building blocks in-process: address and domain syntax, quota sizes, the password
 * policy and hashing, and AdminOperations against a real SQLite store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { normalizeDomain, parseAddress, parseAliasSource } from '../src/admin/address.js';
import { AdminError } from '../src/admin/errors.js';
import { AdminOperations } from '../src/admin/operations.js';
import { checkPassword, generatePassword } from '../src/admin/password-policy.js';
import { formatQuotaSize, parseQuotaSize } from '../src/admin/size.js';
import { MAX_CONCURRENT_HASHES, hashPassword, needsRehash, verifyPassword } from '../src/auth/password.js';
import { LocalChangeBus } from '../src/events/local.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';

function adminError(run: () => unknown): AdminError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof AdminError, `expected AdminError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an AdminError');
}

test('parseAddress: RFC 5321 dot-atom local part, LDH domain, lower case, IDN to A-labels', () => {
  assert.deepEqual(parseAddress('Alice.B+tag@Example.ORG'), { address: 'alice.b+tag@example.org', localPart: 'alice.b+tag', domain: 'example.org' });
  assert.deepEqual(parseAddress("o'hara!#$%&*/=?^_`{|}~-@bücher.example"), {
    address: "o'hara!#$%&*/=?^_`{|}~-@xn--bcher-kva.example",
    localPart: "o'hara!#$%&*/=?^_`{|}~-",
    domain: 'xn--bcher-kva.example',
  });
  assert.equal(parseAddress(`${'a'.repeat(64)}@example.org`).localPart.length, 64);
  const cases: Array<[string, string]> = [
    ['', 'expected local-part@domain'],
    ['@example.org', 'expected local-part@domain'],
    ['alice@', 'expected local-part@domain'],
    ['.alice@example.org', 'local part must be a dot-atom (RFC 5321 4.1.2)'],
    ['alice.@example.org', 'local part must be a dot-atom (RFC 5321 4.1.2)'],
    ['"quoted"@example.org', 'local part must be a dot-atom (RFC 5321 4.1.2)'],
    ['al ice@example.org', 'local part must be a dot-atom (RFC 5321 4.1.2)'],
    ['jörg@example.org', 'local part must be a dot-atom (RFC 5321 4.1.2)'],
    [`${'a'.repeat(65)}@example.org`, 'local part longer than 64 octets'],
    ['alice@[192.0.2.1]', 'domain: not a domain name'],
    ['alice@192.0.2.1', 'domain: top-level label is numeric'],
    ['alice@-bad.example', 'domain: label "-bad" is not letters, digits and inner hyphens'],
    ['alice@a..example', 'domain: empty label'],
    ['alice@example.org.', 'domain: empty label'],
    [`alice@${'a'.repeat(64)}.example`, 'domain: label longer than 63 octets'],
    [`${'a'.repeat(64)}@${Array.from({ length: 4 }, () => 'b'.repeat(60)).join('.')}.ex`, 'longer than 254 octets'],
  ];
  for (const [input, reason] of cases) {
    const err = adminError(() => parseAddress(input));
    assert.equal(err.code, 'invalidAddress', input);
    assert.equal(err.message, `invalid address "${input}": ${reason}`);
  }
});

test('normalizeDomain and alias sources, including catch-all "@domain"', () => {
  assert.equal(normalizeDomain('MAIL.Example.org'), 'mail.example.org');
  assert.equal(normalizeDomain('münchen.example'), 'xn--mnchen-3ya.example');
  assert.equal(adminError(() => normalizeDomain('exa mple.org')).message, 'invalid domain "exa mple.org": not a domain name');
  assert.deepEqual(parseAliasSource('@Example.org'), { catchAll: true, address: '@example.org', domain: 'example.org' });
  assert.deepEqual(parseAliasSource('Info@Example.org'), { catchAll: false, address: 'info@example.org', domain: 'example.org' });
  assert.equal(adminError(() => parseAliasSource('@')).message, 'invalid address "@": domain: not a domain name');
});

test('quota sizes: binary units, unlimited and 0 mean no limit, garbage is a usage error', () => {
  assert.equal(parseQuotaSize('500M'), 500 * 1024 ** 2);
  assert.equal(parseQuotaSize('2G'), 2 * 1024 ** 3);
  assert.equal(parseQuotaSize('1.5GiB'), 1.5 * 1024 ** 3);
  assert.equal(parseQuotaSize('100MB'), 100 * 1024 ** 2);
  assert.equal(parseQuotaSize('1048576'), 1048576);
  assert.equal(parseQuotaSize('1t'), 1024 ** 4);
  assert.equal(parseQuotaSize('unlimited'), null);
  assert.equal(parseQuotaSize('UNLIMITED'), null);
  assert.equal(parseQuotaSize('0'), null);
  for (const bad of ['lots', '-1M', '5X', '', 'M', '1e9']) {
    const err = adminError(() => parseQuotaSize(bad));
    assert.equal(err.code, 'usage', bad);
    assert.equal(err.message, `invalid size "${bad}": expected a number with an optional unit K, M, G or T (e.g. 500M, 2G), or "unlimited"`);
  }
  assert.deepEqual(
    [null, 500 * 1024 ** 2, 2 * 1024 ** 3, 1536, 1000, 1.5 * 1024 ** 3 + 1].map(formatQuotaSize),
    ['unlimited', '500M', '2G', '1.5K', '1000', '1.5G'],
  );
});

test('password policy: empty, short, same as the address, control characters; generated passwords', () => {
  const reason = (password: string): string => adminError(() => checkPassword(password, 'alice@example.org')).message;
  assert.equal(reason(''), 'empty password');
  assert.equal(reason('1234567'), 'weak password: fewer than 8 characters');
  assert.equal(reason('ééééééé'), 'weak password: fewer than 8 characters');
  assert.equal(reason('Alice@Example.org'), 'weak password: same as the address');
  assert.equal(reason('ALICE'), 'weak password: fewer than 8 characters');
  assert.equal(reason('alice@example.org'), 'weak password: same as the address');
  assert.equal(reason('long enough\nsecond'), 'password contains control characters');
  assert.equal(reason('x'.repeat(1025)), 'password longer than 1024 characters');
  checkPassword('12345678', 'alice@example.org');
  checkPassword('😀😀😀😀😀😀😀😀', 'alice@example.org');
  checkPassword('alicealice', 'bob@example.org');
  const generated = new Set(Array.from({ length: 50 }, () => generatePassword()));
  assert.equal(generated.size, 50);
  for (const password of generated) assert.match(password, /^[A-HJ-NP-Za-km-z2-9]{20}$/);
});

test('hashPassword/verifyPassword: argon2id PHC with OWASP parameters; bad input is false, never a throw', async () => {
  const hash = await hashPassword('correct horse');
  assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.notEqual(await hashPassword('correct horse'), hash, 'fresh salt each time');
  assert.equal(await verifyPassword(hash, 'correct horse'), true);
  assert.equal(await verifyPassword(hash, 'correct horsE'), false);
  assert.equal(await verifyPassword(null, 'correct horse'), false);
  assert.equal(await verifyPassword('not a hash', 'correct horse'), false);
  assert.equal(await verifyPassword('$argon2id$v=19$m=19456,t=2,p=1$broken', 'correct horse'), false);
  assert.equal(needsRehash(hash), false);
  assert.equal(needsRehash('$argon2id$v=19$m=4096,t=3,p=1$8EeeyQhD9BHM/tQO7JPW5g$+dLxWUahskMexGNcAZHC5ihkyi5Tl5YURlTY3KIrlQI'), true);
  assert.equal(needsRehash('garbage'), true);
});

test('verifyPassword: a burst of concurrent checks (more than MAX_CONCURRENT_HASHES) all get the right answer', async () => {
  const hash = await hashPassword('correct horse');
  const guesses = Array.from({ length: 4 * MAX_CONCURRENT_HASHES + 1 }, (_, i) => (i % 3 === 0 ? 'correct horse' : `wrong ${i}`));
  const results = await Promise.all(guesses.map((guess) => verifyPassword(guess.startsWith('wrong 4') ? null : hash, guess)));
  assert.deepEqual(results, guesses.map((guess) => guess === 'correct horse'));
});

async function operations(t: TestContext): Promise<AdminOperations> {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-admin-'));
  const store = await openSqliteStore({ dataDir: dir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // A cheap stand-in hash keeps these tests fast; the CLI tests use the real argon2id.
  return new AdminOperations({ store, hashPassword: (password) => Promise.resolve(`plain:${password}`) });
}

test('AdminOperations: users need an existing domain; a generated password is returned once', async (t) => {
  const admin = await operations(t);
  await assert.rejects(admin.addUser('alice@example.org', { password: 'long enough' }), { code: 'unknownDomain' });
  await admin.addDomain('Example.org');
  await assert.rejects(admin.addDomain('example.org'), { code: 'exists', message: 'domain example.org already exists' });
  const added = await admin.addUser('Alice@Example.org', { password: 'long enough', quotaBytes: 1024 });
  assert.equal(added.generatedPassword, undefined);
  assert.deepEqual({ ...added.user, createdAt: '' }, { address: 'alice@example.org', quotaBytes: 1024, usedBytes: 0, usedMessages: 0, createdAt: '' });
  const generated = await admin.addUser('bob@example.org');
  assert.match(generated.generatedPassword ?? '', /^[A-HJ-NP-Za-km-z2-9]{20}$/);
  await admin.setQuota('alice@example.org', null);
  assert.equal((await admin.getUser('alice@example.org')).quotaBytes, null);
  await assert.rejects(admin.setPassword('carol@example.org', 'long enough'), { code: 'notFound', message: 'no such user: carol@example.org' });
  await assert.rejects(admin.setPassword('alice@example.org', 'short'), { code: 'weakPassword' });
  assert.deepEqual((await admin.listUsers()).map((u) => u.address), ['alice@example.org', 'bob@example.org']);
  assert.deepEqual(
    (await admin.listDomains()).map((d) => [d.name, d.users, d.aliases]),
    [['example.org', 2, 0]],
  );
});

test('AdminOperations: alias targets in local domains must exist; catch-all covers its domain', async (t) => {
  const admin = await operations(t);
  await admin.addDomain('example.org');
  await admin.addUser('alice@example.org', { password: 'long enough' });
  await assert.rejects(admin.addAlias('info@example.org', ['nobody@example.org']), {
    code: 'notFound',
    message: 'alias target nobody@example.org is in local domain example.org but is neither a user nor an alias',
  });
  await assert.rejects(admin.addAlias('info@example.org', ['info@example.org']), { code: 'usage', message: 'alias info@example.org cannot point to itself' });
  await assert.rejects(admin.addAlias('info@example.org', []), { code: 'usage', message: 'alias info@example.org needs at least one target' });
  assert.deepEqual(await admin.addAlias('info@example.org', ['Alice@example.org', 'alice@example.org', 'x@remote.test']), {
    address: 'info@example.org',
    targets: ['alice@example.org', 'x@remote.test'],
  });
  await admin.addAlias('@example.org', ['alice@example.org']);
  // With a catch-all, any local part of the domain is a valid target.
  await admin.addAlias('team@example.org', ['anyone@example.org']);
  await assert.rejects(admin.deleteDomain('example.org'), { code: 'domainInUse', message: 'domain example.org still has 1 user and 3 aliases; delete them first' });
  await assert.rejects(admin.deleteAlias('sales@example.org'), { code: 'notFound', message: 'no such alias: sales@example.org' });
});
