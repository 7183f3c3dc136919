/**
 * Fault: the data directory's file system is full (issue #6, docs/reliability.md "Faults").
 *
 * The data dir is a small tmpfs mounted for the test (root only; skipped with the reason
 * otherwise). A filler file takes every free page; then, with the server running:
 * - SMTP DATA answers 452 4.3.1 (RFC 3463 "mail system full"), never 250;
 * - IMAP APPEND answers NO [UNAVAILABLE] (RFC 5530 has no disk-full code; the storage subsystem
 *   is temporarily unable to take writes, and OVERQUOTA would blame the user's quota);
 * - POP3 QUIT answers -ERR [SYS/TEMP] (RFC 3206 4) and the DELE it was to apply stays undone;
 * - no message row without its blob, no half blob, no staged temp file;
 * - once the filler is removed, the same sessions deliver and append again (no restart).
 * Two fill levels: nothing free (the body write fails), and two pages free (the body is written and
 * made durable, then the database commit fails).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapTestClient } from './helpers/imap-client.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';
import {
  DOMAIN,
  PASSWORD,
  PLAINTEXT_TOML,
  USER,
  assertNothingPartial,
  assertOrphansQueued,
  imapAppend,
  logged,
  pop3Login,
  sampleMessage,
  smtpSend,
  smtpSession,
} from './helpers/faults.js';

const TMPFS_SIZE = '8m';
const PAGE = 4096;

interface Fixture {
  server: TestServer;
  mount: string;
  logLines: Array<Record<string, unknown>>;
}

/** A tmpfs for the data dir, or null (after t.skip) when this machine cannot mount one. */
function mountTmpfs(t: TestContext): string | null {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    t.skip('needs root on Linux to mount a tmpfs as the data directory');
    return null;
  }
  const mount = mkdtempSync(join(tmpdir(), 'mailhaven-diskfull-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', mount], { stdio: 'pipe' });
  } catch (error) {
    rmdirSync(mount);
    t.skip(`cannot mount a tmpfs here: ${String(error instanceof Error ? error.message : error).split('\n')[0]}`);
    return null;
  }
  return mount;
}

async function start(t: TestContext): Promise<Fixture | null> {
  const mount = mountTmpfs(t);
  if (mount === null) return null;
  let server: TestServer | null = null;
  // Registered before the server's own cleanup exists: close the server, then unmount.
  t.after(async () => {
    await server?.close();
    execFileSync('umount', ['-l', mount]);
    rmdirSync(mount);
  });
  const logLines: Array<Record<string, unknown>> = [];
  server = await startTestServer(t, { listeners: ['smtp', 'imap', 'pop3'], dataDir: join(mount, 'data'), toml: PLAINTEXT_TOML, logLines });
  await server.addDomain(DOMAIN);
  await server.addUser(USER, PASSWORD);
  return { server, mount, logLines };
}

/**
 * Takes every free page of the file system with one file; leaves `keepPages` pages free. Returns
 * the file's path (remove it to give the space back).
 */
