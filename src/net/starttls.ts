/**
 * Server-side TLS upgrade, shared by implicit-TLS listeners and STARTTLS (SMTP RFC 3207,
 * IMAP RFC 9051 6.2.1, POP3 STLS RFC 2595 4).
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { TlsManager } from './tls.js';

export interface UpgradeOptions {
  /** Give up when the handshake has not finished in this time. */
  handshakeTimeoutMs?: number;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 60_000;

/** The handshake did not complete: timeout, peer went away, or not TLS at all. */
export class TlsHandshakeError extends Error {
  readonly code = 'TLS_HANDSHAKE';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TlsHandshakeError';
  }
}

/**
 * Wraps a plaintext socket in server-side TLS and resolves once the handshake is done.
 *
 * Contract for STARTTLS callers (CVE-2011-0411, command injection):
 * 1. On reading the STARTTLS/STLS command, stop reading: `socket.pause()` and remove every
 *    'data'/'readable' listener of the plaintext socket (or unpipe it), before the reply is written.
 * 2. Discard whatever the line reader buffered after the command's CRLF: a client must wait for
 *    the reply before sending anything, so such bytes are injected plaintext.
 * 3. Write the positive reply ("220 Ready to start TLS", "OK Begin TLS", "+OK Begin TLS").
 * 4. Call this function, and after it resolves reset the session state the RFC requires
 *    (RFC 3207 4.2 SMTP forgets EHLO; RFC 9051 6.2.1 IMAP forgets capabilities).
 *
 * Bytes still queued inside the socket itself are fed to the TLS engine, not dropped: they
 * are the ClientHello once the reply has left. Anything else there fails the handshake,
 * so plaintext can never be read as a command after the upgrade.
 *
 * On failure the socket is destroyed and the promise rejects with TlsHandshakeError.
 * After it resolves the caller owns the TLSSocket and must attach its own 'error' listener.
 */
export function upgradeToTls(socket: Socket, tls: TlsManager, options: UpgradeOptions = {}): Promise<TLSSocket> {
  if (socket.listenerCount('data') > 0 || socket.listenerCount('readable') > 0) {
    socket.destroy();
    return Promise.reject(new TypeError('upgradeToTls: stop reading the plaintext socket first (remove its data/readable listeners)'));
  }
  socket.pause();
  const secure = new TLSSocket(socket, { isServer: true, secureContext: tls.context, SNICallback: tls.sniCallback });
  return waitForHandshake(secure, options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
}

function waitForHandshake(secure: TLSSocket, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new TlsHandshakeError(`TLS handshake timed out after ${timeoutMs} ms`)), timeoutMs);
    const onSecure = (): void => {
      cleanup();
      resolve(secure);
    };
    const onError = (err: Error): void => fail(new TlsHandshakeError(`TLS handshake failed: ${err.message}`, { cause: err }));
    const onClose = (): void => fail(new TlsHandshakeError('connection closed during the TLS handshake'));
    function cleanup(): void {
      clearTimeout(timer);
      secure.off('secure', onSecure);
      secure.off('error', onError);
      secure.off('close', onClose);
    }
    function fail(error: TlsHandshakeError): void {
      cleanup();
      // Keep a listener: destroy() may still emit an error we have already reported.
      secure.on('error', () => undefined);
      secure.destroy();
      reject(error);
    }
    secure.once('secure', onSecure);
    secure.once('error', onError);
    secure.once('close', onClose);
  });
}
