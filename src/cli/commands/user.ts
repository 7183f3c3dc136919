/**
 * mailhaven user add ADDRESS [--password-stdin] [--quota SIZE]
 * mailhaven user passwd ADDRESS --password-stdin
 * mailhaven user quota ADDRESS SIZE
 * mailhaven user del ADDRESS
 * mailhaven user list [--json]
 * mailhaven user apop | pop3-retention (./pop3.ts)
 */
import type { Command } from 'commander';
import { formatBytes, formatQuotaSize, parseQuotaSize } from '../../admin/size.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { formatJson, formatTable } from '../format.js';
import { readPasswordLine } from '../stdin.js';
import { registerUserPop3Commands } from './pop3.js';
import { leafCommand, withAdmin } from './shared.js';

export function registerUserCommands(program: Command, ctx: CliContext): void {
  const user = program.command('user').description('manage accounts (mailboxes that can log in)');

  leafCommand(user, 'add', 'create an account with its default mailboxes; prints a generated password unless --password-stdin')
    .argument('<address>')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .option('--quota <size>', 'storage limit such as 500M or 2G (default: unlimited)')
    .action(async (address: string, options: { passwordStdin?: boolean; quota?: string }, command: Command) => {
      // Arguments are checked before stdin is read, so a usage error never waits for input.
      const quotaBytes = options.quota === undefined ? null : parseQuotaSize(options.quota);
      const password = options.passwordStdin ? await readPasswordLine(ctx.io.stdin) : undefined;
      const result = await withAdmin(ctx, command, (admin) =>
        admin.addUser(address, password === undefined ? { quotaBytes } : { password, quotaBytes }),
      );
      if (result.generatedPassword !== undefined) ctx.io.stdout.write(`${result.generatedPassword}\n`);
    });

  leafCommand(user, 'passwd', 'set a new password, read from the first line of standard input')
    .argument('<address>')
    .option('--password-stdin', 'read the password from the first line of standard input (required)')
    .action(async (address: string, options: { passwordStdin?: boolean }, command: Command) => {
      if (!options.passwordStdin) throw new UsageError('user passwd needs --password-stdin (the password is never taken from the command line)');
      const password = await readPasswordLine(ctx.io.stdin);
      await withAdmin(ctx, command, (admin) => admin.setPassword(address, password));
    });

  leafCommand(user, 'quota', 'set the storage limit: a size such as 500M or 2G, or "unlimited" (or 0)')
    .argument('<address>')
    .argument('<size>')
    .action(async (address: string, size: string, _options: unknown, command: Command) => {
      const quotaBytes = parseQuotaSize(size);
      await withAdmin(ctx, command, (admin) => admin.setQuota(address, quotaBytes));
    });

  leafCommand(user, 'del', 'delete an account and all its mail')
    .alias('delete')
    .argument('<address>')
    .action(async (address: string, _options: unknown, command: Command) => {
      await withAdmin(ctx, command, (admin) => admin.deleteUser(address));
    });

  leafCommand(user, 'list', 'list accounts with their quota and usage')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const users = await withAdmin(ctx, command, (admin) => admin.listUsers());
      if (options.json) {
        ctx.io.stdout.write(formatJson(users));
        return;
      }
      const rows = users.map((u) => [u.address, formatQuotaSize(u.quotaBytes), formatBytes(u.usedBytes), String(u.usedMessages)]);
      ctx.io.stdout.write(formatTable(['ADDRESS', 'QUOTA', 'USED', 'MESSAGES'], rows));
    });

  registerUserPop3Commands(user, ctx);
}
