/**
 * POP3 maildrop semantics against the real store: the exclusive lock ([IN-USE]), snapshot at
 * login, dropped connections, changes made meanwhile through the store API (what IMAP does:
 * expunge, append), UIDL stability across sessions and restarts, and retention.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createSharedAuth, openStore, protocolHandlers } from '../src/compose.js';
import { loadConfig } from '../src/config/index.js';
import { LocalChangeBus } from '../src/events/local.js';
import { createLogger } from '../src/log/index.js';
import { InProcessMaildropLocks, RetentionScheduler } from '../src/pop3/index.js';
import { startServer } from '../src/server.js';
import { hashPassword } from '../src/auth/password.js';
import { Pop3TestClient } from './helpers/pop3-client.js';
import { PASSWORD, USER, appendMessages, message, setApopSecret, startPop3Server } from './helpers/pop3-server.js';
import type { Pop3Fixture } from './helpers/pop3-server.js';

const DAY = 86_400_000;

async function login(port: number, options: { tls?: boolean } = { tls: true }): Promise<{ client: Pop3TestClient; reply: string }> {
  const { client } = await Pop3TestClient.connect(port, options);
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  return { client, reply: await client.command(`PASS ${PASSWORD}`) };
}

/** Logs in, retrying while a session the client dropped still holds the maildrop (the server notices the close asynchronously). */
async function loginWhenFree(port: number): Promise<{ client: Pop3TestClient; reply: string }> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const attempt = await login(port);
    if (!attempt.reply.includes('[IN-USE]') || Date.now() > deadline) return attempt;
    attempt.client.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a second session gets -ERR [IN-USE] until the first one ends (also across 110 and 995)', async (t) => {
  const fx = await startPop3Server(t);
  await fx.append(message('a', 'x'));
  await setApopSecret(fx.server, USER, 'tanstaaf');
  const first = await login(fx.pop3sPort);
  assert.match(first.reply, /^\+OK maildrop has 1 message/);
  const second = await login(fx.pop3sPort);
  assert.equal(second.reply, '-ERR [IN-USE] maildrop is locked by another POP3 session');
  // Still in AUTHORIZATION: APOP over port 110 is refused the same way.
  const apop = (await Pop3TestClient.connect(fx.pop3Port)).client;
  assert.equal(await apop.command(`APOP ${USER} c4c9334bac560ecc979e58001b3e22fb`), '-ERR [IN-USE] maildrop is locked by another POP3 session');
  assert.equal(await second.client.command('STAT'), '-ERR command not valid in this state');
  assert.equal(await first.client.command('QUIT'), '+OK Mailhaven POP3 server signing off (1 message left)');
  await first.client.waitClosed();
  assert.equal(await second.client.command(`USER ${USER}`), '+OK send PASS');
  assert.match(await second.client.command(`PASS ${PASSWORD}`), /^\+OK maildrop has 1 message/);
  assert.equal(await second.client.command('QUIT'), '+OK Mailhaven POP3 server signing off (1 message left)');
});

test('a dropped connection deletes nothing and gives the lock back', async (t) => {
  const fx = await startPop3Server(t);
  await fx.append(message('a', 'x'), message('b', 'y'));
  const first = await login(fx.pop3sPort);
  assert.equal(await first.client.command('DELE 1'), '+OK message 1 deleted');
  assert.equal(await first.client.command('DELE 2'), '+OK message 2 deleted');
  first.client.close();
  const next = await loginWhenFree(fx.pop3sPort);
  assert.match(next.reply, /^\+OK maildrop has 2 messages/);
  assert.equal((await fx.server.messages(USER)).length, 2);
  assert.equal(await next.client.command('QUIT'), '+OK Mailhaven POP3 server signing off (2 messages left)');
});

