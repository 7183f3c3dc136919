/**
 * Command: APPEND (RFC 3501 6.3.11; RFC 3502 MULTIAPPEND; RFC 4315 APPENDUID; RFC 7889 APPENDLIMIT)
 * Request syntax: append = "APPEND" SP mailbox 1*(SP [flag-list SP] [date-time SP] literal)
 * Response: "+ Ready" before each synchronizing literal, or a tagged NO before it:
 *   [TRYCREATE] (no such mailbox), [TOOBIG] (over APPENDLIMIT), [OVERQUOTA] (RFC 9208), so the
 *   client never sends octets we would throw away. Success: OK [APPENDUID uidvalidity uid-set].
 *
 * The message octets stream into a BlobWriter and through the MessageIndexer as they arrive
 * (AppendUpload, driven by the receiver's literalStart/Data/End events): never held in memory,
 * parsed once. All messages of a MULTIAPPEND are stored in one store call, all or nothing.
 * @module
 */
import { MessageIndexer } from '../../mime/indexer.js';
import type { MessageIndex } from '../../mime/types.js';
import type { BlobWriter, Mailbox, NewMessage, StagedBlob } from '../../store/types.js';
import { encode, ImapParseError, parsePendingAppend } from '../../wire/imap/index.js';
import type { ImapReceiverEvent, ImapToken } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapBad, ImapNo, storeCall } from '../errors.js';
import { splitFlags } from '../flags.js';
import type { ImapSession } from '../session.js';
import type { LoggedInState } from '../state.js';

type Refusal = { status: 'NO' | 'BAD'; code: encode.ResponseCode | null; text: string };

interface Receiving {
  readonly writer: BlobWriter;
  readonly indexer: MessageIndexer;
  readonly index: number;
}

/** The literals of one APPEND command while they arrive. */
export class AppendUpload {
  mailbox: Mailbox | null = null;
  readonly staged = new Map<number, { blob: StagedBlob; index: MessageIndex }>();
  #receiving: Receiving | null = null;
  /** Writers of the finished literals: aborting one drops its staged blob unless it was stored. */
  readonly #finished: BlobWriter[] = [];
  /** Octets announced so far, for the quota check of the next literal. */
  #announced = 0;

  constructor(
    private readonly session: ImapSession,
    readonly tag: string,
  ) {}

  /** A synchronizing literal is announced: check everything we can before "+" (RFC 7888 4). */
  async needContinuation(event: Extract<ImapReceiverEvent, { type: 'needContinuation' }>): Promise<void> {
    const refusal = await this.#check(event.args, event.size, event.exceedsLimit, event.limit);
    if (refusal !== null) {
      this.session.receiver.rejectLiteral();
      return this.#refuse(refusal);
    }
    this.session.receiver.acceptLiteral();
    await this.session.send(encode.continuation('Ready for literal data'));
  }

  /** A literal begins; a non-synchronizing one (LITERAL+) is checked only now. */
  async start(event: Extract<ImapReceiverEvent, { type: 'literalStart' }>): Promise<void> {
    if (event.nonSync) {
      const refusal = await this.#check(event.args, event.size, false, 0);
      if (refusal !== null) {
        this.session.receiver.abortCommand();
        return this.#refuse(refusal);
      }
    }
    const settings = this.session.settings;
    this.#receiving = {
      writer: this.session.store.createBlobWriter(),
      indexer: new MessageIndexer({ maxDepth: settings.nestingDepth, maxParts: settings.mimeParts }),
      index: event.index,
    };
  }

  async data(chunk: Buffer): Promise<void> {
    const receiving = this.#receiving;
    if (receiving === null) return;
    receiving.indexer.write(chunk);
    await receiving.writer.write(chunk);
  }

  async end(): Promise<void> {
    const receiving = this.#receiving;
    if (receiving === null) return;
    this.#receiving = null;
    const blob = await receiving.writer.finish();
    this.#finished.push(receiving.writer);
    this.staged.set(receiving.index, { blob, index: receiving.indexer.finish() });
  }

  /**
   * Throws away what was written and not stored: the literal being received and the staged
   * blobs of finished ones (a MULTIAPPEND whose second literal failed, a refused APPEND), so
   * their temp files go now rather than at close — on a full disk that space matters. Blobs the
   * store took are untouched (BlobWriter.abort after finish drops only an unused staged blob).
   */
  async discard(): Promise<void> {
    const receiving = this.#receiving;
    this.#receiving = null;
    this.staged.clear();
    const writers = [...this.#finished.splice(0), ...(receiving === null ? [] : [receiving.writer])];
    await Promise.all(writers.map((writer) => writer.abort().catch(() => undefined)));
  }

  async #refuse(refusal: Refusal): Promise<void> {
    this.session.dropUpload();
    await this.discard();
    await this.session.answer(this.tag, refusal.status, refusal.code, refusal.text);
  }

  async #check(args: readonly ImapToken[], size: number, exceedsLimit: boolean, limit: number): Promise<Refusal | null> {
    const state = this.session.state;
    if (state.kind !== 'authenticated' && state.kind !== 'selected') return { status: 'BAD', code: null, text: 'APPEND is not allowed before login' };
    let flags: readonly string[] | null;
    let mailboxName: string;
    try {
      const pending = parsePendingAppend(args);
      flags = pending.flags;
      mailboxName = pending.mailbox;
      if (flags !== null) splitFlags(flags);
    } catch (error) {
      if (error instanceof ImapParseError || error instanceof ImapBad) return { status: 'BAD', code: null, text: error.message };
      throw error;
    }
    if (this.mailbox === null) {
      try {
        this.mailbox = await storeCall(() => this.session.store.getMailbox(state.user.accountId, mailboxName));
      } catch (error) {
        if (error instanceof ImapNo) return { status: 'NO', code: error.code, text: error.message };
        throw error;
      }
      if (this.mailbox === null) return { status: 'NO', code: 'TRYCREATE', text: 'Mailbox does not exist' };
    }
    if (exceedsLimit) return { status: 'NO', code: 'TOOBIG', text: `Message is larger than the limit of ${limit} octets` };
    if (size === 0) return { status: 'NO', code: 'CANNOT', text: 'Empty messages are not stored' };
    this.#announced += size;
    const account = await this.session.store.getAccountById(state.user.accountId);
    if (account !== null) {
      const bytes = account.quotaBytes !== null && account.usedBytes + this.#announced > account.quotaBytes;
      const count = account.quotaMessages !== null && account.usedMessages + this.staged.size + 1 > account.quotaMessages;
      if (bytes || count) return { status: 'NO', code: 'OVERQUOTA', text: 'Quota exceeded' };
    }
    return null;
  }
}

