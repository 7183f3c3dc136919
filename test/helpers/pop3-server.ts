/**
 * POP3 test fixtures on top of the full test server (./server.ts): a server with both POP3
 * listeners, a user with messages in INBOX (appended through the store, as delivery does),
 * the APOP secret set the way `mailhaven user apop` sets it, and a known APOP timestamp.
 */
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { encryptSecret, loadOrCreateSecretKey } from '../../src/auth/index.js';
import { indexMessage } from '../../src/mime/indexer.js';
import type { Pop3HandlerOptions } from '../../src/pop3/index.js';
import type { Account, Id, MailStore } from '../../src/store/types.js';
import { startTestServer } from './server.js';
import type { TestServer } from './server.js';

export const USER = 'tim@example.org';
export const PASSWORD = 'correct horse battery';
/** The timestamp every greeting carries in tests, so APOP digests can be computed in advance. */
export const APOP_TIMESTAMP = '<1896.697170952@dbc.mtview.ca.us>';

export interface Pop3Fixture {
  server: TestServer;
  store: MailStore;
  account: Account;
  inboxId: Id;
  pop3Port: number;
  pop3sPort: number;
  /** Appends messages to the user's INBOX; returns their UIDs. */
  append(...messages: Array<string | Buffer>): Promise<number[]>;
}

export interface Pop3FixtureOptions {
  /** Extra TOML for the server (e.g. "[auth]\nallow_plaintext_on_loopback = true"). */
  toml?: string;
  pop3?: Pop3HandlerOptions;
  logLines?: Array<Record<string, unknown>>;
}

export async function startPop3Server(t: TestContext, options: Pop3FixtureOptions = {}): Promise<Pop3Fixture> {
  const server = await startTestServer(t, {
    listeners: ['pop3', 'pop3s'],
    toml: options.toml ?? '',
    protocols: { pop3: { apopTimestamp: () => APOP_TIMESTAMP, retentionIntervalMs: 0, ...options.pop3 } },
    ...(options.logLines ? { logLines: options.logLines } : {}),
  });
  await server.addDomain('example.org');
  const account = await server.addUser(USER, PASSWORD);
  const inbox = await server.store.getMailbox(account.id, 'INBOX');
  if (inbox === null) throw new Error('no INBOX');
  return {
    server,
    store: server.store,
    account,
    inboxId: inbox.id,
    pop3Port: server.port('pop3'),
    pop3sPort: server.port('pop3s'),
    append: (...messages) => appendMessages(server.store, account.id, inbox.id, messages),
  };
}

export async function appendMessages(store: MailStore, accountId: Id, mailboxId: Id, messages: Array<string | Buffer>): Promise<number[]> {
  const uids: number[] = [];
  for (const message of messages) {
    const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
    const writer = store.createBlobWriter();
    await writer.write(bytes);
    const blob = await writer.finish();
    const [result] = await store.append(accountId, mailboxId, [{ blob, index: indexMessage(bytes) }]);
    if (result === undefined) throw new Error('append returned nothing');
    uids.push(result.uid);
  }
  return uids;
}

/** What `mailhaven user apop ADDRESS --secret-stdin` does: encrypt with the server key, store. */
export async function setApopSecret(server: TestServer, address: string, secret: string | null): Promise<void> {
  const account = await server.store.getAccount(address);
  if (account === null) throw new Error(`no account ${address}`);
  if (secret === null) {
    await server.store.setSecret(address, null);
    return;
  }
  const key = await loadOrCreateSecretKey(join(server.config.dataDir, 'secret.key'));
  await server.store.setSecret(address, encryptSecret(secret, key, account.id));
}

/** A small RFC 5322 message with a given subject and body lines (CRLF). */
export function message(subject: string, ...body: string[]): string {
  return `From: sender@example.net\r\nTo: ${USER}\r\nSubject: ${subject}\r\n\r\n${body.map((line) => `${line}\r\n`).join('')}`;
}
