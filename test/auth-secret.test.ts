import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptSecret, encryptSecret, loadOrCreateSecretKey, SecretError, StoreSecretProvider } from '../src/auth/secret.js';

const KEY = Buffer.alloc(32, 7);

test('a secret round-trips and is not stored in clear', () => {
  const stored = encryptSecret('tanstaaftanstaaf', KEY, 1);
  assert.match(stored, /^v1:[A-Za-z0-9+/]+=*$/);
  assert.ok(!stored.includes('tanstaaf'));
  assert.equal(decryptSecret(stored, KEY, 1), 'tanstaaftanstaaf');
  assert.notEqual(encryptSecret('tanstaaftanstaaf', KEY, 1), stored, 'fresh IV each time');
});

test('wrong key, other account, tampering and bad formats are refused', () => {
  const stored = encryptSecret('sécret', KEY, 1);
  assert.throws(() => decryptSecret(stored, Buffer.alloc(32, 8), 1), SecretError);
  assert.throws(() => decryptSecret(stored, KEY, 2), SecretError);
  const raw = Buffer.from(stored.slice(3), 'base64');
  raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
  assert.throws(() => decryptSecret(`v1:${raw.toString('base64')}`, KEY, 1), SecretError);
  assert.throws(() => decryptSecret('plain', KEY, 1), SecretError);
  assert.throws(() => decryptSecret('v1:AAAA', KEY, 1), SecretError);
  assert.throws(() => encryptSecret('x', Buffer.alloc(16), 1), SecretError);
});

test('StoreSecretProvider decrypts what the store holds', async () => {
  const rows = new Map<number, string>([[5, encryptSecret('pencil', KEY, 5)]]);
  const provider = new StoreSecretProvider({ getSecret: (id) => Promise.resolve(rows.get(id) ?? null) }, KEY);
  assert.equal(await provider.getSharedSecret(5), 'pencil');
  assert.equal(await provider.getSharedSecret(6), null);
});

test('the key file is created once (mode 0600) and read back after', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mailhaven-auth-secret-'));
  try {
    const path = join(dir, 'keys', 'secret.key');
    const created = await loadOrCreateSecretKey(path);
    assert.equal(created.length, 32);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await loadOrCreateSecretKey(path), created);
    assert.equal((await readFile(path, 'utf8')).trim(), created.toString('base64'));
    await writeFile(path, 'c2hvcnQ=\n');
    await assert.rejects(loadOrCreateSecretKey(path), SecretError);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
