/**
 * The one dispatch table: every verb, the states it is valid in (by which handlers it has),
 * and its handler. The state check happens here, once (RFC 1939 3: "A server MUST respond to a
 * command issued when the session is in an incorrect state by responding with a negative
 * status indicator").
 * @module
 */
import type { Pop3Command, Pop3Verb } from '../wire/pop3/index.js';
import type { CommandSpec } from './command.js';
import { apop } from './commands/apop.js';
import { auth } from './commands/auth.js';
import { capa } from './commands/capa.js';
import { stat, list, uidl } from './commands/listing.js';
import { dele, noop, rset } from './commands/marks.js';
import { quit } from './commands/quit.js';
import { retr, top } from './commands/retrieve.js';
import { stls } from './commands/stls.js';
import { pass, user } from './commands/user-pass.js';
import { Pop3Errors } from './errors.js';
import type { Pop3Reply } from './reply.js';
import type { Session } from './session.js';
import { noopMetrics } from '../metrics/noop.js';

const TABLE: { readonly [V in Pop3Verb]: CommandSpec<V> } = {
  USER: user,
  PASS: pass,
  APOP: apop,
  AUTH: auth,
  STLS: stls,
  CAPA: capa,
  STAT: stat,
  LIST: list,
  UIDL: uidl,
  RETR: retr,
  TOP: top,
  DELE: dele,
  NOOP: noop,
  RSET: rset,
  QUIT: quit,
};

/** Runs one command and counts it once, by verb (a fixed union): +OK → ok, -ERR → no. */
export async function dispatch(session: Session, command: Pop3Command): Promise<Pop3Reply> {
  const metrics = session.services.metrics ?? noopMetrics;
  try {
    const reply = await run(session, command);
    metrics.command('pop3', command.verb, reply.kind === 'ok' ? 'ok' : 'no');
    return reply;
  } catch (error) {
    metrics.command('pop3', command.verb, 'no');
    throw error;
  }
}

/** Whether `verb` (upper case) is a POP3 command this server knows. */
export function isPop3Verb(verb: string): boolean {
  return Object.hasOwn(TABLE, verb);
}

/** A line that never reached dispatch (unknown verb, syntax error, line too long): counted as -ERR. */
export function countUnparsed(session: Session, name: string): void {
  (session.services.metrics ?? noopMetrics).command('pop3', name, 'no');
}

async function run(session: Session, command: Pop3Command): Promise<Pop3Reply> {
  // The mapped type of TABLE pairs each verb with the spec for that verb's command; TypeScript
  // cannot follow that correlation through the union, hence the cast.
  const spec = TABLE[command.verb] as unknown as CommandSpec<Pop3Verb>;
  const state = session.state;
  switch (state.kind) {
    case 'authorization':
      if (spec.authorization === undefined) throw Pop3Errors.wrongState();
      return await spec.authorization(session, state, command);
    case 'transaction':
      if (spec.transaction === undefined) throw Pop3Errors.wrongState();
      return await spec.transaction(session, state, command);
    case 'update':
      throw Pop3Errors.wrongState();
    default: {
      const unreachable: never = state;
      throw new Error(`unknown POP3 state ${String(unreachable)}`);
    }
  }
}
