/**
 * The web admin page: three static files (./webadmin/) that log in with an admin token and call
 * /api. No framework, no build step: app.js is plain ES2022 checked by TypeScript through
 * JSDoc (./webadmin/tsconfig.json).
 * @module
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpError } from './errors.js';
import { emptyReply, redirectReply } from './reply.js';
import type { Reply } from './reply.js';
import type { Route } from './router.js';

const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/** Scripts and styles from this origin only; the page is never framed (clickjacking). */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/**
 * Where the files are: next to this module, both when running from src/ (tsx) and from dist/
 * (the build copies them: scripts/copy-assets.mjs). A dist/ compiled by plain tsc, without the
 * copy step, falls back to src/http/webadmin of the same checkout.
 */
export function webAdminDirectory(): string {
  const besideModule = fileURLToPath(new URL('./webadmin/', import.meta.url));
  if (existsSync(join(besideModule, 'index.html'))) return besideModule;
  return fileURLToPath(new URL('../../src/http/webadmin/', import.meta.url));
}

export function webAdminRoutes(directory = webAdminDirectory()): Route[] {
  const cache = new Map<string, Promise<Buffer>>();
  const asset = async (name: string): Promise<Reply> => {
    const type = ASSETS[name];
    if (type === undefined) throw new HttpError(404, 'notFound', 'no such file');
    let content = cache.get(name);
    if (content === undefined) {
      content = readFile(join(directory, name));
      cache.set(name, content);
      void content.catch(() => cache.delete(name));
    }
    const body = await content.catch(() => {
      throw new HttpError(404, 'notFound', `web admin file ${name} is missing`);
    });
    return { status: 200, headers: { 'Content-Type': type, 'Cache-Control': 'no-cache', 'Content-Security-Policy': CONTENT_SECURITY_POLICY }, body };
  };
  return [
    { method: 'GET', path: '/', name: 'webadmin', handle: () => redirectReply('/admin/') },
    // Browsers ask for it on every page; there is none.
    { method: 'GET', path: '/favicon.ico', name: 'webadmin', quiet: true, handle: () => emptyReply(204) },
    { method: 'GET', path: '/admin', name: 'webadmin', handle: () => asset('index.html') },
    { method: 'GET', path: '/admin/:file', name: 'webadmin', handle: (ctx) => asset(ctx.params.file ?? '') },
  ];
}
