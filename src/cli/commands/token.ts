/**
 * mailhaven token create NAME
 * mailhaven token list [--json]
 * mailhaven token revoke NAME
 *
 * Bearer tokens for the HTTP admin API and web admin (docs/http.md). `create` prints the token
 * once on stdout; only its SHA-256 is stored.
 */
import type { Command } from 'commander';
import { TokenOperations } from '../../http/tokens.js';
import type { CliContext } from '../context.js';
import { formatJson, formatTable } from '../format.js';
import { configPathOf, leafCommand } from './shared.js';

function withTokens<T>(ctx: CliContext, command: Command, run: (tokens: TokenOperations) => Promise<T>): Promise<T> {
  return ctx.withStore(configPathOf(command), ({ store }) => run(new TokenOperations(store)));
}

export function registerTokenCommands(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('manage admin API tokens (HTTP /api and the web admin)');

  leafCommand(token, 'create', 'create a token and print it once (store it now: only its hash is kept)')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      const created = await withTokens(ctx, command, (tokens) => tokens.create(name));
      ctx.io.stdout.write(`${created.token}\n`);
    });

  leafCommand(token, 'list', 'list tokens by name, with creation and last use')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const tokens = await withTokens(ctx, command, (operations) => operations.list());
      if (options.json) {
        ctx.io.stdout.write(formatJson(tokens));
        return;
      }
      const rows = tokens.map((t) => [t.name, t.createdAt, t.lastUsedAt ?? 'never']);
      ctx.io.stdout.write(formatTable(['NAME', 'CREATED', 'LAST USED'], rows));
    });

  leafCommand(token, 'revoke', 'delete a token: requests using it are refused at once')
    .alias('del')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      await withTokens(ctx, command, (tokens) => tokens.revoke(name));
    });
}
