/**
 * The outbound transport (OutboundTransport, ./transport.ts): route, DNS, TLS policy and the
 * hosts tried in turn, each through one SMTP session (./client.ts).
 * @module
 */
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Config } from '../config/index.js';
import type { OutboundRoute } from '../config/types.js';
import type { Logger } from '../log/index.js';
import { SmtpSession, openSession } from './client.js';
import type { AttemptResult, HostFailure, SessionOptions, SmtpTarget, TlsPolicy } from './client.js';
import { MtaStsPolicies, httpsPolicyFetcher, mxMatchesPolicy } from './mta-sts.js';
import type { PolicyFetcher } from './mta-sts.js';
import { createResolver, resolveAddresses, resolveMx } from './mx.js';
import type { DnsResolver } from './mx.js';
import { DEFAULT_REUSE_LIMITS, SessionPool } from './pool.js';
import type { ConnectionReuseLimits } from './pool.js';
import { chooseRoute, mxTlsPolicy } from './route.js';
import type { DomainDeliveryResult, OutboundTransport, RecipientResult, TransactionRequest } from './transport.js';

export interface OutboundTransportOptions {
  /** DNS for MX, A/AAAA and MTA-STS TXT; default: a Resolver on outbound.resolvers. */
  resolver?: DnsResolver;
  /** Per DNS query try (default 5 s, two tries). */
  dnsTimeoutMs?: number;
  /** Trust anchors for verified TLS and MTA-STS fetches instead of the system's (tests, private CAs). */
  ca?: SecureContextOptions['ca'];
  /** The MTA-STS policy fetch; default HTTPS with node:https. */
  mtaStsFetch?: PolicyFetcher;
  /** Port of MX hosts (RFC 5321 4.5.4.2: 25); tests point it at an ephemeral port. */
  mxPort?: number;
  /** Shuffles MX hosts of equal preference; tests pass a fixed one. */
  random?: () => number;
  /** Limits of the connection cache (./pool.ts); `maxMessages: 1` turns reuse off. */
  connectionReuse?: Partial<ConnectionReuseLimits>;
}

/** Sessions per delivery attempt across all hosts and addresses (Postfix: smtp_mx_address_limit 5). */
const MAX_SESSIONS_PER_ATTEMPT = 10;

export function createOutboundTransport(config: Config, logger: Logger, options: OutboundTransportOptions = {}): OutboundTransport {
  return new SmtpOutboundTransport(config, logger, options);
}

type Candidate = { target: SmtpTarget; tls: TlsPolicy; allowPlaintextAuth: boolean };

