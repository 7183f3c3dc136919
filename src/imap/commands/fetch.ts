/**
 * Command: FETCH and UID FETCH (RFC 3501 6.4.5, 6.4.8; RFC 7162 3.1.4 CHANGEDSINCE, 3.2.6 VANISHED)
 * Request syntax: fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
 *   "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
 * Response syntax: "* n FETCH (" msg-att ")" per message, in ascending order; under UID FETCH
 *   the UID is always included. A non-PEEK body item sets \Seen and the response then carries
 *   FLAGS (RFC 3501 6.4.5). No EXPUNGE is sent during FETCH (RFC 3501 7.4.1); messages another
 *   session expunged are left out and the command ends OK [EXPUNGEISSUED] (RFC 5530, RFC 2180 4.1).
 *
 * Messages are processed in chunks: one store read per chunk (with the index only when an item
 * needs it), then one response per message, streamed with backpressure.
 * @module
 */
import type { MessageIndex } from '../../mime/types.js';
import type { MessageMeta, StoredMessage } from '../../store/types.js';
import { encode } from '../../wire/imap/index.js';
import type { FetchItem } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapBad, storeCall } from '../errors.js';
import { SEEN } from '../flags.js';
import { fetchResponseText, isTextItem, writeFetchResponse } from '../fetch/message-writer.js';
import type { EncodedStructure } from '../fetch/structure-cache.js';
import { lowerBound } from '../listing-cache.js';
import { vanishedSince } from '../qresync.js';
import { resolvePositions } from '../sequence.js';
import type { ImapSession } from '../session.js';
import type { SelectedState } from '../state.js';

const CHUNK = 250;

interface FetchPlan {
  readonly items: readonly FetchItem[];
  /** Some item needs the stored index (sections, RFC822.HEADER/TEXT, or a structure not cached). */
  readonly needIndex: boolean;
  /** ENVELOPE, BODY or BODYSTRUCTURE is asked for: served from the shared structure cache. */
  readonly needStructure: boolean;
  readonly setsSeen: boolean;
  readonly hasFlags: boolean;
  /** Every item is answered from metadata and structure: responses are built as text in batches. */
  readonly textOnly: boolean;
}

export async function cmdFetch(session: ImapSession, command: CommandOf<'FETCH'>, state: SelectedState): Promise<Completion> {
  const view = state.mailbox;
  const plan = await planFetch(command, session);
  const positions = resolvePositions(view, command.sequenceSet, command.uid, session.savedSearch);
  if (command.vanished && command.changedSince !== null) {
    // RFC 7162 3.2.6: VANISHED (EARLIER) for expunged UIDs of the set, before the FETCHes.
    if (!session.qresync) throw new ImapBad('VANISHED requires ENABLE QRESYNC');
    const max = view.highestUid;
    const present = async (): Promise<readonly MessageMeta[]> => (await session.services.listings.list(view.accountId, view.mailboxId)).messages;
    const gone = await vanishedSince(session.store, view.accountId, view.mailboxId, command.changedSince, { set: command.sequenceSet, max }, present);
    if (gone !== null) await session.send(encode.untagged([encode.raw('VANISHED'), encode.raw('(EARLIER)'), encode.raw(gone.toString())]));
  }
  let missing = false;
  // Without sections the rows come from the shared listing, read (brought up to date) once.
  const listing = plan.needIndex || positions.length === 0 ? null : (await storeCall(() => session.services.listings.list(view.accountId, view.mailboxId))).messages;
  for (let from = 0; from < positions.length; from += CHUNK) {
    const chunk = positions.slice(from, from + CHUNK);
    const uids = chunk.map((i) => view.uids[i]!);
    const byUid = await loadChunk(session, state, uids, plan, listing);
    const flagged = plan.setsSeen && !view.readOnly ? await markSeen(session, state, byUid) : new Set<number>();
    if (plan.textOnly) {
      // One string and one queued write per chunk (the output still waits for drain).
      const lines: string[] = [];
      for (let k = 0; k < chunk.length; k++) {
        const uid = uids[k]!;
        const found = byUid.get(uid);
        if (found === undefined) {
          missing = true;
          continue;
        }
        if (command.changedSince !== null && found.meta.modseq <= command.changedSince) continue;
        lines.push(fetchResponseText({ seq: chunk[k]! + 1, meta: found.meta, index: found.index, structure: found.structure, recent: view.isRecent(uid) }, plan.items, false));
      }
      if (lines.length > 0) await session.send([Buffer.from(lines.join(''), 'utf8')]);
      continue;
    }
    for (let k = 0; k < chunk.length; k++) {
      const uid = uids[k]!;
      const found = byUid.get(uid);
      if (found === undefined) {
        missing = true;
        continue;
      }
      if (command.changedSince !== null && found.meta.modseq <= command.changedSince) continue;
      await writeFetchResponse(
        { store: session.store, output: session.output },
        { seq: chunk[k]! + 1, meta: found.meta, index: found.index, structure: found.structure, recent: view.isRecent(uid) },
        plan.items,
        flagged.has(uid) && !plan.hasFlags,
      );
    }
  }
  if (missing) return { code: 'EXPUNGEISSUED', text: 'Some messages were expunged by another session' };
}

