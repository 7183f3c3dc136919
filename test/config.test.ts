import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULT_LIMITS, loadConfig, parseDuration, parseListenAddress, parseSize } from '../src/config/index.js';
import type { TestContext } from 'node:test';

/** A fresh folder under the OS temp dir, removed when the test ends. */
function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(path: string, text: string): string {
  writeFileSync(path, text);
  return path;
}

/** Runs loadConfig expecting a ConfigError and returns its message. */
function errorMessage(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected loadConfig to throw');
}

test('discovery: --config beats $MAILHAVEN_CONFIG beats ./mailhaven.toml beats defaults', (t) => {
  const dir = tempDir(t);
  const flagFile = write(join(dir, 'flag.toml'), 'hostname = "flag.example"\n');
  const envFile = write(join(dir, 'env.toml'), 'hostname = "env.example"\n');
  const localFile = write(join(dir, 'mailhaven.toml'), 'hostname = "local.example"\n');
  const env = { MAILHAVEN_CONFIG: envFile };

  const fromFlag = loadConfig({ configPath: 'flag.toml', env, cwd: dir, uid: 1000 });
  assert.equal(fromFlag.source, flagFile);
  assert.equal(fromFlag.hostname, 'flag.example');

  const fromEnv = loadConfig({ env, cwd: dir, uid: 1000 });
  assert.equal(fromEnv.source, envFile);
  assert.equal(fromEnv.hostname, 'env.example');

  const fromCwd = loadConfig({ env: {}, cwd: dir, uid: 1000 });
  assert.equal(fromCwd.source, localFile);
  assert.equal(fromCwd.hostname, 'local.example');

  const empty = tempDir(t);
  const defaults = loadConfig({ env: { MAILHAVEN_CONFIG: '' }, cwd: empty, uid: 1000, systemHostname: 'box.example' });
  assert.equal(defaults.source, null);
  assert.equal(defaults.hostname, 'box.example');
  assert.equal(defaults.dataDir, join(empty, 'data'));
});

test('built-in defaults: every limit, storage, auth, log and shutdown value', (t) => {
  const config = loadConfig({ env: {}, cwd: tempDir(t), uid: 0, systemHostname: 'box.example' });
  assert.deepEqual(config.limits, {
    messageSize: 52428800,
    recipients: 100,
    connections: 5000,
    connectionsPerIp: 50,
    commandLine: 512,
    imapCommandLine: 65536,
    textLine: 1000,
    literal: 65536,
    commandTimeout: 300,
    imapIdleTimeout: 1800,
    sessionDeadline: 3600,
    errorsPerSession: 20,
    sessionsPerAccount: 50,
    keywordsPerMailbox: 256,
    nestingDepth: 32,
    mimeParts: 2000,
  });
  assert.deepEqual(config.tls, { cert: null, key: null });
  assert.deepEqual(config.storage, { backend: 'sqlite', url: '', busyTimeout: 10 });
  assert.deepEqual(config.auth, { allowPlaintextOnLoopback: false, secretMechanisms: false, oauth: [] });
  assert.deepEqual(config.smtp, { bareLineEndings: 'reject', greetingDelay: 0 });
  assert.deepEqual(config.log, { level: 'info' });
  assert.equal(config.shutdownTimeout, 10);
});

test('default ports: standard as root, +20000 otherwise; http stays 8025 on loopback', (t) => {
  const cwd = tempDir(t);
  const asRoot = loadConfig({ env: {}, cwd, uid: 0 });
  assert.deepEqual(asRoot.listen, {
    smtp: [{ host: '0.0.0.0', port: 25 }],
    submission: [{ host: '0.0.0.0', port: 587 }],
    submissions: [{ host: '0.0.0.0', port: 465 }],
    imap: [{ host: '0.0.0.0', port: 143 }],
    imaps: [{ host: '0.0.0.0', port: 993 }],
    pop3: [{ host: '0.0.0.0', port: 110 }],
    pop3s: [{ host: '0.0.0.0', port: 995 }],
    http: [{ host: '127.0.0.1', port: 8025 }],
  });
  const asUser = loadConfig({ env: {}, cwd, uid: 1000 });
  assert.deepEqual(asUser.listen, {
    smtp: [{ host: '0.0.0.0', port: 20025 }],
    submission: [{ host: '0.0.0.0', port: 20587 }],
    submissions: [{ host: '0.0.0.0', port: 20465 }],
    imap: [{ host: '0.0.0.0', port: 20143 }],
    imaps: [{ host: '0.0.0.0', port: 20993 }],
    pop3: [{ host: '0.0.0.0', port: 20110 }],
    pop3s: [{ host: '0.0.0.0', port: 20995 }],
    http: [{ host: '127.0.0.1', port: 8025 }],
  });
});

