/**
 * IMAP keywords must be atoms (RFC 3501 9: flag-keyword = atom): no SP, CTL, "(", ")", "{",
 * "%", "*", DQUOTE, "\" or "]". Keywords from foreign files that break this are dropped.
 */

// eslint-disable-next-line no-control-regex
const ATOM = /^[^\u0000-\u0020\u007f-\uffff(){%*"\\\]]+$/;
const MAX_KEYWORD_LENGTH = 100;

export function validKeywords(candidates: Iterable<string>): string[] {
  const seen = new Set<string>();
  for (const candidate of candidates) {
    if (candidate.length > 0 && candidate.length <= MAX_KEYWORD_LENGTH && ATOM.test(candidate)) seen.add(candidate);
  }
  return [...seen];
}
