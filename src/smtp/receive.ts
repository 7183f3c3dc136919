/**
 * What DATA and BDAT share: opening the message (with its Received field) and, at the end,
 * delivering it and turning the delivery report into the one reply (RFC 5321 4.1.1.4: 250 only
 * once the message is safe; here: durable in the store). On the MX, the mail authentication
 * checks (./mail-auth.ts) ride along with the message and decide, at the end, how it is delivered.
 * @module
 */
import { deliverMessage } from '../delivery/accept.js';
import type { MessageEnvelope, MessageRecipient } from '../delivery/accept.js';
import { reply, Reply } from '../wire/smtp/index.js';
import type { DataErrorReason, SmtpReply } from '../wire/smtp/index.js';
import { MailAuthCheck } from './mail-auth.js';
import type { MailAuthVerdict } from './mail-auth.js';
import { IncomingMessage } from './message.js';
import { SessionReply } from './replies.js';
import type { Session } from './session.js';
import type { Envelope, Greeting } from './state.js';
import { receivedField, withProtocol } from './trace.js';

/** The MX checks riding along with a message being received. */
const mailAuthChecks = new WeakMap<IncomingMessage, MailAuthCheck>();

/** Opens the blob for a new message and writes its Received field. */
export async function openIncomingMessage(session: Session, greeting: Greeting, envelope: Envelope, id: string): Promise<IncomingMessage> {
  const now = session.settings.now();
  const utf8 = envelope.params.smtputf8;
  const only = envelope.recipients.length === 1 ? envelope.recipients[0] : undefined;
  // RFC 5321 4.4: "for" names the recipient only when there is exactly one (privacy);
  // a non-ASCII address only goes in a header under SMTPUTF8 (RFC 6532).
  const recipient = only !== undefined && (utf8 || /^[\x20-\x7e]+$/.test(only.address)) ? only.address : null;
  const trace = receivedField({
    helo: greeting.host,
    remoteAddress: session.info.remoteAddress,
    hostname: session.settings.hostname,
    protocol: withProtocol({ ehlo: greeting.verb === 'EHLO', utf8, tls: session.secure, authenticated: session.identity !== null }),
    id,
    tls: session.tlsDetails,
    recipient,
    date: now,
  });
  // Unauthenticated mail on the MX is checked (SPF/DKIM/DMARC/ARC); submitted mail is not.
  const policy = session.settings.mailAuth;
  const check =
    policy && session.identity === null ? new MailAuthCheck(policy, { ip: session.info.remoteAddress, helo: heloIdentity(greeting), sender: envelope.sender }) : null;
  let message: IncomingMessage;
  try {
    message = await IncomingMessage.open(session.services.store.createBlobWriter(), {
      sizeLimit: session.settings.messageSize,
      trace,
      // RFC 6409 8: an MSA completes the header; the MX passes messages through untouched.
      completeHeader: session.identity === null ? null : { hostname: session.settings.hostname, now },
      maxDepth: session.settings.nestingDepth,
      maxParts: session.settings.mimeParts,
      inspector: check,
    });
  } catch (error) {
    check?.abort();
    throw error;
  }
  if (check !== null) mailAuthChecks.set(message, check);
  session.trackMessage(message);
  return message;
}

/** RFC 7208 2.3: the HELO identity is a domain; for an address literal the client IP stands in. */
function heloIdentity(greeting: Greeting): string | null {
  const host = greeting.host;
  if (host === null) return null;
  return host.kind === 'domain' ? host.domain : host.kind === 'invalid' ? host.text : null;
}

/** A new message id for the Received field and the logs (atom characters only). */
export function nextMessageId(session: Session): string {
  session.messageCount++;
  return `${session.info.id.replace(/[^A-Za-z0-9]/g, 'x')}${session.messageCount}`;
}

/** The reply for a message whose content broke a rule (smuggling defence, line length). */
export function contentFailureReply(reason: DataErrorReason): SmtpReply {
  return reason === 'lineTooLong' ? SessionReply.textLineTooLong : Reply.bareLineEnding;
}

/** Finishes, delivers, and answers. The caller has already reset the transaction. */
export async function deliverIncoming(session: Session, envelope: Envelope, message: IncomingMessage, id: string): Promise<SmtpReply> {
  let finished;
  let verdict: MailAuthVerdict | null;
  try {
    verdict = (await mailAuthChecks.get(message)?.finish()) ?? null;
    if (verdict?.action === 'reject') {
      await message.abort();
      session.log.info({ id, from: envelope.sender, ...verdict.summary }, 'message refused by mail authentication policy');
      return verdict.reply ?? SessionReply.localError;
    }
    finished = await message.finish();
  } finally {
    session.trackMessage(null);
  }
  const report = await deliverMessage(
    session.services.store,
    finished,
    messageEnvelope(session, envelope),
    envelope.recipients.map(toMessageRecipient),
    session.settings.now(),
    verdict === null ? {} : { headers: verdict.header, junk: verdict.action === 'junk' },
  );
  const log = {
    id,
    from: envelope.sender,
    recipients: envelope.recipients.length,
    size: finished.blob.size,
    stored: report.stored,
    queued: report.queued,
    ...(verdict === null ? {} : { auth: verdict.summary, ...(verdict.action === 'junk' ? { junk: true } : {}) }),
  };
  if (report.stored + report.queued > 0) {
    if (report.refused.length > 0) session.log.warn({ ...log, refused: report.refused }, 'message accepted, some local copies refused');
    else session.log.info(log, 'message accepted');
    return reply(250, '2.0.0', `Message accepted as ${id}`);
  }
  session.log.info({ ...log, refused: report.refused }, 'message refused at delivery');
  return report.refused.some((refusal) => refusal.reason === 'overQuota') ? SessionReply.mailboxFull : SessionReply.localError;
}

function messageEnvelope(session: Session, envelope: Envelope): MessageEnvelope {
  return {
    sender: envelope.sender,
    ret: envelope.params.ret,
    envid: envelope.params.envid,
    body: envelope.params.body,
    smtputf8: envelope.params.smtputf8,
    submitter: session.identity?.address ?? null,
    clientAddress: session.info.remoteAddress,
  };
}

function toMessageRecipient(recipient: Envelope['recipients'][number]): MessageRecipient {
  const route = recipient.route;
  return {
    address: recipient.address,
    notify: recipient.params.notify,
    orcpt: recipient.params.orcpt,
    accounts: route.kind === 'local' ? route.accounts : [],
    forwards: route.kind === 'local' ? route.forwards : [recipient.address],
  };
}
