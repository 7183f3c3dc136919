/**
 * MTA-STS (RFC 8461) on the sending side: record and policy parsing, MX pattern matching, the
 * policy cache (id changes, max_age, failed fetches), the HTTPS fetcher's limits, and delivery
 * with an injected policy fetch: enforce (only matching MX, verified TLS), testing (report only),
 * and [[outbound.policies]] taking precedence.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { generate } from 'selfsigned';
import { createLogger } from '../src/log/index.js';
import { MtaStsPolicies, httpsPolicyFetcher, mxMatchesPolicy, parsePolicyText, parseStsRecord } from '../src/queue/mta-sts.js';
import type { FetchedPolicy, PolicyFetcher } from '../src/queue/mta-sts.js';
import { createResolver } from '../src/queue/mx.js';
import { createOutboundTransport } from '../src/queue/transport-impl.js';
import { rr, startDnsServer } from './helpers/dns-server.js';
import type { Zone } from './helpers/dns-server.js';
import { makeRequest, outboundConfig, simpleMessage } from './helpers/outbound.js';
import { startTestServer } from './helpers/server.js';

const silent = createLogger({ level: 'silent' });

const policyText = (mode: string, mx: string[], maxAge = 86400): string => ['version: STSv1', `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${maxAge}`, ''].join('\r\n');

/** A fetch that serves `policies[domain]` and counts calls. */
function fakeFetch(policies: Record<string, FetchedPolicy | Error>): PolicyFetcher & { calls: string[] } {
  const calls: string[] = [];
  const fetch = (url: string): Promise<FetchedPolicy> => {
    calls.push(url);
    const domain = /^https:\/\/mta-sts\.([^/]+)\/\.well-known\/mta-sts\.txt$/.exec(url)?.[1] ?? '';
    const answer = policies[domain];
    if (answer === undefined) return Promise.reject(new Error('ENOTFOUND'));
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  };
  return Object.assign(fetch, { calls });
}

const ok = (body: string): FetchedPolicy => ({ status: 200, contentType: 'text/plain; charset=utf-8', body });

test('TXT record and policy parsing (RFC 8461 3.1, 3.2)', () => {
  assert.deepEqual(parseStsRecord([['v=STSv1; id=20260101T000000;']]), { id: '20260101T000000' });
  assert.deepEqual(parseStsRecord([['v=STSv1; ', 'id=abc']]), { id: 'abc' }, 'TXT strings are joined');
  assert.equal(parseStsRecord([['v=spf1 -all']]), null);
  assert.equal(parseStsRecord([['v=STSv1; id=a'], ['v=STSv1; id=b']]), null, 'two records: none');
  assert.equal(parseStsRecord([['v=STSv1; id=not-alnum!']]), null);

  assert.deepEqual(parsePolicyText(policyText('enforce', ['mx1.example.com', '*.Example.net.'], 604800), 'x'), {
    mode: 'enforce',
    mx: ['mx1.example.com', '*.example.net'],
    maxAge: 604800,
    id: 'x',
  });
  assert.equal(parsePolicyText('version: STSv1\nmode: enforce\nmax_age: 10\n', 'x'), null, 'enforce without mx');
  assert.equal(parsePolicyText('version: STSv2\nmode: none\nmax_age: 10\n', 'x'), null);
  assert.equal(parsePolicyText('version: STSv1\nmode: strict\nmx: a\nmax_age: 10\n', 'x'), null);
  assert.equal(parsePolicyText('version: STSv1\nmode: testing\nmx: a\nmax_age: soon\n', 'x'), null);
  assert.equal(parsePolicyText(policyText('testing', ['a'], 99_999_999), 'x')?.maxAge, 31_557_600, 'max_age capped at a year');
});

test('MX patterns: exact names, and "*." for exactly one leftmost label (RFC 8461 4.1)', () => {
  assert.ok(mxMatchesPolicy('mx1.example.com', ['mx1.example.com']));
  assert.ok(mxMatchesPolicy('MX1.Example.com.', ['mx1.example.com']));
  assert.ok(mxMatchesPolicy('a.example.net', ['*.example.net']));
  assert.ok(!mxMatchesPolicy('a.b.example.net', ['*.example.net']));
  assert.ok(!mxMatchesPolicy('example.net', ['*.example.net']));
  assert.ok(!mxMatchesPolicy('mx1.example.com.evil', ['mx1.example.com']));
});

