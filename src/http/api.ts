/**
 * The JSON admin API under /api/, behind a bearer token (./auth.ts). It mirrors the CLI and
 * calls the same admin operations (src/admin), so validation, wording and effects are the same:
 * a change is one store transaction that running sessions see through the change log.
 *
 * Errors: `{"error": {"code", "message"}}` with the status of ./errors.ts ADMIN_ERROR_STATUS.
 * docs/http.md lists every route with its body.
 * @module
 */
import { z } from 'zod';
import { normalizeDomain } from '../admin/address.js';
import { AdminError } from '../admin/errors.js';
import type { AdminOperations } from '../admin/operations.js';
import type { Pop3AdminOperations } from '../admin/pop3.js';
import { parseRetention } from '../admin/pop3.js';
import { parseQuotaSize } from '../admin/size.js';
import { DKIM_ALGORITHMS } from '../queue/dkim-keys.js';
import type { DkimAdminOperations, DkimAlgorithm, DkimKeyInfo } from '../queue/dkim-keys.js';
import type { QueueEntry } from '../queue/types.js';
import { hasOutboundQueue } from '../queue/types.js';
import type { Directory } from '../store/types.js';
import type { ClientSettings } from './client-settings.js';
import type { DnsLookup } from './dns-check.js';
import { checkRecords } from './dns-check.js';
import { domainDnsRecords } from './dns-records.js';
import type { DkimPublicKey } from './dns-records.js';
import { HttpError } from './errors.js';
import type { MtaStsPolicy } from './mta-sts.js';
import { emptyReply, jsonReply } from './reply.js';
import type { Reply } from './reply.js';
import type { RequestContext, Route } from './router.js';
import type { TokenOperations } from './tokens.js';

export interface ApiDependencies {
  /** The store as the API reads it directly (domains for the DNS view, the queue). */
  store: Pick<Directory, 'getDomain' | 'listDomains'> & object;
  admin: AdminOperations;
  pop3: Pop3AdminOperations;
  tokens: TokenOperations;
  settings: ClientSettings;
  mtaSts: MtaStsPolicy | null;
  /** A resolver for the live DNS check (made per check, so a slow server does not pile up state). */
  dns: () => DnsLookup;
  /** DKIM keys (docs/dkim.md); null when the store keeps none. */
  dkim?: DkimAdminOperations | null;
}

/** Queue entries listed at most (the web admin shows the oldest first). */
const QUEUE_LIST_LIMIT = 1000;

const quotaValue = z.union([z.number().int().nonnegative(), z.string(), z.null()]);
const retentionValue = z.union([z.number().int(), z.string()]);
const bodies = {
  domain: z.object({ name: z.string() }),
  user: z.object({ address: z.string(), password: z.string().optional(), quota: quotaValue.optional() }),
  password: z.object({ password: z.string() }),
  quota: z.object({ quota: quotaValue }),
  secret: z.object({ secret: z.string() }),
  retention: z.object({ days: retentionValue }),
  alias: z.object({ address: z.string(), targets: z.array(z.string()).min(1) }),
  token: z.object({ name: z.string() }),
  dkim: z.object({ domain: z.string(), selector: z.string().optional(), algorithm: z.enum(DKIM_ALGORITHMS as [DkimAlgorithm, ...DkimAlgorithm[]]).optional() }),
};

