/**
 * The web admin page end to end in headless Chromium (Debian's chromium, driven by
 * playwright-core): a refused token, log in, add a domain and users, see the DNS records and
 * their live check, see the (empty) queue, with no script errors or CSP violations.
 *
 * Chromium must be installed (`apt-get install chromium`; .ci/run does it): without it this test
 * fails, unless MAILHAVEN_SKIP_BROWSER=1 is set to skip it on purpose. MAILHAVEN_CHROMIUM=PATH
 * uses another Chromium binary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Page } from 'playwright-core';
import { verifyPassword } from '../src/auth/password.js';
import type { DnsLookup } from '../src/http/index.js';
import { TokenOperations } from '../src/http/tokens.js';
import { startTestServer } from './helpers/server.js';

/** Debian's chromium; MAILHAVEN_CHROMIUM names another binary. */
const CHROMIUM = process.env.MAILHAVEN_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** DNS as the live check sees it in this test: the MX is published, nothing else. */
const fakeDns: DnsLookup = {
  mx: (name) => Promise.resolve(name === 'example.org' ? ['10 mx.test.example.'] : []),
  txt: () => Promise.resolve([]),
  srv: () => Promise.resolve([]),
  cname: () => Promise.resolve([]),
  addresses: () => Promise.resolve([]),
  reverse: () => Promise.resolve([]),
};

async function rowTexts(page: Page, table: string): Promise<string[][]> {
  const rows = await page.locator(`${table} tbody tr`).all();
  return Promise.all(rows.map(async (row) => (await row.locator('td').allTextContents()).map((text) => text.trim())));
}

