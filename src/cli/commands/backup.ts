/**
 * mailhaven backup DIR [--json]
 * mailhaven restore DIR [--verify]
 *
 * A consistent copy of the data directory while the server runs, and its restore into an empty
 * data directory (src/backup, docs/deploy.md).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { BackupError, backupSqlite, restoreSqlite } from '../../backup/index.js';
import type { BackupManifest } from '../../backup/index.js';
import type { Config } from '../../config/types.js';
import { loadConfig } from '../../config/load.js';
import type { CliContext } from '../context.js';
import { formatJson } from '../format.js';
import { configPathOf, leafCommand } from './shared.js';

export function registerBackupCommands(program: Command, ctx: CliContext): void {
  leafCommand(program, 'backup', 'copy the store (database, mail, keys) into a new directory; safe while the server runs')
    .argument('<dir>')
    .option('--json', 'print the manifest as JSON')
    .action(async (dir: string, options: { json?: boolean }, command: Command) => {
      // The store is opened (and closed) first: it migrates the schema and proves the configuration.
      const config = await ctx.withStore(configPathOf(command), ({ config: loaded }) => Promise.resolve(loaded));
      requireSqlite(config);
      const manifest = await backupSqlite({ dataDir: config.dataDir, target: resolve(ctx.io.cwd, dir), hostname: config.hostname });
      ctx.io.stdout.write(options.json ? formatJson(manifest) : summary('backed up', manifest));
    });

  leafCommand(program, 'restore', 'restore a backup into the configured data directory, which must be empty (stop the server first)')
    .argument('<dir>')
    .option('--verify', 'check every message file against its hash while restoring')
    .action(async (dir: string, options: { verify?: boolean }, command: Command) => {
      // Not through withStore: opening the store would create a database in the empty directory.
      const config = loadConfig({ configPath: configPathOf(command), env: { ...ctx.io.env }, cwd: ctx.io.cwd });
      requireSqlite(config);
      const manifest = await restoreSqlite({ source: resolve(ctx.io.cwd, dir), dataDir: config.dataDir, verify: options.verify ?? false });
      ctx.io.stdout.write(summary('restored', manifest));
    });
}

function requireSqlite(config: Config): void {
  if (config.storage.backend !== 'sqlite') {
    throw new BackupError(`storage.backend is "${config.storage.backend}": back up PostgreSQL with pg_dump (docs/deploy.md)`);
  }
}

function summary(verb: string, manifest: BackupManifest): string {
  const mib = (manifest.blobBytes / 1024 / 1024).toFixed(1);
  return `${verb} ${manifest.accounts} ${manifest.accounts === 1 ? 'account' : 'accounts'}, ${manifest.messages} ${manifest.messages === 1 ? 'message' : 'messages'} (${manifest.blobs} files, ${mib} MiB) from ${manifest.createdAt}\n`;
}
