/**
 * The dispatch table (STYLE.md 4.3): every command name, the states it is valid in, and its
 * handler. The session (./session.ts `execute`) is the one gate: it checks the state here,
 * runs the handler with the narrowed state, flushes pending changes (EXPUNGE only where
 * `allowsExpungeResponses` says so) and writes the tagged response.
 * @module
 */
import type { encode, ImapCommand, ImapCommandName } from '../wire/imap/index.js';
import { cmdAppend } from './commands/append.js';
import { cmdCapability, cmdEnable, cmdId, cmdLogout, cmdNamespace, cmdNoop } from './commands/basic.js';
import { cmdAuthenticate, cmdLogin, cmdStarttls } from './commands/auth.js';
import { cmdCopy } from './commands/copy.js';
import { cmdExpunge } from './commands/expunge.js';
import { cmdFetch } from './commands/fetch.js';
import { cmdIdle } from './commands/idle.js';
import { cmdList, cmdLsub } from './commands/list.js';
import { cmdCreate, cmdDelete, cmdRename, cmdSubscribe, cmdUnsubscribe } from './commands/mailboxes.js';
import { cmdGetQuota, cmdGetQuotaRoot, cmdSetQuota } from './commands/quota.js';
import { cmdSearch } from './commands/search.js';
import { cmdCheck, cmdClose, cmdSelect, cmdUnselect } from './commands/select.js';
import { cmdStatus } from './commands/status.js';
import { cmdStore } from './commands/store.js';
import { commandName, commandStart, logCommand } from '../log/commands.js';
import { noopMetrics } from '../metrics/noop.js';
import type { CommandResult } from '../metrics/types.js';
import { ConnectionClosedError, ConnectionInterrupted } from '../net/connection.js';
import { StoreError } from '../store/types.js';
import { ImapBad, ImapBye, ImapNo, storeErrorToNo } from './errors.js';
import type { ImapSession } from './session.js';
import type { AuthenticatedState, LoggedInState, NotAuthenticatedState, SelectedState, SessionState } from './state.js';

/** What a handler returns: nothing for "OK <NAME> completed", or the parts to change. */
export type Completion = void | {
  readonly status?: 'OK' | 'NO';
  readonly code?: encode.ResponseCode | null;
  readonly text?: string;
  /** The handler wrote the tagged response itself (STARTTLS must answer before the handshake). */
  readonly answered?: boolean;
};

/** The command type for a name; members whose `name` is a union (SimpleCommand) narrow too. */
export type CommandOf<N extends ImapCommandName> = ImapCommand extends infer C ? (C extends { readonly name: infer M } ? (N extends M ? C & { readonly name: N } : never) : never) : never;

type Handler<C, S> = (session: ImapSession, command: C, state: S) => Promise<Completion>;

/** Where a command is valid (RFC 3501 6.1–6.4; RFC 5161 3.1 for ENABLE). */
export type CommandSpec<C> =
  | { readonly allowed: 'any'; readonly run: Handler<C, SessionState> }
  | { readonly allowed: 'notAuthenticated'; readonly run: Handler<C, NotAuthenticatedState> }
  | { readonly allowed: 'authenticatedOnly'; readonly run: Handler<C, AuthenticatedState> }
  | { readonly allowed: 'loggedIn'; readonly run: Handler<C, LoggedInState> }
  | { readonly allowed: 'selected'; readonly run: Handler<C, SelectedState> };

const COMMANDS: { readonly [N in ImapCommandName]: CommandSpec<CommandOf<N>> } = {
  // RFC 3501 6.1: any state
  CAPABILITY: { allowed: 'any', run: cmdCapability },
  NOOP: { allowed: 'any', run: cmdNoop },
  LOGOUT: { allowed: 'any', run: cmdLogout },
  ID: { allowed: 'any', run: cmdId },
  // RFC 3501 6.2: not authenticated
  STARTTLS: { allowed: 'notAuthenticated', run: cmdStarttls },
  LOGIN: { allowed: 'notAuthenticated', run: cmdLogin },
  AUTHENTICATE: { allowed: 'notAuthenticated', run: cmdAuthenticate },
  // RFC 5161 3.1: ENABLE only in the authenticated state
  ENABLE: { allowed: 'authenticatedOnly', run: cmdEnable },
  // RFC 3501 6.3: authenticated (and so selected)
  SELECT: { allowed: 'loggedIn', run: cmdSelect },
  EXAMINE: { allowed: 'loggedIn', run: cmdSelect },
  CREATE: { allowed: 'loggedIn', run: cmdCreate },
  DELETE: { allowed: 'loggedIn', run: cmdDelete },
  RENAME: { allowed: 'loggedIn', run: cmdRename },
  SUBSCRIBE: { allowed: 'loggedIn', run: cmdSubscribe },
  UNSUBSCRIBE: { allowed: 'loggedIn', run: cmdUnsubscribe },
  LIST: { allowed: 'loggedIn', run: cmdList },
  LSUB: { allowed: 'loggedIn', run: cmdLsub },
  STATUS: { allowed: 'loggedIn', run: cmdStatus },
  APPEND: { allowed: 'loggedIn', run: cmdAppend },
  IDLE: { allowed: 'loggedIn', run: cmdIdle },
  NAMESPACE: { allowed: 'loggedIn', run: cmdNamespace },
  GETQUOTA: { allowed: 'loggedIn', run: cmdGetQuota },
  GETQUOTAROOT: { allowed: 'loggedIn', run: cmdGetQuotaRoot },
  SETQUOTA: { allowed: 'loggedIn', run: cmdSetQuota },
  // RFC 3501 6.4: selected
  CHECK: { allowed: 'selected', run: cmdCheck },
  CLOSE: { allowed: 'selected', run: cmdClose },
  UNSELECT: { allowed: 'selected', run: cmdUnselect },
  EXPUNGE: { allowed: 'selected', run: cmdExpunge },
  SEARCH: { allowed: 'selected', run: cmdSearch },
  FETCH: { allowed: 'selected', run: cmdFetch },
  STORE: { allowed: 'selected', run: cmdStore },
  COPY: { allowed: 'selected', run: cmdCopy },
  MOVE: { allowed: 'selected', run: cmdCopy },
};

