/**
 * SMTP replies: the typed value, its wire encoding, and the table of named replies the
 * session answers with. Sans-I/O: returns bytes, writes nothing.
 *
 * Reply syntax (RFC 5321 4.2):
 *   Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
 * Enhanced status codes (RFC 2034 4, RFC 3463) go on every line of 2xx/4xx/5xx replies, and
 * are left out of the greeting, the EHLO/HELO answer and 3xx replies.
 * @module
 */

export interface SmtpReply {
  /** Three-digit reply code (RFC 5321 4.2.2). */
  readonly code: number;
  /** Enhanced status code "class.subject.detail" (RFC 3463), or null where RFC 2034 4 omits it. */
  readonly enhanced: string | null;
  /** Text of each line; at least one (may be the empty string, e.g. "334 "). */
  readonly lines: readonly string[];
}

/** Thrown when a reply cannot be put on the wire as asked (a programming error, not client input). */
export class SmtpReplyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmtpReplyFormatError';
  }
}

/**
 * Thrown by command handlers (and the parser) to answer the current command with `reply`.
 * The session catches it once per command and writes the reply; the connection lives on.
 */
export class SmtpReplyError extends Error {
  constructor(readonly reply: SmtpReply) {
    super(`${reply.code}${reply.enhanced === null ? '' : ` ${reply.enhanced}`} ${reply.lines.join(' / ')}`);
    this.name = 'SmtpReplyError';
  }
}

// RFC 3463 2: class "." subject "." detail, with 1*3 digits for subject and detail.
const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** Builds a reply value (validated like formatReply). */
export function reply(code: number, enhanced: string | null, ...lines: string[]): SmtpReply {
  const value: SmtpReply = Object.freeze({ code, enhanced, lines: Object.freeze(lines.length === 0 ? [''] : lines) });
  checkReply(value);
  return value;
}

/** The same reply with other text (keeps code and enhanced code). */
export function withText(base: SmtpReply, ...lines: string[]): SmtpReply {
  return reply(base.code, base.enhanced, ...lines);
}

/**
 * Encodes a reply: every line but the last as `code-[enhanced ]text`, the last as
 * `code SP [enhanced ]text`, each ending in CRLF (RFC 5321 4.2.1). An empty `lines` array, or a
 * single empty line, gives `code SP CRLF` (RFC 4954 4: an empty challenge is "334 ").
 */
export function formatReply(code: number, enhanced: string | null, lines: readonly string[]): Buffer {
  const text = lines.length === 0 ? [''] : lines;
  checkReply({ code, enhanced, lines: text });
  const prefix = enhanced === null ? '' : `${enhanced} `;
  let out = '';
  text.forEach((line, index) => {
    const separator = index === text.length - 1 ? ' ' : '-';
    // "334 " keeps its space even with no text (RFC 4954 4); other empty lines drop the prefix space.
    const body = line === '' && enhanced !== null ? enhanced : `${prefix}${line}`;
    out += `${code}${separator}${body}\r\n`;
  });
  return Buffer.from(out, 'utf8');
}

/** Encodes a reply value. */
export function encodeReply(value: SmtpReply): Buffer {
  return formatReply(value.code, value.enhanced, value.lines);
}

function checkReply(value: SmtpReply): void {
  const { code, enhanced, lines } = value;
  if (!Number.isInteger(code) || code < 200 || code > 599) {
    throw new SmtpReplyFormatError(`reply code out of range: ${code}`);
  }
  if (enhanced !== null) {
    if (!ENHANCED_CODE.test(enhanced)) throw new SmtpReplyFormatError(`malformed enhanced code: ${enhanced}`);
    // RFC 2034 4: the enhanced class must agree with the first digit of the reply code.
    if (enhanced[0] !== String(code)[0]) {
      throw new SmtpReplyFormatError(`enhanced code ${enhanced} does not agree with ${code}`);
    }
  }
  for (const line of lines) {
    // A CR or LF inside a line would let text (perhaps echoing client input) forge extra reply lines.
    if (/[\r\n]/.test(line)) throw new SmtpReplyFormatError('reply text contains CR or LF');
  }
}

/**
 * Named replies. The text is a default; `withText(Reply.x, ...)` keeps the codes and changes it.
 * Codes from RFC 5321 4.2.2/4.2.3 with enhanced codes from RFC 3463 unless cited otherwise.
 */
