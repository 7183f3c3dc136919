/**
 * mailhaven alias add ALIAS TARGET...
 * mailhaven alias del ALIAS
 * mailhaven alias list [--json]
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { formatJson, formatTable } from '../format.js';
import { leafCommand, withAdmin } from './shared.js';

export function registerAliasCommands(program: Command, ctx: CliContext): void {
  const alias = program.command('alias').description('manage aliases (forwardings), including catch-all "@domain"');

  leafCommand(alias, 'add', 'forward ALIAS (an address, or @domain for a catch-all) to one or more addresses')
    .argument('<alias>')
    .argument('<targets...>')
    .action(async (source: string, targets: string[], _options: unknown, command: Command) => {
      await withAdmin(ctx, command, (admin) => admin.addAlias(source, targets));
    });

  leafCommand(alias, 'del', 'delete an alias')
    .alias('delete')
    .argument('<alias>')
    .action(async (source: string, _options: unknown, command: Command) => {
      await withAdmin(ctx, command, (admin) => admin.deleteAlias(source));
    });

  leafCommand(alias, 'list', 'list aliases and their targets')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const aliases = await withAdmin(ctx, command, (admin) => admin.listAliases());
      if (options.json) {
        ctx.io.stdout.write(formatJson(aliases));
        return;
      }
      const rows = aliases.map((a) => [a.address, a.targets.join(', ')]);
      ctx.io.stdout.write(formatTable(['ALIAS', 'TARGETS'], rows));
    });
}
