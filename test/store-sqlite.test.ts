/** The MailStore conformance suite on the SQLite backend, each test in a fresh temp data dir. */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalChangeBus } from '../src/events/local.js';
import { runStoreConformance } from '../src/store/conformance.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';

runStoreConformance('sqlite', async ({ now }) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailhaven-store-'));
  const bus = new LocalChangeBus();
  const store = await openSqliteStore({ dataDir, bus, now, pollIntervalMs: 0, sweepIntervalMs: 0 });
  return {
    store,
    bus,
    cleanup: async () => {
      await bus.close();
      await rm(dataDir, { recursive: true, force: true });
    },
    countBlobs: async () => {
      let count = 0;
      for (const dir of await readdir(store.blobDirectory)) count += (await readdir(join(store.blobDirectory, dir))).length;
      return count;
    },
  };
});
