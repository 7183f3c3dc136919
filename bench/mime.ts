/**
 * Message indexing throughput: every message of the shared corpus (or, when it is absent,
 * generated multipart messages of a similar mix) indexed several times in one process.
 * The first pass warms up the JIT and is not counted. Prints nothing: run.ts reports.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexMessage } from '../src/mime/indexer.js';

const ROUNDS = 5;

function corpusMessages(): Buffer[] | null {
  const dir = resolve(fileURLToPath(new URL('..', import.meta.url)), '..', 'shared', 'corpus');
  if (!existsSync(dir)) return null;
  return readdirSync(dir)
    .filter((name) => name !== 'CORPUS.md')
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => readFileSync(path));
}

/** About 8 MiB of messages: small plain ones, multiparts with attachments, a few large ones. */
function generatedMessages(): Buffer[] {
  const messages: Buffer[] = [];
  const line = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n';
  for (let i = 0; i < 400; i++) {
    const header = `From: "Sender ${i}" <s${i}@example.test>\r\nTo: r@example.test\r\nSubject: =?utf-8?Q?message_n=C2=B0${i}?=\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <${i}@example.test>\r\nMIME-Version: 1.0\r\n`;
    if (i % 2 === 0) {
      messages.push(Buffer.from(`${header}Content-Type: text/plain; charset=utf-8\r\n\r\n${'Some text of a plain message.\r\n'.repeat(40)}`));
    } else {
      const attachment = line.repeat(i % 40 === 1 ? 6000 : 150);
      messages.push(
        Buffer.from(
          `${header}Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\nContent-Type: multipart/alternative; boundary="a${i}"\r\n\r\n--a${i}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--a${i}\r\nContent-Type: text/html\r\n\r\n<p>hello</p>\r\n--a${i}--\r\n` +
            `--b${i}\r\nContent-Type: application/pdf; name="file${i}.pdf"\r\nContent-Disposition: attachment; filename="file${i}.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}--b${i}--\r\n`,
        ),
      );
    }
  }
  return messages;
}

export async function benchMime(): Promise<{ mibPerSecond: number; msPerMiB: number }> {
  const messages = corpusMessages() ?? generatedMessages();
  const bytes = messages.reduce((sum, m) => sum + m.length, 0);
  for (const message of messages) indexMessage(message);
  const started = process.hrtime.bigint();
  for (let round = 0; round < ROUNDS; round++) {
    for (const message of messages) indexMessage(message);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const mib = (bytes * ROUNDS) / 2 ** 20;
  await Promise.resolve();
  return { mibPerSecond: mib / seconds, msPerMiB: (seconds * 1000) / mib };
}
