/**
 * Command: BDAT (RFC 3030 2, CHUNKING).
 * Request syntax: `"BDAT" SP chunk-size [ SP end-marker ] CRLF` followed by exactly chunk-size
 * octets. Response syntax: `250` per chunk (the last one: the message's reply), or 4xx/5xx.
 *
 * The chunk is always read, also when the command is refused, so the next command is found
 * where the client put it (RFC 3030 2: "the server MUST still read and discard the data").
 * After a refused chunk the transaction is over (RFC 3030 2: the client sends no more chunks;
 * later ones get 503). Bare CR/LF are checked across chunks like in DATA, except for
 * BODY=BINARYMIME (RFC 3030 3).
 * @module
 */
import { ConnectionClosedError } from '../../net/connection.js';
import { Reply, reply } from '../../wire/smtp/index.js';
import type { SmtpReply } from '../../wire/smtp/index.js';
import { ALL_STATES, command } from '../command.js';
import { asError } from '../errors.js';
import { BareLineEndingFilter } from '../line-endings.js';
import type { IncomingMessage } from '../message.js';
import { contentFailureReply, deliverIncoming, nextMessageId, openIncomingMessage } from '../receive.js';
import { SessionReply } from '../replies.js';
import type { Session } from '../session.js';
import type { StateOf } from '../state.js';

type ChunkState = StateOf<'chunking'>;

export const bdat = command<'BDAT', 'connected' | 'greeted' | 'transaction' | 'chunking'>({
  states: ALL_STATES,
  async run(session, state, cmd) {
    if (state.kind === 'connected' || state.kind === 'greeted') {
      await discardChunk(session, cmd.size);
      return Reply.badSequence;
    }
    if (state.envelope.recipients.length === 0) {
      await discardChunk(session, cmd.size);
      await session.resetTransaction();
      return SessionReply.noValidRecipients;
    }
    const chunking = state.kind === 'chunking' ? state : await startChunkingOrDiscard(session, state, cmd.size);
    const failure = await readChunk(session, chunking, cmd.size, cmd.last);
    if (failure !== null) {
      await session.resetTransaction(); // aborts the message
      return failure;
    }
    if (!cmd.last) return reply(250, '2.0.0', `${cmd.size} octets received`);
    // The last chunk: the message is complete, the transaction over (RFC 3030 2).
    session.state = { kind: 'greeted', greeting: chunking.greeting };
    const lineEnding = chunking.lineEndings?.finish() ?? null;
    if (lineEnding !== null) {
      await abortMessage(session, chunking.message);
      return contentFailureReply(lineEnding);
    }
    return deliverIncoming(session, chunking.envelope, chunking.message, chunking.id);
  },
});

/** Opens the message; if that fails (store error), the chunk is still read before the error is answered. */
async function startChunkingOrDiscard(session: Session, state: StateOf<'transaction'>, size: number): Promise<ChunkState> {
  try {
    return await startChunking(session, state);
  } catch (error) {
    await discardChunk(session, size);
    await session.resetTransaction();
    throw error;
  }
}

async function startChunking(session: Session, state: StateOf<'transaction'>): Promise<ChunkState> {
  const id = nextMessageId(session);
  const message = await openIncomingMessage(session, state.greeting, state.envelope, id);
  const binary = state.envelope.params.body === 'BINARYMIME';
  const chunking: ChunkState = {
    kind: 'chunking',
    greeting: state.greeting,
    envelope: state.envelope,
    message,
    lineEndings: binary ? null : new BareLineEndingFilter(session.settings.bareLineEndings === 'normalize'),
    id,
  };
  session.state = chunking;
  return chunking;
}

/**
 * Reads one chunk into the message. Returns the reply that ends the transaction (552 too big,
 * bare line ending, store failure) or null to go on. The whole chunk is read in every case.
 */
async function readChunk(session: Session, state: ChunkState, size: number, last: boolean): Promise<SmtpReply | null> {
  session.receiver.expectChunk(size, last);
  let failure: SmtpReply | null = null;
  let storeError: Error | null = null;
  for (;;) {
    const event = await session.nextEvent();
    if (event === null) throw new ConnectionClosedError('client closed during BDAT');
    if (event.type === 'chunkEnd') break;
    if (event.type !== 'data' || failure !== null || storeError !== null) continue;
    const chunk = state.lineEndings === null ? event.chunk : state.lineEndings.filter(event.chunk);
    if (chunk === null) {
      failure = contentFailureReply(state.lineEndings?.error ?? 'bareLf');
      continue;
    }
    try {
      await state.message.write(chunk);
    } catch (error) {
      storeError = asError(error);
    }
    if (state.message.oversized) failure = Reply.sizeExceeded;
  }
  if (storeError !== null) {
    await session.resetTransaction();
    throw storeError;
  }
  return failure;
}

async function discardChunk(session: Session, size: number): Promise<void> {
  session.receiver.expectChunk(size, false);
  for (;;) {
    const event = await session.nextEvent();
    if (event === null) throw new ConnectionClosedError('client closed during BDAT');
    if (event.type === 'chunkEnd') return;
  }
}

async function abortMessage(session: Session, message: IncomingMessage): Promise<void> {
  session.trackMessage(null);
  await message.abort();
}
