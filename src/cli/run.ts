/**
 * Runs one command line and returns the exit status. Every failure becomes exactly one line
 * `mailhaven: <reason>` on stderr; the status tells its kind (src/cli/exit-codes.ts).
 */
import { CommanderError } from 'commander';
import { AdminError } from '../admin/errors.js';
import { ConfigError } from '../config/errors.js';
import { ImportError } from '../import/errors.js';
import { StoreError } from '../store/types.js';
import type { CliContext } from './context.js';
import { UsageError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { PROGRAM_NAME, buildProgram } from './program.js';

export async function runCli(argv: readonly string[], ctx: CliContext, version: string): Promise<ExitCode> {
  const program = buildProgram(ctx, version);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ExitCode.ok;
  } catch (err) {
    const { code, message } = describeFailure(err);
    if (message !== null) ctx.io.stderr.write(`${PROGRAM_NAME}: ${message}\n`);
    if (ctx.io.env.MAILHAVEN_DEBUG && err instanceof Error && err.stack) ctx.io.stderr.write(`${err.stack}\n`);
    return code;
  }
}

interface Failure {
  code: ExitCode;
  /** null: nothing to print (help or version was shown). */
  message: string | null;
}

function describeFailure(err: unknown): Failure {
  if (err instanceof CommanderError) return describeCommanderError(err);
  if (err instanceof UsageError) return { code: ExitCode.usage, message: err.message };
  if (err instanceof AdminError) return { code: err.code === 'usage' ? ExitCode.usage : ExitCode.failure, message: err.message };
  if (err instanceof ConfigError) return { code: ExitCode.config, message: describeConfigError(err) };
  if (err instanceof ImportError || err instanceof StoreError) return { code: ExitCode.failure, message: err.message };
  return { code: ExitCode.failure, message: oneLine(err instanceof Error ? err.message : String(err)) };
}

function describeCommanderError(err: CommanderError): Failure {
  switch (err.code) {
    case 'commander.helpDisplayed':
    case 'commander.version':
      return { code: ExitCode.ok, message: null };
    case 'commander.help':
      // A command group without its subcommand (`mailhaven user`): commander wanted to show help.
      return { code: ExitCode.usage, message: 'missing command (see mailhaven --help)' };
    default:
      return { code: ExitCode.usage, message: oneLine(err.message.replace(/^error: /, '')) };
  }
}

/** The first problem as `<file>: <key>: <reason>`, and how many more there are. */
function describeConfigError(err: ConfigError): string {
  const [first = err.message, ...rest] = err.message.split('\n');
  return rest.length === 0 ? first : `${first} (and ${rest.length} more ${rest.length === 1 ? 'problem' : 'problems'})`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
