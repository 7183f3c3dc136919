/**
 * Protocol-appropriate one-shot answers, for listeners no protocol module serves yet and for
 * connections over the limits: the client gets a reply it understands, then the server ends.
 */
import type { Socket } from 'node:net';
import type { ListenerName } from '../config/types.js';
import type { ConnectionHandler, ConnectionInfo, RefusalInfo } from './types.js';

export type ProtocolFamily = 'smtp' | 'imap' | 'pop3' | 'http';

export const LISTENER_FAMILY: Readonly<Record<ListenerName, ProtocolFamily>> = {
  smtp: 'smtp',
  submission: 'smtp',
  submissions: 'smtp',
  imap: 'imap',
  imaps: 'imap',
  pop3: 'pop3',
  pop3s: 'pop3',
  http: 'http',
};

/** Listeners whose connections start with a TLS handshake (RFC 8314 implicit TLS). */
export const IMPLICIT_TLS_LISTENERS: ReadonlySet<ListenerName> = new Set(['submissions', 'imaps', 'pop3s']);

/** Peers get this long to read the reply and hang up before the socket is destroyed. */
const LINGER_MS = 5_000;

function httpResponse(status: string, body: string, extraHeaders: string[] = []): string {
  const headers = ['Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', ...extraHeaders];
  return `HTTP/1.1 ${status}\r\n${headers.join('\r\n')}\r\n\r\n${body}`;
}

/** Greeting-time "not served yet" (RFC 5321 3.8: 421 closes the channel; RFC 9051 7.1.5: BYE greeting). */
export function notAvailableReply(family: ProtocolFamily, hostname: string): string {
  switch (family) {
    case 'smtp':
      return `421 4.3.2 ${hostname} Service not available yet\r\n`;
    case 'imap':
      return '* BYE Not available yet\r\n';
    case 'pop3':
      return '-ERR Not available yet\r\n';
    case 'http':
      return httpResponse('503 Service Unavailable', 'Not available yet\n');
    default: {
      const unknownFamily: never = family;
      throw new TypeError(`unknown protocol family ${String(unknownFamily)}`);
    }
  }
}

/** "Too many connections" (RFC 3463 4.7.0 policy; RFC 3206 SYS/TEMP: try again later). */
export function tooManyConnectionsReply(family: ProtocolFamily, hostname: string): string {
  switch (family) {
    case 'smtp':
      return `421 4.7.0 ${hostname} Too many connections, try again later\r\n`;
    case 'imap':
      return '* BYE Too many connections, try again later\r\n';
    case 'pop3':
      return '-ERR [SYS/TEMP] Too many connections, try again later\r\n';
    case 'http':
      return httpResponse('503 Service Unavailable', 'Too many connections\n', ['Retry-After: 60']);
    default: {
      const unknownFamily: never = family;
      throw new TypeError(`unknown protocol family ${String(unknownFamily)}`);
    }
  }
}

/**
 * Writes `reply` and half-closes. Reading goes on (and is discarded) until the peer closes,
 * so its pending request does not turn our close into a reset that hides the reply.
 */
export function replyAndClose(socket: Socket, reply: string): void {
  socket.on('error', () => undefined);
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
  socket.resume();
  socket.end(reply);
}

export function defaultRefuse(socket: Socket, info: RefusalInfo): void {
  replyAndClose(socket, tooManyConnectionsReply(LISTENER_FAMILY[info.listener], info.hostname));
}

/** Stands in for a protocol module that is not registered yet. */
export function placeholderHandler(listener: ListenerName): ConnectionHandler {
  const family = LISTENER_FAMILY[listener];
  return {
    handle(socket, info: ConnectionInfo): void {
      info.logger.debug('no handler registered, answering "not available"');
      replyAndClose(socket, notAvailableReply(family, info.hostname));
    },
  };
}
