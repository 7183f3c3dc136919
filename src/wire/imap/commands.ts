/**
 * Typed IMAP commands: what `parseCommand` returns. A discriminated union on `name`; the
 * UID-prefixed forms (RFC 3501 6.4.8, RFC 4315, RFC 6851) keep their base name with `uid: true`.
 * Mailbox names are UTF-8, decoded from modified UTF-7 (RFC 3501 5.1.3) and with INBOX
 * normalized. Strings whose charset the client chooses (SEARCH) stay Buffers.
 * @module
 */
import type { SequenceSet } from './sequence-set.js';

export interface ParseOptions {
  /** The client has sent ENABLE UTF8=ACCEPT (RFC 6855 3): mailbox names are UTF-8 as sent. */
  utf8Accept?: boolean;
}

/** RFC 3501 9 `date-time`: the instant, and the zone it was written in (minutes east of UTC). */
export interface ImapDateTime {
  readonly date: Date;
  readonly zoneMinutes: number;
}

/** RFC 3501 9 `date` (SEARCH): a calendar day, no time or zone (RFC 3501 6.4.4 "disregarding time and timezone"). */
export interface SearchDate {
  readonly year: number;
  /** 1..12 */
  readonly month: number;
  readonly day: number;
}

interface Tagged {
  readonly tag: string;
}

/** Commands without arguments (RFC 3501 6.1.x, 6.2.1, 6.4.1, 6.4.2; RFC 3691; RFC 2177; RFC 2342). */
export interface SimpleCommand extends Tagged {
  readonly name: 'CAPABILITY' | 'NOOP' | 'LOGOUT' | 'STARTTLS' | 'CHECK' | 'CLOSE' | 'UNSELECT' | 'IDLE' | 'NAMESPACE';
}

/** RFC 3501 6.2.3 */
export interface LoginCommand extends Tagged {
  readonly name: 'LOGIN';
  readonly userid: string;
  readonly password: string;
}

/** RFC 3501 6.2.2, RFC 4959 (SASL-IR): `initialResponse` is decoded; "=" gives an empty Buffer. */
export interface AuthenticateCommand extends Tagged {
  readonly name: 'AUTHENTICATE';
  /** Upper-cased mechanism name. */
  readonly mechanism: string;
  readonly initialResponse: Buffer | null;
}

/** RFC 7162 3.2.5 QRESYNC select parameter. */
export interface QresyncParameters {
  readonly uidValidity: number;
  readonly modseq: number;
  readonly knownUids: SequenceSet | null;
  readonly sequenceMatch: { readonly sequences: SequenceSet; readonly uids: SequenceSet } | null;
}

/** RFC 3501 6.3.1/6.3.2 with RFC 4466 select-params: CONDSTORE (RFC 7162 3.1.8), QRESYNC. */
export interface SelectCommand extends Tagged {
  readonly name: 'SELECT' | 'EXAMINE';
  readonly mailbox: string;
  readonly condstore: boolean;
  readonly qresync: QresyncParameters | null;
}

/** RFC 3501 6.3.3, RFC 6154 5.2 (CREATE ... (USE (\Sent))). */
export interface CreateCommand extends Tagged {
  readonly name: 'CREATE';
  readonly mailbox: string;
  /** Special-use attributes; known ones in canonical case ("\\Sent"), others as sent. */
  readonly specialUse: readonly string[];
}

/** Commands whose only argument is a mailbox. */
export interface MailboxCommand extends Tagged {
  readonly name: 'DELETE' | 'SUBSCRIBE' | 'UNSUBSCRIBE' | 'GETQUOTAROOT';
  readonly mailbox: string;
}

/** RFC 3501 6.3.5 */
export interface RenameCommand extends Tagged {
  readonly name: 'RENAME';
  readonly from: string;
  readonly to: string;
}

/** RFC 5258 selection options, plus SPECIAL-USE (RFC 6154). */
export interface ListSelectionOptions {
  readonly subscribed: boolean;
  readonly remote: boolean;
  readonly recursiveMatch: boolean;
  readonly specialUse: boolean;
}

/** RFC 5258 return options, SPECIAL-USE (RFC 6154) and STATUS (RFC 5819). */
export interface ListReturnOptions {
  readonly subscribed: boolean;
  readonly children: boolean;
  readonly specialUse: boolean;
  readonly status: readonly StatusItem[] | null;
}

/** RFC 3501 6.3.8 and RFC 5258 LIST-EXTENDED. */
export interface ListCommand extends Tagged {
  readonly name: 'LIST';
  readonly reference: string;
  readonly patterns: readonly string[];
  readonly selection: ListSelectionOptions;
  readonly returns: ListReturnOptions;
  /** True when any extended syntax was used (RFC 5258 3: changes some defaults). */
  readonly extended: boolean;
}

