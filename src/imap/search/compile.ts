/**
 * Turns a parsed SEARCH key (RFC 3501 6.4.4, RFC 7162 3.1.5, RFC 5182) into a tree that is
 * cheap to evaluate many times: strings decoded and case-folded once, dates as day numbers,
 * "*" resolved against the session's view, "$" replaced by the saved result, constants folded,
 * and every node tagged with the cost of the data it needs, so AND/OR can try cheap children
 * first and stop early.
 * @module
 */
import { SystemFlag } from '../../store/types.js';
import type { SearchKey } from '../../wire/imap/commands.js';
import type { SequenceSet } from '../../wire/imap/sequence-set.js';
import { decodeSearchString } from './charset.js';
import { searchDay } from './dates.js';
import { FoldedNeedle } from './match-text.js';
import type { SearchContext } from './types.js';

/**
 * What a node needs, in increasing price: the session's metadata (flags, size, dates, UID,
 * MODSEQ), the stored index (decoded Subject/From/To/Cc/Bcc, Date), the raw header (HEADER),
 * the decoded body text (BODY, TEXT).
 */
export const Cost = { Metadata: 0, Index: 1, Header: 2, Body: 3 } as const;
export type Cost = (typeof Cost)[keyof typeof Cost];

export type DayComparison = 'before' | 'on' | 'since';
export type IndexField = 'subject' | 'from' | 'to' | 'cc' | 'bcc';

export type SearchNode =
  | { readonly kind: 'const'; readonly cost: Cost; readonly value: boolean }
  | { readonly kind: 'flag'; readonly cost: Cost; readonly mask: number; readonly set: boolean }
  | { readonly kind: 'recent'; readonly cost: Cost; readonly set: boolean }
  | { readonly kind: 'keyword'; readonly cost: Cost; readonly keyword: string; readonly set: boolean }
  | { readonly kind: 'larger' | 'smaller'; readonly cost: Cost; readonly size: number }
  | { readonly kind: 'internalDate' | 'sentDate'; readonly cost: Cost; readonly comparison: DayComparison; readonly day: number }
  | { readonly kind: 'seq' | 'uid'; readonly cost: Cost; readonly set: SequenceSet; readonly max: number }
  | { readonly kind: 'uidList'; readonly cost: Cost; readonly uids: ReadonlySet<number> }
  | { readonly kind: 'modseq'; readonly cost: Cost; readonly modseq: number }
  | { readonly kind: 'field'; readonly cost: Cost; readonly field: IndexField; readonly needle: FoldedNeedle }
  | { readonly kind: 'header'; readonly cost: Cost; readonly name: string; readonly needle: FoldedNeedle }
  | { readonly kind: 'body' | 'text'; readonly cost: Cost; readonly needle: FoldedNeedle }
  | { readonly kind: 'not'; readonly cost: Cost; readonly child: SearchNode }
  | { readonly kind: 'and' | 'or'; readonly cost: Cost; readonly children: readonly SearchNode[] };

const TRUE: SearchNode = { kind: 'const', cost: Cost.Metadata, value: true };
const FALSE: SearchNode = { kind: 'const', cost: Cost.Metadata, value: false };

const FLAG_KEYS: Readonly<Record<string, { mask: number; set: boolean }>> = {
  ANSWERED: { mask: SystemFlag.Answered, set: true },
  DELETED: { mask: SystemFlag.Deleted, set: true },
  DRAFT: { mask: SystemFlag.Draft, set: true },
  FLAGGED: { mask: SystemFlag.Flagged, set: true },
  SEEN: { mask: SystemFlag.Seen, set: true },
  UNANSWERED: { mask: SystemFlag.Answered, set: false },
  UNDELETED: { mask: SystemFlag.Deleted, set: false },
  UNDRAFT: { mask: SystemFlag.Draft, set: false },
  UNFLAGGED: { mask: SystemFlag.Flagged, set: false },
  UNSEEN: { mask: SystemFlag.Seen, set: false },
};

const DAY_COMPARISON: Readonly<Record<string, DayComparison>> = {
  BEFORE: 'before',
  ON: 'on',
  SINCE: 'since',
  SENTBEFORE: 'before',
  SENTON: 'on',
  SENTSINCE: 'since',
};

/** The view's bounds that "*" stands for (RFC 3501 9 `seq-number`). */
interface Bounds {
  readonly messageCount: number;
  readonly highestUid: number;
  readonly saved: ReadonlySet<number>;
}

export function compileSearch(key: SearchKey, ctx: Pick<SearchContext, 'messages' | 'savedResult'>): SearchNode {
  const last = ctx.messages[ctx.messages.length - 1];
  const bounds: Bounds = {
    messageCount: ctx.messages.length,
    highestUid: last?.uid ?? 0,
    saved: new Set(ctx.savedResult ?? []),
  };
  return compile(key, bounds);
}

