/**
 * The MailStore conformance suite: every backend runs the same tests through the interface only
 * (no SQL, no file peeking). A backend registers it from its test file:
 *
 *   runStoreConformance('sqlite', async ({ now }) => ({ store, bus, cleanup }), { skip: { 'name': 'why' } });
 *
 * Every test gets a fresh store from `makeStore` and closes it; nothing is shared between tests.
 * Backend-specific checks (fsync order, blob files, busy handling) live in that backend's tests.
 * @module
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChangeBus, WakeUp } from '../events/types.js';
import type { Readable } from 'node:stream';
import { indexMessage } from '../mime/indexer.js';
import type { MessageIndex } from '../mime/types.js';
import type { AttemptOutcome, OutboundQueueStore } from '../queue/types.js';
import { hasOutboundQueue } from '../queue/types.js';
import { hasDkimKeyStore } from '../queue/dkim-keys.js';
import type { NewDkimKey } from '../queue/dkim-keys.js';
import type { Account, Change, ChangeLogPruning, Id, MailStore, Mailbox, NewMessage, StagedBlob } from './types.js';
import { hasChangeLogPruning, MAX_POP3_RETENTION_DAYS, StoreError, SystemFlag } from './types.js';

export interface StoreHandle {
  store: MailStore;
  bus: ChangeBus;
  /** Removes everything the store left (temp dirs, databases); the suite closes the store first. */
  cleanup(): Promise<void>;
  /** Backend hook: how many distinct blobs are stored (for "one blob, N rows"); optional. */
  countBlobs?(): Promise<number>;
}

export interface StoreFactoryOptions {
  /** Clock in milliseconds; the store must use it for UIDVALIDITY and internal dates. */
  now?: () => number;
}

export type MakeStore = (opts: StoreFactoryOptions) => Promise<StoreHandle>;

export interface ConformanceOptions {
  /** Test name → reason it does not apply to this backend. */
  skip?: Record<string, string>;
  /** Indexer for appended bytes; defaults to mime/indexer. */
  indexMessage?: (bytes: Uint8Array) => MessageIndex;
}

const DOMAIN = 'example.org';
const USER = 'user@example.org';

