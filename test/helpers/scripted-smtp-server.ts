/**
 * A scripted SMTP server for outbound client tests: it answers each command from a script
 * written in the test (odd, hostile or just old servers), and records what the client sent:
 * every command line, which lines arrived together in one TCP chunk (to see PIPELINING), and
 * each message after DATA, dot-unstuffed. Listens on loopback; closed when the test ends.
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { TestContext } from 'node:test';

/**
 * What the server does for a command: a reply (lines separated by "\n", CRLF added), or
 * `silent` (never answer), `endless` (an endless reply line without CRLF), `close` (hang up,
 * after `reply` when given).
 */
export type Action = string | { silent: true } | { endless: true } | { close: true; reply?: string };

export interface Script {
  greeting?: Action;
  /** EHLO keywords after the first line; default PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, DSN. */
  extensions?: string[];
  ehlo?: Action;
  helo?: Action;
  starttls?: Action;
  auth?: (line: string) => Action;
  mail?: (line: string) => Action;
  rcpt?: (address: string, line: string) => Action;
  data?: Action;
  /** The reply to the end of data, given the message received (dot-unstuffed). */
  dataEnd?: (message: Buffer) => Action;
  /** Stop reading for `ms` once `bytes` of DATA have arrived (a slow remote: backpressure tests). */
  pauseData?: { bytes: number; ms: number };
  /** Once `bytes` of DATA have arrived, send `reply` and hang up (a server refusing mid-stream). */
  abortData?: { bytes: number; reply: string };
}

export interface ScriptedSession {
  /** Command lines in arrival order (no CRLF); DATA content is not included. */
  lines: string[];
  /** Command lines grouped by the TCP chunk they came in. */
  batches: string[][];
  /** Messages received after DATA (dot-unstuffed). */
  messages: Buffer[];
  /** Raw DATA bytes as received (dot-stuffed, with the final ".\r\n"). */
  rawData: Buffer[];
  /** DATA octets received so far in this session. */
  dataBytes: number;
  closed: boolean;
}

export interface ScriptedServer {
  host: string;
  port: number;
  sessions: ScriptedSession[];
  close(): Promise<void>;
}

export const DEFAULT_EXTENSIONS = ['PIPELINING', 'SIZE 10000000', '8BITMIME', 'ENHANCEDSTATUSCODES', 'SMTPUTF8', 'DSN'];
const MAX_DATA_BYTES = 64 * 1024 * 1024;

