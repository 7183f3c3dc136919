import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { TestContext } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';
import { loadConfig } from '../src/config/index.js';
import type { Config, ListenerName } from '../src/config/index.js';
import { createLogger } from '../src/log/index.js';
import type { Logger } from '../src/log/index.js';
import { ListenError, ListenerSet, TlsHandshakeError, TlsManager, normalizeIp, perIpKey, upgradeToTls } from '../src/net/index.js';
import type { ConnectionHandler, ConnectionInfo, ProtocolHandlers } from '../src/net/index.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-net-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One EC pair for the whole file: generating RSA keys per test would dominate the run time. */
const sharedPair = generate([{ name: 'commonName', value: 'test.example' }], {
  keyType: 'ec',
  algorithm: 'sha256',
  extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] }],
});

/**
 * A config whose only listeners are the given ones, on 127.0.0.1 ephemeral ports. Its TLS
 * pair is the shared one copied into `dir`, unless `extra` has its own [tls] or
 * `selfSigned` asks for the generated pair.
 */
async function testConfig(dir: string, listeners: ListenerName[], extra = '', selfSigned = false): Promise<Config> {
  const all: ListenerName[] = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s', 'http'];
  const listen = all.map((name) => `${name} = [${listeners.includes(name) ? '"127.0.0.1:0"' : ''}]`);
  let tlsSection = '';
  if (!selfSigned && !extra.includes('[tls]')) {
    const pems = await sharedPair;
    writeFileSync(join(dir, 'shared.crt'), pems.cert);
    writeFileSync(join(dir, 'shared.key'), pems.private);
    tlsSection = '[tls]\ncert = "shared.crt"\nkey = "shared.key"';
  }
  const file = join(dir, 'mailhaven.toml');
  writeFileSync(file, ['hostname = "test.example"', 'data_dir = "data"', tlsSection, extra, '[listen]', ...listen, ''].join('\n'));
  return loadConfig({ configPath: file, env: {}, cwd: dir, uid: 1000 });
}

/** A logger whose JSON lines are collected in `lines`. */
function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { logger, lines };
}

async function startSet(t: TestContext, config: Config, handlers: ProtocolHandlers, logger = captureLogger().logger) {
  const tls = await TlsManager.create({ hostname: config.hostname, dataDir: config.dataDir, cert: config.tls.cert, key: config.tls.key, logger });
  const set = await ListenerSet.start({ config, tls, logger, handlers });
  t.after(() => set.close(0));
  return { set, tls };
}

function portOf(set: ListenerSet, name: ListenerName): number {
  const address = set.addresses()[name][0];
  assert.ok(address, `${name} is bound`);
  return address.port;
}

/** Connects and resolves with everything received until the server closes. */
async function readAll(port: number, localAddress = '127.0.0.1'): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('utf8');
}

/** Opens a connection and waits for the first chunk the server sends. */
async function openAndGreet(port: number, localAddress = '127.0.0.1'): Promise<{ socket: Socket; greeting: string }> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  return { socket, greeting: chunk.toString('utf8') };
}

/** A handler that greets and keeps the connection open until the client or a shutdown ends it. */
function holdingHandler(greeting: string, seen: ConnectionInfo[] = []): ConnectionHandler {
  return {
    handle(socket, info) {
      seen.push(info);
      socket.on('data', () => undefined);
      info.shutdown.addEventListener('abort', () => socket.end('bye\r\n'));
      socket.write(greeting);
    },
  };
}

async function closeClient(socket: Socket): Promise<void> {
  socket.destroy();
  await once(socket, 'close');
}

/** Waits until the server has noticed closed connections. */
async function settle(set: ListenerSet, expected: number): Promise<void> {
  for (let i = 0; i < 100 && set.connectionCount !== expected; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(set.connectionCount, expected);
}

test('a port already in use stops startup with a clear message', async (t) => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.after(() => blocker.close());
  const port = (blocker.address() as AddressInfo).port;
  const dir = tempDir(t);
  const config = await testConfig(dir, ['imap']);
  const clash = { ...config, listen: { ...config.listen, smtp: [{ host: '127.0.0.1', port }] } };
  const logger = captureLogger().logger;
  const tls = await TlsManager.create({ hostname: 'test.example', dataDir: config.dataDir, cert: config.tls.cert, key: config.tls.key, logger });
  await assert.rejects(ListenerSet.start({ config: clash, tls, logger, handlers: {} }), (err: unknown) => {
    assert.ok(err instanceof ListenError);
    assert.equal(err.message, `listen.smtp 127.0.0.1:${port}: address in use`);
    assert.equal(err.errno, 'EADDRINUSE');
    return true;
  });
});

