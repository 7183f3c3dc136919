/**
 * The load the crash loop puts on a server between two kills. Each worker owns its account's
 * mailboxes, so the model always knows where a message must be; every operation is announced to
 * the model before it is sent (the place it may move to) and settled when it is acknowledged.
 * A worker ends when the server dies under it (ConnectionLost); anything else is a violation.
 * @module
 */
import { ConnectionLost, ImapClient, Pop3Client, SmtpClient, dotStuff } from './clients.js';
import type { ImapResult } from './clients.js';
import { ABSENT, tagOf } from './model.js';
import type { AccountView, CrashModel } from './model.js';

export const DOMAIN = 'crash.test';
export const PASSWORD = 'crash-loop-password';
export const MX_USER = `mx@${DOMAIN}`;
export const APP_USER = `app@${DOMAIN}`;
export const POP_USER = `pop@${DOMAIN}`;
export const WORK = 'Work';
export const SORTED = 'Sorted';
export const ARCHIVE_NAMES = ['Arch-A', 'Arch-B'] as const;
/** Above this many messages in an account, workers delete more than they add. */
const POPULATION = 60;

export interface Ports {
  smtp: number;
  imap: number;
  pop3: number;
}

export interface WorkerContext {
  ports: Ports;
  model: CrashModel;
  rng: () => number;
  /** Called on every acknowledgement (a kill mode fires on the Nth). */
  onAck: (kind: 'smtp' | 'imap' | 'pop3') => void;
  /** Unique tag for a new message. */
  nextTag: (prefix: string) => string;
  /** Problems that are not a lost connection: protocol errors, time-outs. */
  problems: string[];
  /** The accounts as the last check saw them. */
  views: Map<string, AccountView>;
}

// ---- messages ----------------------------------------------------------------------------------

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];

/** A message with a tag in its Message-ID; sometimes large, with lines that need dot-stuffing. */
export function makeMessage(tag: string, to: string, rng: () => number, size?: number): Buffer {
  const target = size ?? (rng() < 0.1 ? 60_000 + Math.floor(rng() * 200_000) : 200 + Math.floor(rng() * 8000));
  const head = `Message-ID: <${tag}@${DOMAIN}>\r\nFrom: Crash Loop <loop@sender.example>\r\nTo: <${to}>\r\nSubject: ${tag}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\n`;
  const lines: string[] = [];
  let length = head.length;
  while (length < target) {
    const words = Array.from({ length: 3 + Math.floor(rng() * 9) }, () => WORDS[Math.floor(rng() * WORDS.length)] ?? 'x');
    const line = (rng() < 0.05 ? '.' : '') + words.join(' ');
    lines.push(line);
    length += line.length + 2;
  }
  return Buffer.from(`${head}${lines.join('\r\n')}\r\n`, 'latin1');
}

function pick<T>(rng: () => number, items: readonly T[], count: number): T[] {
  const pool = [...items];
  const out: T[] = [];
  while (out.length < count && pool.length > 0) out.push(pool.splice(Math.floor(rng() * pool.length), 1)[0] as T);
  return out;
}

function liveCount(model: CrashModel, account: string): number {
  let n = 0;
  for (const e of model.expectations.values()) if (e.account === account && !(e.allowed.size === 1 && e.allowed.has(ABSENT))) n++;
  return n;
}

