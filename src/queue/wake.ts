/**
 * How the worker hears that something was queued in this process: the store the protocols use
 * is wrapped so that a committed deliverAndEnqueue that created an entry calls `onQueued` (the
 * worker's poke). Other processes (`mailhaven sendmail`, `queue flush`, other nodes) are seen
 * by the worker's periodic scan (`queue.interval`).
 * @module
 */
import type { OutboundQueueStore } from './types.js';
import { hasOutboundQueue } from './types.js';

export function notifyOnEnqueue<T extends object>(store: T, onQueued: () => void): T {
  if (!hasOutboundQueue(store)) return store;
  const queueStore: OutboundQueueStore = store;
  const deliverAndEnqueue: OutboundQueueStore['deliverAndEnqueue'] = async (...args) => {
    const result = await queueStore.deliverAndEnqueue(...args);
    // After the commit: the entry is durable, so the worker can claim it at once.
    if (result.queueId !== null) onQueued();
    return result;
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property) {
      if (property === 'deliverAndEnqueue') return deliverAndEnqueue;
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      // Methods run on the real store (private fields, `this`), not on the proxy.
      let method = bound.get(property);
      if (method === undefined) {
        method = (value as (...args: unknown[]) => unknown).bind(target);
        bound.set(property, method);
      }
      return method;
    },
  });
}