test('port 0 binds an ephemeral port and addresses() reports it', async (t) => {
  const config = await testConfig(tempDir(t), ['smtp', 'imap']);
  const { set } = await startSet(t, config, {});
  const addresses = set.addresses();
  assert.equal(addresses.smtp.length, 1);
  assert.equal(addresses.smtp[0]?.host, '127.0.0.1');
  assert.ok((addresses.smtp[0]?.port ?? 0) > 0);
  assert.deepEqual(addresses.pop3, []);
});

test('listeners without a handler answer "not available yet" in their protocol', async (t) => {
  const config = await testConfig(tempDir(t), ['smtp', 'imap', 'pop3', 'http']);
  const { set } = await startSet(t, config, {});
  assert.equal(await readAll(portOf(set, 'smtp')), '421 4.3.2 test.example Service not available yet\r\n');
  assert.equal(await readAll(portOf(set, 'imap')), '* BYE Not available yet\r\n');
  assert.equal(await readAll(portOf(set, 'pop3')), '-ERR Not available yet\r\n');
  assert.equal(
    await readAll(portOf(set, 'http')),
    'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 18\r\nConnection: close\r\n\r\nNot available yet\n',
  );
});

test('the handler gets the socket and a filled ConnectionInfo', async (t) => {
  const seen: ConnectionInfo[] = [];
  const config = await testConfig(tempDir(t), ['submission']);
  const { set, tls } = await startSet(t, config, { submission: holdingHandler('220 hi\r\n', seen) });
  const port = portOf(set, 'submission');
  const { socket, greeting } = await openAndGreet(port);
  t.after(() => socket.destroy());
  assert.equal(greeting, '220 hi\r\n');
  const info = seen[0];
  assert.ok(info);
  assert.equal(info.listener, 'submission');
  assert.equal(info.secure, false);
  assert.equal(info.remoteAddress, '127.0.0.1');
  assert.equal(info.remotePort, socket.localPort);
  assert.equal(info.localAddress, '127.0.0.1');
  assert.equal(info.localPort, port);
  assert.equal(info.hostname, 'test.example');
  assert.equal(info.tls, tls);
  assert.equal(info.shutdown.aborted, false);
  assert.match(info.id, /^[A-Za-z0-9_-]{8}$/);
  assert.equal(set.connectionCount, 1);
});

test('per-IP limit: the next connection from that IP is refused, other IPs are not', async (t) => {
  const config = await testConfig(tempDir(t), ['smtp'], '[limits]\nconnections_per_ip = 2\nconnections = 100');
  const { set } = await startSet(t, config, { smtp: holdingHandler('220 ok\r\n') });
  const port = portOf(set, 'smtp');
  const first = await openAndGreet(port);
  const second = await openAndGreet(port);
  assert.equal(await readAll(port), '421 4.7.0 test.example Too many connections, try again later\r\n');
  // Another address on the loopback network is another client.
  const other = await openAndGreet(port, '127.0.0.2');
  assert.equal(other.greeting, '220 ok\r\n');
  assert.equal(set.connectionsFrom('127.0.0.1'), 2);
  assert.equal(set.connectionsFrom('127.0.0.2'), 1);
  // A slot freed is a slot available again.
  await closeClient(first.socket);
  await settle(set, 2);
  const again = await openAndGreet(port);
  assert.equal(again.greeting, '220 ok\r\n');
  for (const socket of [second.socket, other.socket, again.socket]) await closeClient(socket);
});

test('total limit counts every listener; the refusal speaks the protocol of its listener', async (t) => {
  const config = await testConfig(tempDir(t), ['smtp', 'imap', 'pop3', 'imaps'], '[limits]\nconnections = 2\nconnections_per_ip = 50');
  const { set } = await startSet(t, config, { smtp: holdingHandler('220 ok\r\n'), imap: holdingHandler('* OK ready\r\n') });
  const smtp = await openAndGreet(portOf(set, 'smtp'));
  const imap = await openAndGreet(portOf(set, 'imap'), '127.0.0.3');
  assert.equal(await readAll(portOf(set, 'pop3'), '127.0.0.4'), '-ERR [SYS/TEMP] Too many connections, try again later\r\n');
  assert.equal(await readAll(portOf(set, 'imap'), '127.0.0.5'), '* BYE Too many connections, try again later\r\n');
  // Implicit TLS: cut before the handshake, nothing is sent.
  assert.equal(await readAll(portOf(set, 'imaps')), '');
  assert.equal(set.connectionCount, 2);
  await closeClient(smtp.socket);
  await closeClient(imap.socket);
});

