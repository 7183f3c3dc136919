/**
 * Counting from the outside, so the modules being measured stay unaware of metrics where they
 * can: the store is wrapped (latency of every call), connection handlers are wrapped
 * (connections by listener), and the shared authentication throttle is wrapped per protocol
 * (every recorded failure is a failed authentication). src/compose.ts applies them.
 * Commands, SMTP deliveries and rejections need the protocols' own calls (./types.ts).
 * @module
 */
import type { Socket } from 'node:net';
import type { AuthThrottle } from '../auth/throttle.js';
import { defaultRefuse } from '../net/fallback.js';
import type { ConnectionHandler } from '../net/types.js';
import { hasOutboundQueue } from '../queue/types.js';
import type { HandlerRegistry, ServerContext } from '../server.js';
import type { Metrics, MetricsProtocol, QueueStats } from './types.js';

/** Store members that are not calls worth timing. */
const UNTIMED = new Set<PropertyKey>(['constructor', 'createBlobWriter']);

/**
 * The same store, with every method that returns a promise timed as
 * `mailhaven_store_operation_duration_seconds{operation="<method>"}`. Everything else (getters,
 * synchronous methods) passes through untouched, so optional capabilities such as the outbound
 * queue are still detected on the wrapped store.
 */
export function instrumentStore<T extends object>(store: T, metrics: Metrics): T {
  const wrappers = new Map<string, (...args: unknown[]) => unknown>();
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function' || typeof property !== 'string' || UNTIMED.has(property)) return value;
      let wrapper = wrappers.get(property);
      if (wrapper === undefined) {
        wrapper = timed(property, value as (...args: unknown[]) => unknown, target, metrics);
        wrappers.set(property, wrapper);
      }
      return wrapper;
    },
  });
}

function timed(operation: string, method: (...args: unknown[]) => unknown, target: object, metrics: Metrics): (...args: unknown[]) => unknown {
  return (...args: unknown[]): unknown => {
    const started = process.hrtime.bigint();
    const done = (failed: boolean): void => metrics.storeOperation(operation, Number(process.hrtime.bigint() - started) / 1e9, failed);
    let result: unknown;
    try {
      result = method.apply(target, args);
    } catch (err) {
      done(true);
      throw err;
    }
    if (!(result instanceof Promise)) return result;
    return result.then(
      (value: unknown) => {
        done(false);
        return value;
      },
      (err: unknown) => {
        done(true);
        throw err;
      },
    );
  };
}

/**
 * Every handler of the registry, counting connections by listener. A handler object that
 * serves several listeners gets one wrapper, so it is still closed once at shutdown.
 * Implicit-TLS connections are counted once their handshake succeeded (that is when the
 * listener hands them over); refusals of implicit-TLS listeners happen before any handler.
 */
export function instrumentHandlers(registry: HandlerRegistry, metrics: Metrics): HandlerRegistry {
  const wrapped = new WeakMap<ConnectionHandler, ConnectionHandler>();
  const wrap = (handler: ConnectionHandler): ConnectionHandler => {
    let counting = wrapped.get(handler);
    if (counting === undefined) {
      counting = countingHandler(handler, metrics);
      wrapped.set(handler, counting);
    }
    return counting;
  };
  const result: HandlerRegistry = {};
  for (const [listener, entry] of Object.entries(registry) as Array<[keyof HandlerRegistry, HandlerRegistry[keyof HandlerRegistry]]>) {
    if (entry === undefined) continue;
    result[listener] = typeof entry === 'function' ? (ctx: ServerContext) => wrap(entry(ctx)) : wrap(entry);
  }
  return result;
}

function countingHandler(inner: ConnectionHandler, metrics: Metrics): ConnectionHandler {
  const handler: ConnectionHandler = {
    handle(socket, info) {
      metrics.connectionOpened(info.listener);
      socket.once('close', () => metrics.connectionClosed(info.listener));
      inner.handle(socket, info);
    },
    refuse(socket: Socket, info) {
      metrics.connectionRefused(info.listener);
      if (inner.refuse) inner.refuse(socket, info);
      else defaultRefuse(socket, info);
    },
  };
  if (inner.close) handler.close = () => inner.close?.() ?? Promise.resolve();
  return handler;
}

/** The shared throttle as one protocol sees it: each recorded failure is counted for that protocol. */
export function countAuthFailures(throttle: AuthThrottle, metrics: Metrics, protocol: MetricsProtocol): AuthThrottle {
  const counted: AuthThrottle = {
    delayFor: (ip, account) => throttle.delayFor(ip, account),
    recordFailure: (ip, account) => {
      metrics.authFailure(protocol);
      return throttle.recordFailure(ip, account);
    },
    recordSuccess: (ip, account) => throttle.recordSuccess(ip, account),
  };
  return counted;
}

/** Entries read per scrape at most: the gauges say "at least this many" beyond it. */
export const QUEUE_SCAN_LIMIT = 10_000;

/** The store's count of the queue (one aggregate query), where it has one. */
interface QueueSummarySource {
  queueSummary(): Promise<{ entries: number; oldestCreatedAt: Date | null }>;
}

/** The summary method, bound, or null (a predicate would narrow the fallback branch away). */
function queueSummaryOf(store: object): QueueSummarySource['queueSummary'] | null {
  const method = (store as Partial<QueueSummarySource>).queueSummary;
  return typeof method === 'function' ? method.bind(store) : null;
}

/**
 * Queue size and oldest age from the store's outbound queue (0 and 0 for a store without one):
 * its queueSummary (count and oldest date, without reading entries) when it has one, else the
 * first QUEUE_SCAN_LIMIT entries of listQueue (oldest first, so the first entry is the oldest).
 */
export function queueStatsOf(store: object, now: () => number = Date.now): () => Promise<QueueStats> {
  return async () => {
    if (!hasOutboundQueue(store)) return { messages: 0, oldestAgeSeconds: 0 };
    const queueSummary = queueSummaryOf(store);
    if (queueSummary !== null) {
      const summary = await queueSummary();
      const oldest = summary.oldestCreatedAt;
      return { messages: summary.entries, oldestAgeSeconds: oldest === null ? 0 : Math.max(0, (now() - oldest.getTime()) / 1000) };
    }
    const entries = await store.listQueue(QUEUE_SCAN_LIMIT);
    const oldest = entries[0];
    return {
      messages: entries.length,
      oldestAgeSeconds: oldest === undefined ? 0 : Math.max(0, (now() - oldest.createdAt.getTime()) / 1000),
    };
  };
}
