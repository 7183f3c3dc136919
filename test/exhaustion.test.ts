/**
 * Resource exhaustion, bounded and on loopback only (issue #6): slowloris clients on every
 * listener, a connection flood from one address, a client that stops reading a large FETCH,
 * and MIME bombs (deep nesting, huge part counts, a huge header). Short limits in the test
 * config keep the whole file well under a minute; the heavy figures (10,000 IDLE connections,
 * the event-loop probe) are `npm run test:load`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Socket, connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ListenerName } from '../src/config/index.js';
import { ImapTestClient, USER, sampleMessage, startImapServer } from './helpers/imap-client.js';

/** Connects (optionally over TLS) and collects everything the server sends. */
async function openRaw(port: number, options: { tls?: boolean; localAddress?: string } = {}): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  const opened = Date.now();
  const socket: Socket =
    options.tls === true
      ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false })
      : connect({ host: '127.0.0.1', port, ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}) });
  let text = '';
  socket.on('data', (chunk: Buffer) => void (text += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
  await once(socket, options.tls === true ? 'secureConnect' : 'connect');
  return { socket, received: () => text, closed };
}

/**
 * Sends one octet every `intervalMs` (never completing a line or a request) until the server
 * closes the connection or `giveUpMs` passes. Returns how long the server took to close it.
 */
async function slowloris(port: number, options: { tls?: boolean; intervalMs: number; giveUpMs: number; first?: string }): Promise<{ ms: number; text: string }> {
  const started = Date.now();
  const client = await openRaw(port, options.tls === true ? { tls: true } : {});
  let stopped = false;
  void client.closed.then(() => (stopped = true));
  if (options.first !== undefined) client.socket.write(options.first);
  while (!stopped && Date.now() - started < options.giveUpMs) {
    await Promise.race([sleep(options.intervalMs), client.closed]);
    if (!stopped && !client.socket.destroyed) client.socket.write('x');
  }
  const timedOut = !stopped;
  client.socket.destroy();
  await client.closed;
  return { ms: timedOut ? Number.POSITIVE_INFINITY : Date.now() - started, text: client.received() };
}

// The server's deadlines in this file: command_timeout 1 s (idle wait and TLS handshake), SMTP
// session_deadline 3 s. A client that drips one octet every 400 ms never trips an idle timer;
// it must still be closed: at the session deadline (SMTP), at the command deadline (IMAP, POP3:
// an unfinished command line has command_timeout to complete), at the header timeout (HTTP).
const DEADLINE_TOML = '[limits]\ncommand_timeout = "1s"\nsession_deadline = "3s"';
const GIVE_UP_MS = 9000;

test('slowloris: a client dripping one octet at a time is closed at its deadline on every listener', async (t) => {
  const listeners: ListenerName[] = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s', 'http'];
  const server = await startImapServer(t, {
    listeners,
    toml: DEADLINE_TOML,
    protocols: { http: { limits: { headersTimeoutMs: 2000, requestTimeoutMs: 3000 } } },
  });
  const results = await Promise.all(
    listeners.map(async (listener) => {
      const tls = listener === 'submissions' || listener === 'imaps' || listener === 'pop3s';
      // HTTP: a request line that never ends; the others: a command line that never ends.
      const first = listener === 'http' ? 'GET / HTTP/1.1\r\nX-Slow: ' : undefined;
      const result = await slowloris(server.port(listener), { tls, intervalMs: 400, giveUpMs: GIVE_UP_MS, ...(first !== undefined ? { first } : {}) });
      return { listener, ...result };
    }),
  );
  const late = results.filter(({ ms }) => !(ms < 6000)).map(({ listener, ms, text }) => `${listener}: closed after ${ms} ms; received ${JSON.stringify(text.slice(-100))}`);
  assert.deepEqual(late, [], 'dripping clients not closed within 6 s');
});

test('slowloris before the TLS handshake: closed at the handshake timeout', async (t) => {
  const server = await startImapServer(t, { listeners: ['imap', 'imaps', 'submissions', 'pop3s', 'smtp'], toml: DEADLINE_TOML });
  const results = await Promise.all(
    (['imaps', 'submissions', 'pop3s'] as const).map(async (listener) => {
      // A TLS record header, then one octet at a time: the ClientHello never completes.
      const result = await slowloris(server.port(listener), { intervalMs: 300, giveUpMs: GIVE_UP_MS, first: '\x16\x03\x01\x02\x00' });
      return { listener, ...result };
    }),
  );
  for (const { listener, ms } of results) assert.ok(ms < 4000, `${listener}: handshake slowloris lasted ${ms} ms`);
});

test('connection flood from one address: the per-IP limit answers with a protocol error; another address is still served', async (t) => {
  const server = await startImapServer(t, { listeners: ['imap', 'imaps', 'smtp', 'pop3'], toml: '[limits]\nconnections_per_ip = 5' });
  const expected: Record<'imap' | 'smtp' | 'pop3', RegExp> = {
    imap: /^\* BYE Too many connections/,
    smtp: /^421 4\.7\.0 .*Too many connections/,
    pop3: /^-ERR \[SYS\/TEMP\] Too many connections/,
  };
  for (const listener of ['imap', 'smtp', 'pop3'] as const) {
    const port = server.port(listener);
    const held = await Promise.all(Array.from({ length: 5 }, () => openRaw(port)));
    // 50 more from the same address, all at once: every one is refused with the protocol's reply.
    const flood = await Promise.all(Array.from({ length: 50 }, () => openRaw(port)));
    await Promise.all(flood.map((c) => c.closed));
    for (const c of flood) assert.match(c.received(), expected[listener], `${listener}: flood connection answer`);
    // Another address (127.0.0.2 is loopback too) is served normally meanwhile.
    const other = await openRaw(port, { localAddress: '127.0.0.2' });
    const deadline = Date.now() + 3000;
    while (!/^(\* OK|220 |\+OK)/.test(other.received()) && Date.now() < deadline) await sleep(10);
    assert.match(other.received(), /^(\* OK|220 |\+OK)/, `${listener}: a client from another address gets the greeting`);
    other.socket.destroy();
    for (const c of held) c.socket.destroy();
    await Promise.all(held.map((c) => c.closed));
  }
  // Once the flood is gone, the address is served again.
  const again = await ImapTestClient.connect({ port: server.imapPort });
  t.after(() => again.close());
  assert.match(await again.readLine(), /^\* OK /);
});

test('a client that stops reading a large FETCH: server memory and socket buffer stay bounded', async (t) => {
  const server = await startImapServer(t, { protocols: { imap: { outputStallTimeoutMs: 20_000 } } });
  const size = 8 * 1024 * 1024;
  await server.deliver(USER, sampleMessage('big', 'z'.repeat(size) + '\r\n'));
  const c = await server.client();
  await c.run('SELECT INBOX');
  globalThis.gc?.();
  const before = process.memoryUsage();
  c.pauseReading();
  // 30 pipelined FETCHes of 8 MiB: 240 MiB if the server buffered the replies.
  for (let i = 0; i < 30; i++) c.write(`F${i} FETCH 1 BODY.PEEK[]\r\n`);
  let peakExternal = 0;
  let peakWritable = 0;
  let seen = 0;
  // The server's end of the connection: the in-process socket on the IMAP port (the only client).
  const sockets = (): Socket[] =>
    (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h): h is Socket => h instanceof Socket && h.localPort === server.imapPort);
  for (let i = 0; i < 20; i++) {
    await sleep(100);
    const usage = process.memoryUsage();
    peakExternal = Math.max(peakExternal, usage.external + usage.arrayBuffers - before.external - before.arrayBuffers);
    for (const socket of sockets()) {
      seen++;
      peakWritable = Math.max(peakWritable, socket.writableLength);
    }
  }
  t.diagnostic(`peak external+arrayBuffers growth ${(peakExternal / 1048576).toFixed(1)} MiB, peak socket writableLength ${peakWritable} octets`);
  assert.ok(seen > 0, 'the server-side socket was found');
  assert.ok(peakExternal < 48 * 1024 * 1024, `external memory grew by ${(peakExternal / 1048576).toFixed(1)} MiB while the client did not read`);
  assert.ok(peakWritable <= 4 * 1024 * 1024, `a socket buffered ${peakWritable} octets`);
  // The session is still alive and answers once the client reads again.
  c.resumeReading();
  const lines = await c.readUntilTagged('F0');
  assert.match(lines[lines.length - 1]!, /^F0 OK /);
});

