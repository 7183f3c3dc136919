/**
 * Minimal SMTP, IMAP and POP3 clients for the crash loop. Unlike the transcript clients in
 * test/helpers, they expect the server to vanish at any moment: every wait rejects with
 * `ConnectionLost` once the socket closes, so a worker knows which operation was in flight, and
 * every wait has a timeout, so a hung server is reported instead of hanging the harness.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';

/** The server went away (it was killed) while we waited: the operation's outcome is unknown. */
export class ConnectionLost extends Error {
  constructor() {
    super('connection lost');
    this.name = 'ConnectionLost';
  }
}

/** The server stayed silent past the timeout while its process was alive. */
export class ServerTimeout extends Error {
  constructor(what: string) {
    super(`no answer within the timeout: ${what}`);
    this.name = 'ServerTimeout';
  }
}

const READ_TIMEOUT_MS = 20_000;

/** A socket read as CRLF lines and byte counts. */
export class LineConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private closed = false;
  private wake: (() => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<LineConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => resolve(new LineConnection(socket)));
      socket.once('error', () => reject(new ConnectionLost()));
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  write(data: string | Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Resolves once the socket is closed (the server died or we closed it). */
  async untilClosed(): Promise<void> {
    while (!this.closed) await this.waitForData('close', 24 * 3600_000);
  }

  async line(): Promise<string> {
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end >= 0) {
        const text = this.buffer.subarray(0, end).toString('latin1');
        this.buffer = this.buffer.subarray(end + 2);
        return text;
      }
      await this.waitForData('a line');
    }
  }

  async bytes(count: number): Promise<Buffer> {
    while (this.buffer.length < count) await this.waitForData(`${count} bytes`);
    const out = Buffer.from(this.buffer.subarray(0, count));
    this.buffer = this.buffer.subarray(count);
    return out;
  }

  private waitForData(what: string, timeoutMs = READ_TIMEOUT_MS): Promise<void> {
    if (this.closed) return Promise.reject(new ConnectionLost());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = null;
        reject(new ServerTimeout(what));
      }, timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        if (this.closed && what !== 'close') reject(new ConnectionLost());
        else resolve();
      };
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

// ---- SMTP --------------------------------------------------------------------------------------

export class SmtpClient {
  private constructor(private readonly conn: LineConnection) {}

  static async open(port: number): Promise<SmtpClient> {
    const client = new SmtpClient(await LineConnection.open(port));
    await client.expect('220');
    await client.command('EHLO crash.client', '250');
    return client;
  }

  /** Reads one (possibly multi-line) reply; returns its code and text. */
  async reply(): Promise<{ code: string; text: string }> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.conn.line();
      lines.push(line);
      if (line.length < 4 || line[3] === ' ') return { code: line.slice(0, 3), text: lines.join('\n') };
    }
  }

  async expect(code: string): Promise<void> {
    const reply = await this.reply();
    if (reply.code !== code) throw new Error(`expected ${code}, got ${reply.text}`);
  }

  async command(line: string, code: string): Promise<void> {
    this.conn.write(`${line}\r\n`);
    await this.expect(code);
  }

  /** MAIL, RCPT..., DATA; then the caller sends the body. */
  async startData(from: string, recipients: readonly string[]): Promise<void> {
    await this.command(`MAIL FROM:<${from}>`, '250');
    for (const rcpt of recipients) await this.command(`RCPT TO:<${rcpt}>`, '250');
    await this.command('DATA', '354');
  }

  /** Writes (part of) the dot-stuffed body without the terminator. */
  writeBody(stuffed: Buffer): void {
    this.conn.write(stuffed);
  }

  /** Ends DATA; resolves with the final reply. */
  async endData(): Promise<{ code: string; text: string }> {
    this.conn.write('.\r\n');
    return this.reply();
  }

  untilClosed(): Promise<void> {
    return this.conn.untilClosed();
  }

  close(): void {
    this.conn.close();
  }
}

