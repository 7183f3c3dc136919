/**
 * The Metrics interface on prom-client, with its own Registry (never the global one, so several
 * servers in one test process do not share counters). The process metrics come from
 * prom-client's defaults: resident memory and heap (`process_resident_memory_bytes`,
 * `nodejs_heap_size_used_bytes`), event-loop delay (`nodejs_eventloop_lag_p99_seconds` and
 * friends, from perf_hooks.monitorEventLoopDelay), CPU, file descriptors, GC.
 *
 * docs/http.md lists every series.
 * @module
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ListenerName } from '../config/types.js';
import type { CommandResult, Metrics, MetricsProtocol, QueueStats, SmtpDeliveryKind, SmtpRejectionReason } from './types.js';

export interface PrometheusMetricsOptions {
  /** Read at every scrape for the queue gauges; absent: both gauges stay 0. */
  queueStats?: () => Promise<QueueStats>;
  /** prom-client's process and Node.js metrics (default true; tests may turn them off). */
  processMetrics?: boolean;
}

/** Distinct command names kept per protocol; later unknown ones are counted as "OTHER". */
const MAX_COMMAND_NAMES = 100;
/** A command verb as protocols define them (IMAP "UID FETCH" is given as "UID FETCH"). */
const COMMAND_NAME = /^[A-Z][A-Z0-9_-]{0,23}(?: [A-Z][A-Z0-9_-]{0,23})?$/;
/** Seconds: from a cached SQLite read (~50 µs) to a group commit waiting on a slow disk. */
const STORE_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class PrometheusMetrics implements Metrics {
  readonly registry = new Registry();
  private readonly connections: Counter<'listener'>;
  private readonly openConnections: Gauge<'listener'>;
  private readonly refusedConnections: Counter<'listener'>;
  private readonly commands: Counter<'protocol' | 'command' | 'result'>;
  private readonly deliveries: Counter<'kind'>;
  private readonly rejections: Counter<'reason'>;
  private readonly authFailures: Counter<'protocol'>;
  private readonly storeLatency: Histogram<'operation'>;
  private readonly storeErrors: Counter<'operation'>;
  private readonly httpRequests: Counter<'route' | 'status'>;
  private readonly commandNames = new Map<MetricsProtocol, Set<string>>();

  constructor(options: PrometheusMetricsOptions = {}) {
    const registers = [this.registry];
    this.connections = new Counter({
      name: 'mailhaven_connections_total',
      help: 'Connections accepted, by listener.',
      labelNames: ['listener'],
      registers,
    });
    this.openConnections = new Gauge({
      name: 'mailhaven_connections_open',
      help: 'Connections open now, by listener.',
      labelNames: ['listener'],
      registers,
    });
    this.refusedConnections = new Counter({
      name: 'mailhaven_connections_refused_total',
      help: 'Connections refused by the connection limits, by listener.',
      labelNames: ['listener'],
      registers,
    });
    this.commands = new Counter({
      name: 'mailhaven_commands_total',
      help: 'Commands answered, by protocol, command and result (ok, no, bad, tempfail, permfail, error).',
      labelNames: ['protocol', 'command', 'result'],
      registers,
    });
    this.deliveries = new Counter({
      name: 'mailhaven_smtp_deliveries_total',
      help: 'Recipients of messages accepted by SMTP, by where they went (local, queued).',
      labelNames: ['kind'],
      registers,
    });
    this.rejections = new Counter({
      name: 'mailhaven_smtp_rejections_total',
      help: 'Recipients or messages refused by SMTP, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.authFailures = new Counter({
      name: 'mailhaven_auth_failures_total',
      help: 'Failed authentications, by protocol.',
      labelNames: ['protocol'],
      registers,
    });
    this.storeLatency = new Histogram({
      name: 'mailhaven_store_operation_duration_seconds',
      help: 'Time taken by mail store calls, by store method.',
      labelNames: ['operation'],
      buckets: STORE_BUCKETS,
      registers,
    });
    this.storeErrors = new Counter({
      name: 'mailhaven_store_errors_total',
      help: 'Mail store calls that failed, by store method.',
      labelNames: ['operation'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'mailhaven_http_requests_total',
      help: 'HTTP requests answered, by route and status code.',
      labelNames: ['route', 'status'],
      registers,
    });
    this.registerQueueGauges(options.queueStats);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The text exposition format (version 0.0.4), as served on /metrics. */
  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  connectionOpened(listener: ListenerName): void {
    this.connections.inc({ listener });
    this.openConnections.inc({ listener });
  }

  connectionClosed(listener: ListenerName): void {
    this.openConnections.dec({ listener });
  }

  connectionRefused(listener: ListenerName): void {
    this.refusedConnections.inc({ listener });
  }

  command(protocol: MetricsProtocol, command: string, result: CommandResult): void {
    this.commands.inc({ protocol, command: this.commandLabel(protocol, command), result });
  }

  smtpDelivered(kind: SmtpDeliveryKind, recipients: number): void {
    if (recipients > 0) this.deliveries.inc({ kind }, recipients);
  }

  smtpRejected(reason: SmtpRejectionReason): void {
    this.rejections.inc({ reason });
  }

  authFailure(protocol: MetricsProtocol): void {
    this.authFailures.inc({ protocol });
  }

  storeOperation(operation: string, seconds: number, failed: boolean): void {
    this.storeLatency.observe({ operation }, seconds);
    if (failed) this.storeErrors.inc({ operation });
  }

  httpRequest(route: string, status: number): void {
    this.httpRequests.inc({ route, status: String(status) });
  }

  /**
   * Upper-cased verb; anything that is not a plausible command name is "UNKNOWN", and past
   * MAX_COMMAND_NAMES distinct names per protocol new ones are "OTHER": label values must stay
   * a small set whatever clients send.
   */
  private commandLabel(protocol: MetricsProtocol, command: string): string {
    const name = command.trim().toUpperCase();
    if (!COMMAND_NAME.test(name)) return 'UNKNOWN';
    let seen = this.commandNames.get(protocol);
    if (seen === undefined) {
      seen = new Set();
      this.commandNames.set(protocol, seen);
    }
    if (seen.has(name)) return name;
    if (seen.size >= MAX_COMMAND_NAMES) return 'OTHER';
    seen.add(name);
    return name;
  }

  private registerQueueGauges(queueStats: (() => Promise<QueueStats>) | undefined): void {
    // One read per scrape serves both gauges (the registry collects them concurrently). A failed
    // read leaves the previous values: a scrape error must not look like an empty queue.
    let latest: Promise<QueueStats | null> | null = null;
    const read = (): Promise<QueueStats | null> => {
      latest ??= (queueStats?.() ?? Promise.resolve({ messages: 0, oldestAgeSeconds: 0 }))
        .catch(() => null)
        .finally(() => setImmediate(() => (latest = null)));
      return latest;
    };
    new Gauge({
      name: 'mailhaven_queue_messages',
      help: 'Messages waiting in the outbound queue.',
      registers: [this.registry],
      async collect() {
        const stats = await read();
        if (stats !== null) this.set(stats.messages);
      },
    });
    new Gauge({
      name: 'mailhaven_queue_oldest_age_seconds',
      help: 'Age of the oldest message in the outbound queue, seconds (0 when empty).',
      registers: [this.registry],
      async collect() {
        const stats = await read();
        if (stats !== null) this.set(stats.oldestAgeSeconds);
      },
    });
  }
}
