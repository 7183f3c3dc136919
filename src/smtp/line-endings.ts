/**
 * Bare CR / bare LF check for BDAT content (RFC 3030). BDAT is length-delimited, so a bare LF
 * cannot end the message here, but a message accepted with one could split in two when relayed
 * with DATA by another server (SMTP smuggling, CVE-2023-51764 family). So BDAT gets the same
 * rule as DATA (the receiver's): refuse bare line endings, or turn a bare LF into CRLF.
 * BINARYMIME bodies (RFC 3030 3) are binary and skip this check.
 * @module
 */
import type { DataErrorReason } from '../wire/smtp/index.js';

const CR = 0x0d;
const LF = 0x0a;

export class BareLineEndingFilter {
  /** The previous chunk ended with a CR whose LF has not been seen. */
  #pendingCr = false;
  #error: DataErrorReason | null = null;

  constructor(private readonly normalizeBareLf: boolean) {}

  get error(): DataErrorReason | null {
    return this.#error;
  }

  /** Returns the chunk to keep (normalized when asked), or null once the content is refused. */
  filter(chunk: Buffer): Buffer | null {
    if (this.#error !== null) return null;
    let out: Buffer[] | null = null;
    let runStart = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (this.#pendingCr) {
        this.#pendingCr = false;
        if (byte !== LF) return this.#fail('bareCr');
        continue;
      }
      if (byte === CR) {
        this.#pendingCr = true;
      } else if (byte === LF) {
        if (!this.normalizeBareLf) return this.#fail('bareLf');
        out ??= [];
        out.push(chunk.subarray(runStart, i), Buffer.from([CR, LF]));
        runStart = i + 1;
      }
    }
    if (out === null) return chunk;
    out.push(chunk.subarray(runStart));
    return Buffer.concat(out);
  }

  /** At the end of the message: a CR left waiting is bare. */
  finish(): DataErrorReason | null {
    if (this.#error === null && this.#pendingCr) this.#error = 'bareCr';
    return this.#error;
  }

  #fail(reason: DataErrorReason): null {
    this.#error = reason;
    return null;
  }
}
