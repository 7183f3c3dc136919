/**
 * mailhaven user apop ADDRESS (--secret-stdin | --disable)
 * mailhaven user pop3-retention ADDRESS DAYS|never|inherit
 * mailhaven domain pop3-retention DOMAIN DAYS|never
 *
 * See docs/pop3.md: the shared secret serves APOP (and CRAM-MD5, SCRAM-SHA-256); retention
 * deletes INBOX messages N days after their first POP3 download.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { Pop3AdminOperations, parseRetention } from '../../admin/pop3.js';
import { loadOrCreateSecretKey } from '../../auth/secret.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { readPasswordLine } from '../stdin.js';
import { configPathOf, leafCommand } from './shared.js';

/** The key file the server uses for shared secrets (src/compose.ts createSharedAuth). */
const SECRET_KEY_FILE = 'secret.key';

function withPop3Admin<T>(ctx: CliContext, command: Command, run: (admin: Pop3AdminOperations) => Promise<T>): Promise<T> {
  return ctx.withStore(configPathOf(command), ({ config, store }) =>
    run(new Pop3AdminOperations({ store, secretKey: () => loadOrCreateSecretKey(join(config.dataDir, SECRET_KEY_FILE)) })),
  );
}

export function registerUserPop3Commands(user: Command, ctx: CliContext): void {
  leafCommand(user, 'apop', 'set (from the first line of standard input) or remove the shared secret for APOP, CRAM-MD5 and SCRAM-SHA-256')
    .argument('<address>')
    .option('--secret-stdin', 'read the secret from the first line of standard input')
    .option('--disable', 'remove the secret')
    .action(async (address: string, options: { secretStdin?: boolean; disable?: boolean }, command: Command) => {
      if (options.secretStdin === options.disable) throw new UsageError('user apop needs exactly one of --secret-stdin and --disable');
      if (options.disable) {
        await withPop3Admin(ctx, command, (admin) => admin.removeSharedSecret(address));
        return;
      }
      const secret = await readPasswordLine(ctx.io.stdin);
      await withPop3Admin(ctx, command, (admin) => admin.setSharedSecret(address, secret));
    });

  leafCommand(user, 'pop3-retention', 'delete INBOX mail DAYS days after its first POP3 download; "never", or "inherit" the domain\'s policy')
    .argument('<address>')
    .argument('<days>')
    .action(async (address: string, days: string, _options: unknown, command: Command) => {
      const setting = parseRetention(days, true);
      await withPop3Admin(ctx, command, (admin) => admin.setRetention({ address }, setting));
    });
}

export function registerDomainPop3Commands(domain: Command, ctx: CliContext): void {
  leafCommand(domain, 'pop3-retention', 'default for the domain\'s users: delete INBOX mail DAYS days after its first POP3 download, or "never"')
    .argument('<domain>')
    .argument('<days>')
    .action(async (name: string, days: string, _options: unknown, command: Command) => {
      const setting = parseRetention(days, false);
      await withPop3Admin(ctx, command, (admin) => admin.setRetention({ domain: name }, setting));
    });
}
