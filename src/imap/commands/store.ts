/**
 * Command: STORE and UID STORE (RFC 3501 6.4.6, 6.4.8; RFC 7162 3.1.3 UNCHANGEDSINCE)
 * Request syntax: store = "STORE" SP sequence-set [SP store-modifiers] SP store-att-flags
 * Response syntax: "* n FETCH (FLAGS (...) [UID u] [MODSEQ (m)])" for each message unless
 *   .SILENT; OK [MODIFIED set] for messages refused by UNCHANGEDSINCE. No EXPUNGE during STORE
 *   (RFC 3501 7.4.1; the dispatcher's flush keeps them for later).
 * @module
 */
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapNo, storeCall } from '../errors.js';
import { flagListText, splitFlags } from '../flags.js';
import { resolvePositions } from '../sequence.js';
import type { ImapSession } from '../session.js';
import type { SelectedState } from '../state.js';

export async function cmdStore(session: ImapSession, command: CommandOf<'STORE'>, state: SelectedState): Promise<Completion> {
  const view = state.mailbox;
  if (view.readOnly) throw new ImapNo('CANNOT', 'Mailbox is read-only');
  const { bits, keywords } = splitFlags(command.flags);
  if (command.unchangedSince !== null) await session.enableCondstore();
  if (command.action !== 'remove') checkKeywordLimit(session, state, keywords);
  const positions = resolvePositions(view, command.sequenceSet, command.uid, session.savedSearch);
  if (positions.length === 0) return;
  const uids = positions.map((i) => view.uids[i]!);
  const result = await storeCall(() =>
    session.store.updateFlags(view.accountId, view.mailboxId, uids, {
      op: command.action,
      flags: bits,
      keywords,
      ...(command.unchangedSince !== null ? { unchangedSince: command.unchangedSince } : {}),
    }),
  );
  for (const changed of result.changed) view.noteReported(changed.uid, changed.modseq, changed.keywords);
  // RFC 7162 3.1.3: with UNCHANGEDSINCE the FETCH goes out even for .SILENT.
  if (!command.silent || command.unchangedSince !== null) await reportFlags(session, state, command, uids, new Set(result.modifiedSince));
  if (result.modifiedSince.length === 0) return;
  const set = command.uid ? result.modifiedSince : result.modifiedSince.map((uid) => view.seqOf(uid)).filter((seq) => seq > 0);
  return { code: { code: 'MODIFIED', set }, text: 'Conditional STORE failed for some messages' };
}

/** RFC 3501 6.4.6: the new flags of each message; read back, so unchanged ones are included. */
async function reportFlags(session: ImapSession, state: SelectedState, command: CommandOf<'STORE'>, uids: readonly number[], refused: ReadonlySet<number>): Promise<void> {
  const view = state.mailbox;
  const wanted = new Set(uids);
  const messages = await storeCall(() => session.services.listings.range(view.accountId, view.mailboxId, uids[0]!, uids[uids.length - 1]!));
  for (const message of messages) {
    if (!wanted.has(message.uid) || refused.has(message.uid)) continue;
    const seq = view.seqOf(message.uid);
    if (seq === 0) continue;
    const uid = command.uid ? ` UID ${message.uid}` : '';
    const modseq = session.condstore ? ` MODSEQ (${message.modseq})` : '';
    await session.sendText(`* ${seq} FETCH (FLAGS ${flagListText(message.flags, message.keywords, view.isRecent(message.uid))}${uid}${modseq})\r\n`);
  }
}

/** Keywords per mailbox are limited (config limits.keywords_per_mailbox): NO [LIMIT] beyond. */
export function checkKeywordLimit(session: ImapSession, state: SelectedState | null, keywords: readonly string[]): void {
  if (state === null) return;
  const view = state.mailbox;
  const fresh = keywords.filter((k) => !view.hasKeyword(k)).length;
  if (fresh > 0 && view.keywordCount() + fresh > session.settings.keywordsPerMailbox) {
    throw new ImapNo('LIMIT', `Too many keywords in this mailbox (limit ${session.settings.keywordsPerMailbox})`);
  }
}

