/**
 * What route handlers return: status, headers and a body. One writer (src/http/app.ts) sends
 * it, so every response gets the same framing and security headers.
 * @module
 */

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

/** Admin responses and autoconfiguration documents must never be cached by a proxy. */
const NO_STORE = { 'Cache-Control': 'no-store' };

export function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'Content-Type': 'application/json; charset=utf-8', ...NO_STORE, ...headers }, body: `${JSON.stringify(value, null, 2)}\n` };
}

export function textReply(status: number, text: string, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...NO_STORE, ...headers }, body: text };
}

export function xmlReply(xml: string, headers: Record<string, string> = {}): Reply {
  return { status: 200, headers: { 'Content-Type': 'application/xml; charset=utf-8', ...NO_STORE, ...headers }, body: xml };
}

export function emptyReply(status = 204, headers: Record<string, string> = {}): Reply {
  return { status, headers: { ...NO_STORE, ...headers }, body: '' };
}

export function redirectReply(location: string): Reply {
  return { status: 302, headers: { Location: location, ...NO_STORE }, body: '' };
}
