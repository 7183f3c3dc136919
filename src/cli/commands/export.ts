/**
 * mailhaven export ADDRESS (--maildir DIR | --mbox FILE) [--mailbox NAME]
 *
 * An account's mail as Maildir++ (all mailboxes) or an mboxrd file (one mailbox, INBOX by
 * default), readable by other servers and mail programs and by `mailhaven import` (src/export).
 */
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseAddress } from '../../admin/address.js';
import { exportMaildir, exportMbox } from '../../export/index.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { configPathOf, leafCommand } from './shared.js';

interface ExportOptions {
  maildir?: string;
  mbox?: string;
  mailbox?: string;
}

export function registerExportCommand(program: Command, ctx: CliContext): void {
  leafCommand(program, 'export', "write an account's mail as a Maildir (all mailboxes) or an mbox file (one mailbox)")
    .argument('<address>')
    .option('--maildir <dir>', 'a new (or empty) Maildir++ directory: INBOX and every mailbox as .Name subfolders')
    .option('--mbox <file>', 'a new mboxrd file with one mailbox (INBOX unless --mailbox)')
    .option('--mailbox <name>', 'only this mailbox')
    .action(async (input: string, options: ExportOptions, command: Command) => {
      if ((options.maildir === undefined) === (options.mbox === undefined)) throw new UsageError('export needs exactly one of --maildir DIR and --mbox FILE');
      const { address } = parseAddress(input);
      const target = resolve(ctx.io.cwd, options.maildir ?? options.mbox ?? '');
      if (options.mbox !== undefined && existsSync(target)) throw new UsageError(`${target} exists: export into a new file`);
      if (options.maildir !== undefined && existsSync(target) && readdirSync(target).length > 0) throw new UsageError(`${target} is not empty: export into a new directory`);
      const summary = await ctx.withStore(configPathOf(command), ({ store }) => {
        const base = { store, address, ...(options.mailbox === undefined ? {} : { mailbox: options.mailbox }) };
        return options.maildir !== undefined ? exportMaildir({ ...base, directory: target }) : exportMbox({ ...base, file: target });
      });
      const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
      ctx.io.stdout.write(`exported ${count(summary.messages, 'message', 'messages')} from ${count(summary.mailboxes, 'mailbox', 'mailboxes')}\n`);
    });
}