test('IMAP-style changes while POP3 is open: expunged messages give -ERR, never other content', async (t) => {
  const fx = await startPop3Server(t);
  const bodies = [message('one', 'body one'), message('two', 'body two'), message('three', 'body three')];
  const uids = await fx.append(...bodies);
  const { client, reply } = await login(fx.pop3sPort);
  assert.match(reply, /^\+OK maildrop has 3 messages/);

  // Another session (IMAP) expunges message 2 and delivers a new one.
  await fx.store.expunge(fx.account.id, fx.inboxId, [uids[1]!]);
  await fx.append(message('four', 'late arrival'));

  assert.equal(await client.command('RETR 2'), '-ERR message 2 no longer exists (removed by another session)');
  assert.equal(await client.command('TOP 2 0'), '-ERR message 2 no longer exists (removed by another session)');
  assert.equal((await client.multiline('RETR 3')).lines.join('\r\n') + '\r\n', bodies[2]);
  assert.equal((await client.multiline('RETR 1')).lines.join('\r\n') + '\r\n', bodies[0]);
  // The snapshot is fixed for the session (RFC 1939 4): still three numbers, no new message.
  assert.equal((await client.multiline('LIST')).lines.length, 3);
  assert.equal(await client.command('LIST 4'), '-ERR no such message, only 3 messages in maildrop');

  const before = await fx.store.currentModseq(fx.account.id);
  assert.equal(await client.command('DELE 1'), '+OK message 1 deleted');
  assert.equal(await client.command('DELE 2'), '+OK message 2 deleted');
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (1 message left)');
  // IMAP sees the POP3 deletion as an ordinary EXPUNGE.
  const changes = await fx.store.changesSince(fx.account.id, before);
  assert.deepEqual(changes.changes.map((c) => [c.kind, 'uid' in c ? c.uid : null]), [['expunged', uids[0]]]);
  assert.deepEqual((await fx.server.messages(USER)).map((m) => m.uid), [uids[2], uids[2]! + 1]);

  const next = await login(fx.pop3sPort);
  assert.match(next.reply, /^\+OK maildrop has 2 messages/);
  assert.equal(await next.client.command('QUIT'), '+OK Mailhaven POP3 server signing off (2 messages left)');
});

test('UIDL is UIDVALIDITY.UID: identical across sessions and after other messages go', async (t) => {
  const fx = await startPop3Server(t);
  const uids = await fx.append(message('a', '1'), message('b', '2'), message('c', '3'));
  const inbox = await fx.store.getMailboxById(fx.inboxId);
  const first = await login(fx.pop3sPort);
  const listing = (await first.client.multiline('UIDL')).lines;
  assert.deepEqual(listing, uids.map((uid, i) => `${i + 1} ${inbox!.uidValidity}.${uid}`));
  assert.equal(await first.client.command('DELE 1'), '+OK message 1 deleted');
  assert.equal(await first.client.command('QUIT'), '+OK Mailhaven POP3 server signing off (2 messages left)');
  const second = await login(fx.pop3sPort);
  assert.deepEqual((await second.client.multiline('UIDL')).lines, [`1 ${inbox!.uidValidity}.${uids[1]}`, `2 ${inbox!.uidValidity}.${uids[2]}`]);
  assert.equal(await second.client.command('QUIT'), '+OK Mailhaven POP3 server signing off (2 messages left)');
});

test('UIDL is the same after a server restart on the same data', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-pop3-restart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mailhaven.toml');
  writeFileSync(
    file,
    ['hostname = "restart.test"', 'data_dir = "data"', '[auth]', 'allow_plaintext_on_loopback = true', '[listen]', ...['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3s', 'http'].map((name) => `${name} = []`), 'pop3 = ["127.0.0.1:0"]', ''].join('\n'),
  );
  const uidlOnce = async (setup: boolean): Promise<string[]> => {
    const config = loadConfig({ configPath: file, env: {}, cwd: dir, uid: 1000 });
    const logger = createLogger({ level: 'silent' });
    const bus = new LocalChangeBus();
    const store = await openStore(config, bus, logger, { server: true });
    const server = await startServer(config, { store, bus, logger }, await protocolHandlers(await createSharedAuth(config, store), { pop3: { retentionIntervalMs: 0 } }));
    try {
      if (setup) {
        await store.addDomain('example.org');
        const account = await store.addAccount(USER, await hashPassword(PASSWORD), null);
        const inbox = await store.getMailbox(account.id, 'INBOX');
        await appendMessages(store, account.id, inbox!.id, [message('a', '1'), message('b', '2')]);
      }
      const { client, reply } = await login(server.addresses().pop3[0]!.port, {});
      assert.match(reply, /^\+OK maildrop has 2 messages/);
      const lines = (await client.multiline('UIDL')).lines;
      assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (2 messages left)');
      return lines;
    } finally {
      await server.close(1000);
      await store.close();
      await bus.close();
    }
  };
  const before = await uidlOnce(true);
  const after = await uidlOnce(false);
  assert.equal(before.length, 2);
  assert.deepEqual(after, before);
});

