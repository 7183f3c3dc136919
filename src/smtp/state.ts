/**
 * SMTP session state (RFC 5321 4.1.4 command order) as a discriminated union: each variant
 * carries exactly the data that exists in it, so a handler given `transaction` has an envelope
 * and one given `greeted` cannot touch one.
 *
 *   connected ──EHLO/HELO──▶ greeted ──MAIL──▶ transaction ──BDAT (not LAST)──▶ chunking
 *       ▲                       ▲                   │ DATA / BDAT LAST / RSET        │
 *       └── STARTTLS ───────────┴───────────────────┴────────────────────────────────┘
 *
 * Orthogonal to it: TLS (on the Connection) and the authenticated identity (on the Session),
 * both kept across RSET and EHLO; STARTTLS forgets everything (RFC 3207 4.2).
 * @module
 */
import type { AuthIdentity } from '../auth/types.js';
import type { LocalTarget } from '../delivery/resolve.js';
import type { HeloHost, MailParameters, RcptParameters, ReversePath } from '../wire/smtp/index.js';
import type { BareLineEndingFilter } from './line-endings.js';
import type { IncomingMessage } from './message.js';

/** What the client said in EHLO or HELO. */
export interface Greeting {
  verb: 'EHLO' | 'HELO';
  host: HeloHost;
}

/** Where an accepted recipient goes (decided at RCPT time). */
export type RecipientRoute =
  /** Our accounts (after aliases, plus-addressing, catch-all), plus remote targets of aliases. */
  | { kind: 'local'; accounts: LocalTarget[]; forwards: string[] }
  /** Not our domain: relayed through the outbound queue (authenticated sessions only). */
  | { kind: 'remote' };

export interface AcceptedRecipient {
  /** The forward-path mailbox with minimal quoting (RFC 5321 4.1.2), source route dropped. */
  address: string;
  params: RcptParameters;
  route: RecipientRoute;
}

/** The mail transaction (RFC 5321 3.3): MAIL, then RCPTs. */
export interface Envelope {
  /** Reverse-path mailbox with minimal quoting; "" for the null reverse-path "<>". */
  sender: string;
  from: ReversePath;
  params: MailParameters;
  recipients: AcceptedRecipient[];
  /** Recipient commands refused so far (RFC 5321 4.5.3.1.10 counts them against the limit too). */
  refusedRecipients: number;
}

export type SessionState =
  /** Greeting sent; no EHLO/HELO yet (again, after STARTTLS). */
  | { kind: 'connected' }
  | { kind: 'greeted'; greeting: Greeting }
  | { kind: 'transaction'; greeting: Greeting; envelope: Envelope }
  /** BDAT chunks received, LAST not yet (RFC 3030 2). */
  | {
      kind: 'chunking';
      greeting: Greeting;
      envelope: Envelope;
      message: IncomingMessage;
      /** The message's id (Received field, logs). */
      id: string;
      /** Bare CR/LF check across chunks; null for BODY=BINARYMIME. */
      lineEndings: BareLineEndingFilter | null;
    };

export type StateKind = SessionState['kind'];
export type StateOf<K extends StateKind> = Extract<SessionState, { kind: K }>;

/** Session-wide facts that outlive one transaction. */
export interface SessionFacts {
  identity: AuthIdentity | null;
}

/** An empty envelope for MAIL. */
export function newEnvelope(from: ReversePath, params: MailParameters): Envelope {
  return {
    sender: from.kind === 'null' ? '' : from.mailbox.address,
    from,
    params,
    recipients: [],
    refusedRecipients: 0,
  };
}
