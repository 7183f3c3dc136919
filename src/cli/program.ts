/**
 * The command table. Parsing and printing only; the work is done by src/admin (accounts,
 * domains, aliases), src/import and src/server.ts.
 */
import { Command } from 'commander';
import type { CliContext } from './context.js';
import { registerAliasCommands } from './commands/alias.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerDkimCommands } from './commands/dkim.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerDomainCommands } from './commands/domain.js';
import { registerExportCommand } from './commands/export.js';
import { registerFsckCommand } from './commands/fsck.js';
import { registerImportCommand } from './commands/import.js';
import { registerQueueCommands } from './commands/queue.js';
import { registerSendmailCommand } from './commands/sendmail.js';
import { registerServeCommand } from './commands/serve.js';
import { CONFIG_OPTION_FLAGS, CONFIG_OPTION_HELP } from './commands/shared.js';
import { registerTokenCommands } from './commands/token.js';
import { registerUserCommands } from './commands/user.js';

export const PROGRAM_NAME = 'mailhaven';

/**
 * Builds the commander program. Commander never exits the process nor prints errors itself
 * (exitOverride, outputError): src/cli/run.ts turns its errors into one line and an exit status.
 */
export function buildProgram(ctx: CliContext, version: string): Command {
  const program = new Command(PROGRAM_NAME)
    .description('Mailhaven mail server (SMTP, IMAP4rev1, POP3) and its administration')
    .version(version, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.io.stdout.write(text),
      // Help shown because a command is missing is replaced by one error line (run.ts).
      writeErr: () => undefined,
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true)
    .option(CONFIG_OPTION_FLAGS, CONFIG_OPTION_HELP);

  registerServeCommand(program, ctx);
  registerDomainCommands(program, ctx);
  registerUserCommands(program, ctx);
  registerAliasCommands(program, ctx);
  registerImportCommand(program, ctx);
  registerTokenCommands(program, ctx);
  registerDkimCommands(program, ctx);
  registerSendmailCommand(program, ctx);
  registerQueueCommands(program, ctx);
  registerDoctorCommand(program, ctx);
  registerBackupCommands(program, ctx);
  registerMigrateCommand(program, ctx);
  registerExportCommand(program, ctx);
  registerFsckCommand(program, ctx);
  return program;
}
