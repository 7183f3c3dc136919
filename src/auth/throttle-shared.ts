/**
 * The authentication throttle shared by several nodes (issue #9): the same policy as
 * MemoryAuthThrottle (./throttle.ts), with its counters kept in a ThrottleStore every node reads
 * and writes (PostgreSQL: src/store/postgres/throttle.ts). A password spray spread over the nodes
 * behind a load balancer is slowed down as if it hit one node.
 *
 * Each node also keeps its own in-memory counters and waits the larger of the two delays: if the
 * shared store is unreachable, a node still throttles what it sees itself, and an authentication
 * never fails because the throttle's database had a hiccup (the error is logged).
 * @module
 */
import type { Logger } from '../log/index.js';
import { DEFAULT_THROTTLE_POLICY, MemoryAuthThrottle, accountKey, delayForFailures, throttleKeys } from './throttle.js';
import type { AuthThrottle, ThrottlePolicy } from './throttle.js';

/**
 * Failure counters by key (`ip:…`, `account:…`), leaking one failure per `decayMs` like the
 * in-memory ones. An optional store capability: a backend that can share counters across nodes
 * provides one.
 */
export interface ThrottleStore {
  /** Adds one failure to each key (after decaying what it held). */
  addFailure(keys: readonly string[], decayMs: number): Promise<void>;
  /** The largest decayed failure count among the keys, 0 when none is known. */
  failures(keys: readonly string[], decayMs: number): Promise<number>;
  /** Forgets a key (a successful login clears its account's counter). */
  clear(key: string): Promise<void>;
}

export class SharedAuthThrottle implements AuthThrottle {
  readonly policy: Readonly<ThrottlePolicy>;
  readonly #local: MemoryAuthThrottle;

  constructor(
    private readonly store: ThrottleStore,
    private readonly log: Logger,
    policy: Partial<ThrottlePolicy> = {},
  ) {
    this.policy = Object.freeze({ ...DEFAULT_THROTTLE_POLICY, ...policy });
    this.#local = new MemoryAuthThrottle(this.policy);
  }

  async delayFor(ip: string, account?: string | null): Promise<number> {
    const local = await this.#local.delayFor(ip, account);
    const shared = await this.#shared('read', () => this.store.failures(throttleKeys(ip, account), this.policy.decayMs), 0);
    return Math.max(local, delayForFailures(this.policy, shared));
  }

  async recordFailure(ip: string, account?: string | null): Promise<void> {
    await this.#local.recordFailure(ip, account);
    await this.#shared('record', () => this.store.addFailure(throttleKeys(ip, account), this.policy.decayMs), undefined);
  }

  async recordSuccess(ip: string, account?: string | null): Promise<void> {
    await this.#local.recordSuccess(ip, account);
    if (account === undefined || account === null || account === '') return;
    await this.#shared('clear', () => this.store.clear(accountKey(account)), undefined);
  }

  async #shared<T>(what: string, run: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await run();
    } catch (err) {
      this.log.warn({ err, operation: what }, 'shared auth throttle unavailable, using this node\'s counters');
      return fallback;
    }
  }
}
