import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { JwtBearerVerifier, OAuthConfigError } from '../src/auth/oauth.js';
import { startSasl } from '../src/auth/sasl.js';
import { decodeBase64Strict } from '../src/auth/base64.js';
import type { AuthAccount, BearerTokenVerifier, SaslContext, SaslStep } from '../src/auth/types.js';

const NOW = new Date('2030-06-01T12:00:00Z');
const nowSeconds = Math.floor(NOW.getTime() / 1000);
const LOCAL_ISSUER = 'https://idp.example.com';
const REMOTE_ISSUER = 'https://remote-idp.example.com';

const dir = await mkdtemp(join(tmpdir(), 'mailhaven-auth-oauth-'));
const signing = await generateKeyPair('ES256', { extractable: true });
const stranger = await generateKeyPair('ES256', { extractable: true });
const remoteSigning = await generateKeyPair('RS256', { extractable: true });

async function publicJwk(key: CryptoKey, kid: string, alg: string): Promise<JWK> {
  return { ...(await exportJWK(key)), kid, alg, use: 'sig' };
}

const jwksFile = join(dir, 'jwks.json');
await writeFile(jwksFile, JSON.stringify({ keys: [await publicJwk(signing.publicKey, 'local-1', 'ES256')] }));

// A real HTTP server for the remote JWKS (createRemoteJWKSet fetches it).
const remoteJwks = JSON.stringify({ keys: [await publicJwk(remoteSigning.publicKey, 'remote-1', 'RS256')] });
let jwksRequests = 0;
const server = createServer((request, response) => {
  jwksRequests++;
  if (request.url === '/jwks.json') {
    response.writeHead(200, { 'content-type': 'application/json' }).end(remoteJwks);
  } else {
    response.writeHead(404).end();
  }
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const verifier = await JwtBearerVerifier.create(
  [
    { issuer: LOCAL_ISSUER, audience: 'mailhaven', jwksFile, jwksUrl: null },
    { issuer: REMOTE_ISSUER, audience: 'mail-api', jwksFile: null, jwksUrl: `http://127.0.0.1:${port}/jwks.json` },
  ],
  { now: () => NOW, clockToleranceSeconds: 0 },
);

interface TokenOptions {
  claims?: JWTPayload;
  issuer?: string;
  audience?: string;
  expiresAt?: number;
  key?: CryptoKey;
  kid?: string;
  alg?: string;
}

async function token(options: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ email: 'user@example.com', ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? 'ES256', kid: options.kid ?? 'local-1' })
    .setIssuer(options.issuer ?? LOCAL_ISSUER)
    .setAudience(options.audience ?? 'mailhaven')
    .setIssuedAt(nowSeconds - 60)
    .setExpirationTime(options.expiresAt ?? nowSeconds + 3600);
  return jwt.sign(options.key ?? signing.privateKey);
}

test('a valid local token names its email address', async () => {
  assert.deepEqual(await verifier.verify(await token()), { ok: true, address: 'user@example.com', issuer: LOCAL_ISSUER });
});

test('the address is lower-cased; sub is used when it is an address and there is no email', async () => {
  const upper = await token({ claims: { email: 'User@Example.COM' } });
  assert.deepEqual(await verifier.verify(upper), { ok: true, address: 'user@example.com', issuer: LOCAL_ISSUER });
  const bySub = await token({ claims: { email: undefined, sub: 'other@example.com' } });
  assert.deepEqual(await verifier.verify(bySub), { ok: true, address: 'other@example.com', issuer: LOCAL_ISSUER });
});

async function reasonFor(jwt: string): Promise<string> {
  const verdict = await verifier.verify(jwt);
  assert.equal(verdict.ok, false);
  return verdict.ok ? '' : verdict.reason;
}

test('an expired token is refused', async () => {
  assert.equal(await reasonFor(await token({ expiresAt: nowSeconds - 1 })), 'expired');
});

test('a token for another audience is refused', async () => {
  assert.equal(await reasonFor(await token({ audience: 'someone-else' })), 'wrongAudience');
});

test('a token from an issuer that is not configured is refused', async () => {
  assert.equal(await reasonFor(await token({ issuer: 'https://evil.example.com' })), 'unknownIssuer');
});

test('a token claiming a configured issuer but signed by another key is refused', async () => {
  assert.equal(await reasonFor(await token({ key: stranger.privateKey })), 'badSignature');
  assert.equal(await reasonFor(await token({ key: stranger.privateKey, kid: 'unknown-kid' })), 'badSignature');
});

test('a token with no usable identity is refused', async () => {
  assert.equal(await reasonFor(await token({ claims: { email: undefined, sub: '12345' } })), 'noIdentity');
  assert.equal(await reasonFor(await token({ claims: { email_verified: false, sub: '12345' } })), 'noIdentity');
});

