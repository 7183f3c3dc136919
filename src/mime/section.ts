/**
 * IMAP section specifiers (RFC 3501 6.4.5 FETCH BODY[<section>]) as byte ranges of the stored
 * message, from the index alone.
 *
 * Part numbers: the parts of a multipart are numbered from 1; a message that is not multipart
 * has one part, "1", its body; a message/rfc822 (or message/global) part's own number names
 * the whole embedded message, and the numbers after it are those of the embedded message.
 * @module
 */
import type { MessageIndex, MimePart } from './types.js';

/** A byte range [start, end) of the message. */
export interface ByteRange {
  start: number;
  end: number;
}

/** What follows the part numbers: nothing, MIME, HEADER (HEADER.FIELDS uses its range) or TEXT. */
export type SectionText = '' | 'MIME' | 'HEADER' | 'TEXT';

export interface SectionOptions {
  /**
   * Treat message/global like message/rfc822 (IMAP4rev2, RFC 9051). Off by default, matching
   * the BODYSTRUCTURE encoder, which shows message/global as a leaf in IMAP4rev1.
   */
  messageGlobal?: boolean;
}

/** The embedded message of a part, when its section numbers lead into it. */
function embedded(part: MimePart, options: SectionOptions): MimePart | null {
  if (!part.message) return null;
  return part.subtype === 'global' && !options.messageGlobal ? null : part.message.part;
}

/** The part named by `path` (e.g. [1, 2] for "1.2"), or null when there is none. `[]` is the top level. */
export function findPart(index: MessageIndex, path: readonly number[], options: SectionOptions = {}): MimePart | null {
  let part: MimePart = index.part;
  // True while `part` is the top of a message (top level or embedded): "1" may name its body.
  let messageTop = true;
  for (const n of path) {
    if (!Number.isInteger(n) || n < 1) return null;
    const inner = messageTop ? null : embedded(part, options);
    if (inner) {
      // Descending into an encapsulated message: its numbers apply to the embedded part.
      part = inner;
      messageTop = true;
    }
    if (part.children) {
      const child = part.children[n - 1];
      if (!child) return null;
      part = child;
    } else if (!(messageTop && n === 1)) {
      return null;
    }
    messageTop = false;
  }
  return part;
}

/**
 * The byte range of a section, or null when the section does not exist.
 * - "" with no part numbers: the whole message; with part numbers: that part's body
 *   (for a message/rfc822 part, the whole embedded message).
 * - MIME: the part's header (RFC 3501 6.4.5, only with part numbers).
 * - HEADER / TEXT: the header / body of the message at that point (top level, or a
 *   message/rfc822 part).
 */
export function sectionRange(index: MessageIndex, path: readonly number[], text: SectionText = '', options: SectionOptions = {}): ByteRange | null {
  if (path.length === 0) {
    const top = index.part;
    if (text === '') return { start: 0, end: index.size };
    if (text === 'HEADER') return { start: top.headerStart, end: top.bodyStart };
    if (text === 'TEXT') return { start: top.bodyStart, end: index.size };
    return null;
  }
  const part = findPart(index, path, options);
  if (!part) return null;
  switch (text) {
    case '':
      return { start: part.bodyStart, end: part.bodyEnd };
    case 'MIME':
      return { start: part.headerStart, end: part.bodyStart };
    case 'HEADER':
    case 'TEXT': {
      const inner = embedded(part, options);
      if (!inner) return null;
      return text === 'HEADER' ? { start: inner.headerStart, end: inner.bodyStart } : { start: inner.bodyStart, end: inner.bodyEnd };
    }
  }
}
