/**
 * Replies the session needs beyond the wire table (src/wire/smtp/reply.ts), with stable names.
 * Codes from RFC 5321 4.2.2/4.2.3, enhanced codes from RFC 3463 unless cited otherwise.
 * @module
 */
import { reply } from '../wire/smtp/index.js';

export const SessionReply = Object.freeze({
  /** RFC 2920 3.1 / RFC 5321 4.3.1: a client talking before the greeting or pipelining unasked. */
  protocolViolation: reply(554, '5.5.0', 'Protocol error: commands sent before their reply (pipelining not negotiated)'),
  /** RFC 5321 3.3: DATA or BDAT with no accepted recipient ("no valid recipients"). */
  noValidRecipients: reply(554, '5.5.1', 'No valid recipients'),
  /** RFC 5321 4.5.3.1.6 / 4.5.3.1 "552 Too much mail data": a DATA text line over the limit. */
  textLineTooLong: reply(552, '5.5.2', 'Message line too long (limit 1000 octets with CRLF)'),
  /** RFC 5321 4.5.3.1.4: a command other than MAIL/RCPT over the base limit. */
  commandTooLong: reply(500, '5.5.2', 'Line too long'),
  /** RFC 3030 3: BODY=BINARYMIME needs BDAT. */
  binaryNeedsBdat: reply(503, '5.5.1', 'BINARYMIME messages must be sent with BDAT'),
  /** RFC 3207 4: one TLS layer is enough. */
  tlsAlreadyActive: reply(503, '5.5.1', 'TLS already active'),
  /** RFC 4954 4: "The AUTH command is not permitted during a mail transaction." */
  authInTransaction: reply(503, '5.5.1', 'AUTH not permitted during a mail transaction'),
  /** RFC 5321 4.5.3.2.7 (command timeout) and the session deadline. */
  idleTimeout: reply(421, '4.4.2', 'Idle timeout, closing connection'),
  deadline: reply(421, '4.4.2', 'Session time limit reached, closing connection'),
  /** RFC 6409 4.3 / RFC 3463 X.7.1: submission needs a login. */
  authRequired: reply(530, '5.7.0', 'Authentication required'),
  /** RFC 3207 4: TLS first (plaintext submission). */
  tlsRequired: reply(530, '5.7.0', 'Must issue a STARTTLS command first'),
  /** RFC 5321 4.1.1.3 / RFC 3463 X.7.1: relaying for an unauthenticated client on the MX. */
  relayDenied: reply(554, '5.7.1', 'Relay access denied'),
  /** RFC 6409 6.1 / RFC 3463 X.7.1: MAIL FROM an address the user does not own, or <>. */
  senderNotOwned: reply(553, '5.7.1', 'Sender address not owned by the authenticated user'),
  /** RFC 3463 X.2.2 temporary: over quota at RCPT or at delivery. */
  mailboxFull: reply(452, '4.2.2', 'Mailbox full, try again later'),
  /** RFC 3463 X.5.3: RFC 5321 4.5.3.1.10. */
  tooManyRecipients: reply(452, '4.5.3', 'Too many recipients'),
  /** RFC 3463 X.3.0: storage busy or broken, try again. */
  localError: reply(451, '4.3.0', 'Local error in processing, try again later'),
  /** RFC 3463 X.3.1: disk full. */
  storageFull: reply(452, '4.3.1', 'Insufficient system storage'),
  /** RFC 5321 4.1.1.6 / 3.5.3: VRFY never tells whether an address exists. */
  cannotVerify: reply(252, '2.5.0', 'Cannot VRFY user, but will accept message and attempt delivery'),
  /** RFC 5321 3.5.3: EXPN is not offered (no list oracle either). */
  expnDisabled: reply(502, '5.5.1', 'EXPN not available'),
  /** RFC 5321 4.1.1.8. */
  help: reply(214, '2.0.0', 'Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH. See RFC 5321'),
  /** A relayed message without a queue-capable store. */
  queueUnavailable: reply(451, '4.3.0', 'Outbound queue not available, try again later'),
  /** RFC 3463 X.1.0 for an address the server will not take (address literals on the MX). */
  postmasterUnknown: reply(550, '5.1.1', 'No postmaster mailbox configured'),
  /** After a command handler failed unexpectedly: the connection lives on. */
  serverError: reply(451, '4.3.0', 'Internal server error, try again later'),
  /** ESMTP parameters after HELO (RFC 5321 4.1.1.11 / RFC 1869: extensions need EHLO). */
  paramsNeedEhlo: reply(555, '5.5.4', 'MAIL/RCPT parameters need EHLO'),
  /** RFC 8689 is not offered. */
  requireTlsNotOffered: reply(555, '5.5.4', 'REQUIRETLS not supported'),
});
