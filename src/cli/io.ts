/**
 * The process surroundings a CLI run may touch, passed in so a run is testable in-process
 * and so nothing below src/main.ts reaches for `process` directly.
 */
import type { Readable } from 'node:stream';

export interface TextSink {
  write(text: string): unknown;
  /** True when the sink is a terminal (progress output is only for people). */
  readonly isTTY?: boolean;
}

export interface CliIo {
  stdin: Readable;
  stdout: TextSink;
  stderr: TextSink;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

export function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}
