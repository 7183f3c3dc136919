/**
 * Plain HTTP/1.1 requests for tests of the `http` listener, with full control of the headers
 * (Host included, which fetch does not allow) and the raw response.
 */
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export function httpRequest(port: number, path: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A JSON request with a bearer token (undefined: no Authorization header). */
export async function apiRequest(port: number, token: string | undefined, method: string, path: string, body?: unknown): Promise<HttpResponse & { json: unknown }> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await httpRequest(port, path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const json: unknown = response.body === '' ? undefined : JSON.parse(response.body);
  return { ...response, json };
}