function fill(mount: string, keepPages = 0): string {
  const reserve = join(mount, 'reserve');
  if (keepPages > 0) {
    const fd = openSync(reserve, 'w');
    writeSync(fd, Buffer.alloc(keepPages * PAGE, 1));
    closeSync(fd);
  }
  const filler = join(mount, 'filler');
  const fd = openSync(filler, 'w');
  try {
    for (const size of [1 << 20, 64 << 10, PAGE, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  if (keepPages > 0) unlinkSync(reserve);
  return filler;
}

test('disk full: SMTP 452 4.3.1, APPEND NO [UNAVAILABLE], POP3 QUIT -ERR [SYS/TEMP]; nothing partial; recovery without restart', async (t) => {
  const fx = await start(t);
  if (fx === null) return;
  const { server, mount, logLines } = fx;
  const smtp = await smtpSession(server.port('smtp'));
  t.after(() => smtp.close());
  for (const subject of ['seed one', 'seed two']) assert.equal((await smtpSend(smtp, subject)).code, 250);
  const imap = await ImapTestClient.login(server.port('imap'), USER, PASSWORD);
  t.after(() => imap.close());
  assert.match((await imap.run('SELECT INBOX')).at(-1) ?? '', /^A\d+ OK /);
  const pop3 = await pop3Login(server.port('pop3'));
  t.after(() => pop3.close());
  const before = await assertNothingPartial(server);
  assert.equal(before.length, 2);

  const filler = fill(mount);

  const refused = await smtpSend(smtp, 'while full', 20_000);
  assert.deepEqual([refused.code, refused.enhanced], [452, '4.3.1'], `SMTP reply: ${refused.raw}`);
  const appended = await imapAppend(imap, 'F1', sampleMessage('append while full', 20_000));
  assert.match(appended, /^F1 NO \[UNAVAILABLE\] /);
  // A flag change is a database write too.
  assert.match((await imap.run('STORE 2 +FLAGS (\\Flagged)')).at(-1) ?? '', /^A\d+ NO \[UNAVAILABLE\] /);
  assert.match(await pop3.command('DELE 1'), /^\+OK/);
  assert.match(await pop3.command('QUIT'), /^-ERR \[SYS\/TEMP\] /);
  await pop3.waitClosed();

  const during = await assertNothingPartial(server);
  assert.deepEqual(during, before, 'rows changed while the disk was full');
  assert.ok(logged(logLines, 'store error', 'error').some((line) => line.code === 'noSpace'), 'the SMTP refusal was logged with its cause');
  assert.ok(logged(logLines, 'APPEND upload failed', 'error').length > 0, 'the APPEND refusal was logged');
  assert.ok(logged(logLines, 'expunge at QUIT failed', 'error').length > 0, 'the QUIT refusal was logged');

  unlinkSync(filler);

  // The same sessions work again: no restart, no reconnect.
  const delivered = await smtpSend(smtp, 'after space returned', 20_000);
  assert.equal(delivered.code, 250, `SMTP reply: ${delivered.raw}`);
  assert.match(await imapAppend(imap, 'F2', sampleMessage('append after space returned', 20_000)), /^F2 OK \[APPENDUID \d+ \d+\] /);
  assert.match((await imap.run('STORE 2 +FLAGS (\\Flagged)')).at(-1) ?? '', /^A\d+ OK /);
  const again = await pop3Login(server.port('pop3'));
  t.after(() => again.close());
  assert.match(await again.command('DELE 1'), /^\+OK/);
  assert.match(await again.command('QUIT'), /^\+OK /);
  const after = await assertNothingPartial(server);
  // POP3 deleted the oldest (seed one); seed two, the SMTP delivery and the APPEND remain.
  assert.equal(after.length, 3);
  assert.equal(after[0]?.uid, before[1]?.uid);
  await assertOrphansQueued(server);
});

test('disk full after the body is written: the commit fails, the reply is temporary, no row appears', async (t) => {
  const fx = await start(t);
  if (fx === null) return;
  const { server, mount, logLines } = fx;
  const smtp = await smtpSession(server.port('smtp'));
  t.after(() => smtp.close());
  assert.equal((await smtpSend(smtp, 'seed')).code, 250);
  const imap = await ImapTestClient.login(server.port('imap'), USER, PASSWORD);
  t.after(() => imap.close());
  const pop3 = await pop3Login(server.port('pop3'));
  t.after(() => pop3.close());
  const before = await assertNothingPartial(server);

  // Two pages: room for a small body (one page), not for the several WAL frames a commit appends.
  let filler = fill(mount, 2);
  const refused = await smtpSend(smtp, 'body fits, commit does not', 100);
  assert.deepEqual([refused.code, refused.enhanced], [452, '4.3.1'], `SMTP reply: ${refused.raw}`);
  // The body was written and synced; it is the database commit that found the disk full.
  assert.ok(
    logged(logLines, 'store error', 'error').some((line) => line.code === 'noSpace' && String(line.err).startsWith('database')),
    'the failed commit is logged at error level',
  );
  unlinkSync(filler);

  filler = fill(mount, 2);
  assert.match(await imapAppend(imap, 'G1', sampleMessage('append: body fits', 100)), /^G1 NO \[UNAVAILABLE\] /);
  unlinkSync(filler);

  filler = fill(mount, 2);
  assert.match(await pop3.command('DELE 1'), /^\+OK/);
  assert.match(await pop3.command('QUIT'), /^-ERR \[SYS\/TEMP\] /);
  await pop3.waitClosed();

  assert.deepEqual(await assertNothingPartial(server), before, 'rows changed while the disk was full');
  unlinkSync(filler);

  assert.equal((await smtpSend(smtp, 'recovered')).code, 250);
  assert.match(await imapAppend(imap, 'G2', sampleMessage('append recovered')), /^G2 OK \[APPENDUID /);
  const rows = await assertNothingPartial(server);
  assert.equal(rows.length, before.length + 2);
  // The bodies made durable before their commits failed are queued for the sweeper, no restart needed.
  await assertOrphansQueued(server);
});

test('disk fills in the middle of a message: 354 then 452 4.3.1, BDAT 452 4.3.1, APPEND NO after "+"; sessions stay in step', async (t) => {
  const fx = await start(t);
  if (fx === null) return;
  const { server, mount } = fx;
  const smtp = await smtpSession(server.port('smtp'));
  t.after(() => smtp.close());
  const imap = await ImapTestClient.login(server.port('imap'), USER, PASSWORD);
  t.after(() => imap.close());

  // Room for the Received field and the first part of the body, not for 300 kB.
  const filler = fill(mount, 8);
  assert.equal((await smtp.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.equal((await smtp.command(`RCPT TO:<${USER}>`)).code, 250);
  const [start354, final] = await smtp.data(sampleMessage('too big for what is left', 300_000));
  assert.equal(start354.code, 354, 'the disk still had room when DATA began');
  assert.deepEqual([final.code, final.enhanced], [452, '4.3.1'], `SMTP reply: ${final.raw}`);
  // The rest of the message was read to its end, not taken for commands.
  assert.equal((await smtp.command('RSET')).code, 250);

  // BDAT (RFC 3030): the chunk is read whole, then refused the same way.
  assert.equal((await smtp.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.equal((await smtp.command(`RCPT TO:<${USER}>`)).code, 250);
  const chunk = Buffer.from(sampleMessage('bdat too big for what is left', 300_000));
  smtp.write(Buffer.concat([Buffer.from(`BDAT ${chunk.length} LAST\r\n`), chunk]));
  const bdat = await smtp.read();
  assert.deepEqual([bdat.code, bdat.enhanced], [452, '4.3.1'], `BDAT reply: ${bdat.raw}`);
  assert.equal((await smtp.command('RSET')).code, 250);

  const appended = await imapAppend(imap, 'H1', sampleMessage('append too big for what is left', 300_000));
  assert.match(appended, /^H1 NO \[UNAVAILABLE\] /);
  assert.match((await imap.run('NOOP')).at(-1) ?? '', /^A\d+ OK /);
  assert.deepEqual(await assertNothingPartial(server), []);

  unlinkSync(filler);
  assert.equal((await smtpSend(smtp, 'fits now', 300_000)).code, 250);
  assert.match(await imapAppend(imap, 'H2', sampleMessage('append fits now', 300_000)), /^H2 OK \[APPENDUID /);
  assert.equal((await assertNothingPartial(server)).length, 2);
  await assertOrphansQueued(server);
});