/** RFC 3501 6.3.9 */
export interface LsubCommand extends Tagged {
  readonly name: 'LSUB';
  readonly reference: string;
  readonly pattern: string;
}

/** RFC 3501 6.3.10 plus HIGHESTMODSEQ (RFC 7162), SIZE (RFC 8438), DELETED/DELETED-STORAGE
 * (RFC 9208), APPENDLIMIT (RFC 7889). */
export type StatusItem =
  | 'MESSAGES'
  | 'RECENT'
  | 'UIDNEXT'
  | 'UIDVALIDITY'
  | 'UNSEEN'
  | 'HIGHESTMODSEQ'
  | 'SIZE'
  | 'DELETED'
  | 'DELETED-STORAGE'
  | 'APPENDLIMIT';

export interface StatusCommand extends Tagged {
  readonly name: 'STATUS';
  readonly mailbox: string;
  readonly items: readonly StatusItem[];
}

/** Where an APPEND message's octets are: streamed by the receiver, or collected in the command. */
export type AppendData =
  | { readonly type: 'streamed'; readonly index: number; readonly size: number; readonly binary: boolean }
  | { readonly type: 'buffer'; readonly value: Buffer; readonly binary: boolean };

export interface AppendMessage {
  readonly flags: readonly string[] | null;
  readonly internalDate: ImapDateTime | null;
  readonly data: AppendData;
}

/** RFC 3501 6.3.11, RFC 3502 MULTIAPPEND, RFC 3516 literal8. */
export interface AppendCommand extends Tagged {
  readonly name: 'APPEND';
  readonly mailbox: string;
  readonly messages: readonly AppendMessage[];
}

/** RFC 2971: field/value pairs in order, or null for "ID NIL". */
export interface IdCommand extends Tagged {
  readonly name: 'ID';
  readonly parameters: ReadonlyArray<readonly [string, string | null]> | null;
}

/** RFC 5161: capability names upper-cased. */
export interface EnableCommand extends Tagged {
  readonly name: 'ENABLE';
  readonly capabilities: readonly string[];
}

/** RFC 9208 4.2 */
export interface GetQuotaCommand extends Tagged {
  readonly name: 'GETQUOTA';
  readonly root: string;
}

/** RFC 9208 4.1.3: resource names upper-cased. */
export interface SetQuotaCommand extends Tagged {
  readonly name: 'SETQUOTA';
  readonly root: string;
  readonly limits: ReadonlyArray<{ readonly resource: string; readonly limit: number }>;
}

/** RFC 3501 6.4.7 COPY, RFC 6851 MOVE, and their UID forms. */
export interface CopyCommand extends Tagged {
  readonly name: 'COPY' | 'MOVE';
  readonly uid: boolean;
  readonly sequenceSet: SequenceSet;
  readonly mailbox: string;
}

/** RFC 3501 6.4.3; UID EXPUNGE (RFC 4315 2.1) carries a UID set. */
export type ExpungeCommand =
  | (Tagged & { readonly name: 'EXPUNGE'; readonly uid: false; readonly sequenceSet: null })
  | (Tagged & { readonly name: 'EXPUNGE'; readonly uid: true; readonly sequenceSet: SequenceSet });

/** `<offset.length>` of RFC 3501 6.4.5. */
export interface FetchPartial {
  readonly offset: number;
  readonly length: number;
}

export type SectionSpecifier = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

/** RFC 3501 9 `section`: part path ("1.2" → [1, 2]) and what of it. */
export interface BodySection {
  readonly part: readonly number[];
  readonly specifier: SectionSpecifier | null;
  /** Header field names for HEADER.FIELDS[.NOT], as sent; empty otherwise. */
  readonly fields: readonly string[];
}

export type SimpleFetchAttribute =
  | 'ENVELOPE'
  | 'FLAGS'
  | 'INTERNALDATE'
  | 'RFC822'
  | 'RFC822.HEADER'
  | 'RFC822.SIZE'
  | 'RFC822.TEXT'
  | 'BODY'
  | 'BODYSTRUCTURE'
  | 'UID'
  | 'MODSEQ';

/** RFC 3501 6.4.5 fetch-att, RFC 3516 BINARY, RFC 7162 MODSEQ. Macros are expanded. */
export type FetchItem =
  | { readonly type: SimpleFetchAttribute }
  | { readonly type: 'BODY_SECTION'; readonly peek: boolean; readonly section: BodySection; readonly partial: FetchPartial | null }
  | { readonly type: 'BINARY'; readonly peek: boolean; readonly part: readonly number[]; readonly partial: FetchPartial | null }
  | { readonly type: 'BINARY.SIZE'; readonly part: readonly number[] };

