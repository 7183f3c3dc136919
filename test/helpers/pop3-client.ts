/**
 * A small POP3 client for exact transcript tests, built on the server's own line splitter
 * (src/wire/pop3 Pop3Receiver). It sends raw lines and hands back raw response lines, so tests
 * assert exactly what the server wrote.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { Pop3Receiver } from '../../src/wire/pop3/index.js';

const DEFAULT_TIMEOUT_MS = 5000;

export interface MultilineResponse {
  /** The status line ("+OK ..."). */
  status: string;
  /** The lines between the status line and ".", dot-unstuffed. */
  lines: string[];
  /** Every octet after the status line up to and including ".\r\n", as sent. */
  raw: Buffer;
}

export class Pop3TestClient {
  #socket: Socket | TLSSocket;
  #receiver = new Pop3Receiver({ lineLimit: 16 * 1024 * 1024 });
  #lines: Buffer[] = [];
  #waiter: (() => void) | null = null;
  #closed = false;
  readonly #onData = (chunk: Buffer): void => {
    this.#receiver.push(chunk);
    for (let event = this.#receiver.next(); event !== null; event = this.#receiver.next()) {
      if (event.type === 'line') this.#lines.push(event.line);
      else throw new Error('server line over 16 MiB');
    }
    this.#wake();
  };
  readonly #onClose = (): void => {
    this.#closed = true;
    this.#wake();
  };

  private constructor(socket: Socket | TLSSocket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  /** Connects (implicit TLS when `tls`) and reads the greeting. */
  static async connect(port: number, options: { tls?: boolean; host?: string } = {}): Promise<{ client: Pop3TestClient; greeting: string }> {
    const host = options.host ?? '127.0.0.1';
    const socket = options.tls === true ? tlsConnect({ host, port, rejectUnauthorized: false }) : connect({ host, port });
    socket.on('error', () => undefined);
    await once(socket, options.tls === true ? 'secureConnect' : 'connect');
    const client = new Pop3TestClient(socket);
    return { client, greeting: await client.readLine() };
  }

  get secure(): boolean {
    return 'encrypted' in this.#socket && this.#socket.encrypted === true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes raw octets (several commands at once for pipelining tests). */
  write(data: string | Buffer): void {
    this.#socket.write(data);
  }

  /** Sends one command line and returns the single-line response. */
  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.readLine();
  }

  /** Sends one command and reads a multi-line response (or the single -ERR line). */
  async multiline(line: string): Promise<MultilineResponse> {
    this.write(`${line}\r\n`);
    return this.readMultiline();
  }

  /** The next line from the server, without CRLF. */
  async readLine(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    return (await this.#nextLine(timeoutMs)).toString('utf8');
  }

  /** Reads a status line and, when it is +OK, the lines up to ".". */
  async readMultiline(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<MultilineResponse> {
    const status = (await this.#nextLine(timeoutMs)).toString('utf8');
    if (!status.startsWith('+OK')) return { status, lines: [], raw: Buffer.alloc(0) };
    const lines: string[] = [];
    const raw: Buffer[] = [];
    for (;;) {
      const line = await this.#nextLine(timeoutMs);
      raw.push(line, Buffer.from('\r\n'));
      if (line.length === 1 && line[0] === 0x2e) break;
      const text = line.toString('utf8');
      lines.push(text.startsWith('.') ? text.slice(1) : text);
    }
    return { status, lines, raw: Buffer.concat(raw) };
  }

  /** STLS: sends it, expects +OK, then runs the TLS handshake on the same socket. */
  async stls(): Promise<string> {
    const reply = await this.command('STLS');
    if (reply.startsWith('+OK')) await this.upgradeTls();
    return reply;
  }

  /** The TLS handshake on the current socket (after the server's +OK to STLS). */
  async upgradeTls(): Promise<void> {
    this.#detach(this.#socket);
    const secure = tlsConnect({ socket: this.#socket, rejectUnauthorized: false });
    secure.on('error', () => undefined);
    await once(secure, 'secureConnect');
    this.#socket = secure;
    this.#attach(secure);
  }

  /** Resolves when the server has closed the connection (and every line was read). */
  async waitClosed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the server to close');
      await this.#wait(deadline - Date.now());
    }
  }

  /** Lines received and not read yet (for "nothing more was sent" checks). */
  pendingLines(): string[] {
    return this.#lines.map((line) => line.toString('utf8'));
  }

  close(): void {
    this.#socket.destroy();
  }

  async #nextLine(timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) return line;
      if (this.#closed) throw new Error('connection closed by the server');
      if (Date.now() >= deadline) throw new Error('timed out waiting for a line from the server');
      await this.#wait(deadline - Date.now());
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        resolve();
      }, ms);
      this.#waiter = () => {
        clearTimeout(timer);
        this.#waiter = null;
        resolve();
      };
    });
  }

  #wake(): void {
    this.#waiter?.();
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on('data', this.#onData);
    socket.on('close', this.#onClose);
  }

  #detach(socket: Socket | TLSSocket): void {
    socket.off('data', this.#onData);
    socket.off('close', this.#onClose);
  }
}
