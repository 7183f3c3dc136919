/**
 * Pieces shared by the mechanisms: result builders and the UTF-8 decoding every mechanism
 * applies to client messages.
 * @module
 */
import { LookupFailedError } from '../credentials.js';
import type { AuthAccount, SaslFailureReason, SaslMechanismName, SaslStep } from '../types.js';

export function challenge(data: string | Buffer): SaslStep {
  return { challenge: typeof data === 'string' ? Buffer.from(data, 'utf8') : data };
}

export function failed(reason: SaslFailureReason, username: string | null, detail: string): SaslStep {
  return { failed: reason, username, detail };
}

export function succeeded(account: AuthAccount, mechanism: SaslMechanismName): SaslStep {
  return { done: true, identity: { accountId: account.id, address: account.address, mechanism } };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8 decoding; null when the octets are not UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Runs a step body so that nothing escapes: store outages become `temporary`, anything else
 * (a bug) becomes `temporary` too, with the message kept for the log.
 */
export async function guard(username: () => string | null, body: () => Promise<SaslStep>): Promise<SaslStep> {
  try {
    return await body();
  } catch (error) {
    const detail = error instanceof LookupFailedError ? error.message : `internal error: ${error instanceof Error ? error.message : String(error)}`;
    return failed('temporary', username(), detail);
  }
}