/** Appends a message with a non-synchronizing literal and returns the tagged answer. */
async function appendRaw(c: ImapTestClient, message: Buffer): Promise<string> {
  c.write(`M1 APPEND INBOX {${message.length}+}\r\n`);
  c.write(message);
  c.write('\r\n');
  const lines = await c.readUntilTagged('M1');
  return lines[lines.length - 1]!;
}

function nestedBomb(depth: number): Buffer {
  const head = 'From: a@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n';
  let text = head;
  for (let i = 0; i < depth; i++) text += `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n`;
  return Buffer.from(`${text}Content-Type: text/plain\r\n\r\nbottom\r\n`);
}

function partsBomb(parts: number): Buffer {
  const chunks = ['From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n'];
  for (let i = 0; i < parts; i++) chunks.push('--p\r\n\r\nx\r\n');
  chunks.push('--p--\r\n');
  return Buffer.from(chunks.join(''));
}

function headerBomb(bytes: number): Buffer {
  const line = `X-Filler: ${'h'.repeat(990)}\r\n`;
  return Buffer.from(`From: a@example.org\r\nSubject: header\r\n${line.repeat(Math.ceil(bytes / line.length))}\r\nbody\r\n`);
}

interface StructureCheck {
  name: string;
  message: Buffer;
}

