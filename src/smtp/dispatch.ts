/**
 * The one dispatch table: every verb, the states it is allowed in, and its handler. The state
 * check happens here, once; handlers receive the state already narrowed to an allowed variant.
 * A command in a wrong state gets 503 5.5.1 (RFC 5321 4.1.4, 4.3.2).
 * @module
 */
import type { SmtpCommand, SmtpVerb } from '../wire/smtp/index.js';
import type { CommandResult, ErasedSpec } from './command.js';
import { auth } from './commands/auth.js';
import { bdat } from './commands/bdat.js';
import { expn, help, noop, quit, rset, vrfy } from './commands/basic.js';
import { data } from './commands/data.js';
import { ehlo, helo } from './commands/helo.js';
import { mail } from './commands/mail.js';
import { rcpt } from './commands/rcpt.js';
import { starttls } from './commands/starttls.js';
import { noopMetrics } from '../metrics/noop.js';
import type { Metrics, CommandResult as MetricsResult, SmtpRejectionReason } from '../metrics/types.js';
import { SmtpReplyError, type SmtpReply } from '../wire/smtp/index.js';
import { SessionEnd } from './errors.js';
import type { Session } from './session.js';
import type { SessionState } from './state.js';

const TABLE: Readonly<Record<SmtpVerb, ErasedSpec>> = {
  EHLO: ehlo,
  HELO: helo,
  MAIL: mail,
  RCPT: rcpt,
  DATA: data,
  BDAT: bdat,
  RSET: rset,
  NOOP: noop,
  QUIT: quit,
  VRFY: vrfy,
  EXPN: expn,
  HELP: help,
  STARTTLS: starttls,
  AUTH: auth,
};

/** Runs one command and counts it once, by verb (a fixed union) and reply class. */
export async function dispatch(session: Session, cmd: SmtpCommand): Promise<CommandResult> {
  const metrics = session.services.metrics ?? noopMetrics;
  const before = session.state;
  try {
    const answer = await run(session, cmd);
    metrics.command('smtp', cmd.verb, answer === null ? 'ok' : resultOf(answer));
    if (answer !== null) countTransaction(metrics, cmd, answer, before, session.state);
    return answer;
  } catch (error) {
    metrics.command('smtp', cmd.verb, resultOfError(error, cmd));
    if (error instanceof SmtpReplyError) countTransaction(metrics, cmd, error.reply, before, session.state);
    throw error;
  }
}

/**
 * A line that never reached dispatch (unknown verb, syntax error, line too long) counted under
 * its verb when known, else `UNKNOWN` (src/log/commands.ts commandName), by reply class.
 */
export function countUnparsed(session: Session, name: string, reply: SmtpReply): void {
  (session.services.metrics ?? noopMetrics).command('smtp', name, resultOf(reply));
}

const TRANSACTION_VERBS: ReadonlySet<SmtpVerb> = new Set(['MAIL', 'RCPT', 'DATA', 'BDAT']);

/**
 * Deliveries (per recipient) when DATA or the last BDAT is answered 250 and the transaction
 * is over; refusals of MAIL, RCPT, DATA and BDAT by the reason their enhanced code names.
 */
function countTransaction(metrics: Metrics, cmd: SmtpCommand, reply: SmtpReply, before: SessionState, after: SessionState): void {
  if (!TRANSACTION_VERBS.has(cmd.verb)) return;
  if (reply.code >= 400) {
    metrics.smtpRejected(rejectionReason(cmd.verb, reply));
    return;
  }
  const finished = reply.code === 250 && (cmd.verb === 'DATA' || cmd.verb === 'BDAT') && after.kind !== 'chunking';
  if (!finished || (before.kind !== 'transaction' && before.kind !== 'chunking')) return;
  const recipients = before.envelope.recipients;
  const local = recipients.filter((recipient) => recipient.route.kind === 'local').length;
  if (local > 0) metrics.smtpDelivered('local', local);
  if (recipients.length > local) metrics.smtpDelivered('queued', recipients.length - local);
}

/** RFC 3463 enhanced codes as this server uses them (docs/smtp.md). */
function rejectionReason(verb: SmtpVerb, reply: SmtpReply): SmtpRejectionReason {
  const detail = reply.enhanced?.slice(2) ?? '';
  if (reply.code === 530) return 'authRequired';
  switch (detail) {
    case '1.1':
      return 'unknownRecipient';
    case '7.1':
      return verb === 'RCPT' ? 'relayDenied' : 'senderDenied';
    case '2.2':
      return 'overQuota';
    case '3.4':
      return 'messageTooLarge';
    case '5.3':
      return 'tooManyRecipients';
    case '3.0':
      return 'temporaryFailure';
  }
  if (detail.startsWith('5.') || reply.code === 500 || reply.code === 501 || reply.code === 503) return 'syntax';
  return 'other';
}

/** QUIT answers 221 and then ends the session by throwing; other ends were a 421. */
function resultOfError(error: unknown, cmd: SmtpCommand): MetricsResult {
  if (error instanceof SmtpReplyError) return resultOf(error.reply);
  if (error instanceof SessionEnd) return cmd.verb === 'QUIT' ? 'ok' : 'tempfail';
  return 'error';
}

function run(session: Session, cmd: SmtpCommand): Promise<CommandResult> | CommandResult {
  const spec = TABLE[cmd.verb];
  if (!spec.accepts(session.state.kind)) return spec.wrongState(session);
  return spec.run(session, cmd);
}

/** RFC 5321 4.2.1: 2yz/3yz positive, 4yz transient, 5yz permanent. */
function resultOf(reply: SmtpReply): MetricsResult {
  if (reply.code >= 500) return 'permfail';
  if (reply.code >= 400) return 'tempfail';
  return 'ok';
}