class SmtpOutboundTransport implements OutboundTransport {
  private readonly resolver: DnsResolver;
  private readonly mtaSts: MtaStsPolicies | null;
  private readonly pool: SessionPool;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly options: OutboundTransportOptions,
  ) {
    this.resolver = options.resolver ?? createResolver({ servers: config.outbound.resolvers, timeoutMs: options.dnsTimeoutMs });
    this.mtaSts = config.outbound.mtaSts
      ? new MtaStsPolicies({ resolver: this.resolver, fetch: options.mtaStsFetch ?? httpsPolicyFetcher(options.ca), logger })
      : null;
    this.pool = new SessionPool({
      ...DEFAULT_REUSE_LIMITS,
      maxMessages: config.outbound.connectionReuse,
      idleMs: config.outbound.connectionIdle * 1000,
      ...options.connectionReuse,
    });
  }

  /** QUITs the cached sessions (the worker's stop); deliveries after this still work, uncached. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  async deliver(domain: string, request: TransactionRequest, signal?: AbortSignal): Promise<DomainDeliveryResult> {
    if (request.recipients.length === 0) return { recipients: [], remoteHost: null, tls: false };
    if (!envelopeIsSafe(request)) {
      // Our SMTP receiver never lets these through; on the wire they would inject commands.
      return everyone(request, 'failed', 0, '5.1.3', 'control characters or angle brackets in an envelope address');
    }
    const log = this.logger.child({ domain });
    const choice = chooseRoute(this.config.routes, domain);
    if (choice.kind === 'smarthost') return this.viaSmarthost(choice.route, request, log, signal);
    return this.viaMx(domain, request, log, signal);
  }

  private sessionOptions(tls: TlsPolicy, auth: SessionOptions['auth'], allowPlaintextAuth: boolean, log: Logger, signal?: AbortSignal): SessionOptions {
    const { outbound } = this.config;
    return {
      ehloName: outbound.hostname ?? this.config.hostname,
      connectTimeoutMs: outbound.connectTimeout * 1000,
      commandTimeoutMs: outbound.commandTimeout * 1000,
      tls,
      ca: this.options.ca,
      auth,
      allowPlaintextAuth,
      signal,
      logger: log,
    };
  }

  /** [[routes]]: one host (all its addresses), the route's TLS, AUTH with the password file. */
  private async viaSmarthost(route: OutboundRoute, request: TransactionRequest, log: Logger, signal?: AbortSignal): Promise<DomainDeliveryResult> {
    let auth: SessionOptions['auth'] = null;
    if (route.username !== null) {
      try {
        // Read on every attempt, so a changed password is used without a restart.
        const password = route.passwordFile === null ? '' : (await readFile(route.passwordFile, 'utf8')).replace(/\r?\n$/, '');
        auth = { username: route.username, password };
      } catch (error) {
        log.error({ passwordFile: route.passwordFile, reason: (error as Error).message }, 'cannot read the route password file');
        return everyone(request, 'deferred', 0, '4.3.5', `cannot read the password file of the route to ${route.host}`);
      }
    }
    let addresses: string[];
    try {
      addresses = isIP(route.host) !== 0 ? [route.host] : (await lookup(route.host, { all: true })).map((entry) => entry.address);
    } catch (error) {
      return everyone(request, 'deferred', 0, '4.4.3', `cannot resolve the smarthost ${route.host}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    const tls: TlsPolicy = { mode: route.tls, verify: route.verifyCertificates };
    const candidates = addresses.map((address) => ({
      target: { host: route.host, address, port: route.port },
      tls,
      // AUTH in plaintext only where nobody can listen: tls = "none" to a loopback address.
      allowPlaintextAuth: route.tls === 'none' && isLoopback(address),
    }));
    return this.tryCandidates(toAsync(candidates), request, auth, log, signal);
  }

  /** RFC 5321 5.1: MX hosts in order (or the implicit MX), each address in turn. */
  private async viaMx(domain: string, request: TransactionRequest, log: Logger, signal?: AbortSignal): Promise<DomainDeliveryResult> {
    const mx = await resolveMx(this.resolver, domain, this.options.random);
    switch (mx.kind) {
      case 'nullMx':
        // RFC 7505 4.1: a null MX means the domain accepts no mail: fail at once.
        return everyone(request, 'failed', 0, '5.1.10', `${domain} does not accept mail (null MX, RFC 7505)`);
      case 'noSuchDomain':
        return everyone(request, 'failed', 0, '5.1.2', mx.reason);
      case 'temporary':
        return everyone(request, 'deferred', 0, '4.4.3', mx.reason);
      case 'hosts':
        break;
      default: {
        const unexpected: never = mx;
        throw new Error(`unexpected MX resolution ${String(unexpected)}`);
      }
    }
    const policy = await mxTlsPolicy(this.config.outbound, domain, this.mtaSts, log);
    let hosts = mx.hosts;
    if (policy.allowMx !== null) {
      const allowed = policy.allowMx;
      hosts = hosts.filter((host) => allowed(host.name));
      for (const skipped of mx.hosts.filter((host) => !allowed(host.name))) log.warn({ mx: skipped.name }, 'MTA-STS: MX host not in the policy, skipped');
      if (hosts.length === 0) return everyone(request, 'deferred', 0, '4.7.5', `no MX host of ${domain} matches its MTA-STS policy`);
    }
    if (policy.testing !== null) {
      const patterns = policy.testing.mx;
      for (const host of mx.hosts) {
        if (!mxMatchesPolicy(host.name, patterns)) log.warn({ mx: host.name, policy: patterns }, 'MTA-STS (testing): MX host not in the policy');
      }
    }
    const port = this.options.mxPort ?? 25;
    const resolver = this.resolver;
    const dnsFailures: string[] = [];
    async function* candidates(): AsyncGenerator<Candidate> {
      for (const host of hosts) {
        const addresses = await resolveAddresses(resolver, host.name);
        if (addresses.kind === 'temporary') {
          dnsFailures.push(addresses.reason);
          continue;
        }
        if (addresses.addresses.length === 0) dnsFailures.push(`MX host ${host.name} has no address`);
        for (const address of addresses.addresses) yield { target: { host: host.name, address, port }, tls: policy.tls, allowPlaintextAuth: false };
      }
    }
    const nothingTried = (): DomainDeliveryResult => everyone(request, 'deferred', 0, '4.4.4', dnsFailures.join('; ') || `no MX host of ${domain} could be tried`);
    return this.tryCandidates(candidates(), request, null, log, signal, nothingTried);
  }

  /**
   * One transaction to one address: on a cached session when there is one (a cached session that
   * turns out closed, or answers MAIL with 421, costs one reconnect and nothing else), otherwise
   * on a new one. A session that ends healthy goes back to the cache.
   */
  private async attemptOn(target: SmtpTarget, request: TransactionRequest, options: SessionOptions): Promise<AttemptResult> {
    const key = sessionKey(target, options);
    const cached = this.pool.take(key);
    if (cached !== null) {
      const outcome = await cached.send(request, options);
      this.pool.release(key, cached);
      if (outcome.kind !== 'stale') return outcome;
      options.logger.debug({ host: target.host, address: target.address, reason: outcome.diagnostic }, 'cached SMTP session gone, reconnecting');
    }
    const opened = await openSession(target, options);
    if (!(opened instanceof SmtpSession)) return opened;
    const outcome = await opened.send(request, options);
    this.pool.release(key, opened);
    if (outcome.kind !== 'stale') return outcome;
    // Only a reused session can be stale; this one is new.
    return { kind: 'hostFailed', code: 0, enhanced: '4.4.2', diagnostic: outcome.diagnostic, permanent: false, retryWithoutTls: false, tls: opened.tls };
  }

  /**
   * Tries the candidates in order until one gives final answers. When none does: every failure
   * a 5xx → failed; otherwise deferred with the last temporary reason.
   */
  private async tryCandidates(
    candidates: AsyncIterable<Candidate>,
    request: TransactionRequest,
    auth: SessionOptions['auth'],
    log: Logger,
    signal?: AbortSignal,
    nothingTried?: () => DomainDeliveryResult,
  ): Promise<DomainDeliveryResult> {
    const failures: HostFailure[] = [];
    let sessions = 0;
    for await (const candidate of candidates) {
      if (sessions >= MAX_SESSIONS_PER_ATTEMPT || signal?.aborted === true) break;
      sessions++;
      const options = this.sessionOptions(candidate.tls, auth, candidate.allowPlaintextAuth, log, signal);
      let outcome: AttemptResult = await this.attemptOn(candidate.target, request, options);
      if (outcome.kind === 'hostFailed' && outcome.retryWithoutTls && candidate.tls.mode === 'opportunistic') {
        // Opportunistic TLS whose handshake failed: the same host in plaintext (as Postfix does).
        log.info({ host: candidate.target.host, reason: outcome.diagnostic }, 'TLS handshake failed, retrying in plaintext');
        outcome = await this.attemptOn(candidate.target, request, { ...options, tls: { mode: 'none', verify: false } });
      }
      if (outcome.kind === 'answered') {
        log.info(
          { host: candidate.target.host, address: candidate.target.address, tls: outcome.tls, statuses: outcome.recipients.map((r) => `${r.address}=${r.status}`) },
          'outbound transaction done',
        );
        return { recipients: outcome.recipients, remoteHost: candidate.target.host, tls: outcome.tls, dsn: outcome.dsn };
      }
      log.info({ host: candidate.target.host, address: candidate.target.address, reason: outcome.diagnostic }, 'outbound host failed, trying the next one');
      failures.push(outcome);
    }
    const temporary = failures.filter((failure) => !failure.permanent);
    const last = temporary.at(-1) ?? failures.at(-1);
    if (last === undefined) {
      if (signal?.aborted !== true && nothingTried !== undefined) return nothingTried();
      return everyone(request, 'deferred', 0, '4.4.1', signal?.aborted === true ? 'delivery cancelled' : 'no host could be tried');
    }
    if (temporary.length === 0) return everyone(request, 'failed', last.code, last.enhanced, last.diagnostic);
    return everyone(request, 'deferred', last.code, `4.${last.enhanced.slice(2)}`, last.diagnostic);
  }
}

/** Sessions are shared only between deliveries that would have set them up identically. */
function sessionKey(target: SmtpTarget, options: SessionOptions): string {
  const password = options.auth === null ? '' : createHash('sha256').update(options.auth.password).digest('hex');
  const tls = `${options.tls.mode}:${options.tls.verify}`;
  return JSON.stringify([target.address, target.port, target.host, tls, options.auth?.username ?? null, password, options.allowPlaintextAuth, options.ehloName]);
}

function everyone(request: TransactionRequest, status: RecipientResult['status'], code: number, enhanced: string, diagnostic: string): DomainDeliveryResult {
  const oneLine = diagnostic.replace(/[\r\n]+/g, ' ');
  return { recipients: request.recipients.map((r) => ({ address: r.address, status, code, enhanced, diagnostic: oneLine })), remoteHost: null, tls: false };
}

/** Addresses and ORCPT types go into MAIL/RCPT as they are (ENVID and ORCPT addresses are xtext). */
function envelopeIsSafe(request: TransactionRequest): boolean {
  const raw = [request.sender, ...request.recipients.flatMap((r) => [r.address, r.orcpt?.addrType ?? ''])];
  // eslint-disable-next-line no-control-regex -- exactly the characters that must not reach the wire
  return raw.every((value) => !/[\x00-\x1f\x7f<>]/.test(value) && !/^\s|\s$/.test(value));
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === '::ffff:127.0.0.1';
}

async function* toAsync<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield await Promise.resolve(item);
}