test('MIME bombs: 10,000-deep nesting, 200,000 parts, a 20 MB header are indexed within limits; FETCH BODYSTRUCTURE works', async (t) => {
  const server = await startImapServer(t, { toml: '[limits]\nmessage_size = "40M"\nnesting_depth = 32\nmime_parts = 2000' });
  const c = await server.client();
  await c.run('SELECT INBOX');
  const bombs: StructureCheck[] = [
    { name: 'deep', message: nestedBomb(10_000) },
    { name: 'parts', message: partsBomb(200_000) },
    { name: 'header', message: headerBomb(20 * 1024 * 1024) },
  ];
  for (const [i, bomb] of bombs.entries()) {
    const started = Date.now();
    assert.match(await appendRaw(c, bomb.message), /^M1 OK /, `${bomb.name}: APPEND`);
    const appendMs = Date.now() - started;
    const fetchStarted = Date.now();
    const lines = await c.run(`FETCH ${i + 1} (BODYSTRUCTURE RFC822.SIZE)`);
    const fetchMs = Date.now() - fetchStarted;
    assert.match(lines[lines.length - 1]!, /OK FETCH completed/, `${bomb.name}: FETCH`);
    const structure = lines[0]!;
    assert.ok(structure.includes(`RFC822.SIZE ${bomb.message.length}`), `${bomb.name}: size`);
    // Bounded output: the structure stops at the limits (parts and depth), so it stays small.
    assert.ok(structure.length < 512 * 1024, `${bomb.name}: BODYSTRUCTURE of ${structure.length} characters`);
    const depth = maxParenDepth(structure);
    assert.ok(depth <= 2 * 32 + 8, `${bomb.name}: BODYSTRUCTURE nests ${depth} deep`);
    const leaves = structure.split(/\("text" "plain"/i).length - 1;
    assert.ok(leaves <= 2000, `${bomb.name}: ${leaves} parts in BODYSTRUCTURE (limit 2000)`);
    if (bomb.name === 'parts') assert.ok(leaves >= 1000, `parts: only ${leaves} parts indexed`);
    t.diagnostic(`${bomb.name}: ${bomb.message.length} octets, APPEND ${appendMs} ms, FETCH ${fetchMs} ms, depth ${depth}, ${leaves} text parts`);
    assert.ok(appendMs < 20_000 && fetchMs < 5000, `${bomb.name}: APPEND ${appendMs} ms, FETCH ${fetchMs} ms`);
  }
  // The session and the server still answer.
  assert.match((await c.run('NOOP')).join('\n'), /OK NOOP completed$/);
  const [count] = await c.run('STATUS INBOX (MESSAGES)');
  assert.match(count!, /MESSAGES 3\)/);
});

function maxParenDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inQuote = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuote) {
      if (ch === '\\') i++;
      else if (ch === '"') inQuote = false;
    } else if (ch === '"') inQuote = true;
    else if (ch === '(') max = Math.max(max, ++depth);
    else if (ch === ')') depth--;
  }
  return max;
}
