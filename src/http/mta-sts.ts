/**
 * The MTA-STS policy (RFC 8461 3.2), served at https://mta-sts.<domain>/.well-known/mta-sts.txt
 * through the reverse proxy, and the id of its `_mta-sts` TXT record (RFC 8461 3.1).
 * @module
 */
import { createHash } from 'node:crypto';

export type MtaStsMode = 'enforce' | 'testing' | 'none';

export interface MtaStsPolicy {
  mode: MtaStsMode;
  /** MX patterns ("mail.example.org", "*.example.net"), A-labels; default [hostname]. */
  mx: string[];
  /** RFC 8461 3.2: at most 31557600 seconds; a week or more is usual. */
  maxAgeSeconds: number;
}

/** RFC 8461 3.2 max_age upper bound (one year). */
export const MAX_MTA_STS_AGE = 31_557_600;
export const DEFAULT_MTA_STS_AGE = 7 * 86_400;

/** RFC 8461 3.2: CRLF-separated "key: value" lines; each MX on its own "mx:" line. */
export function mtaStsPolicyText(policy: MtaStsPolicy): string {
  const lines = ['version: STSv1', `mode: ${policy.mode}`, ...policy.mx.map((mx) => `mx: ${mx}`), `max_age: ${Math.min(Math.max(0, Math.trunc(policy.maxAgeSeconds)), MAX_MTA_STS_AGE)}`];
  return lines.map((line) => `${line}\r\n`).join('');
}

/**
 * RFC 8461 3.1 sts-id = 1*32(ALPHA / DIGIT): it must change whenever the policy does, so it is
 * taken from a hash of the policy text. Senders re-fetch the policy when the id they cached differs.
 */
export function mtaStsId(policy: MtaStsPolicy): string {
  return createHash('sha256').update(mtaStsPolicyText(policy), 'utf8').digest('hex').slice(0, 20);
}
