/**
 * A small real SMTP server for outbound tests: it records every transaction (envelope and
 * dot-unstuffed message) and answers RCPT and the end of DATA from a script, so a test can say
 * "451 the first time, 250 after". Pipelined commands are answered in order. Plain text only
 * (no STARTTLS offered). Listens on 127.0.0.1; closed when the test ends.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import type { TestContext } from 'node:test';

export interface SinkScript {
  /** Reply to RCPT TO for `address` (its nth RCPT, from 0); default "250 2.1.5 OK". */
  rcpt?: (address: string, nth: number) => string;
  /** Reply at the end of DATA for the nth transaction (from 0); default "250 2.0.0 queued". */
  dataEnd?: (nth: number, message: Buffer) => string;
  /** EHLO keywords; default PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, DSN, SIZE 100000000. */
  extensions?: string[];
  /** Hang up right after the DATA payload arrives, without answering (the client sees a drop). */
  dropAfterData?: (nth: number) => boolean;
  /** Never answer the end of DATA of the nth transaction (the client waits: a process can be killed meanwhile). */
  holdDataEnd?: (nth: number) => boolean;
}

export interface SinkTransaction {
  mailFrom: string;
  /** The whole MAIL FROM line (parameters included). */
  mailLine: string;
  /** RCPT lines as sent. */
  rcptLines: string[];
  /** Recipients that got 250. */
  accepted: string[];
  /** The message, dot-unstuffed, with CRLF line ends; empty when no DATA happened. */
  message: Buffer;
  /** The end-of-DATA reply sent. */
  reply: string;
}

export interface SmtpSink {
  port: number;
  /** Transactions that reached the end of DATA (answered or dropped), in order. */
  transactions: SinkTransaction[];
  /** Resolves once `count` transactions have a 2xx reply; rejects after `timeoutMs`. */
  waitForAccepted(count: number, timeoutMs?: number): Promise<SinkTransaction[]>;
  /** Accepted transactions so far. */
  accepted(): SinkTransaction[];
  close(): Promise<void>;
}

const DEFAULT_EXTENSIONS = ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN', 'SIZE 100000000'];
/** Longest line or message the sink keeps (tests send small messages). */
const MAX_LINE = 64 * 1024;
const MAX_MESSAGE = 64 * 1024 * 1024;

export async function startSmtpSink(t: TestContext, script: SinkScript = {}): Promise<SmtpSink> {
  const transactions: SinkTransaction[] = [];
  const rcptCounts = new Map<string, number>();
  const sockets = new Set<Socket>();
  let dataCount = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    serve(socket);
  });

  function serve(socket: Socket): void {
    let buffer = Buffer.alloc(0);
    let inData = false;
    let current: SinkTransaction | null = null;
    const send = (text: string): void => {
      if (!socket.destroyed) socket.write(`${text.replace(/\n/g, '\r\n')}\r\n`);
    };
    send('220 sink.test ESMTP test sink');
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (inData) {
          const end = findDataEnd(buffer);
          if (end === null) {
            if (buffer.length > MAX_MESSAGE) socket.destroy();
            return;
          }
          const payload = buffer.subarray(0, end.payload);
          buffer = buffer.subarray(end.next);
          inData = false;
          const tx = current ?? emptyTransaction();
          current = null;
          tx.message = unstuff(payload);
          const nth = dataCount++;
          if (script.dropAfterData?.(nth) === true) {
            tx.reply = '(dropped)';
            transactions.push(tx);
            socket.destroy();
            return;
          }
          if (script.holdDataEnd?.(nth) === true) {
            tx.reply = '(held)';
            transactions.push(tx);
            return;
          }
          tx.reply = script.dataEnd?.(nth, tx.message) ?? '250 2.0.0 queued';
          transactions.push(tx);
          send(tx.reply);
          continue;
        }
        const lineEnd = buffer.indexOf('\r\n');
        if (lineEnd === -1) {
          if (buffer.length > MAX_LINE) socket.destroy();
          return;
        }
        const line = buffer.subarray(0, lineEnd).toString('utf8');
        buffer = buffer.subarray(lineEnd + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') {
          const lines = ['sink.test', ...(script.extensions ?? DEFAULT_EXTENSIONS)];
          send(lines.map((text, i) => `250${i === lines.length - 1 ? ' ' : '-'}${text}`).join('\n'));
        }
        else if (verb === 'HELO') send('250 sink.test');
        else if (verb === 'MAIL') {
          const from = /^MAIL FROM:\s*<([^>]*)>/i.exec(line)?.[1] ?? '';
          current = { ...emptyTransaction(), mailFrom: from, mailLine: line };
          send('250 2.1.0 OK');
        } else if (verb === 'RCPT') {
          const address = /^RCPT TO:\s*<([^>]*)>/i.exec(line)?.[1] ?? '';
          const nth = rcptCounts.get(address.toLowerCase()) ?? 0;
          rcptCounts.set(address.toLowerCase(), nth + 1);
          const reply = script.rcpt?.(address, nth) ?? '250 2.1.5 OK';
          if (current !== null) {
            current.rcptLines.push(line);
            if (reply.startsWith('2')) current.accepted.push(address);
          }
          send(reply);
        } else if (verb === 'DATA') {
          if (current === null || current.accepted.length === 0) send('554 5.5.1 no valid recipients');
          else {
            inData = true;
            send('354 go ahead');
          }
        } else if (verb === 'RSET') {
          current = null;
          send('250 2.0.0 OK');
        } else if (verb === 'NOOP') send('250 2.0.0 OK');
        else if (verb === 'QUIT') {
          send('221 2.0.0 bye');
          socket.end();
          return;
        } else send('502 5.5.1 not implemented');
      }
    });
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('sink has no port');
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  const accepted = (): SinkTransaction[] => transactions.filter((tx) => tx.reply.startsWith('2'));
  return {
    port: address.port,
    transactions,
    accepted,
    async waitForAccepted(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (accepted().length < count) {
        if (Date.now() > deadline) throw new Error(`sink: ${accepted().length} of ${count} transactions accepted after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return accepted();
    },
    close,
  };
}

function emptyTransaction(): SinkTransaction {
  return { mailFrom: '', mailLine: '', rcptLines: [], accepted: [], message: Buffer.alloc(0), reply: '' };
}

/** Where the data ends: the payload (without its last CRLF) and the offset after "." CRLF. */
function findDataEnd(buffer: Buffer): { payload: number; next: number } | null {
  if (buffer.subarray(0, 3).toString('latin1') === '.\r\n') return { payload: 0, next: 3 };
  const at = buffer.indexOf('\r\n.\r\n');
  return at === -1 ? null : { payload: at, next: at + 5 };
}

function unstuff(payload: Buffer): Buffer {
  const text = payload.toString('latin1');
  const lines = text === '' ? [] : text.split('\r\n').map((line) => (line.startsWith('.') ? line.slice(1) : line));
  return Buffer.from(lines.length === 0 ? '' : `${lines.join('\r\n')}\r\n`, 'latin1');
}
