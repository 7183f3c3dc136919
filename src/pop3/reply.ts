/**
 * What handlers answer with. Handlers never write: they return one of these and the session
 * encodes and sends it (./session.ts), streaming message bodies with backpressure.
 * @module
 */
import type { Readable } from 'node:stream';

export type Pop3Reply =
  /** `+OK text`. */
  | { kind: 'ok'; text: string }
  /** `+OK text`, lines, `.` (RFC 1939 3 multi-line). */
  | { kind: 'listing'; text: string; lines: string[] }
  /**
   * `+OK text`, the message dot-stuffed (all of it, or the header and `bodyLines` lines), `.`.
   * `body` is a stream, or the whole message when it is small. `onSent` runs once the response
   * is queued in full; `whole` tells whether every octet of the message (`size`) went out.
   */
  | { kind: 'message'; text: string; body: Readable | Buffer; size: number; bodyLines?: number; onSent?: (whole: boolean) => void }
  /** `+OK text`, then the TLS handshake (RFC 2595 4). */
  | { kind: 'startTls'; text: string };

export const ok = (text = ''): Pop3Reply => ({ kind: 'ok', text });
export const listing = (text: string, lines: string[]): Pop3Reply => ({ kind: 'listing', text, lines });
