/**
 * Streams an mbox file message by message without reading it whole.
 *
 * Format (mboxo / mboxrd, as written by mutt, Thunderbird, Dovecot, Postfix's local(8)): each
 * message starts with a From_ line (see ./from-line.ts) and is followed by one empty line.
 * In the message, ">From " lines are unquoted per mboxrd (one ">" removed from /^>+From /),
 * line endings become CRLF (./line-endings.ts), and the separating empty line is dropped.
 * Content-Length headers (mboxcl) are not trusted: they are often wrong after editing.
 */
import { createReadStream } from 'node:fs';
import { ImportError } from './errors.js';
import { isSeparatorLine, parseFromLine } from './from-line.js';
import { normalizeMessage } from './line-endings.js';

const LF = 0x0a;
const CR = 0x0d;
const F = 0x46;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const READ_CHUNK = 1024 * 1024;
/** A partial line longer than this cannot be a From_ line: it is passed on instead of being carried. */
const MAX_FROM_LINE = 1000;

export interface MboxMessage {
  /** Byte offset of the message's From_ line in the file. */
  start: number;
  /** Byte offset where the next message's From_ line starts (or the file size). */
  end: number;
  /** Date from the From_ line, when present and readable. */
  fromLineDate: Date | null;
  /** The message with CRLF line endings and mboxrd unquoting applied. */
  bytes: Buffer;
}

interface Pending {
  start: number;
  fromLineDate: Date | null;
  parts: Buffer[];
}

/**
 * Yields the messages of `path`, starting at byte `startOffset`, which must be 0 or the start of
 * a From_ line (a journal's resume point). `chunkSize` is the read size (tests use tiny ones).
 */
export async function* readMbox(path: string, startOffset = 0, chunkSize = READ_CHUNK): AsyncGenerator<MboxMessage> {
  const stream = createReadStream(path, { start: startOffset, highWaterMark: chunkSize });
  let carry: Buffer = Buffer.alloc(0);
  /** Absolute file offset of carry[0] (then of data[0]). */
  let carryOffset = startOffset;
  /** The previous line was empty (a dateless From_ line only counts after one). */
  let afterEmptyLine = true;
  /** data[0] is in the middle of a line (a long line was passed on without its end). */
  let midLine = false;
  let pending: Pending | null = null;
  let firstLine = true;

  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let data: Buffer = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
      let dataOffset = carryOffset;
      if (firstLine && dataOffset === 0 && startsWith(data, UTF8_BOM)) {
        data = data.subarray(UTF8_BOM.length);
        dataOffset += UTF8_BOM.length;
      }
      let position = 0;
      let segmentStart = 0;
      while (true) {
        const lf = data.indexOf(LF, position);
        if (lf === -1) break;
        const lineIsFresh = !(midLine && position === 0);
        if (lineIsFresh && data[position] === F && isSeparator(data, position, lf, afterEmptyLine)) {
          if (pending) {
            pending.parts.push(data.subarray(segmentStart, position));
            yield finish(pending, dataOffset + position);
          }
          pending = {
            start: dataOffset + position,
            fromLineDate: parseFromLine(lineText(data, position, lf))?.date ?? null,
            parts: [],
          };
          segmentStart = lf + 1;
        } else if (pending === null && !isEmptyLine(data, position, lf)) {
          throw notMbox(path, startOffset);
        }
        afterEmptyLine = lineIsFresh && isEmptyLine(data, position, lf);
        firstLine = false;
        midLine = false;
        position = lf + 1;
      }
      // What follows the last LF is a partial line. A short one is carried into the next chunk
      // (it may be a From_ line); a long one cannot be, so it is passed on without waiting for its end.
      const rest = data.subarray(position);
      if (rest.length <= MAX_FROM_LINE) {
        if (pending) pending.parts.push(data.subarray(segmentStart, position));
        carry = Buffer.from(rest); // a copy: `data` is a large buffer
        carryOffset = dataOffset + position;
      } else {
        if (!pending) throw notMbox(path, startOffset);
        pending.parts.push(data.subarray(segmentStart));
        carry = Buffer.alloc(0);
        carryOffset = dataOffset + data.length;
        midLine = true;
        afterEmptyLine = false;
      }
    }
    if (carry.length > 0) {
      // A last line without LF.
      if (pending === null) {
        if (midLine || !isSeparator(carry, 0, carry.length, afterEmptyLine)) throw notMbox(path, startOffset);
        pending = { start: carryOffset, fromLineDate: parseFromLine(lineText(carry, 0, carry.length))?.date ?? null, parts: [] };
      } else {
        pending.parts.push(carry);
      }
      carryOffset += carry.length;
    }
    if (pending) yield finish(pending, carryOffset);
  } catch (err) {
    if (err instanceof ImportError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImportError('source', `cannot read ${path}: ${code ?? (err instanceof Error ? err.message : String(err))}`);
  } finally {
    stream.destroy();
  }
}

function finish(pending: Pending, end: number): MboxMessage {
  const raw = dropSeparatorLine(Buffer.concat(pending.parts));
  return { start: pending.start, end, fromLineDate: pending.fromLineDate, bytes: normalizeMessage(raw, { unescapeFrom: true }) };
}

/** The empty line that ends every mbox message belongs to the format, not to the message. */
function dropSeparatorLine(raw: Buffer): Buffer {
  const n = raw.length;
  if (n >= 4 && raw[n - 4] === CR && raw[n - 3] === LF && raw[n - 2] === CR && raw[n - 1] === LF) return raw.subarray(0, n - 2);
  if (n >= 2 && raw[n - 2] === LF && raw[n - 1] === LF) return raw.subarray(0, n - 1);
  if (n >= 3 && raw[n - 3] === LF && raw[n - 2] === CR && raw[n - 1] === LF) return raw.subarray(0, n - 2);
  if (n === 1 && raw[0] === LF) return raw.subarray(0, 0);
  if (n === 2 && raw[0] === CR && raw[1] === LF) return raw.subarray(0, 0);
  return raw;
}

function isSeparator(data: Buffer, start: number, end: number, afterEmptyLine: boolean): boolean {
  if (end - start > MAX_FROM_LINE) return false;
  return isSeparatorLine(lineText(data, start, end), afterEmptyLine);
}

/** The line without its LF or CRLF, as Latin-1 (From_ lines are ASCII). */
function lineText(data: Buffer, start: number, lf: number): string {
  const end = lf > start && data[lf - 1] === CR ? lf - 1 : lf;
  return data.toString('latin1', start, end);
}

function isEmptyLine(data: Buffer, start: number, lf: number): boolean {
  return lf === start || (lf === start + 1 && data[start] === CR);
}

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

function notMbox(path: string, offset: number): ImportError {
  return offset === 0
    ? new ImportError('source', `${path} is not an mbox file: it does not start with a "From " line`)
    : new ImportError('changed', `${path} changed: no "From " line at offset ${offset}`);
}
