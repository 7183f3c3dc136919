/**
 * mailhaven import ADDRESS (--mbox FILE | --maildir DIR) [--mailbox NAME]
 *
 * Restartable: a re-run of the same command continues where an interrupted run stopped
 * (see src/import/journal.ts).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseAddress } from '../../admin/address.js';
import { AdminError } from '../../admin/errors.js';
import type { ImportProgress, ImportSource } from '../../import/importer.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { configPathOf, leafCommand } from './shared.js';

interface ImportOptions {
  mbox?: string;
  maildir?: string;
  mailbox?: string;
}

export function registerImportCommand(program: Command, ctx: CliContext): void {
  leafCommand(program, 'import', 'import messages from an mbox file or a Maildir into an account (restartable)')
    .argument('<address>')
    .option('--mbox <file>', 'an mbox file (mboxo/mboxrd); messages go to INBOX unless --mailbox')
    .option('--maildir <dir>', 'a Maildir or Maildir++ folder; subfolders become mailboxes unless --mailbox')
    .option('--mailbox <name>', 'put every message in this mailbox (created when missing)')
    .action(async (addressInput: string, options: ImportOptions, command: Command) => {
      const source = sourceOf(options, ctx.io.cwd);
      if (options.mailbox !== undefined) checkMailboxName(options.mailbox);
      const { address } = parseAddress(addressInput);
      // Loaded on demand: the MIME indexer is not needed by the other commands.
      const { importMessages } = await import('../../import/importer.js');
      const summary = await ctx.withStore(configPathOf(command), async ({ config, store }) => {
        const account = await store.getAccount(address);
        if (!account) throw new AdminError('notFound', `no such user: ${address}`);
        const progress = ctx.io.stderr.isTTY ? progressPrinter(ctx) : undefined;
        try {
          return await importMessages({
            store,
            dataDir: config.dataDir,
            account,
            source,
            ...(options.mailbox === undefined ? {} : { mailbox: options.mailbox }),
            ...(progress === undefined ? {} : { onProgress: progress }),
            onNotice: (text) => ctx.io.stderr.write(`mailhaven: ${text}\n`),
          });
        } finally {
          if (progress) ctx.io.stderr.write('\r\x1b[K');
        }
      });
      const seconds = summary.seconds.toFixed(1);
      ctx.io.stdout.write(
        `imported ${summary.messages} ${summary.messages === 1 ? 'message' : 'messages'} into ${summary.mailboxes} ${summary.mailboxes === 1 ? 'mailbox' : 'mailboxes'} in ${seconds} s\n`,
      );
    });
}

function sourceOf(options: ImportOptions, cwd: string): ImportSource {
  if (options.mbox !== undefined && options.maildir !== undefined) throw new UsageError('give either --mbox or --maildir, not both');
  if (options.mbox !== undefined) return { kind: 'mbox', path: resolve(cwd, options.mbox) };
  if (options.maildir !== undefined) return { kind: 'maildir', path: resolve(cwd, options.maildir) };
  throw new UsageError('import needs --mbox FILE or --maildir DIR');
}

/** A hierarchy name with "/" between non-empty levels ("Archive/2024"). */
function checkMailboxName(name: string): void {
  if (name.split('/').some((level) => level.trim() === '')) {
    throw new UsageError(`invalid mailbox name "${name}": levels separated by "/" must not be empty`);
  }
}

/** One self-overwriting status line (the importer calls at most 4 times a second; only when stderr is a terminal). */
function progressPrinter(ctx: CliContext): (progress: ImportProgress) => void {
  return (progress) => {
    const seconds = Math.max(progress.elapsedMs / 1000, 0.001);
    const rate = Math.round(progress.messages / seconds);
    ctx.io.stderr.write(`\r\x1b[K${progress.messages} messages, ${rate}/s`);
  };
}
