/**
 * The shape of mailhaven.toml (snake_case, as written). Every leaf parses its own value and
 * words its own error ("expected a size like 50M, got \"lots\""); tables are strict so a
 * misspelt key stops startup instead of being silently ignored. Defaults are applied in
 * ./load.ts, so every key here may be absent.
 */
import { z } from 'zod';
import { isHostname, parseDuration, parseHostPort, parseListenAddress, parseSize } from './units.js';
import type { ListenAddress } from './types.js';

/** How a value is shown in an error: strings quoted, tables and lists named. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  if (value !== null && typeof value === 'object') return 'a table';
  return String(value);
}

/** A key that may be absent; when present, `parse` must accept it or the issue says what was expected. */
function leaf<T>(expectation: string, parse: (value: unknown) => T | null) {
  return z.unknown().transform((value, ctx): T | undefined => {
    if (value === undefined) return undefined;
    const parsed = parse(value);
    if (parsed === null) {
      ctx.addIssue({ code: 'custom', message: `expected ${expectation}, got ${describeValue(value)}`, input: value });
      return z.NEVER;
    }
    return parsed;
  }).optional();
}

const nonEmptyString = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value : null);
const anyString = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const boolean = (value: unknown): boolean | null => (typeof value === 'boolean' ? value : null);
const atLeast = (min: number, parse: (value: unknown) => number | null) => (value: unknown) => {
  const parsed = parse(value);
  return parsed !== null && parsed >= min ? parsed : null;
};
const count = atLeast(1, (value) => (typeof value === 'number' && Number.isSafeInteger(value) ? value : null));

function oneOf<const T extends string>(choices: readonly T[]) {
  return leaf(`one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`, (value) =>
    choices.find((choice) => choice === value) ?? null,
  );
}

const hostname = leaf('a host name like mail.example.org', (value) =>
  typeof value === 'string' && isHostname(value) ? value : null,
);
const path = leaf('a file or folder path', nonEmptyString);
const size = leaf('a size like 50M', atLeast(1, parseSize));
const duration = leaf('a duration like 30s, 5m or 1h', atLeast(1, parseDuration));
const positiveCount = leaf('a whole number of at least 1', count);
const port = leaf('a port number from 1 to 65535', (value) =>
  typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535 ? value : null,
);

/** A list of "host:port"; each bad entry is reported with its index. */
const listenList = z.unknown().transform((value, ctx): ListenAddress[] | undefined => {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: `expected a list like ["0.0.0.0:25"], got ${describeValue(value)}`, input: value });
    return z.NEVER;
  }
  const addresses: ListenAddress[] = [];
  value.forEach((entry: unknown, index) => {
    const address = parseListenAddress(entry);
    if (address) addresses.push(address);
    else
      ctx.addIssue({
        code: 'custom',
        path: [index],
        message: `expected "host:port" (IPv6 as "[::1]:25"), got ${describeValue(entry)}`,
        input: entry,
      });
  });
  return addresses;
}).optional();

const oauthIssuer = z.strictObject({
  issuer: leaf('the issuer URL as it appears in tokens ("iss")', nonEmptyString),
  audience: leaf('the audience tokens must carry ("aud")', nonEmptyString),
  jwks_file: path,
  jwks_url: leaf('an https:// URL', (value) =>
    typeof value === 'string' && /^https?:\/\/\S+$/i.test(value) ? value : null,
  ),
});

const tlsMode = oneOf(['none', 'opportunistic', 'required']);
const dmarcAction = oneOf(['reject', 'junk', 'deliver']);
const domainName = leaf('a domain name like example.org', (value) =>
  typeof value === 'string' && isHostname(value) ? value.toLowerCase() : null,
);
const durationList = leaf('a list of durations like ["1m", "5m", "1h"]', (value) => {
  if (!Array.isArray(value) || value.length === 0) return null;
  const seconds = value.map((entry) => atLeast(1, parseDuration)(entry));
  return seconds.every((entry): entry is number => entry !== null) ? seconds : null;
});
const resolverList = leaf('a list of DNS server addresses like ["127.0.0.1", "[::1]:53"]', (value) =>
  Array.isArray(value) && value.every((entry) => typeof entry === 'string' && entry.trim() !== '') ? (value as string[]) : null,
);

