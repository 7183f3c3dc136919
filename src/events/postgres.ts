/**
 * The cross-node change bus on PostgreSQL LISTEN/NOTIFY.
 *
 * - The PostgreSQL store issues `pg_notify(channel, '<accountId>:<modseq>')` INSIDE each committing
 *   transaction, so a wake-up reaches other nodes only if the transaction commits, and in commit
 *   order. That is not done here: `publish()` only delivers to this node's subscribers (the store
 *   calls it right after its own commits, for the lowest latency).
 * - A dedicated connection LISTENs on the channel and turns every notification into a local
 *   wake-up. Duplicates are dropped: a wake-up no newer than the last one delivered for the
 *   account is not delivered again (the echo of this node's own commits, for instance).
 * - The connection reconnects on its own (backoff 100 ms doubling to 5 s). Notifications sent while
 *   it was down are lost, so after LISTENing again it asks `resync` for the current MODSEQ of
 *   every account and wakes those that moved; sessions then re-pull `changesSince` and miss nothing.
 *   Without `resync`, every account subscribed through this bus gets a wake-up.
 * - Subscribers live in a local bus (a LocalChangeBus by default, or the one given), called
 *   synchronously with their errors isolated, as in a single process.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { ClientConfig, Notification } from 'pg';
import type { Id } from '../store/types.js';
import { LocalChangeBus } from './local.js';
import type { ChangeBus, WakeUp, WakeUpListener } from './types.js';

export const DEFAULT_CHANNEL = 'mailhaven_changes';
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const PAYLOAD = /^([1-9][0-9]{0,15}):([0-9]{1,16})$/;
/** Accounts whose last wake-up is remembered for de-duplication; the oldest half is forgotten beyond. */
const MAX_REMEMBERED = 100_000;

export interface PostgresChangeBusOptions {
  /** Connection of the LISTEN client; omit for a bus that only delivers locally (a CLI process). */
  connection?: ClientConfig;
  /** NOTIFY channel: a lower-case identifier; default "mailhaven_changes". */
  channel?: string;
  /** Where subscribers live; default a new LocalChangeBus. Not closed by this bus when given. */
  local?: ChangeBus;
  /** After a reconnect: the wake-ups that may have been missed (current MODSEQ per account). */
  resync?: (remembered: ReadonlyMap<Id, number>) => Promise<readonly WakeUp[]>;
  /** Connection problems and listener errors (the bus keeps running). */
  onError?: (err: unknown, context: string) => void;
  /** Reconnect backoff, milliseconds. */
  reconnectDelayMs?: { min: number; max: number };
  /** A query on the idle LISTEN connection this often finds a dead TCP connection; default 30 s, 0 = never. */
  heartbeatMs?: number;
}

export interface PostgresChangeBusStats {
  /** Notifications received (including echoes of this node's own commits). */
  notifications: number;
  /** Wake-ups delivered to local subscribers. */
  delivered: number;
  /** Successful re-LISTENs after a lost connection. */
  reconnects: number;
}

export function checkChannelName(channel: string): string {
  if (!CHANNEL_NAME.test(channel)) throw new Error(`NOTIFY channel ${JSON.stringify(channel)}: use 1-63 of a-z, 0-9, _`);
  return channel;
}

export class PostgresChangeBus implements ChangeBus {
  readonly channel: string;
  readonly stats: PostgresChangeBusStats = { notifications: 0, delivered: 0, reconnects: 0 };
  private readonly local: ChangeBus;
  private readonly ownsLocal: boolean;
  private readonly opts: PostgresChangeBusOptions;
  /** Highest MODSEQ delivered per account (de-duplication). */
  private readonly remembered = new Map<Id, number>();
  /** Subscriptions made through this bus, per account (the fallback resync wakes them). */
  private readonly subscriptions = new Map<Id, number>();
  private client: pg.Client | null = null;
  private loop: Promise<void> | null = null;
  private closed = false;
  private readonly stop = new AbortController();
  private listeningNow = false;
  private listenWaiters: Array<() => void> = [];

  constructor(opts: PostgresChangeBusOptions = {}) {
    this.opts = opts;
    this.channel = checkChannelName(opts.channel ?? DEFAULT_CHANNEL);
    this.ownsLocal = opts.local === undefined;
    this.local = opts.local ?? new LocalChangeBus((err) => this.report(err, 'change listener failed'));
  }

  /**
   * Starts the LISTEN loop (when a connection was given) and resolves once the first LISTEN is in
   * place, or after `timeoutMs` (the loop keeps trying in the background). Idempotent.
   */
  async start(timeoutMs = 10_000): Promise<boolean> {
    if (this.opts.connection === undefined || this.closed) return false;
    this.loop ??= this.listenLoop(this.opts.connection);
    return this.listening(timeoutMs);
  }

