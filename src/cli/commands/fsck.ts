/**
 * mailhaven fsck [--repair] [--deep] [--json]
 *
 * Verifies the store: mailbox counters, UIDNEXT and HIGHESTMODSEQ, quota usage, account MODSEQ,
 * the change log, the message index, and blobs against the rows that name them (src/fsck).
 * --repair recomputes counters and usage and queues orphan blobs for the sweeper; it never deletes
 * a message. Exit status 0 when no problem is left, 1 otherwise. Safe while the server runs.
 */
import type { Command } from 'commander';
import { formatFsckReport, runFsck } from '../../fsck/index.js';
import { isCheckable } from '../../store/checker.js';
import type { CliContext } from '../context.js';
import { formatJson } from '../format.js';
import { configPathOf, leafCommand } from './shared.js';

interface FsckCommandOptions {
  repair?: boolean;
  deep?: boolean;
  json?: boolean;
}

/** Exit status 1 when problems remain; thrown after the report is printed. */
class FsckFailed extends Error {
  constructor(count: number) {
    super(`${count} ${count === 1 ? 'problem' : 'problems'} in the store`);
    this.name = 'FsckFailed';
  }
}

export function registerFsckCommand(program: Command, ctx: CliContext): void {
  leafCommand(program, 'fsck', 'verify the store (counters, quota, change log, blobs); --repair fixes what can be fixed without losing mail')
    .option('--repair', 'recompute counters and quota usage, queue orphan blobs for deletion; never deletes a message')
    .option('--deep', 'also verify the SHA-256 of every referenced blob (reads every message)')
    .option('--json', 'print the report as JSON')
    .action(async (options: FsckCommandOptions, command: Command) => {
      const report = await ctx.withStore(configPathOf(command), async ({ store }) => {
        if (!isCheckable(store)) throw new Error('this storage backend cannot be checked');
        return runFsck(store.checker(), { deep: options.deep ?? false, repair: options.repair ?? false });
      });
      ctx.io.stdout.write(options.json ? formatJson(report) : formatFsckReport(report));
      const problems = report.findings.filter((finding) => finding.severity === 'problem').length;
      if (problems > 0) throw new FsckFailed(problems);
    });
}