test('garbage and symmetric (HS256) tokens are refused', async () => {
  assert.equal(await reasonFor('not-a-jwt'), 'malformed');
  const hs = await new SignJWT({ email: 'user@example.com' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(LOCAL_ISSUER)
    .setAudience('mailhaven')
    .setExpirationTime(nowSeconds + 60)
    .sign(new TextEncoder().encode('x'.repeat(32)));
  assert.equal(await reasonFor(hs), 'malformed');
});

test('a remote JWKS is fetched over HTTP and cached', async () => {
  const jwt = await token({ issuer: REMOTE_ISSUER, audience: 'mail-api', key: remoteSigning.privateKey, kid: 'remote-1', alg: 'RS256' });
  const before = jwksRequests;
  assert.deepEqual(await verifier.verify(jwt), { ok: true, address: 'user@example.com', issuer: REMOTE_ISSUER });
  assert.deepEqual(await verifier.verify(jwt), { ok: true, address: 'user@example.com', issuer: REMOTE_ISSUER });
  assert.equal(jwksRequests - before, 1);
});

test('an unreachable JWKS URL is a temporary failure', async () => {
  const unreachable = await JwtBearerVerifier.create(
    [{ issuer: REMOTE_ISSUER, audience: 'mail-api', jwksFile: null, jwksUrl: 'http://127.0.0.1:1/jwks.json' }],
    { now: () => NOW },
  );
  const jwt = await token({ issuer: REMOTE_ISSUER, audience: 'mail-api', key: remoteSigning.privateKey, kid: 'remote-1', alg: 'RS256' });
  const verdict = await unreachable.verify(jwt);
  assert.equal(verdict.ok ? '' : verdict.reason, 'temporary');
});

test('configuration errors: unreadable JWKS file, no key source, duplicate issuer', async () => {
  await assert.rejects(
    JwtBearerVerifier.create([{ issuer: 'a', audience: 'b', jwksFile: join(dir, 'missing.json'), jwksUrl: null }]),
    OAuthConfigError,
  );
  await assert.rejects(JwtBearerVerifier.create([{ issuer: 'a', audience: 'b', jwksFile: null, jwksUrl: null }]), OAuthConfigError);
  await assert.rejects(
    JwtBearerVerifier.create([
      { issuer: 'a', audience: 'b', jwksFile, jwksUrl: null },
      { issuer: 'a', audience: 'c', jwksFile, jwksUrl: null },
    ]),
    OAuthConfigError,
  );
});

// --- the mechanisms -------------------------------------------------------------------------

const ACCOUNTS: AuthAccount[] = [
  { id: 7, address: 'user@example.com', passwordHash: '!' },
  { id: 8, address: 'someuser@example.com', passwordHash: '!' },
];

function context(tokens: BearerTokenVerifier = verifier): SaslContext {
  return {
    accounts: { getAccount: (address) => Promise.resolve(ACCOUNTS.find((account) => account.address === address) ?? null) },
    tokens,
    hostname: 'server.example.com',
    oauthScope: 'https://mail.example.com/',
  };
}

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

function oauthbearer(authzid: string | null, auth: string): Buffer {
  return bytes(`n,${authzid === null ? '' : `a=${authzid}`},\x01host=server.example.com\x01port=587\x01auth=${auth}\x01\x01`);
}

function assertFailed(step: SaslStep, reason: string): void {
  assert.ok('failed' in step, JSON.stringify(step));
  assert.equal(step.failed, reason);
}

test('OAUTHBEARER: the RFC 7628 4.1 initial response, byte for byte, succeeds', async () => {
  // The RFC's token is not a JWT: a verifier that knows it stands in for the issuer.
  const rfcToken = 'vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==';
  const stub: BearerTokenVerifier = {
    verify: (value) => Promise.resolve(value === rfcToken ? { ok: true, address: 'user@example.com', issuer: 'rfc' } : { ok: false, reason: 'badSignature', detail: 'x' }),
  };
  const initial = decodeBase64Strict(
    'bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB',
  );
  assert.equal(initial.toString(), 'n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01');
  const step = await startSasl('OAUTHBEARER', context(stub)).step(initial);
  assert.deepEqual(step, { done: true, identity: { accountId: 7, address: 'user@example.com', mechanism: 'OAUTHBEARER' } });
});

test('OAUTHBEARER: RFC 7628 4.3 failed exchange: empty auth, error challenge, %x01, failure', async () => {
  const exchange = startSasl('OAUTHBEARER', context());
  const initial = decodeBase64Strict('bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9AQE=');
  const step = await exchange.step(initial);
  assert.ok('challenge' in step);
  assert.deepEqual(JSON.parse(step.challenge.toString()), {
    status: 'invalid_token',
    schemes: 'bearer',
    scope: 'https://mail.example.com/',
  });
  assertFailed(await exchange.step(decodeBase64Strict('AQ==')), 'invalidCredentials');
});

test('OAUTHBEARER: a real JWT, with and without authzid, and "Bearer" in any case', async () => {
  const jwt = await token();
  const withAuthzid = await startSasl('OAUTHBEARER', context()).step(oauthbearer('user@example.com', `Bearer ${jwt}`));
  assert.deepEqual(withAuthzid, { done: true, identity: { accountId: 7, address: 'user@example.com', mechanism: 'OAUTHBEARER' } });
  const exchange = startSasl('OAUTHBEARER', context());
  assert.equal((await exchange.step(null) as { challenge: Buffer }).challenge.length, 0);
  const without = await exchange.step(oauthbearer(null, `bEaReR ${jwt}`));
  assert.deepEqual(without, { done: true, identity: { accountId: 7, address: 'user@example.com', mechanism: 'OAUTHBEARER' } });
});

test('OAUTHBEARER: a token for another user than the authzid fails after the error sequence', async () => {
  const exchange = startSasl('OAUTHBEARER', context());
  const step = await exchange.step(oauthbearer('someuser@example.com', `Bearer ${await token()}`));
  assert.ok('challenge' in step);
  const last = await exchange.step(bytes('\x01'));
  assert.ok('failed' in last);
  assert.equal(last.failed, 'invalidCredentials');
  assert.equal(last.username, 'someuser@example.com');
});

test('OAUTHBEARER: expired token, wrong audience, unknown account all go through the error sequence', async () => {
  const tokens = [
    await token({ expiresAt: nowSeconds - 10 }),
    await token({ audience: 'other' }),
    await token({ claims: { email: 'stranger@example.com' } }),
  ];
  for (const jwt of tokens) {
    const exchange = startSasl('OAUTHBEARER', context());
    const step = await exchange.step(oauthbearer(null, `Bearer ${jwt}`));
    assert.ok('challenge' in step);
    assertFailed(await exchange.step(bytes('\x01')), 'invalidCredentials');
  }
});

test('OAUTHBEARER: anything but %x01 after the error is malformed; malformed messages fail at once', async () => {
  const exchange = startSasl('OAUTHBEARER', context());
  await exchange.step(oauthbearer(null, 'Bearer nope'));
  assertFailed(await exchange.step(bytes('retry')), 'malformed');
  for (const message of ['\x01', 'p=tls-unique,,\x01auth=Bearer x\x01\x01', 'n,,\x01auth=Bearer x\x01', 'n,a=x\x01\x01', 'n,,\x01bad pair\x01\x01']) {
    assertFailed(await startSasl('OAUTHBEARER', context()).step(bytes(message)), 'malformed');
  }
});

test('OAUTHBEARER: an issuer outage is a temporary failure after the error sequence', async () => {
  const down: BearerTokenVerifier = { verify: () => Promise.resolve({ ok: false, reason: 'temporary', detail: 'JWKS unreachable' }) };
  const exchange = startSasl('OAUTHBEARER', context(down));
  const step = await exchange.step(oauthbearer(null, 'Bearer abc'));
  assert.ok('challenge' in step);
  assert.equal(JSON.parse(step.challenge.toString()).status, 'temporarily_unavailable');
  assertFailed(await exchange.step(bytes('\x01')), 'temporary');
});

test('XOAUTH2: user=...^Aauth=Bearer ...^A^A succeeds for the token owner', async () => {
  const message = bytes(`user=user@example.com\x01auth=Bearer ${await token()}\x01\x01`);
  const step = await startSasl('XOAUTH2', context()).step(message);
  assert.deepEqual(step, { done: true, identity: { accountId: 7, address: 'user@example.com', mechanism: 'XOAUTH2' } });
});

test('XOAUTH2: failure sends the JSON error, then the empty response ends it', async () => {
  const exchange = startSasl('XOAUTH2', context());
  const step = await exchange.step(bytes(`user=someuser@example.com\x01auth=Bearer ${await token()}\x01\x01`));
  assert.ok('challenge' in step);
  assert.deepEqual(JSON.parse(step.challenge.toString()), { status: '400', schemes: 'Bearer', scope: 'https://mail.example.com/' });
  assertFailed(await exchange.step(Buffer.alloc(0)), 'invalidCredentials');
  assertFailed(await startSasl('XOAUTH2', context()).step(bytes('auth=Bearer x\x01\x01')), 'malformed');
});
