/**
 * Runs the real `mailhaven` command (`node --import tsx src/main.ts …`) in a child process
 * and captures its exit status and output. Each instance gets a temp folder with its own
 * mailhaven.toml (data_dir inside, every listener empty), removed when the test ends.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { cliContext } from '../../src/compose.js';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = join(REPO_ROOT, 'src', 'main.ts');

export interface CliResult {
  /** Exit status, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  /** Written to stdin, which is then closed; stdin is empty when absent. */
  stdin?: string | Buffer;
  /** Extra environment; MAILHAVEN_CONFIG is removed from the inherited one. */
  env?: Record<string, string>;
  cwd?: string;
  /** Kill the process after this long (default 60 s): a hung command fails its test. */
  timeoutMs?: number;
}

/** Starts the command without waiting (for tests that kill it midway). */
export function spawnMailhaven(args: readonly string[], options: CliRunOptions = {}): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  delete env.MAILHAVEN_CONFIG;
  if (options.env?.MAILHAVEN_CONFIG !== undefined) env.MAILHAVEN_CONFIG = options.env.MAILHAVEN_CONFIG;
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin?.end(options.stdin ?? '');
  return child;
}

/** Runs the command in a real child process (slow: ~1 s of tsx start-up each). */
export function runMailhavenProcess(args: readonly string[], options: CliRunOptions = {}): Promise<CliResult> {
  const child = spawnMailhaven(args, options);
  return collect(child, options.timeoutMs ?? 60_000);
}

/**
 * Runs the command in this process through the same `runCli` and `cliContext` that
 * src/main.ts uses, with captured stdin/stdout/stderr: the same code path as the real
 * binary minus the process start-up, so the CLI tests take seconds rather than minutes.
 */
export async function runMailhaven(args: readonly string[], options: CliRunOptions = {}): Promise<CliResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  if (options.env?.MAILHAVEN_CONFIG === undefined) delete env.MAILHAVEN_CONFIG;
  const io: CliIo = {
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    stdout: { write: (text: string) => stdout.push(text), isTTY: false },
    stderr: { write: (text: string) => stderr.push(text), isTTY: false },
    env,
    cwd: options.cwd ?? REPO_ROOT,
  };
  const code = await runCli(args, cliContext(io), 'test');
  return { code, signal: null, stdout: stdout.join(''), stderr: stderr.join('') };
}

/** Waits for the process to end and returns what it printed. */
export function collect(child: ChildProcess, timeoutMs = 60_000): Promise<CliResult> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

export interface TempInstance {
  dir: string;
  configPath: string;
  dataDir: string;
  /** Runs `mailhaven ARGS --config <this instance's file>`. */
  run(args: readonly string[], options?: CliRunOptions): Promise<CliResult>;
}

/** Listener tables present but empty: nothing binds a port. */
export const NO_LISTENERS = `[listen]
smtp = []
submission = []
submissions = []
imap = []
imaps = []
pop3 = []
pop3s = []
http = []
`;

/** A temp folder with mailhaven.toml (data_dir = "data", no listeners), removed after the test. */
export function createTempInstance(t: TestContext, extraToml = ''): TempInstance {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'mailhaven.toml');
  writeFileSync(configPath, `data_dir = "data"\nhostname = "mail.example.test"\n${extraToml}\n${NO_LISTENERS}`);
  return {
    dir,
    configPath,
    dataDir: join(dir, 'data'),
    run: (args, options) => runMailhaven([...args, '--config', configPath], options),
  };
}
