/**
 * POP3 responses → bytes (RFC 1939 3, RFC 2449 3 and 8, RFC 5034 4).
 *
 * - single-line: `+OK text` / `-ERR [resp-code] text`, at most 512 octets with CRLF;
 * - multi-line: a single line, then dot-stuffed lines, then `.` CRLF;
 * - continue-req (AUTH): `+ ` base64 CRLF, `+ ` alone for an empty challenge.
 * @module
 */

/** RFC 2449 8.1 (IN-USE, LOGIN-DELAY) and RFC 3206 (SYS/TEMP, SYS/PERM, AUTH). */
export type Pop3ResponseCode = 'IN-USE' | 'LOGIN-DELAY' | 'SYS/TEMP' | 'SYS/PERM' | 'AUTH';

/** RFC 1939 3: "Responses may be up to 512 characters long, including the terminating CRLF". */
export const RESPONSE_LINE_LIMIT = 512;
/** The end of every multi-line response (RFC 1939 3). */
export const MULTILINE_END = Buffer.from('.\r\n', 'latin1');
export const CRLF = Buffer.from('\r\n', 'latin1');

/** `+OK` with optional text. */
export function encodeOk(text = ''): Buffer {
  return singleLine('+OK', null, text);
}

/** `-ERR [code] text`. */
export function encodeErr(text: string, code: Pop3ResponseCode | null = null): Buffer {
  return singleLine('-ERR', code, text);
}

/**
 * A positive multi-line response: the first line, each line dot-stuffed, then the terminator
 * (RFC 1939 3). Lines must not contain CR or LF (listings and capabilities never do).
 */
export function encodeMultiline(text: string, lines: readonly string[]): Buffer {
  const body = lines.map((line) => (line.startsWith('.') ? `.${line}\r\n` : `${line}\r\n`)).join('');
  return Buffer.concat([encodeOk(text), Buffer.from(body, 'utf8'), MULTILINE_END]);
}

/** RFC 5034 4: a server challenge, `+ ` and base64; an empty challenge is `+ ` alone. */
export function encodeContinuation(challenge: Uint8Array): Buffer {
  const base64 = Buffer.from(challenge.buffer, challenge.byteOffset, challenge.byteLength).toString('base64');
  return Buffer.from(`+ ${base64}\r\n`, 'latin1');
}

function singleLine(status: '+OK' | '-ERR', code: Pop3ResponseCode | null, text: string): Buffer {
  const clean = printable(text);
  const prefix = code === null ? status : `${status} [${code}]`;
  const line = clean === '' ? prefix : `${prefix} ${clean}`;
  let bytes: Buffer = Buffer.from(line, 'utf8');
  if (bytes.length + 2 > RESPONSE_LINE_LIMIT) bytes = truncateUtf8(bytes, RESPONSE_LINE_LIMIT - 2);
  return Buffer.concat([bytes, CRLF]);
}

/**
 * Response text never carries CR, LF or other controls (they would end or corrupt the line),
 * and never starts with "[", which would read as a response code (RFC 2449 8).
 */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return flat.startsWith('[') ? `(${flat.slice(1)}` : flat;
}

function truncateUtf8(bytes: Buffer, limit: number): Buffer {
  let end = limit;
  // Back up to the start of a UTF-8 sequence so no character is cut in half.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