export function dotStuff(body: Buffer): Buffer {
  return Buffer.from(body.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
}

// ---- IMAP --------------------------------------------------------------------------------------

/** One response: its text with each literal replaced by `\u0000N`, and the literals' bytes. */
export interface ImapResponse {
  text: string;
  literals: Buffer[];
}

export interface ImapResult {
  untagged: ImapResponse[];
  tagged: string;
  ok: boolean;
}

export class ImapClient {
  private tag = 0;

  private constructor(private readonly conn: LineConnection) {}

  static async login(port: number, user: string, password: string): Promise<ImapClient> {
    const client = new ImapClient(await LineConnection.open(port));
    await client.response();
    await client.ok(`LOGIN "${user}" "${password}"`);
    await client.ok('ENABLE CONDSTORE');
    return client;
  }

  async response(): Promise<ImapResponse> {
    let text = '';
    const literals: Buffer[] = [];
    for (;;) {
      const line = await this.conn.line();
      const literal = /\{(\d+)\+?\}$/.exec(line);
      if (!literal) return { text: text + line, literals };
      text += `${line.slice(0, literal.index)}\u0000${literals.length}`;
      literals.push(await this.conn.bytes(Number(literal[1])));
    }
  }

  async run(command: string): Promise<ImapResult> {
    const tag = `C${++this.tag}`;
    this.conn.write(`${tag} ${command}\r\n`);
    return this.collect(tag);
  }

  /** Like run, but a NO or BAD is an error. */
  async ok(command: string): Promise<ImapResult> {
    const result = await this.run(command);
    if (!result.ok) throw new Error(`${command.slice(0, 60)}: ${result.tagged}`);
    return result;
  }

  /**
   * APPEND with a synchronizing literal. With `stallAt`, only that many bytes of the literal are
   * sent and the call waits until the connection dies (a kill in the middle of a literal).
   */
  async append(mailbox: string, flags: string, bytes: Buffer, stallAt?: number, onStalled?: () => void): Promise<ImapResult> {
    const tag = `C${++this.tag}`;
    this.conn.write(`${tag} APPEND "${mailbox}" (${flags}) {${bytes.length}}\r\n`);
    const go = await this.response();
    if (!go.text.startsWith('+')) throw new Error(`APPEND refused: ${go.text}`);
    if (stallAt !== undefined) {
      this.conn.write(bytes.subarray(0, stallAt));
      onStalled?.();
      await this.conn.untilClosed();
      throw new ConnectionLost();
    }
    this.conn.write(bytes);
    this.conn.write('\r\n');
    return this.collect(tag);
  }

  close(): void {
    this.conn.close();
  }

  private async collect(tag: string): Promise<ImapResult> {
    const untagged: ImapResponse[] = [];
    for (;;) {
      const response = await this.response();
      if (response.text.startsWith(`${tag} `)) {
        return { untagged, tagged: response.text, ok: response.text.startsWith(`${tag} OK`) };
      }
      untagged.push(response);
    }
  }
}

// ---- POP3 --------------------------------------------------------------------------------------

export class Pop3Client {
  private constructor(private readonly conn: LineConnection) {}

  static async login(port: number, user: string, password: string): Promise<Pop3Client> {
    const client = new Pop3Client(await LineConnection.open(port));
    await client.expectOk();
    await client.command(`USER ${user}`);
    await client.command(`PASS ${password}`);
    return client;
  }

  async expectOk(): Promise<string> {
    const line = await this.conn.line();
    if (!line.startsWith('+OK')) throw new Error(`POP3: ${line}`);
    return line;
  }

  async command(line: string): Promise<string> {
    this.conn.write(`${line}\r\n`);
    return this.expectOk();
  }

  /** A multi-line answer, dot-unstuffed, lines joined with CRLF (RFC 1939 3). */
  async multiline(line: string): Promise<Buffer> {
    await this.command(line);
    const lines: string[] = [];
    for (;;) {
      const next = await this.conn.line();
      if (next === '.') return Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1');
      lines.push(next.startsWith('.') ? next.slice(1) : next);
    }
  }

  close(): void {
    this.conn.close();
  }
}
