/**
 * mailhaven sendmail [-t] [-i|-oi] [-f SENDER] [-F NAME] [RECIPIENT...] < message
 *
 * Sendmail-compatible submission for cron and local programs (docs/sendmail.md). Its options
 * are sendmail's, not ours, so they are parsed by src/sendmail/args.ts rather than commander;
 * --config works as everywhere.
 */
import { userInfo } from 'node:os';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { SendmailUsageError, parseSendmailArguments } from '../../sendmail/args.js';
import type { SendmailArguments } from '../../sendmail/args.js';
import { SendmailError, sendmail } from '../../sendmail/submit.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { configPathOf, leafCommand } from './shared.js';

export function registerSendmailCommand(program: Command, ctx: CliContext): void {
  leafCommand(program, 'sendmail', 'deliver a message from standard input, with sendmail(1) options (-t, -f, -i/-oi, -F)')
    .argument('[arguments...]', 'sendmail options and recipients')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(async (argv: string[], _options: unknown, command: Command) => {
      const args = parseArguments(argv);
      await ctx.withStore(configPathOf(command), async ({ config, store }) => {
        // Read once the store is open, so a configuration error never swallows the message silently.
        const input = await readAll(ctx.io.stdin, config.limits.messageSize + 1);
        const user = currentUser(ctx.io.env);
        const result = await sendmail(args, input, { store, config, username: user.name, uid: user.uid });
        for (const warning of result.warnings) ctx.io.stderr.write(`mailhaven: ${warning}\n`);
        if (result.warnings.length > 0) throw new SendmailError(`${result.warnings.length} recipient(s) not served`);
      });
    });
}

function parseArguments(argv: readonly string[]): SendmailArguments {
  try {
    return parseSendmailArguments(argv);
  } catch (err) {
    if (err instanceof SendmailUsageError) throw new UsageError(err.message);
    throw err;
  }
}

/** At most `limit` octets: more is refused by sendmail() with the size message. */
async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    chunks.push(bytes);
    size += bytes.length;
    if (size >= limit) break;
  }
  return Buffer.concat(chunks);
}

function currentUser(env: Readonly<Record<string, string | undefined>>): { name: string; uid: number | null } {
  try {
    const info = userInfo();
    return { name: info.username, uid: info.uid >= 0 ? info.uid : null };
  } catch {
    return { name: env.USER ?? env.LOGNAME ?? 'nobody', uid: null };
  }
}