test('a registered refuse() replaces the default refusal', async (t) => {
  const config = await testConfig(tempDir(t), ['smtp'], '[limits]\nconnections_per_ip = 1');
  const handler: ConnectionHandler = {
    ...holdingHandler('220 ok\r\n'),
    refuse(socket, info) {
      socket.end(`421 custom ${info.listener} ${info.remoteAddress}\r\n`);
    },
  };
  const { set } = await startSet(t, config, { smtp: handler });
  const held = await openAndGreet(portOf(set, 'smtp'));
  assert.equal(await readAll(portOf(set, 'smtp')), '421 custom smtp 127.0.0.1\r\n');
  await closeClient(held.socket);
});

/** Connects with TLS trusting only `caPem` (the server's self-signed certificate). */
async function tlsGreet(port: number, caPem: Buffer | string): Promise<{ socket: TLSSocket; greeting: string; fingerprint: string }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem });
  await once(socket, 'secureConnect');
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  return { socket, greeting: chunk.toString('utf8'), fingerprint: socket.getPeerX509Certificate()?.fingerprint256 ?? '' };
}

test('implicit TLS: the handshake uses the self-signed certificate, generated once with a private key file', async (t) => {
  const dir = tempDir(t);
  const seen: ConnectionInfo[] = [];
  const config = await testConfig(dir, ['imaps'], '', true);
  const { set, tls } = await startSet(t, config, { imaps: holdingHandler('* OK secure\r\n', seen) });
  const certPath = join(config.dataDir, 'tls', 'cert.pem');
  const keyPath = join(config.dataDir, 'tls', 'key.pem');
  assert.equal(statSync(keyPath).mode & 0o777, 0o600);
  assert.equal(tls.info.source, 'generated');
  assert.equal(tls.info.certPath, certPath);
  const cert = new X509Certificate(await import('node:fs').then((fs) => fs.readFileSync(certPath)));
  assert.equal(cert.subject, 'CN=test.example');
  assert.equal(cert.subjectAltName, 'DNS:test.example, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');

  const client = await tlsGreet(portOf(set, 'imaps'), cert.toString());
  t.after(() => client.socket.destroy());
  assert.equal(client.greeting, '* OK secure\r\n');
  assert.equal(client.socket.authorized, true);
  assert.equal(client.fingerprint, cert.fingerprint256);
  assert.equal(seen[0]?.secure, true);

  // A second start on the same data_dir reuses the pair instead of making a new one.
  const again = await TlsManager.create({ hostname: 'test.example', dataDir: config.dataDir, cert: null, key: null, logger: captureLogger().logger });
  assert.equal(again.info.fingerprint256, cert.fingerprint256);
});

test('a failed TLS handshake closes the connection without reaching the handler', async (t) => {
  const seen: ConnectionInfo[] = [];
  const { logger, lines } = captureLogger();
  const config = await testConfig(tempDir(t), ['pop3s']);
  const { set } = await startSet(t, config, { pop3s: holdingHandler('+OK\r\n', seen) }, logger);
  const socket = connect({ host: '127.0.0.1', port: portOf(set, 'pop3s') });
  socket.on('data', () => undefined);
  socket.write('USER plaintext\r\n');
  await once(socket, 'close');
  assert.equal(seen.length, 0);
  await settle(set, 0);
  assert.ok(lines.some((line) => line.msg === 'tls handshake failed' && line.protocol === 'pop3s'));
});

async function writePair(dir: string, name: string, cn: string): Promise<{ cert: string; key: string; pem: string }> {
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] }],
  });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  writeFileSync(cert, pems.cert);
  writeFileSync(key, pems.private);
  return { cert, key, pem: pems.cert };
}

