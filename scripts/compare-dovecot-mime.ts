/**
 * Compares our ENVELOPE / BODYSTRUCTURE with Dovecot's for the corpus messages.
 *
 *   ../shared/refstack/start.sh      # Dovecot on 127.0.0.1:10143
 *   node --import tsx scripts/compare-dovecot-mime.ts [--filter TEXT] [--limit N] [--verbose] [--user user7@example.test]
 *
 * Messages are APPENDed with imapflow; the FETCH answer is read from a plain socket so the
 * exact bytes Dovecot sends are compared. Dovecot reports sizes as if every line ended in CRLF
 * (its "virtual size"), so we index the CRLF form of each message (see docs/message-index.md).
 * Differences are sorted into "cosmetic" (letter case, whitespace, RFC 2047/2231 encoding of the
 * same text) and "real"; real ones are printed. Not part of `npm test`: Dovecot is not on CI.
 */
import net from 'node:net';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import libmime from 'libmime';
import { indexMessage } from '../src/mime/indexer.js';
import { decodeCharset } from '../src/mime/charset.js';
import { encodeBodyStructure } from '../src/imap/encode/bodystructure.js';
import { encodeEnvelope } from '../src/imap/encode/envelope.js';

type Node = null | number | string | { atom: string } | Node[];

interface Options {
  filter: string | null;
  limit: number;
  verbose: boolean;
  user: string;
  host: string;
  port: number;
  mailbox: string;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { filter: null, limit: Infinity, verbose: false, user: 'user190@example.test', host: '127.0.0.1', port: 10143, mailbox: 'mh-compare' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--filter') options.filter = argv[++i] ?? null;
    else if (arg === '--limit') options.limit = Number(argv[++i]);
    else if (arg === '--verbose') options.verbose = true;
    else if (arg === '--user') options.user = argv[++i] ?? options.user;
    else if (arg === '--port') options.port = Number(argv[++i]);
  }
  return options;
}

/** Bare LF → CRLF: what Dovecot's sizes and line counts describe. */
function toCrlf(bytes: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x0a && (i === 0 || bytes[i - 1] !== 0x0d)) out.push(0x0d);
    out.push(b);
  }
  return Buffer.from(out);
}

// ---- a small IMAP response parser (lists, strings, literals, atoms) ----

const utf8 = new TextDecoder('utf-8', { fatal: true });
function text(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  skipSpaces(): void {
    while (this.buf[this.pos] === 0x20) this.pos++;
  }
  value(): Node {
    this.skipSpaces();
    const c = this.buf[this.pos];
    if (c === 0x28) {
      this.pos++;
      const items: Node[] = [];
      for (;;) {
        this.skipSpaces();
        if (this.buf[this.pos] === 0x29) {
          this.pos++;
          return items;
        }
        if (this.pos >= this.buf.length) throw new Error('unterminated list');
        items.push(this.value());
      }
    }
    if (c === 0x22) {
      const bytes: number[] = [];
      this.pos++;
      while (this.pos < this.buf.length && this.buf[this.pos] !== 0x22) {
        if (this.buf[this.pos] === 0x5c) this.pos++;
        bytes.push(this.buf[this.pos]!);
        this.pos++;
      }
      this.pos++;
      return text(Buffer.from(bytes));
    }
    if (c === 0x7b) {
      const close = this.buf.indexOf(0x7d, this.pos);
      const size = Number(this.buf.toString('latin1', this.pos + 1, close).replace('+', ''));
      const start = close + 3;
      this.pos = start + size;
      return text(this.buf.subarray(start, start + size));
    }
    let end = this.pos;
    while (end < this.buf.length && ![0x20, 0x28, 0x29, 0x0d, 0x0a].includes(this.buf[end]!)) {
      if (this.buf[end] === 0x5b) end = this.buf.indexOf(0x5d, end);
      end++;
    }
    const atom = this.buf.toString('latin1', this.pos, end);
    this.pos = end;
    if (atom === 'NIL') return null;
    if (/^\d+$/.test(atom)) return Number(atom);
    return { atom };
  }
}

function parseOne(wire: string): Node {
  return new Reader(Buffer.from(wire, 'utf8')).value();
}

/** FETCH responses of a raw answer: uid → item name → value. */
function parseFetchResponses(raw: Buffer): Map<number, Map<string, Node>> {
  const out = new Map<number, Map<string, Node>>();
  let pos = 0;
  while (pos < raw.length) {
    const fetch = raw.indexOf(' FETCH (', pos, 'latin1');
    if (fetch === -1) break;
    const reader = new Reader(raw);
    reader.pos = fetch + 7;
    const list = reader.value() as Node[];
    pos = reader.pos;
    const items = new Map<string, Node>();
    for (let i = 0; i + 1 < list.length; i += 2) {
      const key = list[i];
      if (key && typeof key === 'object' && 'atom' in key) items.set(key.atom.toUpperCase(), list[i + 1]!);
    }
    const uid = items.get('UID');
    if (typeof uid === 'number') out.set(uid, items);
  }
  return out;
}

// ---- comparison ----

