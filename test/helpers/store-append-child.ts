/**
 * Child process for the kill -9 durability test: appends messages forever (4 writers at once, so
 * group commit is in play) and prints "ACK <i> <uid>" for each append the store acknowledged.
 * Usage: node --import tsx store-append-child.ts <dataDir> <accountId> <mailboxId>
 */
import { LocalChangeBus } from '../../src/events/local.js';
import { indexMessage } from '../../src/mime/indexer.js';
import { sampleMessage } from '../../src/store/conformance.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';

export function durabilityMessage(i: number): Buffer {
  return sampleMessage(`durable-${i}`, 1000 + ((i * 7919) % 20_000));
}

async function main(): Promise<void> {
  const [dataDir, accountArg, mailboxArg] = process.argv.slice(2);
  if (!dataDir || !accountArg || !mailboxArg) throw new Error('usage: store-append-child <dataDir> <accountId> <mailboxId>');
  const store = await openSqliteStore({ dataDir, bus: new LocalChangeBus() });
  let next = 0;
  const writer = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      const bytes = durabilityMessage(i);
      const blob = store.createBlobWriter();
      // Two chunks, so a kill can land between them.
      await blob.write(bytes.subarray(0, 500));
      await blob.write(bytes.subarray(500));
      const staged = await blob.finish();
      const [result] = await store.append(Number(accountArg), Number(mailboxArg), [{ blob: staged, index: indexMessage(bytes) }]);
      process.stdout.write(`ACK ${i} ${result?.uid}\n`);
    }
  };
  process.stdout.write('READY\n');
  await Promise.all([writer(), writer(), writer(), writer()]);
}

if (process.argv[1]?.endsWith('store-append-child.ts')) {
  main().catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
}
