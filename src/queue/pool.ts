/**
 * Outbound SMTP sessions kept open between transactions, per destination: the same address, port
 * and host name, the same TLS policy, credentials and EHLO name (the key the transport builds).
 * After a transaction the remote accepted, a session is back in its initial state and a new MAIL
 * may start (RFC 5321 4.1.4), so the next message to that destination skips the connect, the
 * greeting, EHLO, STARTTLS and AUTH. The limits follow Postfix's connection cache:
 * smtp_connection_reuse_count_limit, smtp_connection_cache_time_limit and
 * smtp_connection_reuse_time_limit.
 *
 * A session is either in the pool (idle, nobody holds it) or held by exactly one delivery, which
 * gives it back with `release`: it never serves two transactions at once.
 * @module
 */
import type { SmtpSession } from './client.js';

export interface ConnectionReuseLimits {
  /** Transactions per connection (Postfix smtp_connection_reuse_count_limit); 1 turns reuse off. */
  maxMessages: number;
  /** How long an unused session is kept before QUIT (Postfix smtp_connection_cache_time_limit). */
  idleMs: number;
  /** A session older than this is not reused (Postfix smtp_connection_reuse_time_limit). */
  maxAgeMs: number;
  /** Idle sessions kept at most, over all destinations; the longest idle goes first. */
  maxIdle: number;
}

export const DEFAULT_REUSE_LIMITS: ConnectionReuseLimits = { maxMessages: 100, idleMs: 5000, maxAgeMs: 300_000, maxIdle: 100 };

interface IdleSession {
  key: string;
  session: SmtpSession;
  timer: NodeJS.Timeout;
}

export class SessionPool {
  /** Idle sessions per key, the most recently used last. */
  private readonly byKey = new Map<string, IdleSession[]>();
  /** Every idle session in the order it went idle (for eviction). */
  private readonly all = new Set<IdleSession>();
  /** QUITs under way, awaited by close(). */
  private readonly closing = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly limits: ConnectionReuseLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Idle sessions held right now. */
  get size(): number {
    return this.all.size;
  }

  /** A healthy idle session for `key`, now held by the caller alone; null when there is none. */
  take(key: string): SmtpSession | null {
    const list = this.byKey.get(key);
    for (let entry = list?.pop(); entry !== undefined; entry = list?.pop()) {
      this.forget(entry);
      // The remote may have spoken (a 421) or hung up while the session waited.
      if (this.usable(entry.session)) {
        entry.session.resume();
        return entry.session;
      }
      this.retire(entry.session);
    }
    return null;
  }

  /** A session back from a transaction: kept when healthy and within the limits, otherwise closed. */
  release(key: string, session: SmtpSession): void {
    if (this.closed || !this.usable(session)) {
      this.retire(session);
      return;
    }
    if (this.all.size >= this.limits.maxIdle) {
      const oldest = this.all.values().next().value;
      if (oldest !== undefined) {
        this.forget(oldest);
        this.retire(oldest.session);
      }
    }
    const entry: IdleSession = { key, session, timer: setTimeout(() => this.expire(entry), this.limits.idleMs) };
    entry.timer.unref();
    session.idle();
    const list = this.byKey.get(key) ?? [];
    list.push(entry);
    this.byKey.set(key, list);
    this.all.add(entry);
  }

  /** QUITs every idle session; sessions still held are closed when they come back. */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of [...this.all]) {
      this.forget(entry);
      this.retire(entry.session);
    }
    await Promise.all([...this.closing]);
  }

  private usable(session: SmtpSession): boolean {
    return session.reusable && session.transactions < this.limits.maxMessages && this.now() - session.openedAt < this.limits.maxAgeMs;
  }

  private expire(entry: IdleSession): void {
    if (!this.all.has(entry)) return;
    this.forget(entry);
    this.retire(entry.session);
  }

  private forget(entry: IdleSession): void {
    clearTimeout(entry.timer);
    this.all.delete(entry);
    const list = this.byKey.get(entry.key);
    if (list === undefined) return;
    const index = list.indexOf(entry);
    if (index !== -1) list.splice(index, 1);
    if (list.length === 0) this.byKey.delete(entry.key);
  }

  private retire(session: SmtpSession): void {
    const done: Promise<void> = session.close().finally(() => this.closing.delete(done));
    this.closing.add(done);
  }
}
