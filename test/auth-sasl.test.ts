import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { hashPassword } from '../src/auth/password.js';
import { availableMechanisms, startSasl } from '../src/auth/sasl.js';
import { decodeBase64Strict, decodeInitialResponse, Base64Error } from '../src/auth/base64.js';
import { checkApop } from '../src/auth/credentials.js';
import { saslprep, SaslprepError } from '../src/auth/saslprep.js';
import { UnsupportedMechanismError } from '../src/auth/types.js';
import type { AuthAccount, SaslContext, SaslExchange, SaslStep, SecretProvider } from '../src/auth/types.js';

// Real argon2id hashes (src/auth/password.ts), made once for the file.
const [timHash, kurtHash, ümlautHash] = await Promise.all([
  hashPassword('tanstaaftanstaaf'),
  hashPassword('xipj3plmq'),
  hashPassword('pässwörd'),
]);

const ACCOUNTS: AuthAccount[] = [
  { id: 1, address: 'tim', passwordHash: timHash },
  { id: 2, address: 'kurt', passwordHash: kurtHash },
  { id: 3, address: 'user', passwordHash: timHash },
  { id: 4, address: 'jörg@example.com', passwordHash: ümlautHash },
  { id: 5, address: 'nosecret@example.com', passwordHash: timHash },
];
const SECRETS = new Map<number, string>([
  [1, 'tanstaaftanstaaf'],
  [2, 'xipj3plmq'],
  [3, 'pencil'],
  [4, 'sécret ½'],
]);

function context(overrides: Partial<SaslContext> = {}, lookups: string[] = []): SaslContext {
  const secrets: SecretProvider = { getSharedSecret: (id) => Promise.resolve(SECRETS.get(id) ?? null) };
  return {
    accounts: {
      getAccount: (address) => {
        lookups.push(address);
        return Promise.resolve(ACCOUNTS.find((account) => account.address === address) ?? null);
      },
    },
    secrets,
    hostname: 'mx.example.com',
    ...overrides,
  };
}

const text = (value: string): Buffer => Buffer.from(value, 'utf8');

function challengeText(step: SaslStep): string {
  assert.ok('challenge' in step, `expected a challenge, got ${JSON.stringify(step)}`);
  return step.challenge.toString('utf8');
}

function assertDone(step: SaslStep, accountId: number, address: string, mechanism: string): void {
  assert.deepEqual(step, { done: true, identity: { accountId, address, mechanism } });
}

function assertFailed(step: SaslStep, reason: string, username: string | null): void {
  assert.ok('failed' in step, `expected a failure, got ${JSON.stringify(step)}`);
  assert.equal(step.failed, reason);
  assert.equal(step.username, username);
}

// --- PLAIN (RFC 4616) ---------------------------------------------------------------------

test('PLAIN: RFC 4616 4 first example, without initial response: empty challenge, then success', async () => {
  const exchange = startSasl('plain', context());
  assert.equal(challengeText(await exchange.step(null)), '');
  assertDone(await exchange.step(text('\0tim\0tanstaaftanstaaf')), 1, 'tim', 'PLAIN');
});

test('PLAIN: RFC 4616 4 second example: Ursel may not act as... authzid differs, refused', async () => {
  // "Ursel<NUL>Kurt<NUL>xipj3plmq": Kurt's credentials are right, but he asks to be Ursel.
  const step = await startSasl('PLAIN', context()).step(text('Ursel\0Kurt\0xipj3plmq'));
  assertFailed(step, 'authzidMismatch', 'Kurt');
});

test('PLAIN: an authzid equal to the authcid is accepted', async () => {
  assertDone(await startSasl('PLAIN', context()).step(text('tim\0tim\0tanstaaftanstaaf')), 1, 'tim', 'PLAIN');
});

