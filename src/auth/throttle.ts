/**
 * Authentication throttling shared by SMTP, IMAP and POP3 (one instance for the whole server).
 *
 * Failed authentications are counted per client IP (IPv6 by /64, since one host usually owns
 * the whole prefix) and per account name. The first few failures are free; then each further
 * failure doubles the delay, up to a ceiling. Counters leak away with time (one failure
 * forgiven per `decayMs`), so an idle key returns to zero and is forgotten.
 *
 * The throttle never sleeps: `delayFor` returns milliseconds and the session awaits them
 * (e.g. `await setTimeout(ms)` from node:timers/promises) before answering, so the event loop
 * keeps serving everyone else. The interface is async so a shared store (PostgreSQL, Redis)
 * can back it later for several nodes.
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface AuthThrottle {
  /** How long to wait before going on with an authentication from this IP for this account (ms). */
  delayFor(ip: string, account?: string | null): Promise<number>;
  recordFailure(ip: string, account?: string | null): Promise<void>;
  /** Clears the account's counter; the IP's counter only leaks away (one good login must not wipe a spray). */
  recordSuccess(ip: string, account?: string | null): Promise<void>;
}

export interface ThrottlePolicy {
  /** Failures without any delay. Default 3. */
  freeFailures: number;
  /** Delay after the first failure beyond the free ones; doubles with each further failure. Default 1000 ms. */
  baseDelayMs: number;
  /** Ceiling. Default 30000 ms. */
  maxDelayMs: number;
  /** One failure is forgiven per this much time without failures. Default 60000 ms. */
  decayMs: number;
  /** Keys kept at most; the least recently failed are dropped first. Default 100000. */
  maxEntries: number;
}

export const DEFAULT_THROTTLE_POLICY: Readonly<ThrottlePolicy> = Object.freeze({
  freeFailures: 3,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  decayMs: 60_000,
  maxEntries: 100_000,
});

interface Counter {
  /** Failures, possibly fractional after decay. */
  failures: number;
  /** When `failures` was last brought up to date (ms). */
  updatedAt: number;
}

/** In-process throttle: fine for one node; several nodes need a shared implementation. */
export class MemoryAuthThrottle implements AuthThrottle {
  readonly policy: Readonly<ThrottlePolicy>;
  /** Map order is least recently failed first (entries are re-inserted on failure). */
  readonly #counters = new Map<string, Counter>();

  constructor(
    policy: Partial<ThrottlePolicy> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.policy = Object.freeze({ ...DEFAULT_THROTTLE_POLICY, ...policy });
  }

  /** Number of keys held (for metrics and tests). */
  get size(): number {
    return this.#counters.size;
  }

  delayFor(ip: string, account?: string | null): Promise<number> {
    const failures = Math.max(...this.#keys(ip, account).map((key) => this.#failures(key)));
    return Promise.resolve(this.delayForFailures(failures));
  }

  recordFailure(ip: string, account?: string | null): Promise<void> {
    for (const key of this.#keys(ip, account)) {
      const failures = this.#failures(key) + 1;
      this.#counters.delete(key);
      this.#counters.set(key, { failures, updatedAt: this.now() });
    }
    this.#evictOverflow();
    return Promise.resolve();
  }

  recordSuccess(_ip: string, account?: string | null): Promise<void> {
    if (account !== undefined && account !== null) this.#counters.delete(accountKey(account));
    return Promise.resolve();
  }

  /**
   * 0 for the free failures, then base, 2*base, 4*base, ... up to the ceiling. A partly decayed
   * failure still counts (ceil), so one failure is forgiven only after a whole decay interval.
   */
  delayForFailures(failures: number): number {
    return delayForFailures(this.policy, failures);
  }

  #keys(ip: string, account: string | null | undefined): string[] {
    return throttleKeys(ip, account);
  }

  /** Current failures after decay; forgets keys that have decayed to nothing. */
  #failures(key: string): number {
    const counter = this.#counters.get(key);
    if (counter === undefined) return 0;
    const elapsed = Math.max(0, this.now() - counter.updatedAt);
    const failures = counter.failures - elapsed / this.policy.decayMs;
    if (failures <= 0) {
      this.#counters.delete(key);
      return 0;
    }
    return failures;
  }

  #evictOverflow(): void {
    for (const key of this.#counters.keys()) {
      if (this.#counters.size <= this.policy.maxEntries) return;
      this.#counters.delete(key);
    }
  }
}

/** The policy's delay for a (possibly decayed) failure count; shared with ./throttle-shared.ts. */
export function delayForFailures(policy: Readonly<ThrottlePolicy>, failures: number): number {
  const counted = Math.ceil(failures - 1e-9);
  if (counted <= policy.freeFailures) return 0;
  const doublings = counted - policy.freeFailures - 1;
  // Cap the exponent first: 2 ** 1000 is Infinity, which Math.min would handle, but be explicit.
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(doublings, 52));
}

/** The counters one authentication touches: its IP (or /64), and the account name when given. */
export function throttleKeys(ip: string, account: string | null | undefined): string[] {
  const keys = [ipKey(ip)];
  if (account !== undefined && account !== null && account !== '') keys.push(accountKey(account));
  return keys;
}

export function accountKey(account: string): string {
  return `account:${account.trim().toLowerCase()}`;
}

/** IPv4 as is (also when IPv4-mapped), IPv6 by its /64 prefix. */
export function ipKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped !== null) return `ip:${mapped[1]}`;
  if (isIPv4(ip)) return `ip:${ip}`;
  if (isIPv6(ip)) return `ip:${expandIpv6(ip).slice(0, 4).join(':')}::/64`;
  return `ip:${ip}`;
}

/** The eight 16-bit groups of an IPv6 address, lower-case, without leading zeros. */
function expandIpv6(ip: string): string[] {
  const address = ip.split('%')[0] ?? ip; // drop a zone index
  const [head = '', tail] = address.split('::');
  const toGroups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const headGroups = toGroups(head);
  const tailGroups = tail === undefined ? [] : toGroups(tail);
  // An embedded IPv4 tail stands for two groups.
  const last = tailGroups.length > 0 ? tailGroups : headGroups;
  const v4 = last[last.length - 1];
  if (v4?.includes('.') === true) {
    const octets = v4.split('.').map(Number);
    last.splice(last.length - 1, 1, (((octets[0] ?? 0) << 8) | (octets[1] ?? 0)).toString(16), (((octets[2] ?? 0) << 8) | (octets[3] ?? 0)).toString(16));
  }
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(Math.max(0, missing)).fill('0'), ...tailGroups];
  return groups.map((group) => parseInt(group, 16).toString(16));
}
