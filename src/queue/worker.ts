/**
 * The outbound queue worker. It wakes when a message is queued (`poke()`) and every
 * `queue.interval`, claims due entries with a lease (several processes or nodes can run one on
 * the same store: a claim is exclusive while its lease runs), and for each entry:
 *
 *   1. groups its open recipients: remote ones per destination domain, local ones (copies refused
 *      as over quota) together;
 *   2. delivers each domain group in one SMTP transaction through the OutboundTransport, within
 *      `queue.concurrency` deliveries overall and `queue.perDomainConcurrency` per domain, the
 *      message DKIM-signed once per attempt when a signer is given; local ones go to the store;
 *   3. decides each recipient's state (RFC 5321 4.2.1 / 4.5.4.1): 2xx delivered, 5xx failed at
 *      once, 4xx and network failures deferred until `queue.lifetime`, then failed;
 *   4. sends the DSNs the senders asked for (./dsn.ts) — before recording, so a crash in between
 *      gives a duplicate DSN, never a missing one;
 *   5. records the attempt (states, next attempt from `queue.retrySchedule`, lease released);
 *      an entry whose recipients are all final is removed with it.
 *
 * `stop()` aborts attempts in flight: what finished is recorded, the rest keeps its state and
 * lease, which expires, so the entry is tried again after a restart (a duplicate is acceptable,
 * a loss is not).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { PassThrough, pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import type { Config } from '../config/types.js';
import { deliveryPrefix } from '../delivery/local.js';
import { splitAddress } from '../delivery/resolve.js';
import type { Logger } from '../log/index.js';
import { indexMessage } from '../mime/indexer.js';
import type { MailStore } from '../store/types.js';
import type { DsnAction, DsnRecipientReport } from './dsn.js';
import { MAX_RETURNED_MESSAGE, buildDsn, headerBlock, sendDsn, wantsDsn } from './dsn.js';
import { Semaphore } from '../lib/semaphore.js';
import type { Release } from '../lib/semaphore.js';
import type { OutboundTransport, RecipientResult, TransactionRequest } from './transport.js';
import type { AttemptOutcome, OutboundQueueStore, QueueEntry, QueuedRecipient } from './types.js';
import { isFinalState } from './types.js';

/** What the worker needs of a DKIM signer (./dkim.ts DkimSigner). */
export interface MessageSigner {
  sign(request: { sender: string; open: () => Promise<Readable> | Readable }): Promise<{ header: string } | null>;
}

/** config.queue in milliseconds, plus the name we report as (DSN Reporting-MTA). */
export interface QueueSettings {
  hostname: string;
  lifetimeMs: number;
  retryScheduleMs: readonly number[];
  /** 0: no "delayed" DSNs. */
  delayWarningMs: number;
  concurrency: number;
  perDomainConcurrency: number;
  leaseMs: number;
  intervalMs: number;
}

export function queueSettings(config: Pick<Config, 'queue' | 'hostname' | 'outbound'>): QueueSettings {
  const q = config.queue;
  return {
    hostname: config.outbound.hostname ?? config.hostname,
    lifetimeMs: q.lifetime * 1000,
    retryScheduleMs: q.retrySchedule.length > 0 ? q.retrySchedule.map((s) => s * 1000) : [60_000],
    delayWarningMs: q.delayWarning * 1000,
    concurrency: Math.max(1, q.concurrency),
    perDomainConcurrency: Math.max(1, q.perDomainConcurrency),
    leaseMs: q.lease * 1000,
    intervalMs: Math.max(100, q.interval * 1000),
  };
}

export interface QueueWorkerDeps {
  store: MailStore & OutboundQueueStore;
  transport: OutboundTransport;
  settings: QueueSettings;
  logger: Logger;
  signer?: MessageSigner | null;
  /** Lease owner id; default host:pid:random (a restarted process never owns old leases). */
  owner?: string;
  now?: () => Date;
}

export interface WorkerCounters {
  /** Entries attempted. */
  attempts: number;
  /** Recipient outcomes. */
  delivered: number;
  deferred: number;
  failed: number;
  /** DSNs sent. */
  dsns: number;
}

/** How long a finished attempt's record waits for others to share its commit. */
const RECORD_BATCH_WAIT_MS = 20;