/** Runs a worker; a lost connection ends it quietly, anything else is recorded. */
export async function guard(ctx: WorkerContext, name: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (err instanceof ConnectionLost) return;
    ctx.problems.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// ---- SMTP --------------------------------------------------------------------------------------

/** Delivers messages one after another on one connection (several of these run at once). */
export async function smtpWorker(ctx: WorkerContext, recipients: readonly string[]): Promise<void> {
  const client = await SmtpClient.open(ctx.ports.smtp);
  for (;;) {
    const tag = ctx.nextTag('smtp');
    const bytes = makeMessage(tag, recipients[0] ?? MX_USER, ctx.rng);
    for (const rcpt of recipients) ctx.model.expect(tag, rcpt, bytes, 'suffix', 'INBOX');
    await client.startData('loop@sender.example', recipients);
    client.writeBody(dotStuff(bytes));
    const reply = await client.endData();
    // A refusal must store nothing; 250 must store it for every recipient.
    for (const rcpt of recipients) ctx.model.settle(rcpt, tag, reply.code === '250' ? 'INBOX' : ABSENT);
    if (reply.code !== '250') ctx.problems.push(`SMTP refused a delivery: ${reply.text}`);
    else ctx.onAck('smtp');
  }
}

/** Sends half of a message's DATA and waits for the kill: the message must never appear. */
export async function stalledSmtp(ctx: WorkerContext): Promise<void> {
  const client = await SmtpClient.open(ctx.ports.smtp);
  const tag = ctx.nextTag('cut-data');
  const bytes = makeMessage(tag, MX_USER, ctx.rng, 30_000);
  ctx.model.expectNever(tag, MX_USER, bytes);
  await client.startData('loop@sender.example', [MX_USER]);
  const stuffed = dotStuff(bytes);
  client.writeBody(stuffed.subarray(0, Math.floor(stuffed.length / 2)));
  await client.untilClosed();
}

// ---- IMAP --------------------------------------------------------------------------------------

/** Tags by UID of the mailbox as the last check saw it. */
function uidsOf(ctx: WorkerContext, account: string, mailbox: string): Map<number, string> {
  const view = ctx.views.get(account)?.mailboxes.find((m) => m.name === mailbox);
  const out = new Map<number, string>();
  for (const message of view?.messages ?? []) if (message.tag !== null) out.set(message.uid, message.tag);
  return out;
}

function uidValidityOf(ctx: WorkerContext, account: string, mailbox: string): number {
  return ctx.views.get(account)?.mailboxes.find((m) => m.name === mailbox)?.uidValidity ?? 0;
}

/** UIDs whose tag is known to be in `mailbox` right now. */
function certain(ctx: WorkerContext, account: string, mailbox: string, uids: Map<number, string>): number[] {
  return [...uids].filter(([, tag]) => ctx.model.certainPlace(account, tag) === mailbox).map(([uid]) => uid);
}

function copyUids(result: ImapResult): { uidValidity: number; mapping: Array<[number, number]> } | null {
  const text = [...result.untagged.map((r) => r.text), result.tagged].join('\n');
  const match = /\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]/.exec(text);
  if (!match) return null;
  const from = expandSet(match[2] ?? '');
  const to = expandSet(match[3] ?? '');
  return { uidValidity: Number(match[1]), mapping: from.map((uid, i) => [uid, to[i] ?? 0]) };
}

function expandSet(set: string): number[] {
  return set.split(',').flatMap((part) => {
    const [a, b] = part.split(':').map(Number);
    if (a === undefined) return [];
    if (b === undefined) return [a];
    const out: number[] = [];
    for (let uid = Math.min(a, b); uid <= Math.max(a, b); uid++) out.push(uid);
    return out;
  });
}

function noteModseqs(ctx: WorkerContext, account: string, uidValidity: number, result: ImapResult): void {
  for (const response of result.untagged) {
    const modseq = /MODSEQ \((\d+)\)/.exec(response.text);
    if (modseq) ctx.model.noteModseq(account, uidValidity, Number(modseq[1]));
  }
}

