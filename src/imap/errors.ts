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
  ) {
    super(message);
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
  switch (error.code) {
    case 'notFound':
      return target ? new ImapNo('TRYCREATE', 'Mailbox does not exist') : new ImapNo('NONEXISTENT', 'No such mailbox');
    case 'exists':
      return new ImapNo('ALREADYEXISTS', 'Mailbox already exists');
    case 'overQuota':
      return new ImapNo('OVERQUOTA', 'Quota exceeded');
    case 'invalid':
      return new ImapNo('CANNOT', publicMessage(error));
    case 'hasChildren':
      return new ImapNo('HASCHILDREN', 'Mailbox has inferior hierarchical names');
    case 'cannot':
      return new ImapNo('CANNOT', publicMessage(error));
    case 'busy':
      return new ImapNo('UNAVAILABLE', 'Storage is busy, try again later');
    case 'noSpace':
      return new ImapNo('UNAVAILABLE', 'Server storage is full, try again later');
    case 'io':
      return new ImapNo('SERVERBUG', 'Storage error');
  }
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