export function runStoreConformance(name: string, makeStore: MakeStore, opts: ConformanceOptions = {}): void {
  const index = opts.indexMessage ?? ((bytes: Uint8Array) => indexMessage(bytes));

  describe(`MailStore conformance: ${name}`, () => {
    const it = (title: string, body: (ctx: Ctx) => Promise<void>, factory: StoreFactoryOptions = {}): void => {
      const reason = opts.skip?.[title];
      test(title, reason === undefined ? {} : { skip: reason }, async () => {
        const handle = await makeStore(factory);
        try {
          await body(new Ctx(handle, index));
        } finally {
          await handle.store.close();
          await handle.cleanup();
        }
      });
    };

    // ---- directory -----------------------------------------------------------------------------

    it('domains: add, get, list, duplicate, delete', async ({ store }) => {
      const added = await store.addDomain('Example.ORG');
      assert.equal(added.name, 'example.org');
      await store.addDomain('other.test');
      await expectStoreError(store.addDomain('example.org'), 'exists');
      assert.equal((await store.getDomain('EXAMPLE.org'))?.id, added.id);
      assert.equal(await store.getDomain('missing.test'), null);
      assert.deepEqual(
        (await store.listDomains()).map((d) => d.name),
        ['example.org', 'other.test'],
      );
      await store.deleteDomain('other.test');
      await expectStoreError(store.deleteDomain('other.test'), 'notFound');
      assert.deepEqual(
        (await store.listDomains()).map((d) => d.name),
        ['example.org'],
      );
    });

    it('accounts: lower-cased, duplicates refused, default mailboxes subscribed', async ({ store }) => {
      await expectStoreError(store.addAccount(USER, 'hash', null), 'notFound');
      await store.addDomain(DOMAIN);
      const account = await store.addAccount('User@Example.org', '$argon2id$x', 5000);
      assert.equal(account.address, USER);
      assert.equal(account.passwordHash, '$argon2id$x');
      assert.equal(account.quotaBytes, 5000);
      assert.equal(account.quotaMessages, null);
      assert.equal(account.usedBytes, 0);
      assert.equal(account.usedMessages, 0);
      await expectStoreError(store.addAccount('USER@example.org', 'h', null), 'exists');
      assert.equal((await store.getAccount('USER@EXAMPLE.ORG'))?.id, account.id);
      assert.equal((await store.getAccountById(account.id))?.address, USER);
      assert.equal(await store.getAccount('nobody@example.org'), null);
      assert.equal(await store.getAccountById(account.id + 1000), null);
      const boxes = await store.listMailboxes(account.id);
      assert.deepEqual(
        boxes.map((b) => [b.name, b.specialUse]).sort(),
        [
          ['Archive', '\\Archive'],
          ['Drafts', '\\Drafts'],
          ['INBOX', null],
          ['Junk', '\\Junk'],
          ['Sent', '\\Sent'],
          ['Trash', '\\Trash'],
        ],
      );
      for (const box of boxes) {
        assert.equal(box.uidNext, 1);
        assert.equal(box.messageCount, 0);
      }
      assert.deepEqual(await store.listSubscriptions(account.id), ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
      await store.addAccount('second@example.org', 'h', null);
      assert.deepEqual(
        (await store.listAccounts()).map((a) => a.address),
        ['second@example.org', USER],
      );
      await expectStoreError(store.deleteDomain(DOMAIN), 'cannot');
    });

    it('accounts: password, quota, secret', async ({ store }) => {
      const account = await setupAccount(store);
      await store.setPassword(USER, 'new-hash');
      await store.setQuota(USER, 1234);
      await store.setSecret(USER, 'encrypted');
      const updated = await store.getAccount(USER);
      assert.equal(updated?.passwordHash, 'new-hash');
      assert.equal(updated?.quotaBytes, 1234);
      assert.equal(await store.getSecret(account.id), 'encrypted');
      await store.setSecret(USER, null);
      assert.equal(await store.getSecret(account.id), null);
      await store.setQuota(USER, null);
      assert.equal((await store.getAccount(USER))?.quotaBytes, null);
      await expectStoreError(store.setPassword('nobody@example.org', 'x'), 'notFound');
      await expectStoreError(store.setQuota('nobody@example.org', 1), 'notFound');
      await expectStoreError(store.setQuota(USER, -1), 'invalid');
      const kinds = (await store.changesSince(account.id, 0)).changes.filter((c) => c.kind === 'account');
      assert.equal(kinds.length, 5);
      assert.ok(kinds.every((c) => c.kind === 'account' && !c.deleted));
    });

    it('aliases and catch-all', async ({ store }) => {
      await setupAccount(store);
      await store.addAlias('Postmaster@Example.org', [USER, 'Someone@Remote.test']);
      await store.addAlias('@example.org', [USER]);
      assert.deepEqual(await store.getAlias('postmaster@example.org'), {
        address: 'postmaster@example.org',
        targets: [USER, 'someone@remote.test'],
      });
      assert.deepEqual(await store.getAlias('@EXAMPLE.org'), { address: '@example.org', targets: [USER] });
      assert.equal(await store.getAlias('nobody@example.org'), null);
      assert.deepEqual(await store.listAliases(), [
        { address: '@example.org', targets: [USER] },
        { address: 'postmaster@example.org', targets: [USER, 'someone@remote.test'] },
      ]);
      await expectStoreError(store.addAlias('postmaster@example.org', [USER]), 'exists');
      await expectStoreError(store.addAlias(USER, ['x@remote.test']), 'exists');
      await expectStoreError(store.addAccount('postmaster@example.org', 'h', null), 'exists');
      await expectStoreError(store.addAlias('x@unknown.test', [USER]), 'notFound');
      await expectStoreError(store.addAlias('x@example.org', []), 'invalid');
      await store.deleteAlias('postmaster@example.org');
      await expectStoreError(store.deleteAlias('postmaster@example.org'), 'notFound');
      assert.deepEqual(
        (await store.listAliases()).map((a) => a.address),
        ['@example.org'],
      );
      await store.deleteAlias('@example.org');
      await store.deleteAccount(USER);
      await store.deleteDomain(DOMAIN);
      assert.deepEqual(await store.listDomains(), []);
    });

    it('deleteAccount removes everything and logs the deletion', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      await ctx.append(account.id, inbox.id, 'one');
      const mailboxesBefore = await store.listMailboxes(account.id);
      await store.deleteAccount(USER);
      assert.equal(await store.getAccount(USER), null);
      assert.equal(await store.getAccountById(account.id), null);
      assert.deepEqual(await store.listMailboxes(account.id), []);
      for (const box of mailboxesBefore) assert.equal(await store.getMailboxById(box.id), null);
      const batch = await store.changesSince(account.id, 0);
      const last = batch.changes[batch.changes.length - 1];
      assert.equal(last?.kind, 'account');
      assert.equal(last?.kind === 'account' && last.deleted, true);
      assert.equal(batch.modseq, last?.modseq);
      await expectStoreError(store.deleteAccount(USER), 'notFound');
      // The address is free again, and a new account starts from scratch.
      const again = await store.addAccount(USER, 'h', null);
      assert.notEqual(again.id, account.id);
      assert.equal(again.usedMessages, 0);
    });

    // ---- UIDs, UIDVALIDITY, MODSEQ -------------------------------------------------------------

    it('UIDs are strictly ascending and never reused after expunge', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const first = await ctx.appendMany(account.id, inbox.id, ['a', 'b', 'c']);
      assert.deepEqual(
        first.map((r) => r.uid),
        [1, 2, 3],
      );
      const expunged = await store.expunge(account.id, inbox.id, [2, 3, 99]);
      assert.deepEqual(expunged.uids, [2, 3]);
      const next = await ctx.append(account.id, inbox.id, 'd');
      assert.equal(next.uid, 4);
      const box = await mailbox(store, account.id, 'INBOX');
      assert.equal(box.uidNext, 5);
      assert.equal(box.uidValidity, first[0]?.uidValidity);
      assert.deepEqual(
        (await store.listMessages(inbox.id)).map((m) => m.uid),
        [1, 4],
      );
      await store.expunge(account.id, inbox.id, [1, 4]);
      assert.equal((await ctx.append(account.id, inbox.id, 'e')).uid, 5);
    });

    let clock = Date.UTC(2030, 0, 1);
    it(
      'UIDVALIDITY is new when a mailbox is re-created, even with a clock gone back',
      async (ctx) => {
        const { store } = ctx;
        const account = await setupAccount(store);
        const created = await store.createMailbox(account.id, 'Lists');
        const sibling = await store.createMailbox(account.id, 'Other');
        assert.ok(sibling.uidValidity > created.uidValidity, 'two mailboxes created in one second differ');
        await ctx.append(account.id, created.id, 'one');
        await store.deleteMailbox(account.id, 'Lists');
        clock -= 86_400_000; // the clock jumps back a day
        const recreated = await store.createMailbox(account.id, 'Lists');
        assert.ok(recreated.uidValidity > sibling.uidValidity, `${recreated.uidValidity} > ${sibling.uidValidity}`);
        assert.equal(recreated.uidNext, 1);
        assert.notEqual(recreated.id, created.id);
        assert.ok(created.uidValidity >= Math.floor(Date.UTC(2030, 0, 1) / 1000));
      },
      { now: () => clock },
    );

    it('MODSEQ is strictly ascending across all operations', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const seen: number[] = [];
      const note = async (): Promise<void> => {
        seen.push(await store.currentModseq(account.id));
      };
      await note();
      const [appended] = await ctx.appendMany(account.id, inbox.id, ['a', 'b', 'c']);
      assert.equal(appended?.modseq, await store.currentModseq(account.id));
      await note();
      const flags = await store.updateFlags(account.id, inbox.id, [1, 2], { op: 'add', flags: SystemFlag.Seen, keywords: [] });
      assert.deepEqual(
        flags.changed.map((c) => c.modseq),
        [await store.currentModseq(account.id), await store.currentModseq(account.id)],
      );
      await note();
      const work = await store.createMailbox(account.id, 'Work');
      await note();
      await store.copy(account.id, inbox.id, [1], work.id);
      await note();
      const moved = await store.move(account.id, inbox.id, [2], work.id);
      assert.equal(moved.modseq, await store.currentModseq(account.id));
      await note();
      const expunged = await store.expunge(account.id, inbox.id, [3]);
      assert.equal(expunged.modseq, await store.currentModseq(account.id));
      await note();
      await store.renameMailbox(account.id, 'Work', 'Play');
      await note();
      await store.deleteMailbox(account.id, 'Play');
      await note();
      await store.deliver(await ctx.stage('delivered'), ctx.indexOf('delivered'), [{ accountId: account.id }]);
      await note();
      await store.setPassword(USER, 'x');
      await note();
      for (let i = 1; i < seen.length; i++) assert.ok((seen[i] ?? 0) > (seen[i - 1] ?? 0), `step ${i}: ${seen.join(', ')}`);
      const changes = (await store.changesSince(account.id, 0)).changes;
      for (let i = 1; i < changes.length; i++) assert.ok((changes[i]?.modseq ?? 0) >= (changes[i - 1]?.modseq ?? 0));
      const box = await mailbox(store, account.id, 'INBOX');
      assert.equal(box.highestModseq, seen[seen.length - 2], 'INBOX highest modseq is the delivery');
    });

    // ---- quota ---------------------------------------------------------------------------------

    it('quota usage is exact after 50 concurrent appends, copies, moves, expunges, flags and a delete', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const work = await store.createMailbox(account.id, 'Work');
      const copies = await store.createMailbox(account.id, 'Copies');
      const moved = await store.createMailbox(account.id, 'Moved');
      const temp = await store.createMailbox(account.id, 'Temp');
      const inboxBodies = Array.from({ length: 20 }, (_, i) => ctx.body(`inbox-${i}`, 50 + i * 7));
      await ctx.appendBytes(account.id, inbox.id, inboxBodies);
      await ctx.appendBytes(
        account.id,
        temp.id,
        Array.from({ length: 5 }, (_, i) => ctx.body(`temp-${i}`, 300 + i)),
      );
      const sizeOf = (i: number): number => inboxBodies[i]?.length ?? 0;
      const workBodies = Array.from({ length: 20 }, (_, i) => ctx.body(`work-${i}`, 100 + i * 13));

      const ops: Array<Promise<unknown>> = [];
      for (const bytes of workBodies) ops.push(ctx.appendBytes(account.id, work.id, [bytes]));
      for (let uid = 1; uid <= 10; uid++) ops.push(store.copy(account.id, inbox.id, [uid], copies.id));
      for (let uid = 11; uid <= 15; uid++) ops.push(store.move(account.id, inbox.id, [uid], moved.id));
      for (let uid = 16; uid <= 20; uid++) ops.push(store.expunge(account.id, inbox.id, [uid]));
      ops.push(store.deleteMailbox(account.id, 'Temp'));
      for (let uid = 1; uid <= 9; uid++) ops.push(store.updateFlags(account.id, inbox.id, [uid], { op: 'add', flags: SystemFlag.Seen, keywords: [] }));
      assert.equal(ops.length, 50);
      await Promise.all(ops);

      const sum = (from: number, to: number): number => {
        let total = 0;
        for (let i = from; i <= to; i++) total += sizeOf(i);
        return total;
      };
      const expectedBytes =
        sum(0, 14) + // INBOX 1..10 stay, 11..15 moved (still in the account), 16..20 gone
        sum(0, 9) + // copies
        workBodies.reduce((total, b) => total + b.length, 0);
      const final = await store.getAccount(USER);
      assert.equal(final?.usedMessages, 10 + 5 + 10 + 20);
      assert.equal(final?.usedBytes, expectedBytes);
      // Every mailbox's counters agree with its rows.
      let listedBytes = 0;
      let listedCount = 0;
      for (const box of await store.listMailboxes(account.id)) {
        const rows = await store.listMessages(box.id);
        const bytes = rows.reduce((total, m) => total + m.size, 0);
        assert.equal(box.messageCount, rows.length, `${box.name} count`);
        assert.equal(box.totalSize, bytes, `${box.name} size`);
        assert.equal(box.unseenCount, rows.filter((m) => (m.flags & SystemFlag.Seen) === 0).length, `${box.name} unseen`);
        listedBytes += bytes;
        listedCount += rows.length;
      }
      assert.equal(listedBytes, expectedBytes);
      assert.equal(listedCount, 45);
      assert.equal((await mailbox(store, account.id, 'INBOX')).unseenCount, 1);
      assert.equal(await store.getMailbox(account.id, 'Temp'), null);
    });

    it('overQuota refuses append, copy and delivery, and stores nothing', async (ctx) => {
      const { store } = ctx;
      const first = ctx.body('first', 400);
      const account = await setupAccount(store, USER, first.length + 100);
      const inbox = await mailbox(store, account.id, 'INBOX');
      await ctx.appendBytes(account.id, inbox.id, [first]);
      await expectStoreError(ctx.appendBytes(account.id, inbox.id, [ctx.body('second', 400)]), 'overQuota');
      await expectStoreError(store.copy(account.id, inbox.id, [1], inbox.id), 'overQuota');
      const outcomes = await store.deliver(await ctx.stage('third', 400), ctx.indexOf('third', 400), [{ accountId: account.id }]);
      assert.deepEqual(outcomes, [{ ok: false, reason: 'overQuota' }]);
      const after = await store.getAccount(USER);
      assert.equal(after?.usedBytes, first.length);
      assert.equal(after?.usedMessages, 1);
      assert.equal((await mailbox(store, account.id, 'INBOX')).uidNext, 2);
      // Exactly at the limit is allowed.
      const fits = Buffer.alloc(100, 'x');
      await ctx.appendBytes(account.id, inbox.id, [fits]);
      assert.equal((await store.getAccount(USER))?.usedBytes, first.length + 100);
      await store.setQuota(USER, null, 2);
      await expectStoreError(ctx.appendBytes(account.id, inbox.id, [ctx.body('fourth')]), 'overQuota');
      assert.equal((await store.getAccount(USER))?.quotaMessages, 2);
    });

    // ---- delivery ------------------------------------------------------------------------------

    it('deliver to 3 targets stores 3 rows and one blob', async (ctx) => {
      const { store } = ctx;
      await store.addDomain(DOMAIN);
      const accounts: Account[] = [];
      for (const name of ['a', 'b', 'c']) accounts.push(await store.addAccount(`${name}@${DOMAIN}`, 'h', null));
      const [a, b, c] = accounts as [Account, Account, Account];
      await store.createMailbox(b.id, 'Lists');
      const bytes = ctx.body('shared', 2000);
      const blob = await ctx.stageBytes(bytes);
      const prefixes = accounts.map((acc) => Buffer.from(`Delivered-To: ${acc.address}\r\n`));
      const outcomes = await store.deliver(
        blob,
        ctx.index(bytes),
        [
          { accountId: a.id, prefix: prefixes[0] },
          { accountId: b.id, prefix: prefixes[1], mailboxName: 'Lists', flags: SystemFlag.Flagged, keywords: ['$Label1'] },
          { accountId: c.id, prefix: prefixes[2], mailboxName: 'Missing' },
          { accountId: 999_999 },
        ],
        new Date('2030-02-03T04:05:06Z'),
      );
      const lists = await mailbox(store, b.id, 'Lists');
      assert.deepEqual(outcomes, [
        { ok: true, mailboxId: (await mailbox(store, a.id, 'INBOX')).id, uid: 1 },
        { ok: true, mailboxId: lists.id, uid: 1 },
        { ok: true, mailboxId: (await mailbox(store, c.id, 'INBOX')).id, uid: 1 },
        { ok: false, reason: 'noAccount' },
      ]);
      for (const [i, acc] of accounts.entries()) {
        const expected = Buffer.concat([prefixes[i] ?? Buffer.alloc(0), bytes]);
        const fresh = await store.getAccountById(acc.id);
        assert.equal(fresh?.usedBytes, expected.length);
        assert.equal(fresh?.usedMessages, 1);
        const outcome = outcomes[i];
        assert.ok(outcome?.ok);
        const [meta] = await store.listMessages(outcome.mailboxId);
        assert.ok(meta);
        assert.equal(meta.size, expected.length);
        assert.equal(meta.internalDate.toISOString(), '2030-02-03T04:05:06.000Z');
        assert.equal(meta.blobHash, blob.hash);
        assert.deepEqual(await store.readMessage(meta), expected);
      }
      const [flagged] = await store.listMessages(lists.id);
      assert.equal(flagged?.flags, SystemFlag.Flagged);
      assert.deepEqual(flagged?.keywords, ['$Label1']);
      if (ctx.handle.countBlobs) assert.equal(await ctx.handle.countBlobs(), 1);
    });

    // ---- append --------------------------------------------------------------------------------

    it('MULTIAPPEND is all or nothing', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const good = [await ctx.newMessage('one'), await ctx.newMessage('two')];
      const bad: NewMessage = { ...(await ctx.newMessage('three')), keywords: ['bad keyword'] };
      await expectStoreError(store.append(account.id, inbox.id, [...good, bad]), 'invalid');
      let box = await mailbox(store, account.id, 'INBOX');
      assert.equal(box.messageCount, 0);
      assert.equal(box.uidNext, 1);
      assert.equal((await store.getAccount(USER))?.usedBytes, 0);
      assert.deepEqual(await store.listMessages(inbox.id), []);

      const again = [await ctx.newMessage('one'), await ctx.newMessage('two'), await ctx.newMessage('three')];
      await store.setQuota(USER, (again[0]?.blob.size ?? 0) + (again[1]?.blob.size ?? 0));
      await expectStoreError(store.append(account.id, inbox.id, again), 'overQuota');
      box = await mailbox(store, account.id, 'INBOX');
      assert.equal(box.messageCount, 0);

      await store.setQuota(USER, null);
      const results = await store.append(account.id, inbox.id, [await ctx.newMessage('one'), await ctx.newMessage('two')]);
      assert.deepEqual(
        results.map((r) => r.uid),
        [1, 2],
      );
      assert.equal(results[0]?.modseq, results[1]?.modseq, 'one operation, one MODSEQ');
      assert.equal(results[0]?.uidValidity, box.uidValidity);
      await expectStoreError(store.append(account.id, 999_999, [await ctx.newMessage('x')]), 'notFound');
    });

    it('append keeps flags, keywords, internal date and bytes', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const bytes = ctx.body('kept', 5000);
      const date = new Date('2001-02-03T04:05:06Z');
      await store.append(account.id, inbox.id, [
        {
          blob: await ctx.stageBytes(bytes),
          index: ctx.index(bytes),
          flags: SystemFlag.Seen | SystemFlag.Draft,
          keywords: ['$Forwarded', 'Work', '$forwarded'],
          internalDate: date,
        },
      ]);
      const [meta] = await store.listMessages(inbox.id);
      assert.ok(meta);
      assert.equal(meta.flags, SystemFlag.Seen | SystemFlag.Draft);
      assert.deepEqual(meta.keywords, ['$Forwarded', 'Work']);
      assert.equal(meta.internalDate.getTime(), date.getTime());
      assert.equal(meta.size, bytes.length);
      assert.deepEqual(await store.readMessage(meta), bytes);
      const box = await mailbox(store, account.id, 'INBOX');
      assert.equal(box.unseenCount, 0);
      assert.equal(box.messageCount, 1);
      assert.equal(box.totalSize, bytes.length);
    });

    it('a prefix is part of the message: ranges, sizes and a shifted index', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const bytes = ctx.body('prefixed', 3000);
      const prefix = Buffer.from('Return-Path: <a@example.org>\r\n');
      await store.append(account.id, inbox.id, [{ blob: await ctx.stageBytes(bytes), index: ctx.index(bytes), prefix }]);
      const whole = Buffer.concat([prefix, bytes]);
      const [meta] = await store.listMessages(inbox.id);
      assert.ok(meta);
      assert.equal(meta.size, whole.length);
      assert.deepEqual(await store.readMessage(meta), whole);
      for (const [start, end] of [
        [0, 5],
        [3, prefix.length],
        [prefix.length - 4, prefix.length + 10],
        [prefix.length, prefix.length + 1],
        [prefix.length + 100, whole.length],
        [whole.length - 1, whole.length + 50],
        [10, 10],
      ] as const) {
        assert.deepEqual(await store.readMessage(meta, start, end), whole.subarray(start, end), `range ${start}-${end}`);
      }
      const stream = await store.openMessage(meta, 1, 40);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      assert.deepEqual(Buffer.concat(chunks), whole.subarray(1, 40));
      const [stored] = await store.getMessages(inbox.id, [meta.uid]);
      const original = ctx.index(bytes);
      assert.equal(stored?.index.part.bodyStart, original.part.bodyStart + prefix.length);
      assert.equal(stored?.index.part.bodyEnd, original.part.bodyEnd + prefix.length);
      assert.equal(stored?.index.part.headerStart, 0);
      assert.deepEqual(whole.subarray(stored?.index.part.bodyStart, stored?.index.part.bodyEnd), bytes.subarray(original.part.bodyStart));
      assert.deepEqual(await store.getMessages(inbox.id, [meta.uid + 1]), []);
    });

    it('100 parallel appends to one mailbox get unique ascending UIDs', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => ctx.append(account.id, inbox.id, `parallel-${i}`)));
      const uids = results.map((r) => r.uid);
      assert.deepEqual(
        [...uids].sort((x, y) => x - y),
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
      const modseqs = results.map((r) => r.modseq);
      assert.equal(new Set(modseqs).size, 100, 'one MODSEQ per operation');
      // Commit order: a higher UID never has a lower MODSEQ.
      const byUid = results.slice().sort((x, y) => x.uid - y.uid);
      for (let i = 1; i < byUid.length; i++) assert.ok((byUid[i]?.modseq ?? 0) > (byUid[i - 1]?.modseq ?? 0));
      const listed = await store.listMessages(inbox.id);
      assert.equal(listed.length, 100);
      assert.equal((await mailbox(store, account.id, 'INBOX')).uidNext, 101);
      assert.deepEqual(
        (await store.listMessages(inbox.id, 10, 12)).map((m) => m.uid),
        [10, 11, 12],
      );
    });

    it('a blob writer can be aborted, and a staged blob is used once', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const writer = store.createBlobWriter();
      await writer.write(Buffer.from('partial'));
      assert.equal(writer.size, 7);
      await writer.abort();
      await assert.rejects(writer.write(Buffer.from('more')), StoreError);
      const message = await ctx.newMessage('once');
      await store.append(account.id, inbox.id, [message]);
      await expectStoreError(store.append(account.id, inbox.id, [message]), 'invalid');
      assert.equal((await mailbox(store, account.id, 'INBOX')).messageCount, 1);
      const unused = store.createBlobWriter();
      await unused.write(Buffer.from('never used\r\n'));
      const staged = await unused.finish();
      await unused.abort();
      await expectStoreError(store.append(account.id, inbox.id, [{ blob: staged, index: ctx.index(Buffer.from('never used\r\n')) }]), 'invalid');
    });

    // ---- flags ---------------------------------------------------------------------------------

    it('flags: set, add, remove with keywords and UNCHANGEDSINCE', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      await ctx.appendMany(account.id, inbox.id, ['1', '2', '3']);
      const m0 = await store.currentModseq(account.id);

      const added = await store.updateFlags(account.id, inbox.id, [1, 2, 7], { op: 'add', flags: SystemFlag.Seen, keywords: ['$Work'] });
      assert.deepEqual(added, {
        changed: [
          { uid: 1, modseq: m0 + 1, flags: SystemFlag.Seen, keywords: ['$Work'] },
          { uid: 2, modseq: m0 + 1, flags: SystemFlag.Seen, keywords: ['$Work'] },
        ],
        modifiedSince: [],
      });
      // Nothing changes: no new MODSEQ, nothing reported.
      const noop = await store.updateFlags(account.id, inbox.id, [1], { op: 'add', flags: SystemFlag.Seen, keywords: ['$WORK'] });
      assert.deepEqual(noop, { changed: [], modifiedSince: [] });
      assert.equal(await store.currentModseq(account.id), m0 + 1);

      const removed = await store.updateFlags(account.id, inbox.id, [1], { op: 'remove', flags: SystemFlag.Seen, keywords: ['$work'] });
      assert.deepEqual(removed.changed, [{ uid: 1, modseq: m0 + 2, flags: 0, keywords: [] }]);

      const set = await store.updateFlags(account.id, inbox.id, [2, 3], {
        op: 'set',
        flags: SystemFlag.Flagged | SystemFlag.Answered,
        keywords: ['A', 'B'],
      });
      assert.deepEqual(
        set.changed.map((c) => [c.uid, c.flags, c.keywords]),
        [
          [2, SystemFlag.Flagged | SystemFlag.Answered, ['A', 'B']],
          [3, SystemFlag.Flagged | SystemFlag.Answered, ['A', 'B']],
        ],
      );
      const m3 = m0 + 3;
      // RFC 7162 3.1.3: UID 1 (MODSEQ m0+2) passes UNCHANGEDSINCE m0+2; UIDs 2, 3 (m0+3) fail.
      const conditional = await store.updateFlags(account.id, inbox.id, [1, 2, 3], {
        op: 'add',
        flags: SystemFlag.Deleted,
        keywords: [],
        unchangedSince: m0 + 2,
      });
      assert.deepEqual(conditional, {
        changed: [{ uid: 1, modseq: m3 + 1, flags: SystemFlag.Deleted, keywords: [] }],
        modifiedSince: [2, 3],
      });
      // UNCHANGEDSINCE 0 always fails (RFC 7162 3.1.3 example 8).
      const zero = await store.updateFlags(account.id, inbox.id, [1], { op: 'add', flags: 0, keywords: ['$MDNSent'], unchangedSince: 0 });
      assert.deepEqual(zero, { changed: [], modifiedSince: [1] });
      // A passing conditional STORE updates the MODSEQ even when the flags stay equal.
      const same = await store.updateFlags(account.id, inbox.id, [1], {
        op: 'add',
        flags: SystemFlag.Deleted,
        keywords: [],
        unchangedSince: m3 + 1,
      });
      assert.deepEqual(same.changed, [{ uid: 1, modseq: m3 + 2, flags: SystemFlag.Deleted, keywords: [] }]);

      const rows = await store.listMessages(inbox.id);
      assert.deepEqual(
        rows.map((m) => [m.uid, m.modseq, m.flags, m.keywords]),
        [
          [1, m3 + 2, SystemFlag.Deleted, []],
          [2, m3, SystemFlag.Flagged | SystemFlag.Answered, ['A', 'B']],
          [3, m3, SystemFlag.Flagged | SystemFlag.Answered, ['A', 'B']],
        ],
      );
      const box = await mailbox(store, account.id, 'INBOX');
      assert.equal(box.highestModseq, m3 + 2);
      assert.equal(box.unseenCount, 3);
      await expectStoreError(store.updateFlags(account.id, inbox.id, [1], { op: 'add', flags: 64, keywords: [] }), 'invalid');
      await expectStoreError(store.updateFlags(account.id, inbox.id, [1], { op: 'add', flags: 0, keywords: ['\\Seen'] }), 'invalid');
    });

    // ---- copy / move ---------------------------------------------------------------------------

    it('copy and move return the UID mapping in source order', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const archive = await mailbox(store, account.id, 'Archive');
      await ctx.appendMany(account.id, inbox.id, ['1', '2', '3', '4']);
      await store.updateFlags(account.id, inbox.id, [2], { op: 'add', flags: SystemFlag.Flagged, keywords: ['K'] });
      await ctx.append(account.id, archive.id, 'already there');

      const copied = await store.copy(account.id, inbox.id, [4, 2, 9], archive.id);
      assert.deepEqual(copied, {
        uidValidity: archive.uidValidity,
        mapping: [
          [2, 2],
          [4, 3],
        ],
      });
      const moved = await store.move(account.id, inbox.id, [1, 3], archive.id);
      assert.deepEqual(moved.mapping, [
        [1, 4],
        [3, 5],
      ]);
      assert.equal(moved.uidValidity, archive.uidValidity);
      assert.deepEqual(
        (await store.listMessages(inbox.id)).map((m) => m.uid),
        [2, 4],
      );
      const archived = await store.listMessages(archive.id);
      assert.deepEqual(
        archived.map((m) => m.uid),
        [1, 2, 3, 4, 5],
      );
      const copyOf2 = archived.find((m) => m.uid === 2);
      assert.equal(copyOf2?.flags, SystemFlag.Flagged);
      assert.deepEqual(copyOf2?.keywords, ['K']);
      const source2 = (await store.listMessages(inbox.id, 2, 2))[0];
      assert.equal(copyOf2?.internalDate.getTime(), source2?.internalDate.getTime());
      assert.deepEqual(await store.readMessage(copyOf2 ?? fail()), await store.readMessage(source2 ?? fail()));

      const changes = (await store.changesSince(account.id, moved.modseq - 1)).changes;
      assert.deepEqual(
        changes.map((c) => summarize(c)),
        [
          `added ${archive.id} 4`,
          `added ${archive.id} 5`,
          `expunged ${inbox.id} 1`,
          `expunged ${inbox.id} 3`,
        ],
      );
      assert.deepEqual(await store.copy(account.id, inbox.id, [99], archive.id), { uidValidity: archive.uidValidity, mapping: [] });
      await expectStoreError(store.move(account.id, inbox.id, [2], inbox.id), 'cannot');
      await expectStoreError(store.copy(account.id, inbox.id, [2], 999_999), 'notFound');
      const usage = await store.getAccount(USER);
      assert.equal(usage?.usedMessages, 7);
    });

    it('a mailbox of another account is not reachable', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const other = await store.addAccount('other@example.org', 'h', null);
      const theirs = await mailbox(store, other.id, 'INBOX');
      const mine = await mailbox(store, account.id, 'INBOX');
      await ctx.append(other.id, theirs.id, 'private');
      await expectStoreError(ctx.append(account.id, theirs.id, 'intruder'), 'notFound');
      await expectStoreError(store.copy(account.id, theirs.id, [1], mine.id), 'notFound');
      await expectStoreError(store.expunge(account.id, theirs.id, [1]), 'notFound');
      await expectStoreError(store.updateFlags(account.id, theirs.id, [1], { op: 'add', flags: 1, keywords: [] }), 'notFound');
      assert.equal((await mailbox(store, other.id, 'INBOX')).messageCount, 1);
    });

    // ---- mailboxes -----------------------------------------------------------------------------

    it('create: parents, INBOX spelling, invalid names', async ({ store }) => {
      const account = await setupAccount(store);
      const created = await store.createMailbox(account.id, 'a/b/c/', '\\Flagged');
      assert.equal(created.name, 'a/b/c');
      assert.equal(created.specialUse, '\\Flagged');
      assert.ok((await store.getMailbox(account.id, 'a')) !== null);
      assert.ok((await store.getMailbox(account.id, 'a/b')) !== null);
      await expectStoreError(store.createMailbox(account.id, 'a/b'), 'exists');
      await expectStoreError(store.createMailbox(account.id, 'Inbox'), 'exists');
      assert.equal((await store.getMailbox(account.id, 'inbox'))?.name, 'INBOX');
      const child = await store.createMailbox(account.id, 'inbox/Sub');
      assert.equal(child.name, 'INBOX/Sub');
      assert.equal((await store.getMailbox(account.id, 'Inbox/Sub'))?.id, child.id);
      assert.equal(await store.getMailbox(account.id, 'sent'), null, 'names other than INBOX are case-sensitive');
      for (const bad of ['', '/', 'a//b', '/lead', 'wild*', 'per%cent', 'ctl\u0001']) {
        await expectStoreError(store.createMailbox(account.id, bad), 'invalid');
      }
      const unicode = await store.createMailbox(account.id, 'Entwürfe/日本語');
      assert.equal(unicode.name, 'Entwürfe/日本語');
      const changes = (await store.changesSince(account.id, created.highestModseq - 1)).changes.filter((c) => c.modseq === created.highestModseq);
      assert.deepEqual(
        changes.map((c) => (c.kind === 'mailboxCreated' ? c.name : c.kind)),
        ['a', 'a/b', 'a/b/c'],
      );
    });

    it('delete: INBOX refused, messages go, children stay', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      await expectStoreError(store.deleteMailbox(account.id, 'inbox'), 'cannot');
      await expectStoreError(store.deleteMailbox(account.id, 'nope'), 'notFound');
      const parent = await store.createMailbox(account.id, 'p');
      await store.createMailbox(account.id, 'p/child');
      await ctx.appendMany(account.id, parent.id, ['x', 'y']);
      await store.deleteMailbox(account.id, 'p');
      assert.equal(await store.getMailbox(account.id, 'p'), null);
      assert.ok(await store.getMailbox(account.id, 'p/child'));
      assert.equal((await store.getAccount(USER))?.usedMessages, 0);
      assert.equal((await store.getAccount(USER))?.usedBytes, 0);
      const last = (await store.changesSince(account.id, 0)).changes.at(-1);
      assert.deepEqual(last && summarize(last), `mailboxDeleted ${parent.id} p`);
    });

    it('rename: children follow; INBOX rename moves messages and INBOX stays', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const a = await store.createMailbox(account.id, 'a');
      const ax = await store.createMailbox(account.id, 'a/x');
      await store.createMailbox(account.id, 'ab');
      await ctx.append(account.id, ax.id, 'kept');
      await store.renameMailbox(account.id, 'a', 'n/b');
      assert.equal((await store.getMailboxById(a.id))?.name, 'n/b');
      assert.equal((await store.getMailboxById(ax.id))?.name, 'n/b/x');
      assert.equal((await store.getMailboxById(ax.id))?.messageCount, 1);
      assert.equal((await store.getMailboxById(ax.id))?.uidValidity, ax.uidValidity);
      assert.ok(await store.getMailbox(account.id, 'n'), 'superior created (RFC 3501 6.3.5)');
      assert.ok(await store.getMailbox(account.id, 'ab'), 'a sibling sharing the prefix is untouched');
      assert.equal(await store.getMailbox(account.id, 'a'), null);
      await expectStoreError(store.renameMailbox(account.id, 'a', 'z'), 'notFound');
      await expectStoreError(store.renameMailbox(account.id, 'ab', 'Sent'), 'exists');
      await expectStoreError(store.renameMailbox(account.id, 'ab', 'INBOX'), 'exists');
      await expectStoreError(store.renameMailbox(account.id, 'ab', 'ab/deeper'), 'cannot');
      await expectStoreError(store.renameMailbox(account.id, 'ab', 'x//y'), 'invalid');

      const inbox = await mailbox(store, account.id, 'INBOX');
      await store.createMailbox(account.id, 'INBOX/keep');
      await ctx.appendMany(account.id, inbox.id, ['i1', 'i2', 'i3']);
      await store.expunge(account.id, inbox.id, [1]);
      await store.updateFlags(account.id, inbox.id, [3], { op: 'add', flags: SystemFlag.Seen, keywords: [] });
      await store.renameMailbox(account.id, 'INBOX', 'Old Mail');
      const after = await mailbox(store, account.id, 'INBOX');
      assert.equal(after.id, inbox.id);
      assert.equal(after.messageCount, 0);
      assert.equal(after.uidValidity, inbox.uidValidity);
      assert.equal(after.uidNext, 4, 'UIDs of INBOX are not reused');
      const old = await mailbox(store, account.id, 'Old Mail');
      const moved = await store.listMessages(old.id);
      assert.deepEqual(
        moved.map((m) => [m.uid, m.flags]),
        [
          [1, 0],
          [2, SystemFlag.Seen],
        ],
      );
      assert.ok(await store.getMailbox(account.id, 'INBOX/keep'), 'inferiors of INBOX are unaffected');
      assert.equal(await store.getMailbox(account.id, 'Old Mail/keep'), null);
      assert.equal((await store.getAccount(USER))?.usedMessages, 3);
      // Renaming INBOX to one of its own inferiors is fine: INBOX does not move.
      await ctx.append(account.id, inbox.id, 'i4');
      await store.renameMailbox(account.id, 'inbox', 'INBOX/2024');
      assert.equal((await mailbox(store, account.id, 'INBOX/2024')).messageCount, 1);
      assert.equal((await mailbox(store, account.id, 'INBOX')).messageCount, 0);
      assert.equal((await mailbox(store, account.id, 'INBOX')).uidNext, 5);
    });

    it('subscriptions: idempotent, independent of mailbox existence', async ({ store }) => {
      const account = await setupAccount(store);
      await store.subscribe(account.id, 'Lists/ietf');
      await store.subscribe(account.id, 'Lists/ietf');
      await store.unsubscribe(account.id, 'Junk');
      await store.unsubscribe(account.id, 'never-subscribed');
      await store.subscribe(account.id, 'inbox');
      assert.deepEqual(await store.listSubscriptions(account.id), ['Archive', 'Drafts', 'INBOX', 'Lists/ietf', 'Sent', 'Trash']);
      await store.createMailbox(account.id, 'Tmp');
      await store.subscribe(account.id, 'Tmp');
      await store.renameMailbox(account.id, 'Tmp', 'Tmp2');
      await store.deleteMailbox(account.id, 'Sent');
      // RFC 9051 6.3.6 (RENAME) and 6.3.7 (SUBSCRIBE): RENAME and DELETE leave subscriptions alone.
      assert.deepEqual(await store.listSubscriptions(account.id), ['Archive', 'Drafts', 'INBOX', 'Lists/ietf', 'Sent', 'Tmp', 'Trash']);
      await expectStoreError(store.subscribe(account.id, 'a//b'), 'invalid');
    });

    // ---- change log and wake-ups ---------------------------------------------------------------

    it('changesSince: contents, order and limits that never split a MODSEQ', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const start = await store.currentModseq(account.id);
      await ctx.appendMany(account.id, inbox.id, ['a', 'b', 'c']); // start+1: 3 rows
      await store.updateFlags(account.id, inbox.id, [2], { op: 'add', flags: SystemFlag.Seen, keywords: ['x'] }); // start+2
      await store.expunge(account.id, inbox.id, [1, 3]); // start+3: 2 rows
      const box = await store.createMailbox(account.id, 'New'); // start+4
      await store.renameMailbox(account.id, 'New', 'Newer'); // start+5
      const all = await store.changesSince(account.id, start);
      assert.equal(all.modseq, start + 5);
      assert.deepEqual(all.changes, [
        { kind: 'added', modseq: start + 1, mailboxId: inbox.id, uid: 1 },
        { kind: 'added', modseq: start + 1, mailboxId: inbox.id, uid: 2 },
        { kind: 'added', modseq: start + 1, mailboxId: inbox.id, uid: 3 },
        { kind: 'flags', modseq: start + 2, mailboxId: inbox.id, uid: 2, flags: SystemFlag.Seen, keywords: ['x'] },
        { kind: 'expunged', modseq: start + 3, mailboxId: inbox.id, uid: 1 },
        { kind: 'expunged', modseq: start + 3, mailboxId: inbox.id, uid: 3 },
        { kind: 'mailboxCreated', modseq: start + 4, mailboxId: box.id, name: 'New' },
        { kind: 'mailboxRenamed', modseq: start + 5, mailboxId: box.id, name: 'Newer', oldName: 'New' },
      ]);
      // limit 2 would cut the three rows of start+1: the whole MODSEQ comes anyway.
      const first = await store.changesSince(account.id, start, 2);
      assert.equal(first.modseq, start + 1);
      assert.equal(first.changes.length, 3);
      // limit 2 ends inside start+3: the batch stops before it.
      const second = await store.changesSince(account.id, first.modseq, 2);
      assert.equal(second.modseq, start + 2);
      assert.deepEqual(
        second.changes.map((c) => c.kind),
        ['flags'],
      );
      const rest = await store.changesSince(account.id, second.modseq, 100);
      assert.equal(rest.changes.length, 4);
      const none = await store.changesSince(account.id, all.modseq);
      assert.deepEqual(none, { modseq: all.modseq, changes: [] });
      const other = await store.addAccount('other@example.org', 'h', null);
      assert.ok((await store.changesSince(other.id, 0)).changes.every((c) => c.kind === 'mailboxCreated'));
    });

    let pruneClock = Date.UTC(2030, 5, 1);
    it(
      'pruneChanges: old rows go in batches, changesSince says truncated below the mark and is exact above it',
      async (ctx) => {
        const store = pruningStore(ctx.store);
        const day = 86_400_000;
        pruneClock = Date.UTC(2030, 5, 1);
        const account = await setupAccount(store);
        const inbox = await mailbox(store, account.id, 'INBOX');
        await ctx.appendMany(account.id, inbox.id, ['a', 'b', 'c']);
        await store.updateFlags(account.id, inbox.id, [2], { op: 'add', flags: SystemFlag.Seen, keywords: [] });
        await store.expunge(account.id, inbox.id, [1]);
        const oldModseq = await store.currentModseq(account.id);
        const old = await store.changesSince(account.id, 0);
        // Ten days later: these rows are young at a cutoff of one day after the first ones.
        pruneClock += 10 * day;
        await ctx.append(account.id, inbox.id, 'd');
        await store.expunge(account.id, inbox.id, [3]);
        const other = await setupAccount(store, 'other@example.org');
        const everything = await store.changesSince(account.id, 0);
        const young = everything.changes.filter((c) => c.modseq > oldModseq);
        assert.equal(young.length, 2);
        assert.equal(everything.truncated, undefined, 'nothing pruned yet');

        // Batches of 2 rows: several transactions, one total.
        assert.equal(await store.pruneChanges(new Date(Date.UTC(2030, 5, 2)), 2), old.changes.length);
        assert.equal(await store.pruneChanges(new Date(Date.UTC(2030, 5, 2)), 2), 0, 'nothing left that old');

        const below = await store.changesSince(account.id, 0);
        assert.equal(below.truncated, true);
        assert.equal(below.prunedUpTo, oldModseq);
        assert.deepEqual(below.changes, young, 'what is left is exact');
        assert.equal(below.modseq, everything.modseq);
        assert.equal((await store.changesSince(account.id, oldModseq - 1)).truncated, true);
        assert.deepEqual(await store.changesSince(account.id, oldModseq), { modseq: everything.modseq, changes: young }, 'complete from the mark on');
        // Another account's log is its own: nothing of it was old enough.
        const otherLog = await store.changesSince(other.id, 0);
        assert.equal(otherLog.truncated, undefined);
        assert.ok(otherLog.changes.length > 0);
        // MODSEQs and UIDs go on; new changes are logged and read as before.
        const next = await ctx.append(account.id, inbox.id, 'e');
        assert.equal(next.uid, 5);
        assert.equal(next.modseq, everything.modseq + 1);
        assert.deepEqual(await store.changesSince(account.id, everything.modseq), {
          modseq: next.modseq,
          changes: [{ kind: 'added', modseq: next.modseq, mailboxId: inbox.id, uid: 5 }],
        });
        assert.deepEqual(
          (await store.listMessages(inbox.id)).map((m) => m.uid),
          [2, 4, 5],
          'pruning touches the log only',
        );

        // Everything older than "now + 1 day", one row per batch: the whole log goes.
        const remaining = (await store.changesSince(account.id, 0)).changes.length + otherLog.changes.length;
        assert.equal(await store.pruneChanges(new Date(pruneClock + day), 1), remaining);
        const none = await store.changesSince(account.id, 0);
        assert.deepEqual(none.changes, []);
        assert.equal(none.prunedUpTo, next.modseq);
        assert.equal(none.modseq, 0, 'an empty batch stays at since');
        assert.equal(await store.currentModseq(account.id), next.modseq, 'the counter is not the log');
      },
      { now: () => pruneClock },
    );

    it('pruneChanges: a deleted account leaves nothing behind, a new one starts complete', async (ctx) => {
      const store = pruningStore(ctx.store);
      const account = await setupAccount(store);
      await ctx.append(account.id, (await mailbox(store, account.id, 'INBOX')).id, 'a');
      await store.deleteAccount(USER);
      assert.ok((await store.pruneChanges(new Date(Date.now() + 60_000))) >= 1);
      const again = await setupAccount(store);
      assert.notEqual(again.id, account.id);
      const log = await store.changesSince(again.id, 0);
      assert.equal(log.truncated, undefined);
      assert.ok(log.changes.every((c) => c.kind === 'mailboxCreated'));
      assert.ok(log.changes.length > 0);
    });

    it('wake-ups arrive after the commit: a listener sees the change', async (ctx) => {
      const { store, bus } = ctx;
      const account = await setupAccount(store);
      const inbox = await mailbox(store, account.id, 'INBOX');
      const base = await store.currentModseq(account.id);
      const seen: Array<{ wake: WakeUp; changes: Promise<Change[]> }> = [];
      const unsubscribe = bus.subscribe(account.id, (wake) => {
        // Read inside the callback: the data must already be committed.
        seen.push({ wake, changes: store.changesSince(account.id, base).then((b) => b.changes) });
      });
      const result = await ctx.append(account.id, inbox.id, 'wake');
      await waitFor(() => seen.length >= 1);
      unsubscribe();
      const first = seen[0];
      assert.ok(first);
      assert.deepEqual(first.wake, { accountId: account.id, modseq: result.modseq });
      assert.deepEqual(await first.changes, [{ kind: 'added', modseq: result.modseq, mailboxId: inbox.id, uid: result.uid }]);
      // Unsubscribed: no more calls.
      await ctx.append(account.id, inbox.id, 'quiet');
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(seen.length, 1);
    });

    // ---- POP3 retention ------------------------------------------------------------------------

    it('pop3 retention: per domain and account, inheritance, shortest, validation', async ({ store }) => {
      const account = await setupAccount(store);
      const other = await setupAccount(store, 'other@example.org');
      assert.equal(await store.getPop3Retention({ domain: DOMAIN }), null);
      assert.equal(await store.getPop3Retention({ address: USER }), null);
      assert.equal(await store.pop3RetentionDays(account.id), null);
      assert.equal(await store.shortestPop3Retention(), null);

      await store.setPop3Retention({ domain: 'EXAMPLE.org' }, 30);
      assert.equal(await store.getPop3Retention({ domain: DOMAIN }), 30);
      assert.equal(await store.pop3RetentionDays(account.id), 30);
      assert.equal(await store.pop3RetentionDays(other.id), 30);
      assert.equal(await store.shortestPop3Retention(), 30);

      await store.setPop3Retention({ address: USER }, 7);
      await store.setPop3Retention({ address: 'other@example.org' }, 'never');
      assert.equal(await store.getPop3Retention({ address: USER }), 7);
      assert.equal(await store.getPop3Retention({ address: 'other@example.org' }), 'never');
      assert.equal(await store.pop3RetentionDays(account.id), 7);
      assert.equal(await store.pop3RetentionDays(other.id), null);
      assert.equal(await store.shortestPop3Retention(), 7);

      await store.setPop3Retention({ address: USER }, null);
      assert.equal(await store.pop3RetentionDays(account.id), 30);
      await store.setPop3Retention({ domain: DOMAIN }, 'never');
      assert.equal(await store.getPop3Retention({ domain: DOMAIN }), 'never');
      assert.equal(await store.pop3RetentionDays(account.id), null);
      assert.equal(await store.shortestPop3Retention(), null);

      for (const bad of [0, -1, 1.5, MAX_POP3_RETENTION_DAYS + 1]) {
        await expectStoreError(store.setPop3Retention({ domain: DOMAIN }, bad), 'invalid');
      }
      await expectStoreError(store.setPop3Retention({ domain: 'missing.test' }, 3), 'notFound');
      await expectStoreError(store.setPop3Retention({ address: 'missing@example.org' }, 3), 'notFound');
      await expectStoreError(store.getPop3Retention({ address: 'missing@example.org' }), 'notFound');
    });

    it('pop3 retention: first download kept, expired INBOX messages listed per account', async (ctx) => {
      const { store } = ctx;
      const account = await setupAccount(store);
      const other = await setupAccount(store, 'other@example.org');
      const inbox = await mailbox(store, account.id, 'INBOX');
      const archive = await mailbox(store, account.id, 'Archive');
      const otherInbox = await mailbox(store, other.id, 'INBOX');
      const uids = (await ctx.appendMany(account.id, inbox.id, ['a', 'b', 'c'])).map((r) => r.uid);
      const [archived] = await ctx.appendMany(account.id, archive.id, ['d']);
      const [otherUid] = await ctx.appendMany(other.id, otherInbox.id, ['e']);
      const day = 86_400_000;
      const t0 = Date.UTC(2024, 0, 10);
      const modseqBefore = await store.currentModseq(account.id);

      await store.recordPop3Downloads(inbox.id, [uids[0]!, uids[1]!], new Date(t0));
      // A later download keeps the first time; unknown UIDs are ignored.
      await store.recordPop3Downloads(inbox.id, [uids[0]!, 9999], new Date(t0 + 5 * day));
      await store.recordPop3Downloads(archive.id, [archived!.uid], new Date(t0));
      await store.recordPop3Downloads(otherInbox.id, [otherUid!.uid], new Date(t0));
      await store.recordPop3Downloads(inbox.id, [], new Date(t0));
      // Not an IMAP-visible change: no MODSEQ.
      assert.equal(await store.currentModseq(account.id), modseqBefore);

      // No policy: nothing expires.
      assert.deepEqual(await store.listPop3Expired(new Date(t0 + 1000 * day)), []);

      await store.setPop3Retention({ domain: DOMAIN }, 3);
      await store.setPop3Retention({ address: 'other@example.org' }, 10);
      assert.deepEqual(await store.listPop3Expired(new Date(t0 + 3 * day - 1)), []);
      assert.deepEqual(await store.listPop3Expired(new Date(t0 + 3 * day)), [
        { accountId: account.id, mailboxId: inbox.id, uids: [uids[0]!, uids[1]!] },
      ]);
      assert.deepEqual(await store.listPop3Expired(new Date(t0 + 3 * day), { limit: 1 }), [{ accountId: account.id, mailboxId: inbox.id, uids: [uids[0]!] }]);
      assert.deepEqual(await store.listPop3Expired(new Date(t0 + 10 * day)), [
        { accountId: account.id, mailboxId: inbox.id, uids: [uids[0]!, uids[1]!] },
        { accountId: other.id, mailboxId: otherInbox.id, uids: [otherUid!.uid] },
      ]);
      // The cursor skips accounts up to and including afterAccountId.
      assert.deepEqual(await store.listPop3Expired(new Date(t0 + 10 * day), { afterAccountId: account.id }), [
        { accountId: other.id, mailboxId: otherInbox.id, uids: [otherUid!.uid] },
      ]);
      assert.deepEqual(await store.listPop3Expired(new Date(t0 + 10 * day), { afterAccountId: other.id }), []);

      // Expunged messages are gone from the list; a moved message starts over without a time.
      await store.expunge(account.id, inbox.id, [uids[1]!]);
      await store.move(account.id, inbox.id, [uids[0]!], archive.id);
      const [moved] = (await store.listMessages(archive.id)).slice(-1);
      await store.move(account.id, archive.id, [moved!.uid], inbox.id);
      assert.deepEqual(await store.listPop3Expired(new Date(t0 + 10 * day)), [
        { accountId: other.id, mailboxId: otherInbox.id, uids: [otherUid!.uid] },
      ]);
    });

    // ---- outbound queue (src/queue/types.ts) ----------------------------------------------------

    it('queue: claimDue leases due entries to one owner; an expired lease can be claimed again', async (ctx) => {
      const store = queueStore(ctx.store);
      const t0 = Date.now();
      const first = await ctx.enqueue('q-one', ['a@remote.test']);
      const second = await ctx.enqueue('q-two', ['b@remote.test', 'c@remote.test']);
      const claimed = await store.claimDue('node-a', new Date(t0 + 1000), 60_000, 10);
      assert.deepEqual(
        claimed.map((entry) => entry.id),
        [first, second],
      );
      for (const entry of claimed) {
        assert.equal(entry.leaseOwner, 'node-a');
        assert.equal(entry.leaseUntil?.getTime(), t0 + 61_000);
        assert.ok(entry.recipients.every((recipient) => recipient.state === 'pending' && recipient.last === null));
      }
      // While the lease runs nobody else gets them; once it has passed they are due again.
      assert.deepEqual(await store.claimDue('node-b', new Date(t0 + 2000), 60_000, 10), []);
      const again = await store.claimDue('node-b', new Date(t0 + 61_000), 60_000, 1);
      assert.deepEqual(
        again.map((entry) => [entry.id, entry.leaseOwner]),
        [[first, 'node-b']],
      );
      assert.equal((await store.getQueueEntry(first))?.leaseOwner, 'node-b');
      assert.equal((await store.getQueueEntry(second))?.leaseOwner, 'node-a');
    });

    it('queue: entries not yet due are not claimed', async (ctx) => {
      const store = queueStore(ctx.store);
      const id = await ctx.enqueue('q-later', ['a@remote.test']);
      const [claimed] = await store.claimDue('w', new Date(Date.now() + 1000), 1000, 5);
      assert.equal(claimed?.id, id);
      const later = new Date(Date.now() + 3_600_000);
      const recipients = claimed.recipients.map((r) => ({ ...r, state: 'deferred' as const, last: attemptOutcome(451) }));
      assert.equal(await store.recordAttempt(id, 'w', { recipients, nextAttemptAt: later, lastError: '451 try later', delayNotified: false }), 'recorded');
      assert.deepEqual(await store.claimDue('w', new Date(later.getTime() - 1), 1000, 5), []);
      assert.deepEqual(
        (await store.claimDue('w', later, 1000, 5)).map((entry) => entry.id),
        [id],
      );
    });

    it('queue: concurrent claims by several owners never share an entry', async (ctx) => {
      const store = queueStore(ctx.store);
      const ids: Id[] = [];
      for (let i = 0; i < 12; i++) ids.push(await ctx.enqueue(`q-many-${i}`, [`r${i}@remote.test`]));
      const now = new Date(Date.now() + 1000);
      const results = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((owner) => store.claimDue(owner, now, 60_000, 5)));
      const claimedIds = results.flat().map((entry) => entry.id);
      assert.equal(new Set(claimedIds).size, claimedIds.length, 'an entry was claimed twice');
      assert.deepEqual([...claimedIds].sort((a, b) => a - b), ids);
      for (const [i, owner] of ['w1', 'w2', 'w3', 'w4'].entries()) {
        for (const entry of results[i] ?? []) assert.equal((await store.getQueueEntry(entry.id))?.leaseOwner, owner);
      }
    });

    it('queue: renewLease extends only the holder\'s lease', async (ctx) => {
      const store = queueStore(ctx.store);
      const id = await ctx.enqueue('q-renew', ['a@remote.test']);
      const t0 = Date.now();
      await store.claimDue('w1', new Date(t0 + 1000), 1000, 1);
      assert.equal(await store.renewLease(id, 'w2', new Date(t0 + 60_000)), false);
      assert.equal(await store.renewLease(id, 'w1', new Date(t0 + 60_000)), true);
      assert.equal((await store.getQueueEntry(id))?.leaseUntil?.getTime(), t0 + 60_000);
      // Renewed: still held after the original lease end.
      assert.deepEqual(await store.claimDue('w2', new Date(t0 + 30_000), 1000, 1), []);
      assert.equal(await store.renewLease(987_654, 'w1', new Date(t0 + 60_000)), false);
    });

    it('queue: recordAttempt writes states, counts the attempt and releases the lease; a lost lease writes nothing', async (ctx) => {
      const store = queueStore(ctx.store);
      const id = await ctx.enqueue('q-record', ['a@remote.test', 'b@other.test']);
      const t0 = Date.now();
      const [entry] = await store.claimDue('w1', new Date(t0 + 1000), 1000, 1);
      assert.ok(entry);
      const next = new Date(t0 + 300_000);
      const recipients = [
        { ...entry.recipients[0]!, state: 'delivered' as const, last: attemptOutcome(250) },
        { ...entry.recipients[1]!, state: 'deferred' as const, last: attemptOutcome(451) },
      ];
      // The lease ran out and another worker took the entry: the first worker's result is dropped.
      const [taken] = await store.claimDue('w2', new Date(t0 + 5000), 1000, 1);
      assert.equal(taken?.id, id);
      assert.equal(await store.recordAttempt(id, 'w1', { recipients, nextAttemptAt: next, lastError: 'x', delayNotified: true }), 'lost');
      const untouched = await store.getQueueEntry(id);
      assert.equal(untouched?.attempts, 0);
      assert.equal(untouched?.leaseOwner, 'w2');

      assert.equal(await store.recordAttempt(id, 'w2', { recipients, nextAttemptAt: next, lastError: '451 4.3.0 busy', delayNotified: true }), 'recorded');
      const after = await store.getQueueEntry(id);
      assert.ok(after);
      assert.equal(after.attempts, 1);
      assert.equal(after.leaseOwner, null);
      assert.equal(after.leaseUntil, null);
      assert.equal(after.lastError, '451 4.3.0 busy');
      assert.equal(after.delayNotified, true);
      assert.equal(after.nextAttemptAt.getTime(), next.getTime());
      assert.deepEqual(after.recipients, recipients);
      // Without holding it (lease released), nobody may write.
      assert.equal(await store.recordAttempt(id, 'w2', { recipients, nextAttemptAt: next, lastError: null, delayNotified: true }), 'lost');
      assert.equal(await store.recordAttempt(987_654, 'w2', { recipients, nextAttemptAt: next, lastError: null, delayNotified: true }), 'lost');
    });

    it('queue: an entry whose recipients are all final is removed and its blob released', async (ctx) => {
      const store = queueStore(ctx.store);
      const id = await ctx.enqueue('q-final', ['a@remote.test', 'b@remote.test']);
      const [entry] = await store.claimDue('w', new Date(Date.now() + 1000), 60_000, 1);
      assert.ok(entry);
      const recipients = [
        { ...entry.recipients[0]!, state: 'delivered' as const, last: attemptOutcome(250) },
        { ...entry.recipients[1]!, state: 'failed' as const, last: attemptOutcome(550) },
      ];
      assert.equal(await store.recordAttempt(id, 'w', { recipients, nextAttemptAt: new Date(), lastError: null, delayNotified: false }), 'removed');
      assert.equal(await store.getQueueEntry(id), null);
      assert.deepEqual(await store.listQueue(), []);
      assert.deepEqual(await store.queueSummary(), { entries: 0, oldestCreatedAt: null });
    });

    it('queue: retry makes entries due, summary counts them, openQueueMessage gives the bytes', async (ctx) => {
      const store = queueStore(ctx.store);
      assert.deepEqual(await store.queueSummary(), { entries: 0, oldestCreatedAt: null });
      const first = await ctx.enqueue('q-retry-1', ['a@remote.test']);
      const second = await ctx.enqueue('q-retry-2', ['b@remote.test']);
      const now = Date.now();
      const far = new Date(now + 86_400_000);
      for (const entry of await store.claimDue('w', new Date(now + 1000), 1000, 5)) {
        const recipients = entry.recipients.map((r) => ({ ...r, state: 'deferred' as const, last: attemptOutcome(421) }));
        await store.recordAttempt(entry.id, 'w', { recipients, nextAttemptAt: far, lastError: '421', delayNotified: false });
      }
      assert.deepEqual(await store.claimDue('w', new Date(now + 2000), 1000, 5), []);
      assert.equal(await store.retryQueueEntries(first, new Date(now + 2000)), 1);
      assert.equal(await store.retryQueueEntries(123_456, new Date(now + 2000)), 0);
      assert.deepEqual(
        (await store.claimDue('w', new Date(now + 2000), 10_000, 5)).map((entry) => entry.id),
        [first],
      );
      assert.equal(await store.retryQueueEntries('all', new Date(now + 3000)), 2);
      // `first` is still leased (until now + 12000): only `second` is free.
      assert.deepEqual(
        (await store.claimDue('w2', new Date(now + 3000), 1000, 5)).map((entry) => entry.id),
        [second],
      );
      const summary = await store.queueSummary();
      assert.equal(summary.entries, 2);
      const listed = await store.listQueue();
      assert.equal(summary.oldestCreatedAt?.getTime(), listed[0]?.createdAt.getTime());
      const entry = await store.getQueueEntry(second);
      assert.ok(entry);
      const bytes = await collect(await store.openQueueMessage(entry));
      assert.deepEqual(bytes, ctx.body('q-retry-2'));
    });

    // ---- DKIM keys (optional capability, src/queue/dkim-keys.ts) --------------------------------

    it('dkim keys: add, one active per domain, activate, list order, delete', async ({ store }) => {
      assert.ok(hasDkimKeyStore(store), 'the backend offers DkimKeyStore');
      const key = (domain: string, selector: string, active: boolean): NewDkimKey => ({
        domain,
        selector,
        algorithm: selector.startsWith('ed') ? 'ed25519' : 'rsa',
        privateKeyEnc: `v1:sealed-${domain}-${selector}`,
        publicKey: `pub-${selector}`,
        active,
      });
      assert.equal(await store.getActiveDkimKey(DOMAIN), null);
      const first = await store.addDkimKey(key(DOMAIN, 's1', true));
      assert.equal(first.selector, 's1');
      assert.equal(first.active, true);
      assert.ok(first.createdAt instanceof Date);
      await expectStoreError(store.addDkimKey(key(DOMAIN, 's1', false)), 'exists');
      await store.addDkimKey(key(DOMAIN, 'ed2', false));
      await store.addDkimKey(key('other.test', 's1', true));
      // A new inactive key leaves the active one alone (rotation: publish first, activate later).
      assert.equal((await store.getActiveDkimKey(DOMAIN))?.selector, 's1');
      const listed = await store.listDkimKeys();
      assert.deepEqual(
        listed.map((k) => [k.domain, k.selector, k.active]),
        [
          [DOMAIN, 's1', true],
          [DOMAIN, 'ed2', false],
          ['other.test', 's1', true],
        ],
      );
      const mine = await store.listDkimKeys(DOMAIN);
      assert.deepEqual(
        mine.map((k) => [k.selector, k.algorithm, k.privateKeyEnc, k.publicKey]),
        [
          ['s1', 'rsa', `v1:sealed-${DOMAIN}-s1`, 'pub-s1'],
          ['ed2', 'ed25519', `v1:sealed-${DOMAIN}-ed2`, 'pub-ed2'],
        ],
      );

      await store.activateDkimKey(DOMAIN, 'ed2');
      assert.equal((await store.getActiveDkimKey(DOMAIN))?.selector, 'ed2');
      assert.deepEqual(
        (await store.listDkimKeys(DOMAIN)).map((k) => k.active),
        [false, true],
      );
      // Another domain's key is untouched.
      assert.equal((await store.getActiveDkimKey('other.test'))?.selector, 's1');
      await expectStoreError(store.activateDkimKey(DOMAIN, 'missing'), 'notFound');
      assert.equal((await store.getActiveDkimKey(DOMAIN))?.selector, 'ed2', 'a failed activation changes nothing');

      // Adding an active key deactivates the others of its domain.
      await store.addDkimKey(key(DOMAIN, 's3', true));
      assert.deepEqual(
        (await store.listDkimKeys(DOMAIN)).map((k) => [k.selector, k.active]),
        [
          ['s1', false],
          ['ed2', false],
          ['s3', true],
        ],
      );

      await store.deleteDkimKey(DOMAIN, 's3');
      assert.equal(await store.getActiveDkimKey(DOMAIN), null);
      await expectStoreError(store.deleteDkimKey(DOMAIN, 's3'), 'notFound');
      assert.deepEqual(
        (await store.listDkimKeys(DOMAIN)).map((k) => k.selector),
        ['s1', 'ed2'],
      );
    });

    it('operations on a closed store fail with StoreError', async ({ store }) => {
      const account = await setupAccount(store);
      await store.close();
      await expectStoreError(store.getAccount(USER), 'cannot');
      await expectStoreError(store.createMailbox(account.id, 'late'), 'cannot');
      await store.close();
    });
  });
}