export function apiRoutes(deps: ApiDependencies): Route[] {
  const route = (method: Route['method'], path: string, handle: Route['handle']): Route => ({ method, path, auth: 'token', handle });
  const { admin, pop3, tokens } = deps;
  return [
    route('GET', '/api/whoami', (ctx) => jsonReply(200, { token: ctx.token?.name ?? null })),

    route('GET', '/api/domains', async () => jsonReply(200, await admin.listDomains())),
    route('POST', '/api/domains', async (ctx) => jsonReply(201, await admin.addDomain((await body(ctx, bodies.domain)).name))),
    route('DELETE', '/api/domains/:domain', (ctx) => noContent(admin.deleteDomain(param(ctx, 'domain')))),
    route('PUT', '/api/domains/:domain/pop3-retention', async (ctx) => {
      const { days } = await body(ctx, bodies.retention);
      return noContent(pop3.setRetention({ domain: param(ctx, 'domain') }, parseRetention(String(days), false)));
    }),
    route('GET', '/api/domains/:domain/dns', (ctx) => dnsView(ctx, deps)),
    route('GET', '/api/dkim', () => dkimOverview(deps)),
    route('POST', '/api/dkim', async (ctx) => {
      const input = await body(ctx, bodies.dkim);
      const options = { ...(input.selector === undefined ? {} : { selector: input.selector }), ...(input.algorithm === undefined ? {} : { algorithm: input.algorithm }) };
      return jsonReply(201, await dkimOperations(deps).generate(input.domain, options));
    }),
    route('GET', '/api/dkim/:domain', async (ctx) => jsonReply(200, await dkimOperations(deps).list(param(ctx, 'domain')))),
    route('POST', '/api/dkim/:domain/:selector/activate', (ctx) => noContent(dkimOperations(deps).activate(param(ctx, 'domain'), param(ctx, 'selector')))),
    route('DELETE', '/api/dkim/:domain/:selector', (ctx) =>
      noContent(dkimOperations(deps).delete(param(ctx, 'domain'), param(ctx, 'selector'), { force: ctx.query.get('force') === '1' })),
    ),

    route('GET', '/api/users', async () => jsonReply(200, await admin.listUsers())),
    route('POST', '/api/users', async (ctx) => {
      const input = await body(ctx, bodies.user);
      const quotaBytes = input.quota === undefined ? null : quotaBytesOf(input.quota);
      const result = await admin.addUser(input.address, input.password === undefined ? { quotaBytes } : { password: input.password, quotaBytes });
      return jsonReply(201, result);
    }),
    route('GET', '/api/users/:address', async (ctx) => jsonReply(200, await admin.getUser(param(ctx, 'address')))),
    route('DELETE', '/api/users/:address', (ctx) => noContent(admin.deleteUser(param(ctx, 'address')))),
    route('PUT', '/api/users/:address/password', async (ctx) => noContent(admin.setPassword(param(ctx, 'address'), (await body(ctx, bodies.password)).password))),
    route('PUT', '/api/users/:address/quota', async (ctx) => noContent(admin.setQuota(param(ctx, 'address'), quotaBytesOf((await body(ctx, bodies.quota)).quota)))),
    route('PUT', '/api/users/:address/apop', async (ctx) => noContent(pop3.setSharedSecret(param(ctx, 'address'), (await body(ctx, bodies.secret)).secret))),
    route('DELETE', '/api/users/:address/apop', (ctx) => noContent(pop3.removeSharedSecret(param(ctx, 'address')))),
    route('PUT', '/api/users/:address/pop3-retention', async (ctx) => {
      const { days } = await body(ctx, bodies.retention);
      return noContent(pop3.setRetention({ address: param(ctx, 'address') }, parseRetention(String(days), true)));
    }),

    route('GET', '/api/aliases', async () => jsonReply(200, await admin.listAliases())),
    route('POST', '/api/aliases', async (ctx) => {
      const input = await body(ctx, bodies.alias);
      return jsonReply(201, await admin.addAlias(input.address, input.targets));
    }),
    route('DELETE', '/api/aliases/:address', (ctx) => noContent(admin.deleteAlias(param(ctx, 'address')))),

    route('GET', '/api/queue', () => queueView(deps)),

    route('GET', '/api/tokens', async () => jsonReply(200, await tokens.list())),
    route('POST', '/api/tokens', async (ctx) => {
      const created = await tokens.create((await body(ctx, bodies.token)).name);
      return jsonReply(201, { token: created.token, ...created.info });
    }),
    route('DELETE', '/api/tokens/:name', (ctx) => noContent(tokens.revoke(param(ctx, 'name')))),
  ];
}

/** 204 once the operation finished. */
async function noContent(operation: Promise<void>): Promise<Reply> {
  await operation;
  return emptyReply(204);
}

