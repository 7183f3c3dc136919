/**
 * Shared pieces of the outbound transport tests: a Config loaded from TOML (the real loader,
 * with its defaults), transaction requests over a message buffer streamed in small chunks, and
 * corpus messages with CRLF line endings (the form the queue stores).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/index.js';
import type { TransactionRecipient, TransactionRequest } from '../../src/queue/transport.js';

export const CORPUS_DIR = '/work/shared/corpus';

/** A Config from `toml` (after hostname and data_dir); files named in it are relative to `dir`. */
export function outboundConfig(t: TestContext, toml: string, files: Record<string, string> = {}): { config: Config; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mailhaven-outbound-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });
  const file = join(dir, 'mailhaven.toml');
  writeFileSync(file, ['hostname = "sender.test.example"', 'data_dir = "data"', toml, ''].join('\n'));
  return { config: loadConfig({ configPath: file, env: {}, cwd: dir, uid: 1000 }), dir };
}

/** A corpus message with every line ending turned into CRLF. */
export function corpusMessage(name: string): Buffer {
  const raw = readFileSync(join(CORPUS_DIR, name)).toString('latin1');
  return Buffer.from(raw.replace(/\r?\n/g, '\r\n'), 'latin1');
}

export function recipient(address: string, extra: Partial<TransactionRecipient> = {}): TransactionRecipient {
  return { address, notify: null, orcpt: null, ...extra };
}

/** A request whose message streams `message` in chunks of `chunkSize` octets. */
export function makeRequest(recipients: Array<string | TransactionRecipient>, message: Buffer, extra: Partial<TransactionRequest> = {}, chunkSize = 4096): TransactionRequest & { opened: number } {
  const request = {
    sender: 'sender@sender.test.example',
    recipients: recipients.map((r) => (typeof r === 'string' ? recipient(r) : r)),
    ret: null,
    envid: null,
    body: null,
    smtputf8: false,
    size: message.length,
    opened: 0,
    openMessage(): Readable {
      request.opened++;
      return Readable.from(chunks(message, chunkSize), { objectMode: false });
    },
    ...extra,
  };
  return request;
}

function* chunks(message: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < message.length; offset += size) yield message.subarray(offset, offset + size);
}

/** A test message: headers, `body` lines, CRLF at the end. */
export function simpleMessage(body: string[], subject = 'outbound test'): Buffer {
  const lines = ['From: sender@sender.test.example', 'To: someone@test.example', `Subject: ${subject}`, 'Message-ID: <outbound-test@sender.test.example>', 'Date: Thu, 26 Nov 2026 08:00:00 +0000', '', ...body];
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');
}