export function commandSpec<N extends ImapCommandName>(name: N): CommandSpec<CommandOf<N>> {
  return COMMANDS[name];
}

/**
 * Runs a handler with the state the gate has checked (the table's types guarantee the match),
 * counts the command once by name (a fixed union) and tagged status, and writes its log line
 * (src/log/commands.ts).
 */
export async function runHandler(spec: CommandSpec<never>, session: ImapSession, command: ImapCommand, state: SessionState): Promise<Completion> {
  const metrics = session.services.metrics ?? noopMetrics;
  const startedAt = commandStart();
  const userBefore = userOf(session.state);
  const log = (result: string, code: encode.ResponseCode | null | undefined): void =>
    logCommand(session.log, { command: logName(command), result, code: codeName(code), startedAt, user: userOf(session.state) ?? userBefore });
  try {
    const completion = await (spec.run as unknown as Handler<ImapCommand, SessionState>)(session, command, state);
    metrics.command('imap', command.name, completion?.status === 'NO' ? 'no' : 'ok');
    log(completion?.status ?? 'OK', completion?.code);
    return completion;
  } catch (error) {
    metrics.command('imap', command.name, resultOfError(error));
    const [result, code] = loggedOutcome(error);
    log(result, code);
    throw error;
  }
}

/** Whether `name` (upper case) is a command of the table, or the UID prefix. */
export function isImapCommandName(name: string): boolean {
  return name === 'UID' || Object.hasOwn(COMMANDS, name);
}

/**
 * A command answered BAD before any handler ran (it did not parse, or is not valid in this
 * state: RFC 3501 6): counted and logged like the others, unknown names as `UNKNOWN`.
 */
export function countRefused(session: ImapSession, name: string): void {
  const label = commandName(name, isImapCommandName);
  (session.services.metrics ?? noopMetrics).command('imap', label, 'bad');
  logCommand(session.log, { command: label, result: 'BAD', startedAt: commandStart(), user: userOf(session.state) });
}

/**
 * An APPEND answered by its upload rather than by runHandler: refused before its literal
 * (TOOBIG, TRYCREATE...) or failed while the literal arrived (./commands/append.ts). Counted and
 * logged like every other command.
 */
export function countUploadAnswer(session: ImapSession, status: 'NO' | 'BAD', code: encode.ResponseCode | null): void {
  (session.services.metrics ?? noopMetrics).command('imap', 'APPEND', status === 'NO' ? 'no' : 'bad');
  logCommand(session.log, { command: 'APPEND', result: status, code: codeName(code), startedAt: commandStart(), user: userOf(session.state) });
}

function userOf(state: SessionState): string | null {
  return state.kind === 'authenticated' || state.kind === 'selected' ? state.user.address : null;
}

/** The log name keeps the UID prefix (RFC 3501 6.4.8), which the metrics label folds away. */
function logName(command: ImapCommand): string {
  return 'uid' in command && command.uid ? `UID ${command.name}` : command.name;
}

function codeName(code: encode.ResponseCode | null | undefined): string | null {
  if (code === undefined || code === null) return null;
  return typeof code === 'string' ? code : code.code;
}

/** The tagged status ./session.ts answers for a thrown error; `BYE`/`aborted` when the session ends. */
function loggedOutcome(error: unknown): [string, encode.ResponseCode | null] {
  if (error instanceof ImapNo) return ['NO', error.code];
  if (error instanceof ImapBad) return ['BAD', error.code];
  if (error instanceof StoreError) return ['NO', storeErrorToNo(error).code];
  if (error instanceof ImapBye) return ['BYE', error.code];
  if (error instanceof ConnectionClosedError || error instanceof ConnectionInterrupted) return ['aborted', null];
  return ['NO', 'SERVERBUG'];
}

/** How ./session.ts answers a thrown error: ImapNo and store errors → NO, ImapBad → BAD. */
function resultOfError(error: unknown): CommandResult {
  if (error instanceof ImapNo || error instanceof StoreError) return 'no';
  if (error instanceof ImapBad) return 'bad';
  return 'error';
}

export function isAllowedIn(spec: CommandSpec<never>, state: SessionState): boolean {
  switch (spec.allowed) {
    case 'any':
      return state.kind !== 'logout';
    case 'notAuthenticated':
      return state.kind === 'notAuthenticated';
    case 'authenticatedOnly':
      return state.kind === 'authenticated';
    case 'loggedIn':
      return state.kind === 'authenticated' || state.kind === 'selected';
    case 'selected':
      return state.kind === 'selected';
  }
}

/** RFC 3501 7.4.1: no EXPUNGE while responding to FETCH, STORE or SEARCH (their UID forms are
 * fine, since UIDs do not shift); RFC 7162 3.2.10 applies the same rule to VANISHED. */
export function allowsExpungeResponses(command: ImapCommand): boolean {
  switch (command.name) {
    case 'FETCH':
    case 'STORE':
    case 'SEARCH':
      return command.uid;
    default:
      return true;
  }
}