export async function startScriptedServer(t: TestContext, script: Script, options: { host?: string; port?: number } = {}): Promise<ScriptedServer> {
  const host = options.host ?? '127.0.0.1';
  const sessions: ScriptedSession[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const session: ScriptedSession = { lines: [], batches: [], messages: [], rawData: [], dataBytes: 0, closed: false };
    sessions.push(session);
    runSession(socket, script, session);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  return { host, port: address.port, sessions, close };
}

function runSession(socket: Socket, script: Script, session: ScriptedSession): void {
  let buffer = Buffer.alloc(0);
  let inData = false;
  let dataChunks: Buffer[] = [];
  let dataSize = 0;
  let hungUp = false;
  let endless: NodeJS.Timeout | null = null;

  const perform = (action: Action | undefined, fallback: string): void => {
    if (hungUp) return;
    const chosen = action ?? fallback;
    if (typeof chosen === 'string') {
      socket.write(chosen.split('\n').map((line) => `${line}\r\n`).join(''));
      return;
    }
    if ('silent' in chosen) return;
    if ('endless' in chosen) {
      socket.write('250-');
      const pump = (): void => {
        if (socket.destroyed) return;
        // Keeps writing while the client reads; stops when its buffers are full or it hangs up.
        while (socket.write(Buffer.alloc(16 * 1024, 0x61))) {
          if (socket.destroyed) return;
        }
        endless = setTimeout(pump, 5);
      };
      pump();
      return;
    }
    if (chosen.reply !== undefined) socket.write(chosen.reply.split('\n').map((line) => `${line}\r\n`).join(''));
    hungUp = true;
    socket.end();
  };

  let inAuthExchange = false;
  const command = (line: string): void => {
    session.lines.push(line);
    if (inAuthExchange) {
      // RFC 4954 4: after a 334 the next line is a SASL response, not a command.
      const action = script.auth?.(line) ?? '535 5.7.8 no';
      inAuthExchange = typeof action === 'string' && action.startsWith('334');
      perform(action, '');
      return;
    }
    const verb = (/^\S+/.exec(line)?.[0] ?? '').toUpperCase();
    switch (verb) {
      case 'EHLO': {
        const extensions = script.extensions ?? DEFAULT_EXTENSIONS;
        const lines = ['scripted.test greets you', ...extensions];
        perform(script.ehlo, lines.map((text, i) => `250${i === lines.length - 1 ? ' ' : '-'}${text}`).join('\n'));
        return;
      }
      case 'HELO':
        perform(script.helo, '250 scripted.test');
        return;
      case 'STARTTLS':
        perform(script.starttls, '454 4.7.0 TLS not available');
        return;
      case 'AUTH': {
        const action = script.auth?.(line) ?? '235 2.7.0 Authentication succeeded';
        inAuthExchange = typeof action === 'string' && action.startsWith('334');
        perform(action, '');
        return;
      }
      case 'MAIL':
        perform(script.mail?.(line), '250 2.1.0 Sender OK');
        return;
      case 'RCPT': {
        const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
        perform(script.rcpt?.(address, line), '250 2.1.5 Recipient OK');
        return;
      }
      case 'DATA': {
        const action = script.data ?? '354 End data with <CR><LF>.<CR><LF>';
        if (typeof action === 'string' && action.startsWith('354')) inData = true;
        perform(action, '');
        return;
      }
      case 'RSET':
        perform(undefined, '250 2.0.0 OK');
        return;
      case 'NOOP':
        perform(undefined, '250 2.0.0 OK');
        return;
      case 'QUIT':
        perform({ close: true, reply: '221 2.0.0 Bye' }, '');
        return;
      default:
        perform(undefined, '500 5.5.2 Unrecognized command');
    }
  };

  const endData = (): void => {
    const raw = Buffer.concat(dataChunks);
    dataChunks = [];
    dataSize = 0;
    inData = false;
    session.rawData.push(raw);
    const body = raw.subarray(0, raw.length - 3); // drop ".\r\n"
    const message = Buffer.from(body.toString('latin1').replace(/(^|\n)\./g, '$1'), 'latin1');
    session.messages.push(message);
    perform(script.dataEnd?.(message), '250 2.0.0 Message accepted');
  };

  const consume = (): void => {
    const batch: string[] = [];
    while (buffer.length > 0 && !hungUp) {
      if (inData) {
        // The end of data: CRLF "." CRLF, or "." CRLF at the very start. Search the new bytes
        // with the last four octets before them (the marker may straddle chunks).
        const previous = Buffer.concat(dataChunks.slice(-2)).subarray(-4);
        const window = Buffer.concat([dataSize === 0 ? Buffer.from('\r\n') : previous, buffer]);
        const offset = window.length - buffer.length; // where `buffer` starts inside `window`
        const found = window.indexOf('\r\n.\r\n');
        if (found === -1) {
          dataChunks.push(buffer);
          dataSize += buffer.length;
          buffer = Buffer.alloc(0);
          if (dataSize > MAX_DATA_BYTES) socket.destroy();
          return;
        }
        const cut = found + 5 - offset; // octets of `buffer` up to and including ".\r\n"
        dataChunks.push(buffer.subarray(0, cut));
        buffer = buffer.subarray(cut);
        endData();
        continue;
      }
      const newline = buffer.indexOf('\r\n');
      if (newline === -1) break;
      const line = buffer.subarray(0, newline).toString('utf8');
      buffer = buffer.subarray(newline + 2);
      batch.push(line);
      command(line);
    }
    if (batch.length > 0) session.batches.push(batch);
  };

  let paused = false;
  socket.on('data', (chunk: Buffer) => {
    if (inData) session.dataBytes += chunk.length;
    const abort = script.abortData;
    if (abort !== undefined && inData && session.dataBytes >= abort.bytes) {
      perform({ close: true, reply: abort.reply }, '');
      return;
    }
    const pause = script.pauseData;
    if (pause !== undefined && !paused && session.dataBytes >= pause.bytes) {
      paused = true;
      socket.pause();
      setTimeout(() => socket.resume(), pause.ms);
    }
    buffer = Buffer.concat([buffer, chunk]);
    consume();
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    session.closed = true;
    if (endless !== null) clearTimeout(endless);
  });
  perform(script.greeting, '220 scripted.test ESMTP ready');
}
