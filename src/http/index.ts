/**
 * Everything served on `listen.http`: client autoconfiguration (Thunderbird, Outlook, Apple,
 * MTA-STS), /healthz, /metrics, the admin API under /api/ and the web admin page. docs/http.md.
 * @module
 */
import { join } from 'node:path';
import { AdminOperations } from '../admin/operations.js';
import { Pop3AdminOperations } from '../admin/pop3.js';
import { loadOrCreateSecretKey } from '../auth/secret.js';
import { DkimAdminOperations, hasDkimKeyStore } from '../queue/dkim-keys.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/types.js';
import type { HandlerFactory } from '../server.js';
import type { MailStore } from '../store/types.js';
import { apiRoutes } from './api.js';
import { HttpApp } from './app.js';
import { clientSettings } from './client-settings.js';
import type { ClientSettingsOverrides } from './client-settings.js';
import { nodeDnsLookup } from './dns-check.js';
import type { DnsLookup, ResolverOptions } from './dns-check.js';
import { DEFAULT_HTTP_LIMITS, HttpHandler } from './handler.js';
import type { HttpLimits } from './handler.js';
import { DEFAULT_MTA_STS_AGE } from './mta-sts.js';
import type { MtaStsMode, MtaStsPolicy } from './mta-sts.js';
import { opsRoutes } from './ops.js';
import type { MetricsExposition } from './ops.js';
import { publicRoutes } from './public.js';
import { TokenOperations } from './tokens.js';
import { webAdminDirectory, webAdminRoutes } from './webadmin.js';

export { HttpHandler, DEFAULT_HTTP_LIMITS } from './handler.js';
export type { HttpLimits } from './handler.js';
export { TokenOperations, TOKEN_PREFIX, generateToken, hashToken } from './tokens.js';
export type { CreatedToken, TokenInfo } from './tokens.js';
export { clientSettings } from './client-settings.js';
export type { ClientEndpoint, ClientSettings, ClientSettingsOverrides } from './client-settings.js';
export { domainDnsRecords } from './dns-records.js';
export type { DomainDnsRecords, ExpectedRecord } from './dns-records.js';
export { checkRecords, nodeDnsLookup } from './dns-check.js';
export type { CheckStatus, DnsLookup, RecordCheck, ResolverOptions } from './dns-check.js';
export { mtaStsId, mtaStsPolicyText } from './mta-sts.js';
export type { MtaStsMode, MtaStsPolicy } from './mta-sts.js';
export type { MetricsExposition } from './ops.js';

/** An MTA-STS policy as configured: the MX patterns default to the server's host name. */
export interface MtaStsSettings {
  mode: MtaStsMode;
  mx?: string[];
  maxAgeSeconds?: number;
}

export interface HttpHandlerOptions {
  /** Serve /.well-known/mta-sts.txt and list the MTA-STS records; absent or null: not configured. */
  mtaSts?: MtaStsSettings | null;
  /** Resolvers for the live DNS check. */
  dns?: ResolverOptions;
  /** Replaces the resolver altogether (tests). */
  dnsLookup?: () => DnsLookup;
  /** What clients are told when it differs from the listeners (port forwarding, another name). */
  client?: ClientSettingsOverrides;
  limits?: Partial<HttpLimits>;
  /** Where the web admin files are (default: found next to the module). */
  webAdminDirectory?: string;
}

export interface HttpServices {
  store: MailStore;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** The registry behind /metrics; null answers 404 there. */
  exposition: MetricsExposition | null;
  now?: () => number;
}

export function createHttpHandler(services: HttpServices, options: HttpHandlerOptions = {}): HttpHandler {
  const { store, config, logger, metrics } = services;
  const now = services.now ?? Date.now;
  const settings = clientSettings(config, options.client ?? configuredClient(config));
  const mtaSts = mtaStsPolicy(options.mtaSts !== undefined ? options.mtaSts : configuredMtaSts(config), settings.hostname);
  const tokens = new TokenOperations(store, { now, onTouchError: (err) => logger.warn({ err }, 'recording an admin token use failed') });
  const admin = new AdminOperations({ store });
  const pop3 = new Pop3AdminOperations({ store, secretKey: () => loadOrCreateSecretKey(join(config.dataDir, 'secret.key')) });
  const dns = options.dnsLookup ?? (() => nodeDnsLookup(options.dns));
  const dkim = hasDkimKeyStore(store) ? new DkimAdminOperations({ store, secretKey: () => loadOrCreateSecretKey(join(config.dataDir, 'secret.key')) }) : null;
  const routes = [
    ...publicRoutes({ store, settings, mtaSts, now }),
    ...opsRoutes({ store, exposition: services.exposition }),
    ...apiRoutes({ store, admin, pop3, tokens, settings, mtaSts, dns, dkim }),
    ...webAdminRoutes(options.webAdminDirectory ?? webAdminDirectory()),
  ];
  const app = new HttpApp({ routes, tokens, metrics });
  return new HttpHandler(app, { ...DEFAULT_HTTP_LIMITS, ...options.limits });
}

/** The `http` listener's factory for src/compose.ts. */
export function httpHandlerFactory(metrics: Metrics, exposition: MetricsExposition | null, options: HttpHandlerOptions = {}): HandlerFactory {
  return (ctx) => createHttpHandler({ store: ctx.store, config: ctx.config, logger: ctx.logger, metrics, exposition }, options);
}

function configuredClient(config: Config): ClientSettingsOverrides {
  return { ...(config.client.hostname === null ? {} : { hostname: config.client.hostname }), ports: config.client.ports };
}

function configuredMtaSts(config: Config): MtaStsSettings | null {
  const policy = config.mtaSts;
  if (policy === null) return null;
  return { mode: policy.mode, maxAgeSeconds: policy.maxAge, ...(policy.mx.length > 0 ? { mx: policy.mx } : {}) };
}

function mtaStsPolicy(settings: MtaStsSettings | null, hostname: string): MtaStsPolicy | null {
  if (settings === null) return null;
  return { mode: settings.mode, mx: settings.mx ?? [hostname], maxAgeSeconds: settings.maxAgeSeconds ?? DEFAULT_MTA_STS_AGE };
}
