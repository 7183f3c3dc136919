/**
 * POP3 session state (RFC 1939 3) as a discriminated union: each variant carries exactly the
 * data that exists in it, so a handler given `transaction` has the maildrop and its lock, and
 * one given `authorization` cannot touch them.
 *
 *   AUTHORIZATION ──USER+PASS / APOP / AUTH──▶ TRANSACTION ──QUIT──▶ UPDATE (then close)
 *        ▲   │ STLS (RFC 2595 4: stays in AUTHORIZATION, forgets USER)
 *        └───┘
 *
 * QUIT in AUTHORIZATION closes without entering UPDATE (RFC 1939 4); a dropped connection
 * never enters UPDATE (RFC 1939 6), so nothing is deleted.
 * @module
 */
import type { Id } from '../store/types.js';
import type { MaildropLease } from './lock.js';
import type { Maildrop } from './maildrop.js';

/** Who logged in, and how (RFC 1939 USER/PASS or APOP, RFC 5034 AUTH mechanism). */
export interface Pop3Login {
  accountId: Id;
  /** The account's address as stored (lower-case). */
  address: string;
  method: 'USER' | 'APOP' | `AUTH ${string}`;
}

export type Pop3State =
  /** `user` is the name of a successful USER, waiting for PASS (RFC 1939 7). */
  | { kind: 'authorization'; user: string | null }
  | {
      kind: 'transaction';
      login: Pop3Login;
      maildrop: Maildrop;
      lease: MaildropLease;
      /** The retention policy in force for this account (CAPA EXPIRE, RFC 2449 6.7), days or null for never. */
      retentionDays: number | null;
    }
  /** QUIT in TRANSACTION: deletions are being made durable, then the session closes (RFC 1939 6). */
  | { kind: 'update' };

export type StateKind = Pop3State['kind'];
export type StateOf<K extends StateKind> = Extract<Pop3State, { kind: K }>;