export async function cmdAppend(session: ImapSession, command: CommandOf<'APPEND'>, state: LoggedInState): Promise<Completion> {
  const upload = session.pendingUpload;
  const mailbox = upload?.mailbox ?? (await storeCall(() => session.store.getMailbox(state.user.accountId, command.mailbox)));
  if (mailbox === null) throw new ImapNo('TRYCREATE', 'Mailbox does not exist');
  const messages: NewMessage[] = [];
  const keywords = new Set<string>();
  for (const message of command.messages) {
    const stored = await stagedData(session, upload, message.data);
    const { bits, keywords: words } = splitFlags(message.flags ?? []);
    for (const word of words) keywords.add(word);
    messages.push({
      blob: stored.blob,
      index: stored.index,
      flags: bits,
      keywords: words,
      ...(message.internalDate !== null ? { internalDate: message.internalDate.date } : {}),
    });
  }
  if (keywords.size > 0) await checkAppendKeywords(session, state, mailbox, [...keywords]);
  const results = await storeCall(() => session.store.append(state.user.accountId, mailbox.id, messages), true);
  const first = results[0];
  if (first === undefined) return;
  return { code: { code: 'APPENDUID', uidValidity: first.uidValidity, uids: results.map((r) => r.uid) }, text: 'APPEND completed' };
}

/** The staged blob of a streamed literal, or a blob written now for an in-memory one. */
async function stagedData(
  session: ImapSession,
  upload: AppendUpload | null,
  data: CommandOf<'APPEND'>['messages'][number]['data'],
): Promise<{ blob: StagedBlob; index: MessageIndex }> {
  if (data.type === 'streamed') {
    const staged = upload?.staged.get(data.index);
    if (staged === undefined) throw new ImapBad('Message data missing');
    return staged;
  }
  if (data.value.length > session.settings.messageSize) throw new ImapNo('TOOBIG', 'Message too large');
  const writer = session.store.createBlobWriter();
  const indexer = new MessageIndexer({ maxDepth: session.settings.nestingDepth, maxParts: session.settings.mimeParts });
  indexer.write(data.value);
  await writer.write(data.value);
  return { blob: await writer.finish(), index: indexer.finish() };
}

/** Keywords per mailbox (limits.keywords_per_mailbox): NO [LIMIT] when new ones would pass it. */
async function checkAppendKeywords(session: ImapSession, state: LoggedInState, mailbox: Mailbox, keywords: readonly string[]): Promise<void> {
  const known = new Set<string>();
  if (state.kind === 'selected' && state.mailbox.mailboxId === mailbox.id) {
    for (const k of state.mailbox.keywords()) known.add(k.toLowerCase());
  } else {
    const messages = await storeCall(() => session.store.listMessages(mailbox.id));
    for (const message of messages) for (const k of message.keywords) known.add(k.toLowerCase());
  }
  const fresh = keywords.filter((k) => !known.has(k.toLowerCase())).length;
  if (fresh > 0 && known.size + fresh > session.settings.keywordsPerMailbox) {
    throw new ImapNo('LIMIT', `Too many keywords in this mailbox (limit ${session.settings.keywordsPerMailbox})`);
  }
}
