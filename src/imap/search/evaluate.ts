/**
 * SEARCH evaluation (RFC 3501 6.4.4) in two passes over the session's view:
 *
 * 1. Every message is tested on its metadata alone (flags, size, INTERNALDATE, sequence
 *    number, UID, MODSEQ, "$") with three-valued logic: match, no match, or "needs content".
 *    `FLAGGED SUBJECT x` over 100,000 messages reads the content of the flagged ones only.
 * 2. The undecided messages are evaluated on their content in small windows (a few messages
 *    in flight, so file reads overlap), children of AND/OR cheapest first with short-circuit,
 *    content loaded lazily and at most once per message.
 *
 * Neither pass holds the event loop for more than `sliceMs`: past it, `ctx.checkpoint()` is
 * awaited, which yields (other connections are served) and throws SearchAbortedError when
 * the session is gone. A single very large text is matched in slices with the same rule.
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { DayComparison, SearchNode } from './compile.js';
import { Cost, compileSearch } from './compile.js';
import { MessageContent, MessageGoneError } from './content.js';
import { dayOfInstant } from './dates.js';
import type { FoldedNeedle } from './match-text.js';
import type { FieldsCache } from './fields-cache.js';
import type { TextCache } from './text-cache.js';
import type { SearchContext, SearchKey, SearchMessage } from './types.js';

export interface SearchEngineOptions {
  /** Decoded body text by blob hash, shared by every search that uses this engine; null for none. */
  textCache?: TextCache | null;
  /** Decoded search fields by blob hash (SUBJECT, FROM, SENT* ...), shared likewise; null for none. */
  fieldsCache?: FieldsCache | null;
  /** Candidate messages evaluated concurrently in pass 2 when message bytes must be read
   * (HEADER, BODY, TEXT). Default 16. Index-only searches use `indexWindow`. */
  window?: number;
  /** Candidates evaluated together when only the index is needed (one store query). Default 64:
   * larger windows were not faster and held the event loop for 15 ms and more per window. */
  indexWindow?: number;
  /** Longest stretch of work between two checkpoints, in milliseconds. Default 4. */
  sliceMs?: number;
}

export interface SearchRunStats {
  /** Messages decided by metadata alone. */
  decidedByMetadata: number;
  /** Messages whose content was consulted. */
  contentEvaluated: number;
  /** Times the search yielded through ctx.checkpoint(). */
  checkpoints: number;
}

/** Characters matched between two time checks when a single text is very large. */
const TEXT_SLICE = 256 * 1024;
/** Metadata tests between two time checks in pass 1 (a clock read per message would cost more than the test). */
const METADATA_STRIDE = 512;

const MATCH = 1;
const PENDING = 2;

/** Yields through ctx.checkpoint() once `sliceMs` of work has gone by. */
class Slicer {
  private sliceStart = performance.now();
  checkpoints = 0;

  constructor(
    private readonly ctx: SearchContext,
    private readonly sliceMs: number,
  ) {}

  async maybeYield(): Promise<void> {
    if (performance.now() - this.sliceStart < this.sliceMs) return;
    this.checkpoints++;
    await this.ctx.checkpoint();
    this.sliceStart = performance.now();
  }
}

/** Runs one search. `stats`, when given, is filled in (tests and the benchmark read it). */
export async function runSearch(key: SearchKey, ctx: SearchContext, options: SearchEngineOptions = {}, stats?: SearchRunStats): Promise<number[]> {
  const node = compileSearch(key, ctx);
  const slicer = new Slicer(ctx, options.sliceMs ?? 4);
  const messages = ctx.messages;
  const zone = ctx.timeZoneOffsetMinutes;
  const states = new Uint8Array(messages.length);
  const pending: number[] = [];

  for (let i = 0; i < messages.length; i++) {
    const verdict = byMetadata(node, messages[i]!, zone);
    if (verdict === true) states[i] = MATCH;
    else if (verdict === undefined) {
      states[i] = PENDING;
      pending.push(i);
    }
    if (i % METADATA_STRIDE === METADATA_STRIDE - 1) await slicer.maybeYield();
  }

  const evaluator = new ContentEvaluator(ctx, options.textCache ?? null, options.fieldsCache ?? null, zone, slicer);
  const window = Math.max(1, node.cost <= Cost.Index ? (options.indexWindow ?? 64) : (options.window ?? 16));
  for (let at = 0; at < pending.length; at += window) {
    const batch = pending.slice(at, at + window);
    const verdicts = await Promise.all(batch.map((i) => evaluator.matches(node, messages[i]!)));
    verdicts.forEach((matched, j) => {
      if (matched) states[batch[j]!] = MATCH;
    });
    await slicer.maybeYield();
  }

  if (stats) {
    stats.decidedByMetadata = messages.length - pending.length;
    stats.contentEvaluated = pending.length;
    stats.checkpoints = slicer.checkpoints;
  }
  const uids: number[] = [];
  for (let i = 0; i < messages.length; i++) if (states[i] === MATCH) uids.push(messages[i]!.uid);
  return uids;
}

