/**
 * The CAPA list (RFC 2449 5, 6; RFC 3206 6; RFC 2595 4; RFC 5034 3).
 *
 * - USER and the plaintext SASL mechanisms only where they may be used (TLS, or loopback with
 *   `auth.allow_plaintext_on_loopback`): RFC 5034 4 wants a configuration that "does NOT
 *   advertise or permit any plaintext password mechanisms" without TLS, by default.
 * - STLS only in AUTHORIZATION without TLS ("present and permitted in the current state").
 * - EXPIRE (RFC 2449 6.7): before login the shortest policy any user could have, with USER,
 *   or NEVER when no policy is set anywhere; after login the user's own.
 * - LOGIN-DELAY is not announced: no login delay is configured.
 * - There is no APOP capability (RFC 2449 6): the greeting's timestamp announces it.
 * @module
 */
import type { Session } from './session.js';

export const IMPLEMENTATION = 'Mailhaven';

export type CapabilityContext = { kind: 'authorization'; secure: boolean } | { kind: 'transaction'; retentionDays: number | null };

export async function capabilities(session: Session, context: CapabilityContext): Promise<string[]> {
  const lines = ['TOP', 'UIDL'];
  if (session.plaintextAllowed) lines.push('USER');
  const mechanisms = session.mechanisms();
  if (mechanisms.length > 0) lines.push(`SASL ${mechanisms.join(' ')}`);
  lines.push('RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', await expire(session, context));
  if (context.kind === 'authorization' && !context.secure) lines.push('STLS');
  lines.push(`IMPLEMENTATION ${IMPLEMENTATION}`);
  return lines;
}

async function expire(session: Session, context: CapabilityContext): Promise<string> {
  if (context.kind === 'transaction') return context.retentionDays === null ? 'EXPIRE NEVER' : `EXPIRE ${context.retentionDays}`;
  const shortest = await session.services.expireBeforeLogin();
  return shortest === null ? 'EXPIRE NEVER' : `EXPIRE ${shortest} USER`;
}
