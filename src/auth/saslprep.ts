/**
 * SASLprep (RFC 4013), the stringprep profile for user names and passwords, as used by
 * SCRAM (RFC 5802 2.2 "Normalize") and recommended by PLAIN (RFC 4616 2).
 *
 * Implemented: the mapping (RFC 4013 2.1), NFKC (2.2) and the prohibited output (2.3) tables of
 * RFC 3454 that matter in practice. Not implemented: the bidirectional check (2.4), because
 * JavaScript has no Bidi_Class property; strings are treated as "queries" (unassigned code
 * points allowed, RFC 4013 2.5), which is what a server does with what a client sent.
 * @module
 */

export class SaslprepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SaslprepError';
  }
}

type Range = readonly [number, number];

/** RFC 3454 C.1.2 non-ASCII space characters: mapped to SPACE (RFC 4013 2.1). */
const NON_ASCII_SPACE: readonly Range[] = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];

/** RFC 3454 B.1 "commonly mapped to nothing" (RFC 4013 2.1). */
const MAPPED_TO_NOTHING: readonly Range[] = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];

/**
 * RFC 4013 2.3 prohibited output: C.1.2 (non-ASCII space, already mapped), C.2.1 / C.2.2
 * (controls), C.3 (private use), C.4 (non-characters), C.5 (surrogates), C.6 (inappropriate for
 * plain text), C.7 (for canonical representation), C.8 (change display properties or
 * deprecated), C.9 (tagging characters).
 */
const PROHIBITED: readonly Range[] = [
  [0x0000, 0x001f], // C.2.1
  [0x007f, 0x009f], // C.2.1, C.2.2
  [0x0340, 0x0341], // C.8
  [0x06dd, 0x06dd], // C.2.2
  [0x070f, 0x070f], // C.2.2
  [0x180e, 0x180e], // C.2.2
  [0x200c, 0x200f], // C.2.2, C.8
  [0x2028, 0x202e], // C.2.2, C.8
  [0x2060, 0x2063], // C.2.2
  [0x206a, 0x206f], // C.2.2, C.8
  [0x2ff0, 0x2ffb], // C.7
  [0xd800, 0xdfff], // C.5
  [0xe000, 0xf8ff], // C.3
  [0xfdd0, 0xfdef], // C.4
  [0xfeff, 0xfeff], // C.2.2
  [0xfff9, 0xfffd], // C.2.2, C.6
  [0x1d173, 0x1d17a], // C.2.2
  [0xe0001, 0xe0001], // C.9
  [0xe0020, 0xe007f], // C.9
  [0xf0000, 0xffffd], // C.3
  [0x100000, 0x10fffd], // C.3
];

function inRanges(codePoint: number, ranges: readonly Range[]): boolean {
  return ranges.some(([low, high]) => codePoint >= low && codePoint <= high);
}

/** C.4 also holds the last two code points of every plane (U+xFFFE, U+xFFFF). */
function isNonCharacter(codePoint: number): boolean {
  return (codePoint & 0xfffe) === 0xfffe;
}

/** Prepares a string; throws SaslprepError on prohibited output. An empty result is returned as is. */
export function saslprep(input: string): string {
  let mapped = '';
  for (const char of input) {
    const codePoint = char.codePointAt(0) ?? 0;
    if (inRanges(codePoint, MAPPED_TO_NOTHING)) continue;
    mapped += inRanges(codePoint, NON_ASCII_SPACE) ? ' ' : char;
  }
  const normalized = mapped.normalize('NFKC');
  for (const char of normalized) {
    const codePoint = char.codePointAt(0) ?? 0;
    if (inRanges(codePoint, PROHIBITED) || isNonCharacter(codePoint)) {
      throw new SaslprepError(`prohibited character U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`);
    }
  }
  return normalized;
}