// ---- helpers -----------------------------------------------------------------------------------

class Ctx {
  readonly store: MailStore;
  readonly bus: ChangeBus;
  private counter = 0;

  constructor(
    readonly handle: StoreHandle,
    readonly index: (bytes: Uint8Array) => MessageIndex,
  ) {
    this.store = handle.store;
    this.bus = handle.bus;
  }

  /** A unique small message; the same tag and size give the same bytes. */
  body(tag: string, size = 64): Buffer {
    return sampleMessage(tag, size);
  }

  indexOf(tag: string, size = 64): MessageIndex {
    return this.index(this.body(tag, size));
  }

  async stageBytes(bytes: Buffer): Promise<StagedBlob> {
    const writer = this.store.createBlobWriter();
    // Several writes, so writers are exercised with chunked input.
    for (let at = 0; at < bytes.length; at += 1000) await writer.write(bytes.subarray(at, at + 1000));
    return writer.finish();
  }

  stage(tag: string, size = 64): Promise<StagedBlob> {
    return this.stageBytes(this.body(tag, size));
  }

  /** Queues the message `tag` for remote recipients (no local copies); returns the entry id. */
  async enqueue(tag: string, recipients: string[]): Promise<Id> {
    const store = queueStore(this.store);
    const bytes = this.body(tag);
    const result = await store.deliverAndEnqueue(await this.stageBytes(bytes), this.index(bytes), [], {
      sender: 'sender@example.org',
      recipients: recipients.map((address) => ({ address, kind: 'remote', notify: null, orcpt: null })),
      ret: null,
      envid: null,
      body: '7BIT',
      smtputf8: false,
      submitter: USER,
      clientAddress: '127.0.0.1',
    });
    return result.queueId ?? fail();
  }