export interface FetchCommand extends Tagged {
  readonly name: 'FETCH';
  readonly uid: boolean;
  readonly sequenceSet: SequenceSet;
  readonly items: readonly FetchItem[];
  /** The macro used (ALL/FAST/FULL), if any; `items` holds its expansion. */
  readonly macro: 'ALL' | 'FAST' | 'FULL' | null;
  /** RFC 7162 3.1.4.1 CHANGEDSINCE modifier. */
  readonly changedSince: number | null;
  /** RFC 7162 3.2.6 VANISHED modifier (UID FETCH only, with CHANGEDSINCE). */
  readonly vanished: boolean;
}

/** RFC 3501 6.4.6 with RFC 7162 3.1.3 UNCHANGEDSINCE. */
export interface StoreCommand extends Tagged {
  readonly name: 'STORE';
  readonly uid: boolean;
  readonly sequenceSet: SequenceSet;
  readonly unchangedSince: number | null;
  readonly action: 'set' | 'add' | 'remove';
  readonly silent: boolean;
  readonly flags: readonly string[];
}

/** RFC 4731 / RFC 5182 RETURN options. */
export type SearchReturnOption = 'MIN' | 'MAX' | 'ALL' | 'COUNT' | 'SAVE';

/** RFC 3501 6.4.4 search keys, RFC 7162 MODSEQ. Implicit AND is an `AND` with several keys. */
export type SearchKey =
  | {
      readonly type:
        | 'ALL'
        | 'ANSWERED'
        | 'DELETED'
        | 'DRAFT'
        | 'FLAGGED'
        | 'NEW'
        | 'OLD'
        | 'RECENT'
        | 'SEEN'
        | 'UNANSWERED'
        | 'UNDELETED'
        | 'UNDRAFT'
        | 'UNFLAGGED'
        | 'UNSEEN';
    }
  | { readonly type: 'KEYWORD' | 'UNKEYWORD'; readonly keyword: string }
  /** `value` in the command's CHARSET (US-ASCII/UTF-8 when none). */
  | { readonly type: 'BCC' | 'BODY' | 'CC' | 'FROM' | 'SUBJECT' | 'TEXT' | 'TO'; readonly value: Buffer }
  | { readonly type: 'HEADER'; readonly field: string; readonly value: Buffer }
  | { readonly type: 'BEFORE' | 'ON' | 'SINCE' | 'SENTBEFORE' | 'SENTON' | 'SENTSINCE'; readonly date: SearchDate }
  | { readonly type: 'LARGER' | 'SMALLER'; readonly size: number }
  | { readonly type: 'UID' | 'SEQUENCE'; readonly set: SequenceSet }
  | { readonly type: 'NOT'; readonly key: SearchKey }
  | { readonly type: 'OR'; readonly left: SearchKey; readonly right: SearchKey }
  | { readonly type: 'AND'; readonly keys: readonly SearchKey[] }
  | {
      readonly type: 'MODSEQ';
      readonly modseq: number;
      /** RFC 7162 3.1.5 entry-name/entry-type-req, e.g. { flag: "\\Seen", entryType: "all" }. */
      readonly entry: { readonly flag: string; readonly entryType: 'priv' | 'shared' | 'all' } | null;
    };

/** RFC 3501 6.4.4, RFC 4731 ESEARCH, RFC 5182 SEARCHRES. */
export interface SearchCommand extends Tagged {
  readonly name: 'SEARCH';
  readonly uid: boolean;
  /** Upper-cased CHARSET argument, or null. */
  readonly charset: string | null;
  /** null: no RETURN (classic SEARCH response); [] means RETURN () (= ALL, RFC 4731 3.1). */
  readonly returnOptions: readonly SearchReturnOption[] | null;
  /** Implicitly ANDed (RFC 3501 6.4.4). */
  readonly criteria: readonly SearchKey[];
}

export type ImapCommand =
  | SimpleCommand
  | LoginCommand
  | AuthenticateCommand
  | SelectCommand
  | CreateCommand
  | MailboxCommand
  | RenameCommand
  | ListCommand
  | LsubCommand
  | StatusCommand
  | AppendCommand
  | IdCommand
  | EnableCommand
  | GetQuotaCommand
  | SetQuotaCommand
  | CopyCommand
  | ExpungeCommand
  | FetchCommand
  | StoreCommand
  | SearchCommand;

export type ImapCommandName = ImapCommand['name'];
