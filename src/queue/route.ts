/**
 * Routing decisions for one recipient domain: a `[[routes]]` smarthost (the domain's own route,
 * then "*"), else its MX hosts; and the TLS policy for MX delivery: an `[[outbound.policies]]`
 * entry for the domain, else the domain's MTA-STS policy (RFC 8461), else `outbound.tls`.
 * @module
 */
import type { Config } from '../config/index.js';
import type { OutboundRoute } from '../config/types.js';
import type { Logger } from '../log/index.js';
import type { TlsPolicy } from './client.js';
import { mxMatchesPolicy } from './mta-sts.js';
import type { MtaStsPolicies, MtaStsPolicy } from './mta-sts.js';
import { asciiDomain } from './mx.js';

export type RouteChoice = { kind: 'smarthost'; route: OutboundRoute } | { kind: 'mx' };

/** A route for the domain itself wins over "*" (like Postfix transport_maps over relayhost). */
export function chooseRoute(routes: Config['routes'], domain: string): RouteChoice {
  const name = domain.toLowerCase();
  const ascii = asciiDomain(domain);
  const own = routes.find((route) => route.domain === name || route.domain === ascii);
  const route = own ?? routes.find((route) => route.domain === '*');
  return route === undefined ? { kind: 'mx' } : { kind: 'smarthost', route };
}

export interface MxTlsDecision {
  tls: TlsPolicy;
  /** Where the policy came from, for logs. */
  source: 'policy' | 'mta-sts' | 'default';
  /** MX host names the delivery may use: null = any. */
  allowMx: ((host: string) => boolean) | null;
  /** RFC 8461 5.2 testing mode: the policy is only reported on. */
  testing: MtaStsPolicy | null;
}

/** The TLS policy for delivery to the MX hosts of `domain`. */
export async function mxTlsPolicy(outbound: Config['outbound'], domain: string, mtaSts: MtaStsPolicies | null, logger: Logger): Promise<MxTlsDecision> {
  const name = asciiDomain(domain);
  const configured = outbound.policies.find((policy) => policy.domain.toLowerCase() === name || policy.domain.toLowerCase() === domain.toLowerCase());
  if (configured !== undefined) {
    return { tls: { mode: configured.tls, verify: configured.verifyCertificates }, source: 'policy', allowMx: null, testing: null };
  }
  const fallback: MxTlsDecision = { tls: { mode: outbound.tls, verify: false }, source: 'default', allowMx: null, testing: null };
  if (mtaSts === null) return fallback;
  const policy = await mtaSts.policyFor(name);
  if (policy === null || policy.mode === 'none') return fallback;
  if (policy.mode === 'testing') {
    logger.debug({ domain: name, mx: policy.mx }, 'MTA-STS policy in testing mode: reporting only');
    return { ...fallback, testing: policy };
  }
  // RFC 8461 5 / 4.2: enforce: only matching MX hosts, over TLS with a certificate valid for the MX name.
  return { tls: { mode: 'required', verify: true }, source: 'mta-sts', allowMx: (host) => mxMatchesPolicy(host, policy.mx), testing: null };
}