  async newMessage(tag: string): Promise<NewMessage> {
    const bytes = this.body(`${tag}-${this.counter++}`);
    return { blob: await this.stageBytes(bytes), index: this.index(bytes) };
  }

  async append(accountId: Id, mailboxId: Id, tag: string): Promise<{ uid: number; modseq: number; uidValidity: number }> {
    const [result] = await this.appendMany(accountId, mailboxId, [tag]);
    return result ?? fail();
  }

  async appendMany(accountId: Id, mailboxId: Id, tags: string[]): Promise<Array<{ uid: number; modseq: number; uidValidity: number }>> {
    return this.appendBytes(
      accountId,
      mailboxId,
      tags.map((tag) => this.body(tag)),
    );
  }

  async appendBytes(accountId: Id, mailboxId: Id, bodies: Buffer[]): Promise<Array<{ uid: number; modseq: number; uidValidity: number }>> {
    const messages: NewMessage[] = [];
    for (const bytes of bodies) messages.push({ blob: await this.stageBytes(bytes), index: this.index(bytes) });
    return this.store.append(accountId, mailboxId, messages);
  }
}

export function sampleMessage(tag: string, size = 64): Buffer {
  const head = `From: a@example.org\r\nTo: b@example.org\r\nSubject: ${tag}\r\n\r\n`;
  const unit = `${tag} `;
  const bodyLength = Math.max(size - head.length - 2, 1);
  const body = unit.repeat(Math.ceil(bodyLength / unit.length)).slice(0, bodyLength);
  return Buffer.from(`${head}${body}\r\n`, 'utf8');
}