test('reload (SIGHUP) swaps the certificate for new connections; open sessions continue', async (t) => {
  const dir = tempDir(t);
  const first = await writePair(dir, 'first', 'first.example');
  const second = await writePair(dir, 'second', 'second.example');
  const files = await writePair(dir, 'live', 'first.example');
  writeFileSync(files.cert, first.pem);
  writeFileSync(files.key, await import('node:fs').then((fs) => fs.readFileSync(first.key)));
  const config = await testConfig(dir, ['imaps'], '[tls]\ncert = "live.crt"\nkey = "live.key"');
  const { set, tls } = await startSet(t, config, {
    imaps: {
      handle(socket) {
        socket.on('data', (chunk: Buffer) => socket.write(`echo ${chunk.toString('utf8')}`));
        socket.write('* OK\r\n');
      },
    },
  });
  assert.equal(tls.info.source, 'configured');
  const port = portOf(set, 'imaps');
  const before = await tlsGreet(port, first.pem);
  t.after(() => before.socket.destroy());
  assert.equal(before.fingerprint, new X509Certificate(first.pem).fingerprint256);

  writeFileSync(files.cert, second.pem);
  writeFileSync(files.key, await import('node:fs').then((fs) => fs.readFileSync(second.key)));
  const result = await tls.reload();
  assert.equal(result.ok, true);

  const after = await tlsGreet(port, second.pem);
  t.after(() => after.socket.destroy());
  assert.equal(after.fingerprint, new X509Certificate(second.pem).fingerprint256);

  // The session opened before the reload still works, on its original certificate.
  before.socket.write('ping\r\n');
  const [echo] = (await once(before.socket, 'data')) as [Buffer];
  assert.equal(echo.toString('utf8'), 'echo ping\r\n');
});

test('a broken reload keeps the old certificate and logs an error', async (t) => {
  const dir = tempDir(t);
  const pair = await writePair(dir, 'live', 'live.example');
  const other = await writePair(dir, 'other', 'other.example');
  const { logger, lines } = captureLogger();
  const config = await testConfig(dir, ['imaps'], '[tls]\ncert = "live.crt"\nkey = "live.key"');
  const { set, tls } = await startSet(t, config, { imaps: holdingHandler('* OK\r\n') }, logger);

  // A certificate whose key does not match.
  writeFileSync(pair.cert, other.pem);
  const mismatch = await tls.reload();
  assert.equal(mismatch.ok, false);
  assert.equal(mismatch.ok ? '' : mismatch.error.message, `${pair.key}: key does not match the certificate ${pair.cert}`);

  // A key file that is not PEM at all.
  writeFileSync(pair.key, 'not a key');
  const garbage = await tls.reload();
  assert.equal(garbage.ok ? '' : garbage.error.message, `${pair.key}: not a PEM private key`);

  const client = await tlsGreet(portOf(set, 'imaps'), pair.pem);
  t.after(() => client.socket.destroy());
  assert.equal(client.fingerprint, new X509Certificate(pair.pem).fingerprint256);
  const errors = lines.filter((line) => line.level === 'error');
  assert.deepEqual(
    errors.map((line) => [line.msg, line.reason]),
    [
      ['tls reload failed, keeping the previous certificate', `${pair.key}: key does not match the certificate ${pair.cert}`],
      ['tls reload failed, keeping the previous certificate', `${pair.key}: not a PEM private key`],
    ],
  );
});

test('configured certificate files that cannot be used stop startup', async (t) => {
  const dir = tempDir(t);
  const logger = captureLogger().logger;
  await assert.rejects(
    TlsManager.create({ hostname: 'x.example', dataDir: dir, cert: join(dir, 'missing.crt'), key: join(dir, 'missing.key'), logger }),
    { name: 'TlsConfigError', message: `${join(dir, 'missing.crt')}: cannot read certificate: file not found` },
  );
});

test('STARTTLS: the ClientHello queued before the upgrade is used, not dropped', async (t) => {
  const dir = tempDir(t);
  const config = await testConfig(dir, ['smtp']);
  const upgraded: TLSSocket[] = [];
  const { set, tls } = await startSet(t, config, {
    smtp: {
      handle(socket, info) {
        socket.write('220 test.example ESMTP\r\n');
        socket.once('data', (line: Buffer) => {
          assert.equal(line.toString('utf8'), 'STARTTLS\r\n');
          socket.pause();
          socket.write('220 2.0.0 Ready to start TLS\r\n');
          // Let the ClientHello arrive and queue in the paused socket before upgrading.
          setTimeout(() => {
            upgradeToTls(socket, info.tls).then(
              (secure) => {
                upgraded.push(secure);
                secure.on('error', () => undefined);
                secure.write('250 secure\r\n');
              },
              () => undefined,
            );
          }, 100);
        });
      },
    },
  });
  const plain = connect({ host: '127.0.0.1', port: portOf(set, 'smtp') });
  await once(plain, 'data');
  plain.write('STARTTLS\r\n');
  await once(plain, 'data');
  const secure = tlsConnect({ socket: plain, servername: 'localhost', ca: await import('node:fs').then((fs) => fs.readFileSync(tls.info.certPath)) });
  t.after(() => secure.destroy());
  await once(secure, 'secureConnect');
  const [reply] = (await once(secure, 'data')) as [Buffer];
  assert.equal(reply.toString('utf8'), '250 secure\r\n');
  assert.equal(upgraded.length, 1);
});

