/**
 * Turns the line segments of one command into ImapTokens. A command is one or more line
 * segments separated by literals; lists and sections may span segments, so the tokenizer
 * keeps its open frames between calls. Sans-I/O: the receiver feeds it complete segments.
 *
 * Strictness follows RFC 3501 9 note (2): exactly one SP between tokens, none after "(" or
 * before ")", no trailing SP.
 * @module
 */
import { SECTION_ATTRIBUTES, type ImapToken } from './tokens.js';

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LPAREN = 0x28;
const RPAREN = 0x29;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const LONGEST_SECTION_ATTRIBUTE = Math.max(...[...SECTION_ATTRIBUTES].map((name) => name.length));

/** A tokenizer failure; `kind` separates the nesting limit from plain syntax errors. */
export interface TokenizeError {
  readonly kind: 'syntax' | 'nestingTooDeep';
  readonly message: string;
}

interface Frame {
  readonly kind: 'top' | 'list' | 'section';
  readonly items: ImapToken[];
  /** For sections: the attribute name before "[". */
  readonly name: string;
}

/**
 * Characters allowed in an atom token: CHAR except SP, CTL, "(", ")", DQUOTE and "{".
 * This is ATOM-CHAR plus the specials the grammar builds from atoms: list-wildcards
 * ("%", "*"), "\" (flags), "]" (resp-specials, ASTRING-CHAR). The parser checks each
 * production's exact character set.
 */
function isAtomByte(byte: number): boolean {
  return byte > SP && byte < 0x7f && byte !== LPAREN && byte !== RPAREN && byte !== DQUOTE && byte !== LBRACE;
}

export class CommandTokenizer {
  private readonly frames: Frame[] = [{ kind: 'top', items: [], name: '' }];
  /** True right after a token: the next byte must be SP or a closing delimiter. The
   * command name (read by the receiver) counts as the first token. */
  private needSeparator = true;

  constructor(private readonly maxDepth: number) {}

  /** The completed top-level tokens so far (a snapshot). */
  topLevel(): ImapToken[] {
    return [...this.frames[0]!.items];
  }

  /** True when the next token would be a top-level argument (no list or section open). */
  atTopLevel(): boolean {
    return this.frames.length === 1;
  }

  /** Tokenizes `segment[start, end)`. Returns an error, or null when all bytes were consumed. */
  feed(segment: Buffer, start: number, end: number): TokenizeError | null {
    let i = start;
    while (i < end) {
      const byte = segment[i]!;
      if (byte === SP) {
        if (!this.needSeparator) return syntax('Unexpected space');
        this.needSeparator = false;
        i++;
        continue;
      }
      const frame = this.current();
      if (byte === RPAREN || (byte === RBRACKET && frame.kind === 'section')) {
        const error = this.closeFrame(byte);
        if (error !== null) return error;
        i++;
        if (byte === RBRACKET) i = this.readSectionSuffix(segment, i, end);
        continue;
      }
      if (byte !== LPAREN && byte !== DQUOTE && byte !== LBRACE && !isAtomByte(byte)) {
        return syntax(byte >= 0x80 ? '8-bit characters must be sent as a quoted string or literal' : 'Invalid control character');
      }
      if (this.needSeparator) return syntax(`Missing space before "${String.fromCharCode(byte)}"`);
      if (byte === LPAREN) {
        const error = this.openFrame('list', '');
        if (error !== null) return error;
        i++;
      } else if (byte === DQUOTE) {
        const result = readQuoted(segment, i + 1, end);
        if (typeof result === 'string') return syntax(result);
        this.addToken({ type: 'quoted', value: result.value });
        i = result.next;
      } else if (byte === LBRACE) {
        return syntax('Unexpected "{" (a literal must end its line)');
      } else {
        const result = this.readAtom(segment, i, end);
        if (result.error !== null) return result.error;
        i = result.next;
      }
    }
    return null;
  }

  /** Checks that a literal may start here (after SP or an opening delimiter). */
  canStartLiteral(): TokenizeError | null {
    return this.needSeparator ? syntax('Missing space before literal') : null;
  }

  /** Appends a literal (or a streamed-literal placeholder) that followed the last segment. */
  addLiteral(token: ImapToken): void {
    this.addToken(token);
  }