/** UID MOVE, with the model told before and after. */
async function moveMessages(ctx: WorkerContext, client: ImapClient, account: string, uids: Map<number, string>, chosen: number[], to: string, toUids: Map<number, string>): Promise<void> {
  if (chosen.length === 0) return;
  const tags = chosen.map((uid) => uids.get(uid) ?? '');
  for (const tag of tags) ctx.model.inFlight(account, tag, to);
  const result = await client.ok(`UID MOVE ${chosen.join(',')} "${to}"`);
  ctx.onAck('imap');
  const copied = copyUids(result);
  if (!copied) ctx.problems.push(`UID MOVE without COPYUID: ${result.tagged}`);
  for (const [i, uid] of chosen.entries()) {
    const tag = tags[i] ?? '';
    ctx.model.settle(account, tag, to);
    uids.delete(uid);
    const target = copied?.mapping.find(([from]) => from === uid)?.[1];
    if (copied && target !== undefined) {
      ctx.model.noteUid(account, copied.uidValidity, target, tag, `MOVE to ${to}`);
      toUids.set(target, tag);
    }
  }
}

/** STORE \Deleted then UID EXPUNGE of exactly those UIDs (RFC 4315 2.1). */
async function expungeMessages(ctx: WorkerContext, client: ImapClient, account: string, uids: Map<number, string>, chosen: number[]): Promise<void> {
  if (chosen.length === 0) return;
  const tags = chosen.map((uid) => uids.get(uid) ?? '');
  for (const tag of tags) ctx.model.inFlight(account, tag, ABSENT);
  await client.ok(`UID STORE ${chosen.join(',')} +FLAGS.SILENT (\\Deleted)`);
  await client.ok(`UID EXPUNGE ${chosen.join(',')}`);
  ctx.onAck('imap');
  for (const [i, uid] of chosen.entries()) {
    ctx.model.settle(account, tags[i] ?? '', ABSENT);
    uids.delete(uid);
  }
}

async function storeFlags(ctx: WorkerContext, client: ImapClient, account: string, uidValidity: number, chosen: number[]): Promise<void> {
  if (chosen.length === 0) return;
  const change = pick(ctx.rng, ['+FLAGS (\\Flagged)', '-FLAGS (\\Flagged)', '+FLAGS (\\Seen)', '-FLAGS (\\Seen)', '+FLAGS ($Crash)'], 1)[0];
  const result = await client.ok(`UID STORE ${chosen.join(',')} ${change}`);
  ctx.onAck('imap');
  noteModseqs(ctx, account, uidValidity, result);
}

/** Picks up deliveries that arrived since the last look: new UIDs of INBOX, with their tags. */
async function discover(client: ImapClient, uids: Map<number, string>, from: number): Promise<number> {
  const result = await client.ok(`UID FETCH ${from}:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`);
  let next = from;
  for (const response of result.untagged) {
    const uid = Number(/UID (\d+)/.exec(response.text)?.[1] ?? 0);
    const tag = response.literals[0] ? tagOf(response.literals[0]) : null;
    if (uid >= from && tag !== null) {
      uids.set(uid, tag);
      next = Math.max(next, uid + 1);
    }
  }
  return next;
}

