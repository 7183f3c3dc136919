/**
 * The web admin's static files (types, security headers, redirect) and the type check of its
 * browser script against the DOM library (src/http/webadmin/tsconfig.json), which the server's
 * own tsconfig cannot do. The page itself runs in Chromium in test/e2e-webadmin.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { httpRequest } from './helpers/http.js';
import { startTestServer } from './helpers/server.js';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

test('web admin files: types, CSP and no-cache; / redirects; unknown files are 404', async (t) => {
  const server = await startTestServer(t, { listeners: ['http'] });
  const port = server.port('http');
  const root = await httpRequest(port, '/');
  assert.deepEqual([root.status, root.headers.location], [302, '/admin/']);
  const files: Array<[string, string, RegExp]> = [
    ['/admin/', 'text/html; charset=utf-8', /<title>Mailhaven admin<\/title>/],
    ['/admin', 'text/html; charset=utf-8', /<script type="module" src="\/admin\/app.js"><\/script>/],
    ['/admin/app.js', 'text/javascript; charset=utf-8', /^\/\/ @ts-check/],
    ['/admin/app.css', 'text/css; charset=utf-8', /^\/\* Mailhaven web admin/],
  ];
  for (const [path, type, content] of files) {
    const response = await httpRequest(port, path);
    assert.equal(response.status, 200, path);
    assert.equal(response.headers['content-type'], type);
    assert.equal(response.headers['content-security-policy'], CSP);
    assert.equal(response.headers['x-frame-options'], 'DENY');
    assert.equal(response.headers['cache-control'], 'no-cache');
    assert.match(response.body, content);
  }
  for (const path of ['/admin/tsconfig.json', '/admin/..%2Fapi.ts', '/admin/../../package.json']) {
    assert.equal((await httpRequest(port, path)).status, 404, path);
  }
  assert.equal((await httpRequest(port, '/favicon.ico')).status, 204);
});

test('the browser script type-checks against the DOM library (its own tsconfig)', () => {
  const root = resolve(import.meta.dirname, '..');
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', resolve(root, 'src/http/webadmin/tsconfig.json')], { cwd: root, encoding: 'utf8' });
  assert.equal(result.stdout + result.stderr, '');
  assert.equal(result.status, 0);
});