test('STARTTLS: plaintext injected after the command fails the handshake instead of being read', async (t) => {
  const config = await testConfig(tempDir(t), ['smtp']);
  const outcome: unknown[] = [];
  const { set } = await startSet(t, config, {
    smtp: {
      handle(socket, info) {
        socket.once('data', () => {
          socket.pause();
          setTimeout(() => {
            upgradeToTls(socket, info.tls, { handshakeTimeoutMs: 2000 }).then(
              () => outcome.push('upgraded'),
              (err: unknown) => outcome.push(err),
            );
          }, 100);
        });
      },
    },
  });
  const plain = connect({ host: '127.0.0.1', port: portOf(set, 'smtp') });
  plain.on('error', () => undefined);
  plain.write('STARTTLS\r\n');
  await new Promise((r) => setTimeout(r, 30));
  plain.write('RCPT TO:<victim@example.org>\r\n');
  await once(plain, 'close');
  for (let i = 0; i < 100 && outcome.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(outcome.length, 1);
  assert.ok(outcome[0] instanceof TlsHandshakeError);
});

test('upgradeToTls refuses a socket that is still being read', async (t) => {
  const config = await testConfig(tempDir(t), ['smtp']);
  const outcome: unknown[] = [];
  const { set } = await startSet(t, config, {
    smtp: {
      handle(socket, info) {
        socket.on('data', () => undefined);
        upgradeToTls(socket, info.tls).then(
          () => outcome.push('upgraded'),
          (err: unknown) => outcome.push(err),
        );
      },
    },
  });
  await readAll(portOf(set, 'smtp'));
  assert.equal(outcome.length, 1);
  assert.equal((outcome[0] as Error).message, 'upgradeToTls: stop reading the plaintext socket first (remove its data/readable listeners)');
});

test('close(): sessions hear the shutdown and say goodbye; stragglers are cut at the timeout', async (t) => {
  const config = await testConfig(tempDir(t), ['imap', 'pop3']);
  const stubborn: ConnectionHandler = {
    handle(socket) {
      socket.on('data', () => undefined);
      socket.write('+OK\r\n');
    },
  };
  const { set } = await startSet(t, config, { imap: holdingHandler('* OK\r\n'), pop3: stubborn });
  const polite = await openAndGreet(portOf(set, 'imap'));
  const rude = await openAndGreet(portOf(set, 'pop3'));
  const politeData: string[] = [];
  polite.socket.on('data', (chunk: Buffer) => politeData.push(chunk.toString('utf8')));
  const politeClosed = once(polite.socket, 'close');
  const rudeClosed = once(rude.socket, 'close');
  rude.socket.on('error', () => undefined);
  polite.socket.on('end', () => polite.socket.end());

  const started = Date.now();
  await set.close(300);
  const elapsed = Date.now() - started;
  await politeClosed;
  await rudeClosed;
  assert.deepEqual(politeData, ['bye\r\n']);
  assert.ok(elapsed >= 250 && elapsed < 2000, `close took ${elapsed} ms`);
  assert.equal(set.connectionCount, 0);
  // No longer accepting.
  await assert.rejects(once(connect({ host: '127.0.0.1', port: portOf(set, 'imap') }), 'connect'), { code: 'ECONNREFUSED' });
});

test('per-IP limits count IPv4 addresses singly and IPv6 by /64', () => {
  assert.equal(normalizeIp('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(normalizeIp('2001:db8::1'), '2001:db8::1');
  assert.equal(perIpKey('192.0.2.1'), '192.0.2.1');
  assert.equal(perIpKey('2001:db8:0:1::1'), '2001:db8:0:1::/64');
  assert.equal(perIpKey('2001:DB8:0:1:ffff:1:2:3'), '2001:db8:0:1::/64');
  assert.equal(perIpKey('2001:db8::'), '2001:db8:0:0::/64');
  assert.equal(perIpKey('::1'), '0:0:0:0::/64');
  assert.equal(perIpKey('64:ff9b:1:2::192.0.2.1'), '64:ff9b:1:2::/64');
  assert.equal(perIpKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
});