test('listen addresses from a file are used as written, whatever the uid', (t) => {
  const dir = tempDir(t);
  write(
    join(dir, 'mailhaven.toml'),
    ['[listen]', 'smtp = ["0.0.0.0:25", "[::]:25"]', 'imap = ["127.0.0.1:0"]', 'pop3 = []', 'http = ["localhost:8080"]', ''].join('\n'),
  );
  const config = loadConfig({ env: {}, cwd: dir, uid: 1000 });
  assert.deepEqual(config.listen.smtp, [
    { host: '0.0.0.0', port: 25 },
    { host: '::', port: 25 },
  ]);
  assert.deepEqual(config.listen.imap, [{ host: '127.0.0.1', port: 0 }]);
  assert.deepEqual(config.listen.pop3, []);
  assert.deepEqual(config.listen.http, [{ host: 'localhost', port: 8080 }]);
  // Keys the file leaves out keep the built-in default for this uid.
  assert.deepEqual(config.listen.imaps, [{ host: '0.0.0.0', port: 20993 }]);
});

test('relative paths are relative to the config file folder, not the cwd', (t) => {
  const dir = tempDir(t);
  const etc = join(dir, 'etc');
  mkdirSync(etc);
  const file = write(
    join(etc, 'mail.toml'),
    [
      'data_dir = "var/mail"',
      '[tls]',
      'cert = "certs/cert.pem"',
      'key = "/abs/key.pem"',
      '[[auth.oauth]]',
      'issuer = "https://id.example"',
      'audience = "mail"',
      'jwks_file = "jwks.json"',
      '',
    ].join('\n'),
  );
  const config = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 1000 });
  assert.equal(config.dataDir, join(etc, 'var/mail'));
  assert.deepEqual(config.tls, { cert: join(etc, 'certs/cert.pem'), key: '/abs/key.pem' });
  assert.deepEqual(config.auth.oauth, [{ issuer: 'https://id.example', audience: 'mail', jwksFile: join(etc, 'jwks.json'), jwksUrl: null }]);
});

test('sizes and durations: integers or suffixed strings', (t) => {
  assert.equal(parseSize(1000), 1000);
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('64K'), 65536);
  assert.equal(parseSize('50M'), 52428800);
  assert.equal(parseSize('2G'), 2147483648);
  assert.equal(parseSize('1.5GiB'), 1610612736);
  assert.equal(parseSize('10mb'), 10485760);
  assert.equal(parseSize('100B'), 100);
  assert.equal(parseSize('lots'), null);
  assert.equal(parseSize(-1), null);
  assert.equal(parseSize(1.5), null);
  assert.equal(parseSize('5X'), null);

  assert.equal(parseDuration(30), 30);
  assert.equal(parseDuration('45'), 45);
  assert.equal(parseDuration('30s'), 30);
  assert.equal(parseDuration('5m'), 300);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('2d'), 172800);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('soon'), null);
  assert.equal(parseDuration('5 minutes'), null);
  assert.equal(parseDuration(-5), null);

  const dir = tempDir(t);
  write(
    join(dir, 'mailhaven.toml'),
    ['shutdown_timeout = "30s"', '[limits]', 'message_size = "25M"', 'literal = 4096', 'command_timeout = "10m"', 'imap_idle_timeout = 3600', ''].join('\n'),
  );
  const config = loadConfig({ env: {}, cwd: dir, uid: 1000 });
  assert.equal(config.shutdownTimeout, 30);
  assert.equal(config.limits.messageSize, 26214400);
  assert.equal(config.limits.literal, 4096);
  assert.equal(config.limits.commandTimeout, 600);
  assert.equal(config.limits.imapIdleTimeout, 3600);
  assert.equal(config.limits.recipients, DEFAULT_LIMITS.recipients);
});

