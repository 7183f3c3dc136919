/**
 * QRESYNC and live sessions after the change log was pruned (docs/storage.md, "Change-log
 * pruning"; RFC 7162 3.2.5.1, 3.2.5.2, 3.2.6): the expunge history a client asks for is gone, so
 * VANISHED (EARLIER) names every UID of its range that no longer exists, and a session idle across
 * the prune is brought up to date from a full listing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingUids } from '../src/imap/qresync.js';
import { hasChangeLogPruning } from '../src/store/types.js';
import type { ChangeLogPruning, MessageMeta } from '../src/store/types.js';
import { SequenceSet } from '../src/wire/imap/sequence-set.js';
import { USER, sampleMessage, startImapServer } from './helpers/imap-client.js';

test('QRESYNC after pruning: VANISHED (EARLIER) from the mailbox, exact again above the mark; idle session resyncs', async (t) => {
  const server = await startImapServer(t);
  const store = server.store;
  assert.ok(hasChangeLogPruning(store), 'the store prunes its change log');
  const pruning: ChangeLogPruning = store;
  for (const subject of ['one', 'two', 'three', 'four', 'five', 'six']) await server.deliver(USER, sampleMessage(subject));
  const account = await store.getAccount(USER);
  assert.ok(account !== null);
  const v = await server.uidValidity();
  const known = await store.currentModseq(account.id);

  const a = await server.client();
  await a.run('ENABLE QRESYNC');
  await a.run('SELECT INBOX');
  // B selects now and then stays silent until after the prune.
  const b = await server.client();
  await b.run('SELECT INBOX');

  const c = await server.client();
  await c.run('SELECT INBOX');
  await c.run('UID STORE 2,5 +FLAGS.SILENT (\\Deleted)');
  await c.run('EXPUNGE');
  await c.run('UID STORE 3 +FLAGS.SILENT (\\Seen)');
  await server.deliver(USER, sampleMessage('seven'));
  const flagged = await store.currentModseq(account.id) - 1;

  const removed = await pruning.pruneChanges(new Date(Date.now() + 60_000), 3);
  assert.ok(removed > 0, 'the whole log was old enough');
  assert.equal((await store.changesSince(account.id, known)).truncated, true, 'the client is below the mark');

  const d = await server.client();
  await d.run('ENABLE QRESYNC');
  // Known UIDs 1:6: the UIDs of the range no message has are exactly the expunged ones here.
  const resync = await d.run(`SELECT INBOX (QRESYNC (${v} ${known} 1:6))`);
  assert.deepEqual(resync.slice(-3), ['* VANISHED (EARLIER) 2,5', `* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (${flagged}))`, 'A3 OK [READ-WRITE] SELECT completed']);
  // Without known UIDs the range is 1:UIDNEXT-1; the new message 7 is there, so not vanished.
  const whole = await d.run(`SELECT INBOX (QRESYNC (${v} ${known}))`);
  assert.ok(whole.includes('* VANISHED (EARLIER) 2,5'), whole.join('\n'));
  assert.ok(whole.some((line) => line.startsWith('* 5 FETCH (UID 7 ')), whole.join('\n'));
  // Sequence match data (3.2.5.2): seq 1 is UID 1 and seq 2 is UID 3, so nothing up to 3 is reported.
  const matched = await d.run(`SELECT INBOX (QRESYNC (${v} ${known} 1:6 (1,2 1,3)))`);
  assert.ok(matched.includes('* VANISHED (EARLIER) 5'), matched.join('\n'));
  assert.ok(!matched.some((line) => line.includes('VANISHED (EARLIER) 2')), matched.join('\n'));
  // A pair that does not match (seq 2 is not UID 2 any more) leaves the whole range.
  const mismatch = await d.run(`SELECT INBOX (QRESYNC (${v} ${known} 1:6 (2 2)))`);
  assert.ok(mismatch.includes('* VANISHED (EARLIER) 2,5'), mismatch.join('\n'));

  assert.deepEqual(await d.run(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${known} VANISHED)`), [
    '* VANISHED (EARLIER) 2,5',
    `* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (${flagged}))`,
    `* 5 FETCH (UID 7 FLAGS () MODSEQ (${flagged + 1}))`,
    'A7 OK FETCH completed',
  ]);

  // Above the mark the log is exact again: only what was expunged since.
  const after = await store.currentModseq(account.id);
  await c.run('UID STORE 6 +FLAGS.SILENT (\\Deleted)');
  await c.run('EXPUNGE');
  assert.deepEqual(await d.run(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${after} VANISHED)`), [
    '* VANISHED (EARLIER) 6',
    '* VANISHED 6',
    'A8 OK [EXPUNGEISSUED] Some messages were expunged by another session',
  ]);

  // B last read the log before the prune: NOOP compares with the mailbox instead of replaying.
  const noop = await b.run('NOOP');
  assert.deepEqual(
    noop.filter((line) => line.endsWith('EXPUNGE')),
    ['* 2 EXPUNGE', '* 4 EXPUNGE', '* 4 EXPUNGE'],
    noop.join('\n'),
  );
  assert.ok(noop.includes('* 4 EXISTS'), noop.join('\n'));
  assert.ok(noop.some((line) => line.startsWith('* 2 FETCH (UID 3 FLAGS (\\Seen')), noop.join('\n'));
  assert.deepEqual(await b.run('UID SEARCH ALL'), ['* SEARCH 1 3 4 7', 'A4 OK SEARCH completed']);
});

test('missingUids: ranges between present messages, clipped to 1..max, cheap for a huge range', () => {
  const present = [3, 4, 10, 4_000_000_000].map((uid) => ({ uid }) as MessageMeta);
  const all = (set: string | null, max: number, match?: [string, string]): string | undefined =>
    missingUids(
      {
        set: set === null ? null : SequenceSet.parse(set, { allowStar: true }),
        max,
        sequenceMatch: match === undefined ? null : { sequences: SequenceSet.parse(match[0]), uids: SequenceSet.parse(match[1]) },
      },
      present,
    )?.toString();
  assert.equal(all(null, 12), '1:2,5:9,11:12');
  assert.equal(all(null, 4_294_967_295), '1:2,5:9,11:3999999999,4000000001:4294967295');
  assert.equal(all('2:5,9:*', 10), '2,5,9');
  assert.equal(all('3:4', 10), undefined, 'nothing missing');
  assert.equal(all('20:30', 12), undefined, 'beyond max');
  // Sequence match data: seq 1 = UID 3 and seq 3 = UID 10 match, so the client knows up to 10.
  assert.equal(all(null, 12, ['1,3', '3,10']), '11:12');
  // The first pair does not match: nothing is narrowed. A sequence beyond the mailbox stops the walk.
  assert.equal(all(null, 12, ['1', '4']), '1:2,5:9,11:12');
  assert.equal(all(null, 12, ['1,9', '3,11']), '5:9,11:12');
});
