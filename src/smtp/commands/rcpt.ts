/**
 * Command: RCPT (RFC 5321 4.1.1.3).
 * Request syntax: `"RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
 * [SP Rcpt-parameters] CRLF`, parameters NOTIFY and ORCPT (RFC 3461 4.1, 4.2).
 * Response syntax: `250` / `251` / `252`, or 550, 551, 552, 553, 450, 451, 452, 503, 455, 555.
 *
 * Decides where the recipient goes, at RCPT time:
 * - one of our domains: accounts after aliases, plus-addressing and catch-all; nobody → 550 5.1.1;
 *   every account over quota → 452 4.2.2;
 * - any other domain (address literals included): relayed for authenticated sessions only,
 *   otherwise 554 5.7.1. Relay tricks (`%`, `!`, quoted local parts, source routes) never route:
 *   the source route is dropped (RFC 5321 4.1.1.3, Appendix C) and the local part is looked up
 *   whole (RFC 5321 3.6.1, 2.3.11).
 * @module
 */
import { normalizeDomain, resolveMailbox } from '../../delivery/resolve.js';
import type { Resolution } from '../../delivery/resolve.js';
import { hasOutboundQueue } from '../../queue/types.js';
import { Reply, SmtpReplyError } from '../../wire/smtp/index.js';
import type { ForwardPath } from '../../wire/smtp/index.js';
import { command } from '../command.js';
import { SessionReply } from '../replies.js';
import type { Session } from '../session.js';
import type { Envelope, RecipientRoute } from '../state.js';

export const rcpt = command<'RCPT', 'transaction'>({
  states: ['transaction'],
  async run(session, state, cmd) {
    const envelope = state.envelope;
    try {
      // RFC 5321 4.5.3.1.10: past the limit the answer must be 452 (not 552).
      if (envelope.recipients.length >= session.settings.recipients) throw new SmtpReplyError(SessionReply.tooManyRecipients);
      if ((cmd.params.notify !== null || cmd.params.orcpt !== null) && !session.extended) {
        throw new SmtpReplyError(SessionReply.paramsNeedEhlo);
      }
      const { address, route } = await routeFor(session, envelope, cmd.to);
      envelope.recipients.push({ address, params: cmd.params, route });
      session.log.debug({ to: address, route: route.kind }, 'rcpt to');
      return Reply.recipientOk;
    } catch (error) {
      envelope.refusedRecipients++;
      if (error instanceof SmtpReplyError) session.log.info({ code: error.reply.code, enhanced: error.reply.enhanced }, 'recipient refused');
      throw error;
    }
  },
});

async function routeFor(session: Session, envelope: Envelope, to: ForwardPath): Promise<{ address: string; route: RecipientRoute }> {
  if (to.kind === 'postmaster') return postmaster(session);
  const mailbox = to.mailbox;
  // RFC 6531 3.5: a non-ASCII address needs SMTPUTF8 on MAIL.
  if (mailbox.utf8 && !envelope.params.smtputf8) throw new SmtpReplyError(Reply.nonAsciiRecipient);
  const resolution = await resolveMailbox(session.services.store, mailbox.localPart, mailbox.domain);
  return { address: mailbox.address, route: await admit(session, envelope, resolution) };
}

/** Turns a resolution into a route, or throws the refusal. */
async function admit(session: Session, envelope: Envelope, resolution: Resolution): Promise<RecipientRoute> {
  const canQueue = hasOutboundQueue(session.services.store);
  switch (resolution.kind) {
    case 'unknown':
      throw new SmtpReplyError(Reply.noSuchUser);
    case 'remote':
      // RFC 5321 3.6.2: relaying only for our own authenticated users (the MX never relays).
      if (session.identity === null) throw new SmtpReplyError(SessionReply.relayDenied);
      if (!canQueue) throw new SmtpReplyError(SessionReply.queueUnavailable);
      return { kind: 'remote' };
    case 'local': {
      const accounts = await accountsWithRoom(session, resolution.accounts, envelope.params.size ?? 0);
      const forwards = canQueue ? resolution.remote : [];
      if (!canQueue && resolution.remote.length > 0) session.log.warn('alias forwards to other domains dropped: the store has no outbound queue');
      if (accounts.length === 0 && forwards.length === 0) {
        throw new SmtpReplyError(resolution.accounts.length > 0 ? SessionReply.mailboxFull : SessionReply.queueUnavailable);
      }
      return { kind: 'local', accounts, forwards };
    }
    default: {
      const unreachable: never = resolution;
      return unreachable;
    }
  }
}

/** Accounts that can take `size` more octets and one more message (quota; 452 4.2.2 when none). */
async function accountsWithRoom<T extends { accountId: number }>(session: Session, targets: readonly T[], size: number): Promise<T[]> {
  const out: T[] = [];
  for (const target of targets) {
    const account = await session.services.store.getAccountById(target.accountId);
    if (account === null) continue;
    const bytesFull = account.quotaBytes !== null && (size > 0 ? account.usedBytes + size > account.quotaBytes : account.usedBytes >= account.quotaBytes);
    const countFull = account.quotaMessages !== null && account.usedMessages >= account.quotaMessages;
    if (!bytesFull && !countFull) out.push(target);
  }
  return out;
}

/**
 * RFC 5321 4.5.1: "<Postmaster>" without a domain must be accepted. It goes to postmaster@ of
 * our host name's domain when that is local, else of the first local domain that has one.
 */
async function postmaster(session: Session): Promise<{ address: string; route: RecipientRoute }> {
  const store = session.services.store;
  const domains = [session.settings.hostname, ...(await store.listDomains()).map((domain) => domain.name)];
  for (const domain of domains) {
    const key = normalizeDomain(domain);
    if (key === null) continue;
    const resolution = await resolveMailbox(store, 'postmaster', key);
    if (resolution.kind !== 'local') continue;
    return { address: `postmaster@${key}`, route: { kind: 'local', accounts: resolution.accounts, forwards: resolution.remote } };
  }
  throw new SmtpReplyError(SessionReply.postmasterUnknown);
}

