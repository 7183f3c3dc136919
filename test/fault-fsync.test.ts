/**
 * Fault: the operating system fails a write, an fsync or a rename of the blob store (issue #6,
 * docs/reliability.md "Faults").
 *
 * The store is opened with a wrapped BlobFs (src/store/blobs/files.ts, the OS boundary of the
 * blob write path; only code can pass one, never the configuration). The wrapper fails the next
 * call of one chosen operation with a real errno code (EIO, ENOSPC). For every failure point the
 * client gets no acknowledgement (SMTP 4xx, IMAP NO), the server logs the cause, no row and no
 * staged file remain, and the very next attempt on the same connection succeeds.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { nodeBlobFs } from '../src/store/blobs/files.js';
import type { BlobFile, BlobFs } from '../src/store/blobs/files.js';
import { ImapTestClient } from './helpers/imap-client.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';
import type { SmtpTestClient } from './helpers/smtp-client.js';
import {
  DOMAIN,
  PASSWORD,
  PLAINTEXT_TOML,
  USER,
  assertNothingPartial,
  assertOrphansQueued,
  imapAppend,
  logged,
  sampleMessage,
  smtpSend,
  smtpSession,
} from './helpers/faults.js';

type FaultPoint = 'write' | 'sync' | 'utimes' | 'rename' | 'syncDir';

/** A BlobFs that fails one call of an armed operation (after `skip` calls pass) with an errno code. */
class FaultyBlobFs implements BlobFs {
  readonly #armed = new Map<FaultPoint, { code: string; skip: number }>();
  /** Faults actually delivered, in order. */
  readonly fired: Array<{ point: FaultPoint; code: string; path: string }> = [];

  constructor(private readonly base: BlobFs = nodeBlobFs) {}

  arm(point: FaultPoint, code = 'EIO', skip = 0): void {
    this.#armed.set(point, { code, skip });
  }

  get pending(): FaultPoint[] {
    return [...this.#armed.keys()];
  }

  #maybeFail(point: FaultPoint, path: string): void {
    const armed = this.#armed.get(point);
    if (armed === undefined) return;
    if (armed.skip > 0) {
      armed.skip--;
      return;
    }
    this.#armed.delete(point);
    const code = armed.code;
    this.fired.push({ point, code, path });
    const error = new Error(`${code}: injected ${point} failure, ${path}`) as NodeJS.ErrnoException;
    error.code = code;
    error.path = path;
    throw error;
  }

  async createExclusive(path: string): Promise<BlobFile> {
    const file = await this.base.createExclusive(path);
    return {
      write: async (buffer, offset, length) => {
        this.#maybeFail('write', path);
        return file.write(buffer, offset, length);
      },
      sync: async () => {
        this.#maybeFail('sync', path);
        return file.sync();
      },
      close: () => file.close(),
    };
  }

  async utimes(path: string, atime: number, mtime: number): Promise<void> {
    this.#maybeFail('utimes', path);
    return this.base.utimes(path, atime, mtime);
  }

  async rename(from: string, to: string): Promise<void> {
    this.#maybeFail('rename', from);
    return this.base.rename(from, to);
  }

  async syncDir(path: string): Promise<void> {
    this.#maybeFail('syncDir', path);
    return this.base.syncDir(path);
  }

  unlink(path: string): Promise<void> {
    return this.base.unlink(path);
  }
}

interface Fixture {
  server: TestServer;
  fs: FaultyBlobFs;
  logLines: Array<Record<string, unknown>>;
  smtp: SmtpTestClient;
  imap: ImapTestClient;
}

async function start(t: TestContext): Promise<Fixture> {
  const fs = new FaultyBlobFs();
  const logLines: Array<Record<string, unknown>> = [];
  const server = await startTestServer(t, { listeners: ['smtp', 'imap'], toml: PLAINTEXT_TOML, logLines, sqlite: { blobFs: fs } });
  await server.addDomain(DOMAIN);
  await server.addUser(USER, PASSWORD);
  const smtp = await smtpSession(server.port('smtp'));
  t.after(() => smtp.close());
  const imap = await ImapTestClient.login(server.port('imap'), USER, PASSWORD);
  t.after(() => imap.close());
  return { server, fs, logLines, smtp, imap };
}

/** The error-level log line that carries the injected failure's message. */
function loggedFault(lines: ReadonlyArray<Record<string, unknown>>, point: FaultPoint, from: number): Record<string, unknown> | undefined {
  return lines.slice(from).find((line) => line.level === 'error' && JSON.stringify(line).includes(`injected ${point} failure`));
}

