/**
 * The outbound queue: the store capability (./types.ts), the worker that delivers from it
 * (./worker.ts), DSNs (./dsn.ts), and the transport contract (./transport.ts).
 * @module
 */
export type {
  AttemptOutcome,
  AttemptRecord,
  AttemptWrite,
  DsnNotify,
  NewQueueEntry,
  OutboundQueueStore,
  QueueEntry,
  QueueRecipient,
  QueueSummary,
  QueuedRecipient,
  RecipientState,
} from './types.js';
export { hasOutboundQueue, isFinalState } from './types.js';
export type { DomainDeliveryResult, OutboundTransport, RecipientResult, TransactionRequest } from './transport.js';
export type { DsnAction, DsnInput, DsnRecipientReport } from './dsn.js';
export { buildDsn, headerBlock, sendDsn, wantsDsn } from './dsn.js';
export type { MessageSigner, QueueSettings, QueueWorkerDeps, WorkerCounters } from './worker.js';
export { QueueWorker, queueSettings } from './worker.js';
export { notifyOnEnqueue } from './wake.js';
