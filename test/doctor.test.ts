/**
 * `mailhaven doctor`: each check on its own (configuration, certificate dates and names,
 * reverse DNS), then a full run against a live server and a loopback DNS server, and the
 * command's output and exit status.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { loadConfig } from '../src/config/index.js';
import type { Config } from '../src/config/index.js';
import { formatFindings, runDoctor } from '../src/doctor/index.js';
import type { Finding } from '../src/doctor/index.js';
import { reverseDnsFindings, isPrivate } from '../src/doctor/dns-checks.js';
import { certificateFindings, configFindings } from '../src/doctor/local-checks.js';
import { nodeDnsLookup } from '../src/http/index.js';
import type { DnsLookup } from '../src/http/index.js';
import { NO_LISTENERS, createTempInstance } from './helpers/cli.js';
import { rr, startDnsServer } from './helpers/dns-server.js';
import { startTestServer } from './helpers/server.js';

const HOST = 'mx.test.example';

function summary(findings: readonly Finding[]): string[] {
  return findings.map((finding) => `${finding.area} ${finding.status} ${finding.message}`);
}

function configWith(t: TestContext, toml: string): Config {
  const instance = createTempInstance(t, toml);
  return loadConfig({ configPath: instance.configPath, env: {}, cwd: instance.dir, uid: 1000 });
}

test('configuration: host name, port 25, submission, a public http listener', (t) => {
  const config = configWith(t, '');
  assert.deepEqual(summary(configFindings({ ...config, hostname: 'localhost' })).slice(0, 1), ['config fail hostname "localhost" is not a fully qualified domain name']);
  const findings = configFindings({
    ...config,
    listen: { ...config.listen, smtp: [{ host: '0.0.0.0', port: 25 }], submissions: [{ host: '0.0.0.0', port: 465 }], http: [{ host: '0.0.0.0', port: 8025 }] },
  });
  assert.deepEqual(summary(findings), [
    'config ok hostname mail.example.test',
    'config ok smtp listens on port 25',
    'config warn the http listener is on 0.0.0.0: /api, /admin and /metrics are reachable from the network',
  ]);
  assert.deepEqual(summary(configFindings(config)).slice(1), [
    'config warn no smtp listener on port 25: other servers deliver only to port 25',
    'config warn no submission listener: mail clients cannot send',
  ]);
});

test('certificate: valid, expiring, expired, wrong name, self-signed, missing', async (t) => {
  const config = configWith(t, '');
  const write = async (name: string, host: string, notBefore: Date, notAfter: Date): Promise<string> => {
    const pems = await generate([{ name: 'commonName', value: host }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate: notBefore,
      notAfterDate: notAfter,
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: host }] }],
    });
    const path = join(config.dataDir, `${name}.pem`);
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(path, pems.cert);
    return path;
  };
  const now = Date.now();
  const day = 86_400_000;
  const check = async (path: string | null): Promise<string[]> => summary(await certificateFindings({ ...config, tls: { cert: path, key: path } }, now));
  const good = await write('good', 'mail.example.test', new Date(now - day), new Date(now + 90 * day));
  assert.deepEqual((await check(good)).slice(0, 2), [`tls ok certificate valid until ${new Date(now + 90 * day).toISOString().slice(0, 19)}.000Z (89 days)`, 'tls ok the certificate names mail.example.test']);
  assert.match((await check(good))[2] ?? '', /^tls warn the certificate is self-signed/);
  const soon = await write('soon', 'mail.example.test', new Date(now - day), new Date(now + 10 * day + 3_600_000));
  assert.match((await check(soon))[0] ?? '', /^tls warn .*soon\.pem expires in 10 days/);
  const expired = await write('expired', 'mail.example.test', new Date(now - 10 * day), new Date(now - day));
  assert.match((await check(expired))[0] ?? '', /^tls fail .*expired\.pem expired on /);
  const wrong = await write('wrong', 'other.example', new Date(now - day), new Date(now + 90 * day));
  assert.equal((await check(wrong))[1], 'tls fail the certificate does not name mail.example.test (DNS:other.example)');
  assert.deepEqual(await check(join(config.dataDir, 'none.pem')), [`tls fail ${join(config.dataDir, 'none.pem')}: file not found`]);
  assert.deepEqual(await check(null), ['tls warn no certificate yet: the server generates a self-signed one at its first start']);
});

test('reverse DNS: forward-confirmed, missing PTR, wrong PTR, private address, no address', async () => {
  const lookup = (addresses: string[], ptr: Record<string, string[]>): DnsLookup => ({
    mx: () => Promise.resolve([]),
    txt: () => Promise.resolve([]),
    srv: () => Promise.resolve([]),
    cname: () => Promise.resolve([]),
    addresses: () => Promise.resolve(addresses),
    reverse: (ip) => Promise.resolve(ptr[ip] ?? []),
  });
  const findings = await reverseDnsFindings(HOST, lookup(['203.0.113.5', '198.51.100.7', '2001:db8::25', '10.0.0.5'], { '203.0.113.5': ['MX.test.example'], '2001:db8::25': ['vps123.provider.example'] }));
  assert.deepEqual(summary(findings), [
    'rdns ok 203.0.113.5 PTR mx.test.example',
    'rdns fail 198.51.100.7 has no PTR record',
    'rdns fail 2001:db8::25 PTR vps123.provider.example, not mx.test.example',
    'rdns warn mx.test.example resolves to 10.0.0.5, a private address other servers cannot reach',
  ]);
  assert.deepEqual(summary(await reverseDnsFindings(HOST, lookup([], {}))), ['rdns fail mx.test.example has no A or AAAA record']);
  assert.deepEqual(['100.64.0.1', '172.16.0.1', '192.168.1.1', 'fd00::1', '8.8.8.8', '2001:4860::8888'].map(isPrivate), [true, true, true, true, false, false]);
});

test('a full run against a live server and a DNS server: listeners, relay refused, DNS, reverse DNS', async (t) => {
  const server = await startTestServer(t, { listeners: ['smtp', 'submissions', 'imap', 'http'] });
  await server.addDomain('example.org');
  const resolver = await startDnsServer(t, {
    'example.org': [rr('MX', 'example.org', { preference: 10, exchange: HOST }), rr('TXT', 'example.org', 'v=spf1 mx -all')],
    [HOST]: [rr('A', HOST, '203.0.113.5')],
    '5.113.0.203.in-addr.arpa': [rr('PTR', '5.113.0.203.in-addr.arpa', HOST)],
  });
  const config = { ...server.config, listen: server.server.addresses() };
  const findings = await runDoctor({ config, store: server.store, dns: nodeDnsLookup({ servers: [resolver], timeoutMs: 1000 }), offline: false, timeoutMs: 3000 });
  const lines = summary(findings);
  for (const listener of ['smtp', 'submissions', 'imap', 'http']) {
    assert.ok(lines.some((line) => new RegExp(`^listeners ok ${listener} 127\\.0\\.0\\.1:\\d+ answers$`).test(line)), `${listener}: ${lines.join('\n')}`);
  }
  assert.ok(lines.some((line) => /^relay ok smtp 127\.0\.0\.1:\d+ refuses to relay for unauthenticated clients \(554 5\.7\.1/.test(line)), lines.join('\n'));
  assert.ok(lines.includes(`dns ok example.org MX 10 ${HOST}.`));
  assert.ok(lines.includes('dns ok example.org TXT v=spf1 mx -all'));
  assert.ok(lines.includes('dns fail _dmarc.example.org TXT is missing (DMARC: quarantine mail that fails SPF and DKIM alignment)'));
  assert.ok(lines.includes(`rdns ok 203.0.113.5 PTR ${HOST}`));
  const dmarc = findings.find((finding) => finding.message.startsWith('_dmarc.example.org'));
  assert.equal(dmarc?.fix, 'publish: _dmarc.example.org. 3600 IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org"');
  // The report: problems only, each with its fix, and the counts.
  const report = formatFindings(findings, false);
  assert.match(report, /^dns {7}FAIL {2}_dmarc\.example\.org TXT is missing/m);
  assert.match(report, /^ {16}→ publish: _dmarc\.example\.org\. 3600 IN TXT/m);
  assert.match(report, /\n\d+ to fix, \d+ to look at, \d+ fine\n$/);
  assert.doesNotMatch(report, / ok {3}/);
});

test('mailhaven doctor: the report on stdout, exit 1 and a summary line when something must be fixed', async (t) => {
  const fine = createTempInstance(t);
  const offline = await fine.run(['doctor', '--offline']);
  assert.equal(offline.code, 0, offline.stderr);
  assert.equal(offline.stderr, '');
  assert.equal(
    offline.stdout,
    [
      'config    warn  no smtp listener on port 25: other servers deliver only to port 25',
      '                → listen.smtp = ["0.0.0.0:25"] (needs root or CAP_NET_BIND_SERVICE; see docs/deploy.md)',
      'config    warn  no submission listener: mail clients cannot send',
      '                → listen.submissions = ["0.0.0.0:465"] and/or listen.submission = ["0.0.0.0:587"]',
      'tls       warn  no certificate yet: the server generates a self-signed one at its first start',
      "                → configure tls.cert and tls.key with a certificate from a CA (Let's Encrypt) for clients to trust it",
      '0 to fix, 3 to look at, 2 fine',
      '',
    ].join('\n'),
  );
  const json = JSON.parse((await fine.run(['doctor', '--offline', '--json'])).stdout) as Finding[];
  assert.equal(json.length, 5);
  assert.deepEqual(json[0], { area: 'config', status: 'ok', message: 'hostname mail.example.test' });

  const broken = createTempInstance(t);
  writeFileSync(broken.configPath, `data_dir = "data"\nhostname = "localhost"\n${NO_LISTENERS}`);
  const result = await broken.run(['doctor', '--offline']);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, 'mailhaven: 1 problem to fix\n');
  assert.match(result.stdout, /^config {4}FAIL {2}hostname "localhost" is not a fully qualified domain name\n/);
  assert.equal((await broken.run(['doctor', '--timeout', 'soon'])).code, 2);
});
