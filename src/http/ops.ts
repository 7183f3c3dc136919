/**
 * /healthz and /metrics: for load balancers, service managers and Prometheus. Neither needs a
 * token; keep them off the public side of the reverse proxy (docs/http.md).
 * @module
 */
import type { Directory } from '../store/types.js';
import { HttpError } from './errors.js';
import { jsonReply } from './reply.js';
import type { Reply } from './reply.js';
import type { Route } from './router.js';

/** The Prometheus text exposition of a registry. */
export interface MetricsExposition {
  readonly contentType: string;
  render(): Promise<string>;
}

export interface OpsDependencies {
  store: Pick<Directory, 'getDomain'>;
  exposition: MetricsExposition | null;
  /** How long the store may take to answer the health probe. */
  healthTimeoutMs?: number;
}

const DEFAULT_HEALTH_TIMEOUT_MS = 2000;

export function opsRoutes(deps: OpsDependencies): Route[] {
  return [
    { method: 'GET', path: '/healthz', name: 'healthz', quiet: true, handle: () => health(deps) },
    { method: 'GET', path: '/metrics', name: 'metrics', quiet: true, handle: () => metrics(deps) },
  ];
}

/**
 * 200 when the process runs and the store answers a read (an indexed lookup of a name that never
 * exists), 503 otherwise: a wedged or unreachable database takes the node out of rotation.
 */
async function health(deps: OpsDependencies): Promise<Reply> {
  const timeoutMs = deps.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([deps.store.getDomain('healthz.invalid'), timeout]);
    return jsonReply(200, { status: 'ok', store: 'ok' });
  } catch (err) {
    return jsonReply(503, { status: 'unavailable', store: err instanceof Error ? err.message : String(err) });
  } finally {
    clearTimeout(timer);
  }
}

async function metrics(deps: OpsDependencies): Promise<Reply> {
  if (deps.exposition === null) throw new HttpError(404, 'notFound', 'metrics are not enabled');
  const body = await deps.exposition.render();
  return { status: 200, headers: { 'Content-Type': deps.exposition.contentType, 'Cache-Control': 'no-store' }, body };
}