function param(ctx: RequestContext, name: string): string {
  const value = ctx.params[name];
  if (value === undefined) throw new HttpError(404, 'notFound', `missing ${name}`);
  return value;
}

async function body<T>(ctx: RequestContext, schema: z.ZodType<T>): Promise<T> {
  const result = schema.safeParse(await ctx.json());
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const where = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.join('.');
  throw new HttpError(400, 'badRequest', `${where}: ${issue?.message ?? 'invalid'}`);
}

/** Bytes as a number (0 = unlimited), a size as the CLI takes it ("2G", "unlimited"), or null. */
function quotaBytesOf(value: number | string | null): number | null {
  if (value === null) return null;
  if (typeof value === 'number') return value === 0 ? null : value;
  return parseQuotaSize(value);
}

/** The records to publish; with ?check=1 also what DNS answers now, one check per record. */
async function dnsView(ctx: RequestContext, deps: ApiDependencies): Promise<Reply> {
  const domain = normalizeDomain(param(ctx, 'domain'));
  if ((await deps.store.getDomain(domain)) === null) throw new AdminError('notFound', `no such domain: ${domain}`);
  const view = domainDnsRecords(domain, deps.settings, { mtaSts: deps.mtaSts, dkim: await dkimPublicKey(deps, domain) });
  const wantsCheck = ['1', 'true', 'yes'].includes((ctx.query.get('check') ?? '').toLowerCase());
  if (!wantsCheck) return jsonReply(200, view);
  return jsonReply(200, { ...view, checks: await checkRecords(view.records, deps.dns()) });
}

function dkimOperations(deps: ApiDependencies): DkimAdminOperations {
  if (!deps.dkim) throw new HttpError(503, 'unavailable', 'this store keeps no DKIM keys');
  return deps.dkim;
}

/** The key a domain signs with now, else its newest (being published before activation). */
function signingKey(keys: readonly DkimKeyInfo[]): DkimKeyInfo | null {
  return keys.find((key) => key.active) ?? keys[keys.length - 1] ?? null;
}

async function dkimPublicKey(deps: ApiDependencies, domain: string): Promise<DkimPublicKey | null> {
  if (!deps.dkim) return null;
  const key = signingKey(await deps.dkim.list(domain));
  return key === null ? null : { selector: key.selector, record: key.record.value };
}

/**
 * One line per local domain: `active` (mail is signed), `pending` (keys, none active yet) or
 * `notConfigured`, with the selector and DNS record of the key signing (or about to).
 */
async function dkimOverview(deps: ApiDependencies): Promise<Reply> {
  const keys = deps.dkim ? await deps.dkim.list() : [];
  const domains = await deps.store.listDomains();
  return jsonReply(
    200,
    domains.map((domain) => {
      const key = signingKey(keys.filter((k) => k.domain === domain.name));
      if (key === null) return { domain: domain.name, status: 'notConfigured', selector: null, record: null };
      return { domain: domain.name, status: key.active ? 'active' : 'pending', selector: key.selector, algorithm: key.algorithm, record: key.record };
    }),
  );
}

/** The outbound queue as the admin sees it; `available: false` while the store has no queue. */
async function queueView(deps: ApiDependencies): Promise<Reply> {
  if (!hasOutboundQueue(deps.store)) return jsonReply(200, { available: false, entries: [] });
  const entries = await deps.store.listQueue(QUEUE_LIST_LIMIT);
  return jsonReply(200, { available: true, entries: entries.map(queueEntryView) });
}

function queueEntryView(entry: QueueEntry): Record<string, unknown> {
  return {
    id: entry.id,
    sender: entry.sender,
    recipients: entry.recipients.map((recipient) => ({ address: recipient.address, kind: recipient.kind })),
    size: entry.size,
    submitter: entry.submitter,
    createdAt: entry.createdAt.toISOString(),
    nextAttemptAt: entry.nextAttemptAt.toISOString(),
    attempts: entry.attempts,
  };
}
