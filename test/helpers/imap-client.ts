/**
 * A small IMAP client for transcript tests: it sends commands with generated tags and returns
 * every response line up to the tagged one, with literals inlined (`{5}\r\nhello` stays in the
 * line), so tests can assert exact server output. Command arguments are built with the wire
 * layer's encoder (src/wire/imap), like the server's own responses.
 */
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { TestContext } from 'node:test';
import { MessageIndexer } from '../../src/mime/indexer.js';
import { encode } from '../../src/wire/imap/index.js';
import { startTestServer } from './server.js';
import type { TestServer, TestServerOptions } from './server.js';

export interface ImapClientOptions {
  port: number;
  host?: string;
  /** Implicit TLS (993-style listener). */
  tls?: boolean;
}

export class ImapTestClient {
  #socket: Socket | TLSSocket;
  #buffer = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  #ended = false;
  #tag = 0;
  /** Every byte received, for debugging failed assertions. */
  transcript = '';

  private constructor(socket: Socket | TLSSocket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  static async connect(options: ImapClientOptions): Promise<ImapTestClient> {
    const host = options.host ?? '127.0.0.1';
    const socket = options.tls === true ? tlsConnect({ host, port: options.port, rejectUnauthorized: false }) : netConnect({ host, port: options.port });
    await once(socket, options.tls === true ? 'secureConnect' : 'connect');
    return new ImapTestClient(socket);
  }

  /** Connects, reads the greeting, and logs in with LOGIN. */
  static async login(port: number, user: string, password: string): Promise<ImapTestClient> {
    const client = await ImapTestClient.connect({ port });
    await client.readLine();
    const done = await client.run(`LOGIN ${quote(user)} ${quote(password)}`);
    const last = done[done.length - 1] ?? '';
    if (!/^\S+ OK /.test(last)) throw new Error(`login failed: ${last}`);
    return client;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The tag the next `run` will use. */
  nextTag(): string {
    return `A${this.#tag + 1}`;
  }

  /** Sends `tag command` and returns every response up to and including the tagged one. */
  async run(command: string): Promise<string[]> {
    const tag = `A${++this.#tag}`;
    this.write(`${tag} ${command}\r\n`);
    return this.readUntilTagged(tag);
  }

  /** Like run, but returns [untagged..., tagged] split for convenience. */
  async exchange(command: string): Promise<{ untagged: string[]; tagged: string }> {
    const lines = await this.run(command);
    return { untagged: lines.slice(0, -1), tagged: lines[lines.length - 1]! };
  }

  write(data: string | Buffer): void {
    this.#socket.write(data);
  }

  /** Reads responses until one starts with `tag ` (inclusive). */
  async readUntilTagged(tag: string): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.readResponse();
      lines.push(line);
      if (line.startsWith(`${tag} `)) return lines;
    }
  }

  /** One response: a line, with any literal it announces read and inlined. */
  async readResponse(): Promise<string> {
    let out = '';
    for (;;) {
      const line = await this.readLine();
      out += line;
      const literal = /\{(\d+)\}$/.exec(line);
      if (literal === null) return out;
      const data = await this.readBytes(Number(literal[1]));
      out += '\r\n' + data.toString('latin1');
    }
  }

  /** One CRLF-terminated line without the CRLF. */
  async readLine(): Promise<string> {
    for (;;) {
      const lf = this.#buffer.indexOf(0x0a);
      if (lf >= 0) {
        const line = this.#buffer.subarray(0, lf > 0 && this.#buffer[lf - 1] === 0x0d ? lf - 1 : lf).toString('latin1');
        this.#buffer = this.#buffer.subarray(lf + 1);
        return line;
      }
      await this.#more('a line');
    }
  }

  async readBytes(n: number): Promise<Buffer> {
    while (this.#buffer.length < n) await this.#more(`${n} octets`);
    const data = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return Buffer.from(data);
  }

  /** Resolves when the server closes the connection (after reading what is left). */
  async waitClosed(): Promise<string> {
    while (!this.#ended) await this.#more('close').catch(() => undefined);
    const rest = this.#buffer.toString('latin1');
    this.#buffer = Buffer.alloc(0);
    return rest;
  }

  /** Replaces the socket with a TLS one after a STARTTLS OK. */
  async startTls(): Promise<void> {
    const plain = this.#socket;
    plain.removeAllListeners('data');
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false });
    await once(secure, 'secureConnect');
    this.#socket = secure;
    this.#attach(secure);
  }

