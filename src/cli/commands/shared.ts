/** Pieces every command module uses: the --config option and an AdminOperations bound to the store. */
import type { Command } from 'commander';
import { AdminOperations } from '../../admin/operations.js';
import type { CliContext, CommonOptions } from '../context.js';

export const CONFIG_OPTION_FLAGS = '--config <file>';
export const CONFIG_OPTION_HELP = 'configuration file (default: $MAILHAVEN_CONFIG, else ./mailhaven.toml, else built-in defaults)';

/** A subcommand that accepts --config after its arguments too (`mailhaven user list --config x.toml`). */
export function leafCommand(parent: Command, name: string, description: string): Command {
  return parent.command(name).description(description).option(CONFIG_OPTION_FLAGS, CONFIG_OPTION_HELP);
}

export function configPathOf(command: Command): string | undefined {
  return command.optsWithGlobals<CommonOptions>().config;
}

export async function withAdmin<T>(ctx: CliContext, command: Command, run: (admin: AdminOperations) => Promise<T>): Promise<T> {
  return ctx.withStore(configPathOf(command), ({ store }) => run(new AdminOperations({ store })));
}
