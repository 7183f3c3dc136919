import type { Id } from '../store/types.js';
import type { ChangeBus, WakeUp, WakeUpListener } from './types.js';

/** Single-process bus: listeners are called synchronously, each one isolated from the others' errors. */
export class LocalChangeBus implements ChangeBus {
  private readonly listeners = new Map<Id, Set<WakeUpListener>>();
  private onListenerError: (err: unknown) => void;

  constructor(onListenerError: (err: unknown) => void = () => undefined) {
    this.onListenerError = onListenerError;
  }

  publish(wake: WakeUp): void {
    const set = this.listeners.get(wake.accountId);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(wake);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  subscribe(accountId: Id, listener: WakeUpListener): () => void {
    let set = this.listeners.get(accountId);
    if (!set) {
      set = new Set();
      this.listeners.set(accountId, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(accountId);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(accountId);
    };
  }

  subscriberCount(accountId: Id): number {
    return this.listeners.get(accountId)?.size ?? 0;
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }
}
