/**
 * mailhaven domain add|del DOMAIN
 * mailhaven domain list [--json]
 * mailhaven domain pop3-retention (./pop3.ts)
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { formatJson, formatTable } from '../format.js';
import { registerDomainPop3Commands } from './pop3.js';
import { leafCommand, withAdmin } from './shared.js';

export function registerDomainCommands(program: Command, ctx: CliContext): void {
  const domain = program.command('domain').description('manage the mail domains this server receives mail for');

  leafCommand(domain, 'add', 'add a domain (IDN names are stored as A-labels)')
    .argument('<domain>')
    .action(async (name: string, _options: unknown, command: Command) => {
      await withAdmin(ctx, command, (admin) => admin.addDomain(name));
    });

  leafCommand(domain, 'del', 'delete a domain that has no users or aliases left')
    .alias('delete')
    .argument('<domain>')
    .action(async (name: string, _options: unknown, command: Command) => {
      await withAdmin(ctx, command, (admin) => admin.deleteDomain(name));
    });

  leafCommand(domain, 'list', 'list domains with their user and alias counts')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const domains = await withAdmin(ctx, command, (admin) => admin.listDomains());
      if (options.json) {
        ctx.io.stdout.write(formatJson(domains));
        return;
      }
      const rows = domains.map((d) => [d.name, String(d.users), String(d.aliases), d.createdAt]);
      ctx.io.stdout.write(formatTable(['DOMAIN', 'USERS', 'ALIASES', 'CREATED'], rows));
    });

  registerDomainPop3Commands(domain, ctx);
}
