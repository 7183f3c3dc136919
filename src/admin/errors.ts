/**
 * Errors of admin operations. Each has a stable code so every front end (CLI now, HTTP admin
 * API later) maps it once: the CLI turns all of them into exit status 1 except `usage`.
 * @module
 */

export type AdminErrorCode =
  /** An argument is not of the documented form (a size that is not a size); CLI exit 2. */
  | 'usage'
  /** Address or domain not valid per RFC 5321 4.1.2 (after IDN conversion). */
  | 'invalidAddress'
  | 'invalidDomain'
  /** The address's domain was never added with `domain add`. */
  | 'unknownDomain'
  | 'exists'
  | 'notFound'
  /** Empty, too short, equal to the address, or containing control characters. */
  | 'weakPassword'
  /** A domain that still has users or aliases. */
  | 'domainInUse'
  /** The store refused for another reason (I/O, busy database). */
  | 'store';

export class AdminError extends Error {
  constructor(
    readonly code: AdminErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}
