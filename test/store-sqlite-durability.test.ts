/**
 * Durability across kill -9: a child process appends messages and prints each acknowledged UID;
 * it is killed at a random moment; after reopening, every acknowledged message is present and
 * byte-identical, and recover() leaves no temp files and no unreferenced blobs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LocalChangeBus } from '../src/events/local.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { durabilityMessage } from './helpers/store-append-child.js';

const CHILD = fileURLToPath(new URL('./helpers/store-append-child.ts', import.meta.url));

interface ChildRun {
  acked: Map<number, number>;
  killedAfterMs: number;
}

async function runChildAndKill(dataDir: string, accountId: number, mailboxId: number, killAfterMs: number): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, String(accountId), String(mailboxId)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const acked = new Map<number, number>();
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const lines = createInterface({ input: child.stdout });
  let startedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  lines.on('line', (line) => {
    if (line === 'READY') {
      startedAt = Date.now();
      timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      return;
    }
    const match = /^ACK (\d+) (\d+)$/.exec(line);
    if (match) acked.set(Number(match[1]), Number(match[2]));
  });
  const signal = await exited;
  clearTimeout(timer);
  assert.equal(signal, 'SIGKILL', `child ended by itself: ${stderr}`);
  return { acked, killedAfterMs: Date.now() - startedAt };
}

test('every acknowledged append survives kill -9, and recovery leaves nothing behind', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-durable-'));
  try {
    const setup = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0 });
    await setup.addDomain('example.org');
    const account = await setup.addAccount('user@example.org', 'h', null);
    const inbox = await setup.getMailbox(account.id, 'INBOX');
    assert.ok(inbox);
    await setup.close();

    // Two rounds at random moments: the second one also runs over the first one's leftovers.
    const acked = new Map<number, number>();
    for (const round of [0, 1]) {
      const killAfter = 300 + Math.floor(Math.random() * 900);
      const run = await runChildAndKill(dataDir, account.id, inbox.id, killAfter);
      assert.ok(run.acked.size > 0, `round ${round}: the child acknowledged nothing in ${run.killedAfterMs} ms`);
      for (const [i, uid] of run.acked) acked.set(uid, i);
      // The second child restarts numbering: key by UID, which is unique in the mailbox.
    }

    const store = await openSqliteStore({ dataDir, bus: new LocalChangeBus(), pollIntervalMs: 0, sweepIntervalMs: 0, blobGraceMs: 0 });
    try {
      const report = await store.recover();
      const listed = await store.listMessages(inbox.id);
      const byUid = new Map(listed.map((m) => [m.uid, m]));
      for (const [uid, i] of acked) {
        const meta = byUid.get(uid);
        assert.ok(meta, `acknowledged UID ${uid} (message ${i}) is missing`);
        const expected = durabilityMessage(i);
        assert.equal(meta.size, expected.length);
        assert.ok((await store.readMessage(meta)).equals(expected), `UID ${uid} differs`);
      }
      // Counters agree with rows after the crash.
      const box = await store.getMailbox(account.id, 'INBOX');
      assert.equal(box?.messageCount, listed.length);
      assert.equal(box?.totalSize, listed.reduce((sum, m) => sum + m.size, 0));
      assert.equal((await store.getAccount('user@example.org'))?.usedMessages, listed.length);

      // No temp files but our own (empty) staging directory.
      const tmpEntries = await readdir(join(dataDir, 'tmp'));
      assert.equal(tmpEntries.length, 1, `tmp holds ${tmpEntries.join(', ')}`);
      assert.deepEqual(await readdir(join(dataDir, 'tmp', tmpEntries[0] ?? '')), []);
      // Every blob file is referenced, and every referenced blob exists with the right hash.
      const referenced = new Set(listed.map((m) => m.blobHash));
      const files: string[] = [];
      for (const dir of await readdir(store.blobDirectory)) {
        for (const name of await readdir(join(store.blobDirectory, dir))) files.push(name);
      }
      assert.deepEqual(files.sort(), [...referenced].sort());
      for (const hash of referenced) {
        const bytes = await readFile(join(store.blobDirectory, hash.slice(0, 2), hash));
        assert.equal(createHash('sha256').update(bytes).digest('hex'), hash);
      }
      t.diagnostic(`acknowledged ${acked.size}, stored ${listed.length}, recovery ${JSON.stringify(report)}`);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
