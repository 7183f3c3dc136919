/**
 * Case-insensitive substring matching for SEARCH string keys (RFC 3501 6.4.4: "a message
 * matches the key if the string is a substring of the field. The matching is
 * case-insensitive").
 *
 * Folding (`foldCase`): both sides are put in Unicode NFC, upper-cased, lower-cased again
 * and put in NFC once more; final sigma becomes an ordinary sigma and a remaining "ß" becomes
 * "ss". The round trip through upper case gives most of Unicode full case folding
 * (CaseFolding.txt status C+F) with only the built-in string functions: "ß", "ẞ" and "SS"
 * all fold to "ss", "ς" meets "Σ"/"σ", the "ﬁ" ligature meets "fi", the Kelvin sign meets
 * "k". One deliberate leniency: dotless "ı" upper-cases to "I" and so meets "i" (CaseFolding
 * keeps it apart). Not done: the Turkic dotted/dotless i rules (status T, which need a
 * language) and compatibility equivalents such as full-width letters (NFKC), which
 * case-insensitivity does not ask for. A check over every code point found the fold
 * idempotent and consistent with the simple folding RegExp uses (see below).
 *
 * Speed: folding allocates a copy of the haystack; a case-insensitive RegExp does not and is
 * about ten times faster on ASCII text. So a needle is first looked for with a `iu` RegExp
 * (Unicode simple case folding, ES2015 21.2.2.8.2). Characters that are equal under simple
 * folding are equal under full folding, so a RegExp hit is a match. A miss is final when the
 * needle is ASCII and the haystack has none of the few characters that fold to ASCII
 * (`FOLDS_TO_ASCII`); otherwise the folded copies are compared. The RegExp sees the haystack as it is: in text written decomposed (rare in mail)
 * it also finds a needle that stops before a combining mark ("cafe" in "cafe\u0301"); on NFC
 * text the two ways agree exactly (test/imap-search-match.test.ts checks it as a property).
 * @module
 */

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The only non-ASCII characters whose `foldCase` contains ASCII (found by folding every code
 * point; test/imap-search-match.test.ts repeats the scan): ß İ ı ŉ ſ, the Greek question
 * mark (NFC ";"), ẚ ẞ, Greek varia (NFC "`"), the Kelvin sign and the ligatures ﬀ-ﬆ. An
 * ASCII needle that the RegExp missed can only match through one of them.
 */
export const FOLDS_TO_ASCII = /[\u00df\u0130\u0131\u0149\u017f\u037e\u1e9a\u1e9e\u1fef\u212a\ufb00-\ufb06]/;
const REGEXP_SYNTAX = /[.*+?^${}()|[\]\\]/g;

/** True when every UTF-16 unit is 7-bit. */
function isAsciiText(text: string): boolean {
  return !NON_ASCII.test(text);
}

/** The case-folded form of `text`, as described in the module comment. */
export function foldCase(text: string): string {
  if (isAsciiText(text)) return text.toLowerCase();
  // NFC again afterwards: case mappings can decompose ("ΐ" upper-cases to three code points).
  let folded = text.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');
  // toLowerCase picks "ς" at the end of a word; folding knows one sigma, so substrings that
  // end mid-word still meet (CaseFolding.txt: 03C2; C; 03C3).
  if (folded.includes('ς')) folded = folded.replace(/ς/g, 'σ');
  // Capital sharp s upper-cases to itself and lower-cases to "ß", which the round trip
  // would have made "ss" (CaseFolding.txt: 1E9E; F; 0073 0073).
  if (folded.includes('ß')) folded = folded.replace(/ß/g, 'ss');
  return folded;
}

/** True when `needle` occurs in `hay`, ignoring case. An empty needle matches everything. */
export function matchesText(hay: string, needle: string): boolean {
  return new FoldedNeedle(needle).foundIn(hay);
}

/**
 * A needle prepared once for many haystacks: SEARCH compares the same string against every
 * candidate message.
 */
export class FoldedNeedle {
  /** The needle after `foldCase`. */
  readonly folded: string;
  private readonly ascii: boolean;
  private readonly pattern: RegExp | null;

  constructor(readonly text: string) {
    this.folded = foldCase(text);
    this.ascii = isAsciiText(text);
    this.pattern = text.length === 0 ? null : new RegExp(text.normalize('NFC').replace(REGEXP_SYNTAX, '\\$&'), 'iu');
  }

  /** True when the needle occurs in `hay`. */
  foundIn(hay: string): boolean {
    if (this.pattern === null) return true;
    if (this.pattern.test(hay)) return true;
    if (this.ascii && !FOLDS_TO_ASCII.test(hay)) return false;
    return foldCase(hay).includes(this.folded);
  }
}
