/**
 * Binds every configured listener and hands accepted connections to protocol handlers.
 *
 * Protocol-agnostic: connection limits (total and per IP), implicit TLS, per-connection
 * logger and id, tracking of open sockets, and graceful close.
 */
import { setMaxListeners } from 'node:events';
import { createServer, isIPv6 } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { LISTENER_NAMES } from '../config/defaults.js';
import { formatListenAddress } from '../config/units.js';
import type { Config, ListenAddress, ListenerName } from '../config/types.js';
import { connectionLogger, newConnectionId } from '../log/index.js';
import type { Logger } from '../log/index.js';
import { IMPLICIT_TLS_LISTENERS, defaultRefuse, placeholderHandler } from './fallback.js';
import { upgradeToTls } from './starttls.js';
import type { TlsManager } from './tls.js';
import type { ConnectionHandler, ConnectionInfo, ProtocolHandlers, RefusalInfo } from './types.js';

/** A listener could not bind; the message reads `listen.smtp 0.0.0.0:25: address in use`. */
export class ListenError extends Error {
  constructor(
    readonly listener: ListenerName,
    readonly address: ListenAddress,
    /** The system error code (EADDRINUSE, EACCES...) when there is one. */
    readonly errno: string | undefined,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`listen.${listener} ${formatListenAddress(address)}: ${reason}`, options);
    this.name = 'ListenError';
  }
}

const BIND_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
  EPERM: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this host',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  EAFNOSUPPORT: 'address family not supported (no IPv6?)',
};

export interface ListenerSetOptions {
  config: Config;
  tls: TlsManager;
  logger: Logger;
  handlers: ProtocolHandlers;
}

interface BoundListener {
  name: ListenerName;
  server: Server;
  address: ListenAddress;
}

interface OpenConnection {
  /** The accepted TCP socket; destroying it also ends any TLS layered on top. */
  raw: Socket;
  ip: string;
}

export class ListenerSet {
  private readonly bound: BoundListener[] = [];
  private readonly open = new Set<OpenConnection>();
  private readonly perIp = new Map<string, number>();
  private readonly shutdownController = new AbortController();
  private readonly handlers: Record<ListenerName, ConnectionHandler>;
  private closing: Promise<void> | null = null;
  /** Set while close() waits for the last connection to go. */
  private onDrained: (() => void) | null = null;

  private constructor(private readonly options: ListenerSetOptions) {
    // Every open connection listens for the shutdown signal: thousands is normal, not a leak.
    setMaxListeners(0, this.shutdownController.signal);
    const handlers = {} as Record<ListenerName, ConnectionHandler>;
    for (const name of LISTENER_NAMES) handlers[name] = options.handlers[name] ?? placeholderHandler(name);
    this.handlers = handlers;
  }

  /** Binds every address of every listener; on any failure closes what was bound and throws ListenError. */
  static async start(options: ListenerSetOptions): Promise<ListenerSet> {
    const set = new ListenerSet(options);
    try {
      for (const name of LISTENER_NAMES) {
        const addresses = options.config.listen[name];
        for (const address of addresses) await set.bind(name, address, needsIpv6Only(address, addresses));
      }
    } catch (err) {
      await set.close(0);
      throw err;
    }
    return set;
  }

  /** Bound addresses per listener, with the real port when 0 was asked for. */
  addresses(): Record<ListenerName, ListenAddress[]> {
    const result = {} as Record<ListenerName, ListenAddress[]>;
    for (const name of LISTENER_NAMES) result[name] = [];
    for (const { name, address } of this.bound) result[name].push({ ...address });
    return result;
  }

  get connectionCount(): number {
    return this.open.size;
  }

  /** Open connections counted against `ip`'s per-IP limit (its /64 for IPv6). */
  connectionsFrom(ip: string): number {
    return this.perIp.get(perIpKey(normalizeIp(ip))) ?? 0;
  }

  /**
   * Stops accepting, asks sessions to finish (ConnectionInfo.shutdown), waits up to
   * `timeoutMs` for them to close, then destroys what is left. Idempotent.
   */
  close(timeoutMs: number): Promise<void> {
    this.closing ??= this.closeNow(timeoutMs);
    return this.closing;
  }