const route = z.strictObject({
  domain: leaf('a domain name or "*"', (value) =>
    value === '*' ? '*' : typeof value === 'string' && isHostname(value) ? value.toLowerCase() : null,
  ),
  host: leaf('"host" or "host:port"', (value) => (typeof value === 'string' ? parseHostPort(value, 25) : null)),
  tls: tlsMode,
  verify_certificates: leaf('true or false', boolean),
  username: leaf('a string', nonEmptyString),
  password_file: path,
});

const outboundPolicy = z.strictObject({
  domain: domainName,
  tls: tlsMode,
  verify_certificates: leaf('true or false', boolean),
});

export const configFileSchema = z.strictObject({
  hostname,
  data_dir: path,
  shutdown_timeout: duration,
  listen: z
    .strictObject({
      smtp: listenList,
      submission: listenList,
      submissions: listenList,
      imap: listenList,
      imaps: listenList,
      pop3: listenList,
      pop3s: listenList,
      http: listenList,
    })
    .optional(),
  tls: z.strictObject({ cert: path, key: path }).optional(),
  storage: z
    .strictObject({
      backend: oneOf(['sqlite', 'postgres']),
      url: leaf('a string', anyString),
      busy_timeout: duration,
    })
    .optional(),
  auth: z
    .strictObject({
      allow_plaintext_on_loopback: leaf('true or false', boolean),
      secret_mechanisms: leaf('true or false', boolean),
      oauth: z.array(oauthIssuer).optional(),
    })
    .optional(),
  limits: z
    .strictObject({
      message_size: size,
      recipients: positiveCount,
      connections: positiveCount,
      connections_per_ip: positiveCount,
      command_line: size,
      imap_command_line: size,
      text_line: size,
      literal: size,
      command_timeout: duration,
      imap_idle_timeout: duration,
      session_deadline: duration,
      errors_per_session: positiveCount,
      sessions_per_account: positiveCount,
      keywords_per_mailbox: positiveCount,
      nesting_depth: positiveCount,
      mime_parts: positiveCount,
    })
    .optional(),
  mta_sts: z
    .strictObject({
      mode: oneOf(['enforce', 'testing', 'none']),
      mx: z.array(z.string().min(1)).optional(),
      max_age: duration,
    })
    .optional(),
  client: z
    .strictObject({
      hostname,
      ports: z
        .strictObject({
          smtp: port,
          submission: port,
          submissions: port,
          imap: port,
          imaps: port,
          pop3: port,
          pop3s: port,
          http: port,
        })
        .optional(),
    })
    .optional(),
  smtp: z
    .strictObject({
      bare_line_endings: oneOf(['reject', 'normalize']),
      greeting_delay: leaf('a duration like 0s, 3s or 1m', atLeast(0, parseDuration)),
    })
    .optional(),
  queue: z
    .strictObject({
      lifetime: duration,
      retry_schedule: durationList,
      delay_warning: leaf('a duration like 4h, or 0 for never', atLeast(0, parseDuration)),
      concurrency: positiveCount,
      per_domain_concurrency: positiveCount,
      lease: duration,
      interval: duration,
    })
    .optional(),
  outbound: z
    .strictObject({
      hostname,
      resolvers: resolverList,
      tls: tlsMode,
      mta_sts: leaf('true or false', boolean),
      connect_timeout: duration,
      command_timeout: duration,
      connection_reuse: positiveCount,
      connection_idle: duration,
      policies: z.array(outboundPolicy).optional(),
    })
    .optional(),
  routes: z.array(route).optional(),
  mail_auth: z
    .strictObject({
      verify: leaf('true or false', boolean),
      dmarc_reject: dmarcAction,
      dmarc_quarantine: dmarcAction,
      sign: leaf('true or false', boolean),
    })
    .optional(),
  log: z
    .strictObject({
      level: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    })
    .optional(),
});

export type ConfigFile = z.output<typeof configFileSchema>;
