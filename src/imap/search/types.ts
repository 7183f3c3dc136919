/**
 * The contract between the IMAP session (src/imap/commands/search.ts) and the SEARCH evaluation
 * engine (src/imap/search/): the session builds a SearchContext from its selected-mailbox view,
 * the engine answers which messages match.
 *
 *   evaluateSearch(key: SearchKey, ctx: SearchContext): Promise<number[]>   // UIDs, ascending
 *
 * - `key` is the parsed criteria (src/wire/imap/commands.ts `SearchKey`); the session passes the
 *   implicit AND of the command's criteria as one `{ type: 'AND', keys }` key (or the single key).
 * - Sequence numbers, "*" and "$" refer to the session's view (`messages`), never to the store:
 *   another session's expunge that this session has not announced yet still has its sequence
 *   number here (RFC 3501 7.4.1).
 * - String keys (`value: Buffer`) are in `ctx.charset`; the engine decodes them and compares
 *   with decoded header/body text, case-insensitively (RFC 3501 6.4.4). The session has already
 *   refused other charsets with NO [BADCHARSET].
 * - A message whose accessors return null was expunged meanwhile: it does not match.
 * - Long searches call `ctx.checkpoint()` between messages (or small batches): it yields to the
 *   event loop so other connections keep being served, and throws SearchAbortedError when the
 *   session has gone away. The engine must not hold the event loop for more than a few
 *   milliseconds at a time (a SEARCH TEXT over 100,000 messages must not stall others).
 * @module
 */
import type { MessageIndex } from '../../mime/types.js';
import type { SearchKey } from '../../wire/imap/commands.js';

export type { SearchKey } from '../../wire/imap/commands.js';

/** One message of the selected mailbox as this session sees it. */
export interface SearchMessage {
  /** Message sequence number in this session (1-based, = position in `messages` + 1). */
  readonly seq: number;
  readonly uid: number;
  /** Bitmask of SystemFlag (src/store/types.ts): Seen 1, Answered 2, Flagged 4, Deleted 8, Draft 16. */
  readonly flags: number;
  /** Keywords as stored (compare case-insensitively, RFC 3501 2.3.2). */
  readonly keywords: readonly string[];
  /** \Recent for this session (RFC 3501 2.3.2): RECENT, NEW and OLD use it. */
  readonly recent: boolean;
  /** INTERNALDATE (BEFORE/ON/SINCE compare its date in the server's zone, see `timeZoneOffsetMinutes`). */
  readonly internalDate: Date;
  /** RFC822.SIZE in octets (LARGER/SMALLER). */
  readonly size: number;
  /** Per-message MODSEQ (RFC 7162 3.1.5 MODSEQ key). */
  readonly modseq: number;
  /** Content hash of the stored body: identical bodies share it (a cache key for decoded text). */
  readonly blobHash: string;
  /** The store's row id (MessageMeta.id), when known: a row's octets (prefix + body) never
   * change and ids are never reused, so it keys the cached header text. */
  readonly rowId?: number;
}

export interface SearchContext {
  /** Every message of the view, ascending by sequence number (and so by UID). */
  readonly messages: readonly SearchMessage[];
  /** The charset of the string keys' `value` bytes: "UTF-8" or "US-ASCII". */
  readonly charset: 'UTF-8' | 'US-ASCII';
  /** RFC 5182 "$": UIDs of the saved search result (ascending), or null when none is saved
   * (then "$" matches nothing, RFC 5182 2.1). */
  readonly savedResult: readonly number[] | null;
  /**
   * Minutes east of UTC used for "disregarding time and timezone" date comparisons on
   * INTERNALDATE (RFC 3501 6.4.4 BEFORE/ON/SINCE). SENTBEFORE/SENTON/SENTSINCE use the Date
   * header's own date (index.search.date is epoch ms; the engine may apply the header's zone
   * when it can, else UTC). 0 by default.
   */
  readonly timeZoneOffsetMinutes: number;
  /** The message index (envelope, structure, decoded header fields in `index.search`), or null. */
  loadIndex(uid: number): Promise<MessageIndex | null>;
  /** Raw octets of the top-level header (HEADER key: unfold, decode RFC 2047, then match), or null. */
  readHeader(uid: number): Promise<Buffer | null>;
  /** Decoded text of the body's text parts (BODY key; TEXT = header + this), or null. */
  readText(uid: number): Promise<string | null>;
  /** Yields to the event loop; rejects with SearchAbortedError when the session is gone. */
  checkpoint(): Promise<void>;
}

/** The session went away (or was shut down) while a search ran: stop quietly. */
export class SearchAbortedError extends Error {
  override readonly name = 'SearchAbortedError';
  constructor() {
    super('search aborted: the session has ended');
  }
}

/** What src/imap/search/index.ts exports. */
export type EvaluateSearch = (key: SearchKey, ctx: SearchContext) => Promise<number[]>;
