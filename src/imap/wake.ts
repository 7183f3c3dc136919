/**
 * A level-triggered wake-up for one session: the change bus calls notify(); IDLE awaits wait().
 * A notify with nobody waiting is remembered, so a change that lands between two waits is not
 * lost.
 * @module
 */
export class WakeSignal {
  #pending = false;
  #closed = false;
  #waiter: (() => void) | null = null;

  notify(): void {
    this.#pending = true;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  /** Resolves at the next notify (at once if one came since the last wait) or on close. */
  wait(): Promise<void> {
    if (this.#pending || this.#closed) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#waiter = () => {
        this.#pending = false;
        resolve();
      };
    });
  }

  /** Forgets a notify that came before a flush which already covered it. */
  clear(): void {
    this.#pending = false;
  }

  close(): void {
    this.#closed = true;
    this.notify();
  }
}
