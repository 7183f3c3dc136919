/**
 * Quota sizes as operators write them: "500M", "2G", "1.5GiB", "1048576", "unlimited".
 * Units are binary (K = 1024 bytes, M = 1024², G = 1024³, T = 1024⁴), as du, df -h and most
 * mail servers' quota settings use them. "0" and "unlimited" mean no limit.
 * @module
 */
import { parseSize } from '../config/units.js';
import { AdminError } from './errors.js';

const UNIT_POWERS: Record<string, number> = { K: 1, M: 2, G: 3, T: 4 };

/**
 * Bytes, or null for "no limit". The syntax is the configuration file's (config/units.ts
 * parseSize), so a size means the same everywhere. Throws AdminError('usage') otherwise.
 */
export function parseQuotaSize(input: string): number | null {
  if (input.trim().toLowerCase() === 'unlimited') return null;
  const bytes = parseSize(input);
  if (bytes === null) throw badSize(input);
  return bytes === 0 ? null : bytes;
}

/** "500M", "2G", "1.5K" (see formatBytes), or "unlimited". */
export function formatQuotaSize(bytes: number | null): string {
  if (bytes === null) return 'unlimited';
  return formatBytes(bytes);
}

/** Exact when the value is a whole number of a unit ("500M"), else the largest unit with one decimal ("1.2G"). */
export function formatBytes(bytes: number): string {
  const units = ['T', 'G', 'M', 'K'] as const;
  for (const unit of units) {
    const size = 1024 ** (UNIT_POWERS[unit] ?? 0);
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  for (const unit of units) {
    const size = 1024 ** (UNIT_POWERS[unit] ?? 0);
    if (bytes >= size) return `${(bytes / size).toFixed(1)}${unit}`;
  }
  return String(bytes);
}

function badSize(input: string): AdminError {
  return new AdminError('usage', `invalid size "${input}": expected a number with an optional unit K, M, G or T (e.g. 500M, 2G), or "unlimited"`);
}