function normalizeString(value: string): string {
  let s = value;
  const ext = /^([\w-]+)'[^']*'(.*)$/s.exec(s);
  if (ext) {
    const bytes = Buffer.from(ext[2]!.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
    s = decodeCharset(bytes, ext[1]);
  }
  if (s.includes('=?')) s = libmime.decodeWords(s);
  return s.replace(/\*(\d+\*?)?$/, '').replace(/\s+/g, ' ').trim().toLowerCase();
}

function normalize(node: Node): Node {
  if (Array.isArray(node)) return node.map(normalize);
  if (typeof node === 'string') return normalizeString(node);
  if (node && typeof node === 'object') return normalizeString(node.atom);
  return node;
}

function describe(node: Node | undefined): string {
  if (node === undefined) return '(missing)';
  if (node === null) return 'NIL';
  if (typeof node === 'number') return String(node);
  if (typeof node === 'string') return JSON.stringify(node);
  if (Array.isArray(node)) return `(${node.map(describe).join(' ')})`;
  return node.atom;
}

function differences(a: Node | undefined, b: Node | undefined, path: string, out: string[]): void {
  if (out.length >= 8) return;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) differences(a[i], b[i], `${path}[${i}]`, out);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path}: dovecot ${describe(a).slice(0, 200)}  ours ${describe(b).slice(0, 200)}`);
}

async function fetchRaw(options: Options): Promise<Buffer> {
  const socket = net.connect(options.port, options.host);
  let buffer = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  socket.on('data', (d: Buffer) => {
    buffer = Buffer.concat([buffer, d]);
    wake?.();
  });
  const until = async (pattern: RegExp): Promise<Buffer> => {
    for (;;) {
      const match = pattern.exec(buffer.toString('latin1'));
      if (match) {
        const out = buffer.subarray(0, match.index + match[0].length);
        buffer = buffer.subarray(match.index + match[0].length);
        return out;
      }
      await new Promise<void>((r) => (wake = r));
    }
  };
  await until(/\r\n/);
  socket.write(`a1 LOGIN ${options.user} pass\r\n`);
  await until(/(^|\r\n)a1 (OK|NO|BAD)[^\r]*\r\n/);
  socket.write(`a2 EXAMINE ${options.mailbox}\r\n`);
  await until(/(^|\r\n)a2 (OK|NO|BAD)[^\r]*\r\n/);
  socket.write('a3 UID FETCH 1:* (BODYSTRUCTURE ENVELOPE)\r\n');
  const raw = await until(/\r\na3 (OK|NO|BAD)[^\r]*\r\n/);
  socket.end('a4 LOGOUT\r\n');
  return raw;
}

function corpusFiles(options: Options): string[] {
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)), '..', 'shared', 'corpus');
  return readdirSync(root)
    .filter((name) => name !== 'CORPUS.md' && (options.filter === null || name.includes(options.filter)))
    .map((name) => join(root, name))
    .filter((path) => statSync(path).isFile())
    .sort()
    .slice(0, options.limit);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const files = corpusFiles(options);
  const client = new ImapFlow({ host: options.host, port: options.port, secure: false, doSTARTTLS: false, auth: { user: options.user, pass: 'pass' }, logger: false });
  try {
    await client.connect();
  } catch (err) {
    console.error(`Dovecot is not reachable on ${options.host}:${options.port} (${String(err)}); start it with ../shared/refstack/start.sh`);
    process.exitCode = 2;
    return;
  }
  try {
    await client.mailboxDelete(options.mailbox);
  } catch {
    // did not exist
  }
  await client.mailboxCreate(options.mailbox);
  const byUid = new Map<number, { file: string; bytes: Buffer }>();
  for (const file of files) {
    const bytes = toCrlf(readFileSync(file));
    if (bytes.length === 0) continue;
    const result = await client.append(options.mailbox, bytes);
    if (result && typeof result.uid === 'number') byUid.set(result.uid, { file, bytes });
    else console.log(`APPEND refused or no UID: ${file}`);
  }
  await client.logout();

  const responses = parseFetchResponses(await fetchRaw(options));
  let identical = 0;
  let cosmetic = 0;
  const real: string[] = [];
  for (const [uid, { file, bytes }] of byUid) {
    const items = responses.get(uid);
    if (!items) {
      real.push(`${file}: no FETCH response`);
      continue;
    }
    const index = indexMessage(bytes);
    const ours = { BODYSTRUCTURE: parseOne(encodeBodyStructure(index.part)), ENVELOPE: parseOne(encodeEnvelope(index.envelope)) };
    for (const item of ['BODYSTRUCTURE', 'ENVELOPE'] as const) {
      const theirs = items.get(item);
      if (JSON.stringify(theirs) === JSON.stringify(ours[item])) {
        identical++;
        continue;
      }
      const diffs: string[] = [];
      differences(normalize(theirs ?? null), normalize(ours[item]), item, diffs);
      if (diffs.length === 0) {
        cosmetic++;
        if (options.verbose) {
          const raw: string[] = [];
          differences(theirs, ours[item], item, raw);
          console.log(`cosmetic ${file.split('/').pop()}:\n  ${raw.join('\n  ')}`);
        }
        continue;
      }
      real.push(`${file.split('/').pop()}:\n  ${diffs.join('\n  ')}`);
    }
  }
  for (const line of real) console.log(line);
  console.log(`\n${byUid.size} messages, ${byUid.size * 2} items: ${identical} identical, ${cosmetic} cosmetic differences, ${real.length} real differences`);
}

await main();
