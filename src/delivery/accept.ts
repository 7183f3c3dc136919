/**
 * Delivery of one accepted message: local copies into INBOX (one blob, a per-copy
 * Return-Path/Delivered-To prefix) and the recipients we cannot store locally into the outbound
 * queue, in one store transaction when the store has the queue capability. When this resolves,
 * what it reports as stored or queued is durable (blob fsynced, store committed), so the
 * protocol may answer 250.
 */
import type { MessageIndex } from '../mime/types.js';
import type { DsnNotify, LocalCopy, NewQueueEntry, QueueRecipient } from '../queue/types.js';
import { hasOutboundQueue } from '../queue/types.js';
import type { DeliveryOutcome, MailStore, StagedBlob } from '../store/types.js';
import { StoreError } from '../store/types.js';
import { deliveryPrefix } from './local.js';
import type { LocalTarget } from './resolve.js';

export interface MessageRecipient {
  /** The forward-path as accepted (minimal quoting). */
  address: string;
  notify: DsnNotify | null;
  orcpt: { addrType: string; address: string } | null;
  /** Local accounts this recipient reaches (empty for a remote recipient). */
  accounts: LocalTarget[];
  /** Remote addresses to queue: the recipient itself when remote, or alias targets elsewhere. */
  forwards: string[];
}

export type MessageEnvelope = Omit<NewQueueEntry, 'recipients'>;

/** How the local copies are filed (the MX's mail authentication verdict, src/smtp/mail-auth.ts). */
export interface DeliveryOptions {
  /** Header fields added on top of every local copy, after Return-Path/Delivered-To (Authentication-Results). */
  headers?: Buffer;
  /** File the local copies into each account's \Junk mailbox (DMARC p=quarantine, RFC 7489 6.3). */
  junk?: boolean;
}

export interface DeliveryReport {
  /** Local copies stored. */
  stored: number;
  /** Recipients put into the outbound queue (remote, and local copies deferred). */
  queued: number;
  /** Local copies refused and not queued, with the reason. */
  refused: Array<{ address: string; reason: 'overQuota' | 'noAccount' }>;
}

export async function deliverMessage(
  store: MailStore,
  message: { blob: StagedBlob; index: MessageIndex },
  envelope: MessageEnvelope,
  recipients: readonly MessageRecipient[],
  internalDate?: Date,
  options: DeliveryOptions = {},
): Promise<DeliveryReport> {
  const copies = localCopies(envelope.sender, recipients, options.headers);
  if (options.junk === true) await fileIntoJunk(store, copies);
  const remote = remoteRecipients(recipients);
  if (hasOutboundQueue(store)) {
    const entry: NewQueueEntry = { ...envelope, recipients: remote };
    const result = await store.deliverAndEnqueue(message.blob, message.index, copies, entry, internalDate);
    const deferred = copies.filter((copy, i) => copy.retry !== null && isOverQuota(result.outcomes[i])).length;
    return report(copies, result.outcomes, result.queueId === null ? 0 : remote.length + deferred, result.queueId !== null);
  }
  if (remote.length > 0) throw new StoreError('cannot', 'this store has no outbound queue');
  const outcomes = await store.deliver(
    message.blob,
    message.index,
    copies.map((copy) => copy.target),
    internalDate,
  );
  return report(copies, outcomes, 0, false);
}

/** One copy per account (the first recipient that reaches it names it), each with its own prefix. */
function localCopies(sender: string, recipients: readonly MessageRecipient[], headers: Buffer | undefined): LocalCopy[] {
  const seen = new Set<number>();
  const copies: LocalCopy[] = [];
  for (const recipient of recipients) {
    for (const account of recipient.accounts) {
      if (seen.has(account.accountId)) continue;
      seen.add(account.accountId);
      const retry: QueueRecipient = { address: account.address, kind: 'local', notify: recipient.notify, orcpt: recipient.orcpt };
      const prefix = deliveryPrefix(sender, account.address);
      copies.push({ target: { accountId: account.accountId, prefix: headers === undefined ? prefix : Buffer.concat([prefix, headers]) }, retry });
    }
  }
  return copies;
}

/** Each copy goes to its account's \Junk mailbox, whatever its name (a missing one: INBOX). */
async function fileIntoJunk(store: MailStore, copies: readonly LocalCopy[]): Promise<void> {
  for (const copy of copies) {
    const junk = (await store.listMailboxes(copy.target.accountId)).find((mailbox) => mailbox.specialUse === '\\Junk');
    if (junk !== undefined) copy.target.mailboxName = junk.name;
  }
}

function remoteRecipients(recipients: readonly MessageRecipient[]): QueueRecipient[] {
  const seen = new Set<string>();
  const out: QueueRecipient[] = [];
  for (const recipient of recipients) {
    for (const address of recipient.forwards) {
      const key = address.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ address, kind: 'remote', notify: recipient.notify, orcpt: recipient.orcpt });
    }
  }
  return out;
}

function isOverQuota(outcome: DeliveryOutcome | undefined): boolean {
  return outcome !== undefined && !outcome.ok && outcome.reason === 'overQuota';
}

function report(copies: readonly LocalCopy[], outcomes: readonly DeliveryOutcome[], queued: number, deferredQueued: boolean): DeliveryReport {
  let stored = 0;
  const refused: DeliveryReport['refused'] = [];
  copies.forEach((copy, i) => {
    const outcome = outcomes[i] ?? { ok: false, reason: 'noAccount' };
    if (outcome.ok) stored++;
    else if (!(deferredQueued && outcome.reason === 'overQuota')) {
      refused.push({ address: copy.retry?.address ?? String(copy.target.accountId), reason: outcome.reason });
    }
  });
  return { stored, queued, refused };
}
