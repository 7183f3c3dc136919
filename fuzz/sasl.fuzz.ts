/**
 * The SASL engine (src/auth): every mechanism (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256, XOAUTH2,
 * OAUTHBEARER) fed arbitrary initial responses and follow-up responses, plus the strict base64
 * decoders the protocols put in front of it.
 *
 * Properties: step() never rejects and always returns one of the three documented shapes;
 * no failure comes from an internal error (the mechanisms' `guard` would hide a crash as
 * "temporary": we look at its detail); challenges stay small; the exchange ends within a few
 * steps; base64 input decodes or fails with Base64Error only.
 * @module
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Base64Error, decodeBase64Strict, decodeInitialResponse } from '../src/auth/base64.js';
import { JwtBearerVerifier } from '../src/auth/oauth.js';
import { hashPassword } from '../src/auth/password.js';
import { startSasl } from '../src/auth/sasl.js';
import type { AuthAccount, SaslContext, SaslMechanismName, SaslStep } from '../src/auth/types.js';
import { ImapParseError, decodeSaslResponse, parseAuthResponseLine } from '../src/wire/imap/index.js';
import { expectErrorType, fuzzParameters, testTimeoutMs, withinTimeAsync } from './support.js';

const ISSUER = 'https://issuer.fuzz.test';
const MECHANISMS: SaslMechanismName[] = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256', 'XOAUTH2', 'OAUTHBEARER'];

async function fuzzContext(): Promise<{ context: SaslContext; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-fuzz-sasl-'));
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  const tokens = await JwtBearerVerifier.create([{ issuer: ISSUER, audience: 'mailhaven', jwksFile, jwksUrl: null }]);
  const hash = await hashPassword('correct horse');
  const accounts: AuthAccount[] = [{ id: 1, address: 'tim@example.test', passwordHash: hash }];
  const context: SaslContext = {
    accounts: { getAccount: (address) => Promise.resolve(accounts.find((a) => a.address === address) ?? null) },
    secrets: { getSharedSecret: (id) => Promise.resolve(id === 1 ? 'shared secret' : null) },
    tokens,
    hostname: 'mx.fuzz.test',
    // Few iterations: the fuzzer is after parsing bugs, not key stretching.
    scram: { iterations: 16 },
  };
  return { context, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const b64url = (value: string): string => Buffer.from(value, 'utf8').toString('base64url');

/** Client messages shaped like each mechanism's syntax, with arbitrary holes in them. */
const clientMessage: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.array(fc.constantFrom('\0', 'tim@example.test', 'correct horse', 'n,,', 'y,,', 'p=tls-unique,,', 'n,a=tim@example.test,', 'n=tim@example.test', ',r=', 'abc', ',c=biws', ',p=', 'AAAA', '=2C', '=3D', '=', 'user=', '\x01', 'auth=Bearer ', 'host=x', 'port=1', 'm=ext', ',', 'é', '\xff'), { maxLength: 12 }).map((parts) => Buffer.from(parts.join(''), 'latin1')),
  fc.tuple(fc.json(), fc.constantFrom('n,,', 'n,a=tim@example.test,', 'user=tim@example.test')).map(([payload, prefix]) => {
    const token = `${b64url('{"alg":"ES256","kid":"k1"}')}.${b64url(payload.replace(/^/, `{"iss":"${ISSUER}","x":`) + '}')}.c2ln`;
    return Buffer.from(prefix.startsWith('user=') ? `${prefix}\x01auth=Bearer ${token}\x01\x01` : `${prefix}\x01auth=Bearer ${token}\x01\x01`, 'latin1');
  }),
);

function checkShape(step: SaslStep, mechanism: string): void {
  if ('challenge' in step) {
    assert.ok(Buffer.isBuffer(step.challenge) && step.challenge.length <= 4096, `${mechanism}: challenge of ${step.challenge.length} octets`);
  } else if ('done' in step) {
    assert.equal(step.done, true);
  } else {
    assert.ok(['malformed', 'initialResponseNotAllowed', 'authzidMismatch', 'invalidCredentials', 'temporary'].includes(step.failed), `${mechanism}: unknown failure ${step.failed}`);
    assert.ok(!(step.detail ?? '').startsWith('internal error'), `${mechanism}: an internal error was hidden as a failure: ${step.detail}`);
  }
}

test('SASL mechanisms: arbitrary client messages give a documented step, never an exception', { timeout: testTimeoutMs() }, async () => {
  const { context, cleanup } = await fuzzContext();
  try {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...MECHANISMS), fc.option(clientMessage, { nil: null }), fc.array(clientMessage, { maxLength: 4 }), async (mechanism, initial, responses) => {
        const exchange = startSasl(mechanism, context);
        let step = await withinTimeAsync(2000, `${mechanism} first step`, () => exchange.step(initial));
        checkShape(step, mechanism);
        for (const response of responses) {
          if (!('challenge' in step)) break;
          step = await withinTimeAsync(2000, `${mechanism} step`, () => exchange.step(response));
          checkShape(step, mechanism);
        }
        // Once finished, an exchange only ever answers "malformed".
        if (!('challenge' in step)) {
          const after = await exchange.step(Buffer.from('more'));
          assert.ok('failed' in after, `${mechanism}: a finished exchange accepted more input`);
        }
      }),
      fuzzParameters(0.6),
    );
  } finally {
    cleanup();
  }
});

test('SASL base64 framing: strict decoding or the documented error, and canonical round trips', { timeout: testTimeoutMs() }, () => {
  const text = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b).toString('base64')),
    fc.array(fc.constantFrom('A', 'Q', '=', '==', '+', '/', '-', '_', ' ', '\r', 'AA', 'AAA', 'AAAA', '*'), { maxLength: 30 }).map((p) => p.join('')),
  );
  fc.assert(
    fc.property(text, (value) => {
      try {
        const decoded = decodeBase64Strict(value);
        assert.equal(decoded.toString('base64'), value, 'only the canonical form is accepted');
      } catch (error) {
        expectErrorType(error, [Base64Error], 'decodeBase64Strict');
      }
      try {
        decodeInitialResponse(value);
      } catch (error) {
        expectErrorType(error, [Base64Error], 'decodeInitialResponse');
      }
      for (const decode of [() => decodeSaslResponse(value), () => parseAuthResponseLine(Buffer.from(value, 'latin1'))]) {
        try {
          decode();
        } catch (error) {
          expectErrorType(error, [ImapParseError], 'IMAP SASL framing');
        }
      }
    }),
    fuzzParameters(0.3),
  );
});
