/**
 * Server metrics: the typed interface protocols call, the Prometheus implementation served on
 * /metrics, a no-op for tests, and wrappers that count from the outside. See docs/http.md.
 * @module
 */
export type { CommandResult, Metrics, MetricsProtocol, QueueStats, SmtpDeliveryKind, SmtpRejectionReason } from './types.js';
export { noopMetrics } from './noop.js';
export { PrometheusMetrics } from './prometheus.js';
export type { PrometheusMetricsOptions } from './prometheus.js';
export { QUEUE_SCAN_LIMIT, countAuthFailures, instrumentHandlers, instrumentStore, queueStatsOf } from './instrument.js';
