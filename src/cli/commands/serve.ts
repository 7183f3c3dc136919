/** mailhaven serve: run the SMTP, IMAP and POP3 listeners until SIGTERM/SIGINT. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { configPathOf, leafCommand } from './shared.js';

export function registerServeCommand(program: Command, ctx: CliContext): void {
  leafCommand(program, 'serve', 'run the mail server (SMTP, IMAP, POP3) until stopped by SIGTERM or SIGINT').action(
    async (_options: unknown, command: Command) => {
      await ctx.serve(configPathOf(command));
    },
  );
}