export const Reply = Object.freeze({
  // --- 2xx ---
  /** RFC 5321 4.1.1.5 (RSET), 4.1.1.9 (NOOP) and every other plain success. */
  ok: reply(250, '2.0.0', 'OK'),
  /** MAIL accepted (RFC 3463 X.1.0: "other address status", the usual sender code). */
  senderOk: reply(250, '2.1.0', 'Sender OK'),
  /** RCPT accepted (RFC 3463 X.1.5: destination address valid). */
  recipientOk: reply(250, '2.1.5', 'Recipient OK'),
  /** Message accepted after DATA / BDAT LAST (RFC 5321 4.1.1.4). */
  messageAccepted: reply(250, '2.0.0', 'Message accepted'),
  /** RFC 5321 3.5.3: VRFY that neither confirms nor denies. */
  cannotVerify: reply(252, '2.5.0', 'Cannot VRFY user, but will accept message and attempt delivery'),
  /** RFC 5321 4.1.1.10: answer to QUIT. */
  closing: reply(221, '2.0.0', 'Bye'),
  /** RFC 3207 4: the answer to STARTTLS before the handshake. */
  readyForTls: reply(220, '2.0.0', 'Ready to start TLS'),
  /** RFC 4954 6: 235 2.7.0. */
  authSucceeded: reply(235, '2.7.0', 'Authentication succeeded'),
  /** RFC 5321 4.1.1.8: HELP. */
  help: reply(214, '2.0.0', 'See RFC 5321'),

  // --- 3xx (no enhanced code, RFC 2034 4) ---
  /** RFC 5321 4.1.1.4: go ahead with DATA. */
  startData: reply(354, null, 'End data with <CR><LF>.<CR><LF>'),

  // --- 4xx ---
  /** RFC 5321 3.8: the server is closing the connection (shutdown). */
  shuttingDown: reply(421, '4.3.2', 'Service shutting down, closing connection'),
  /** RFC 5321 4.5.3.2: idle timeout. */
  timeout: reply(421, '4.4.2', 'Idle timeout, closing connection'),
  /** RFC 5321 4.2.2: 421 for too many connections / errors. */
  tooManyErrors: reply(421, '4.7.0', 'Too many errors, closing connection'),
  /** RFC 5321 4.2.2 451: local error in processing. */
  localError: reply(451, '4.3.0', 'Local error in processing'),
  /** RFC 5321 4.5.3.1.10: recipient buffer full, must be 452. */
  tooManyRecipients: reply(452, '4.5.3', 'Too many recipients'),
  /** RFC 5321 4.2.2 452: insufficient system storage. */
  storageFull: reply(452, '4.3.1', 'Insufficient system storage'),
  /** RFC 3463 X.2.2 as a transient failure. */
  mailboxFullTemp: reply(452, '4.2.2', 'Mailbox full'),
  /** RFC 4954 6: temporary authentication failure. */
  authTempFailure: reply(454, '4.7.0', 'Temporary authentication failure'),
  /** RFC 3207 4: TLS not available due to a temporary reason. */
  tlsNotAvailable: reply(454, '4.7.0', 'TLS not available due to temporary reason'),
  /** RFC 5321 4.1.1.11: parameters temporarily not accommodated. */
  paramTempUnavailable: reply(455, '4.5.4', 'Server unable to accommodate parameters'),

  // --- 5xx ---
  /** RFC 5321 4.2.2 500: command not recognized (RFC 3463 X.5.2: syntax error / unrecognized). */
  syntax: reply(500, '5.5.2', 'Syntax error, command unrecognized'),
  /** RFC 5321 4.5.3.1.9: command line over the limit. */
  lineTooLong: reply(500, '5.5.2', 'Line too long'),
  /** RFC 4954 4 and 6: AUTH response longer than the authentication buffer. */
  authLineTooLong: reply(500, '5.5.6', 'Authentication exchange line is too long'),
  /** RFC 5321 2.3.8 / 4.1.1.4: bare CR or LF in the message (SMTP smuggling defence). */
  bareLineEnding: reply(500, '5.5.2', 'Bare CR or LF not allowed; lines must end with CRLF'),
  /** RFC 5321 4.5.3.1.6: a text line over 1000 octets. */
  textLineTooLong: reply(500, '5.5.2', 'Message line too long'),
  /** RFC 5321 4.2.2 501: syntax error in parameters or arguments (RFC 3463 X.5.4). */
  syntaxArguments: reply(501, '5.5.4', 'Syntax error in parameters or arguments'),
  /** RFC 3463 X.1.7: bad sender address syntax. */
  badSenderSyntax: reply(501, '5.1.7', 'Bad sender address syntax'),
  /** RFC 3463 X.1.3: bad destination address syntax. */
  badRecipientSyntax: reply(501, '5.1.3', 'Bad recipient address syntax'),
  /** RFC 4954 4: cannot base64-decode a client response. */
  authBadBase64: reply(501, '5.5.2', 'Cannot decode base64 response'),
  /** RFC 4954 4: the client cancelled the exchange with "*". */
  authCancelled: reply(501, '5.7.0', 'Authentication cancelled'),
  /** RFC 5321 4.2.2 502: command not implemented. */
  notImplemented: reply(502, '5.5.1', 'Command not implemented'),
  /** RFC 5321 4.2.2 503 with RFC 3463 X.5.1: bad sequence of commands. */
  badSequence: reply(503, '5.5.1', 'Bad sequence of commands'),
  /** RFC 4954 4: AUTH after a successful AUTH. */
  alreadyAuthenticated: reply(503, '5.5.1', 'Already authenticated'),
  /** RFC 5321 4.2.2 504: command parameter not implemented (e.g. unknown SASL mechanism). */
  paramNotImplemented: reply(504, '5.5.4', 'Command parameter not implemented'),
  /** RFC 4954 6: authentication required. */
  authRequired: reply(530, '5.7.0', 'Authentication required'),
  /** RFC 3207 4: a command other than NOOP, EHLO, STARTTLS or QUIT before STARTTLS when TLS is required. */
  tlsRequired: reply(530, '5.7.0', 'Must issue a STARTTLS command first'),
  /** RFC 8689 2 / RFC 5248 X.7.10 "Encryption needed": MAIL ... REQUIRETLS on a plaintext connection. */
  encryptionNeeded: reply(530, '5.7.10', 'REQUIRETLS needs a TLS connection'),
  /** RFC 4954 6: mechanism too weak. */
  authMechanismTooWeak: reply(534, '5.7.9', 'Authentication mechanism is too weak'),
  /** RFC 4954 6: invalid credentials. */
  authFailed: reply(535, '5.7.8', 'Authentication credentials invalid'),
  /** RFC 4954 6: encryption required for the mechanism. */
  encryptionRequired: reply(538, '5.7.11', 'Encryption required for requested authentication mechanism'),
  /** RFC 5321 4.2.2 550 with RFC 3463 X.1.1: no such mailbox. */
  noSuchUser: reply(550, '5.1.1', 'No such user'),
  /** RFC 5321 3.6.2 / 4.1.1.3: relaying is refused (RFC 3463 X.7.1: delivery not authorized). */
  relayDenied: reply(554, '5.7.1', 'Relay access denied'),
  /** RFC 3463 X.7.1 for MAIL FROM an address the authenticated user may not use. */
  senderNotAllowed: reply(553, '5.7.1', 'Sender address not allowed for this user'),
  /** RFC 6531 3.5: RCPT with a non-ASCII address the server cannot take (X.6.7). */
  nonAsciiRecipient: reply(553, '5.6.7', 'Non-ASCII addresses not permitted for that recipient'),
  /** RFC 6531 3.5: MAIL with a non-ASCII address without SMTPUTF8 (X.6.7). */
  nonAsciiSender: reply(550, '5.6.7', 'Non-ASCII addresses not permitted for that sender'),
  /** RFC 1870 6.1 / RFC 3463 X.3.4: message too big for system. */
  sizeExceeded: reply(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
  /** RFC 3463 X.2.2: per-mailbox quota exceeded. */
  mailboxFull: reply(552, '5.2.2', 'Mailbox full'),
  /** RFC 5321 4.2.2 554: transaction failed. */
  transactionFailed: reply(554, '5.0.0', 'Transaction failed'),
  /** RFC 5321 4.1.1.11: MAIL/RCPT parameter not recognized or not implemented. */
  paramNotRecognized: reply(555, '5.5.4', 'Parameter not recognized'),
});

export type ReplyName = keyof typeof Reply;
