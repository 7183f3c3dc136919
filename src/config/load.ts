/**
 * Finds, reads and validates the configuration once at startup, and returns it frozen.
 *
 * Discovery: `--config FILE`, else $MAILHAVEN_CONFIG, else ./mailhaven.toml when present,
 * else the built-in defaults. Relative paths in the file are relative to the file's folder.
 */
import { readFileSync, existsSync } from 'node:fs';
import { hostname as systemHostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import {
  CONFIG_ENV_VAR,
  CONFIG_FILE_NAME,
  DEFAULT_DATA_DIR,
  DEFAULT_LIMITS,
  DEFAULT_BUSY_TIMEOUT,
  DEFAULT_CONNECTION_REUSE,
  DEFAULT_LOG_LEVEL,
  DEFAULT_OUTBOUND_TIMEOUTS,
  DEFAULT_QUEUE,
  DEFAULT_SHUTDOWN_TIMEOUT,
  LISTENER_NAMES,
  defaultListen,
} from './defaults.js';
import { ConfigError } from './errors.js';
import type { ConfigIssue } from './errors.js';
import { configFileSchema, describeValue } from './schema.js';
import type { ConfigFile } from './schema.js';
import type { Config, Limits, ListenAddress, ListenerName, OAuthIssuer, OutboundPolicy, OutboundRoute } from './types.js';

export interface LoadConfigOptions {
  /** `--config FILE`; relative to `cwd`. */
  configPath?: string;
  /** Where $MAILHAVEN_CONFIG is read; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Folder for ./mailhaven.toml and for relative paths of the built-in defaults. */
  cwd?: string;
  /** Effective user id; uid 0 gets the standard ports by default. Defaults to process.getuid(). */
  uid?: number;
  /** Host name used when the file sets none; defaults to os.hostname(). */
  systemHostname?: string;
}

export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const cwd = opts.cwd ?? process.cwd();
  const file = locateConfigFile(opts.configPath, opts.env ?? process.env, cwd);
  const parsed = file === null ? configFileSchema.parse({}) : validate(readToml(file), file);
  const config = buildConfig(parsed, {
    file,
    baseDir: file === null ? cwd : dirname(file),
    uid: opts.uid ?? currentUid(),
    hostname: opts.systemHostname ?? systemHostname(),
  });
  return deepFreeze(config);
}

/** Returns the absolute path of the file to read, or null for the built-in defaults. */
export function locateConfigFile(configPath: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string | null {
  if (configPath !== undefined && configPath !== '') return resolve(cwd, configPath);
  const fromEnv = env[CONFIG_ENV_VAR];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(cwd, fromEnv);
  const local = resolve(cwd, CONFIG_FILE_NAME);
  return existsSync(local) ? local : null;
}

function currentUid(): number {
  // No getuid on Windows: treat as unprivileged.
  return process.getuid?.() ?? -1;
}

function readToml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ key: '', reason: `cannot read: ${describeReadError(err)}` }]);
  }
  try {
    return parseToml(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    // smol-toml's message is "Invalid TOML document: <reason>\n\n<code block>"; keep the reason.
    const reason = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw new ConfigError(file, [{ key: '', reason: `TOML syntax error: ${reason}`, line: err.line, column: err.column }]);
  }
}

function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a folder, not a file';
  return err instanceof Error ? err.message : String(err);
}

function validate(raw: unknown, file: string): ConfigFile {
  const result = configFileSchema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  throw new ConfigError(file, result.error.issues.flatMap(toConfigIssues));
}

function toConfigIssues(issue: z.core.$ZodIssue): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ key: formatKey([...issue.path, key]), reason: 'unknown key' }));
  }
  if (issue.code === 'invalid_type') {
    return [{ key: formatKey(issue.path), reason: `expected ${typeName(issue.expected)}, got ${describeValue(issue.input)}` }];
  }
  return [{ key: formatKey(issue.path), reason: issue.message }];
}

function typeName(expected: string): string {
  if (expected === 'object') return 'a table';
  if (expected === 'array') return 'a list of tables';
  return `a ${expected}`;
}

/** `['listen', 'smtp', 0]` → `listen.smtp[0]`, as an operator would find it in the file. */
export function formatKey(path: ReadonlyArray<PropertyKey>): string {
  let key = '';
  for (const segment of path) {
    if (typeof segment === 'number') key += `[${segment}]`;
    else {
      const name = String(segment);
      const bare = /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
      key += key === '' ? bare : `.${bare}`;
    }
  }
  return key;
}

interface BuildContext {
  file: string | null;
  baseDir: string;
  uid: number;
  hostname: string;
}

