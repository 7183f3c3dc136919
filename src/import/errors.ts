/** Failures of an import the operator can act on (exit status 1 in the CLI). */
export type ImportErrorCode =
  /** The source is unreadable or not of the announced format. */
  | 'source'
  /** The source changed since the interrupted run recorded in the journal. */
  | 'changed'
  /** The account's quota stopped the import. */
  | 'overQuota'
  /** A mailbox could not be found or created. */
  | 'mailbox';

export class ImportError extends Error {
  constructor(
    readonly code: ImportErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ImportError';
  }
}