test('the policy cache: fetched once per id, again when the id changes, kept when a refetch fails or the record goes, dropped after max_age', async (t) => {
  const txt = (id: string) => [rr('TXT', '_mta-sts.cached.example', [`v=STSv1; id=${id}`])];
  const zone: Zone = { '_mta-sts.cached.example': txt('one') }; // read at each query: edits take effect
  const resolver = createResolver({ servers: [await startDnsServer(t, zone)], timeoutMs: 300, tries: 1 });
  let now = 1_000_000;
  const policies: Record<string, FetchedPolicy | Error> = { 'cached.example': ok(policyText('enforce', ['mx.cached.example'], 100)) };
  const fetch = fakeFetch(policies);
  const sts = new MtaStsPolicies({ resolver, fetch, logger: silent, now: () => now });
  assert.equal((await sts.policyFor('cached.example'))?.mode, 'enforce');
  assert.equal((await sts.policyFor('Cached.Example'))?.id, 'one');
  assert.equal(fetch.calls.length, 1, 'same id: served from the cache');

  zone['_mta-sts.cached.example'] = txt('two');
  policies['cached.example'] = ok(policyText('testing', ['mx.cached.example'], 100));
  assert.equal((await sts.policyFor('cached.example'))?.mode, 'testing', 'a new id: fetched again');
  assert.equal(fetch.calls.length, 2);

  zone['_mta-sts.cached.example'] = txt('three');
  policies['cached.example'] = new Error('connection refused');
  assert.equal((await sts.policyFor('cached.example'))?.id, 'two', 'RFC 8461 5.1: a failed fetch keeps the unexpired cached policy');
  assert.equal(fetch.calls.length, 3);

  delete zone['_mta-sts.cached.example'];
  assert.equal((await sts.policyFor('cached.example'))?.id, 'two', 'the record gone: the cached policy still applies until it expires');
  now += 101_000;
  assert.equal(await sts.policyFor('cached.example'), null, 'expired after max_age');

  zone['_mta-sts.cached.example'] = txt('four');
  const fresh = new MtaStsPolicies({ resolver, fetch, logger: silent, now: () => now });
  assert.equal(await fresh.policyFor('cached.example'), null, 'nothing cached and the fetch fails: deliver as without MTA-STS');

  policies['cached.example'] = ok(policyText('enforce', ['mx.cached.example'], 100));
  const before = Number(fetch.calls.length); // (asserts above narrowed the literal type)
  const together = await Promise.all([fresh.policyFor('cached.example'), fresh.policyFor('cached.example'), fresh.policyFor('CACHED.example')]);
  assert.deepEqual(together.map((policy) => policy?.id), ['four', 'four', 'four']);
  assert.equal(fetch.calls.length, before + 1, 'concurrent deliveries share one fetch');
});

test('policy fetch answers other than 200 text/plain are no policy', async (t) => {
  const zone: Zone = {
    '_mta-sts.redirect.example': [rr('TXT', '_mta-sts.redirect.example', ['v=STSv1; id=1'])],
    '_mta-sts.html.example': [rr('TXT', '_mta-sts.html.example', ['v=STSv1; id=1'])],
  };
  const fetch = fakeFetch({
    'redirect.example': { status: 302, contentType: 'text/plain', body: policyText('enforce', ['a']) },
    'html.example': { status: 200, contentType: 'text/html', body: policyText('enforce', ['a']) },
  });
  const sts = new MtaStsPolicies({ resolver: createResolver({ servers: [await startDnsServer(t, zone)], timeoutMs: 300, tries: 1 }), fetch, logger: silent });
  assert.equal(await sts.policyFor('redirect.example'), null);
  assert.equal(await sts.policyFor('html.example'), null);
  assert.equal(await sts.policyFor('nosts.example'), null);
  assert.equal(fetch.calls.length, 2, 'no fetch without a TXT record');
});

test('the HTTPS fetcher: verified certificate, redirects not followed, size limit', async (t) => {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] }],
  });
  const server = createServer({ cert: pems.cert, key: pems.private }, (req, res) => {
    if (req.url === '/redirect') {
      res.writeHead(301, { location: '/.well-known/mta-sts.txt' }).end();
      return;
    }
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('x'.repeat(200_000));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(policyText('enforce', ['mx.example']));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const limits = { timeoutMs: 3000, maxBytes: 65536 };
  const trusted = httpsPolicyFetcher(pems.cert);
  const fetched = await trusted(`https://localhost:${port}/.well-known/mta-sts.txt`, limits);
  assert.equal(fetched.status, 200);
  assert.equal(parsePolicyText(fetched.body, '1')?.mode, 'enforce');
  assert.equal((await trusted(`https://localhost:${port}/redirect`, limits)).status, 301, 'the redirect is returned, not followed');
  await assert.rejects(trusted(`https://localhost:${port}/big`, limits), /larger than 65536/);
  await assert.rejects(httpsPolicyFetcher()(`https://localhost:${port}/.well-known/mta-sts.txt`, limits), /self[- ]signed|certificate/i, 'an untrusted certificate is refused');
});

