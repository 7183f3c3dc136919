/**
 * Every message of ../shared/corpus through IMAP: APPEND, then FETCH BODY[] must give the same
 * octets back, and BODYSTRUCTURE / ENVELOPE must parse with a strict parser (imapflow's, the one
 * a Node mail client would use). Skipped, loudly, when the corpus is not there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ImapFlow } from 'imapflow';
import { PASSWORD, USER, startImapServer } from './helpers/imap-client.js';

const CORPUS = resolve(import.meta.dirname, '..', '..', 'shared', 'corpus');

test('corpus: APPEND + FETCH BODY[] round-trips every message byte for byte; BODYSTRUCTURE parses', async (t) => {
  if (!existsSync(CORPUS)) {
    t.skip(`corpus not found at ${CORPUS} (../shared/corpus from the repo root)`);
    return;
  }
  const files = readdirSync(CORPUS)
    .filter((name) => name !== 'CORPUS.md' && !name.startsWith('.'))
    .sort();
  assert.ok(files.length > 100, `only ${files.length} corpus files`);
  const server = await startImapServer(t, { plaintextLogin: true, toml: '[limits]\nmessage_size = "64M"' });
  const client = new ImapFlow({ host: '127.0.0.1', port: server.imapPort, secure: false, doSTARTTLS: false, auth: { user: USER, pass: PASSWORD }, logger: false });
  t.after(() => client.logout().catch(() => undefined));
  await client.connect();
  const sources = new Map<number, Buffer>();
  for (const file of files) {
    const source = readFileSync(join(CORPUS, file));
    if (source.length === 0) continue;
    const result = await client.append('INBOX', source);
    assert.ok(result !== false && result.uid !== undefined, `APPEND of ${file} failed`);
    sources.set(result.uid, source);
  }
  const lock = await client.getMailboxLock('INBOX');
  let checked = 0;
  try {
    for await (const message of client.fetch('1:*', { uid: true, source: true, bodyStructure: true, envelope: true }, { uid: false })) {
      const expected = sources.get(message.uid);
      assert.ok(expected !== undefined, `unexpected UID ${message.uid}`);
      assert.ok(message.source !== undefined && expected.equals(message.source), `UID ${message.uid}: BODY[] differs from what was appended`);
      assert.ok(message.bodyStructure !== undefined && typeof message.bodyStructure.type === 'string', `UID ${message.uid}: no BODYSTRUCTURE`);
      assert.ok(message.envelope !== undefined, `UID ${message.uid}: no ENVELOPE`);
      checked++;
    }
  } finally {
    lock.release();
  }
  assert.equal(checked, sources.size);
});
