/**
 * Shared pieces of the fault-injection tests (test/fault-*.test.ts): one delivery per protocol
 * driven over a real socket, and the store checks that prove a failure left nothing partial.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { ImapTestClient } from './imap-client.js';
import { Pop3TestClient } from './pop3-client.js';
import { SmtpTestClient } from './smtp-client.js';
import type { ClientReply } from './smtp-client.js';
import type { TestServer } from './server.js';

export const DOMAIN = 'example.test';
export const USER = `tim@${DOMAIN}`;
export const PASSWORD = 'fault-tests-pass';
/** Plaintext LOGIN / USER+PASS on loopback, for short transcripts. */
export const PLAINTEXT_TOML = '[auth]\nallow_plaintext_on_loopback = true';

export function sampleMessage(subject: string, bodyBytes = 200): string {
  const line = 'The quick brown fox jumps over the lazy dog 0123456789.\r\n';
  const body = line.repeat(Math.max(1, Math.ceil(bodyBytes / line.length)));
  return `From: Ann <ann@example.org>\r\nTo: ${USER}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n${body}`;
}

/** An SMTP client past EHLO, ready for transactions. */
export async function smtpSession(port: number, timeoutMs = 10_000): Promise<SmtpTestClient> {
  const { client, greeting } = await SmtpTestClient.open(port, { timeoutMs });
  assert.equal(greeting.code, 220);
  assert.equal((await client.ehlo()).reply.code, 250);
  return client;
}

/**
 * One transaction: MAIL, RCPT, DATA. Returns the reply that ends it: the one to DATA when the
 * server refuses before 354, the final reply otherwise. After a failure it sends RSET, as a
 * client does before trying again (a DATA refused before 354 leaves the envelope open).
 */
export async function smtpSend(client: SmtpTestClient, subject: string, bodyBytes = 200): Promise<ClientReply> {
  assert.equal((await client.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.equal((await client.command(`RCPT TO:<${USER}>`)).code, 250);
  const [, final] = await client.data(sampleMessage(subject, bodyBytes));
  if (final.code !== 250) assert.equal((await client.command('RSET')).code, 250);
  return final;
}

/** APPEND with a synchronizing literal; returns the tagged response line. */
export async function imapAppend(client: ImapTestClient, tag: string, message: string): Promise<string> {
  const data = Buffer.from(message, 'utf8');
  client.write(`${tag} APPEND INBOX {${data.length}}\r\n`);
  const first = await client.readLine();
  if (!first.startsWith('+')) return first; // refused before the continuation
  client.write(Buffer.concat([data, Buffer.from('\r\n')]));
  const lines = await client.readUntilTagged(tag);
  return lines[lines.length - 1] ?? '';
}

/** A POP3 session in TRANSACTION state. */
export async function pop3Login(port: number): Promise<Pop3TestClient> {
  const { client, greeting } = await Pop3TestClient.connect(port);
  assert.match(greeting, /^\+OK/);
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  assert.match(await client.command(`PASS ${PASSWORD}`), /^\+OK maildrop has/);
  return client;
}

/** Regular files under `dir`, recursively (paths relative to it). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (sub: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(dir, sub));
    } catch {
      return;
    }
    for (const name of names) {
      const rel = sub === '' ? name : join(sub, name);
      if (statSync(join(dir, rel)).isDirectory()) walk(rel);
      else out.push(rel);
    }
  };
  walk('');
  return out.sort();
}

/**
 * Nothing partial is visible: every blob under its final name holds exactly the bytes its name
 * (SHA-256) promises, every message row names a blob that exists and reads back whole, and no
 * staged temp file of a failed write was left behind. Returns the rows of USER's INBOX.
 */
export async function assertNothingPartial(server: TestServer): Promise<Array<{ uid: number; blobHash: string }>> {
  const dataDir = server.config.dataDir;
  for (const rel of filesUnder(join(dataDir, 'blobs'))) {
    const name = rel.split('/').pop() ?? '';
    const digest = createHash('sha256').update(readFileSync(join(dataDir, 'blobs', rel))).digest('hex');
    assert.equal(digest, name, `blob ${rel} holds other bytes than its name says (half written?)`);
  }
  const rows = await server.messages(USER);
  for (const row of rows) {
    const bytes = await server.store.readMessage(row);
    assert.equal(bytes.length, row.size, `message uid ${row.uid} reads back ${bytes.length} of ${row.size} octets`);
  }
  // The sweeper may hold a blob set aside as gc-<hash>-… for a moment; anything else is a leftover.
  const staged = filesUnder(join(dataDir, 'tmp')).filter((rel) => !/(^|\/)gc-[0-9a-f]{64}-[0-9a-f]+$/.test(rel));
  assert.deepEqual(staged, [], 'staged temp files left behind');
  return rows;
}

/**
 * Blob files that no row names and that are not queued in blob_trash either: space that would
 * only come back at the next restart (recovery's orphan scan). Read straight from the database
 * file, as another process would.
 */
export function unqueuedOrphans(server: TestServer): string[] {
  const dataDir = server.config.dataDir;
  const db = new Database(join(dataDir, 'mailhaven.db'), { readonly: true });
  try {
    const known = new Set<string>([
      ...db.prepare('SELECT blob_hash FROM messages').pluck().all(),
      ...db.prepare('SELECT blob_hash FROM queue WHERE blob_hash IS NOT NULL').pluck().all(),
      ...db.prepare('SELECT hash FROM blob_trash').pluck().all(),
    ] as string[]);
    return filesUnder(join(dataDir, 'blobs'))
      .map((rel) => rel.split('/').pop() ?? '')
      .filter((hash) => !known.has(hash));
  } finally {
    db.close();
  }
}

/** Waits (up to 5 s) until every unreferenced blob is queued for the sweeper. */
export async function assertOrphansQueued(server: TestServer): Promise<void> {
  const deadline = Date.now() + 5000;
  let left = unqueuedOrphans(server);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    left = unqueuedOrphans(server);
  }
  assert.deepEqual(left, [], 'blobs neither referenced nor queued for deletion (leaked until a restart)');
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Log lines at `level` or above whose message is `msg`. */
export function logged(lines: ReadonlyArray<Record<string, unknown>>, msg: string, level: 'warn' | 'error' = 'warn'): Array<Record<string, unknown>> {
  const min = LEVELS.indexOf(level);
  return lines.filter((line) => line.msg === msg && LEVELS.indexOf(String(line.level)) >= min);
}
