/**
 * mailhaven dkim generate DOMAIN [--selector S] [--algorithm rsa|ed25519]
 * mailhaven dkim list [DOMAIN] [--json]
 * mailhaven dkim dns DOMAIN [--json]
 * mailhaven dkim activate DOMAIN SELECTOR
 * mailhaven dkim delete DOMAIN SELECTOR [--force]
 *
 * DKIM keys for outbound signing (docs/dkim.md). `generate` prints the TXT record to publish;
 * the first key of a domain signs at once, a later one only after `activate` (rotation: generate,
 * publish, wait for DNS, activate, delete the old key a week later).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadOrCreateSecretKey } from '../../auth/secret.js';
import { DKIM_ALGORITHMS, DkimAdminOperations, zoneFileLine } from '../../queue/dkim-keys.js';
import type { DkimAlgorithm, DkimKeyInfo } from '../../queue/dkim-keys.js';
import { hasDkimKeyStore } from '../../queue/dkim-keys.js';
import { StoreError } from '../../store/types.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { formatJson, formatTable } from '../format.js';
import { configPathOf, leafCommand } from './shared.js';

/** The key file the server uses for shared secrets (src/compose.ts createSharedAuth). */
const SECRET_KEY_FILE = 'secret.key';

function withDkim<T>(ctx: CliContext, command: Command, run: (dkim: DkimAdminOperations) => Promise<T>): Promise<T> {
  return ctx.withStore(configPathOf(command), ({ config, store }) => {
    if (!hasDkimKeyStore(store)) throw new StoreError('cannot', 'this store keeps no DKIM keys');
    return run(new DkimAdminOperations({ store, secretKey: () => loadOrCreateSecretKey(join(config.dataDir, SECRET_KEY_FILE)) }));
  });
}

function parseAlgorithm(value: string): DkimAlgorithm {
  const algorithm = value.toLowerCase();
  if (!(DKIM_ALGORITHMS as readonly string[]).includes(algorithm)) throw new UsageError(`--algorithm must be one of ${DKIM_ALGORITHMS.join(', ')}`);
  return algorithm as DkimAlgorithm;
}

/** The record as people publish it: name, type, value, then the zone-file form. */
function describeRecord(key: DkimKeyInfo): string {
  return [
    `${key.record.name}  TXT  ${key.record.value}`,
    '',
    'As a zone-file line (the value split into 255-octet strings):',
    zoneFileLine(key.record),
    '',
  ].join('\n');
}

export function registerDkimCommands(program: Command, ctx: CliContext): void {
  const dkim = program.command('dkim').description('manage DKIM signing keys for outbound mail (docs/dkim.md)');

  leafCommand(dkim, 'generate', 'create a key for a local domain and print the DNS TXT record to publish')
    .argument('<domain>')
    .option('--selector <selector>', 'selector (default: mh + today\'s date, e.g. mh20261126)')
    .option('--algorithm <algorithm>', 'rsa (2048 bits) or ed25519', 'rsa')
    .option('--json', 'print the key as JSON')
    .action(async (domain: string, options: { selector?: string; algorithm: string; json?: boolean }, command: Command) => {
      const algorithm = parseAlgorithm(options.algorithm);
      const key = await withDkim(ctx, command, (ops) => ops.generate(domain, { algorithm, ...(options.selector === undefined ? {} : { selector: options.selector }) }));
      if (options.json) {
        ctx.io.stdout.write(formatJson(key));
        return;
      }
      const state = key.active
        ? 'active: outgoing mail is signed with it now'
        : `not active yet: publish the record, wait for DNS, then run "mailhaven dkim activate ${key.domain} ${key.selector}"`;
      ctx.io.stdout.write(`Created ${key.algorithm} key ${key.selector} for ${key.domain} (${state}).\nPublish this DNS record:\n\n${describeRecord(key)}`);
    });

  leafCommand(dkim, 'list', 'list keys (of one domain when given)')
    .argument('[domain]')
    .option('--json', 'print a JSON array')
    .action(async (domain: string | undefined, options: { json?: boolean }, command: Command) => {
      const keys = await withDkim(ctx, command, (ops) => ops.list(domain));
      if (options.json) {
        ctx.io.stdout.write(formatJson(keys));
        return;
      }
      const rows = keys.map((k) => [k.domain, k.selector, k.algorithm, k.active ? 'active' : '-', k.createdAt]);
      ctx.io.stdout.write(formatTable(['DOMAIN', 'SELECTOR', 'ALGORITHM', 'ACTIVE', 'CREATED'], rows));
    });

  leafCommand(dkim, 'dns', 'print the DKIM TXT records to publish for a domain (every key it has)')
    .argument('<domain>')
    .option('--json', 'print a JSON array of {name, type, value}')
    .action(async (domain: string, options: { json?: boolean }, command: Command) => {
      const keys = await withDkim(ctx, command, (ops) => ops.dns(domain));
      if (options.json) {
        ctx.io.stdout.write(formatJson(keys.map((key) => key.record)));
        return;
      }
      ctx.io.stdout.write(keys.map((key) => `; ${key.selector} (${key.algorithm}${key.active ? ', active' : ''})\n${describeRecord(key)}`).join('\n'));
    });

  leafCommand(dkim, 'activate', 'sign new mail of the domain with this key (publish its record first)')
    .argument('<domain>')
    .argument('<selector>')
    .action(async (domain: string, selector: string, _options: unknown, command: Command) => {
      await withDkim(ctx, command, (ops) => ops.activate(domain, selector));
    });

  leafCommand(dkim, 'delete', 'delete a key (remove its DNS record afterwards)')
    .alias('del')
    .argument('<domain>')
    .argument('<selector>')
    .option('--force', 'also delete the active key (mail then goes out unsigned)')
    .action(async (domain: string, selector: string, options: { force?: boolean }, command: Command) => {
      await withDkim(ctx, command, (ops) => ops.delete(domain, selector, { force: options.force === true }));
    });
}
