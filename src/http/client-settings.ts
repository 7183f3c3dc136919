/**
 * What mail clients are told: host names, ports and TLS modes of the IMAP, POP3 and submission
 * services, taken from the listeners (config.listen) unless overridden (a port forwarded from
 * 993 to 20993, a public name other than config.hostname). Every autoconfiguration document and
 * the SRV records come from this one place.
 * @module
 */
import type { Config, ListenerName } from '../config/types.js';

/** RFC 8314: implicit TLS from the first byte, or STARTTLS/STLS on a cleartext connection. */
export type TlsMode = 'implicit' | 'starttls';

export type ClientService = 'imap' | 'pop3' | 'submission';

export interface ClientEndpoint {
  service: ClientService;
  listener: ListenerName;
  hostname: string;
  port: number;
  tls: TlsMode;
}

export interface ClientSettings {
  hostname: string;
  /** Most preferred first: IMAP before POP3, implicit TLS before STARTTLS (RFC 8314 4.5.2). */
  incoming: ClientEndpoint[];
  /** Submission: implicit TLS (465) before STARTTLS (587). */
  outgoing: ClientEndpoint[];
}

export interface ClientSettingsOverrides {
  /** The name clients connect to; default config.hostname. */
  hostname?: string;
  /** Ports clients connect to per listener; default the listener's first configured port. */
  ports?: Partial<Record<ListenerName, number>>;
}

const SERVICES: ReadonlyArray<{ listener: ListenerName; service: ClientService; tls: TlsMode }> = [
  { listener: 'imaps', service: 'imap', tls: 'implicit' },
  { listener: 'imap', service: 'imap', tls: 'starttls' },
  { listener: 'pop3s', service: 'pop3', tls: 'implicit' },
  { listener: 'pop3', service: 'pop3', tls: 'starttls' },
  { listener: 'submissions', service: 'submission', tls: 'implicit' },
  { listener: 'submission', service: 'submission', tls: 'starttls' },
];

/**
 * A service is offered when its listener has an address with a real port (port 0 means "any
 * free port", which no client can be told), or when an override gives its port.
 */
export function clientSettings(config: Config, overrides: ClientSettingsOverrides = {}): ClientSettings {
  const hostname = (overrides.hostname ?? config.hostname).toLowerCase();
  const endpoints: ClientEndpoint[] = [];
  for (const { listener, service, tls } of SERVICES) {
    const port = overrides.ports?.[listener] ?? config.listen[listener].find((address) => address.port !== 0)?.port;
    if (port !== undefined && port > 0) endpoints.push({ service, listener, hostname, port, tls });
  }
  return {
    hostname,
    incoming: endpoints.filter((endpoint) => endpoint.service !== 'submission'),
    outgoing: endpoints.filter((endpoint) => endpoint.service === 'submission'),
  };
}
