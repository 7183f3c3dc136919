/**
 * How a command is declared: the verb, the states it is allowed in, and its handler
 * (./dispatch.ts holds the table of all of them).
 * @module
 */
import { Reply } from '../wire/smtp/index.js';
import type { SmtpCommand, SmtpReply, SmtpVerb } from '../wire/smtp/index.js';
import type { Session } from './session.js';
import type { StateKind, StateOf } from './state.js';

export type CommandOf<V extends SmtpVerb> = Extract<SmtpCommand, { verb: V }>;

/** A handler's answer: the reply to queue, or null when it already sent everything itself. */
export type CommandResult = SmtpReply | null;

export interface CommandSpec<V extends SmtpVerb, K extends StateKind> {
  /** States the command is valid in. */
  states: readonly K[];
  /** The reply outside those states (default 503 5.5.1). */
  wrongState?: (session: Session) => SmtpReply;
  run(session: Session, state: StateOf<K>, command: CommandOf<V>): Promise<CommandResult> | CommandResult;
}

/** A spec with its types erased, as the table holds it. */
export interface ErasedSpec {
  accepts(kind: StateKind): boolean;
  wrongState(session: Session): SmtpReply;
  run(session: Session, command: SmtpCommand): Promise<CommandResult> | CommandResult;
}

/** Defines a command; the only place a state is narrowed by a cast, after the membership check. */
export function command<V extends SmtpVerb, K extends StateKind>(spec: CommandSpec<V, K>): ErasedSpec {
  const states = new Set<StateKind>(spec.states);
  return {
    accepts: (kind) => states.has(kind),
    wrongState: (session) => spec.wrongState?.(session) ?? Reply.badSequence,
    run: (session, cmd) => spec.run(session, session.state as StateOf<K>, cmd as CommandOf<V>),
  };
}

export const ALL_STATES: readonly StateKind[] = ['connected', 'greeted', 'transaction', 'chunking'];

