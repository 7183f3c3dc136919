/**
 * The checks of `mailhaven fsck`, once for every backend: they compare what a StoreChecker reads
 * (src/store/checker.ts) with the invariants docs/storage.md promises, and name a repair where one
 * exists that cannot lose mail. A missing or damaged blob has no repair: fsck reports it and never
 * deletes the message that names it.
 * @module
 */
import type { AccountFacts, FsckFacts, FsckRepair, MailboxFacts, StoreChecker } from '../store/checker.js';

/** `problem`: an invariant is broken (exit status 1). `notice`: expected after a crash or while a server runs. */
export type Severity = 'problem' | 'notice';

export interface Finding {
  severity: Severity;
  /** Stable name of the check (docs/reliability.md lists them). */
  code: string;
  /** What it is about: "tim@example.org/INBOX", "blob 3fa4…", "account tim@example.org". */
  subject: string;
  detail: string;
  /** What --repair does about it; absent when nothing safe can be done. */
  repair?: FsckRepair;
}

export interface CheckStats {
  accounts: number;
  mailboxes: number;
  messages: number;
  referencedBlobs: number;
  storedBlobs: number;
}

export interface CheckResult {
  findings: Finding[];
  stats: CheckStats;
}

export interface CheckOptions {
  /** Also hash every referenced blob (reads every byte). */
  deep: boolean;
  /** Messages listed per finding, at most. */
  sampleLimit: number;
}

export async function checkStore(checker: StoreChecker, options: CheckOptions): Promise<CheckResult> {
  const facts = await checker.fsckFacts(options.sampleLimit);
  const findings: Finding[] = [
    ...facts.mailboxes.flatMap(checkMailbox),
    ...facts.accounts.flatMap(checkAccount),
    ...checkChangeLog(facts),
    ...checkIndex(facts),
  ];
  findings.push(...(await checkReferencedBlobs(checker, facts, options.deep)));
  const scan = await checkStoredBlobs(checker, facts);
  findings.push(...scan.findings);
  return {
    findings,
    stats: {
      accounts: facts.accounts.length,
      mailboxes: facts.mailboxes.length,
      messages: facts.mailboxes.reduce((sum, mailbox) => sum + mailbox.actual.messageCount, 0),
      referencedBlobs: facts.blobs.length,
      storedBlobs: scan.stored,
    },
  };
}

// ---- counters ----------------------------------------------------------------------------------

function checkMailbox(mailbox: MailboxFacts): Finding[] {
  const subject = `${mailbox.address}/${mailbox.name}`;
  const repair: FsckRepair = { kind: 'mailboxCounters', mailboxId: mailbox.id };
  const found: Finding[] = [];
  const counter = (code: string, label: string, stored: number, actual: number): void => {
    if (stored !== actual) found.push({ severity: 'problem', code, subject, detail: `${label} is ${stored}, the messages say ${actual}`, repair });
  };
  counter('mailboxMessageCount', 'message count', mailbox.messageCount, mailbox.actual.messageCount);
  counter('mailboxUnseenCount', 'unseen count', mailbox.unseenCount, mailbox.actual.unseenCount);
  counter('mailboxTotalSize', 'total size', mailbox.totalSize, mailbox.actual.totalSize);
  // RFC 3501 2.3.1.1: UIDNEXT is above every UID ever assigned, expunged ones included.
  const maxUid = Math.max(mailbox.actual.maxUid, mailbox.actual.maxLoggedUid);
  if (mailbox.uidNext <= maxUid) {
    found.push({ severity: 'problem', code: 'mailboxUidNext', subject, detail: `UIDNEXT ${mailbox.uidNext} is not above UID ${maxUid} already assigned`, repair });
  }
  // RFC 7162 3.1.2.1: HIGHESTMODSEQ is at least every MODSEQ of the mailbox.
  const maxModseq = Math.max(mailbox.actual.maxMessageModseq, mailbox.actual.maxLoggedModseq);
  if (mailbox.highestModseq < maxModseq) {
    found.push({ severity: 'problem', code: 'mailboxHighestModseq', subject, detail: `HIGHESTMODSEQ ${mailbox.highestModseq} is below MODSEQ ${maxModseq} of its messages or change log`, repair });
  }
  return found;
}

function checkAccount(account: AccountFacts): Finding[] {
  const subject = `account ${account.address}`;
  const repair: FsckRepair = { kind: 'accountUsage', accountId: account.id };
  const found: Finding[] = [];
  if (account.usedBytes !== account.actual.usedBytes) {
    found.push({ severity: 'problem', code: 'quotaBytes', subject, detail: `quota usage is ${account.usedBytes} octets, the messages add up to ${account.actual.usedBytes}`, repair });
  }
  if (account.usedMessages !== account.actual.usedMessages) {
    found.push({ severity: 'problem', code: 'quotaMessages', subject, detail: `quota usage is ${account.usedMessages} messages, there are ${account.actual.usedMessages}`, repair });
  }
  if (account.modseq < account.actual.maxModseq) {
    found.push({ severity: 'problem', code: 'accountModseq', subject, detail: `account MODSEQ ${account.modseq} is below MODSEQ ${account.actual.maxModseq} already used`, repair });
  }
  return found;
}

// ---- change log and index ----------------------------------------------------------------------

