/**
 * The `http` listener's ConnectionHandler: accepted sockets are handed to a node:http Server
 * that never listens itself (`server.emit('connection', socket)`), so connection limits, ids and
 * graceful shutdown stay with src/net like for every other protocol.
 * @module
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConnectionHandler, ConnectionInfo } from '../net/types.js';
import type { HttpApp } from './app.js';

export interface HttpLimits {
  /** Whole request (headers and body) must arrive within this, ms. */
  requestTimeoutMs: number;
  /** Headers must arrive within this, ms (slowloris). */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this, ms. */
  keepAliveTimeoutMs: number;
  /** Any socket silent this long is closed, ms. */
  idleTimeoutMs: number;
  /** Largest header block, octets. */
  maxHeaderSize: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  maxHeaderSize: 16 * 1024,
};

export class HttpHandler implements ConnectionHandler {
  private readonly server: Server;
  private readonly connections = new WeakMap<Socket, ConnectionInfo>();
  private closing = false;
  /** Every connection carries the same shutdown signal; one listener on it is enough. */
  private watchedShutdown: AbortSignal | null = null;

  constructor(
    private readonly app: HttpApp,
    private readonly limits: HttpLimits = DEFAULT_HTTP_LIMITS,
  ) {
    this.server = createServer(
      {
        requestTimeout: limits.requestTimeoutMs,
        headersTimeout: limits.headersTimeoutMs,
        // node:http enforces headersTimeout and requestTimeout only when it checks, every 30 s by
        // default: a client dripping header octets (slowloris) outlived its timeout by up to 30 s.
        connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeoutMs, limits.requestTimeoutMs)),
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        maxHeaderSize: limits.maxHeaderSize,
      },
      (req, res) => this.onRequest(req, res),
    );
    // node:http tracks connections (for its timeouts and closeIdleConnections) from the
    // 'listening' event on; this server never listens, so it is told once here.
    this.server.emit('listening');
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
  }

  handle(socket: Socket | TLSSocket, info: ConnectionInfo): void {
    this.connections.set(socket, info);
    socket.setTimeout(this.limits.idleTimeoutMs, () => socket.destroy());
    if (this.watchedShutdown !== info.shutdown) {
      this.watchedShutdown = info.shutdown;
      if (info.shutdown.aborted) this.beginShutdown();
      else info.shutdown.addEventListener('abort', () => this.beginShutdown(), { once: true });
    }
    this.server.emit('connection', socket);
  }

  /** After the listeners stopped: stop the connection-checking timer. */
  close(): Promise<void> {
    this.beginShutdown();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Idle keep-alive connections go now; busy ones after their response (Connection: close). */
  private beginShutdown(): void {
    if (this.closing) return;
    this.closing = true;
    this.server.closeIdleConnections();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const info = this.connections.get(req.socket);
    if (info === undefined) {
      res.destroy(); // not a socket we were handed: cannot happen, but never serve it
      return;
    }
    this.app.handle(req, res, { remoteAddress: info.remoteAddress, logger: info.logger, closing: this.closing }).catch((err: unknown) => {
      // handle() answers every failure itself; this is the last guard so nothing can crash the process.
      info.logger.error({ err }, 'http request handling failed');
      res.destroy();
    });
  }

  /** Malformed requests, oversized headers, timeouts: a bare 400/408/431 and close. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    this.connections.get(socket)?.logger.debug({ code: err.code }, 'http client error');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
}
