/**
 * A small typed SMTP client for transcript tests: it sends exactly the bytes a test gives it and
 * parses the server's replies (RFC 5321 4.2) into the same SmtpReply shape the server's table
 * (src/wire/smtp/reply.ts) uses, so tests compare against named replies: `expectReply(r, Reply.x)`.
 */
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { SmtpReply } from '../../src/wire/smtp/index.js';

export interface ClientReply extends SmtpReply {
  /** The reply as received, CRLFs included. */
  raw: string;
}

export interface ConnectOptions {
  /** Implicit TLS (port 465). */
  tls?: boolean;
  host?: string;
  /** Fail a read after this long (ms). Default 10 s. */
  timeoutMs?: number;
}

const REPLY_LINE = /^(\d{3})([ -])(.*)$/;
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$|^([245]\.\d{1,3}\.\d{1,3})$/;

export class SmtpTestClient {
  #socket: Socket | TLSSocket;
  #buffer = Buffer.alloc(0);
  #closed = false;
  #waiter: (() => void) | null = null;
  readonly #timeoutMs: number;

  private constructor(socket: Socket | TLSSocket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    this.#listen(socket);
  }

  static async connect(port: number, options: ConnectOptions = {}): Promise<SmtpTestClient> {
    const host = options.host ?? '127.0.0.1';
    const socket = options.tls === true ? tlsConnect({ host, port, rejectUnauthorized: false, servername: 'localhost' }) : netConnect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls === true ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new SmtpTestClient(socket, options.timeoutMs ?? 10_000);
  }

  /** Connects and reads the 220 greeting. */
  static async open(port: number, options: ConnectOptions = {}): Promise<{ client: SmtpTestClient; greeting: ClientReply }> {
    const client = await SmtpTestClient.connect(port, options);
    const greeting = await client.read();
    return { client, greeting };
  }

  get socket(): Socket | TLSSocket {
    return this.#socket;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes raw bytes (nothing added). */
  write(data: string | Buffer): void {
    this.#socket.write(data);
  }

  /** Writes `line` + CRLF and reads one reply. */
  async command(line: string | Buffer): Promise<ClientReply> {
    this.write(typeof line === 'string' ? `${line}\r\n` : Buffer.concat([line, Buffer.from('\r\n')]));
    return this.read();
  }

  /** Writes several lines at once (PIPELINING) and reads one reply per line. */
  async pipeline(lines: string[]): Promise<ClientReply[]> {
    this.write(lines.map((line) => `${line}\r\n`).join(''));
    const replies: ClientReply[] = [];
    for (let i = 0; i < lines.length; i++) replies.push(await this.read());
    return replies;
  }

  /** EHLO, returning the extension keywords (upper-cased first words) besides the reply. */
  async ehlo(name = 'client.example'): Promise<{ reply: ClientReply; extensions: string[] }> {
    const reply = await this.command(`EHLO ${name}`);
    return { reply, extensions: reply.lines.slice(1).map((line) => line.toUpperCase()) };
  }

  /** Sends DATA, the message (dot-stuffed here) and the end marker; returns [354, final]. */
  async data(message: string | Buffer): Promise<[ClientReply, ClientReply]> {
    const start = await this.command('DATA');
    if (start.code !== 354) return [start, start];
    const body = Buffer.isBuffer(message) ? message : Buffer.from(message, 'utf8');
    this.write(Buffer.concat([dotStuff(body), Buffer.from(body.length === 0 || body.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n')]));
    return [start, await this.read()];
  }

  /** Reads one complete reply (all its lines). Rejects when the server closes first. */
  async read(): Promise<ClientReply> {
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      const reply = this.#takeReply();
      if (reply !== null) return reply;
      if (this.#closed) throw new Error(`connection closed while waiting for a reply (buffered: ${JSON.stringify(this.#buffer.toString('utf8'))})`);
      await this.#waitForData(deadline);
    }
  }

  /** Everything the server sends until it closes the connection. */
  async readUntilClosed(): Promise<string> {
    const deadline = Date.now() + this.#timeoutMs;
    while (!this.#closed) await this.#waitForData(deadline);
    const rest = this.#buffer.toString('utf8');
    this.#buffer = Buffer.alloc(0);
    return rest;
  }

  /** Upgrades the connection after a 220 to STARTTLS. */
  async startTls(): Promise<void> {
    const plain = this.#socket;
    plain.removeAllListeners('data');
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.#socket = secure;
    this.#buffer = Buffer.alloc(0);
    this.#listen(secure);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#socket.destroy();
    await new Promise<void>((resolve) => {
      if (this.#closed) resolve();
      else this.#socket.once('close', () => resolve());
    });
  }

  #listen(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  #waitForData(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        reject(new Error(`no reply within ${this.#timeoutMs} ms (buffered: ${JSON.stringify(this.#buffer.toString('utf8'))})`));
      }, Math.max(0, deadline - Date.now()));
      this.#waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Parses one reply off the front of the buffer, or null when it is not complete yet. */
  #takeReply(): ClientReply | null {
    let offset = 0;
    const lines: string[] = [];
    let code: number;
    for (;;) {
      const lf = this.#buffer.indexOf(0x0a, offset);
      if (lf === -1) return null;
      const line = this.#buffer.subarray(offset, lf).toString('utf8').replace(/\r$/, '');
      offset = lf + 1;
      const match = REPLY_LINE.exec(line);
      if (match === null) throw new Error(`malformed reply line: ${JSON.stringify(line)}`);
      code = Number(match[1]);
      lines.push(match[3] ?? '');
      if (match[2] === ' ') break;
    }
    const raw = this.#buffer.subarray(0, offset).toString('utf8');
    this.#buffer = this.#buffer.subarray(offset);
    return parseLines(code, lines, raw);
  }
}

/** Splits the enhanced code off the text when every line has the same one (RFC 2034 4). */
function parseLines(code: number, lines: string[], raw: string): ClientReply {
  const first = ENHANCED.exec(lines[0] ?? '');
  const enhanced = first === null ? null : (first[1] ?? first[3] ?? null);
  if (enhanced !== null && lines.every((line) => line === enhanced || line.startsWith(`${enhanced} `))) {
    return { code, enhanced, lines: lines.map((line) => (line === enhanced ? '' : line.slice(enhanced.length + 1))), raw };
  }
  return { code, enhanced: null, lines, raw };
}

/** RFC 5321 4.5.2: a line starting with "." gets one more. */
export function dotStuff(body: Buffer): Buffer {
  const text = body.toString('latin1').replace(/(^|\r\n)\./g, '$1..');
  return Buffer.from(text, 'latin1');
}

/** Asserts code and enhanced code (and text when given) of a reply. */
export function expectReply(actual: ClientReply, expected: Pick<SmtpReply, 'code' | 'enhanced'> & { lines?: readonly string[] }, message?: string): void {
  assert.deepEqual(
    { code: actual.code, enhanced: actual.enhanced },
    { code: expected.code, enhanced: expected.enhanced },
    message ?? `expected ${expected.code} ${expected.enhanced ?? ''}, got ${JSON.stringify(actual.raw)}`,
  );
}

/** Asserts the code and enhanced code written as "250 2.1.5". */
export function expectCode(actual: ClientReply, codes: string, message?: string): void {
  const [code, enhanced] = codes.split(' ');
  expectReply(actual, { code: Number(code), enhanced: enhanced ?? null }, message);
}

/** Base64 of a SASL PLAIN response (RFC 4616). */
export function plainResponse(user: string, password: string, authzid = ''): string {
  return Buffer.from(`${authzid}\0${user}\0${password}`, 'utf8').toString('base64');
}