/**
 * Three-valued test on metadata: true or false when the metadata decides, undefined when
 * some content is needed (Kleene logic: false AND unknown is false, true OR unknown is true).
 */
export function byMetadata(node: SearchNode, m: SearchMessage, zone: number): boolean | undefined {
  switch (node.kind) {
    case 'const':
      return node.value;
    case 'flag':
      return ((m.flags & node.mask) !== 0) === node.set;
    case 'recent':
      return m.recent === node.set;
    case 'keyword':
      // RFC 3501 2.3.2 keywords compare case-insensitively; `node.keyword` is lower-cased.
      return m.keywords.some((k) => k.toLowerCase() === node.keyword) === node.set;
    case 'larger':
      return m.size > node.size;
    case 'smaller':
      return m.size < node.size;
    case 'internalDate':
      return compareDays(dayOfInstant(m.internalDate, zone), node.comparison, node.day);
    case 'seq':
      return node.set.contains(m.seq, node.max);
    case 'uid':
      return node.set.contains(m.uid, node.max);
    case 'uidList':
      return node.uids.has(m.uid);
    case 'modseq':
      return m.modseq >= node.modseq;
    case 'not': {
      const inner = byMetadata(node.child, m, zone);
      return inner === undefined ? undefined : !inner;
    }
    case 'and': {
      let unknown = false;
      for (const child of node.children) {
        const verdict = byMetadata(child, m, zone);
        if (verdict === false) return false;
        if (verdict === undefined) unknown = true;
      }
      return unknown ? undefined : true;
    }
    case 'or': {
      let unknown = false;
      for (const child of node.children) {
        const verdict = byMetadata(child, m, zone);
        if (verdict === true) return true;
        if (verdict === undefined) unknown = true;
      }
      return unknown ? undefined : false;
    }
    case 'sentDate':
    case 'field':
    case 'header':
    case 'body':
    case 'text':
      return undefined;
  }
}

/** Integer day comparison for BEFORE/ON/SINCE and their SENT* forms. */
export function compareDays(day: number, comparison: DayComparison, searched: number): boolean {
  switch (comparison) {
    case 'before':
      return day < searched;
    case 'on':
      return day === searched;
    case 'since':
      return day >= searched;
  }
}

class ContentEvaluator {
  constructor(
    private readonly ctx: SearchContext,
    private readonly cache: TextCache | null,
    private readonly fieldsCache: FieldsCache | null,
    private readonly zone: number,
    private readonly slicer: Slicer,
  ) {}

  /** The verdict for one message; a message expunged meanwhile does not match. */
  async matches(node: SearchNode, m: SearchMessage): Promise<boolean> {
    const content = new MessageContent(this.ctx, m, this.cache, this.fieldsCache);
    try {
      return await this.evaluate(node, m, content);
    } catch (err) {
      if (err instanceof MessageGoneError) return false;
      throw err;
    }
  }

  private async evaluate(node: SearchNode, m: SearchMessage, content: MessageContent): Promise<boolean> {
    if (node.cost === Cost.Metadata) return byMetadata(node, m, this.zone) === true;
    switch (node.kind) {
      case 'sentDate': {
        const day = (await content.facts()).sentDay;
        return day !== null && compareDays(day, node.comparison, node.day);
      }
      case 'field':
        return node.needle.foundIn((await content.facts()).search[node.field]);
      case 'header': {
        // RFC 3501 6.4.4: a header with that name must exist; an empty string then matches it.
        const fields = await content.headerFields();
        return fields.some((f) => f.key === node.name && node.needle.foundIn(f.value));
      }
      case 'body':
        return this.foundInText(node.needle, await content.bodyText());
      case 'text':
        // RFC 3501 6.4.4 TEXT: "in the header or body of the message".
        if (node.needle.foundIn(await content.headerText())) return true;
        return this.foundInText(node.needle, await content.bodyText());
      case 'not':
        return !(await this.evaluate(node.child, m, content));
      case 'and':
        for (const child of node.children) if (!(await this.evaluate(child, m, content))) return false;
        return true;
      case 'or':
        for (const child of node.children) if (await this.evaluate(child, m, content)) return true;
        return false;
      default:
        return byMetadata(node, m, this.zone) === true;
    }
  }

  /**
   * Matches a long text in slices, yielding between them, so one huge message cannot hold
   * the event loop. Slices overlap by more than any match can span: a match is as long as
   * the folded needle in folded text, and a folded character comes from at most a few
   * original ones (a decomposed letter and its marks), so four times that is enough.
   */
  private async foundInText(needle: FoldedNeedle, text: string): Promise<boolean> {
    if (text.length <= TEXT_SLICE) return needle.foundIn(text);
    const overlap = needle.folded.length * 4 + 16;
    for (let start = 0; start < text.length; start += TEXT_SLICE) {
      if (needle.foundIn(text.slice(Math.max(0, start - overlap), start + TEXT_SLICE))) return true;
      await this.slicer.maybeYield();
    }
    return false;
  }
}
