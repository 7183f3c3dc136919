/**
 * Modified UTF-7 (RFC 3501 5.1.3), the encoding of non-ASCII mailbox names that Dovecot and
 * Courier also use for Maildir++ folder names: "&" starts modified-BASE64 of UTF-16BE (with ","
 * instead of "/"), "-" ends it, "&-" is "&".
 */

/** Decodes a modified UTF-7 name to UTF-8; text that is not valid modified UTF-7 is returned as is. */
export function decodeModifiedUtf7(name: string): string {
  if (!name.includes('&')) return name;
  let invalid = false;
  const decoded = name.replace(/&([^-]*)-/g, (_match, encoded: string) => {
    if (encoded === '') return '&';
    if (!/^[A-Za-z0-9+,]+$/.test(encoded)) {
      invalid = true;
      return '';
    }
    const bytes = Buffer.from(encoded.replace(/,/g, '/'), 'base64');
    if (bytes.length % 2 !== 0) {
      invalid = true;
      return '';
    }
    let text = '';
    for (let i = 0; i < bytes.length; i += 2) text += String.fromCharCode(bytes.readUInt16BE(i));
    return text;
  });
  return invalid || decoded.includes('&') ? name : decoded;
}