  pauseReading(): void {
    this.#socket.pause();
  }

  resumeReading(): void {
    this.#socket.resume();
  }

  close(): void {
    this.#socket.destroy();
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.transcript += chunk.toString('latin1');
      this.#wake();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }

  #more(what: string): Promise<void> {
    if (this.#ended) return Promise.reject(new Error(`connection closed while waiting for ${what}; received so far: ${JSON.stringify(this.transcript.slice(-500))}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; received so far: ${JSON.stringify(this.transcript.slice(-500))}`)), 10_000);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** An IMAP string for a command argument (quoted, or a literal when it must be). */
export function quote(value: string): string {
  return Buffer.concat(encode.untagged([encode.string(value)])).toString('latin1').slice(2, -2);
}

/** `{n}\r\n` + octets: a synchronizing literal's announcement and data, for APPEND. */
export function literalOf(message: string | Buffer): { header: string; data: Buffer } {
  const data = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  return { header: `{${data.length}}`, data };
}

// ---- server harness ------------------------------------------------------------------------

export const USER = 'tim@example.test';
/** Every delivered test message gets this INTERNALDATE, so transcripts are exact. */
export const INTERNAL_DATE = new Date('2024-01-02T03:04:05Z');
export const PASSWORD = 'secret-pass';

export interface ImapTestServer extends TestServer {
  imapPort: number;
  imapsPort: number;
  /** A logged-in client (INBOX not selected), closed when the test ends. */
  client(user?: string, password?: string): Promise<ImapTestClient>;
  /** Delivers a message to an account's INBOX (or another mailbox) as local delivery would. */
  deliver(address: string, message: string | Buffer, mailbox?: string): Promise<number>;
  /** UIDVALIDITY of a mailbox of USER. */
  uidValidity(mailbox?: string): Promise<number>;
}

/** A full server (IMAP, IMAPS and SMTP listeners) with domain example.test and user USER. */
export async function startImapServer(t: TestContext, options: TestServerOptions & { plaintextLogin?: boolean } = {}): Promise<ImapTestServer> {
  const plaintext = options.plaintextLogin ?? true;
  const toml = [options.toml ?? '', plaintext ? '[auth]\nallow_plaintext_on_loopback = true' : ''].join('\n');
  // Production defaults for SASL: CRAM-MD5/SCRAM-SHA-256 not advertised (docs/auth.md).
  const server = await startTestServer(t, { listeners: ['imap', 'imaps', 'smtp'], defaultMechanisms: true, ...options, toml });
  await server.addDomain('example.test');
  await server.addUser(USER, PASSWORD);
  const clients: ImapTestClient[] = [];
  t.after(() => clients.forEach((c) => c.close()));
  return {
    ...server,
    imapPort: server.port('imap'),
    imapsPort: server.port('imaps'),
    async client(user = USER, password = PASSWORD) {
      const client = await ImapTestClient.login(server.port('imap'), user, password);
      clients.push(client);
      return client;
    },
    async uidValidity(mailbox = 'INBOX') {
      const account = await server.store.getAccount(USER);
      const box = account === null ? null : await server.store.getMailbox(account.id, mailbox);
      if (box === null) throw new Error(`no mailbox ${mailbox}`);
      return box.uidValidity;
    },
    async deliver(address, message, mailbox) {
      const account = await server.store.getAccount(address);
      if (account === null) throw new Error(`no account ${address}`);
      const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
      const writer = server.store.createBlobWriter();
      const indexer = new MessageIndexer();
      indexer.write(bytes);
      await writer.write(bytes);
      const blob = await writer.finish();
      const targets = [{ accountId: account.id, ...(mailbox !== undefined ? { mailboxName: mailbox } : {}) }];
      const [outcome] = await server.store.deliver(blob, indexer.finish(), targets, INTERNAL_DATE);
      if (outcome === undefined || !outcome.ok) throw new Error('delivery failed');
      return outcome.uid;
    },
  };
}

/** A short RFC 5322 message. */
export function sampleMessage(subject: string, body = 'Hello there.\r\n', from = 'Ann <ann@example.org>'): string {
  return `From: ${from}\r\nTo: ${USER}\r\nSubject: ${subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\n\r\n${body}`;
}
