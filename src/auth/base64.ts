/**
 * Strict base64 for SASL exchanges. RFC 4954 4 (and RFC 3501 6.2.2, RFC 5034 4 alike): servers
 * "MUST reject (and not ignore) any character not explicitly allowed by the BASE64 alphabet, and
 * MUST reject any sequence of BASE64 characters that contains the pad character ('=') anywhere
 * other than the end of the string". Node's Buffer.from(text, 'base64') ignores such errors,
 * so every protocol decodes client responses through here.
 * @module
 */

export class Base64Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Base64Error';
  }
}

// RFC 4648 4: groups of 4 alphabet characters, the last group possibly padded with "=" or "==".
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes RFC 4648 base64 with padding; throws Base64Error on anything else. "" decodes to empty. */
export function decodeBase64Strict(text: string): Buffer {
  if (!STRICT_BASE64.test(text)) throw new Base64Error('invalid base64');
  const decoded = Buffer.from(text, 'base64');
  // Non-zero bits in the padding positions would mean two encodings for one value: refuse them.
  if (decoded.toString('base64') !== text) throw new Base64Error('non-canonical base64');
  return decoded;
}

/**
 * Decodes an initial response given with the command (SMTP AUTH RFC 4954 4, IMAP SASL-IR
 * RFC 4959 3, POP3 AUTH RFC 5034 4): "=" means present but empty.
 */
export function decodeInitialResponse(text: string): Buffer {
  return text === '=' ? Buffer.alloc(0) : decodeBase64Strict(text);
}

/** Encodes a server challenge. */
export function encodeBase64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}