test('listen address syntax', () => {
  assert.deepEqual(parseListenAddress('0.0.0.0:25'), { host: '0.0.0.0', port: 25 });
  assert.deepEqual(parseListenAddress('[::1]:993'), { host: '::1', port: 993 });
  assert.deepEqual(parseListenAddress('mail.example.org:0'), { host: 'mail.example.org', port: 0 });
  assert.equal(parseListenAddress('::1:25'), null);
  assert.equal(parseListenAddress('0.0.0.0'), null);
  assert.equal(parseListenAddress('0.0.0.0:65536'), null);
  assert.equal(parseListenAddress('[1.2.3.4]:25'), null);
  assert.equal(parseListenAddress(25), null);
});

test('an unknown key stops startup, naming file and key', (t) => {
  const dir = tempDir(t);
  const file = write(join(dir, 'mailhaven.toml'), '[limits]\nmessage_size = "10M"\nmesage_size = "20M"\n');
  assert.equal(errorMessage(() => loadConfig({ env: {}, cwd: dir })), `${file}: limits.mesage_size: unknown key`);
});

test('a bad value stops startup, naming file, key and reason', (t) => {
  const dir = tempDir(t);
  const file = write(join(dir, 'mailhaven.toml'), '[limits]\nmessage_size = "lots"\n');
  assert.equal(errorMessage(() => loadConfig({ env: {}, cwd: dir })), `${file}: limits.message_size: expected a size like 50M, got "lots"`);
});

test('several problems are all reported, one per line', (t) => {
  const dir = tempDir(t);
  const file = write(
    join(dir, 'mailhaven.toml'),
    ['hostname = 5', '[listen]', 'smtp = ["0.0.0.0:25", "everywhere"]', 'imap = "0.0.0.0:143"', '[log]', 'level = "loud"', '[limits]', 'command_timeout = "soon"', ''].join('\n'),
  );
  assert.equal(
    errorMessage(() => loadConfig({ env: {}, cwd: dir })),
    [
      `${file}: hostname: expected a host name like mail.example.org, got 5`,
      `${file}: listen.smtp[1]: expected "host:port" (IPv6 as "[::1]:25"), got "everywhere"`,
      `${file}: listen.imap: expected a list like ["0.0.0.0:25"], got "0.0.0.0:143"`,
      `${file}: limits.command_timeout: expected a duration like 30s, 5m or 1h, got "soon"`,
      `${file}: log.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "loud"`,
    ].join('\n'),
  );
});

test('a value where a table is expected', (t) => {
  const dir = tempDir(t);
  const file = write(join(dir, 'mailhaven.toml'), 'limits = 5\n');
  assert.equal(errorMessage(() => loadConfig({ env: {}, cwd: dir })), `${file}: limits: expected a table, got 5`);
});

test('a TOML syntax error gives file, line and column', (t) => {
  const dir = tempDir(t);
  const file = write(join(dir, 'mailhaven.toml'), 'hostname = "mail.example.org"\ndata_dir = = "x"\n');
  assert.equal(errorMessage(() => loadConfig({ env: {}, cwd: dir })), `${file}:2:12: TOML syntax error: invalid value`);
});

test('a missing --config file is an error, not a fallback to defaults', (t) => {
  const dir = tempDir(t);
  assert.equal(errorMessage(() => loadConfig({ configPath: 'nope.toml', env: {}, cwd: dir })), `${join(dir, 'nope.toml')}: cannot read: file not found`);
});

test('rules across keys: tls pair, postgres url, one JWKS source', (t) => {
  const dir = tempDir(t);
  const file = write(
    join(dir, 'mailhaven.toml'),
    ['[tls]', 'cert = "cert.pem"', '[storage]', 'backend = "postgres"', '[[auth.oauth]]', 'issuer = "https://id.example"', 'audience = "mail"', ''].join('\n'),
  );
  assert.equal(
    errorMessage(() => loadConfig({ env: {}, cwd: dir })),
    [
      `${file}: tls.key: required when tls.cert is set`,
      `${file}: storage.url: required when storage.backend is "postgres"`,
      `${file}: auth.oauth[0]: set exactly one of jwks_file and jwks_url`,
    ].join('\n'),
  );
});

