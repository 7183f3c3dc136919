/**
 * A message whose body file is gone (disk damage, a bad restore: `mailhaven fsck` reports it as
 * blob.missing) must fail FETCH with a NO, never leave the client inside a literal whose bytes
 * never come. The session stays usable for the other messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { USER, sampleMessage, startImapServer } from './helpers/imap-client.js';
import type { ImapTestServer } from './helpers/imap-client.js';

async function loseBlob(server: ImapTestServer, uid: number): Promise<void> {
  const meta = (await server.messages(USER)).find((message) => message.uid === uid);
  assert.ok(meta);
  const files = readdirSync(server.dir, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith(meta.blobHash));
  assert.equal(files.length, 1, 'the blob file exists before the test removes it');
  rmSync(join(server.dir, files[0]!));
}

for (const [label, body] of [
  ['small (read whole)', 'short body\r\n'],
  ['large (streamed)', `${'x'.repeat(998)}\r\n`.repeat(200)],
] as const) {
  test(`FETCH BODY[] of a message whose blob is lost: tagged NO, the session goes on (${label})`, async (t) => {
    const server = await startImapServer(t);
    await server.deliver(USER, sampleMessage('kept'));
    await server.deliver(USER, `${sampleMessage('lost').replace(/\r\n$/, '')}${body}`);
    await loseBlob(server, 2);
    const c = await server.client();
    await c.run('SELECT INBOX');
    const lost = await c.run('FETCH 2 BODY.PEEK[]');
    assert.equal(lost.length, 1, `only the tagged reply: ${JSON.stringify(lost)}`);
    assert.match(lost[0] ?? '', /^A3 NO /);
    const kept = await c.run('FETCH 1 (UID RFC822.SIZE)');
    assert.match(kept[0] ?? '', /^\* 1 FETCH \(UID 1 RFC822\.SIZE \d+\)$/);
    assert.equal(kept.at(-1), 'A4 OK FETCH completed');
  });
}
