/**
 * The DNS records view: what each domain should publish (exact zone lines), and the live check
 * against a tiny authoritative DNS server on loopback (dns-packet over UDP) that answers from a
 * zone written in the test: ok, missing, different and failed lookups.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Answer } from 'dns-packet';
import { TokenOperations } from '../src/http/tokens.js';
import { clientSettings, domainDnsRecords, mtaStsId } from '../src/http/index.js';
import type { HttpHandlerOptions, RecordCheck } from '../src/http/index.js';
import { loadConfig } from '../src/config/index.js';
import { startDnsServer } from './helpers/dns-server.js';
import { apiRequest } from './helpers/http.js';
import { startTestServer } from './helpers/server.js';

const HOST = 'mx.test.example';
const CLIENT_PORTS = { imaps: 993, imap: 143, submissions: 465, submission: 587 };

const dnsServer = startDnsServer;

async function dnsApiServer(t: TestContext, http: HttpHandlerOptions) {
  const server = await startTestServer(t, { listeners: ['http'], protocols: { http: { client: { ports: CLIENT_PORTS }, ...http } } });
  await server.addDomain('example.org');
  const { token } = await new TokenOperations(server.store).create('dns-test');
  return { server, get: (path: string) => apiRequest(server.port('http'), token, 'GET', path) };
}

const EXPECTED_ZONE = [
  'example.org. 3600 IN MX 10 mx.test.example.',
  'example.org. 3600 IN TXT "v=spf1 mx -all"',
  '_dmarc.example.org. 3600 IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org"',
  '_imaps._tcp.example.org. 3600 IN SRV 0 1 993 mx.test.example.',
  '_imap._tcp.example.org. 3600 IN SRV 10 1 143 mx.test.example.',
  '_submissions._tcp.example.org. 3600 IN SRV 0 1 465 mx.test.example.',
  '_submission._tcp.example.org. 3600 IN SRV 10 1 587 mx.test.example.',
  'autoconfig.example.org. 3600 IN CNAME mx.test.example.',
  'autodiscover.example.org. 3600 IN CNAME mx.test.example.',
  '_autodiscover._tcp.example.org. 3600 IN SRV 0 1 443 mx.test.example.',
];

test('records to publish: MX, SPF, DMARC, SRV per RFC 6186/8314, autoconfig names; DKIM and MTA-STS not configured', async (t) => {
  const { get } = await dnsApiServer(t, {});
  const response = await get('/api/domains/example.org/dns');
  assert.equal(response.status, 200);
  const view = response.json as { domain: string; hostname: string; records: Array<{ zone: string; purpose: string }>; notConfigured: unknown };
  assert.equal(view.domain, 'example.org');
  assert.equal(view.hostname, HOST);
  assert.deepEqual(view.records.map((record) => record.zone), EXPECTED_ZONE);
  assert.deepEqual(view.notConfigured, [
    { purpose: 'dkim', reason: 'no DKIM key for this domain yet (mailhaven dkim generate example.org)' },
    { purpose: 'mta-sts', reason: 'no MTA-STS policy configured' },
  ]);
  const unknown = await get('/api/domains/elsewhere.test/dns');
  assert.deepEqual([unknown.status, unknown.json], [404, { error: { code: 'notFound', message: 'no such domain: elsewhere.test' } }]);
});

test('records with MTA-STS and a DKIM key; long TXT values are split into 255-octet strings', () => {
  const config = loadConfig({ env: {}, cwd: '/', uid: 1000, configPath: undefined });
  const settings = clientSettings(config, { hostname: 'mail.example.org', ports: { imaps: 993 } });
  const policy = { mode: 'enforce' as const, mx: ['mail.example.org'], maxAgeSeconds: 604800 };
  const key = `v=DKIM1; k=rsa; p=${'A'.repeat(300)}`;
  const view = domainDnsRecords('example.org', settings, { mtaSts: policy, dkim: { selector: 's1', record: key } });
  const zones = view.records.map((record) => record.zone);
  assert.ok(zones.includes(`s1._domainkey.example.org. 3600 IN TXT "${key.slice(0, 255)}" "${key.slice(255)}"`));
  assert.ok(zones.includes(`_mta-sts.example.org. 3600 IN TXT "v=STSv1; id=${mtaStsId(policy)}"`));
  assert.ok(zones.includes('mta-sts.example.org. 3600 IN CNAME mail.example.org.'));
  assert.match(mtaStsId(policy), /^[a-f0-9]{20}$/);
  assert.notEqual(mtaStsId(policy), mtaStsId({ ...policy, mode: 'testing' }));
  assert.deepEqual(view.notConfigured, []);
});

test('live check against a DNS server: ok, missing, different, and A records instead of a CNAME', async (t) => {
  const rr = (type: string, name: string, data: unknown): Answer => ({ type, name, ttl: 60, class: 'IN', data }) as Answer;
  const policy = { mode: 'enforce' as const };
  const resolverAddress = await dnsServer(t, {
    'example.org': [
      rr('MX', 'example.org', { preference: 5, exchange: 'MX.test.example' }),
      rr('TXT', 'example.org', ['v=spf1 mx ', '-all']),
      rr('TXT', 'example.org', 'google-site-verification=abc'),
    ],
    '_dmarc.example.org': [rr('TXT', '_dmarc.example.org', 'v=DMARC1; p=none')],
    '_imaps._tcp.example.org': [rr('SRV', '_imaps._tcp.example.org', { priority: 0, weight: 1, port: 993, target: 'mx.test.example' })],
    '_imap._tcp.example.org': [rr('SRV', '_imap._tcp.example.org', { priority: 0, weight: 0, port: 1143, target: 'mx.test.example' })],
    '_submissions._tcp.example.org': [],
    'autoconfig.example.org': [rr('CNAME', 'autoconfig.example.org', 'mx.test.example')],
    'autodiscover.example.org': [rr('A', 'autodiscover.example.org', '192.0.2.25')],
    'mx.test.example': [rr('A', 'mx.test.example', '192.0.2.25')],
    '_mta-sts.example.org': [rr('TXT', '_mta-sts.example.org', `v=STSv1; id=${mtaStsId({ mode: 'enforce', mx: [HOST], maxAgeSeconds: 604800 })};`)],
  });
  const { get } = await dnsApiServer(t, { mtaSts: policy, dns: { servers: [resolverAddress], timeoutMs: 2000 } });
  const response = await get('/api/domains/example.org/dns?check=1');
  assert.equal(response.status, 200);
  const { checks } = response.json as { checks: RecordCheck[] };
  const summary = checks.map((check) => [check.name, check.type, check.status, check.found, check.detail ?? null]);
  assert.deepEqual(summary, [
    ['example.org', 'MX', 'ok', ['5 MX.test.example.'], null],
    ['example.org', 'TXT', 'ok', ['v=spf1 mx -all'], null],
    ['_dmarc.example.org', 'TXT', 'different', ['v=DMARC1; p=none'], 'published, with other content'],
    ['_mta-sts.example.org', 'TXT', 'ok', [`v=STSv1; id=${mtaStsId({ mode: 'enforce', mx: [HOST], maxAgeSeconds: 604800 })};`], null],
    ['mta-sts.example.org', 'CNAME', 'missing', [], null],
    ['_imaps._tcp.example.org', 'SRV', 'ok', ['0 1 993 mx.test.example.'], null],
    ['_imap._tcp.example.org', 'SRV', 'different', ['0 0 1143 mx.test.example.'], 'no record points to mx.test.example port 143'],
    ['_submissions._tcp.example.org', 'SRV', 'missing', [], null],
    ['_submission._tcp.example.org', 'SRV', 'missing', [], null],
    ['autoconfig.example.org', 'CNAME', 'ok', ['mx.test.example.'], null],
    ['autodiscover.example.org', 'CNAME', 'ok', ['192.0.2.25'], 'address records instead of a CNAME, same addresses as mx.test.example'],
    ['_autodiscover._tcp.example.org', 'SRV', 'missing', [], null],
  ]);
});

test('live check: two SPF records are never ok (RFC 7208 4.5)', async (t) => {
  const rr = (data: string): Answer => ({ type: 'TXT', name: 'example.org', ttl: 60, class: 'IN', data });
  const resolverAddress = await dnsServer(t, { 'example.org': [rr('v=spf1 mx -all'), rr('v=spf1 a -all')] });
  const { get } = await dnsApiServer(t, { dns: { servers: [resolverAddress] } });
  const { checks } = (await get('/api/domains/example.org/dns?check=1')).json as { checks: RecordCheck[] };
  const spf = checks.find((check) => check.type === 'TXT' && check.name === 'example.org');
  assert.deepEqual(spf, {
    name: 'example.org',
    type: 'TXT',
    expected: 'v=spf1 mx -all',
    found: ['v=spf1 mx -all', 'v=spf1 a -all'],
    status: 'different',
    detail: 'more than one SPF record (RFC 7208 4.5: receivers treat that as an error)',
  });
});

test('live check: a resolver that does not answer gives "error" for every record, quickly', async (t) => {
  const resolverAddress = await dnsServer(t, {}, true);
  const { get } = await dnsApiServer(t, { dns: { servers: [resolverAddress], timeoutMs: 150 } });
  const started = Date.now();
  const response = await get('/api/domains/example.org/dns?check=1');
  assert.ok(Date.now() - started < 5000);
  const { checks } = response.json as { checks: RecordCheck[] };
  assert.equal(checks.length, EXPECTED_ZONE.length);
  for (const check of checks) assert.deepEqual([check.status, check.found, check.detail], ['error', [], 'lookup failed: ETIMEOUT']);
});