function buildConfig(parsed: ConfigFile, ctx: BuildContext): Config {
  const issues: ConfigIssue[] = [];
  const inFolder = (path: string): string => resolve(ctx.baseDir, path);
  const tls = buildTls(parsed.tls, inFolder, issues);
  const storage = buildStorage(parsed.storage, issues);
  const oauth = (parsed.auth?.oauth ?? []).map((entry, index) => buildOAuthIssuer(entry, index, inFolder, issues));
  const routes = (parsed.routes ?? []).map((entry, index) => buildRoute(entry, index, inFolder, issues));
  const policies = (parsed.outbound?.policies ?? []).map((entry, index) => buildPolicy(entry, index, issues));
  if (issues.length > 0) throw new ConfigError(ctx.file, issues);
  return {
    source: ctx.file,
    hostname: parsed.hostname ?? ctx.hostname,
    dataDir: inFolder(parsed.data_dir ?? DEFAULT_DATA_DIR),
    listen: buildListen(parsed.listen, ctx.uid),
    tls,
    storage,
    auth: {
      allowPlaintextOnLoopback: parsed.auth?.allow_plaintext_on_loopback ?? false,
      secretMechanisms: parsed.auth?.secret_mechanisms ?? false,
      oauth,
    },
    limits: buildLimits(parsed.limits),
    mtaSts:
      parsed.mta_sts === undefined
        ? null
        : { mode: parsed.mta_sts.mode ?? 'testing', mx: parsed.mta_sts.mx ?? [], maxAge: parsed.mta_sts.max_age ?? 7 * 86_400 },
    client: {
      hostname: parsed.client?.hostname ?? null,
      ports: Object.fromEntries(Object.entries(parsed.client?.ports ?? {}).filter(([, value]) => value !== undefined)),
    },
    smtp: {
      bareLineEndings: parsed.smtp?.bare_line_endings ?? 'reject',
      greetingDelay: parsed.smtp?.greeting_delay ?? 0,
    },
    queue: {
      lifetime: parsed.queue?.lifetime ?? DEFAULT_QUEUE.lifetime,
      retrySchedule: parsed.queue?.retry_schedule ?? [...DEFAULT_QUEUE.retrySchedule],
      delayWarning: parsed.queue?.delay_warning ?? DEFAULT_QUEUE.delayWarning,
      concurrency: parsed.queue?.concurrency ?? DEFAULT_QUEUE.concurrency,
      perDomainConcurrency: parsed.queue?.per_domain_concurrency ?? DEFAULT_QUEUE.perDomainConcurrency,
      lease: parsed.queue?.lease ?? DEFAULT_QUEUE.lease,
      interval: parsed.queue?.interval ?? DEFAULT_QUEUE.interval,
    },
    outbound: {
      hostname: parsed.outbound?.hostname ?? null,
      resolvers: parsed.outbound?.resolvers ?? [],
      tls: parsed.outbound?.tls ?? 'opportunistic',
      mtaSts: parsed.outbound?.mta_sts ?? true,
      connectTimeout: parsed.outbound?.connect_timeout ?? DEFAULT_OUTBOUND_TIMEOUTS.connect,
      commandTimeout: parsed.outbound?.command_timeout ?? DEFAULT_OUTBOUND_TIMEOUTS.command,
      connectionReuse: parsed.outbound?.connection_reuse ?? DEFAULT_CONNECTION_REUSE.messages,
      connectionIdle: parsed.outbound?.connection_idle ?? DEFAULT_CONNECTION_REUSE.idle,
      policies,
    },
    routes,
    mailAuth: {
      verify: parsed.mail_auth?.verify ?? true,
      dmarcReject: parsed.mail_auth?.dmarc_reject ?? 'reject',
      dmarcQuarantine: parsed.mail_auth?.dmarc_quarantine ?? 'junk',
      sign: parsed.mail_auth?.sign ?? true,
    },
    log: { level: parsed.log?.level ?? DEFAULT_LOG_LEVEL },
    shutdownTimeout: parsed.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT,
  };
}

/** A listener the file leaves out keeps its built-in default; an empty list disables it. */
function buildListen(listen: ConfigFile['listen'], uid: number): Record<ListenerName, ListenAddress[]> {
  const defaults = defaultListen(uid);
  const result = {} as Record<ListenerName, ListenAddress[]>;
  for (const name of LISTENER_NAMES) result[name] = listen?.[name] ?? defaults[name];
  return result;
}

function buildTls(tls: ConfigFile['tls'], inFolder: (path: string) => string, issues: ConfigIssue[]): Config['tls'] {
  const cert = tls?.cert;
  const key = tls?.key;
  if (cert !== undefined && key === undefined) issues.push({ key: 'tls.key', reason: 'required when tls.cert is set' });
  if (key !== undefined && cert === undefined) issues.push({ key: 'tls.cert', reason: 'required when tls.key is set' });
  return {
    cert: cert === undefined ? null : inFolder(cert),
    key: key === undefined ? null : inFolder(key),
  };
}

