/**
 * RETR and TOP (RFC 1939 5, 7): a message of the snapshot, streamed from the store. The store
 * finds rows by id (never reused), so a message another session expunged gives -ERR and never
 * another message's bytes. A message sent whole counts as downloaded (retention, recorded at
 * QUIT).
 * @module
 */
import type { Readable } from 'node:stream';
import { StoreError } from '../../store/types.js';
import type { CommandSpec } from '../command.js';
import { Pop3Errors } from '../errors.js';
import type { MaildropEntry } from '../maildrop.js';
import type { Session } from '../session.js';

/**
 * Command: RETR msg (RFC 1939 5).
 * Response: +OK size octets, the message dot-stuffed, "." | -ERR no such message | -ERR already deleted.
 */
export const retr: CommandSpec<'RETR'> = {
  async transaction(session, { maildrop }, command) {
    const entry = maildrop.entry(command.message);
    const body = await openBody(session, entry);
    return { kind: 'message', text: `${entry.meta.size} octets`, body, size: entry.meta.size, onSent: () => maildrop.noteRetrieved(entry.number) };
  },
};

/**
 * Command: TOP msg n (RFC 1939 7).
 * Response: +OK, the header, the blank line and n body lines (all when fewer), "." | -ERR.
 */
export const top: CommandSpec<'TOP'> = {
  async transaction(session, { maildrop }, command) {
    const entry = maildrop.entry(command.message);
    const body = await openBody(session, entry);
    // A TOP that sent the whole message is a download too: fetchmail's keep mode reads
    // messages with "TOP n 99999999" (retention counts from the first download).
    const onSent = (whole: boolean): void => {
      if (whole) maildrop.noteRetrieved(entry.number);
    };
    return { kind: 'message', text: 'top of message follows', body, size: entry.meta.size, bodyLines: command.lines, onSent };
  },
};

/** Up to this size a message is read in one piece (fewer I/O round trips); larger ones stream. */
const READ_WHOLE_LIMIT = 256 * 1024;

async function openBody(session: Session, entry: MaildropEntry): Promise<Readable | Buffer> {
  const { store } = session.services;
  try {
    return entry.meta.size <= READ_WHOLE_LIMIT ? await store.readMessage(entry.meta) : await store.openMessage(entry.meta);
  } catch (error) {
    if (error instanceof StoreError && error.code === 'notFound') throw Pop3Errors.expunged(entry.number);
    throw error;
  }
}
