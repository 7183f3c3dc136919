/**
 * `--password-stdin`: the password is the first line of standard input, so it never shows in
 * `ps` output or shell history. Exactly one line is read; its trailing LF or CRLF is removed.
 */
import type { Readable } from 'node:stream';
import { AdminError } from '../admin/errors.js';

/** Longer than any sane password line; stops a mistaken `< big-file` from being read whole. */
const MAX_LINE_BYTES = 8192;
const LF = 0x0a;
const CR = 0x0d;

export async function readPasswordLine(stdin: Readable): Promise<string> {
  const line = await readFirstLine(stdin);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(line);
  } catch {
    throw new AdminError('weakPassword', 'password is not valid UTF-8');
  }
}

async function readFirstLine(stdin: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const lf = bytes.indexOf(LF);
    chunks.push(lf === -1 ? bytes : bytes.subarray(0, lf));
    total += lf === -1 ? bytes.length : lf;
    if (total > MAX_LINE_BYTES) throw new AdminError('weakPassword', `password line longer than ${MAX_LINE_BYTES} bytes`);
    if (lf !== -1) break; // leaving the loop releases stdin: nothing after the first line is read
  }
  const line = Buffer.concat(chunks);
  return line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
}
