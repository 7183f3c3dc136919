/**
 * Errors of the HTTP side, each with a status and a stable code, mapped to a response once
 * (src/http/app.ts). Admin operation errors keep their own codes (src/admin/errors.ts) and are
 * mapped to a status there too.
 * @module
 */
import type { AdminErrorCode } from '../admin/errors.js';

export type HttpErrorCode =
  | 'badRequest'
  | 'badJson'
  | 'unauthorized'
  | 'invalidToken'
  | 'notFound'
  | 'methodNotAllowed'
  | 'payloadTooLarge'
  | 'unsupportedMediaType'
  | 'unavailable'
  | 'internal';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
    /** Extra response headers (WWW-Authenticate, Allow...). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The HTTP status for each admin error: the request's fault (4xx) unless the store failed. */
export const ADMIN_ERROR_STATUS: Readonly<Record<AdminErrorCode, number>> = {
  usage: 400,
  invalidAddress: 400,
  invalidDomain: 400,
  unknownDomain: 400,
  weakPassword: 400,
  exists: 409,
  domainInUse: 409,
  notFound: 404,
  store: 503,
};
