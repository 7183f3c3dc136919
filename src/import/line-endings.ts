/**
 * Message bytes as the store keeps them: CRLF line endings.
 *
 * IMAP counts message sizes and FETCH offsets in octets of the message with CRLF line
 * endings (RFC 3501 2.3.4, RFC 5322 2.1: lines end in CRLF), and clients compare RFC822.SIZE
 * with what they download; mbox and Maildir files written on Unix use bare LF. Converting once at
 * import keeps every later FETCH a plain byte-range read. Existing CRLF pairs and bare CRs are
 * left alone.
 */

const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
const FROM_ = Buffer.from('From ');

export interface NormalizeOptions {
  /** mboxrd: remove one ">" from lines that match /^>+From /. */
  unescapeFrom: boolean;
}

/**
 * Converts bare LF to CRLF and, for mbox, unescapes ">From " lines. Returns the input itself
 * when nothing needs changing (the common case for CRLF Maildir files).
 */
export function normalizeMessage(input: Buffer, options: NormalizeOptions): Buffer {
  let bareLf = 0;
  let unescapes = 0;
  let lineStart = 0;
  while (lineStart < input.length) {
    if (options.unescapeFrom && input[lineStart] === GT && isQuotedFromLine(input, lineStart)) unescapes++;
    const lf = input.indexOf(LF, lineStart);
    if (lf === -1) break;
    if (lf === 0 || input[lf - 1] !== CR) bareLf++;
    lineStart = lf + 1;
  }
  if (bareLf === 0 && unescapes === 0) return input;
  return rewrite(input, input.length + bareLf - unescapes, options);
}

function rewrite(input: Buffer, outputLength: number, options: NormalizeOptions): Buffer {
  const output = Buffer.allocUnsafe(outputLength);
  let written = 0;
  let lineStart = 0;
  while (lineStart < input.length) {
    let copyFrom = lineStart;
    if (options.unescapeFrom && input[lineStart] === GT && isQuotedFromLine(input, lineStart)) copyFrom++;
    const lf = input.indexOf(LF, lineStart);
    if (lf === -1) {
      input.copy(output, written, copyFrom);
      break;
    }
    if (lf === 0 || input[lf - 1] !== CR) {
      written += input.copy(output, written, copyFrom, lf);
      output[written++] = CR;
      output[written++] = LF;
    } else {
      written += input.copy(output, written, copyFrom, lf + 1);
    }
    lineStart = lf + 1;
  }
  return output;
}

/** True for a line of one or more ">" followed by "From " (mboxrd quoting). */
function isQuotedFromLine(input: Buffer, lineStart: number): boolean {
  let i = lineStart;
  while (input[i] === GT) i++;
  return i > lineStart && i + FROM_.length <= input.length && input.compare(FROM_, 0, FROM_.length, i, i + FROM_.length) === 0;
}
