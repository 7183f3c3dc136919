/**
 * mailhaven queue list [--json]
 * mailhaven queue show ID
 * mailhaven queue retry ID | --all
 * mailhaven queue delete ID
 * mailhaven queue flush
 *
 * The outbound queue (docs/outbound.md). These commands change the store only; a running server
 * sees the change at its next queue scan (`[queue] interval`, 5 s by default), on every node of a
 * PostgreSQL cluster alike: `retry` and `flush` make entries due now, the worker claims them.
 */
import type { Command } from 'commander';
import type { OutboundQueueStore, QueueEntry } from '../../queue/types.js';
import { hasOutboundQueue } from '../../queue/types.js';
import { StoreError } from '../../store/types.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { formatJson, formatTable } from '../format.js';
import { configPathOf, leafCommand } from './shared.js';

/** Entries `queue list` reads at most; the summary line gives the real count. */
const LIST_LIMIT = 10_000;

function withQueue<T>(ctx: CliContext, command: Command, run: (queue: OutboundQueueStore) => Promise<T>): Promise<T> {
  return ctx.withStore(configPathOf(command), ({ store }) => {
    if (!hasOutboundQueue(store)) throw new StoreError('cannot', 'this store has no outbound queue');
    return run(store);
  });
}

function parseId(text: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(text)) throw new UsageError(`not a queue id: ${text}`);
  return Number(text);
}

export function registerQueueCommands(program: Command, ctx: CliContext): void {
  const queue = program.command('queue').description('inspect and manage the outbound queue');

  leafCommand(queue, 'list', 'list queued messages, oldest first, with each recipient\'s state')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const { entries, total } = await withQueue(ctx, command, async (store) => ({
        entries: await store.listQueue(LIST_LIMIT),
        total: (await store.queueSummary()).entries,
      }));
      if (options.json) {
        ctx.io.stdout.write(formatJson(entries.map(entryView)));
        return;
      }
      const rows = entries.map((entry) => [
        String(entry.id),
        entry.createdAt.toISOString(),
        String(entry.size),
        entry.sender === '' ? '<>' : entry.sender,
        entry.recipients.map((r) => `${r.address} (${r.state})`).join(', '),
        String(entry.attempts),
        entry.leaseOwner !== null && entry.leaseUntil !== null && entry.leaseUntil.getTime() > Date.now() ? 'sending' : entry.nextAttemptAt.toISOString(),
      ]);
      ctx.io.stdout.write(formatTable(['ID', 'QUEUED', 'SIZE', 'SENDER', 'RECIPIENTS', 'ATTEMPTS', 'NEXT'], rows));
      ctx.io.stdout.write(`${total} ${total === 1 ? 'message' : 'messages'} queued${total > entries.length ? ` (first ${entries.length} listed)` : ''}\n`);
    });

  leafCommand(queue, 'show', 'show one queued message: envelope, recipients, last errors')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const entry = await withQueue(ctx, command, (store) => store.getQueueEntry(parseId(id)));
      if (entry === null) throw new StoreError('notFound', `no queued message ${id}`);
      ctx.io.stdout.write(options.json ? formatJson(entryView(entry)) : describe(entry));
    });

  leafCommand(queue, 'retry', 'make a queued message (or every one, --all) due now')
    .argument('[id]')
    .option('--all', 'every queued message')
    .action(async (id: string | undefined, options: { all?: boolean }, command: Command) => {
      if ((id === undefined) === (options.all !== true)) throw new UsageError('give a queue id or --all');
      const target = options.all === true ? 'all' : parseId(id ?? '');
      const count = await withQueue(ctx, command, (store) => store.retryQueueEntries(target, new Date()));
      if (target !== 'all' && count === 0) throw new StoreError('notFound', `no queued message ${id}`);
      ctx.io.stdout.write(`${count} ${count === 1 ? 'message' : 'messages'} due now\n`);
    });

  leafCommand(queue, 'flush', 'make every queued message due now (the same as retry --all)')
    .action(async (_options: unknown, command: Command) => {
      const count = await withQueue(ctx, command, (store) => store.retryQueueEntries('all', new Date()));
      ctx.io.stdout.write(`${count} ${count === 1 ? 'message' : 'messages'} due now\n`);
    });

  leafCommand(queue, 'delete', 'remove a queued message without sending it or a bounce')
    .alias('del')
    .argument('<id>')
    .action(async (id: string, _options: unknown, command: Command) => {
      await withQueue(ctx, command, async (store) => {
        const numeric = parseId(id);
        if ((await store.getQueueEntry(numeric)) === null) throw new StoreError('notFound', `no queued message ${id}`);
        await store.removeQueueEntry(numeric);
      });
    });
}

function entryView(entry: QueueEntry): Record<string, unknown> {
  return {
    id: entry.id,
    sender: entry.sender,
    size: entry.size,
    createdAt: entry.createdAt.toISOString(),
    nextAttemptAt: entry.nextAttemptAt.toISOString(),
    attempts: entry.attempts,
    lastError: entry.lastError,
    lease: entry.leaseOwner === null ? null : { owner: entry.leaseOwner, until: entry.leaseUntil?.toISOString() ?? null },
    ret: entry.ret,
    envid: entry.envid,
    body: entry.body,
    smtputf8: entry.smtputf8,
    submitter: entry.submitter,
    clientAddress: entry.clientAddress,
    delayNotified: entry.delayNotified,
    recipients: entry.recipients.map((r) => ({
      address: r.address,
      kind: r.kind,
      state: r.state,
      notify: r.notify,
      orcpt: r.orcpt,
      last: r.last === null ? null : { ...r.last, at: new Date(r.last.at).toISOString() },
    })),
  };
}

function describe(entry: QueueEntry): string {
  const lines = [
    `id:          ${entry.id}`,
    `sender:      ${entry.sender === '' ? '<>' : entry.sender}`,
    `size:        ${entry.size}`,
    `queued:      ${entry.createdAt.toISOString()}`,
    `attempts:    ${entry.attempts}`,
    `next:        ${entry.nextAttemptAt.toISOString()}`,
    `submitter:   ${entry.submitter ?? '-'} from ${entry.clientAddress}`,
    `dsn:         RET=${entry.ret ?? '-'} ENVID=${entry.envid ?? '-'}`,
  ];
  if (entry.leaseOwner !== null) lines.push(`lease:       ${entry.leaseOwner} until ${entry.leaseUntil?.toISOString() ?? '?'}`);
  lines.push('recipients:');
  for (const r of entry.recipients) {
    const last = r.last === null ? '' : ` — ${r.last.diagnostic}${r.last.remoteMta === null ? '' : ` (${r.last.remoteMta})`}`;
    lines.push(`  ${r.address} [${r.kind}] ${r.state}${last}`);
  }
  return `${lines.join('\n')}\n`;
}