async function setupAccount(store: MailStore, address = USER, quotaBytes: number | null = null): Promise<Account> {
  if (!(await store.getDomain(DOMAIN))) await store.addDomain(DOMAIN);
  return store.addAccount(address, '$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA', quotaBytes);
}

async function mailbox(store: MailStore, accountId: Id, name: string): Promise<Mailbox> {
  const box = await store.getMailbox(accountId, name);
  if (!box) throw new Error(`mailbox ${name} missing`);
  return box;
}

async function expectStoreError(promise: Promise<unknown>, code: StoreError['code']): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected StoreError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

function summarize(change: Change): string {
  switch (change.kind) {
    case 'added':
    case 'expunged':
      return `${change.kind} ${change.mailboxId} ${change.uid}`;
    case 'flags':
      return `flags ${change.mailboxId} ${change.uid} ${change.flags} ${change.keywords.join(',')}`;
    case 'mailboxCreated':
    case 'mailboxDeleted':
      return `${change.kind} ${change.mailboxId} ${change.name}`;
    case 'mailboxRenamed':
      return `mailboxRenamed ${change.mailboxId} ${change.oldName} ${change.name}`;
    case 'account':
      return `account ${change.deleted}`;
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function pruningStore(store: MailStore): MailStore & ChangeLogPruning {
  if (!hasChangeLogPruning(store)) throw new Error('this backend cannot prune its change log');
  return store;
}

function queueStore(store: MailStore): MailStore & OutboundQueueStore {
  if (!hasOutboundQueue(store)) throw new Error('this backend has no outbound queue');
  return store;
}

function attemptOutcome(code: number): AttemptOutcome {
  const enhanced = `${String(code).charAt(0)}.0.0`;
  return { code, enhanced, diagnostic: `${code} ${enhanced} test`, remoteMta: 'mx.remote.test', at: 1_700_000_000_000 };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

function fail(): never {
  throw new Error('unexpected missing value');
}