function compile(key: SearchKey, bounds: Bounds): SearchNode {
  switch (key.type) {
    case 'ALL':
      return TRUE;
    case 'ANSWERED':
    case 'DELETED':
    case 'DRAFT':
    case 'FLAGGED':
    case 'SEEN':
    case 'UNANSWERED':
    case 'UNDELETED':
    case 'UNDRAFT':
    case 'UNFLAGGED':
    case 'UNSEEN':
      return { kind: 'flag', cost: Cost.Metadata, ...FLAG_KEYS[key.type]! };
    case 'RECENT':
      return { kind: 'recent', cost: Cost.Metadata, set: true };
    case 'OLD':
      // RFC 3501 6.4.4: "functionally equivalent to NOT RECENT".
      return { kind: 'recent', cost: Cost.Metadata, set: false };
    case 'NEW':
      // RFC 3501 6.4.4: "functionally equivalent to (RECENT UNSEEN)".
      return and([
        { kind: 'recent', cost: Cost.Metadata, set: true },
        { kind: 'flag', cost: Cost.Metadata, mask: SystemFlag.Seen, set: false },
      ]);
    case 'KEYWORD':
    case 'UNKEYWORD':
      return { kind: 'keyword', cost: Cost.Metadata, keyword: key.keyword.toLowerCase(), set: key.type === 'KEYWORD' };
    case 'LARGER':
      return { kind: 'larger', cost: Cost.Metadata, size: key.size };
    case 'SMALLER':
      return { kind: 'smaller', cost: Cost.Metadata, size: key.size };
    case 'BEFORE':
    case 'ON':
    case 'SINCE':
      return { kind: 'internalDate', cost: Cost.Metadata, comparison: DAY_COMPARISON[key.type]!, day: searchDay(key.date) };
    case 'SENTBEFORE':
    case 'SENTON':
    case 'SENTSINCE':
      return { kind: 'sentDate', cost: Cost.Index, comparison: DAY_COMPARISON[key.type]!, day: searchDay(key.date) };
    case 'SEQUENCE':
      // RFC 5182 2.1: "$" is the saved result whichever command form uses it.
      if (key.set.saved) return { kind: 'uidList', cost: Cost.Metadata, uids: bounds.saved };
      return { kind: 'seq', cost: Cost.Metadata, set: key.set, max: bounds.messageCount };
    case 'UID':
      if (key.set.saved) return { kind: 'uidList', cost: Cost.Metadata, uids: bounds.saved };
      return { kind: 'uid', cost: Cost.Metadata, set: key.set, max: bounds.highestUid };
    case 'MODSEQ':
      // RFC 7162 3.1.5: we keep one mod-sequence per message, not per flag, so the entry name
      // and type "MUST" be ignored.
      return { kind: 'modseq', cost: Cost.Metadata, modseq: key.modseq };
    case 'SUBJECT':
    case 'FROM':
    case 'TO':
    case 'CC':
    case 'BCC':
      return { kind: 'field', cost: Cost.Index, field: key.type.toLowerCase() as IndexField, needle: needleOf(key.value) };
    case 'HEADER':
      return { kind: 'header', cost: Cost.Header, name: key.field.toLowerCase(), needle: needleOf(key.value) };
    case 'BODY':
      return { kind: 'body', cost: Cost.Body, needle: needleOf(key.value) };
    case 'TEXT':
      return { kind: 'text', cost: Cost.Body, needle: needleOf(key.value) };
    case 'NOT':
      return not(compile(key.key, bounds));
    case 'OR':
      return or([compile(key.left, bounds), compile(key.right, bounds)]);
    case 'AND':
      return and(key.keys.map((k) => compile(k, bounds)));
    default:
      return unreachable(key);
  }
}

function needleOf(value: Buffer): FoldedNeedle {
  return new FoldedNeedle(decodeSearchString(value));
}

function not(child: SearchNode): SearchNode {
  if (child.kind === 'const') return child.value ? FALSE : TRUE;
  if (child.kind === 'not') return child.child;
  return { kind: 'not', cost: child.cost, child };
}

/** Flattens nested ANDs, drops ALL, and orders children cheapest first (stable). */
function and(children: SearchNode[]): SearchNode {
  const kept: SearchNode[] = [];
  for (const child of children) {
    if (child.kind === 'const') {
      if (!child.value) return FALSE;
      continue;
    }
    if (child.kind === 'and') kept.push(...child.children);
    else kept.push(child);
  }
  return combine('and', kept, TRUE);
}

/** Flattens nested ORs, drops constant false, and orders children cheapest first (stable). */
function or(children: SearchNode[]): SearchNode {
  const kept: SearchNode[] = [];
  for (const child of children) {
    if (child.kind === 'const') {
      if (child.value) return TRUE;
      continue;
    }
    if (child.kind === 'or') kept.push(...child.children);
    else kept.push(child);
  }
  return combine('or', kept, FALSE);
}

function combine(kind: 'and' | 'or', children: SearchNode[], empty: SearchNode): SearchNode {
  if (children.length === 0) return empty;
  if (children.length === 1) return children[0]!;
  const sorted = [...children].sort((a, b) => a.cost - b.cost);
  return { kind, cost: sorted[sorted.length - 1]!.cost, children: sorted };
}


/** True when the key contains MODSEQ: the untagged SEARCH then ends with "(MODSEQ n)"
 * (RFC 7162 3.1.5), computed by the session over the returned messages. */
export function searchUsesModseq(key: SearchKey): boolean {
  switch (key.type) {
    case 'MODSEQ':
      return true;
    case 'NOT':
      return searchUsesModseq(key.key);
    case 'OR':
      return searchUsesModseq(key.left) || searchUsesModseq(key.right);
    case 'AND':
      return key.keys.some(searchUsesModseq);
    default:
      return false;
  }
}

function unreachable(value: never): never {
  throw new Error(`unhandled search key ${JSON.stringify(value)}`);
}
