#!/usr/bin/env node
/**
 * The `mailhaven` command (package.json bin → dist/main.js). Everything happens in
 * src/cli (argument parsing, printing) and src/compose.ts (config → store → server);
 * this file only binds them to the real process.
 */
import { readFileSync } from 'node:fs';
import { cliContext } from './compose.js';
import { processIo } from './cli/io.js';
import { runCli } from './cli/run.js';

/** package.json sits one level up from both src/main.ts and dist/main.js. */
function packageVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof manifest.version === 'string' ? manifest.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

const io = processIo();
// Setting exitCode rather than calling process.exit lets `serve` keep running and stdout drain.
process.exitCode = await runCli(process.argv.slice(2), cliContext(io), packageVersion());