// ---- retention ---------------------------------------------------------------------------------

interface Clock {
  now: number;
}

async function retentionFixture(t: TestContext, options: { intervalMs?: number } = {}): Promise<{ fx: Pop3Fixture; clock: Clock; locks: InProcessMaildropLocks }> {
  const clock: Clock = { now: Date.UTC(2030, 0, 1) };
  const locks = new InProcessMaildropLocks();
  const fx = await startPop3Server(t, { pop3: { locks, now: () => new Date(clock.now), retentionIntervalMs: options.intervalMs ?? 0 } });
  return { fx, clock, locks };
}

test('retention: EXPIRE in CAPA before login (shortest, USER) and after login (own policy)', async (t) => {
  const { fx } = await retentionFixture(t);
  await fx.server.addUser('keeper@example.org', 'pw');
  await fx.store.setPop3Retention({ domain: 'example.org' }, 30);
  await fx.store.setPop3Retention({ address: USER }, 7);
  await fx.store.setPop3Retention({ address: 'keeper@example.org' }, 'never');
  const { client } = await Pop3TestClient.connect(fx.pop3sPort, { tls: true });
  assert.ok((await client.multiline('CAPA')).lines.includes('EXPIRE 7 USER'));
  assert.equal(await client.command(`USER ${USER}`), '+OK send PASS');
  assert.match(await client.command(`PASS ${PASSWORD}`), /^\+OK/);
  assert.ok((await client.multiline('CAPA')).lines.includes('EXPIRE 7'));
  assert.equal(await client.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
  const keeper = (await Pop3TestClient.connect(fx.pop3sPort, { tls: true })).client;
  assert.equal(await keeper.command('USER keeper@example.org'), '+OK send PASS');
  assert.match(await keeper.command('PASS pw'), /^\+OK/);
  assert.ok((await keeper.multiline('CAPA')).lines.includes('EXPIRE NEVER'));
  assert.equal(await keeper.command('QUIT'), '+OK Mailhaven POP3 server signing off (maildrop empty)');
});

test('retention: RETR (or a whole TOP) + QUIT records the first download; partial TOP and dropped sessions do not', async (t) => {
  const { fx, clock } = await retentionFixture(t);
  const uids = await fx.append(message('a', '1'), message('b', '2'), message('c', '3'));
  await fx.store.setPop3Retention({ domain: 'example.org' }, 3);
  const dropped = await login(fx.pop3sPort);
  await dropped.client.multiline('RETR 3');
  dropped.client.close();

  // The download counts when the session ends with QUIT (RFC 1939 8: never on abnormal ends).
  const quitAt = clock.now;
  const session = await loginWhenFree(fx.pop3sPort);
  assert.match(session.reply, /^\+OK maildrop has 3 messages/);
  assert.equal((await session.client.multiline('RETR 1')).status.startsWith('+OK'), true);
  // TOP of part of a message is no download; TOP that sends all of it is (fetchmail keep mode).
  assert.equal((await session.client.multiline('TOP 2 0')).status, '+OK top of message follows');
  assert.equal((await session.client.multiline('TOP 3 99999999')).status, '+OK top of message follows');
  assert.equal(await session.client.command('QUIT'), '+OK Mailhaven POP3 server signing off (3 messages left)');
  assert.deepEqual(await fx.store.listPop3Expired(new Date(quitAt + 3 * DAY - 1)), []);
  assert.deepEqual(await fx.store.listPop3Expired(new Date(quitAt + 3 * DAY)), [{ accountId: fx.account.id, mailboxId: fx.inboxId, uids: [uids[0], uids[2]] }]);

  // Downloading it again later keeps the first time.
  clock.now += DAY;
  const again = await login(fx.pop3sPort);
  await again.client.multiline('RETR 1');
  assert.equal(await again.client.command('QUIT'), '+OK Mailhaven POP3 server signing off (3 messages left)');
  assert.deepEqual(await fx.store.listPop3Expired(new Date(quitAt + 3 * DAY)), [{ accountId: fx.account.id, mailboxId: fx.inboxId, uids: [uids[0], uids[2]] }]);
});

test('retention scheduler: expunges due messages, skips a maildrop held by a session', async (t) => {
  const { fx, clock, locks } = await retentionFixture(t);
  const uids = await fx.append(message('a', '1'), message('b', '2'));
  await fx.store.setPop3Retention({ address: USER }, 2);
  await fx.store.recordPop3Downloads(fx.inboxId, [uids[0]!], new Date(clock.now));
  const scheduler = new RetentionScheduler({ store: fx.store, locks, logger: createLogger({ level: 'silent' }), now: () => new Date(clock.now) });
  assert.deepEqual(await scheduler.runOnce(), { expunged: 0, skipped: 0 });
  clock.now += 2 * DAY;

  const session = await login(fx.pop3sPort);
  assert.deepEqual(await scheduler.runOnce(), { expunged: 0, skipped: 1 });
  assert.equal(await session.client.command('QUIT'), '+OK Mailhaven POP3 server signing off (2 messages left)');
  await session.client.waitClosed();

  const before = await fx.store.currentModseq(fx.account.id);
  assert.deepEqual(await scheduler.runOnce(), { expunged: 1, skipped: 0 });
  assert.deepEqual((await fx.server.messages(USER)).map((m) => m.uid), [uids[1]]);
  // An ordinary expunge: IMAP sessions see it in the change log.
  assert.deepEqual((await fx.store.changesSince(fx.account.id, before)).changes.map((c) => c.kind), ['expunged']);
  await scheduler.stop();
});

test('retention scheduler: batches and the account cursor cover every account', async (t) => {
  const { fx, clock, locks } = await retentionFixture(t);
  const second = await fx.server.addUser('second@example.org', 'pw');
  const secondInbox = await fx.store.getMailbox(second.id, 'INBOX');
  const mine = await fx.append(...Array.from({ length: 5 }, (_, i) => message(`m${i}`, 'x')));
  const theirs = await appendMessages(fx.store, second.id, secondInbox!.id, Array.from({ length: 4 }, (_, i) => message(`t${i}`, 'y')));
  await fx.store.setPop3Retention({ domain: 'example.org' }, 1);
  await fx.store.recordPop3Downloads(fx.inboxId, mine, new Date(clock.now));
  await fx.store.recordPop3Downloads(secondInbox!.id, theirs, new Date(clock.now));
  clock.now += DAY;
  const held = await locks.tryAcquire(fx.account.id, 'test');
  const scheduler = new RetentionScheduler({ store: fx.store, locks, logger: createLogger({ level: 'silent' }), now: () => new Date(clock.now), batch: 2 });
  assert.deepEqual(await scheduler.runOnce(), { expunged: 4, skipped: 1 });
  await held!.release();
  assert.deepEqual(await scheduler.runOnce(), { expunged: 5, skipped: 0 });
  assert.deepEqual(await fx.server.messages(USER), []);
  assert.deepEqual(await fx.server.messages('second@example.org'), []);
});

test('retention: the handler runs the scheduler on its own timer', async (t) => {
  const { fx, clock } = await retentionFixture(t, { intervalMs: 30 });
  const uids = await fx.append(message('a', '1'));
  await fx.store.setPop3Retention({ domain: 'example.org' }, 1);
  await fx.store.recordPop3Downloads(fx.inboxId, uids, new Date(clock.now));
  clock.now += DAY;
  await waitFor(async () => (await fx.server.messages(USER)).length === 0);
});
