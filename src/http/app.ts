/**
 * One HTTP request, from node:http's request event to the response: route, authenticate,
 * run the handler, map errors once, write the reply with the common headers, count and log it.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AdminError } from '../admin/errors.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/types.js';
import type { AdminToken } from '../store/types.js';
import { StoreError } from '../store/types.js';
import { parseJsonBody, readBody } from './body.js';
import { ADMIN_ERROR_STATUS, HttpError } from './errors.js';
import { jsonReply, textReply } from './reply.js';
import type { Reply } from './reply.js';
import { Router } from './router.js';
import type { Method, RequestContext, Route } from './router.js';
import type { TokenOperations } from './tokens.js';

export interface HttpAppDependencies {
  routes: readonly Route[];
  tokens: Pick<TokenOperations, 'verify'>;
  metrics: Metrics;
}

/** Per request: who is asking and whether the server is shutting down. */
export interface RequestOrigin {
  remoteAddress: string;
  logger: Logger;
  /** True once a graceful shutdown began: the response closes the connection. */
  closing: boolean;
}

const METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'DELETE']);

/** Sent with every response. */
const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/** RFC 6750 3: the challenge of a protected resource. */
const REALM = 'Bearer realm="mailhaven"';

export class HttpApp {
  private readonly router: Router;

  constructor(private readonly deps: HttpAppDependencies) {
    this.router = new Router(deps.routes);
  }

  /** Never rejects: every failure becomes a response (or, if the socket is gone, nothing). */
  async handle(req: IncomingMessage, res: ServerResponse, origin: RequestOrigin): Promise<void> {
    const started = process.hrtime.bigint();
    const path = pathOf(req.url);
    let route: Route | null = null;
    let reply: Reply;
    try {
      const method = methodOf(req.method);
      const match = this.router.match(method, path);
      if (match.kind === 'none') throw new HttpError(404, 'notFound', 'no such resource');
      if (match.kind === 'wrongMethod') {
        throw new HttpError(405, 'methodNotAllowed', `use ${match.allowed.join(' or ')}`, { Allow: allowHeader(match.allowed) });
      }
      route = match.route;
      const ctx = this.context(req, method, path, match.params, origin);
      if (route.auth === 'token') ctx.token = await this.authenticate(req);
      reply = await route.handle(ctx);
    } catch (err) {
      reply = this.errorReply(err, path, origin.logger);
    }
    const routeName = route === null ? 'unmatched' : (route.name ?? `${route.method} ${route.path}`);
    this.write(res, reply, origin);
    this.deps.metrics.httpRequest(routeName, reply.status);
    const fields = { method: req.method, route: routeName, status: reply.status, ms: Number(process.hrtime.bigint() - started) / 1e6 };
    if (route?.quiet && reply.status < 400) origin.logger.debug(fields, 'http request');
    else origin.logger.info(fields, 'http request');
  }

  private context(req: IncomingMessage, method: Method, path: string, params: Record<string, string>, origin: RequestOrigin): RequestContext {
    let body: Promise<Buffer> | null = null;
    const readOnce = (limit?: number): Promise<Buffer> => (body ??= readBody(req, limit));
    return {
      method,
      path,
      params,
      query: queryOf(req.url),
      headers: req.headers,
      host: hostOf(req.headers.host),
      remoteAddress: origin.remoteAddress,
      logger: origin.logger,
      body: readOnce,
      json: async () => parseJsonBody(req, await readOnce()),
      token: null,
    };
  }

  /** RFC 6750 2.1: `Authorization: Bearer <token>`; the scheme name is case-insensitive. */
  private async authenticate(req: IncomingMessage): Promise<AdminToken> {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer +([^\s]+) *$/i.exec(header);
    if (match === null) {
      this.deps.metrics.authFailure('http');
      throw new HttpError(401, 'unauthorized', 'an admin token is required (Authorization: Bearer <token>)', { 'WWW-Authenticate': REALM });
    }
    const token = await this.deps.tokens.verify(match[1] ?? '');
    if (token === null) {
      this.deps.metrics.authFailure('http');
      throw new HttpError(401, 'invalidToken', 'the token is not valid (revoked, or never issued)', {
        'WWW-Authenticate': `${REALM}, error="invalid_token"`,
      });
    }
    return token;
  }

  /** API paths answer JSON errors, the rest plain text. Unexpected errors are logged, never shown. */
  private errorReply(err: unknown, path: string, logger: Logger): Reply {
    const api = path === '/api' || path.startsWith('/api/');
    const reply = (status: number, code: string, message: string, headers: Record<string, string> = {}): Reply =>
      api ? jsonReply(status, { error: { code, message } }, headers) : textReply(status, `${message}\n`, headers);
    if (err instanceof HttpError) return reply(err.status, err.code, err.message, { ...err.headers });
    if (err instanceof AdminError) return reply(ADMIN_ERROR_STATUS[err.code], err.code, err.message);
    if (err instanceof StoreError && (err.code === 'busy' || err.code === 'io' || err.code === 'noSpace' || err.code === 'cannot')) {
      logger.warn({ err }, 'store unavailable for an http request');
      return reply(503, 'unavailable', 'the mail store is not available right now', { 'Retry-After': '5' });
    }
    logger.error({ err }, 'http request failed');
    return reply(500, 'internal', 'internal server error');
  }

  private write(res: ServerResponse, reply: Reply, origin: RequestOrigin): void {
    if (res.headersSent || res.destroyed) return;
    const body = typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : reply.body;
    const headers: Record<string, string | number> = { ...COMMON_HEADERS, ...reply.headers, 'Content-Length': body.length };
    if (origin.closing) headers.Connection = 'close';
    try {
      res.writeHead(reply.status, headers);
    } catch (err) {
      // A header value node:http refuses (a bug in a route): answer 500 rather than nothing.
      origin.logger.error({ err }, 'invalid http response headers');
      res.writeHead(500, { ...COMMON_HEADERS, 'Content-Length': 0 });
      res.end();
      return;
    }
    res.end(body);
  }
}

/** HEAD is GET without a body (node:http drops the body of a HEAD response itself). */
function methodOf(method: string | undefined): Method {
  const upper = (method ?? '').toUpperCase();
  if (upper === 'HEAD') return 'GET';
  if (METHODS.has(upper)) return upper as Method;
  throw new HttpError(405, 'methodNotAllowed', `method ${upper} is not supported`, { Allow: 'GET, HEAD, POST, PUT, DELETE' });
}

function allowHeader(methods: readonly Method[]): string {
  return methods.flatMap((method) => (method === 'GET' ? ['GET', 'HEAD'] : [method])).join(', ');
}

function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const end = raw.search(/[?#]/);
  const path = end === -1 ? raw : raw.slice(0, end);
  return path.startsWith('/') ? path : `/${path}`;
}

function queryOf(url: string | undefined): URLSearchParams {
  const raw = url ?? '';
  const start = raw.indexOf('?');
  return new URLSearchParams(start === -1 ? '' : raw.slice(start + 1).split('#')[0]);
}

/** "Autoconfig.Example.org:443" → "autoconfig.example.org"; IPv6 literals and junk → null. */
function hostOf(header: string | undefined): string | null {
  if (header === undefined) return null;
  const name = header.trim().toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  return /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(name) ? name : null;
}
