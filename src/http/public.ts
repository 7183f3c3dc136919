/**
 * The public paths: the ones a reverse proxy forwards from autoconfig.<domain>,
 * autodiscover.<domain> and mta-sts.<domain> (docs/http.md). They need no token and reveal
 * nothing about accounts: the documents only depend on the domain.
 *
 * Thunderbird asks for /.well-known/autoconfig/mail/config-v1.1.xml on the domain and
 * /mail/config-v1.1.xml on autoconfig.<domain>, with `?emailaddress=` when it knows the address;
 * without it the answer uses the %EMAILADDRESS% placeholder and is never a 4xx.
 * @module
 */
import { AdminError } from '../admin/errors.js';
import { normalizeDomain, parseAddress } from '../admin/address.js';
import type { Directory } from '../store/types.js';
import {
  appleMobileConfig,
  autodiscoverError,
  autodiscoverResponse,
  autodiscoverV2,
  mobileConfigFilename,
  OUTLOOK_RESPONSE_SCHEMA,
  requestedEmailAddress,
  thunderbirdConfig,
} from './autoconfig.js';
import type { ClientSettings } from './client-settings.js';
import { HttpError } from './errors.js';
import type { MtaStsPolicy } from './mta-sts.js';
import { mtaStsPolicyText } from './mta-sts.js';
import { jsonReply, textReply, xmlReply } from './reply.js';
import type { Reply } from './reply.js';
import type { RequestContext, Route } from './router.js';
import { unescapeXml } from './xml.js';

export interface PublicRouteDependencies {
  store: Pick<Directory, 'getDomain' | 'listDomains'>;
  settings: ClientSettings;
  mtaSts: MtaStsPolicy | null;
  now: () => number;
}

/** Subdomains clients put in front of the mail domain (Thunderbird, Outlook, RFC 8461). */
const SERVICE_PREFIXES = ['autoconfig.', 'autodiscover.', 'mta-sts.'];

export function publicRoutes(deps: PublicRouteDependencies): Route[] {
  const autoconfig = (ctx: RequestContext): Promise<Reply> => thunderbird(ctx, deps);
  const autodiscoverXml = (ctx: RequestContext): Promise<Reply> => autodiscover(ctx, deps);
  const v2 = (ctx: RequestContext): Reply => autodiscoverJson(ctx, deps);
  return [
    { method: 'GET', path: '/.well-known/autoconfig/mail/config-v1.1.xml', name: 'autoconfig', handle: autoconfig },
    { method: 'GET', path: '/mail/config-v1.1.xml', name: 'autoconfig', handle: autoconfig },
    { method: 'POST', path: '/autodiscover/autodiscover.xml', name: 'autodiscover', caseInsensitive: true, handle: autodiscoverXml },
    { method: 'GET', path: '/autodiscover/autodiscover.xml', name: 'autodiscover', caseInsensitive: true, handle: autodiscoverXml },
    { method: 'GET', path: '/autodiscover/autodiscover.json', name: 'autodiscover-v2', caseInsensitive: true, handle: v2 },
    { method: 'GET', path: '/autodiscover/autodiscover.json/v1.0/:email', name: 'autodiscover-v2', caseInsensitive: true, handle: v2 },
    { method: 'GET', path: '/apple/mobileconfig', name: 'mobileconfig', handle: (ctx) => mobileConfig(ctx, deps) },
    { method: 'GET', path: '/.well-known/mta-sts.txt', name: 'mta-sts', handle: () => mtaSts(deps) },
  ];
}

async function thunderbird(ctx: RequestContext, deps: PublicRouteDependencies): Promise<Reply> {
  const email = addressOf(ctx.query.get('emailaddress'));
  if (email !== null) {
    await requireOurDomain(deps, email.domain);
    return xmlReply(thunderbirdConfig(deps.settings, email.domain, email.address));
  }
  return xmlReply(thunderbirdConfig(deps.settings, await fallbackDomain(ctx, deps), null));
}

/**
 * POST with the Outlook request schema; a GET or a request without an address gets the
 * settings without LoginName rather than an error, like the Thunderbird document.
 */