  private async closeNow(timeoutMs: number): Promise<void> {
    const serversClosed = this.bound.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve())));
    this.shutdownController.abort();
    const drained = await this.waitForConnections(timeoutMs);
    if (!drained) {
      this.options.logger.warn({ connections: this.open.size }, 'shutdown timeout reached, closing remaining connections');
      for (const connection of this.open) connection.raw.destroy();
      await this.waitForConnections(1000); // 'close' events follow destroy() within a tick or two
    }
    await Promise.all(serversClosed);
    // One handler object may serve several listeners (imap and imaps): close it once.
    const handlers = new Set(Object.values(this.handlers));
    await Promise.all([...handlers].map((handler) => handler.close?.() ?? Promise.resolve()));
  }

  private waitForConnections(timeoutMs: number): Promise<boolean> {
    if (this.open.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.onDrained = null;
        resolve(this.open.size === 0);
      }, timeoutMs);
      this.onDrained = () => {
        clearTimeout(timer);
        this.onDrained = null;
        resolve(true);
      };
    });
  }

  private bind(name: ListenerName, address: ListenAddress, ipv6Only: boolean): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(name, socket));
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        server.off('listening', onListening);
        reject(new ListenError(name, address, err.code, BIND_ERRORS[err.code ?? ''] ?? err.message, { cause: err }));
      };
      const onListening = (): void => {
        server.off('error', onError);
        server.on('error', (err) => this.options.logger.error({ err, listener: name }, 'listener error'));
        const actual = server.address() as AddressInfo;
        this.bound.push({ name, server, address: { host: actual.address, port: actual.port } });
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen({ host: address.host, port: address.port, ipv6Only });
    });
  }

  private accept(name: ListenerName, socket: Socket): void {
    // Every socket error must have a listener, or one reset would crash the process.
    socket.on('error', (err: NodeJS.ErrnoException) => this.options.logger.debug({ listener: name, code: err.code }, 'socket error'));
    const ip = socket.remoteAddress === undefined ? undefined : normalizeIp(socket.remoteAddress);
    if (ip === undefined || this.closing !== null) {
      socket.destroy(); // already gone, or we are shutting down
      return;
    }
    const refusal = this.limitExceeded(ip);
    if (refusal !== null) {
      this.refuse(name, socket, ip, refusal);
      return;
    }
    this.track(socket, ip);
    const id = newConnectionId();
    const logger = connectionLogger(this.options.logger, { id, protocol: name, remote: formatRemote(ip, socket.remotePort ?? 0) });
    // One info line when a connection opens and one when it closes (docs/http.md "Logs"); the
    // close line says how long it lasted and how much went each way.
    const openedAt = Date.now();
    logger.info({ local: formatRemote(socket.localAddress ?? '', socket.localPort ?? 0) }, 'connection opened');
    socket.once('close', () =>
      logger.info({ ms: Date.now() - openedAt, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten }, 'connection closed'),
    );
    const info: ConnectionInfo = {
      id,
      listener: name,
      secure: IMPLICIT_TLS_LISTENERS.has(name),
      remoteAddress: ip,
      remotePort: socket.remotePort ?? 0,
      localAddress: normalizeIp(socket.localAddress ?? ''),
      localPort: socket.localPort ?? 0,
      hostname: this.options.config.hostname,
      logger,
      tls: this.options.tls,
      shutdown: this.shutdownController.signal,
    };
    if (info.secure) this.acceptTls(socket, info);
    else this.dispatch(socket, info);
  }

  private acceptTls(socket: Socket, info: ConnectionInfo): void {
    const handshakeTimeoutMs = Math.min(this.options.config.limits.commandTimeout, 60) * 1000;
    upgradeToTls(socket, this.options.tls, { handshakeTimeoutMs }).then(
      (secure) => {
        secure.on('error', (err: NodeJS.ErrnoException) => info.logger.debug({ code: err.code }, 'tls socket error'));
        info.logger.debug({ protocol: secure.getProtocol(), cipher: secure.getCipher().name }, 'tls established');
        this.dispatch(secure, info);
      },
      (err: unknown) => info.logger.debug({ reason: err instanceof Error ? err.message : String(err) }, 'tls handshake failed'),
    );
  }

  private dispatch(socket: Socket | TLSSocket, info: ConnectionInfo): void {
    try {
      this.handlers[info.listener].handle(socket, info);
    } catch (err) {
      info.logger.error({ err }, 'connection handler threw');
      socket.destroy();
    }
  }

  private limitExceeded(ip: string): 'connections' | 'connections_per_ip' | null {
    const limits = this.options.config.limits;
    if (this.open.size >= limits.connections) return 'connections';
    if ((this.perIp.get(perIpKey(ip)) ?? 0) >= limits.connectionsPerIp) return 'connections_per_ip';
    return null;
  }

  /** Plaintext listeners get the protocol's reply; TLS listeners are cut before the (costly) handshake. */
  private refuse(name: ListenerName, socket: Socket, ip: string, limit: string): void {
    this.options.logger.info({ listener: name, remote: formatRemote(ip, socket.remotePort ?? 0), limit }, 'connection refused');
    if (IMPLICIT_TLS_LISTENERS.has(name)) {
      socket.destroy();
      return;
    }
    const info: RefusalInfo = { listener: name, hostname: this.options.config.hostname, remoteAddress: ip, remotePort: socket.remotePort ?? 0 };
    const handler = this.handlers[name];
    try {
      if (handler.refuse) handler.refuse(socket, info);
      else defaultRefuse(socket, info);
    } catch (err) {
      this.options.logger.error({ err, listener: name }, 'refuse handler threw');
      socket.destroy();
    }
  }

  private track(socket: Socket, ip: string): void {
    const key = perIpKey(ip);
    const connection: OpenConnection = { raw: socket, ip };
    this.open.add(connection);
    this.perIp.set(key, (this.perIp.get(key) ?? 0) + 1);
    socket.once('close', () => {
      this.open.delete(connection);
      const remaining = (this.perIp.get(key) ?? 1) - 1;
      if (remaining > 0) this.perIp.set(key, remaining);
      else this.perIp.delete(key);
      if (this.open.size === 0) this.onDrained?.();
    });
  }
}

