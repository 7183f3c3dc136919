/**
 * Checks against the running server: every listener answers with its protocol's greeting, and
 * the MX refuses to relay for a stranger (RFC 5321 3.6.2).
 * @module
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { LISTENER_NAMES } from '../config/defaults.js';
import type { Config, ListenAddress, ListenerName } from '../config/types.js';
import { formatListenAddress } from '../config/units.js';
import { IMPLICIT_TLS_LISTENERS, LISTENER_FAMILY } from '../net/fallback.js';
import type { Finding } from './types.js';
import { fail, ok, warn } from './types.js';

export interface NetworkCheckOptions {
  /** Per connection and per reply, ms. */
  timeoutMs: number;
}

/** What a healthy greeting starts with, per protocol family. */
const GREETING: Readonly<Record<string, RegExp>> = {
  smtp: /^220[ -]/,
  imap: /^\* (OK|PREAUTH)\b/,
  pop3: /^\+OK\b/,
  http: /^HTTP\/1\.1 \d{3} /,
};

/** Wildcard listen addresses are reached through loopback. */
function dialHost(address: ListenAddress): string {
  if (address.host === '0.0.0.0') return '127.0.0.1';
  if (address.host === '::') return '::1';
  return address.host;
}

export async function listenerFindings(config: Config, options: NetworkCheckOptions): Promise<Finding[]> {
  const checks: Array<Promise<Finding>> = [];
  for (const listener of LISTENER_NAMES) {
    for (const address of config.listen[listener]) checks.push(checkListener(listener, address, options));
  }
  return Promise.all(checks);
}

async function checkListener(listener: ListenerName, address: ListenAddress, options: NetworkCheckOptions): Promise<Finding> {
  const where = `${listener} ${formatListenAddress(address)}`;
  const family = LISTENER_FAMILY[listener];
  try {
    const line = await firstLine(listener, address, options.timeoutMs);
    if (/not available yet/i.test(line)) return warn('listeners', `${where} answers but its protocol is not served yet`, 'update Mailhaven');
    if (!(GREETING[family] ?? /./).test(line)) return fail('listeners', `${where} answered ${JSON.stringify(line.slice(0, 80))}`, `another program may be using the port; check with: ss -ltnp`);
    return ok('listeners', `${where} answers`);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return fail('listeners', `${where}: ${reason}`, 'start the server (mailhaven serve / systemctl start mailhaven) and check its log');
  }
}

/** The greeting line; HTTP gets a HEAD request first, implicit TLS a handshake (any certificate). */
async function firstLine(listener: ListenerName, address: ListenAddress, timeoutMs: number): Promise<string> {
  const socket = await open(listener, address, timeoutMs);
  try {
    if (LISTENER_FAMILY[listener] === 'http') socket.write('HEAD /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    return await readLine(socket, timeoutMs);
  } finally {
    socket.destroy();
  }
}

function open(listener: ListenerName, address: ListenAddress, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const host = dialHost(address);
    const socket: Socket = IMPLICIT_TLS_LISTENERS.has(listener)
      ? connectTls({ host, port: address.port, rejectUnauthorized: false, servername: undefined })
      : connect({ host, port: address.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(IMPLICIT_TLS_LISTENERS.has(listener) ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(err.code === 'ECONNREFUSED' ? 'connection refused' : (err.code ?? err.message)));
    });
  });
}

/** One CRLF-terminated line (without it); an SMTP multi-line reply is read to its last line. */
function readLine(socket: Socket, timeoutMs: number, multiline = false): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (result: string | Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      if (typeof result === 'string') resolve(result);
      else reject(result);
    };
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString('latin1');
      for (;;) {
        const end = buffer.indexOf('\r\n');
        if (end === -1) return;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        // RFC 5321 4.2.1: "250-" continues, "250 " is the last line.
        if (multiline && /^\d{3}-/.test(line)) continue;
        finish(line);
        return;
      }
    };
    const onClose = (): void => finish(new Error('closed without an answer'));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
  });
}

/**
 * An unauthenticated client asks the MX to relay from one foreign domain to another. Anything but
 * a refusal of the RCPT (4xx or 5xx) means anyone can send spam through the server.
 */
export async function relayFindings(config: Config, options: NetworkCheckOptions): Promise<Finding[]> {
  const address = config.listen.smtp[0];
  if (address === undefined) return [ok('relay', 'no smtp listener: nothing to relay through')];
  const where = `smtp ${formatListenAddress(address)}`;
  let socket: Socket | null = null;
  try {
    socket = await open('smtp', address, options.timeoutMs);
    const reply = async (command: string | null): Promise<string> => {
      if (command !== null) socket?.write(`${command}\r\n`);
      return readLine(socket as Socket, options.timeoutMs, true);
    };
    const greeting = await reply(null);
    if (!greeting.startsWith('220')) return [warn('relay', `${where} did not greet: ${greeting.slice(0, 80)}`, 'check the server log')];
    await reply('EHLO doctor.mailhaven.invalid');
    const mail = await reply('MAIL FROM:<doctor@example.com>');
    if (!mail.startsWith('250')) return [ok('relay', `${where} refuses MAIL from a stranger (${mail.slice(0, 60)})`)];
    const rcpt = await reply('RCPT TO:<relay-test@example.net>');
    await reply('QUIT').catch(() => '');
    if (/^[45]/.test(rcpt)) return [ok('relay', `${where} refuses to relay for unauthenticated clients (${rcpt.slice(0, 60)})`)];
    return [fail('relay', `${where} accepted a recipient in a foreign domain without authentication: OPEN RELAY (${rcpt.slice(0, 60)})`, 'stop the server now and report this as a bug')];
  } catch (err) {
    return [warn('relay', `${where}: relay test not possible: ${err instanceof Error ? err.message : String(err)}`, 'start the server and run the doctor again')];
  } finally {
    socket?.destroy();
  }
}
