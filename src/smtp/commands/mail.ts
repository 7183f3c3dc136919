/**
 * Command: MAIL (RFC 5321 4.1.1.2).
 * Request syntax: `"MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF`, with the parameters
 * SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), AUTH (RFC 4954 5), RET and
 * ENVID (RFC 3461 4.3, 4.4).
 * Response syntax: `250` (RFC 5321 4.3.2: 250, or 552, 451, 452, 550, 553, 503, 455, 555).
 *
 * Starts a transaction. Policy: submission needs AUTH (RFC 6409 4.3); an authenticated user may
 * only send as an address they own, never as <> (RFC 6409 6.1); a declared SIZE over the limit
 * is refused here (RFC 1870 6.1: 552).
 * @module
 */
import { senderOwnedBy } from '../../delivery/sender.js';
import { Reply, SmtpReplyError } from '../../wire/smtp/index.js';
import type { MailParameters } from '../../wire/smtp/index.js';
import { command } from '../command.js';
import { SessionReply } from '../replies.js';
import type { Session } from '../session.js';
import { newEnvelope } from '../state.js';

export const mail = command<'MAIL', 'greeted'>({
  states: ['greeted'],
  async run(session, state, cmd) {
    requireSubmissionAuth(session);
    checkParameters(session, cmd.params);
    await checkSenderOwnership(session, cmd.from);
    session.state = { kind: 'transaction', greeting: state.greeting, envelope: newEnvelope(cmd.from, cmd.params) };
    session.log.debug({ from: session.state.envelope.sender, size: cmd.params.size }, 'mail from');
    return Reply.senderOk;
  },
});

/** Submission listeners take mail from authenticated users only (RFC 6409 4.3). */
export function requireSubmissionAuth(session: Session): void {
  if (!session.settings.policy.requireAuth || session.identity !== null) return;
  // Before TLS the client cannot authenticate yet: tell it what to do first (RFC 3207 4).
  throw new SmtpReplyError(session.authUsable ? SessionReply.authRequired : SessionReply.tlsRequired);
}

function checkParameters(session: Session, params: MailParameters): void {
  const anyParameter =
    params.size !== null ||
    params.body !== null ||
    params.smtputf8 ||
    params.auth !== null ||
    params.ret !== null ||
    params.envid !== null ||
    params.requireTls;
  // Parameters belong to extensions advertised by EHLO (RFC 5321 4.1.1.11 / 2.2.1).
  if (anyParameter && !session.extended) throw new SmtpReplyError(SessionReply.paramsNeedEhlo);
  if (params.requireTls) throw new SmtpReplyError(SessionReply.requireTlsNotOffered);
  // RFC 1870 6.1: "552 message size exceeds fixed maximum message size".
  if (params.size !== null && params.size > session.settings.messageSize) throw new SmtpReplyError(Reply.sizeExceeded);
}

async function checkSenderOwnership(session: Session, from: Parameters<typeof newEnvelope>[0]): Promise<void> {
  const identity = session.identity;
  if (identity === null) return;
  if (from.kind === 'null') throw new SmtpReplyError(SessionReply.senderNotOwned);
  const owned = await senderOwnedBy(session.services.store, from.mailbox.localPart, from.mailbox.domain, {
    accountId: identity.accountId,
    address: identity.address,
  });
  if (!owned) throw new SmtpReplyError(SessionReply.senderNotOwned);
}
