/**
 * Parsers for the value shapes the configuration file accepts: sizes ("50M"), durations
 * ("5m") and listen addresses ("[::]:25"). Each returns null when the value does not fit,
 * so the schema can word the error.
 */
import { isIP } from 'node:net';
import type { ListenAddress } from './types.js';

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * A size in octets: a non-negative integer, or a string with a binary suffix
 * ("512K", "50M", "2G", "1.5GiB", "100MB"; K/M/G/T are powers of 1024, the B/iB is optional).
 */
export function parseSize(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?\s*$/i.exec(value);
  if (!match) return null;
  const amount = Number(match[1]);
  const unit = SIZE_UNITS[(match[2] ?? '').toLowerCase()] ?? 1;
  const octets = Math.floor(amount * unit);
  return Number.isSafeInteger(octets) ? octets : null;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * A duration in whole seconds: a non-negative integer, or a string such as "30s", "5m",
 * "1h", "2d" or a sum like "1h30m". A bare number in a string ("90") means seconds.
 */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const text = value.trim().toLowerCase();
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+[smhd])+$/.test(text)) return null;
  let seconds = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([smhd])/g)) {
    seconds += Number(amount) * (DURATION_UNITS[unit ?? 's'] ?? 1);
  }
  return Number.isSafeInteger(seconds) ? seconds : null;
}

// A DNS name: labels of letters, digits and hyphens (RFC 1123 2.1), not starting or ending with '-'.
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

export function isHostname(value: string): boolean {
  return HOSTNAME.test(value);
}

/** "host:port" with host an IPv4 address or DNS name, or "[v6]:port"; port 0 asks for an ephemeral port. */
export function parseListenAddress(value: unknown): ListenAddress | null {
  if (typeof value !== 'string') return null;
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value);
  const plain = /^([^:[\]\s]+):(\d{1,5})$/.exec(value);
  const host = v6?.[1] ?? plain?.[1];
  const portText = v6?.[2] ?? plain?.[2];
  if (host === undefined || portText === undefined) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  const hostIsValid = v6 ? isIP(host) === 6 : isIP(host) === 4 || isHostname(host);
  return hostIsValid ? { host, port } : null;
}

/** Prints an address the way the configuration file spells it. */
export function formatListenAddress(address: ListenAddress): string {
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * A destination "host", "host:port", "[v6]" or "[v6]:port" (a smarthost in [[routes]]); the
 * port defaults to `defaultPort`.
 */
export function parseHostPort(value: string, defaultPort: number): ListenAddress | null {
  const text = value.trim();
  const bracketed = /^\[([^\]]+)\]$/.exec(text);
  if (bracketed?.[1] !== undefined) return isIP(bracketed[1]) === 6 ? { host: bracketed[1], port: defaultPort } : null;
  if (isIP(text) !== 0 || isHostname(text)) return { host: text, port: defaultPort };
  const withPort = parseListenAddress(text);
  return withPort !== null && withPort.port >= 1 ? withPort : null;
}
