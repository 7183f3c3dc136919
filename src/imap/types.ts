/**
 * What an IMAP session is given: services shared by the whole server, and settings resolved
 * once from the configuration.
 * @module
 */
import type { AuthThrottle, SaslContext } from '../auth/index.js';
import type { ChangeBus } from '../events/types.js';
import type { Logger } from '../log/index.js';
import type { TlsManager } from '../net/tls.js';
import type { MailStore } from '../store/types.js';
import type { AccountSessions } from './account-sessions.js';
import type { StructureCache } from './fetch/structure-cache.js';
import type { ListingCache } from './listing-cache.js';
import type { RecentRegistry } from './recent.js';
import type { EvaluateSearch } from './search/types.js';
import type { Metrics } from '../metrics/types.js';

export interface ImapServices {
  store: MailStore;
  /** Counters for /metrics (commands by name and result); none in unit tests. */
  metrics?: Metrics;
  bus: ChangeBus;
  sasl: SaslContext;
  /** One throttle for SMTP, IMAP and POP3 (docs/auth.md). */
  throttle: AuthThrottle;
  tls: TlsManager;
  logger: Logger;
  recent: RecentRegistry;
  sessions: AccountSessions;
  /** The SEARCH engine (src/imap/search/), shared so its decoded-text cache is. */
  search: EvaluateSearch;
  /** Encoded ENVELOPE/BODY/BODYSTRUCTURE by blob hash, shared by all sessions. */
  structures: StructureCache;
  /** Message listings of recently used mailboxes, kept current from the change log. */
  listings: ListingCache;
}

export interface ImapSettings {
  hostname: string;
  /** `auth.allow_plaintext_on_loopback`: LOGIN and AUTH=PLAIN without TLS from loopback. */
  allowPlaintextOnLoopback: boolean;
  /** Largest APPEND message, octets (APPENDLIMIT, RFC 7889). */
  messageSize: number;
  /** Largest literal that is not an APPEND message, octets. */
  literal: number;
  /** Longest command text (literals excluded), octets. */
  commandLine: number;
  /** Literals per command (MULTIAPPEND messages included). */
  literalsPerCommand: number;
  /** Parenthesis nesting (receiver) and MIME depth. */
  nestingDepth: number;
  mimeParts: number;
  /** Keywords per mailbox: a STORE or APPEND that would add more gets NO [LIMIT]. */
  keywordsPerMailbox: number;
  /** Concurrent sessions per account: more get NO [LIMIT] at login. */
  sessionsPerAccount: number;
  /** Protocol errors (BAD) before the session is closed with BYE. */
  errorsPerSession: number;
  /** Autologout of an authenticated session (RFC 3501 5.4: at least 30 minutes), ms. */
  idleTimeoutMs: number;
  /** Idle timeout before login, ms: the short command timeout, since RFC 3501 5.4's 30 minutes
   * protect users' sessions, not anonymous connections holding a slot. */
  loginTimeoutMs: number;
  /** A client that does not read our output for this long is disconnected, ms. */
  outputStallTimeoutMs: number;
  tlsHandshakeTimeoutMs: number;
  /** Server name and version for ID (RFC 2971). */
  serverId: ReadonlyArray<readonly [string, string]>;
}
