/**
 * The built server (dist/, what `npm start` and the systemd unit run) serves the web admin page:
 * the build copies its files into dist/ (scripts/copy-assets.mjs), so dist/ needs no src/ beside it.
 * The built-server test needs a build (npm ci / npm install run it through `prepare`); without
 * dist/main.js it is skipped with the reason.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { httpRequest } from './helpers/http.js';

const root = resolve(import.meta.dirname, '..');
const sourceAssets = join(root, 'src', 'http', 'webadmin');
const builtMain = join(root, 'dist', 'main.js');
const ASSETS = ['index.html', 'app.js', 'app.css'];

test('scripts/copy-assets.mjs copies the web admin files, and only them, into the output folder', (t) => {
  const out = mkdtempSync(join(tmpdir(), 'mailhaven-assets-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const result = spawnSync(process.execPath, [join(root, 'scripts', 'copy-assets.mjs'), out], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(readdirSync(join(out, 'http', 'webadmin')).sort(), [...ASSETS].sort());
  for (const name of ASSETS) assert.ok(readFileSync(join(out, 'http', 'webadmin', name)).equals(readFileSync(join(sourceAssets, name))), name);
});

test('dist/main.js serve: /admin/ and its files come from dist/', { skip: existsSync(builtMain) ? false : 'no dist/main.js: run npm run build' }, async (t) => {
  for (const name of ASSETS) {
    assert.ok(existsSync(join(root, 'dist', 'http', 'webadmin', name)), `dist/http/webadmin/${name} is missing: the build must copy it (npm run build)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-dist-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'mailhaven.toml');
  const off = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s'].map((name) => `${name} = []`);
  writeFileSync(configFile, ['hostname = "dist.test"', 'data_dir = "data"', '[listen]', ...off, 'http = ["127.0.0.1:0"]', ''].join('\n'));
  const child = spawn(process.execPath, [builtMain, 'serve', '--config', configFile], { cwd: dir, env: { ...process.env, MAILHAVEN_CONFIG: '' } });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    let pending = '';
    const timer = setTimeout(() => reject(new Error('no listening line within 30 s')), 30_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const entry = JSON.parse(line) as { msg?: string; listener?: string; port?: number };
        if (entry.msg === 'listening' && entry.listener === 'http' && entry.port !== undefined) {
          clearTimeout(timer);
          resolvePort(entry.port);
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}`));
    });
  });
  const page = await httpRequest(port, '/admin/');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(page.body, readFileSync(join(sourceAssets, 'index.html'), 'utf8'));
  for (const [name, type] of [['app.js', 'text/javascript; charset=utf-8'], ['app.css', 'text/css; charset=utf-8']] as const) {
    const response = await httpRequest(port, `/admin/${name}`);
    assert.equal(response.status, 200, name);
    assert.equal(response.headers['content-type'], type);
    assert.equal(response.body, readFileSync(join(sourceAssets, name), 'utf8'));
  }
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
});