  /** Resolves true once the LISTEN connection is up, false after `timeoutMs` or when closed. */
  listening(timeoutMs = 10_000): Promise<boolean> {
    if (this.listeningNow) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.listenWaiters = this.listenWaiters.filter((waiter) => waiter !== done);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        resolve(this.listeningNow);
      };
      this.listenWaiters.push(done);
    });
  }

  /** Delivers a wake-up to this node's subscribers, unless one as new was delivered already. */
  publish(wake: WakeUp): void {
    if (wake.modseq <= (this.remembered.get(wake.accountId) ?? 0)) return;
    this.remember(wake.accountId, wake.modseq);
    this.deliver(wake);
  }

  subscribe(accountId: Id, listener: WakeUpListener): () => void {
    const unsubscribe = this.local.subscribe(accountId, listener);
    this.subscriptions.set(accountId, (this.subscriptions.get(accountId) ?? 0) + 1);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      unsubscribe();
      const left = (this.subscriptions.get(accountId) ?? 1) - 1;
      if (left > 0) this.subscriptions.set(accountId, left);
      else this.subscriptions.delete(accountId);
    };
  }

  /** Stops listening; closes the local bus if this bus created it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort();
    this.wakeListenWaiters();
    await this.client?.end().catch(() => undefined);
    await this.loop;
    if (this.ownsLocal) await this.local.close();
  }

  /** Ends the LISTEN connection as if the network failed (tests of the reconnect path). */
  async dropConnection(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.listeningNow = false;
    await client.end().catch(() => undefined);
  }

  // ---- internals -------------------------------------------------------------------------------

  private deliver(wake: WakeUp): void {
    this.stats.delivered++;
    try {
      this.local.publish(wake);
    } catch (err) {
      this.report(err, 'delivering a wake-up failed');
    }
  }

  private remember(accountId: Id, modseq: number): void {
    this.remembered.delete(accountId);
    this.remembered.set(accountId, modseq);
    if (this.remembered.size <= MAX_REMEMBERED) return;
    // Forgetting only costs a possible duplicate wake-up, which sessions handle anyway.
    let excess = this.remembered.size - MAX_REMEMBERED / 2;
    for (const key of this.remembered.keys()) {
      if (excess-- <= 0) break;
      this.remembered.delete(key);
    }
  }

  private onNotification(message: Notification): void {
    if (message.channel !== this.channel) return;
    this.stats.notifications++;
    const match = PAYLOAD.exec(message.payload ?? '');
    if (!match) {
      this.report(new Error(`unexpected payload ${JSON.stringify(message.payload)}`), 'ignoring a notification');
      return;
    }
    this.publish({ accountId: Number(match[1]), modseq: Number(match[2]) });
  }

  /** One connection at a time: connect, LISTEN, resync after a reconnect, wait for the end, back off. */
  private async listenLoop(connection: ClientConfig): Promise<void> {
    const { min, max } = this.opts.reconnectDelayMs ?? { min: 100, max: 5000 };
    let delay = min;
    let listenedBefore = false;
    while (!this.closed) {
      const client = new pg.Client({ ...connection, keepAlive: true });
      const ended = new Promise<void>((resolve) => {
        client.on('error', (err) => {
          if (!this.closed) this.report(err, 'LISTEN connection failed');
          resolve();
        });
        client.on('end', () => resolve());
      });
      client.on('notification', (message) => this.onNotification(message));
      let heartbeat: NodeJS.Timeout | null = null;
      try {
        this.client = client;
        await client.connect();
        await client.query(`LISTEN ${this.channel}`);
        if (this.closed) break;
        delay = min;
        this.listeningNow = true;
        this.wakeListenWaiters();
        if (listenedBefore) {
          this.stats.reconnects++;
          await this.resync();
        }
        listenedBefore = true;
        heartbeat = this.startHeartbeat(client);
        await ended;
      } catch (err) {
        if (!this.closed) this.report(err, 'LISTEN connection failed');
      } finally {
        this.listeningNow = false;
        this.client = null;
        if (heartbeat) clearInterval(heartbeat);
        await client.end().catch(() => undefined);
      }
      if (this.closed) break;
      await sleep(delay, undefined, { signal: this.stop.signal }).catch(() => undefined);
      delay = Math.min(delay * 2, max);
    }
  }

  private startHeartbeat(client: pg.Client): NodeJS.Timeout | null {
    const every = this.opts.heartbeatMs ?? 30_000;
    if (every <= 0) return null;
    const timer = setInterval(() => {
      client.query('SELECT 1').catch(() => {
        client.end().catch(() => undefined);
      });
    }, every);
    timer.unref();
    return timer;
  }

  /** Notifications were lost while disconnected: wake what may have changed. */
  private async resync(): Promise<void> {
    if (!this.opts.resync) {
      for (const accountId of this.subscriptions.keys()) this.deliver({ accountId, modseq: this.remembered.get(accountId) ?? 0 });
      return;
    }
    try {
      for (const wake of await this.opts.resync(this.remembered)) this.publish(wake);
    } catch (err) {
      this.report(err, 'resync after reconnect failed; waking every subscribed account');
      for (const accountId of this.subscriptions.keys()) this.deliver({ accountId, modseq: this.remembered.get(accountId) ?? 0 });
    }
  }

  private wakeListenWaiters(): void {
    const waiters = this.listenWaiters;
    this.listenWaiters = [];
    for (const wake of waiters) wake();
  }

  private report(err: unknown, context: string): void {
    try {
      this.opts.onError?.(err, context);
    } catch {
      // An error reporter that throws must not stop the bus.
    }
  }
}
