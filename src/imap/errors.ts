/**
 * The three outcomes a command handler can throw (STYLE.md 4.6), mapped once by the session
 * (./session.ts `runCommand`): ImapNo → tagged NO, ImapBad → tagged BAD, ImapBye → untagged
 * BYE and close. Anything else is logged and answered `NO [SERVERBUG]`; the connection lives on.
 * Response codes follow RFC 5530.
 * @module
 */
import type { encode } from '../wire/imap/index.js';
import { StoreError } from '../store/types.js';

type ResponseCode = encode.ResponseCode;

/** The command failed for a reason the client can act on (RFC 3501 7.1.2). */
export class ImapNo extends Error {
  override readonly name = 'ImapNo';
  constructor(
    readonly code: ResponseCode | null,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The command was not acceptable: syntax, state, unknown command (RFC 3501 7.1.3). */
export class ImapBad extends Error {
  override readonly name = 'ImapBad';
  constructor(
    message: string,
    readonly code: ResponseCode | null = null,
  ) {
    super(message);
  }
}

/** The session must end now (RFC 3501 7.1.5). */
export class ImapBye extends Error {
  override readonly name = 'ImapBye';
  constructor(
    message: string,
    readonly code: ResponseCode | null = null,
  ) {
    super(message);
  }
}

/** What a StoreError means for a client (RFC 5530 codes). `target` marks a destination mailbox
 * (APPEND, COPY, MOVE): its absence is TRYCREATE (RFC 3501 6.3.11, 6.4.7), not NONEXISTENT. */
export function storeErrorToNo(error: StoreError, target = false): ImapNo {
  const [code, text] = responseFor(error, target);
  // The cause travels with the NO, so the session can still log a storage fault (storeFaultOf).
  return new ImapNo(code, text, { cause: error });
}

function responseFor(error: StoreError, target: boolean): [ResponseCode, string] {
  switch (error.code) {
    case 'notFound':
      return target ? ['TRYCREATE', 'Mailbox does not exist'] : ['NONEXISTENT', 'No such mailbox'];
    case 'exists':
      return ['ALREADYEXISTS', 'Mailbox already exists'];
    case 'overQuota':
      return ['OVERQUOTA', 'Quota exceeded'];
    case 'invalid':
      return ['CANNOT', publicMessage(error)];
    case 'hasChildren':
      return ['HASCHILDREN', 'Mailbox has inferior hierarchical names'];
    case 'cannot':
      return ['CANNOT', publicMessage(error)];
    case 'busy':
      return ['UNAVAILABLE', 'Storage is busy, try again later'];
    case 'noSpace':
      // RFC 5530 has no disk-full code; OVERQUOTA would blame the user's quota. The storage
      // subsystem is temporarily unable to take writes: UNAVAILABLE, try again later.
      return ['UNAVAILABLE', 'Server storage is full, try again later'];
    case 'io':
      return ['SERVERBUG', 'Storage error'];
  }
}

/**
 * The storage fault behind a failed command (disk full, I/O error, database busy), whether it
 * arrived as a StoreError or as the NO it was turned into: the operator needs it in the log even
 * though the client only sees NO [UNAVAILABLE] or [SERVERBUG].
 */
export function storeFaultOf(error: unknown): StoreError | null {
  const store = error instanceof ImapNo ? error.cause : error;
  if (!(store instanceof StoreError)) return null;
  return store.code === 'io' || store.code === 'noSpace' || store.code === 'busy' ? store : null;
}

/** Store messages about names and keywords are safe to show; keep them one short line. */
function publicMessage(error: StoreError): string {
  const text = error.message.replace(/[\r\n]+/g, ' ');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Runs a store call, turning StoreError into the NO a client should see. */
export async function storeCall<T>(run: () => Promise<T>, target = false): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof StoreError) throw storeErrorToNo(error, target);
    throw error;
  }
}
