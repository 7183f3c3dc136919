/**
 * The change bus carries wake-ups, not data: after a commit the writer publishes
 * (account, modseq); subscribers then pull `changesSince` from the store's change log.
 * In-process now (./local.ts); a cross-process implementation (PostgreSQL LISTEN/NOTIFY)
 * implements the same interface.
 */
import type { Id } from '../store/types.js';

export interface WakeUp {
  accountId: Id;
  /** Highest modseq committed for the account when the wake-up was sent. */
  modseq: number;
}

export type WakeUpListener = (wake: WakeUp) => void;

export interface ChangeBus {
  publish(wake: WakeUp): void;
  /** Listen for one account's wake-ups; returns the function that unsubscribes. */
  subscribe(accountId: Id, listener: WakeUpListener): () => void;
  close(): Promise<void>;
}
