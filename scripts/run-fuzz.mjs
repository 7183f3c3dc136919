#!/usr/bin/env node
// Runs the property-based fuzz targets (fuzz/*.fuzz.ts) with node's test runner, one file at a
// time. FUZZ_SECONDS sets the budget per target (default 10); FUZZ_SEED replays a failure;
// FUZZ_RUNS fixes the number of runs. Arguments filter targets by name: `npm run fuzz -- mime`.
// A watchdog kills a target that overruns its budget by far (a synchronous hang cannot be
// interrupted from inside the process) and reports it as a failure.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const seconds = Number(process.env.FUZZ_SECONDS ?? 10);
let files = readdirSync(join(root, 'fuzz'))
  .filter((name) => name.endsWith('.fuzz.ts'))
  .sort()
  .map((name) => join('fuzz', name));
if (filters.length > 0) files = files.filter((f) => filters.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error('no fuzz targets matched');
  process.exit(1);
}

let failed = 0;
for (const file of files) {
  const started = Date.now();
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...flags, file], { cwd: root, stdio: 'inherit' });
    const watchdog = setTimeout(() => {
      console.error(`\n${file}: no result after ${Math.round((Date.now() - started) / 1000)} s — killed (a hang?)`);
      child.kill('SIGKILL');
    }, (seconds + 180) * 1000);
    child.on('exit', (status, signal) => {
      clearTimeout(watchdog);
      resolve(signal !== null ? 1 : (status ?? 1));
    });
  });
  console.log(`${file}: ${code === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (code !== 0) failed++;
}
console.log(`${files.length - failed}/${files.length} fuzz targets passed (FUZZ_SECONDS=${seconds})`);
process.exit(failed === 0 ? 0 : 1);