/** Validates the items and decides what the store must deliver. */
async function planFetch(command: CommandOf<'FETCH'>, session: ImapSession): Promise<FetchPlan> {
  let items = command.items;
  for (const item of items) {
    if (item.type === 'BINARY' || item.type === 'BINARY.SIZE') throw new ImapBad('BINARY is not supported');
  }
  // RFC 7162 3.1.4.1 / 3.1.6: CHANGEDSINCE and MODSEQ enable CONDSTORE, and then every FETCH
  // that reports flags carries MODSEQ (RFC 7162 3.1.4).
  if (command.changedSince !== null || items.some((i) => i.type === 'MODSEQ')) await session.enableCondstore();
  const extra: FetchItem[] = [];
  if (command.uid && !items.some((i) => i.type === 'UID')) extra.push({ type: 'UID' });
  // RFC 7162 3.1: a CONDSTORE-aware client gets MODSEQ in every untagged FETCH response.
  if (session.condstore && !items.some((i) => i.type === 'MODSEQ')) items = [...items, { type: 'MODSEQ' }];
  items = [...extra, ...items];
  return {
    items,
    needIndex: items.some(needsIndex),
    needStructure: items.some((i) => i.type === 'ENVELOPE' || i.type === 'BODY' || i.type === 'BODYSTRUCTURE'),
    setsSeen: items.some((i) => (i.type === 'BODY_SECTION' && !i.peek) || i.type === 'RFC822' || i.type === 'RFC822.TEXT'),
    hasFlags: items.some((i) => i.type === 'FLAGS'),
    textOnly: items.every(isTextItem),
  };
}

function needsIndex(item: FetchItem): boolean {
  switch (item.type) {
    case 'RFC822.HEADER':
    case 'RFC822.TEXT':
      return true;
    case 'BODY_SECTION':
      return item.section.part.length > 0 || item.section.specifier !== null;
    default:
      return false;
  }
}

interface Loaded {
  meta: MessageMeta;
  index: MessageIndex | null;
  structure: EncodedStructure | null;
}

/** One store read for the chunk: rows with their index when a section needs it; otherwise rows
 * from the listing, with ENVELOPE/BODYSTRUCTURE from the shared cache and the index read for
 * misses alone. */
async function loadChunk(session: ImapSession, state: SelectedState, uids: readonly number[], plan: FetchPlan, listing: readonly MessageMeta[] | null): Promise<Map<number, Loaded>> {
  const view = state.mailbox;
  const cache = session.services.structures;
  const byUid = new Map<number, Loaded>();
  if (uids.length === 0) return byUid;
  if (plan.needIndex) {
    const messages: StoredMessage[] = await storeCall(() => session.store.getMessages(view.mailboxId, [...uids]));
    for (const message of messages) {
      const structure = plan.needStructure ? (cache.get(message.blobHash) ?? cache.encode(message.blobHash, message.index)) : null;
      byUid.set(message.uid, { meta: message, index: message.index, structure });
    }
    return byUid;
  }
  const wanted = new Set(uids);
  const messages = listing === null ? [] : listing.slice(lowerBound(listing, uids[0]!), lowerBound(listing, uids[uids.length - 1]! + 1));
  const misses: number[] = [];
  for (const message of messages) {
    if (!wanted.has(message.uid)) continue;
    const structure = plan.needStructure ? (cache.get(message.blobHash) ?? null) : null;
    if (plan.needStructure && structure === null) misses.push(message.uid);
    byUid.set(message.uid, { meta: message, index: null, structure });
  }
  if (misses.length > 0) {
    for (const message of await storeCall(() => session.store.getMessages(view.mailboxId, misses))) {
      const loaded = byUid.get(message.uid);
      if (loaded !== undefined) loaded.structure = cache.encode(message.blobHash, message.index);
    }
    // Expunged between the two reads: treated like any message expunged by another session.
    for (const uid of misses) if (byUid.get(uid)?.structure === null) byUid.delete(uid);
  }
  return byUid;
}

/** RFC 3501 6.4.5: BODY[...] (not PEEK), RFC822 and RFC822.TEXT set \Seen. Returns the UIDs
 * whose flags changed, after updating `byUid` with the new flags. */
async function markSeen(session: ImapSession, state: SelectedState, byUid: Map<number, Loaded>): Promise<Set<number>> {
  const view = state.mailbox;
  const unseen = [...byUid.values()].filter((m) => (m.meta.flags & SEEN) === 0).map((m) => m.meta.uid);
  const changed = new Set<number>();
  if (unseen.length === 0) return changed;
  const result = await storeCall(() => session.store.updateFlags(view.accountId, view.mailboxId, unseen, { op: 'add', flags: SEEN, keywords: [] }));
  for (const update of result.changed) {
    const loaded = byUid.get(update.uid);
    if (loaded === undefined) continue;
    loaded.meta = { ...loaded.meta, flags: update.flags, keywords: update.keywords, modseq: update.modseq };
    view.noteReported(update.uid, update.modseq, update.keywords);
    changed.add(update.uid);
  }
  return changed;
}