/** "::ffff:192.0.2.1" → "192.0.2.1", so one IPv4 client counts once whichever socket family it used. */
export function normalizeIp(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped?.[1] ?? ip;
}

/**
 * What the per-IP limit counts by: the IPv4 address, or the IPv6 /64. One IPv6 host usually
 * owns a whole /64 (RFC 4291 2.5.1 interface identifiers), so counting single addresses would
 * let it open unlimited connections.
 */
export function perIpKey(ip: string): string {
  if (!isIPv6(ip)) return ip;
  return `${expandIpv6(ip).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, as lower-case hex without leading zeros. */
function expandIpv6(ip: string): string[] {
  const withoutZone = ip.split('%')[0] ?? ip;
  const [head = '', tail] = withoutZone.split('::');
  const toGroups = (part: string): string[] => (part === '' ? [] : part.split(':').flatMap(embeddedIpv4ToGroups));
  const left = toGroups(head);
  const right = tail === undefined ? [] : toGroups(tail);
  const zeros = Array.from({ length: Math.max(0, 8 - left.length - right.length) }, () => '0');
  return [...left, ...zeros, ...right].map((group) => parseInt(group, 16).toString(16));
}

/** "1.2.3.4" at the end of an IPv6 address is two groups (RFC 4291 2.2 form 3). */
function embeddedIpv4ToGroups(group: string): string[] {
  if (!group.includes('.')) return [group];
  const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}

function formatRemote(ip: string, port: number): string {
  return isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * "[::]:25" is dual-stack by default; when the same listener also lists "0.0.0.0:25" the
 * IPv6 socket must be IPv6-only or the two would collide.
 */
function needsIpv6Only(address: ListenAddress, all: readonly ListenAddress[]): boolean {
  return address.host === '::' && all.some((other) => other.host === '0.0.0.0' && other.port === address.port);
}
