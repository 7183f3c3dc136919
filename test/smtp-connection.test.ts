/**
 * src/net/connection.ts, the protocol-agnostic Connection SMTP uses (and IMAP/POP3 will):
 * pull reads, read and write backpressure, idle timeout, deadline, interruption, the STARTTLS
 * hand-over. Real sockets on 127.0.0.1.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { createLogger } from '../src/log/index.js';
import { Connection, ConnectionInterrupted } from '../src/net/connection.js';
import type { ConnectionOptions } from '../src/net/connection.js';
import { TlsManager } from '../src/net/tls.js';

/** A connected pair: the server side wrapped in a Connection, the client side raw. */
async function pair(t: TestContext, options: Partial<ConnectionOptions> = {}): Promise<{ conn: Connection; client: Socket }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  client.on('error', () => undefined);
  const [socket] = await accepted;
  socket.on('error', () => undefined);
  server.close();
  const conn = new Connection(socket, { idleTimeoutMs: 0, deadlineMs: 0, ...options });
  t.after(() => {
    conn.destroy();
    client.destroy();
  });
  return { conn, client };
}

test('read hands out chunks in order, then null at the end of input', async (t) => {
  const { conn, client } = await pair(t);
  client.write('one');
  assert.equal((await conn.read())?.toString(), 'one');
  client.end('two');
  const rest: string[] = [];
  for (;;) {
    const chunk = await conn.read();
    if (chunk === null) break;
    rest.push(chunk.toString());
  }
  assert.equal(rest.join(''), 'two');
  assert.equal(conn.inputEnded, true);
});

test('the idle timeout runs only while waiting for input', async (t) => {
  const { conn, client } = await pair(t, { idleTimeoutMs: 150 });
  // Not reading for longer than the timeout is fine: the session is busy, not the client idle.
  await sleep(250);
  client.write('late but fine');
  assert.equal((await conn.read())?.toString(), 'late but fine');
  const started = Date.now();
  await assert.rejects(conn.read(), (error: unknown) => error instanceof ConnectionInterrupted && error.reason === 'idleTimeout');
  assert.ok(Date.now() - started >= 140);
});

test('the deadline ends a pending read and every later one', async (t) => {
  const { conn } = await pair(t, { deadlineMs: 100 });
  await assert.rejects(conn.read(), (error: unknown) => error instanceof ConnectionInterrupted && error.reason === 'deadline');
  await assert.rejects(conn.read(), (error: unknown) => error instanceof ConnectionInterrupted && error.reason === 'deadline');
});

test('the interrupt signal ends a wait for input at once', async (t) => {
  const controller = new AbortController();
  const { conn } = await pair(t, { interrupt: controller.signal });
  const reading = conn.read();
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(reading, (error: unknown) => error instanceof ConnectionInterrupted && error.reason === 'shutdown');
});

test('read backpressure: a client sending faster than the session reads is held back', async (t) => {
  const { conn, client } = await pair(t, { highWaterMark: 16 * 1024 });
  // More than the kernel's socket buffers on both sides can hold.
  const size = 32 * 1024 * 1024;
  let flushed = false;
  client.write(Buffer.alloc(size, 0x61), () => (flushed = true));
  let total = (await conn.read())?.length ?? 0;
  await sleep(300);
  assert.ok(conn.bufferedBytes < 16 * 1024 + 256 * 1024, `buffered ${conn.bufferedBytes}`);
  assert.equal(flushed, false, 'the client cannot finish while we do not read');
  while (total < size) total += (await conn.read())?.length ?? 0;
  assert.equal(total, size);
  await sleep(50);
  assert.equal(flushed, true);
});

test('write backpressure: write() waits for drain when the peer does not read', async (t) => {
  const { conn, client } = await pair(t);
  client.pause();
  const big = Buffer.alloc(8 * 1024 * 1024, 0x62);
  let done = false;
  const writing = conn.write(big).then(() => (done = true));
  await sleep(200);
  assert.equal(done, false, 'still waiting for the peer');
  let received = 0;
  client.on('data', (chunk: Buffer) => (received += chunk.length));
  client.resume();
  await writing;
  assert.equal(done, true);
  assert.ok(received > 0);
});

test('waitForInput: true as soon as something arrives, false after the time without any', async (t) => {
  const { conn, client } = await pair(t);
  assert.equal(await conn.waitForInput(50), false);
  setTimeout(() => client.write('x'), 30);
  assert.equal(await conn.waitForInput(1000), true);
  assert.equal((await conn.read())?.toString(), 'x');
});

test('STARTTLS hand-over: buffered plaintext is dropped, TLS reads and writes work', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-conn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tls = await TlsManager.create({ hostname: 'conn.test', dataDir: dir, cert: null, key: null, logger: createLogger({ level: 'silent' }) });
  const { conn, client } = await pair(t);
  client.write('STARTTLS\r\nINJECTED\r\n');
  await sleep(50);
  assert.equal((await conn.read())?.toString(), 'STARTTLS\r\nINJECTED\r\n');
  client.write('MORE INJECTED\r\n');
  await sleep(50);
  assert.equal(conn.stopReadingForTls(), Buffer.byteLength('MORE INJECTED\r\n'));
  await conn.write('220 go ahead\r\n');
  const [reply] = (await once(client, 'data')) as [Buffer];
  assert.equal(reply.toString(), '220 go ahead\r\n');
  const secureClient = tlsConnect({ socket: client, rejectUnauthorized: false });
  await Promise.all([conn.startTls(tls, 5000), once(secureClient, 'secureConnect')]);
  assert.equal(conn.secure, true);
  assert.match(conn.tls?.protocol ?? '', /^TLSv1\.[23]$/);
  secureClient.write('over tls');
  assert.equal((await conn.read())?.toString(), 'over tls');
  await conn.write('and back');
  const [back] = (await once(secureClient, 'data')) as [Buffer];
  assert.equal(back.toString(), 'and back');
  secureClient.destroy();
});