/** The end of this worker's claim on an entry (ms), as renewed; 0 once lost. */
interface Lease {
  until: number;
}

/** One recipient's outcome in this attempt; `null` entries were not attempted (aborted, lease gone). */
interface Outcome {
  status: RecipientResult['status'];
  last: AttemptOutcome;
  /** For delivered: the remote offered DSN and reports success itself. */
  remoteDsn: boolean;
}

export class QueueWorker {
  readonly owner: string;
  private readonly now: () => Date;
  private readonly log: Logger;
  private readonly overall: Semaphore;
  private readonly perDomain = new Map<string, Semaphore>();
  /** Entries being worked on, with the controller that aborts them. */
  private readonly active = new Map<number, { done: Promise<void>; abort: AbortController }>();
  private timer: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private rescan = false;
  /** The last claim was full: more may be due, so a finished entry triggers another claim. */
  private backlog = false;
  /**
   * Entries held at once: twice the delivery concurrency, so the next deliveries are claimed
   * (leased) before slots free up and claims are batched; deliveries themselves stay bounded by
   * `overall`.
   */
  private readonly maxActive: number;
  private readonly refillBatch: number;
  private readonly pendingWrites: Array<() => void> = [];
  private writeTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly counters: WorkerCounters = { attempts: 0, delivered: 0, deferred: 0, failed: 0, dsns: 0 };