test('postgres with a url is accepted', (t) => {
  const dir = tempDir(t);
  write(join(dir, 'mailhaven.toml'), '[storage]\nbackend = "postgres"\nurl = "postgres://mail@db/mail"\n');
  assert.deepEqual(loadConfig({ env: {}, cwd: dir }).storage, { backend: 'postgres', url: 'postgres://mail@db/mail', busyTimeout: 10 });
});

test('the result is deep-frozen', (t) => {
  const config = loadConfig({ env: {}, cwd: tempDir(t), uid: 1000 });
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.limits));
  assert.ok(Object.isFrozen(config.listen.smtp));
  assert.ok(Object.isFrozen(config.listen.smtp[0]));
  assert.throws(() => {
    (config.limits as { messageSize: number }).messageSize = 1;
  }, TypeError);
});

test('mailhaven.example.toml: loads as is, and with every key uncommented gives the documented defaults', (t) => {
  const example = readFileSync(join(import.meta.dirname, '..', 'mailhaven.example.toml'), 'utf8');
  const dir = tempDir(t);
  const defaults = loadConfig({ env: {}, cwd: dir, uid: 0, systemHostname: 'mail.example.org' });

  write(join(dir, 'as-is.toml'), example);
  const asIs = loadConfig({ configPath: 'as-is.toml', env: {}, cwd: dir, uid: 0, systemHostname: 'mail.example.org' });
  assert.deepEqual({ ...asIs, source: null }, defaults);

  // Settings are "# key = value" and "# [table]" lines; prose never has that shape.
  const uncommented = example
    .split('\n')
    .map((line) => (/^# (\[\[?[a-z0-9_.]+\]\]?|[a-z0-9_]+ = .*)$/.test(line) ? line.slice(2) : line))
    .filter((line) => !line.startsWith('jwks_url')) // the alternative to jwks_file
    .join('\n');
  write(join(dir, 'all.toml'), uncommented);
  const all = loadConfig({ configPath: 'all.toml', env: {}, cwd: dir, uid: 1000 });
  assert.equal(all.hostname, 'mail.example.org');
  assert.equal(all.dataDir, defaults.dataDir);
  assert.equal(all.shutdownTimeout, defaults.shutdownTimeout);
  assert.deepEqual(all.listen, defaults.listen); // the root defaults, as written in the file
  assert.deepEqual(all.limits, defaults.limits);
  assert.deepEqual(all.storage, defaults.storage);
  assert.deepEqual(all.log, defaults.log);
  assert.equal(all.auth.allowPlaintextOnLoopback, false);
  assert.deepEqual(all.auth.oauth, [
    { issuer: 'https://login.example.org', audience: 'mail.example.org', jwksFile: join(dir, 'jwks.json'), jwksUrl: null },
  ]);
  assert.deepEqual(all.tls, { cert: '/etc/letsencrypt/live/mail.example.org/fullchain.pem', key: '/etc/letsencrypt/live/mail.example.org/privkey.pem' });
  assert.deepEqual(all.queue, defaults.queue);
  assert.deepEqual(all.mailAuth, defaults.mailAuth);
  assert.deepEqual({ ...all.outbound, hostname: null, resolvers: [], policies: [] }, defaults.outbound);
  assert.deepEqual(all.routes, [
    { domain: '*', host: 'smtp.relay.example', port: 587, tls: 'required', verifyCertificates: true, username: 'relayuser', passwordFile: join(dir, 'relay.pass') },
  ]);
  assert.deepEqual(all.mtaSts, { mode: 'testing', mx: ['mail.example.org'], maxAge: 7 * 86_400 });
  assert.deepEqual(all.client, { hostname: 'mail.example.org', ports: { submission: 587, submissions: 465, imaps: 993, pop3s: 995 } });
});

test('[[routes]], [outbound] and [queue]: values, defaults and errors', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'mailhaven.toml');
  writeFileSync(file, '');
  const plain = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 0 });
  assert.deepEqual(plain.routes, []);
  assert.deepEqual(plain.queue.retrySchedule, [60, 300, 900, 3600]);
  assert.equal(plain.queue.lifetime, 5 * 86400);
  assert.equal(plain.storage.busyTimeout, 10);
  assert.deepEqual(plain.mailAuth, { verify: true, dmarcReject: 'reject', dmarcQuarantine: 'junk', sign: true });
  writeFileSync(
    file,
    [
      '[storage]',
      'busy_timeout = "30s"',
      '[queue]',
      'retry_schedule = ["1s", "2m"]',
      'delay_warning = 0',
      '[outbound]',
      'resolvers = ["127.0.0.1:5353"]',
      '[[outbound.policies]]',
      'domain = "Bank.Example"',
      '[[routes]]',
      'domain = "Example.NET"',
      'host = "relay.example"',
      '[[routes]]',
      'domain = "*"',
      'host = "[::1]:2525"',
      'tls = "none"',
      '',
    ].join('\n'),
  );
  const set = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 0 });
  assert.deepEqual(set.queue.retrySchedule, [1, 120]);
  assert.equal(set.storage.busyTimeout, 30);
  assert.equal(set.outbound.connectionReuse, 100);
  assert.equal(set.outbound.connectionIdle, 5);
  assert.equal(set.queue.delayWarning, 0);
  assert.deepEqual(set.outbound.resolvers, ['127.0.0.1:5353']);
  assert.deepEqual(set.outbound.policies, [{ domain: 'bank.example', tls: 'required', verifyCertificates: true }]);
  assert.deepEqual(set.routes, [
    { domain: 'example.net', host: 'relay.example', port: 25, tls: 'opportunistic', verifyCertificates: false, username: null, passwordFile: null },
    { domain: '*', host: '::1', port: 2525, tls: 'none', verifyCertificates: false, username: null, passwordFile: null },
  ]);
  writeFileSync(file, '[[routes]]\ndomain = "*"\nhost = "relay:99999"\n');
  assert.throws(() => loadConfig({ configPath: file, env: {}, cwd: dir, uid: 0 }), {
    message: `${file}: routes[0].host: expected "host" or "host:port", got "relay:99999"`,
  });
  writeFileSync(file, '[[routes]]\nhost = "relay"\npassword_file = "p"\n');
  assert.throws(() => loadConfig({ configPath: file, env: {}, cwd: dir, uid: 0 }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /routes\[0\]\.domain: required/);
    assert.match(err.message, /routes\[0\]\.username: required when password_file is set/);
    return true;
  });
  writeFileSync(file, '[queue]\nretry_schedule = []\n');
  assert.throws(() => loadConfig({ configPath: file, env: {}, cwd: dir, uid: 0 }), /queue\.retry_schedule: expected a list of durations/);
});