/** `skip`: calls that pass before the one that fails (the write fails in the middle of the body). */
const POINTS: Array<{ point: FaultPoint; what: string; skip: number }> = [
  { point: 'write', what: 'a write in the middle of the body', skip: 2 },
  { point: 'sync', what: 'the fsync of the body', skip: 0 },
  { point: 'utimes', what: 'the mtime refresh before the rename', skip: 0 },
  { point: 'rename', what: 'the rename to the final name', skip: 0 },
  { point: 'syncDir', what: 'the fsync of the blob directory', skip: 0 },
];
/** Large enough to arrive in several chunks, so a write in the middle can fail. */
const BODY_BYTES = 300_000;

for (const { point, what, skip } of POINTS) {
  test(`EIO in ${what}: SMTP 451 4.3.0 and IMAP NO [SERVERBUG], logged, nothing stored; the next try succeeds`, async (t) => {
    const { server, fs, logLines, smtp, imap } = await start(t);
    assert.equal((await smtpSend(smtp, 'before the fault')).code, 250);
    const before = await assertNothingPartial(server);

    let mark = logLines.length;
    fs.arm(point, 'EIO', skip);
    const refused = await smtpSend(smtp, `smtp ${point} fault`, BODY_BYTES);
    assert.deepEqual(fs.fired.map((f) => f.point), [point], 'the fault was injected');
    assert.deepEqual([refused.code, refused.enhanced], [451, '4.3.0'], `SMTP reply: ${refused.raw}`);
    assert.ok(loggedFault(logLines, point, mark), `the ${point} failure is in the log`);
    assert.deepEqual(await assertNothingPartial(server), before);

    mark = logLines.length;
    fs.arm(point, 'EIO', skip);
    const appended = await imapAppend(imap, 'E1', sampleMessage(`imap ${point} fault`, BODY_BYTES));
    assert.equal(fs.fired.length, 2, 'the fault was injected into the APPEND');
    assert.match(appended, /^E1 NO \[SERVERBUG\] /);
    assert.ok(loggedFault(logLines, point, mark), `the ${point} failure is in the log`);
    assert.deepEqual(await assertNothingPartial(server), before);
    // The rest of the literal was skipped, not read as commands: the connection is in step.
    assert.match((await imap.run('NOOP')).at(-1) ?? '', /^A\d+ OK /);

    // Nothing armed any more: the same connections store the next message.
    assert.equal((await smtpSend(smtp, 'after the fault', BODY_BYTES)).code, 250);
    assert.match(await imapAppend(imap, 'E2', sampleMessage('append after the fault', BODY_BYTES)), /^E2 OK \[APPENDUID /);
    assert.equal((await assertNothingPartial(server)).length, before.length + 2);
    await assertOrphansQueued(server);
  });
}

test('MULTIAPPEND whose second message fails its fsync stores neither (RFC 3502: all or nothing)', async (t) => {
  const { server, fs, imap } = await start(t);
  fs.arm('sync', 'EIO', 1);
  const first = Buffer.from(sampleMessage('multi one', 5000));
  const second = Buffer.from(sampleMessage('multi two', 5000));
  imap.write(`M1 APPEND INBOX {${first.length}}\r\n`);
  assert.match(await imap.readLine(), /^\+ /);
  imap.write(Buffer.concat([first, Buffer.from(` {${second.length}}\r\n`)]));
  assert.match(await imap.readLine(), /^\+ /);
  imap.write(Buffer.concat([second, Buffer.from('\r\n')]));
  const lines = await imap.readUntilTagged('M1');
  assert.match(lines.at(-1) ?? '', /^M1 NO \[SERVERBUG\] /);
  assert.deepEqual(fs.fired.map((f) => f.point), ['sync']);
  assert.deepEqual(await assertNothingPartial(server), []);
  assert.match((await imap.run('NOOP')).at(-1) ?? '', /^A\d+ OK /);
  await assertOrphansQueued(server);
});

test('ENOSPC injected in a write: SMTP 452 4.3.1, IMAP NO [UNAVAILABLE]', async (t) => {
  const { server, fs, logLines, smtp, imap } = await start(t);
  fs.arm('write', 'ENOSPC');
  const refused = await smtpSend(smtp, 'smtp enospc');
  assert.deepEqual([refused.code, refused.enhanced], [452, '4.3.1'], `SMTP reply: ${refused.raw}`);
  fs.arm('write', 'ENOSPC');
  assert.match(await imapAppend(imap, 'S1', sampleMessage('imap enospc')), /^S1 NO \[UNAVAILABLE\] /);
  assert.equal(fs.fired.length, 2);
  assert.ok(logged(logLines, 'store error', 'error').some((line) => line.code === 'noSpace'));
  assert.deepEqual(await assertNothingPartial(server), []);
  assert.deepEqual(fs.pending, []);
});
