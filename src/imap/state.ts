/**
 * Session state (RFC 3501 3, STYLE.md 4.4): a discriminated union whose variants carry the data
 * that only exists in them. Handlers receive the variant their command allows (./dispatch.ts).
 * @module
 */
import type { MailboxView } from './mailbox-view.js';

/** Who is logged in (RFC 3501 3.2). */
export interface UserContext {
  readonly accountId: number;
  /** The account's address as stored (lower-case). */
  readonly address: string;
}

export interface NotAuthenticatedState {
  readonly kind: 'notAuthenticated';
}

export interface AuthenticatedState {
  readonly kind: 'authenticated';
  readonly user: UserContext;
}

export interface SelectedState {
  readonly kind: 'selected';
  readonly user: UserContext;
  readonly mailbox: MailboxView;
}

export interface LogoutState {
  readonly kind: 'logout';
}

export type SessionState = NotAuthenticatedState | AuthenticatedState | SelectedState | LogoutState;

/** Authenticated or selected: where RFC 3501 6.3 commands are valid. */
export type LoggedInState = AuthenticatedState | SelectedState;

export function userOf(state: SessionState): UserContext | null {
  return state.kind === 'authenticated' || state.kind === 'selected' ? state.user : null;
}
