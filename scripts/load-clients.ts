/**
 * The client side of `npm run test:load` (scripts/load.ts), run as a child process so that the
 * server's process holds only server sockets and its memory figures are its own. Talks to the
 * parent over IPC:
 *
 * - `idle`: opens N IMAP connections, LOGIN + SELECT INBOX + IDLE on each, reports "ready";
 *   on {deliverAt} it waits for "* n EXISTS" on every connection and reports the delays;
 * - `probe`: one NOOP client measuring round trips while one client runs SEARCH BODY and
 *   50 clients log in over and over (argon2 on the server), then reports the latencies.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

interface Line {
  socket: Socket;
  buffer: string;
  waiters: Array<() => void>;
  closed: boolean;
}

function send(message: unknown): void {
  process.send?.(message);
}

async function open(port: number, localAddress: string): Promise<Line> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  const line: Line = { socket, buffer: '', waiters: [], closed: false };
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    line.buffer += text;
    for (const waiter of line.waiters.splice(0)) waiter();
  });
  const wake = (): void => {
    line.closed = true;
    for (const waiter of line.waiters.splice(0)) waiter();
  };
  socket.on('close', wake);
  socket.on('error', wake);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return line;
}

/** Waits until the buffer matches; consumes through the match. */
async function expect(line: Line, pattern: RegExp, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(line.buffer);
    if (match !== null) {
      line.buffer = line.buffer.slice(match.index + match[0].length);
      return match[0];
    }
    if (line.closed) throw new Error(`connection closed waiting for ${pattern}: ${line.buffer.slice(-200)}`);
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timeout waiting for ${pattern}: ${line.buffer.slice(-200)}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      line.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

async function login(port: number, user: string, password: string, localAddress: string): Promise<Line> {
  const line = await open(port, localAddress);
  await expect(line, /^\* OK .*\r\n/m);
  line.socket.write(`L LOGIN "${user}" "${password}"\r\n`);
  await expect(line, /^L OK .*\r\n/m);
  return line;
}

/** 127.0.0.1 … 127.0.0.8: spreads the source ports so tens of thousands of connections fit. */
const localAddressFor = (i: number): string => `127.0.0.${1 + (i % 8)}`;

async function idle(port: number, count: number, user: string, password: string): Promise<void> {
  const lines: Line[] = [];
  let failed = 0;
  let firstError = '';
  const concurrency = 200;
  for (let at = 0; at < count; at += concurrency) {
    const batch = await Promise.allSettled(
      Array.from({ length: Math.min(concurrency, count - at) }, async (_, j) => {
        const line = await login(port, user, password, localAddressFor(at + j));
        line.socket.write('S SELECT INBOX\r\n');
        await expect(line, /^S OK .*\r\n/m);
        line.socket.write('I IDLE\r\n');
        await expect(line, /^\+ .*\r\n/m);
        return line;
      }),
    );
    for (const result of batch) {
      if (result.status === 'fulfilled') lines.push(result.value);
      else {
        failed++;
        firstError ||= String(result.reason);
      }
    }
    if ((at / concurrency) % 10 === 0) send({ progress: lines.length });
  }
  send({ ready: lines.length, failed, firstError });
  const { deliverAt } = await new Promise<{ deliverAt: number }>((resolve) => process.once('message', (m) => resolve(m as { deliverAt: number })));
  const delays = await Promise.all(
    lines.map(async (line) => {
      try {
        await expect(line, /^\* \d+ EXISTS\r\n/m, 30_000);
        return Date.now() - deliverAt;
      } catch {
        return -1;
      }
    }),
  );
  send({ delays });
  for (const line of lines) line.socket.destroy();
}

async function probe(port: number, user: string, password: string, searchUser: string, hashUser: string, hashPassword: string): Promise<void> {
  const noop = await login(port, user, password, '127.0.0.1');
  const searcher = await login(port, searchUser, password, '127.0.0.2');
  searcher.socket.write('S SELECT INBOX\r\n');
  await expect(searcher, /^S OK .*\r\n/m, 600_000);
  // Baseline round trips with nothing else going on.
  const baseline = await noopRoundTrips(noop, () => false, 100);
  let searching = true;
  const searchStarted = Date.now();
  const search = (async () => {
    searcher.socket.write('Q SEARCH BODY needle\r\n');
    const untagged = await expect(searcher, /^(\* SEARCH[ \d]*\r\n)?Q (OK|NO|BAD) .*\r\n/m, 1_800_000);
    searching = false;
    const result = /^\* SEARCH([ \d]*)\r\n/m.exec(untagged);
    const answer = /^Q .*$/m.exec(untagged)?.[0] ?? untagged;
    return { ms: Date.now() - searchStarted, answer: answer.trim(), matches: result?.[1]?.trim().split(' ').filter(Boolean).length ?? null };
  })();
  // 50 clients (LOAD_LOGINS) logging in (argon2id with the production parameters) while the search runs,
  // `rounds` times each (default once; LOAD_LOGIN_ROUNDS=0 keeps them going until it ends).
  const rounds = Number(process.env['LOAD_LOGIN_ROUNDS'] ?? 1);
  let logins = 0;
  let loginFailures = 0;
  const loginLoops = Array.from({ length: Number(process.env['LOAD_LOGINS'] ?? 50) }, async (_, i) => {
    for (let round = 0; searching && (rounds === 0 || round < rounds); round++) {
      try {
        const line = await login(port, hashUser, hashPassword, localAddressFor(i + 2));
        line.socket.destroy();
        logins++;
      } catch {
        loginFailures++;
      }
    }
  });
  const during = await noopRoundTrips(noop, () => searching, Number.POSITIVE_INFINITY);
  const searchResult = await search;
  await Promise.all(loginLoops);
  send({ baseline, during, search: searchResult, logins, loginFailures });
  noop.socket.destroy();
  searcher.socket.destroy();
}

/** NOOP round trips (ms), one every 10 ms, while `more()` holds (at least one, at most `max`). */
async function noopRoundTrips(line: Line, more: () => boolean, max: number): Promise<number[]> {
  const samples: number[] = [];
  let tag = 0;
  do {
    const started = performance.now();
    line.socket.write(`N${++tag} NOOP\r\n`);
    await expect(line, new RegExp(`^N${tag} OK .*\\r\\n`, 'm'));
    samples.push(performance.now() - started);
    await sleep(10);
  } while ((more() || samples.length < 3) && samples.length < max);
  return samples;
}

const [mode, ...args] = process.argv.slice(2);
const run = mode === 'idle' ? idle(Number(args[0]), Number(args[1]), args[2]!, args[3]!) : probe(Number(args[0]), args[1]!, args[2]!, args[3]!, args[4]!, args[5]!);
run.then(
  () => process.exit(0),
  (error: unknown) => {
    send({ error: error instanceof Error ? error.stack : String(error) });
    process.exit(1);
  },
);