/** Our server as the MX of test.example (mx.test.example → 127.0.0.1, its certificate names it). */
async function mxSetup(t: TestContext, policy: string | null, extraToml = '') {
  const logLines: Array<Record<string, unknown>> = [];
  const server = await startTestServer(t, { toml: '[mail_auth]\nverify = false' });
  await server.addDomain('test.example');
  await server.addUser('alice@test.example', 'alice-secret-1');
  const zone: Zone = {
    'test.example': [rr('MX', 'test.example', { preference: 10, exchange: 'mx.test.example' })],
    'mx.test.example': [rr('A', 'mx.test.example', '127.0.0.1')],
    ...(policy === null ? {} : { '_mta-sts.test.example': [rr('TXT', '_mta-sts.test.example', ['v=STSv1; id=20261126'])] }),
  };
  const dns = await startDnsServer(t, zone);
  const fetch = fakeFetch(policy === null ? {} : { 'test.example': ok(policy) });
  const { config } = outboundConfig(t, `[outbound]\nresolvers = ["${dns}"]\nconnect_timeout = "2s"\ncommand_timeout = "2s"\n${extraToml}`);
  const ca = readFileSync(join(server.dir, 'test.crt'));
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) } });
  const deliver = (withCa = true) =>
    createOutboundTransport(config, logger, { mxPort: server.port('smtp'), dnsTimeoutMs: 500, mtaStsFetch: fetch, ca: withCa ? ca : undefined }).deliver(
      'test.example',
      makeRequest(['alice@test.example'], simpleMessage(['mta-sts'])),
    );
  return { server, deliver, fetch, logLines };
}

test('enforce: a matching MX with a verified certificate delivers over TLS', async (t) => {
  const { server, deliver, fetch } = await mxSetup(t, policyText('enforce', ['mx.test.example']));
  const result = await deliver();
  assert.deepEqual(result.recipients.map((r) => r.status), ['delivered']);
  assert.equal(result.tls, true);
  assert.equal(result.remoteHost, 'mx.test.example');
  assert.equal(fetch.calls.length, 1);
  assert.equal((await server.messageTexts('alice@test.example')).length, 1);
});

test('enforce: an MX outside the policy is not contacted, an unverifiable certificate defers', async (t) => {
  const other = await mxSetup(t, policyText('enforce', ['*.elsewhere.example']));
  const skipped = await other.deliver();
  assert.deepEqual(skipped.recipients.map((r) => `${r.status} ${r.enhanced}`), ['deferred 4.7.5']);
  assert.match(skipped.recipients[0]?.diagnostic ?? '', /matches its MTA-STS policy/);
  assert.equal((await other.server.messageTexts('alice@test.example')).length, 0);

  const untrusted = await mxSetup(t, policyText('enforce', ['mx.test.example']));
  const refused = await untrusted.deliver(false);
  assert.deepEqual(refused.recipients.map((r) => `${r.status} ${r.enhanced}`), ['deferred 4.7.5']);
  assert.match(refused.recipients[0]?.diagnostic ?? '', /not verified/);
  assert.equal((await untrusted.server.messageTexts('alice@test.example')).length, 0);
});

test('testing mode only reports: delivered (opportunistic TLS) with a warning for the MX outside the policy', async (t) => {
  const { deliver, logLines } = await mxSetup(t, policyText('testing', ['mx.elsewhere.example']));
  const result = await deliver(false);
  assert.deepEqual(result.recipients.map((r) => r.status), ['delivered']);
  assert.equal(result.tls, true);
  assert.ok(logLines.some((line) => String(line.msg).includes('MTA-STS (testing)') && line.mx === 'mx.test.example'));
});

test('[[outbound.policies]] for the domain takes precedence over MTA-STS; mta_sts = false skips the lookup', async (t) => {
  const policy = policyText('enforce', ['*.elsewhere.example']);
  const configured = await mxSetup(t, policy, '[[outbound.policies]]\ndomain = "test.example"\ntls = "none"');
  const plain = await configured.deliver();
  assert.deepEqual(plain.recipients.map((r) => r.status), ['delivered']);
  assert.equal(plain.tls, false, 'tls = "none" from the configured policy');
  assert.equal(configured.fetch.calls.length, 0);

  const off = await mxSetup(t, policy, 'mta_sts = false');
  const result = await off.deliver(false);
  assert.deepEqual(result.recipients.map((r) => r.status), ['delivered']);
  assert.equal(off.fetch.calls.length, 0);
});