test('[smtp] bare_line_endings and greeting_delay: values and errors', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'mailhaven.toml');
  writeFileSync(file, '[smtp]\nbare_line_endings = "normalize"\ngreeting_delay = "3s"\n');
  const config = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 0 });
  assert.deepEqual(config.smtp, { bareLineEndings: 'normalize', greetingDelay: 3 });
  writeFileSync(file, '[smtp]\nbare_line_endings = "allow"\n');
  assert.throws(() => loadConfig({ configPath: file, env: {}, cwd: dir, uid: 0 }), {
    message: `${file}: smtp.bare_line_endings: expected one of "reject", "normalize", got "allow"`,
  });
});

test('[mta_sts] and [client]: values, defaults and errors', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'mailhaven.toml');
  writeFileSync(file, '');
  const plain = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 0 });
  assert.equal(plain.mtaSts, null);
  assert.deepEqual(plain.client, { hostname: null, ports: {} });
  writeFileSync(file, '[mta_sts]\nmode = "testing"\n[client]\nhostname = "mail.example.org"\nports = { imaps = 993 }\n');
  const set = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 0 });
  assert.deepEqual(set.mtaSts, { mode: 'testing', mx: [], maxAge: 604800 });
  assert.deepEqual(set.client, { hostname: 'mail.example.org', ports: { imaps: 993 } });
  writeFileSync(file, '[client]\nports = { imaps = 99999 }\n');
  assert.throws(() => loadConfig({ configPath: file, env: {}, cwd: dir, uid: 0 }), {
    message: `${file}: client.ports.imaps: expected a port number from 1 to 65535, got 99999`,
  });
});
