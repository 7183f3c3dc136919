/**
 * mailhaven doctor [--offline] [--all] [--json] [--dns-server IP[:PORT]]... [--timeout MS]
 *
 * Checks the configuration, certificate, listeners, relay safety, DNS and reverse DNS, and says
 * what to fix (src/doctor). Exit status 1 when something must be fixed.
 */
import type { Command } from 'commander';
import { runDoctor, formatFindings } from '../../doctor/index.js';
import { nodeDnsLookup } from '../../http/dns-check.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { formatJson } from '../format.js';
import { configPathOf, leafCommand } from './shared.js';

interface DoctorCommandOptions {
  offline?: boolean;
  all?: boolean;
  json?: boolean;
  dnsServer: string[];
  timeout: string;
}

/** Exit status 1 when a check failed; thrown after the report is printed. */
class DoctorFailed extends Error {
  constructor(count: number) {
    super(`${count} ${count === 1 ? 'problem' : 'problems'} to fix`);
    this.name = 'DoctorFailed';
  }
}

export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  leafCommand(program, 'doctor', 'check configuration, certificate, listeners, relay safety, DNS and reverse DNS, and say what to fix')
    .option('--offline', 'skip the DNS and reverse DNS checks')
    .option('--all', 'also list what is fine')
    .option('--json', 'print the findings as a JSON array')
    .option('--dns-server <address>', 'resolver to ask (repeatable; default: the system\'s)', (value: string, previous: string[]) => [...previous, value], [])
    .option('--timeout <ms>', 'per connection and per DNS query', '3000')
    .action(async (options: DoctorCommandOptions, command: Command) => {
      const timeoutMs = Number(options.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new UsageError(`--timeout: expected milliseconds, got "${options.timeout}"`);
      const findings = await ctx.withStore(configPathOf(command), ({ config, store }) =>
        runDoctor({
          config,
          store,
          dns: nodeDnsLookup({ servers: options.dnsServer, timeoutMs }),
          offline: options.offline ?? false,
          timeoutMs,
        }),
      );
      ctx.io.stdout.write(options.json ? formatJson(findings) : formatFindings(findings, options.all ?? false));
      const failures = findings.filter((finding) => finding.status === 'fail').length;
      if (failures > 0) throw new DoctorFailed(failures);
    });
}
