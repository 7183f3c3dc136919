/**
 * Command: SEARCH and UID SEARCH (RFC 3501 6.4.4, 6.4.8; RFC 4731 ESEARCH; RFC 5182 SEARCHRES;
 * RFC 7162 3.1.5 MODSEQ)
 * Request syntax: search = "SEARCH" [search-return-opts] SP ["CHARSET" SP charset SP]
 *   search-key *(SP search-key)
 * Response syntax: "* SEARCH" *(SP nz-number) [SP "(MODSEQ" SP mod-sequence-value ")"], or with
 *   RETURN "* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] [COUNT n] [MODSEQ n]";
 *   NO [BADCHARSET (UTF-8 US-ASCII)] for other charsets. No EXPUNGE during SEARCH (RFC 3501 7.4.1).
 *
 * The evaluation is the search engine's (src/imap/search/); this handler builds its context from
 * the session's view (sequence numbers as this session knows them) and formats the result.
 * @module
 */
import type { MessageMeta } from '../../store/types.js';
import { encode } from '../../wire/imap/index.js';
import type { SearchKey } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapNo, storeCall } from '../errors.js';
import { checkpointFor, searchUsesModseq, StoreSearchSource, SUPPORTED_SEARCH_CHARSETS } from '../search/index.js';
import type { SearchContext, SearchMessage } from '../search/types.js';
import { SearchAbortedError } from '../search/types.js';
import type { ImapSession } from '../session.js';
import type { SelectedState } from '../state.js';
import { ConnectionClosedError } from '../../net/connection.js';

export async function cmdSearch(session: ImapSession, command: CommandOf<'SEARCH'>, state: SelectedState): Promise<Completion> {
  const saving = command.returnOptions?.includes('SAVE') ?? false;
  try {
    return await search(session, command, state, saving);
  } catch (error) {
    // RFC 5182 2.1: a failed SEARCH ... RETURN (SAVE) leaves "$" empty.
    if (saving) session.savedSearch = [];
    throw error;
  }
}

async function search(session: ImapSession, command: CommandOf<'SEARCH'>, state: SelectedState, saving: boolean): Promise<Completion> {
  const charset = command.charset ?? 'US-ASCII';
  if (!SUPPORTED_SEARCH_CHARSETS.includes(charset)) throw new ImapNo({ code: 'BADCHARSET', charsets: SUPPORTED_SEARCH_CHARSETS }, 'Unsupported charset');
  const key: SearchKey = command.criteria.length === 1 ? command.criteria[0]! : { type: 'AND', keys: command.criteria };
  const usesModseq = searchUsesModseq(key);
  if (usesModseq) await session.enableCondstore();
  const view = state.mailbox;
  const { messages: metas } = await storeCall(() => session.services.listings.list(view.accountId, view.mailboxId));
  const messages = searchMessages(view.uids, metas, (uid) => view.isRecent(uid));
  const source = new StoreSearchSource({ store: session.store, mailboxId: view.mailboxId });
  const context: SearchContext = {
    messages,
    charset: charset === 'UTF-8' ? 'UTF-8' : 'US-ASCII',
    savedResult: session.savedSearch,
    timeZoneOffsetMinutes: 0,
    loadIndex: (uid) => source.loadIndex(uid),
    readHeader: (uid) => source.readHeader(uid),
    readText: (uid) => source.readText(uid),
    checkpoint: checkpointFor(session.closedSignal),
  };
  let uids: number[];
  try {
    uids = await session.services.search(key, context);
  } catch (error) {
    if (error instanceof SearchAbortedError) throw new ConnectionClosedError('client left during SEARCH');
    throw error;
  }
  const numbers = command.uid ? uids : uids.map((uid) => view.seqOf(uid));
  const highestModseq = usesModseq && uids.length > 0 ? uids.reduce((max, uid) => Math.max(max, messages[view.seqOf(uid) - 1]?.modseq ?? 0), 0) : null;
  const options = command.returnOptions;
  if (options === null) {
    await session.send(encode.searchResponse(numbers, highestModseq));
    return;
  }
  if (saving) session.savedSearch = savedResult(options, uids);
  // RFC 5182 2.1: RETURN (SAVE) alone produces no ESEARCH response.
  if (options.length === 1 && saving) return;
  const all = options.length === 0 || options.includes('ALL');
  await session.send(
    encode.esearchResponse({
      tag: command.tag,
      uid: command.uid,
      ...(options.includes('MIN') && numbers.length > 0 ? { min: numbers[0]! } : {}),
      ...(options.includes('MAX') && numbers.length > 0 ? { max: numbers[numbers.length - 1]! } : {}),
      ...(all ? { all: numbers } : {}),
      ...(options.includes('COUNT') ? { count: numbers.length } : {}),
      ...(highestModseq !== null ? { modseq: highestModseq } : {}),
    }),
  );
}

/** RFC 5182 2.1: with MIN/MAX but neither ALL nor COUNT only those are saved. */
function savedResult(options: readonly string[], uids: readonly number[]): number[] {
  const minMaxOnly = (options.includes('MIN') || options.includes('MAX')) && !options.includes('ALL') && !options.includes('COUNT');
  if (!minMaxOnly || uids.length === 0) return [...uids];
  const saved = new Set<number>();
  if (options.includes('MIN')) saved.add(uids[0]!);
  if (options.includes('MAX')) saved.add(uids[uids.length - 1]!);
  return [...saved].sort((a, b) => a - b);
}

/** The view's messages with their metadata: both lists ascend by UID, so one merge pass. */
function searchMessages(uids: readonly number[], metas: readonly MessageMeta[], isRecent: (uid: number) => boolean): SearchMessage[] {
  const messages: SearchMessage[] = new Array<SearchMessage>(uids.length);
  let at = 0;
  for (let i = 0; i < uids.length; i++) {
    const uid = uids[i]!;
    while (at < metas.length && metas[at]!.uid < uid) at++;
    messages[i] = searchMessage(i + 1, uid, metas[at]?.uid === uid ? metas[at] : undefined, isRecent(uid));
  }
  return messages;
}

/** A message another session expunged (not announced yet) keeps its number; it has no data. */
function searchMessage(seq: number, uid: number, meta: MessageMeta | undefined, recent: boolean): SearchMessage {
  if (meta === undefined) return { seq, uid, flags: 0, keywords: [], recent, internalDate: new Date(0), size: 0, modseq: 0, blobHash: '' };
  return { seq, uid, flags: meta.flags, keywords: meta.keywords, recent, internalDate: meta.internalDate, size: meta.size, modseq: meta.modseq, blobHash: meta.blobHash, rowId: meta.id };
}
