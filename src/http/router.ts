/**
 * A small exact-segment router: "/api/users/:address" matches "/api/users/a%40b.example" with
 * params.address = "a@b.example". No regular expressions, no wildcards: the route table in
 * src/http/app.ts is the whole surface of the listener.
 * @module
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../log/index.js';
import type { AdminToken } from '../store/types.js';
import type { Reply } from './reply.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RequestContext {
  method: Method;
  /** Path as sent (percent-encoded). */
  path: string;
  /** Route parameters, percent-decoded. */
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The Host header's name, lower-case, without port; null when absent or malformed. */
  host: string | null;
  remoteAddress: string;
  logger: Logger;
  /** The request body, at most `limit` octets (else HttpError 413). */
  body(limit?: number): Promise<Buffer>;
  /** The body parsed as JSON (HttpError 400 when it is not JSON, 415 when not sent as JSON). */
  json(): Promise<unknown>;
  /** The admin token that authenticated the request (routes with `auth: 'token'`). */
  token: AdminToken | null;
}

export interface Route {
  method: Method;
  /** Segments; ":name" captures one segment. */
  path: string;
  /** Label for metrics and logs; defaults to "<METHOD> <path>". */
  name?: string;
  /** Routes under /api need a bearer token. */
  auth?: 'token';
  /** Match the literal segments ignoring case (Outlook asks for /Autodiscover/Autodiscover.xml). */
  caseInsensitive?: boolean;
  /** Logged at debug instead of info (scrapes and health probes come every few seconds). */
  quiet?: boolean;
  handle(ctx: RequestContext): Promise<Reply> | Reply;
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  /** The path exists, not for this method. */
  | { kind: 'wrongMethod'; allowed: Method[] }
  | { kind: 'none' };

interface CompiledRoute {
  route: Route;
  segments: string[];
}

export class Router {
  private readonly routes: CompiledRoute[];

  constructor(routes: readonly Route[]) {
    this.routes = routes.map((route) => ({ route, segments: splitPath(route.path) }));
  }

  match(method: Method, path: string): RouteMatch {
    const segments = splitPath(path);
    const allowed: Method[] = [];
    for (const { route, segments: pattern } of this.routes) {
      const params = matchSegments(pattern, segments, route.caseInsensitive ?? false);
      if (params === null) continue;
      if (route.method === method) return { kind: 'found', route, params };
      if (!allowed.includes(route.method)) allowed.push(route.method);
    }
    return allowed.length > 0 ? { kind: 'wrongMethod', allowed } : { kind: 'none' };
  }
}

/**
 * "/a/b/" and "/a/b" are the same path; empty segments in between are kept (and never match).
 * The slashes are trimmed with loops: /\/+$/ is quadratic on a long run of "/" followed by
 * something else (220 ms for one 16 KiB path, before any authentication).
 */
function splitPath(path: string): string[] {
  let start = 0;
  let end = path.length;
  while (start < end && path.charCodeAt(start) === 0x2f) start++;
  while (end > start && path.charCodeAt(end - 1) === 0x2f) end--;
  return start === end ? [] : path.slice(start, end).split('/');
}

function matchSegments(pattern: readonly string[], segments: readonly string[], caseInsensitive: boolean): Record<string, string> | null {
  if (pattern.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i] ?? '';
    const actual = segments[i] ?? '';
    if (expected.startsWith(':')) {
      const value = decodeSegment(actual);
      if (value === null || value === '') return null;
      params[expected.slice(1)] = value;
    } else if (caseInsensitive ? expected.toLowerCase() !== actual.toLowerCase() : expected !== actual) {
      return null;
    }
  }
  return params;
}

function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null; // malformed percent-encoding: no route matches
  }
}
