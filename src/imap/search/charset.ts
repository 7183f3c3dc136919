/**
 * SEARCH CHARSET (RFC 3501 6.4.4): "US-ASCII MUST be supported; other [CHARSET]s MAY be
 * supported. If the server does not support the specified [CHARSET], it MUST return a tagged
 * NO response (not a BAD). This response SHOULD contain the BADCHARSET response code, which
 * MAY list the [CHARSET]s supported by the server."
 *
 * We support US-ASCII and UTF-8. The session asks `isSupportedSearchCharset` and answers
 * `NO [BADCHARSET (UTF-8 US-ASCII)]` with `SUPPORTED_SEARCH_CHARSETS` otherwise.
 * @module
 */

/** In the order a BADCHARSET response code should list them (RFC 3501 7.1). */
export const SUPPORTED_SEARCH_CHARSETS: readonly string[] = ['UTF-8', 'US-ASCII'];

/** Charset names are case-insensitive (RFC 2978 2.3); the parser upper-cases them already. */
export function isSupportedSearchCharset(charset: string | null): boolean {
  return charset === null || SUPPORTED_SEARCH_CHARSETS.includes(charset.toUpperCase());
}

const utf8 = new TextDecoder('utf-8');

/**
 * A SEARCH string argument as text. Without CHARSET the string is US-ASCII, but clients send
 * 8-bit UTF-8 anyway (and after ENABLE UTF8=ACCEPT they must, RFC 6855 3); since US-ASCII is a
 * subset of UTF-8 both are decoded as UTF-8. Invalid sequences become U+FFFD, which matches
 * nothing real rather than failing the command.
 */
export function decodeSearchString(value: Uint8Array): string {
  return utf8.decode(value);
}