test('PLAIN: wrong password and unknown user fail alike; unknown users are still looked up', async () => {
  const lookups: string[] = [];
  assertFailed(await startSasl('PLAIN', context({}, lookups)).step(text('\0tim\0wrong')), 'invalidCredentials', 'tim');
  assertFailed(await startSasl('PLAIN', context({}, lookups)).step(text('\0nobody\0whatever')), 'invalidCredentials', 'nobody');
  assert.deepEqual(lookups, ['tim', 'nobody']);
});

test('PLAIN: UTF-8 names and passwords', async () => {
  assertDone(await startSasl('PLAIN', context()).step(text('\0JÖRG@example.com\0pässwörd')), 4, 'jörg@example.com', 'PLAIN');
});

test('PLAIN: malformed messages (wrong NUL count, empty fields, invalid UTF-8) and steps after the end', async () => {
  for (const message of [text('tim\0tanstaaftanstaaf'), text('\0\0x'), text('\0tim\0'), text('a\0b\0c\0d'), Buffer.from([0, 0x74, 0, 0xff])]) {
    const step = await startSasl('PLAIN', context()).step(message);
    assert.ok('failed' in step && step.failed === 'malformed', JSON.stringify(message));
  }
  const exchange = startSasl('PLAIN', context());
  await exchange.step(text('\0tim\0tanstaaftanstaaf'));
  assertFailed(await exchange.step(text('again')), 'malformed', 'tim');
});

test('PLAIN: the store failing is a temporary failure, not a crash', async () => {
  const broken = context({ accounts: { getAccount: () => Promise.reject(new Error('database is locked')) } });
  const step = await startSasl('PLAIN', broken).step(text('\0tim\0tanstaaftanstaaf'));
  assertFailed(step, 'temporary', 'tim');
});

// --- LOGIN ----------------------------------------------------------------------------------

test('LOGIN: Username: / Password: challenges, then success', async () => {
  const exchange = startSasl('LOGIN', context());
  assert.equal(challengeText(await exchange.step(null)), 'Username:');
  assert.equal(challengeText(await exchange.step(text('tim'))), 'Password:');
  assertDone(await exchange.step(text('tanstaaftanstaaf')), 1, 'tim', 'LOGIN');
});

test('LOGIN: the user name as initial response skips the first challenge', async () => {
  const exchange = startSasl('LOGIN', context());
  assert.equal(challengeText(await exchange.step(text('tim'))), 'Password:');
  assertFailed(await exchange.step(text('nope')), 'invalidCredentials', 'tim');
});

test('LOGIN: an empty user name fails', async () => {
  const exchange = startSasl('LOGIN', context());
  await exchange.step(null);
  assertFailed(await exchange.step(Buffer.alloc(0)), 'malformed', null);
});

// --- CRAM-MD5 (RFC 2195) --------------------------------------------------------------------

test('CRAM-MD5: the RFC 2195 example exchange, byte for byte', async () => {
  const exchange = startSasl('CRAM-MD5', context({ hostname: 'postoffice.reston.mci.net', nonce: () => '1896.697170952' }));
  const first = await exchange.step(null);
  assert.ok('challenge' in first);
  assert.equal(first.challenge.toString('base64'), 'PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+');
  const response = decodeBase64Strict('dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw');
  assertDone(await exchange.step(response), 1, 'tim', 'CRAM-MD5');
});

test('CRAM-MD5: wrong digest, unknown user, account without secret, bad syntax', async () => {
  const ctx = context({ nonce: () => '1.2' });
  const run = async (response: string): Promise<SaslStep> => {
    const exchange = startSasl('CRAM-MD5', ctx);
    await exchange.step(null);
    return exchange.step(text(response));
  };
  assertFailed(await run('tim 00000000000000000000000000000000'), 'invalidCredentials', 'tim');
  const digestFor = (secret: string): string => createHmac('md5', secret).update('<1.2@mx.example.com>').digest('hex');
  assertFailed(await run(`nobody ${digestFor('tanstaaftanstaaf')}`), 'invalidCredentials', 'nobody');
  assertFailed(await run(`nosecret@example.com ${digestFor('')}`), 'invalidCredentials', 'nosecret@example.com');
  assertFailed(await run(`tim ${digestFor('tanstaaftanstaaf').toUpperCase()}`), 'malformed', 'tim');
  assertFailed(await run('tim'), 'malformed', null);
  assertDone(await run(`kurt ${digestFor('xipj3plmq')}`), 2, 'kurt', 'CRAM-MD5');
});

