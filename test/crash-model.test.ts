/**
 * The crash loop's model (test/crash/model.ts) must catch each kind of broken promise: these
 * feed it views of a server that lost, duplicated, resurrected or renumbered mail, and expect the
 * violation; a view that keeps every promise must pass.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ABSENT, CrashModel } from './crash/model.js';
import type { AccountView, MailboxView } from './crash/model.js';

const ACCOUNT = 'a@crash.test';

function message(tag: string): Buffer {
  return Buffer.from(`Message-ID: <${tag}@crash.test>\r\nSubject: ${tag}\r\n\r\nbody\r\n`);
}

function box(name: string, uidNext: number, highestModseq: number, messages: Array<[number, string, number?]>, uidValidity = 7): MailboxView {
  return {
    name,
    uidValidity,
    uidNext,
    highestModseq,
    messages: messages.map(([uid, tag, modseq]) => {
      const bytes = message(tag);
      return { uid, modseq: modseq ?? 1, size: bytes.length, tag, bytes };
    }),
  };
}

function view(...mailboxes: MailboxView[]): AccountView {
  const all = mailboxes.flatMap((m) => m.messages);
  const size = all.reduce((sum, m) => sum + m.size, 0);
  return { account: ACCOUNT, mailboxes, quota: { storageKiB: Math.ceil(size / 1024), messages: all.length } };
}

/** A model with `one` acknowledged in INBOX at UID 1 (and an empty Archive), checked once. */
function modelWithOne(): CrashModel {
  const model = new CrashModel();
  model.expect('one', ACCOUNT, message('one'), 'exact', 'INBOX');
  model.settle(ACCOUNT, 'one', 'INBOX');
  model.check(view(box('INBOX', 2, 1, [[1, 'one']]), box('Archive', 1, 0, [], 8)), 0);
  assert.deepEqual(model.violations, []);
  return model;
}

test('a view that keeps every promise passes, including an operation cut either way', () => {
  const model = modelWithOne();
  model.inFlight(ACCOUNT, 'one', 'Archive');
  model.expect('two', ACCOUNT, message('two'), 'exact', 'INBOX');
  model.check(view(box('INBOX', 3, 3, [[2, 'two', 3]]), box('Archive', 2, 3, [[1, 'one', 3]], 8)), 1);
  assert.deepEqual(model.violations, []);
  assert.deepEqual(model.inFlightOutcomes, { done: 2, notDone: 0 });
});

test('an acknowledged message that is missing, duplicated, or changed is a violation', () => {
  let model = modelWithOne();
  model.check(view(box('INBOX', 2, 1, [])), 1);
  assert.match(model.violations.join('\n'), /one is missing; expected INBOX/);

  model = modelWithOne();
  model.inFlight(ACCOUNT, 'one', 'Archive');
  model.check(view(box('INBOX', 2, 2, [[1, 'one', 1]]), box('Archive', 2, 2, [[1, 'one', 2]], 8)), 1);
  assert.match(model.violations.join('\n'), /one is present 2 times \(INBOX, Archive\)/);

  model = modelWithOne();
  const changed = box('INBOX', 2, 1, [[1, 'one']]);
  changed.messages[0]!.bytes = Buffer.concat([changed.messages[0]!.bytes.subarray(0, 20), Buffer.from('X'), changed.messages[0]!.bytes.subarray(21)]);
  model.check(view(changed), 1);
  assert.match(model.violations.join('\n'), /bytes differ/);
});

test('an acknowledged deletion that comes back, and a cut literal that appears, are violations', () => {
  const model = modelWithOne();
  model.inFlight(ACCOUNT, 'one', ABSENT);
  model.settle(ACCOUNT, 'one', ABSENT);
  model.expectNever('cut', ACCOUNT, message('cut'));
  model.check(view(box('INBOX', 3, 2, [[2, 'cut', 2]])), 1);
  assert.match(model.violations.join('\n'), /cut is in INBOX; expected \(absent\)/);
  model.check(view(box('INBOX', 3, 2, [[1, 'one']])), 2);
  assert.match(model.violations.join('\n'), /a deleted message came back \(one\)/);
});

test('UID reuse, UIDNEXT or HIGHESTMODSEQ going down, and a MODSEQ above HIGHESTMODSEQ are violations', () => {
  const model = modelWithOne();
  model.noteModseq(ACCOUNT, 7, 9);
  model.expect('two', ACCOUNT, message('two'), 'exact', 'INBOX');
  model.settle(ACCOUNT, 'two', 'INBOX');
  model.settle(ACCOUNT, 'one', ABSENT);
  model.check(view(box('INBOX', 1, 0, [[1, 'two', 4]])), 1);
  const text = model.violations.join('\n');
  assert.match(text, /UIDNEXT went down from 2 to 1/);
  assert.match(text, /HIGHESTMODSEQ went down from 1 to 0/);
  assert.match(text, /HIGHESTMODSEQ 0 is below MODSEQ 9 sent earlier/);
  assert.match(text, /UID 1 reused: was one, now two/);
  assert.match(text, /MODSEQ 4 of UID 1 above HIGHESTMODSEQ 0/);
});

test('a POP3 session cut before its QUIT answer deletes all of its messages or none', () => {
  const model = new CrashModel();
  for (const tag of ['p1', 'p2']) {
    model.expect(tag, ACCOUNT, message(tag), 'exact', 'INBOX');
    model.settle(ACCOUNT, tag, 'INBOX');
    model.inFlight(ACCOUNT, tag, ABSENT);
  }
  model.atomic('POP3 session deleting p1, p2', ACCOUNT, ['p1', 'p2']);
  model.check(view(box('INBOX', 3, 2, [[2, 'p2', 2]])), 1);
  assert.match(model.violations.join('\n'), /POP3 session deleting p1, p2: only part of it happened \(p2 kept\)/);
});

test('quota usage that differs from the stored sizes is a violation', () => {
  const model = modelWithOne();
  const wrong = view(box('INBOX', 2, 1, [[1, 'one']]));
  wrong.quota = { storageKiB: 5, messages: 2 };
  model.check(wrong, 1);
  assert.match(model.violations.join('\n'), /quota MESSAGE usage 2, the mailboxes hold 1/);
  assert.match(model.violations.join('\n'), /quota STORAGE usage 5 KiB/);
});
