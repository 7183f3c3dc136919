/**
 * xtext (RFC 3461 4): the encoding of the ENVID, ORCPT and AUTH= parameter values.
 *
 *   xtext   = *( xchar / hexchar )
 *   xchar   = any ASCII CHAR between "!" (33) and "~" (126) inclusive, except for "+" and "="
 *   hexchar = ASCII "+" immediately followed by two upper case hexadecimal digits
 * @module
 */

export class XtextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XtextError';
  }
}

const PLUS = 0x2b;
const EQUALS = 0x3d;

function isXchar(code: number): boolean {
  return code >= 0x21 && code <= 0x7e && code !== PLUS && code !== EQUALS;
}

function upperHexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  return -1;
}

/** Decodes xtext into the octets it stands for; throws XtextError on anything outside the grammar. */
export function decodeXtext(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (isXchar(code)) {
      out.push(code);
      continue;
    }
    if (code !== PLUS) throw new XtextError(`character not allowed in xtext at offset ${i}`);
    const high = upperHexValue(text.charCodeAt(i + 1));
    const low = upperHexValue(text.charCodeAt(i + 2));
    if (high < 0 || low < 0) throw new XtextError(`"+" must be followed by two upper-case hex digits at offset ${i}`);
    out.push(high * 16 + low);
    i += 2;
  }
  return Buffer.from(out);
}

/** Encodes octets (or a UTF-8 string) as xtext, hex-encoding "+", "=", SP, controls and non-ASCII. */
export function encodeXtext(value: Uint8Array | string): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  let out = '';
  for (const byte of bytes) {
    out += isXchar(byte) ? String.fromCharCode(byte) : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
