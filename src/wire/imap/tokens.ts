/**
 * The token-level form of a command's arguments, produced by the receiver and consumed by
 * the parser. The receiver enforces RFC 3501 9 note (2): tokens are separated by exactly
 * one SP, so the token list carries all the syntax the parser needs.
 * @module
 */

/** Fetch attribute names whose "[" opens a section (RFC 3501 9 `section`, RFC 3516 `section-binary`).
 * Only after these does "[" start a nested structure; elsewhere "[" and "]" are plain
 * ASTRING-CHARs (mailbox names like `[Gmail]/Sent` are valid atoms). */
export const SECTION_ATTRIBUTES: ReadonlySet<string> = new Set(['BODY', 'BODY.PEEK', 'BINARY', 'BINARY.PEEK', 'BINARY.SIZE']);

export type ImapToken =
  /** 1*ASTRING-CHAR plus "%", "*", "\\" (flags, wildcards, sequence sets); always 7-bit. */
  | { readonly type: 'atom'; readonly value: string }
  /** `quoted` with escapes removed; bytes, because SEARCH CHARSET may make them non-UTF-8. */
  | { readonly type: 'quoted'; readonly value: Buffer }
  /** `literal` / `literal8` collected in memory (size ≤ maxLiteralSize). */
  | { readonly type: 'literal'; readonly value: Buffer; readonly binary: boolean }
  /** A literal the receiver streamed out as literalStart/literalData/literalEnd events
   * (APPEND message data); `index` counts streamed literals of the command from 0. */
  | { readonly type: 'streamed'; readonly index: number; readonly size: number; readonly binary: boolean }
  /** "(" … ")" */
  | { readonly type: 'list'; readonly items: readonly ImapToken[] }
  /** `BODY[HEADER.FIELDS (From)]<0.100>`: `name` as sent ("BODY"), the tokens between the
   * brackets, and the raw text right after "]" ("<0.100>", or "" when none). */
  | { readonly type: 'section'; readonly name: string; readonly items: readonly ImapToken[]; readonly suffix: string };

/** Shorthands, mainly for tests and for building expected values. */
export const tok = {
  atom: (value: string): ImapToken => ({ type: 'atom', value }),
  quoted: (value: string | Buffer): ImapToken => ({ type: 'quoted', value: Buffer.from(value) }),
  literal: (value: string | Buffer, binary = false): ImapToken => ({ type: 'literal', value: Buffer.from(value), binary }),
  streamed: (index: number, size: number, binary = false): ImapToken => ({ type: 'streamed', index, size, binary }),
  list: (...items: ImapToken[]): ImapToken => ({ type: 'list', items }),
  section: (name: string, items: ImapToken[], suffix = ''): ImapToken => ({ type: 'section', name, items, suffix }),
};

/** A short printable description of a token for error messages. */
export function describeToken(token: ImapToken | undefined): string {
  if (token === undefined) return 'end of command';
  switch (token.type) {
    case 'atom':
      return `"${token.value.length > 40 ? token.value.slice(0, 40) + '…' : token.value}"`;
    case 'quoted':
      return 'a quoted string';
    case 'literal':
    case 'streamed':
      return 'a literal';
    case 'list':
      return 'a parenthesized list';
    case 'section':
      return `${token.name}[...]`;
  }
}
