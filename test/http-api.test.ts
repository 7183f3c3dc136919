/**
 * The JSON admin API: bearer-token authentication (none, malformed, unknown and revoked tokens
 * are all 401 with an RFC 6750 challenge), every operation with its exact answer and effect on
 * the store, and the request errors (405, 404, 415, 400, 413).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { verifyPassword } from '../src/auth/password.js';
import { TokenOperations, generateToken } from '../src/http/tokens.js';
import { indexMessage } from '../src/mime/indexer.js';
import { hasOutboundQueue } from '../src/queue/types.js';
import { apiRequest, httpRequest } from './helpers/http.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';

interface ApiServer {
  server: TestServer;
  token: string;
  port: number;
  call: (method: string, path: string, body?: unknown, token?: string) => ReturnType<typeof apiRequest>;
}

async function apiServer(t: TestContext): Promise<ApiServer> {
  const server = await startTestServer(t, { listeners: ['http'] });
  const { token } = await new TokenOperations(server.store).create('tests');
  const port = server.port('http');
  return { server, token, port, call: (method, path, body, as = token) => apiRequest(port, as, method, path, body) };
}

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function withoutCreatedAt(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutCreatedAt);
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === 'createdAt') assert.match(String(item), ISO_DATE);
    else copy[key] = withoutCreatedAt(item);
  }
  return copy;
}

// ---- authentication --------------------------------------------------------------------

test('no token, a malformed one, an unknown one, another scheme: 401 with the RFC 6750 challenge', async (t) => {
  const { port, token } = await apiServer(t);
  const missing = await apiRequest(port, undefined, 'GET', '/api/domains');
  assert.equal(missing.status, 401);
  assert.equal(missing.headers['www-authenticate'], 'Bearer realm="mailhaven"');
  assert.deepEqual(missing.json, { error: { code: 'unauthorized', message: 'an admin token is required (Authorization: Bearer <token>)' } });

  for (const bad of ['nonsense', generateToken(), `${token}x`, token.slice(0, -1)]) {
    const response = await apiRequest(port, bad, 'GET', '/api/domains');
    assert.equal(response.status, 401, bad);
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="mailhaven", error="invalid_token"');
    assert.deepEqual(response.json, { error: { code: 'invalidToken', message: 'the token is not valid (revoked, or never issued)' } });
  }
  const basic = await httpRequest(port, '/api/domains', { headers: { Authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` } });
  assert.equal(basic.status, 401);
  // The scheme is case-insensitive (RFC 6750 2.1 / RFC 9110 11.1).
  const lower = await httpRequest(port, '/api/domains', { headers: { Authorization: `bearer ${token}` } });
  assert.equal(lower.status, 200);
});

test('a revoked token is refused at once; the others keep working; use is recorded', async (t) => {
  const { server, port, token } = await apiServer(t);
  const tokens = new TokenOperations(server.store);
  const second = await tokens.create('second');
  assert.equal((await apiRequest(port, second.token, 'GET', '/api/whoami')).status, 200);
  await tokens.revoke('second');
  const refused = await apiRequest(port, second.token, 'GET', '/api/whoami');
  assert.equal(refused.status, 401);
  assert.equal(refused.headers['www-authenticate'], 'Bearer realm="mailhaven", error="invalid_token"');
  const still = await apiRequest(port, token, 'GET', '/api/whoami');
  assert.deepEqual([still.status, still.json], [200, { token: 'tests' }]);
  // The use is written after the response (no fsync on the request path): wait for it.
  let listed = (await tokens.list())[0];
  for (let i = 0; i < 100 && listed?.lastUsedAt === null; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    listed = (await tokens.list())[0];
  }
  assert.equal(listed?.name, 'tests');
  assert.match(listed?.lastUsedAt ?? '', ISO_DATE);
});

test('the store keeps only the SHA-256 of a token', async (t) => {
  const { server, token } = await apiServer(t);
  const [stored] = await server.store.listAdminTokens();
  assert.equal(stored?.hash, createHash('sha256').update(token).digest('hex'));
  assert.match(token, /^mh_[A-Za-z0-9_-]{43}$/);
});

test('public paths and /healthz, /metrics need no token', async (t) => {
  const { port } = await apiServer(t);
  assert.equal((await httpRequest(port, '/healthz')).status, 200);
  assert.equal((await httpRequest(port, '/metrics')).status, 200);
  assert.equal((await httpRequest(port, '/mail/config-v1.1.xml')).status, 200);
});

// ---- domains ---------------------------------------------------------------------------

test('domains: add, duplicate, invalid, list, delete in use, delete, delete unknown', async (t) => {
  const { call } = await apiServer(t);
  const added = await call('POST', '/api/domains', { name: 'Example.ORG' });
  assert.equal(added.status, 201);
  assert.deepEqual(withoutCreatedAt(added.json), { name: 'example.org', users: 0, aliases: 0 });
  const duplicate = await call('POST', '/api/domains', { name: 'example.org' });
  assert.deepEqual([duplicate.status, duplicate.json], [409, { error: { code: 'exists', message: 'domain example.org already exists' } }]);
  const invalid = await call('POST', '/api/domains', { name: 'bad_domain.example' });
  assert.deepEqual([invalid.status, invalid.json], [
    400,
    { error: { code: 'invalidDomain', message: 'invalid domain "bad_domain.example": label "bad_domain" is not letters, digits and inner hyphens' } },
  ]);
  await call('POST', '/api/domains', { name: 'bücher.example' });
  await call('POST', '/api/users', { address: 'alice@example.org', password: 'correct horse battery' });
  const listed = await call('GET', '/api/domains');
  assert.deepEqual(withoutCreatedAt(listed.json), [
    { name: 'example.org', users: 1, aliases: 0 },
    { name: 'xn--bcher-kva.example', users: 0, aliases: 0 },
  ]);
  const inUse = await call('DELETE', '/api/domains/example.org');
  assert.deepEqual([inUse.status, inUse.json], [409, { error: { code: 'domainInUse', message: 'domain example.org still has 1 user; delete them first' } }]);
  const deleted = await call('DELETE', '/api/domains/xn--bcher-kva.example');
  assert.deepEqual([deleted.status, deleted.body], [204, '']);
  const unknown = await call('DELETE', '/api/domains/nowhere.example');
  assert.deepEqual([unknown.status, unknown.json], [404, { error: { code: 'notFound', message: 'no such domain: nowhere.example' } }]);
});

test('domain POP3 retention: days, never; anything else is 400', async (t) => {
  const { server, call } = await apiServer(t);
  await call('POST', '/api/domains', { name: 'example.org' });
  assert.equal((await call('PUT', '/api/domains/example.org/pop3-retention', { days: 30 })).status, 204);
  assert.equal(await server.store.getPop3Retention({ domain: 'example.org' }), 30);
  assert.equal((await call('PUT', '/api/domains/example.org/pop3-retention', { days: 'never' })).status, 204);
  assert.equal(await server.store.getPop3Retention({ domain: 'example.org' }), 'never');
  const bad = await call('PUT', '/api/domains/example.org/pop3-retention', { days: 'inherit' });
  assert.deepEqual([bad.status, bad.json], [400, { error: { code: 'usage', message: 'expected a number of days (1 to 36500) or "never", got "inherit"' } }]);
});

// ---- users -----------------------------------------------------------------------------

test('users: add with password and quota, generated password, get, list, errors', async (t) => {
  const { server, call } = await apiServer(t);
  await call('POST', '/api/domains', { name: 'example.org' });
  const alice = await call('POST', '/api/users', { address: 'Alice@example.org', password: 'correct horse battery', quota: '2G' });
  assert.equal(alice.status, 201);
  assert.deepEqual(withoutCreatedAt(alice.json), { user: { address: 'alice@example.org', quotaBytes: 2 * 1024 ** 3, usedBytes: 0, usedMessages: 0 } });
  const account = await server.store.getAccount('alice@example.org');
  assert.ok(account !== null && (await verifyPassword(account.passwordHash, 'correct horse battery')));

  const bob = await call('POST', '/api/users', { address: 'bob@example.org', quota: 1048576 });
  const { generatedPassword, user } = bob.json as { generatedPassword: string; user: unknown };
  assert.match(generatedPassword, /^[A-HJ-NP-Za-km-z2-9]{20}$/);
  assert.deepEqual(withoutCreatedAt(user), { address: 'bob@example.org', quotaBytes: 1048576, usedBytes: 0, usedMessages: 0 });
  const bobAccount = await server.store.getAccount('bob@example.org');
  assert.ok(bobAccount !== null && (await verifyPassword(bobAccount.passwordHash, generatedPassword)));

  const got = await call('GET', '/api/users/alice%40example.org');
  assert.deepEqual(withoutCreatedAt(got.json), { address: 'alice@example.org', quotaBytes: 2 * 1024 ** 3, usedBytes: 0, usedMessages: 0 });
  assert.deepEqual(withoutCreatedAt((await call('GET', '/api/users')).json), [
    { address: 'alice@example.org', quotaBytes: 2 * 1024 ** 3, usedBytes: 0, usedMessages: 0 },
    { address: 'bob@example.org', quotaBytes: 1048576, usedBytes: 0, usedMessages: 0 },
  ]);

  const cases: Array<[unknown, number, string, string]> = [
    [{ address: 'alice@example.org', password: 'another long one' }, 409, 'exists', 'user alice@example.org already exists'],
    [{ address: 'carol@example.org', password: 'short' }, 400, 'weakPassword', 'weak password: fewer than 8 characters'],
    [{ address: 'carol@elsewhere.test', password: 'long enough pw' }, 400, 'unknownDomain', 'unknown domain elsewhere.test for carol@elsewhere.test (add it with: mailhaven domain add elsewhere.test)'],
    [{ address: 'carol@example.org', quota: 'lots' }, 400, 'usage', 'invalid size "lots": expected a number with an optional unit K, M, G or T (e.g. 500M, 2G), or "unlimited"'],
    [{ password: 'long enough pw' }, 400, 'badRequest', 'address: Invalid input: expected string, received undefined'],
  ];
  for (const [body, status, code, message] of cases) {
    const response = await call('POST', '/api/users', body);
    assert.deepEqual([response.status, response.json], [status, { error: { code, message } }], JSON.stringify(body));
  }
  const unknown = await call('GET', '/api/users/nobody%40example.org');
  assert.deepEqual([unknown.status, unknown.json], [404, { error: { code: 'notFound', message: 'no such user: nobody@example.org' } }]);
});

test('users: password, quota, APOP secret, POP3 retention, delete', async (t) => {
  const { server, call } = await apiServer(t);
  await call('POST', '/api/domains', { name: 'example.org' });
  await call('POST', '/api/users', { address: 'alice@example.org', password: 'correct horse battery' });
  const path = '/api/users/alice@example.org';

  assert.equal((await call('PUT', `${path}/password`, { password: 'a brand new passphrase' })).status, 204);
  const account = await server.store.getAccount('alice@example.org');
  assert.ok(account !== null && (await verifyPassword(account.passwordHash, 'a brand new passphrase')));
  const weak = await call('PUT', `${path}/password`, { password: 'alice' });
  assert.deepEqual([weak.status, (weak.json as { error: { code: string } }).error.code], [400, 'weakPassword']);

  assert.equal((await call('PUT', `${path}/quota`, { quota: '500M' })).status, 204);
  assert.equal((await server.store.getAccount('alice@example.org'))?.quotaBytes, 500 * 1024 ** 2);
  assert.equal((await call('PUT', `${path}/quota`, { quota: null })).status, 204);
  assert.equal((await server.store.getAccount('alice@example.org'))?.quotaBytes, null);
  assert.equal((await call('PUT', `${path}/quota`, { quota: 4096 })).status, 204);
  assert.equal((await server.store.getAccount('alice@example.org'))?.quotaBytes, 4096);

  assert.equal((await call('PUT', `${path}/apop`, { secret: 'a shared secret' })).status, 204);
  assert.notEqual(await server.store.getSecret(account.id), null);
  const same = await call('PUT', `${path}/apop`, { secret: 'a brand new passphrase' });
  assert.deepEqual([same.status, same.json], [400, { error: { code: 'weakPassword', message: 'the shared secret must not be the login password' } }]);
  assert.equal((await call('DELETE', `${path}/apop`)).status, 204);
  assert.equal(await server.store.getSecret(account.id), null);

  assert.equal((await call('PUT', `${path}/pop3-retention`, { days: 7 })).status, 204);
  assert.equal(await server.store.getPop3Retention({ address: 'alice@example.org' }), 7);
  assert.equal((await call('PUT', `${path}/pop3-retention`, { days: 'inherit' })).status, 204);
  assert.equal(await server.store.getPop3Retention({ address: 'alice@example.org' }), null);

  assert.equal((await call('DELETE', path)).status, 204);
  assert.equal(await server.store.getAccount('alice@example.org'), null);
  assert.equal((await call('DELETE', path)).status, 404);
});

// ---- aliases ---------------------------------------------------------------------------

test('aliases: add, catch-all, list, bad target, delete', async (t) => {
  const { call } = await apiServer(t);
  await call('POST', '/api/domains', { name: 'example.org' });
  await call('POST', '/api/users', { address: 'alice@example.org', password: 'correct horse battery' });
  const added = await call('POST', '/api/aliases', { address: 'Postmaster@example.org', targets: ['alice@example.org', 'partner@elsewhere.test', 'alice@example.org'] });
  assert.deepEqual([added.status, added.json], [201, { address: 'postmaster@example.org', targets: ['alice@example.org', 'partner@elsewhere.test'] }]);
  assert.equal((await call('POST', '/api/aliases', { address: '@example.org', targets: ['alice@example.org'] })).status, 201);
  assert.deepEqual((await call('GET', '/api/aliases')).json, [
    { address: '@example.org', targets: ['alice@example.org'] },
    { address: 'postmaster@example.org', targets: ['alice@example.org', 'partner@elsewhere.test'] },
  ]);
  const empty = await call('POST', '/api/aliases', { address: 'x@example.org', targets: [] });
  assert.deepEqual([empty.status, empty.json], [400, { error: { code: 'badRequest', message: 'targets: Too small: expected array to have >=1 items' } }]);
  assert.equal((await call('DELETE', '/api/aliases/%40example.org')).status, 204);
  assert.deepEqual((await call('GET', '/api/aliases')).json, [{ address: 'postmaster@example.org', targets: ['alice@example.org', 'partner@elsewhere.test'] }]);
  const unknown = await call('DELETE', '/api/aliases/%40example.org');
  assert.deepEqual([unknown.status, unknown.json], [404, { error: { code: 'notFound', message: 'no such alias: @example.org' } }]);
});

// ---- queue, DKIM, tokens ---------------------------------------------------------------

test('queue: empty, then the entry SMTP left for a remote recipient', async (t) => {
  const { server, call } = await apiServer(t);
  assert.deepEqual((await call('GET', '/api/queue')).json, { available: true, entries: [] });
  const store = server.store;
  assert.ok(hasOutboundQueue(store));
  const bytes = Buffer.from('From: a@example.org\r\nTo: c@remote.example\r\nSubject: hi\r\n\r\nhello\r\n');
  const writer = store.createBlobWriter();
  await writer.write(bytes);
  const blob = await writer.finish();
  await store.deliverAndEnqueue(blob, indexMessage(bytes), [], {
    sender: 'a@example.org',
    recipients: [{ address: 'c@remote.example', kind: 'remote', notify: null, orcpt: null }],
    ret: null,
    envid: null,
    body: null,
    smtputf8: false,
    submitter: 'a@example.org',
    clientAddress: '192.0.2.1',
  });
  const { entries } = (await call('GET', '/api/queue')).json as { entries: Array<Record<string, unknown>> };
  assert.equal(entries.length, 1);
  const [entry] = entries;
  assert.match(String(entry?.createdAt), ISO_DATE);
  assert.match(String(entry?.nextAttemptAt), ISO_DATE);
  assert.deepEqual({ ...entry, createdAt: null, nextAttemptAt: null }, {
    id: 1,
    sender: 'a@example.org',
    recipients: [{ address: 'c@remote.example', kind: 'remote' }],
    size: bytes.length,
    submitter: 'a@example.org',
    createdAt: null,
    nextAttemptAt: null,
    attempts: 0,
  });
});

test('DKIM keys: "not configured" until generated; POST generates, the DNS view shows the record', async (t) => {
  const { call } = await apiServer(t);
  await call('POST', '/api/domains', { name: 'example.org' });
  await call('POST', '/api/domains', { name: 'other.test' });
  assert.deepEqual((await call('GET', '/api/dkim')).json, [
    { domain: 'example.org', status: 'notConfigured', selector: null, record: null },
    { domain: 'other.test', status: 'notConfigured', selector: null, record: null },
  ]);
  const created = await call('POST', '/api/dkim', { domain: 'example.org', selector: 's1', algorithm: 'ed25519' });
  assert.equal(created.status, 201);
  const key = created.json as { domain: string; selector: string; algorithm: string; active: boolean; record: { name: string; type: string; value: string } };
  assert.deepEqual([key.domain, key.selector, key.algorithm, key.active, key.record.name, key.record.type], ['example.org', 's1', 'ed25519', true, 's1._domainkey.example.org', 'TXT']);
  assert.match(key.record.value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
  assert.deepEqual((await call('GET', '/api/dkim')).json, [
    { domain: 'example.org', status: 'active', selector: 's1', algorithm: 'ed25519', record: key.record },
    { domain: 'other.test', status: 'notConfigured', selector: null, record: null },
  ]);
  const dns = (await call('GET', '/api/domains/example.org/dns')).json as { records: Array<{ purpose: string; zone: string }>; notConfigured: Array<{ purpose: string }> };
  assert.deepEqual(
    dns.records.filter((record) => record.purpose === 'dkim').map((record) => record.zone),
    [`s1._domainkey.example.org. 3600 IN TXT "${key.record.value}"`],
  );
  assert.ok(!dns.notConfigured.some((entry) => entry.purpose === 'dkim'));

  // Rotation over the API: a second key is pending until activated; the active one is kept from deletion.
  assert.equal((await call('POST', '/api/dkim', { domain: 'example.org', selector: 's2', algorithm: 'ed25519' })).status, 201);
  assert.deepEqual(((await call('GET', '/api/dkim/example.org')).json as Array<{ selector: string; active: boolean }>).map((k) => [k.selector, k.active]), [
    ['s1', true],
    ['s2', false],
  ]);
  assert.equal((await call('POST', '/api/dkim/example.org/s2/activate')).status, 204);
  const refused = await call('DELETE', '/api/dkim/example.org/s2');
  assert.equal(refused.status, 400);
  assert.equal((await call('DELETE', '/api/dkim/example.org/s1')).status, 204);
  assert.deepEqual(((await call('GET', '/api/dkim')).json as Array<{ selector: string | null }>).map((d) => d.selector), ['s2', null]);

  const errors = [
    await call('POST', '/api/dkim', { domain: 'nowhere.test' }),
    await call('POST', '/api/dkim', { domain: 'example.org', algorithm: 'dsa' }),
    await call('POST', '/api/dkim', { domain: 'example.org', selector: 's2', algorithm: 'ed25519' }),
    await call('POST', '/api/dkim/example.org/missing/activate'),
  ];
  assert.deepEqual(
    errors.map((response) => [response.status, (response.json as { error: { code: string } }).error.code]),
    [
      [400, 'unknownDomain'],
      [400, 'badRequest'],
      [409, 'exists'],
      [404, 'notFound'],
    ],
  );
});

test('tokens over the API: create (works at once), list, revoke (refused at once)', async (t) => {
  const { call } = await apiServer(t);
  const created = await call('POST', '/api/tokens', { name: 'grafana' });
  assert.equal(created.status, 201);
  const { token, ...info } = created.json as { token: string; name: string; createdAt: string; lastUsedAt: null };
  assert.deepEqual(withoutCreatedAt(info), { name: 'grafana', lastUsedAt: null });
  assert.deepEqual((await call('GET', '/api/whoami', undefined, token)).json, { token: 'grafana' });
  assert.deepEqual(
    ((await call('GET', '/api/tokens')).json as Array<{ name: string }>).map((entry) => entry.name),
    ['tests', 'grafana'],
  );
  assert.equal((await call('POST', '/api/tokens', { name: 'grafana' })).status, 409);
  assert.equal((await call('POST', '/api/tokens', { name: 'no spaces' })).status, 400);
  assert.equal((await call('DELETE', '/api/tokens/grafana')).status, 204);
  assert.equal((await call('GET', '/api/whoami', undefined, token)).status, 401);
});

// ---- request errors --------------------------------------------------------------------

test('request errors: 405 with Allow, 404, 415, 400 bad JSON, 413', async (t) => {
  const { port, token, call } = await apiServer(t);
  const wrongMethod = await call('PATCH', '/api/domains');
  assert.equal(wrongMethod.status, 405);
  const put = await call('PUT', '/api/domains');
  assert.deepEqual([put.status, put.headers.allow], [405, 'GET, HEAD, POST']);
  const missing = await call('GET', '/api/nothing');
  assert.deepEqual([missing.status, missing.json], [404, { error: { code: 'notFound', message: 'no such resource' } }]);
  const auth = { Authorization: `Bearer ${token}` };
  const form = await httpRequest(port, '/api/domains', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'name=example.org' });
  assert.deepEqual([form.status, JSON.parse(form.body)], [415, { error: { code: 'unsupportedMediaType', message: 'send the body as application/json' } }]);
  const broken = await httpRequest(port, '/api/domains', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: '{"name":' });
  assert.equal(broken.status, 400);
  assert.equal((JSON.parse(broken.body) as { error: { code: string } }).error.code, 'badJson');
  const huge = await httpRequest(port, '/api/domains', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'x'.repeat(70_000) }) });
  assert.deepEqual([huge.status, huge.headers.connection], [413, 'close']);
  const common = await call('GET', '/api/domains');
  assert.equal(common.headers['x-content-type-options'], 'nosniff');
  assert.equal(common.headers['cache-control'], 'no-store');
});