  /** Ends the command: every list and section must be closed, and no SP may trail. */
  finish(): { args: ImapToken[] } | { error: TokenizeError } {
    const open = this.current();
    if (open.kind === 'list') return { error: syntax('Missing ")"') };
    if (open.kind === 'section') return { error: syntax('Missing "]"') };
    if (!this.needSeparator) return { error: syntax('Unexpected space at end of command') };
    return { args: open.items };
  }

  private current(): Frame {
    return this.frames[this.frames.length - 1]!;
  }

  private addToken(token: ImapToken): void {
    this.current().items.push(token);
    this.needSeparator = true;
  }

  private openFrame(kind: 'list' | 'section', name: string): TokenizeError | null {
    // The top frame does not count: depth is the number of open "(" and "[".
    if (this.frames.length > this.maxDepth) return { kind: 'nestingTooDeep', message: 'Too many nested parentheses' };
    this.frames.push({ kind, items: [], name });
    this.needSeparator = false;
    return null;
  }

  private closeFrame(byte: number): TokenizeError | null {
    const frame = this.current();
    const wanted = frame.kind === 'list' ? RPAREN : frame.kind === 'section' ? RBRACKET : -1;
    if (byte !== wanted) return syntax(`Unexpected "${String.fromCharCode(byte)}"`);
    if (!this.needSeparator && frame.items.length > 0) return syntax('Unexpected space before closing delimiter');
    this.frames.pop();
    const token: ImapToken =
      frame.kind === 'list' ? { type: 'list', items: frame.items } : { type: 'section', name: frame.name, items: frame.items, suffix: '' };
    this.addToken(token);
    return null;
  }

  /** After "]": the partial spec (`<0.100>`) or nothing. Stored raw; the parser checks it. */
  private readSectionSuffix(segment: Buffer, start: number, end: number): number {
    let i = start;
    const closesHere = this.current().kind === 'section';
    while (i < end && isAtomByte(segment[i]!) && !(closesHere && segment[i] === RBRACKET)) i++;
    if (i > start) {
      const items = this.current().items;
      const section = items[items.length - 1];
      if (section?.type === 'section') items[items.length - 1] = { ...section, suffix: segment.toString('ascii', start, i) };
    }
    return i;
  }

  private readAtom(segment: Buffer, start: number, end: number): { next: number; error: TokenizeError | null } {
    const inSection = this.current().kind === 'section';
    let i = start;
    while (i < end) {
      const byte = segment[i]!;
      if (!isAtomByte(byte) || (inSection && byte === RBRACKET)) break;
      // Only a short atom can name a section: checking every "[" of a long atom would copy
      // the atom once per bracket (quadratic in the line length).
      if (byte === LBRACKET && i - start <= LONGEST_SECTION_ATTRIBUTE) {
        const name = segment.toString('ascii', start, i);
        if (SECTION_ATTRIBUTES.has(name.toUpperCase())) {
          const error = this.openFrame('section', name);
          return { next: i + 1, error };
        }
      }
      i++;
    }
    this.addToken({ type: 'atom', value: segment.toString('ascii', start, i) });
    return { next: i, error: null };
  }
}

function syntax(message: string): TokenizeError {
  return { kind: 'syntax', message };
}

/** RFC 3501 9 `quoted`: DQUOTE *QUOTED-CHAR DQUOTE, where only DQUOTE and "\" may be escaped.
 * 8-bit octets are kept (RFC 6855 UTF-8 quoted strings); the parser decides if they are allowed. */
function readQuoted(segment: Buffer, start: number, end: number): { value: Buffer; next: number } | string {
  let runStart = start;
  const parts: Buffer[] = [];
  for (let i = start; i < end; i++) {
    const byte = segment[i]!;
    if (byte === DQUOTE) {
      parts.push(segment.subarray(runStart, i));
      return { value: parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts), next: i + 1 };
    }
    if (byte === BACKSLASH) {
      const escaped = segment[i + 1];
      if (i + 1 >= end || (escaped !== DQUOTE && escaped !== BACKSLASH)) return 'Invalid escape in quoted string';
      parts.push(segment.subarray(runStart, i));
      i++;
      runStart = i;
      continue;
    }
    if (byte === 0x0d || byte === 0x0a) return 'Invalid character in quoted string';
  }
  return 'Unterminated quoted string';
}