function checkChangeLog(facts: FsckFacts): Finding[] {
  const found: Finding[] = [];
  const list = (samples: ReadonlyArray<{ address: string; mailbox: string; uid: number }>, count: number): string =>
    samples.map((s) => `${s.address}/${s.mailbox} uid ${s.uid}`).join(', ') + (count > samples.length ? `, … (${count} in all)` : '');
  // Pruned history is not a problem: the checkers leave out of `unlogged` every message whose
  // "added" entry may have been pruned (docs/storage.md, "Change-log pruning").
  if (facts.unlogged.count > 0) {
    found.push({
      severity: 'problem',
      code: 'changeLogMissing',
      subject: 'change log',
      detail: `${facts.unlogged.count} message(s) without an "added" entry (sessions were never told): ${list(facts.unlogged.samples, facts.unlogged.count)}`,
    });
  }
  if (facts.vanished.count > 0) {
    found.push({
      severity: 'problem',
      code: 'messageVanished',
      subject: 'change log',
      detail: `${facts.vanished.count} message(s) logged as added and never expunged are gone (lost mail): ${list(facts.vanished.samples, facts.vanished.count)}`,
    });
  }
  if (facts.reusedUids.count > 0) {
    found.push({
      severity: 'problem',
      code: 'uidReused',
      subject: 'change log',
      detail: `${facts.reusedUids.count} message(s) carry a UID logged as expunged before: ${list(facts.reusedUids.samples, facts.reusedUids.count)}`,
    });
  }
  return found;
}

function checkIndex(facts: FsckFacts): Finding[] {
  const found: Finding[] = [];
  for (const hash of facts.missingIndex) {
    found.push({ severity: 'problem', code: 'indexMissing', subject: `blob ${hash}`, detail: 'messages name this blob but it has no message index (FETCH cannot describe them)' });
  }
  for (const hash of facts.unusedIndex) {
    found.push({ severity: 'notice', code: 'indexUnused', subject: `blob ${hash}`, detail: 'message index of a blob nothing names', repair: { kind: 'dropIndex', hash } });
  }
  for (const entry of facts.trash) {
    if (entry.referenced) {
      found.push({ severity: 'notice', code: 'trashReferenced', subject: `blob ${entry.hash}`, detail: 'queued for deletion but still named (the sweeper keeps it)', repair: { kind: 'untrash', hash: entry.hash } });
    }
  }
  return found;
}

// ---- blobs -------------------------------------------------------------------------------------

/** Reads in parallel, a few at a time: enough to overlap I/O without flooding the thread pool. */
const BLOB_CONCURRENCY = 8;

async function checkReferencedBlobs(checker: StoreChecker, facts: FsckFacts, deep: boolean): Promise<Finding[]> {
  const found: Finding[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < facts.blobs.length) {
      const ref = facts.blobs[next++];
      if (!ref) return;
      const where = `named by ${ref.samples.join(', ')}${ref.messages + ref.queueEntries > ref.samples.length ? ', …' : ''}`;
      const subject = `blob ${ref.hash}`;
      if (ref.sizes.length > 1) {
        found.push({ severity: 'problem', code: 'blobSizeDisagree', subject, detail: `rows imply different sizes (${ref.sizes.join(', ')}); ${where}` });
      }
      const stored = await checker.inspectBlob(ref.hash, deep);
      if (stored === null) {
        // A live server may have expunged the last message since the facts were read.
        if ((await checker.blobState(ref.hash)) !== 'referenced') continue;
        found.push({ severity: 'problem', code: 'blobMissing', subject, detail: `the blob is missing; ${where} (not repairable: restore it from a backup)` });
        continue;
      }
      const expected = ref.sizes[0];
      if (expected !== undefined && ref.sizes.length === 1 && stored.size !== expected) {
        found.push({ severity: 'problem', code: 'blobSize', subject, detail: `the blob has ${stored.size} octets, its rows expect ${expected}; ${where}` });
      }
      if (stored.sha256 !== undefined && stored.sha256 !== ref.hash) {
        found.push({ severity: 'problem', code: 'blobCorrupt', subject, detail: `the blob's SHA-256 is ${stored.sha256}; ${where}` });
      }
    }
  };
  await Promise.all(Array.from({ length: BLOB_CONCURRENCY }, worker));
  return found.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
}

async function checkStoredBlobs(checker: StoreChecker, facts: FsckFacts): Promise<{ findings: Finding[]; stored: number }> {
  const referenced = new Set(facts.blobs.map((ref) => ref.hash));
  const trashed = new Set(facts.trash.map((entry) => entry.hash));
  const findings: Finding[] = [];
  let stored = 0;
  let pendingSweep = 0;
  let young = 0;
  for await (const blob of checker.listBlobs()) {
    stored++;
    if (referenced.has(blob.hash)) continue;
    if (trashed.has(blob.hash)) {
      pendingSweep++;
      continue;
    }
    // Named since the facts were read (a live server), or queued for the sweeper meanwhile?
    const state = await checker.blobState(blob.hash);
    if (state === 'referenced') continue;
    if (state === 'trashed') {
      pendingSweep++;
      continue;
    }
    if (blob.ageMs < checker.blobGraceMs) {
      // A writer renames a fresh blob into place right before its commit; a crash between the two
      // leaves exactly this, and recovery removes it once the grace period has passed.
      young++;
      continue;
    }
    findings.push({ severity: 'problem', code: 'blobOrphan', subject: `blob ${blob.hash}`, detail: 'no message or queue entry names it and it is not queued for deletion', repair: { kind: 'trashBlob', hash: blob.hash } });
  }
  if (pendingSweep > 0) {
    findings.push({ severity: 'notice', code: 'blobTrashPending', subject: 'blobs', detail: `${pendingSweep} unreferenced blob(s) queued for the sweeper` });
  }
  if (young > 0) {
    findings.push({ severity: 'notice', code: 'blobUnreferencedYoung', subject: 'blobs', detail: `${young} unreferenced blob(s) younger than the grace period (a write in progress, or one cut short by a crash; recovery removes them later)` });
  }
  return { findings, stored };
}
