/**
 * What a protocol module gives the listeners, and what it gets for each connection.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ListenerName } from '../config/types.js';
import type { Logger } from '../log/index.js';
import type { TlsManager } from './tls.js';

export interface ConnectionInfo {
  /** Short id, also the `conn` field of every line `logger` writes. */
  id: string;
  listener: ListenerName;
  /** True when the socket is already TLS (implicit-TLS listener); STARTTLS upgrades later. */
  secure: boolean;
  /** Remote IP (IPv4-mapped IPv6 addresses are given as plain IPv4) and port. */
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** The server's name for greetings (config.hostname). */
  hostname: string;
  /** Child logger with `conn`, `protocol` and `remote`. */
  logger: Logger;
  /** For STARTTLS/STLS: pass to upgradeToTls. */
  tls: TlsManager;
  /**
   * Aborted when the server starts a graceful shutdown: finish the command in flight, send
   * the protocol's goodbye (SMTP 421, IMAP * BYE, POP3 -ERR) and close. Sockets still open
   * when the shutdown timeout ends are destroyed.
   */
  shutdown: AbortSignal;
}

/** The part of ConnectionInfo a refusal needs (no logger child is made for refused peers). */
export type RefusalInfo = Pick<ConnectionInfo, 'listener' | 'hostname' | 'remoteAddress' | 'remotePort'>;

export interface ConnectionHandler {
  /**
   * Takes ownership of the socket: reading, writing, timeouts, closing. Must not throw (an
   * exception is logged and the socket destroyed); async work must handle its own errors.
   */
  handle(socket: Socket | TLSSocket, info: ConnectionInfo): void;
  /**
   * Over a connection limit on a plaintext listener: write the protocol's "too many
   * connections" reply and end. Absent: the protocol family's default (./fallback.ts).
   */
  refuse?(socket: Socket, info: RefusalInfo): void;
  /** Called once during server shutdown, after listeners stopped accepting. */
  close?(): Promise<void>;
}

export type ProtocolHandlers = Partial<Record<ListenerName, ConnectionHandler>>;
