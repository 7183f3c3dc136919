/**
 * The validated, frozen configuration every module receives. Built by ./load.ts from
 * TOML (or defaults); key names mirror the TOML file (snake_case there, camelCase here).
 * Paths are absolute after loading.
 */

export interface ListenAddress {
  host: string;
  port: number;
}

export type ListenerName = 'smtp' | 'submission' | 'submissions' | 'imap' | 'imaps' | 'pop3' | 'pop3s' | 'http';

export interface Limits {
  /** Largest message accepted (SMTP SIZE, IMAP APPENDLIMIT), octets. */
  messageSize: number;
  /** Recipients per SMTP transaction. */
  recipients: number;
  /** Simultaneous connections over all listeners. */
  connections: number;
  /** Simultaneous connections from one IP address. */
  connectionsPerIp: number;
  /**
   * Longest SMTP/POP3 command line, octets including CRLF (SMTP: 512 per RFC 5321 4.5.3.1.4;
   * SMTP AUTH lines may be longer, RFC 4954 4). IMAP uses `imapCommandLine` instead.
   */
  commandLine: number;
  /**
   * Longest IMAP command line, the non-literal part, octets. RFC 7162 4 asks servers to accept
   * at least 8192; long UID sets from real clients need more.
   */
  imapCommandLine: number;
  /** Longest text line in SMTP DATA (RFC 5321 4.5.3.1.6: 1000 including CRLF). */
  textLine: number;
  /** Largest IMAP literal that is not an APPEND message, octets. */
  literal: number;
  /** Idle time before an unauthenticated or SMTP session is closed, seconds. */
  commandTimeout: number;
  /** IMAP autologout when idle (RFC 3501 5.4: at least 30 minutes), seconds. */
  imapIdleTimeout: number;
  /** Total lifetime of an SMTP session, seconds. */
  sessionDeadline: number;
  /** Protocol errors tolerated per session before it is closed. */
  errorsPerSession: number;
  /** Concurrent IMAP/POP3 sessions per account. */
  sessionsPerAccount: number;
  /** Keywords per mailbox. */
  keywordsPerMailbox: number;
  /** Nesting depth of parenthesised lists, SEARCH keys and MIME parts. */
  nestingDepth: number;
  /** MIME parts indexed per message; more are kept in the body of the last part. */
  mimeParts: number;
}

export interface OAuthIssuer {
  issuer: string;
  audience: string;
  /** Local JWKS file (absolute path) or null. */
  jwksFile: string | null;
  /** Remote JWKS URL or null. */
  jwksUrl: string | null;
}

export type TlsMode = 'none' | 'opportunistic' | 'required';

/** One `[[routes]]` table: where mail for a domain goes instead of its MX (docs/outbound.md). */
export interface OutboundRoute {
  /** Lower-case domain, or "*" for every non-local domain without a route of its own. */
  domain: string;
  host: string;
  /** Default 25. */
  port: number;
  tls: TlsMode;
  /** Check the certificate chain and name; default true when tls = "required". */
  verifyCertificates: boolean;
  /** AUTH user for a smarthost, or null. */
  username: string | null;
  /** Absolute path of a file holding the AUTH password, or null. */
  passwordFile: string | null;
}

/** An `[[outbound.policies]]` table: TLS requirements for delivery to one domain. */
export interface OutboundPolicy {
  domain: string;
  tls: TlsMode;
  verifyCertificates: boolean;
}

export type DmarcAction = 'reject' | 'junk' | 'deliver';

export interface Config {
  /** Where the config came from (absolute path), or null for built-in defaults. */
  source: string | null;
  hostname: string;
  dataDir: string;
  listen: Record<ListenerName, ListenAddress[]>;
  tls: {
    /** Absolute paths, or null to use the generated self-signed pair in dataDir. */
    cert: string | null;
    key: string | null;
  };
  storage: {
    backend: 'sqlite' | 'postgres';
    url: string;
    /**
     * SQLite: how long a write waits for the database lock (another process, a backup) before the
     * client gets a temporary failure (451 4.3.0, NO [UNAVAILABLE], -ERR [SYS/TEMP]), seconds.
     */
    busyTimeout: number;
  };
  auth: {
    allowPlaintextOnLoopback: boolean;
    /**
     * Advertise CRAM-MD5 and SCRAM-SHA-256 (they need a per-user shared secret, see docs/auth.md).
     * Off by default: clients such as curl and fetchmail pick them on their own when offered and
     * then fail for users without a secret.
     */
    secretMechanisms: boolean;
    oauth: OAuthIssuer[];
  };
  limits: Limits;
  /** The MTA-STS policy served on listen.http (RFC 8461), or null when not configured. */
  mtaSts: {
    mode: 'enforce' | 'testing' | 'none';
    /** MX host patterns; empty means [hostname]. */
    mx: string[];
    /** Seconds senders may cache the policy. */
    maxAge: number;
  } | null;
  /** What autoconfig documents tell mail clients when it differs from the listeners (port forwarding). */
  client: {
    hostname: string | null;
    ports: Partial<Record<ListenerName, number>>;
  };
  smtp: {
    /**
     * Bare CR or LF inside DATA/BDAT: "reject" answers 550 5.6.11 after the message (no SMTP
     * smuggling), "normalize" turns them into CRLF.
     */
    bareLineEndings: 'reject' | 'normalize';
    /**
     * Seconds the MX listener (listen.smtp) waits before its greeting; a client that talks
     * first is refused (554 5.5.0), as spam bots do. 0 greets at once.
     */
    greetingDelay: number;
  };
  /** The outbound queue (docs/outbound.md). Durations in seconds. */
  queue: {
    lifetime: number;
    /** Delays between attempts; the last one repeats. */
    retrySchedule: number[];
    /** When a "delayed" DSN is sent; 0 = never. */
    delayWarning: number;
    concurrency: number;
    perDomainConcurrency: number;
    /** How long a claimed entry stays claimed before another worker may retry it. */
    lease: number;
    /** Seconds between queue scans when nothing wakes the worker. */
    interval: number;
  };
  /** Outbound SMTP (docs/outbound.md). */
  outbound: {
    /** EHLO name; null = `hostname`. */
    hostname: string | null;
    /** DNS servers ("ip" or "ip:port") for MX, MTA-STS and mail authentication; empty = system. */
    resolvers: string[];
    tls: TlsMode;
    mtaSts: boolean;
    connectTimeout: number;
    commandTimeout: number;
    /** Messages one SMTP connection may carry before it is closed; 1 = no reuse. */
    connectionReuse: number;
    /** Seconds an unused connection is kept for the next message to the same destination. */
    connectionIdle: number;
    policies: OutboundPolicy[];
  };
  routes: OutboundRoute[];
  /** SPF/DKIM/DMARC/ARC on the MX and DKIM signing (docs/dkim.md). */
  mailAuth: {
    verify: boolean;
    dmarcReject: DmarcAction;
    dmarcQuarantine: DmarcAction;
    sign: boolean;
  };
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  };
  shutdownTimeout: number;
}