  constructor(private readonly deps: QueueWorkerDeps) {
    this.owner = deps.owner ?? `${osHostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.now = deps.now ?? (() => new Date());
    this.log = deps.logger.child({ component: 'queue' });
    this.overall = new Semaphore(deps.settings.concurrency);
    this.maxActive = deps.settings.concurrency * 2;
    this.refillBatch = Math.max(1, Math.ceil(deps.settings.concurrency / 2));
  }

  /** Starts the periodic scan and scans once now. */
  start(): void {
    if (this.timer !== null || this.stopped) return;
    // Not unref'd: a server whose listeners are all off still sends its queue.
    this.timer = setInterval(() => this.poke(), this.deps.settings.intervalMs);
    this.poke();
  }

  /** Something was queued or made due: look for due entries now (cheap when there are none). */
  poke(): void {
    if (this.stopped) return;
    if (this.scanning !== null) {
      this.rescan = true;
      return;
    }
    this.scanning = this.scan().finally(() => {
      this.scanning = null;
    });
  }

  /** Counters since start (tests, logs). */
  stats(): WorkerCounters & { inFlight: number } {
    return { ...this.counters, inFlight: this.active.size };
  }

  /** Scans until nothing more is due, then resolves when every claimed entry is done (tests, CLI). */
  async drain(): Promise<void> {
    for (;;) {
      this.poke();
      await this.scanning;
      if (this.active.size === 0) return;
      await Promise.all([...this.active.values()].map((job) => job.done));
    }
  }

  /** Stops scanning, aborts attempts in flight and waits until they are recorded or given up. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const job of this.active.values()) job.abort.abort(new Error('queue worker stopping'));
    this.flushWrites();
    await this.scanning;
    await Promise.all([...this.active.values()].map((job) => job.done));
    // Connections the transport keeps for reuse get their QUIT now, not at their idle timeout.
    await this.deps.transport.close?.();
  }

  // ---- claiming --------------------------------------------------------------------------------

  private async scan(): Promise<void> {
    do {
      this.rescan = false;
      const free = this.maxActive - this.active.size;
      if (free <= 0) {
        this.backlog = true;
        return;
      }
      let claimed: QueueEntry[];
      try {
        claimed = await this.deps.store.claimDue(this.owner, this.now(), this.deps.settings.leaseMs, free);
      } catch (err) {
        if (!this.stopped) this.log.error({ err }, 'claiming due queue entries failed');
        return;
      }
      this.backlog = claimed.length === free;
      for (const entry of claimed) this.begin(entry);
      if (this.backlog) this.rescan = true;
    } while (this.rescan && !this.stopped);
  }

  private begin(entry: QueueEntry): void {
    const abort = new AbortController();
    const lease: Lease = { until: entry.leaseUntil?.getTime() ?? Number.POSITIVE_INFINITY };
    const renewal = this.keepLease(entry, lease);
    const done = this.attempt(entry, lease, abort.signal)
      .catch((err: unknown) => this.log.error({ err, queueId: entry.id }, 'queue attempt failed; the entry is retried when its lease expires'))
      .finally(() => {
        clearInterval(renewal);
        this.active.delete(entry.id);
        // Refill in batches: one claim transaction per several finished entries, not per entry.
        if (this.backlog && !this.stopped && this.maxActive - this.active.size >= this.refillBatch) this.poke();
      });
    this.active.set(entry.id, { done, abort });
  }

  /** Extends the claim every third of the lease while the attempt runs (slow remotes, big messages). */
  private keepLease(entry: QueueEntry, lease: Lease): NodeJS.Timeout {
    const leaseMs = this.deps.settings.leaseMs;
    const timer = setInterval(() => {
      const until = this.now().getTime() + leaseMs;
      this.deps.store.renewLease(entry.id, this.owner, new Date(until)).then(
        (held) => {
          // Lost (another worker took it after all): start nothing more for this entry.
          lease.until = held ? until : 0;
        },
        (err: unknown) => this.log.warn({ err, queueId: entry.id }, 'could not extend a queue lease'),
      );
    }, Math.max(1000, Math.floor(leaseMs / 3)));
    timer.unref();
    return timer;
  }

  // ---- one attempt -----------------------------------------------------------------------------

  private async attempt(entry: QueueEntry, lease: Lease, signal: AbortSignal): Promise<void> {
    this.counters.attempts++;
    const open = entry.recipients.map((recipient, i) => ({ recipient, i })).filter(({ recipient }) => !isFinalState(recipient.state));
    const outcomes: Array<Outcome | null> = entry.recipients.map(() => null);
    const local = open.filter(({ recipient }) => recipient.kind === 'local');
    const byDomain = new Map<string, typeof open>();
    for (const item of open) {
      if (item.recipient.kind !== 'remote') continue;
      const domain = splitAddress(item.recipient.address)?.domain ?? '';
      byDomain.set(domain, [...(byDomain.get(domain) ?? []), item]);
    }
    const message = this.messageSource(entry, byDomain.size > 0);
    const jobs: Array<Promise<void>> = [];
    for (const [domain, items] of byDomain) {
      jobs.push(
        this.deliverDomain(entry, lease, domain, items.map((item) => item.recipient), message, signal).then((results) => {
          items.forEach((item, k) => (outcomes[item.i] = results?.[k] ?? null));
        }),
      );
    }
    if (local.length > 0) {
      jobs.push(
        this.deliverLocal(entry, local.map((item) => item.recipient)).then((results) => {
          local.forEach((item, k) => (outcomes[item.i] = results[k] ?? null));
        }),
      );
    }
    await Promise.all(jobs);
    await this.finish(entry, outcomes, signal.aborted);
  }

  /**
   * The message as sent: DKIM-Signature prepended when the signer has a key for it (signed once
   * per attempt, only mail our users submitted and our own DSNs), then the stored bytes, streamed.
   */
  private messageSource(entry: QueueEntry, needed: boolean): Promise<{ open: () => Readable; size: number }> {
    const openStored = (): Readable => {
      const out = new PassThrough();
      void this.deps.store.openQueueMessage(entry).then(
        (stored) => pipeline(stored, out, () => undefined),
        (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))),
      );
      return out;
    };
    const signer = this.deps.signer;
    const signable = entry.submitter !== null || entry.sender === '';
    if (!needed || signer === null || signer === undefined || !signable) return Promise.resolve({ open: openStored, size: entry.size });
    return signer.sign({ sender: entry.sender, open: openStored }).then(
      (signature) => {
        if (signature === null) return { open: openStored, size: entry.size };
        const prefix = Buffer.from(signature.header, 'utf8');
        const open = (): Readable => {
          const out = new PassThrough();
          out.write(prefix);
          pipeline(openStored(), out, () => undefined);
          return out;
        };
        return { open, size: entry.size + prefix.length };
      },
      (err: unknown) => {
        this.log.error({ err, queueId: entry.id }, 'DKIM signing failed; sending unsigned');
        return { open: openStored, size: entry.size };
      },
    );
  }

  /** One SMTP transaction to one domain; null when not attempted (aborted, lease gone). */
  private async deliverDomain(
    entry: QueueEntry,
    lease: Lease,
    domain: string,
    recipients: QueuedRecipient[],
    message: Promise<{ open: () => Readable; size: number }>,
    signal: AbortSignal,
  ): Promise<Outcome[] | null> {
    const releases: Release[] = [];
    try {
      releases.push(await this.domainLimit(domain).acquire(signal));
      releases.push(await this.overall.acquire(signal));
      // Waiting for a slot may outlast the lease: another worker may own the entry by now.
      if (this.now().getTime() >= lease.until) return null;
      const source = await message;
      const request: TransactionRequest = {
        sender: entry.sender,
        recipients: recipients.map((r) => ({ address: r.address, notify: r.notify, orcpt: r.orcpt })),
        ret: entry.ret,
        envid: entry.envid,
        body: entry.body,
        smtputf8: entry.smtputf8,
        size: source.size,
        openMessage: source.open,
      };
      const result = await this.deps.transport.deliver(domain, request, signal);
      const at = this.now().getTime();
      return recipients.map((recipient, k) => {
        const answer = result.recipients[k];
        if (answer === undefined || answer.address !== recipient.address) {
          return deferredOutcome(at, 'the transport gave no result for this recipient');
        }
        return {
          status: answer.status,
          last: { code: answer.code, enhanced: answer.enhanced, diagnostic: answer.diagnostic, remoteMta: result.remoteHost, at },
          remoteDsn: result.dsn === true,
        };
      });
    } catch (err) {
      if (signal.aborted) return null;
      this.log.warn({ err, queueId: entry.id, domain }, 'delivery attempt failed');
      const text = err instanceof Error ? err.message : String(err);
      return recipients.map(() => deferredOutcome(this.now().getTime(), `local error: ${text}`));
    } finally {
      for (const release of releases.reverse()) release();
      this.dropIdleDomainLimit(domain);
    }
  }

  /**
   * Local copies that were refused as over quota: delivered again into the account's INBOX
   * (a new store transaction; the queue entry is updated afterwards, so a crash in between
   * gives a duplicate copy, never a lost one).
   */
  private async deliverLocal(entry: QueueEntry, recipients: QueuedRecipient[]): Promise<Outcome[]> {
    const store = this.deps.store;
    const at = (): number => this.now().getTime();
    try {
      const targets: Array<{ accountId: number; prefix: Buffer } | null> = [];
      for (const recipient of recipients) {
        const account = await store.getAccount(recipient.address);
        targets.push(account === null ? null : { accountId: account.id, prefix: deliveryPrefix(entry.sender, account.address) });
      }
      const present = targets.filter((target): target is { accountId: number; prefix: Buffer } => target !== null);
      let outcomes: Awaited<ReturnType<MailStore['deliver']>> = [];
      if (present.length > 0) {
        const bytes = await readAll(await store.openQueueMessage(entry), entry.size);
        const writer = store.createBlobWriter();
        await writer.write(bytes);
        outcomes = await store.deliver(await writer.finish(), indexMessage(bytes), present);
      }
      let next = 0;
      return targets.map((target) => {
        if (target === null) return localOutcome('failed', 550, '5.1.1', 'no such account here any more', at());
        const outcome = outcomes[next++];
        if (outcome?.ok === true) return localOutcome('delivered', 250, '2.0.0', 'delivered to the mailbox', at());
        if (outcome?.reason === 'overQuota') return localOutcome('deferred', 452, '4.2.2', 'mailbox full', at());
        return localOutcome('failed', 550, '5.1.1', 'no such account here any more', at());
      });
    } catch (err) {
      this.log.warn({ err, queueId: entry.id }, 'local redelivery failed');
      return recipients.map(() => deferredOutcome(at(), 'local delivery failed; will retry'));
    }
  }

  // ---- deciding and recording -------------------------------------------------------------------

  private async finish(entry: QueueEntry, outcomes: ReadonlyArray<Outcome | null>, aborted: boolean): Promise<void> {
    const now = this.now();
    const { settings } = this.deps;
    const expiresAt = entry.createdAt.getTime() + settings.lifetimeMs;
    const expired = now.getTime() >= expiresAt;
    const reports: Array<{ report: DsnRecipientReport; recipient: QueuedRecipient }> = [];
    const recipients = entry.recipients.map((recipient, i): QueuedRecipient => {
      const outcome = outcomes[i];
      if (outcome === null || outcome === undefined) return recipient;
      const state = outcome.status === 'deferred' ? (expired ? 'failed' : 'deferred') : outcome.status;
      this.counters[state]++;
      const updated: QueuedRecipient = { ...recipient, state, last: outcome.last };
      const action = dsnAction(updated, outcome);
      if (action !== null && wantsDsn(entry.sender, recipient.notify, action)) {
        reports.push({ recipient: updated, report: reportFor(updated, action, null) });
      }
      return updated;
    });
    const attempted = outcomes.some((outcome) => outcome !== null);
    let delayNotified = entry.delayNotified;
    if (!delayNotified && settings.delayWarningMs > 0 && now.getTime() - entry.createdAt.getTime() >= settings.delayWarningMs) {
      // RFC 3464 2.3.3 "delayed": once per entry, for recipients still waiting that accept it.
      delayNotified = true;
      const until = new Date(expiresAt);
      for (const recipient of recipients) {
        if (recipient.state === 'deferred' && wantsDsn(entry.sender, recipient.notify, 'delayed')) {
          reports.push({ recipient, report: reportFor(recipient, 'delayed', until) });
        }
      }
    }
    if (reports.length > 0) await this.sendDsns(entry, reports.map((r) => r.report));

    const nextAttemptAt = aborted && !attempted ? now : this.nextAttempt(entry, now, expiresAt);
    const lastError = summarizeErrors(recipients);
    const written = await this.batched(() => this.deps.store.recordAttempt(entry.id, this.owner, { recipients, nextAttemptAt, lastError, delayNotified }));
    const log = { queueId: entry.id, attempt: entry.attempts + 1, states: countStates(recipients), written };
    if (written === 'lost') this.log.warn(log, 'queue entry lease lost before the attempt was recorded');
    else if (written === 'removed') this.log.info(log, 'queue entry done');
    else this.log.info({ ...log, nextAttemptAt, lastError }, 'queue entry deferred');
  }

  /**
   * Runs store writes of attempts that finished close together in one tick, so the store commits
   * them together (one fsync for many). A record acknowledges nothing to anyone, so waiting a few
   * milliseconds for company costs no safety: a crash meanwhile only means a retry.
   */
  private batched<T>(write: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pendingWrites.push(() => {
        write().then(resolve, reject);
      });
      if (this.pendingWrites.length >= this.refillBatch || this.stopped) this.flushWrites();
      else this.writeTimer ??= setTimeout(() => this.flushWrites(), RECORD_BATCH_WAIT_MS);
    });
  }

  private flushWrites(): void {
    if (this.writeTimer !== null) clearTimeout(this.writeTimer);
    this.writeTimer = null;
    const writes = this.pendingWrites.splice(0);
    for (const write of writes) write();
  }

  /** After attempt n (0-based count before it): retrySchedule[n], the last one repeating; never past the lifetime. */
  private nextAttempt(entry: QueueEntry, now: Date, expiresAt: number): Date {
    const schedule = this.deps.settings.retryScheduleMs;
    const delay = schedule[Math.min(entry.attempts, schedule.length - 1)] ?? 60_000;
    // One last try at the end of the lifetime, then the recipient fails (expired).
    return new Date(Math.max(now.getTime() + 1, Math.min(now.getTime() + delay, expiresAt)));
  }

  /** One DSN per kind (failures, delays, successes), each to the envelope sender. */
  private async sendDsns(entry: QueueEntry, reports: DsnRecipientReport[]): Promise<void> {
    const groups: Array<{ reports: DsnRecipientReport[]; full: boolean }> = [
      { reports: reports.filter((r) => r.action === 'failed'), full: entry.ret === 'FULL' },
      { reports: reports.filter((r) => r.action === 'delayed'), full: false },
      { reports: reports.filter((r) => r.action === 'delivered' || r.action === 'relayed'), full: false },
    ];
    for (const group of groups) {
      if (group.reports.length === 0) continue;
      try {
        // RFC 3461 4.3: RET=FULL returns the whole message with a failure; otherwise the header.
        const full = group.full && entry.size <= MAX_RETURNED_MESSAGE;
        const stored = await readAll(await this.deps.store.openQueueMessage(entry), full ? entry.size : Math.min(entry.size, 256 * 1024));
        const now = this.now();
        const bytes = buildDsn({
          reportingMta: this.deps.settings.hostname,
          entry,
          recipients: group.reports,
          original: full ? stored : headerBlock(stored),
          headersOnly: !full,
          now,
        });
        const sent = await sendDsn(this.deps.store, entry.sender, bytes, now);
        this.counters.dsns++;
        // A DSN for a remote sender was queued: send it without waiting for the next scan.
        if (sent !== null && sent.queued > 0) this.poke();
        this.log.info({ queueId: entry.id, to: entry.sender, action: group.reports[0]?.action, delivered: sent !== null }, 'DSN sent');
      } catch (err) {
        // A DSN that cannot be made is logged; the recipients' states are still recorded.
        this.log.error({ err, queueId: entry.id }, 'could not send a DSN');
      }
    }
  }

  private domainLimit(domain: string): Semaphore {
    let limit = this.perDomain.get(domain);
    if (limit === undefined) {
      limit = new Semaphore(this.deps.settings.perDomainConcurrency);
      this.perDomain.set(domain, limit);
    }
    return limit;
  }

  private dropIdleDomainLimit(domain: string): void {
    if (this.perDomain.get(domain)?.load === 0) this.perDomain.delete(domain);
  }
}

// ---- helpers ---------------------------------------------------------------------------------------

function deferredOutcome(at: number, diagnostic: string): Outcome {
  return { status: 'deferred', last: { code: 0, enhanced: '4.0.0', diagnostic, remoteMta: null, at }, remoteDsn: false };
}

function localOutcome(status: Outcome['status'], code: number, enhanced: string, diagnostic: string, at: number): Outcome {
  return { status, last: { code, enhanced, diagnostic: `${code} ${enhanced} ${diagnostic}`, remoteMta: null, at }, remoteDsn: false };
}

/** The DSN action for a recipient after this attempt, or null for none (deferred: see delay warnings). */
function dsnAction(recipient: QueuedRecipient, outcome: Outcome): DsnAction | null {
  switch (recipient.state) {
    case 'failed':
      return 'failed';
    case 'delivered':
      // A local mailbox is the final destination: "delivered". A remote that offered DSN got the
      // NOTIFY and reports itself; one that did not gets "relayed" from us (RFC 3461 6.2).
      if (recipient.kind === 'local') return 'delivered';
      return outcome.remoteDsn ? null : 'relayed';
    default:
      return null;
  }
}

function reportFor(recipient: QueuedRecipient, action: DsnAction, willRetryUntil: Date | null): DsnRecipientReport {
  const last = recipient.last;
  let status = last?.enhanced ?? (action === 'delayed' ? '4.0.0' : '5.0.0');
  // RFC 3464 2.3.4: a failed recipient's status is permanent; an expired one (last reply 4xx)
  // keeps its detail with class 4 as Postfix does, but a bare 4.0.0 becomes 4.4.7 (expired).
  if (action === 'failed' && status === '4.0.0') status = '4.4.7';
  return {
    recipient,
    action,
    status,
    remoteMta: last?.remoteMta ?? null,
    diagnostic: last === null ? null : { code: last.code, text: last.diagnostic },
    lastAttemptAt: last === null ? null : new Date(last.at),
    willRetryUntil,
  };
}

function summarizeErrors(recipients: readonly QueuedRecipient[]): string | null {
  const open = recipients.filter((r) => r.state === 'deferred' && r.last !== null);
  if (open.length === 0) return null;
  const first = open[0]!;
  const more = open.length > 1 ? ` (and ${open.length - 1} more)` : '';
  return `${first.address}: ${first.last?.diagnostic ?? ''}${more}`.slice(0, 1000);
}

function countStates(recipients: readonly QueuedRecipient[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of recipients) counts[r.state] = (counts[r.state] ?? 0) + 1;
  return counts;
}

/** At most `limit` octets of a stream (which is then destroyed). */
async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      chunks.push(buffer);
      size += buffer.length;
      if (size >= limit) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, limit);
}