test('CRAM-MD5: an initial response is refused (RFC 4954 4: server-first mechanism)', async () => {
  assertFailed(await startSasl('CRAM-MD5', context()).step(text('tim abc')), 'initialResponseNotAllowed', null);
});

// --- SCRAM-SHA-256 (RFC 7677, RFC 5802) -----------------------------------------------------

const RFC7677 = {
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function rfc7677Context(lookups?: string[]): SaslContext {
  return context(
    {
      nonce: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
      scram: { iterations: 4096, salt: () => Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64') },
    },
    lookups,
  );
}

test('SCRAM-SHA-256: the RFC 7677 section 3 exchange, byte for byte', async () => {
  const exchange = startSasl('SCRAM-SHA-256', rfc7677Context());
  assert.equal(challengeText(await exchange.step(text(RFC7677.clientFirst))), RFC7677.serverFirst);
  assert.equal(challengeText(await exchange.step(text(RFC7677.clientFinal))), RFC7677.serverFinal);
  assertDone(await exchange.step(Buffer.alloc(0)), 3, 'user', 'SCRAM-SHA-256');
});

test('SCRAM-SHA-256: without initial response the server first sends an empty challenge', async () => {
  const exchange = startSasl('SCRAM-SHA-256', rfc7677Context());
  assert.equal(challengeText(await exchange.step(null)), '');
  assert.equal(challengeText(await exchange.step(text(RFC7677.clientFirst))), RFC7677.serverFirst);
});

test('SCRAM-SHA-256: a wrong proof fails with invalidCredentials', async () => {
  const exchange = startSasl('SCRAM-SHA-256', rfc7677Context());
  await exchange.step(text(RFC7677.clientFirst));
  const forged = RFC7677.clientFinal.replace('p=dHzb', 'p=dHzc');
  assertFailed(await exchange.step(text(forged)), 'invalidCredentials', 'user');
});

test('SCRAM-SHA-256: an unknown user gets a normal server-first message, and fails only at the proof', async () => {
  const lookups: string[] = [];
  const exchange = startSasl('SCRAM-SHA-256', rfc7677Context(lookups));
  const serverFirst = challengeText(await exchange.step(text('n,,n=ghost,r=rOprNGfwEbeRWgbNEkqO')));
  assert.equal(serverFirst, RFC7677.serverFirst);
  assertFailed(await exchange.step(text(RFC7677.clientFinal)), 'invalidCredentials', 'ghost');
  assert.deepEqual(lookups, ['ghost']);
});

test('SCRAM-SHA-256: the default salt is stable per user and differs between users', async () => {
  const ctx = context({ nonce: () => 'SERVERNONCE' });
  const saltOf = async (user: string): Promise<string> => {
    const first = challengeText(await startSasl('SCRAM-SHA-256', ctx).step(text(`n,,n=${user},r=abc`)));
    return /,s=([^,]+),/.exec(first)?.[1] ?? '';
  };
  assert.equal(await saltOf('user'), await saltOf('user'));
  assert.notEqual(await saltOf('user'), await saltOf('ghost'));
});

/** A SCRAM-SHA-256 client (RFC 5802 3), to run exchanges with other secrets and options. */
function scramClientFinal(password: string, clientFirstBare: string, serverFirst: string, gs2Header = 'n,,'): string {
  const attributes = new Map(serverFirst.split(',').map((part) => [part[0], part.slice(2)] as const));
  const salt = Buffer.from(attributes.get('s') ?? '', 'base64');
  const saltedPassword = pbkdf2Sync(Buffer.from(password.normalize('NFKC')), salt, Number(attributes.get('i')), 32, 'sha256');
  const clientKey = createHmac('sha256', saltedPassword).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const withoutProof = `c=${Buffer.from(gs2Header).toString('base64')},r=${attributes.get('r')}`;
  const signature = createHmac('sha256', storedKey).update(`${clientFirstBare},${serverFirst},${withoutProof}`).digest();
  const proof = Buffer.from(clientKey.map((byte, i) => byte ^ (signature[i] ?? 0)));
  return `${withoutProof},p=${proof.toString('base64')}`;
}

test('SCRAM-SHA-256: a non-ASCII secret is SASLprepped (U+00BD becomes "1/2" under NFKC), authzid equal to user', async () => {
  const exchange = startSasl('SCRAM-SHA-256', context({ scram: { iterations: 4096 } }));
  const gs2Header = 'y,a=Jörg@example.com,';
  const bare = 'n=jörg@example.com,r=clientnonce';
  const serverFirst = challengeText(await exchange.step(text(gs2Header + bare)));
  const final = scramClientFinal('sécret ½', bare, serverFirst, gs2Header);
  assert.match(challengeText(await exchange.step(text(final))), /^v=[A-Za-z0-9+/]{43}=$/);
  assertDone(await exchange.step(Buffer.alloc(0)), 4, 'jörg@example.com', 'SCRAM-SHA-256');
});

test('SCRAM-SHA-256: an authzid naming someone else is refused after a valid proof', async () => {
  const exchange = startSasl('SCRAM-SHA-256', context());
  const bare = 'n=user,r=nonce1';
  const serverFirst = challengeText(await exchange.step(text(`n,a=tim,${bare}`)));
  assertFailed(await exchange.step(text(scramClientFinal('pencil', bare, serverFirst, 'n,a=tim,'))), 'authzidMismatch', 'user');
});

test('SCRAM-SHA-256: syntax and protocol violations are malformed', async () => {
  const firstMessages = [
    'p=tls-unique,,n=user,r=abc', // channel binding required by the client: not supported
    'x,,n=user,r=abc',
    'n,,m=ext,n=user,r=abc', // mandatory extension
    'n,,n=us=er,r=abc', // "=" not followed by 2C or 3D
    'n,,n=user', // no nonce
    'n,,r=abc,n=user',
    'n,,n=user,r=a,b',
  ];
  for (const message of firstMessages) {
    const step = await startSasl('SCRAM-SHA-256', rfc7677Context()).step(text(message));
    assert.ok('failed' in step && step.failed === 'malformed', message);
  }
  const finals = [
    RFC7677.clientFinal.replace('c=biws', 'c=eSws'), // GS2 header "y,," differs from the one sent
    RFC7677.clientFinal.replace('hNlF$k0', 'hNlF$k1'), // nonce not the server's
    RFC7677.clientFinal.replace(',p=', ',q='),
    RFC7677.clientFinal.replace('AndVQ=', 'AndV!'),
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA',
  ];
  for (const message of finals) {
    const exchange = startSasl('SCRAM-SHA-256', rfc7677Context());
    await exchange.step(text(RFC7677.clientFirst));
    const step = await exchange.step(text(message));
    assert.ok('failed' in step && step.failed === 'malformed', message);
  }
  const exchange = startSasl('SCRAM-SHA-256', rfc7677Context());
  await exchange.step(text(RFC7677.clientFirst));
  await exchange.step(text(RFC7677.clientFinal));
  assertFailed(await exchange.step(text('not empty')), 'malformed', 'user');
});

test('SCRAM-SHA-256: "=2C" and "=3D" in user names are decoded', async () => {
  const lookups: string[] = [];
  await startSasl('SCRAM-SHA-256', rfc7677Context(lookups)).step(text('n,,n=a=2Cb=3Dc,r=abc'));
  assert.deepEqual(lookups, ['a,b=c']);
});

// --- engine -------------------------------------------------------------------------------

test('startSasl: unknown mechanisms and mechanisms the context cannot serve are unsupported', () => {
  assert.throws(() => startSasl('DIGEST-MD5', context()), UnsupportedMechanismError);
  const noSecrets: SaslContext = { accounts: context().accounts, hostname: 'mx.example.com' };
  assert.throws(() => startSasl('CRAM-MD5', noSecrets), UnsupportedMechanismError);
  assert.throws(() => startSasl('OAUTHBEARER', noSecrets), UnsupportedMechanismError);
  assert.deepEqual(availableMechanisms(noSecrets), ['PLAIN', 'LOGIN']);
  assert.deepEqual(availableMechanisms(context()), ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256']);
});

test('exchanges never throw, even when a step comes after the end', async () => {
  const exchanges: SaslExchange[] = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256'].map((name) => startSasl(name, context()));
  for (const exchange of exchanges) {
    for (let i = 0; i < 5; i++) await exchange.step(i % 2 === 0 ? text('garbage\0garbage') : null);
    const last = await exchange.step(Buffer.alloc(0));
    assert.ok('failed' in last, exchange.mechanism);
  }
});

// --- base64 and friends ---------------------------------------------------------------------

test('strict base64: RFC 4954 4 rejects characters outside the alphabet and misplaced padding', () => {
  assert.deepEqual(decodeBase64Strict('AHRpbQB0YW5zdGFhZnRhbnN0YWFm'), text('\0tim\0tanstaaftanstaaf'));
  assert.deepEqual(decodeBase64Strict(''), Buffer.alloc(0));
  assert.deepEqual(decodeBase64Strict('QQ=='), text('A'));
  for (const bad of ['=AAA', 'AAA=BBB', 'QQ', 'QQ=', 'Q===', 'QR==', 'AA AA', 'AA\r\n', 'AA-_', '*', 'QUJD=']) {
    assert.throws(() => decodeBase64Strict(bad), Base64Error, bad);
  }
  assert.deepEqual(decodeInitialResponse('='), Buffer.alloc(0));
  assert.deepEqual(decodeInitialResponse('dGlt'), text('tim'));
});

test('APOP (RFC 1939 7 example) through the shared secret', async () => {
  const ctx = context();
  const secrets: SecretProvider = { getSharedSecret: (id) => Promise.resolve(id === 1 ? 'tanstaaf' : null) };
  const timestamp = '<1896.697170952@dbc.mtview.ca.us>';
  const good = await checkApop(ctx.accounts, secrets, 'tim', timestamp, 'c4c9334bac560ecc979e58001b3e22fb');
  assert.equal(good.ok, true);
  const bad = await checkApop(ctx.accounts, secrets, 'tim', timestamp, 'c4c9334bac560ecc979e58001b3e22fc');
  assert.deepEqual(bad, { ok: false, reason: 'invalidCredentials', detail: 'wrong digest' });
  const unknown = await checkApop(ctx.accounts, secrets, 'nobody', timestamp, 'c4c9334bac560ecc979e58001b3e22fb');
  assert.equal(unknown.ok, false);
});

test('SASLprep (RFC 4013): mapping, NFKC, prohibited characters', () => {
  assert.equal(saslprep('I\u00adX'), 'IX'); // soft hyphen mapped to nothing
  assert.equal(saslprep('user'), 'user');
  assert.equal(saslprep('USER'), 'USER');
  assert.equal(saslprep('\u00aa'), 'a'); // NFKC
  assert.equal(saslprep('\u2168'), 'IX'); // NFKC
  assert.equal(saslprep('a\u00a0b'), 'a b'); // non-ASCII space to SPACE
  assert.equal(saslprep('½'), '1⁄2');
  assert.throws(() => saslprep('\u0007'), SaslprepError);
  assert.throws(() => saslprep('a\ue000'), SaslprepError);
  assert.throws(() => saslprep('a\u{10fffe}'), SaslprepError);
});