test('web admin in Chromium: log in, add a domain and users, DNS records, queue', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.MAILHAVEN_SKIP_BROWSER === '1') {
      t.skip('MAILHAVEN_SKIP_BROWSER=1 and chromium is not installed');
      return;
    }
    assert.fail(`${CHROMIUM} is missing: apt-get install chromium (or set MAILHAVEN_SKIP_BROWSER=1 to skip this test)`);
  }
  const server = await startTestServer(t, {
    listeners: ['http'],
    protocols: { http: { client: { ports: { imaps: 993, submissions: 465 } }, dnsLookup: () => fakeDns } },
  });
  const { token } = await new TokenOperations(server.store).create('e2e');
  const profile = mkdtempSync(join(tmpdir(), 'mailhaven-chromium-'));
  t.after(() => rmSync(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  // Chromium logs refused API calls as failed loads: the test provokes exactly these two.
  const expectedFailures = ['401 /api/whoami', '400 /api/users'];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const status = /status of (\d+)/.exec(message.text())?.[1];
    const failure = `${status ?? '?'} ${new URL(message.location().url || 'http://x/').pathname}`;
    if (status !== undefined && expectedFailures.includes(failure)) return;
    problems.push(`console: ${message.text()} (${failure})`);
  });

  await page.goto(`http://127.0.0.1:${server.port('http')}/`);
  assert.match(page.url(), /\/admin\/$/);
  assert.equal(await page.title(), 'Mailhaven admin');

  // A token that was never issued is refused.
  await page.getByLabel('Admin token').fill(`mh_${'A'.repeat(43)}`);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#message', { hasText: 'The token was refused. Log in again.' }).waitFor();
  assert.equal(await page.locator('#app').isHidden(), true);

  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#who', { hasText: 'Logged in with token "e2e"' }).waitFor();

  // Domains.
  await page.getByLabel('New domain').fill('Example.ORG');
  await page.getByRole('button', { name: 'Add domain' }).click();
  await page.locator('#message', { hasText: 'Domain example.org added.' }).waitFor();
  const domains = await rowTexts(page, '#domain-table');
  assert.equal(domains.length, 1);
  assert.deepEqual(domains[0]?.slice(0, 3), ['example.org', '0', '0']);
  assert.notEqual(await server.store.getDomain('example.org'), null);

  // Users: one with a password and a quota, one with a generated password.
  await page.getByRole('button', { name: 'Users' }).click();
  await page.getByLabel('Address').fill('alice@example.org');
  await page.getByLabel('Password (empty: generate one)').fill('correct horse battery');
  await page.getByLabel('Quota (e.g. 2G, empty: unlimited)').fill('2G');
  await page.getByRole('button', { name: 'Add user' }).click();
  await page.locator('#message', { hasText: 'User alice@example.org added.' }).waitFor();
  await page.getByLabel('Address').fill('bob@example.org');
  await page.getByRole('button', { name: 'Add user' }).click();
  const generated = await page.locator('#generated-password', { hasText: 'Generated password for bob@example.org' }).textContent();
  const password = /\(shown once\): (\S+)$/.exec(generated ?? '')?.[1] ?? '';
  const bob = await server.store.getAccount('bob@example.org');
  assert.ok(bob !== null && (await verifyPassword(bob.passwordHash, password)), 'the shown password is the account password');
  assert.deepEqual(await rowTexts(page, '#user-table'), [
    ['alice@example.org', '2G', '0', '0', 'Delete'],
    ['bob@example.org', 'unlimited', '0', '0', 'Delete'],
  ]);
  const alice = await server.store.getAccount('alice@example.org');
  assert.ok(alice !== null && (await verifyPassword(alice.passwordHash, 'correct horse battery')));
  assert.equal(alice.quotaBytes, 2 * 1024 ** 3);

  // A refused operation shows the API's message and changes nothing.
  await page.getByLabel('Address').fill('carol@elsewhere.test');
  await page.getByRole('button', { name: 'Add user' }).click();
  await page.locator('#message[data-kind="error"]', { hasText: 'unknown domain elsewhere.test' }).waitFor();

  // DNS records of the domain, then the live check.
  await page.getByRole('button', { name: 'Domains' }).click();
  await page.locator('#domain-table tbody tr', { hasText: 'example.org' }).getByRole('button', { name: 'DNS records' }).click();
  await page.locator('#dns-title', { hasText: 'DNS records for example.org' }).waitFor();
  const records = await rowTexts(page, '#dns-table');
  assert.deepEqual(records[0], ['example.org', 'MX', '10 mx.test.example.', 'mail for example.org is delivered to mx.test.example', 'not checked']);
  assert.deepEqual(
    records.map((record) => `${record[0]} ${record[1]}`),
    [
      'example.org MX',
      'example.org TXT',
      '_dmarc.example.org TXT',
      '_imaps._tcp.example.org SRV',
      '_submissions._tcp.example.org SRV',
      'autoconfig.example.org CNAME',
      'autodiscover.example.org CNAME',
      '_autodiscover._tcp.example.org SRV',
    ],
  );
  assert.deepEqual(await page.locator('#dns-missing li').allTextContents(), [
    'DKIM: not configured — no DKIM key for this domain yet (mailhaven dkim generate example.org)',
    'MTA-STS: not configured — no MTA-STS policy configured',
  ]);
  await page.getByRole('button', { name: 'Check DNS now' }).click();
  await page.locator('#dns-table tbody tr[data-status="ok"]').waitFor();
  const checked = await rowTexts(page, '#dns-table');
  assert.deepEqual(checked.map((record) => record[4]), ['ok', 'missing', 'missing', 'missing', 'missing', 'missing', 'missing', 'missing']);

  // The queue: nothing queued, the empty view.
  await page.getByRole('button', { name: 'Queue' }).click();
  await page.getByText('The queue is empty.').waitFor();
  assert.equal(await page.locator('#queue-table').isHidden(), true);

  // Logging out forgets the token in this tab.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByLabel('Admin token').waitFor();
  assert.equal(await page.evaluate('sessionStorage.length'), 0);
  assert.deepEqual(problems, []);
});