function buildStorage(storage: ConfigFile['storage'], issues: ConfigIssue[]): Config['storage'] {
  const backend = storage?.backend ?? 'sqlite';
  const url = storage?.url ?? '';
  if (backend === 'postgres' && url.trim() === '') {
    issues.push({ key: 'storage.url', reason: 'required when storage.backend is "postgres"' });
  }
  return { backend, url, busyTimeout: storage?.busy_timeout ?? DEFAULT_BUSY_TIMEOUT };
}

type OAuthEntry = NonNullable<NonNullable<ConfigFile['auth']>['oauth']>[number];

function buildOAuthIssuer(entry: OAuthEntry, index: number, inFolder: (path: string) => string, issues: ConfigIssue[]): OAuthIssuer {
  const key = `auth.oauth[${index}]`;
  if (entry.issuer === undefined) issues.push({ key: `${key}.issuer`, reason: 'required' });
  if (entry.audience === undefined) issues.push({ key: `${key}.audience`, reason: 'required' });
  if ((entry.jwks_file === undefined) === (entry.jwks_url === undefined)) {
    issues.push({ key, reason: 'set exactly one of jwks_file and jwks_url' });
  }
  return {
    issuer: entry.issuer ?? '',
    audience: entry.audience ?? '',
    jwksFile: entry.jwks_file === undefined ? null : inFolder(entry.jwks_file),
    jwksUrl: entry.jwks_url ?? null,
  };
}

type RouteEntry = NonNullable<ConfigFile['routes']>[number];

function buildRoute(entry: RouteEntry, index: number, inFolder: (path: string) => string, issues: ConfigIssue[]): OutboundRoute {
  const key = `routes[${index}]`;
  if (entry.domain === undefined) issues.push({ key: `${key}.domain`, reason: 'required (a domain, or "*" for everything not local)' });
  if (entry.host === undefined) issues.push({ key: `${key}.host`, reason: 'required' });
  if (entry.password_file !== undefined && entry.username === undefined) {
    issues.push({ key: `${key}.username`, reason: 'required when password_file is set' });
  }
  const tls = entry.tls ?? 'opportunistic';
  return {
    domain: entry.domain ?? '',
    host: entry.host?.host ?? '',
    port: entry.host?.port ?? 25,
    tls,
    verifyCertificates: entry.verify_certificates ?? tls === 'required',
    username: entry.username ?? null,
    passwordFile: entry.password_file === undefined ? null : inFolder(entry.password_file),
  };
}

type PolicyEntry = NonNullable<NonNullable<ConfigFile['outbound']>['policies']>[number];

function buildPolicy(entry: PolicyEntry, index: number, issues: ConfigIssue[]): OutboundPolicy {
  if (entry.domain === undefined) issues.push({ key: `outbound.policies[${index}].domain`, reason: 'required' });
  const tls = entry.tls ?? 'required';
  return { domain: entry.domain ?? '', tls, verifyCertificates: entry.verify_certificates ?? tls === 'required' };
}

function buildLimits(limits: ConfigFile['limits']): Limits {
  const d = DEFAULT_LIMITS;
  return {
    messageSize: limits?.message_size ?? d.messageSize,
    recipients: limits?.recipients ?? d.recipients,
    connections: limits?.connections ?? d.connections,
    connectionsPerIp: limits?.connections_per_ip ?? d.connectionsPerIp,
    commandLine: limits?.command_line ?? d.commandLine,
    imapCommandLine: limits?.imap_command_line ?? d.imapCommandLine,
    textLine: limits?.text_line ?? d.textLine,
    literal: limits?.literal ?? d.literal,
    commandTimeout: limits?.command_timeout ?? d.commandTimeout,
    imapIdleTimeout: limits?.imap_idle_timeout ?? d.imapIdleTimeout,
    sessionDeadline: limits?.session_deadline ?? d.sessionDeadline,
    errorsPerSession: limits?.errors_per_session ?? d.errorsPerSession,
    sessionsPerAccount: limits?.sessions_per_account ?? d.sessionsPerAccount,
    keywordsPerMailbox: limits?.keywords_per_mailbox ?? d.keywordsPerMailbox,
    nestingDepth: limits?.nesting_depth ?? d.nestingDepth,
    mimeParts: limits?.mime_parts ?? d.mimeParts,
  };
}

/** Freezes the whole tree, so no module can change configuration behind the others' backs. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
