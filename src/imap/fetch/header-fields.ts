/**
 * BODY[HEADER.FIELDS (...)] and BODY[HEADER.FIELDS.NOT (...)] (RFC 3501 6.4.5): the header block
 * filtered by field name, each kept field with its continuation lines, octets unchanged, and
 * the blank line that ends the header.
 * @module
 */

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const COLON = 0x3a;

/** Keeps (or, with `exclude`, drops) the fields named in `names` (case-insensitive). */
export function filterHeaderFields(header: Buffer, names: readonly string[], exclude: boolean): Buffer {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const kept: Buffer[] = [];
  let start = 0;
  let keep = false;
  let fieldStart = -1;
  const end = headerContentEnd(header);
  while (start < end) {
    const lf = header.indexOf(LF, start);
    const lineEnd = lf < 0 || lf >= end ? end : lf + 1;
    const first = header[start];
    const continuation = first === SP || first === TAB;
    if (!continuation) {
      if (fieldStart >= 0 && keep) kept.push(header.subarray(fieldStart, start));
      fieldStart = start;
      const colon = header.indexOf(COLON, start);
      const name = colon > start && colon < lineEnd ? header.toString('latin1', start, colon).trim().toLowerCase() : null;
      keep = name !== null && wanted.has(name) !== exclude;
    }
    start = lineEnd;
  }
  if (fieldStart >= 0 && keep) kept.push(header.subarray(fieldStart, end));
  kept.push(Buffer.from('\r\n'));
  return Buffer.concat(kept);
}

/** Where the fields end: before the blank line that closes the header, if it is there. */
function headerContentEnd(header: Buffer): number {
  const n = header.length;
  if (n >= 4 && header[n - 4] === CR && header[n - 3] === LF && header[n - 2] === CR && header[n - 1] === LF) return n - 2;
  if (n >= 2 && header[n - 2] === LF && header[n - 1] === LF) return n - 1;
  if (n >= 3 && header[n - 3] === LF && header[n - 2] === CR && header[n - 1] === LF) return n - 2;
  if (n === 2 && header[0] === CR && header[1] === LF) return 0;
  if (n === 1 && header[0] === LF) return 0;
  return n;
}
