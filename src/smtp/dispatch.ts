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
import type { Session } from './session.js';

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

export function dispatch(session: Session, cmd: SmtpCommand): Promise<CommandResult> | CommandResult {
  const spec = TABLE[cmd.verb];
  if (!spec.accepts(session.state.kind)) return spec.wrongState(session);
  return spec.run(session, cmd);
}