/** mx@: sorts delivered mail: moves INBOX messages to Sorted, flags, expunges in both. */
export async function sorterWorker(ctx: WorkerContext): Promise<void> {
  const inboxSession = await ImapClient.login(ctx.ports.imap, MX_USER, PASSWORD);
  const sortedSession = await ImapClient.login(ctx.ports.imap, MX_USER, PASSWORD);
  await inboxSession.ok('SELECT INBOX');
  await sortedSession.ok(`SELECT "${SORTED}"`);
  const inbox = uidsOf(ctx, MX_USER, 'INBOX');
  const sorted = uidsOf(ctx, MX_USER, SORTED);
  const inboxValidity = uidValidityOf(ctx, MX_USER, 'INBOX');
  const sortedValidity = uidValidityOf(ctx, MX_USER, SORTED);
  let nextUid = Math.max(1, ...[...inbox.keys()].map((uid) => uid + 1));
  for (;;) {
    nextUid = await discover(inboxSession, inbox, nextUid);
    const crowded = liveCount(ctx.model, MX_USER) > POPULATION;
    const roll = ctx.rng();
    const inInbox = certain(ctx, MX_USER, 'INBOX', inbox);
    if (roll < 0.4) {
      await moveMessages(ctx, inboxSession, MX_USER, inbox, pick(ctx.rng, inInbox, 1 + Math.floor(ctx.rng() * 3)), SORTED, sorted);
    } else if (roll < 0.55) {
      await storeFlags(ctx, inboxSession, MX_USER, inboxValidity, pick(ctx.rng, inInbox, 2));
    } else if (roll < 0.7 || crowded) {
      await sortedSession.ok('NOOP');
      await expungeMessages(ctx, sortedSession, MX_USER, sorted, pick(ctx.rng, certain(ctx, MX_USER, SORTED, sorted), crowded ? 4 : 2));
      if (crowded) await expungeMessages(ctx, inboxSession, MX_USER, inbox, pick(ctx.rng, inInbox, 2));
    } else if (roll < 0.85) {
      await sortedSession.ok('NOOP');
      await storeFlags(ctx, sortedSession, MX_USER, sortedValidity, pick(ctx.rng, certain(ctx, MX_USER, SORTED, sorted), 2));
    } else {
      await expungeMessages(ctx, inboxSession, MX_USER, inbox, pick(ctx.rng, inInbox, 1));
    }
    if (inInbox.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** app@: APPEND into Work, flags, MOVE to the archive, expunge there, RENAME the archive back and forth. */
export async function appenderWorker(ctx: WorkerContext): Promise<void> {
  const client = await ImapClient.login(ctx.ports.imap, APP_USER, PASSWORD);
  const view = ctx.views.get(APP_USER);
  let archive: string = ARCHIVE_NAMES.find((name) => view?.mailboxes.some((m) => m.name === name)) ?? ARCHIVE_NAMES[0];
  const work = uidsOf(ctx, APP_USER, WORK);
  const archived = uidsOf(ctx, APP_USER, archive);
  // Deliveries land in INBOX (the third SMTP worker); they are cleared from there.
  const inbox = uidsOf(ctx, APP_USER, 'INBOX');
  const workValidity = uidValidityOf(ctx, APP_USER, WORK);
  await client.ok(`SELECT "${WORK}"`);
  for (;;) {
    const crowded = liveCount(ctx.model, APP_USER) > POPULATION;
    const roll = ctx.rng();
    const inWork = certain(ctx, APP_USER, WORK, work);
    if (roll < 0.35 && !crowded) {
      const tag = ctx.nextTag('append');
      const bytes = makeMessage(tag, APP_USER, ctx.rng);
      ctx.model.expect(tag, APP_USER, bytes, 'exact', WORK);
      const result = await client.append(WORK, ctx.rng() < 0.5 ? '\\Seen' : '', bytes);
      if (!result.ok) {
        ctx.model.settle(APP_USER, tag, ABSENT);
        ctx.problems.push(`APPEND refused: ${result.tagged}`);
        continue;
      }
      ctx.onAck('imap');
      ctx.model.settle(APP_USER, tag, WORK);
      const appendUid = /\[APPENDUID (\d+) (\d+)\]/.exec(result.tagged);
      if (!appendUid) ctx.problems.push(`APPEND without APPENDUID: ${result.tagged}`);
      else {
        ctx.model.noteUid(APP_USER, Number(appendUid[1]), Number(appendUid[2]), tag, 'APPEND');
        work.set(Number(appendUid[2]), tag);
      }
    } else if (roll < 0.5) {
      await storeFlags(ctx, client, APP_USER, workValidity, pick(ctx.rng, inWork, 3));
    } else if (roll < 0.65) {
      await moveMessages(ctx, client, APP_USER, work, pick(ctx.rng, inWork, 1 + Math.floor(ctx.rng() * 3)), archive, archived);
    } else if (roll < 0.8 || (crowded && roll < 0.9)) {
      await client.ok('SELECT INBOX');
      await expungeMessages(ctx, client, APP_USER, inbox, pick(ctx.rng, certain(ctx, APP_USER, 'INBOX', inbox), crowded ? 5 : 2));
      await client.ok(`SELECT "${WORK}"`);
    } else if (roll < 0.9 || crowded) {
      await client.ok(`SELECT "${archive}"`);
      await expungeMessages(ctx, client, APP_USER, archived, pick(ctx.rng, certain(ctx, APP_USER, archive, archived), crowded ? 5 : 2));
      await client.ok(`SELECT "${WORK}"`);
      if (crowded) await expungeMessages(ctx, client, APP_USER, work, pick(ctx.rng, inWork, 2));
    } else {
      // RFC 9051 6.3.6: the mailbox keeps its UIDVALIDITY and its messages under the new name.
      const to = archive === ARCHIVE_NAMES[0] ? ARCHIVE_NAMES[1] : ARCHIVE_NAMES[0];
      ctx.model.renameInFlight(APP_USER, archive, to, false);
      await client.ok(`RENAME "${archive}" "${to}"`);
      ctx.onAck('imap');
      ctx.model.renameInFlight(APP_USER, archive, to, true);
      archive = to;
    }
  }
}

/** Starts an APPEND of a large message, sends half of the literal, and waits for the kill. */
export async function stalledAppend(ctx: WorkerContext, onHalfSent: () => void): Promise<void> {
  const client = await ImapClient.login(ctx.ports.imap, APP_USER, PASSWORD);
  const tag = ctx.nextTag('cut-literal');
  const bytes = makeMessage(tag, APP_USER, ctx.rng, 200_000);
  ctx.model.expectNever(tag, APP_USER, bytes);
  await client.append(WORK, '', bytes, Math.floor(bytes.length / 2), onHalfSent);
}

// ---- POP3 --------------------------------------------------------------------------------------

/** pop@: sessions that read one message, DELE a few, and QUIT (RFC 1939 6: deletions happen at QUIT). */
export async function pop3Worker(ctx: WorkerContext): Promise<void> {
  const tagsByUidl = new Map<string, string>();
  for (;;) {
    const client = await Pop3Client.login(ctx.ports.pop3, POP_USER, PASSWORD);
    const listing = (await client.multiline('UIDL')).toString('latin1').split('\r\n').filter(Boolean);
    const messages: Array<{ n: number; tag: string }> = [];
    for (const line of listing) {
      const [n, uidl] = line.split(' ');
      if (n === undefined || uidl === undefined) continue;
      let tag = tagsByUidl.get(uidl);
      if (tag === undefined) {
        tag = tagOf(await client.multiline(`TOP ${n} 0`)) ?? '';
        tagsByUidl.set(uidl, tag);
      }
      if (ctx.model.certainPlace(POP_USER, tag) === 'INBOX') messages.push({ n: Number(n), tag });
    }
    const [read] = pick(ctx.rng, messages, 1);
    if (read) {
      const bytes = await client.multiline(`RETR ${read.n}`);
      const expected = ctx.model.get(POP_USER, read.tag)?.bytes;
      if (expected && !bytes.subarray(bytes.length - expected.length).equals(expected)) ctx.problems.push(`POP3 RETR of ${read.tag}: bytes differ`);
    }
    const doomed = pick(ctx.rng, messages, messages.length > POPULATION / 2 ? 5 : 1 + Math.floor(ctx.rng() * 3));
    const tags = doomed.map((m) => m.tag);
    if (tags.length > 0) ctx.model.atomic(`POP3 session deleting ${tags.join(', ')}`, POP_USER, tags);
    for (const message of doomed) {
      ctx.model.inFlight(POP_USER, message.tag, ABSENT);
      await client.command(`DELE ${message.n}`);
    }
    await client.command('QUIT');
    client.close();
    ctx.onAck('pop3');
    for (const tag of tags) ctx.model.settle(POP_USER, tag, ABSENT);
    if (doomed.length === 0) await new Promise((resolve) => setTimeout(resolve, 30));
  }
}
