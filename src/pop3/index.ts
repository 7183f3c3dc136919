/**
 * POP3 server sessions (RFC 1939 with CAPA, STLS, APOP, SASL and retention) for the `pop3`
 * and `pop3s` listeners. See docs/pop3.md.
 * @module
 */
export { Pop3Handler, createPop3Handler, pop3HandlerFactories, pop3Settings, MIN_IDLE_TIMEOUT_MS } from './handler.js';
export type { Pop3Dependencies, Pop3HandlerOptions } from './handler.js';
export { InProcessMaildropLocks } from './lock.js';
export type { MaildropLease, MaildropLocks } from './lock.js';
export { RetentionScheduler, cachedShortestRetention } from './retention.js';
export type { RetentionRun, RetentionSchedulerOptions } from './retention.js';
export { uniqueIdOf } from './maildrop.js';
export { apopTimestamp } from './session.js';
export type { Pop3Services, Pop3Settings } from './types.js';
