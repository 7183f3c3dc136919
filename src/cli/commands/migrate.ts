/**
 * mailhaven migrate --to postgres://... [--json]
 *
 * Moves a whole SQLite installation into PostgreSQL (docs/postgres.md) so one node can become
 * several without clients re-downloading: UIDs, UIDVALIDITY, MODSEQ and flags are kept. Stop the
 * server first; then point every node's config at the database.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { formatJson } from '../format.js';
import { configPathOf, leafCommand } from './shared.js';

export function registerMigrateCommand(program: Command, ctx: CliContext): void {
  leafCommand(program, 'migrate', 'copy this SQLite installation into an empty PostgreSQL database (stop the server first)')
    .requiredOption('--to <url>', 'PostgreSQL connection string, e.g. postgres://mail@db/mail')
    .option('--json', 'print the rows copied per table as JSON')
    .action(async (options: { to: string; json?: boolean }, command: Command) => {
      if (!/^postgres(ql)?:\/\//i.test(options.to)) throw new UsageError('--to must be a postgres:// URL');
      const progress = ctx.io.stderr.isTTY === true;
      const report = await ctx.migrateToPostgres(configPathOf(command), options.to, (table, rows) => {
        if (progress) ctx.io.stderr.write(`copying ${table}: ${rows}\n`);
      });
      if (options.json) {
        ctx.io.stdout.write(formatJson(report));
        return;
      }
      const messages = report.messages ?? 0;
      const accounts = report.accounts ?? 0;
      ctx.io.stdout.write(`migrated ${accounts} ${accounts === 1 ? 'account' : 'accounts'} and ${messages} ${messages === 1 ? 'message' : 'messages'} to PostgreSQL\n`);
    });
}