async function autodiscover(ctx: RequestContext, deps: PublicRouteDependencies): Promise<Reply> {
  const body = ctx.method === 'POST' ? (await ctx.body()).toString('utf8') : '';
  const request = requestedEmailAddress(body);
  if (request.schema !== null && unescapeXml(request.schema) !== OUTLOOK_RESPONSE_SCHEMA) {
    // ActiveSync (mobilesync) clients: we speak IMAP/SMTP only.
    return xmlReply(autodiscoverError(601, 'Requested schema version not available', new Date(deps.now())));
  }
  const email = addressOf(request.email === null ? null : unescapeXml(request.email));
  if (email !== null && (await deps.store.getDomain(email.domain)) === null) {
    return xmlReply(autodiscoverError(600, 'Invalid Request', new Date(deps.now())));
  }
  return xmlReply(autodiscoverResponse(deps.settings, email?.address ?? null));
}

/**
 * Autodiscover "v2": Outlook first asks where the POX service is (the address, in the path or
 * ?Email=, does not change the answer). Only AutodiscoverV1 is offered; anything else gets
 * Exchange's InvalidProtocol answer.
 */
function autodiscoverJson(ctx: RequestContext, deps: PublicRouteDependencies): Reply {
  const protocol = ctx.query.get('Protocol') ?? ctx.query.get('protocol') ?? '';
  if (protocol.toLowerCase() !== 'autodiscoverv1') {
    const shown = protocol.replace(/[^A-Za-z0-9]/g, '');
    return jsonReply(400, { ErrorCode: 'InvalidProtocol', ErrorMessage: `The given protocol value '${shown}' is invalid. Supported values are 'AutodiscoverV1'` });
  }
  return jsonReply(200, autodiscoverV2(ctx.host ?? deps.settings.hostname));
}

async function mobileConfig(ctx: RequestContext, deps: PublicRouteDependencies): Promise<Reply> {
  const email = addressOf(ctx.query.get('email'));
  if (email === null) throw new HttpError(400, 'badRequest', 'give the account as ?email=user@example.org');
  await requireOurDomain(deps, email.domain);
  const profile = appleMobileConfig(deps.settings, email.address);
  if (profile === null) throw new HttpError(404, 'notFound', 'no IMAP and submission listeners to put in a profile');
  return {
    status: 200,
    headers: {
      'Content-Type': 'application/x-apple-aspen-config; charset=utf-8',
      'Content-Disposition': `attachment; filename="${mobileConfigFilename(email.address)}"`,
      'Cache-Control': 'no-store',
    },
    body: profile,
  };
}

/** RFC 8461 3.2: text/plain; 404 when no policy is configured (senders then skip MTA-STS). */
function mtaSts(deps: PublicRouteDependencies): Reply {
  if (deps.mtaSts === null) throw new HttpError(404, 'notFound', 'no MTA-STS policy is configured');
  return textReply(200, mtaStsPolicyText(deps.mtaSts));
}

function addressOf(input: string | null | undefined): { address: string; domain: string } | null {
  if (input === null || input === undefined || input.trim() === '') return null;
  try {
    const { address, domain } = parseAddress(input.trim());
    return { address, domain };
  } catch (err) {
    if (err instanceof AdminError) return null;
    throw err;
  }
}

async function requireOurDomain(deps: PublicRouteDependencies, domain: string): Promise<void> {
  if ((await deps.store.getDomain(domain)) === null) throw new HttpError(404, 'notFound', `${domain} is not a domain of this server`);
}

/**
 * The domain a request without an address is about: the Host it was sent to (autoconfig.<domain>
 * or <domain>) when that is one of ours, else our first domain, else the server's own name.
 */
async function fallbackDomain(ctx: RequestContext, deps: PublicRouteDependencies): Promise<string> {
  const fromHost = domainOfHost(ctx.host);
  if (fromHost !== null && (await deps.store.getDomain(fromHost)) !== null) return fromHost;
  const [first] = (await deps.store.listDomains()).map((domain) => domain.name).sort();
  return first ?? deps.settings.hostname;
}

function domainOfHost(host: string | null): string | null {
  if (host === null) return null;
  const prefix = SERVICE_PREFIXES.find((candidate) => host.startsWith(candidate));
  try {
    return normalizeDomain(prefix === undefined ? host : host.slice(prefix.length));
  } catch {
    return null;
  }
}
