#!/usr/bin/env node
// The build's second step (npm run build / prepare): tsc emits only JavaScript, so the files the
// server serves as they are (the web admin page, src/http/webadmin) are copied into dist/ beside
// the compiled modules. dist/ is then self-contained: `npm start` needs no src/ folder.
// Usage: node scripts/copy-assets.mjs [OUT_DIR]   (default: dist)
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const outDir = resolve(root, process.argv[2] ?? 'dist');

/** Folders under src/ whose non-TypeScript files are served at run time, and the file endings copied. */
const ASSET_FOLDERS = [{ folder: 'http/webadmin', endings: ['.html', '.js', '.css'] }];

for (const { folder, endings } of ASSET_FOLDERS) {
  const from = join(root, 'src', folder);
  const to = join(outDir, folder);
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    if (!endings.some((ending) => name.endsWith(ending))) continue;
    copyFileSync(join(from, name), join(to, name));
  }
}
