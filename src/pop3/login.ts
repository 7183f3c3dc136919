/**
 * What every authentication command does after checking credentials: on success take the
 * maildrop lock and the snapshot and enter TRANSACTION (RFC 1939 4); on failure count it in
 * the shared throttle and answer after its delay (docs/auth.md).
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Maildrop } from './maildrop.js';
import { Pop3Err, Pop3Errors } from './errors.js';
import { ok } from './reply.js';
import type { Pop3Reply } from './reply.js';
import type { Session } from './session.js';
import type { Pop3Login } from './state.js';

/**
 * RFC 1939 4: "the POP3 server then acquires an exclusive-access lock on the maildrop ... If the
 * lock is successfully acquired, the POP3 server responds with a positive status indicator."
 * RFC 2449 8.1.2: a maildrop in use gives -ERR [IN-USE] after successful authentication.
 */
export async function enterTransaction(session: Session, login: Pop3Login): Promise<Pop3Reply> {
  const { store, locks, throttle } = session.services;
  await throttle.recordSuccess(session.remoteAddress, login.address);
  const lease = await locks.tryAcquire(login.accountId, session.id);
  if (lease === null) {
    session.log.info({ user: login.address, method: login.method }, 'pop3 login refused: maildrop in use');
    throw Pop3Errors.inUse();
  }
  try {
    const maildrop = await Maildrop.open(store, login.accountId);
    const retentionDays = await store.pop3RetentionDays(login.accountId);
    session.state = { kind: 'transaction', login, maildrop, lease, retentionDays };
    session.log.info({ user: login.address, method: login.method, messages: maildrop.count }, 'pop3 login');
    return ok(`maildrop has ${maildrop.count} message${maildrop.count === 1 ? '' : 's'} (${maildrop.size} octets)`);
  } catch (error) {
    // RFC 1939 4: "If a lock was acquired but the POP3 server intends to respond with a
    // negative status indicator, the POP3 server must release the lock prior to rejecting".
    await lease.release();
    throw error;
  }
}

export type LoginFailure = 'invalidCredentials' | 'temporary' | 'malformed';

/**
 * A failed login: the store being unavailable is a temporary error ([SYS/TEMP], not counted);
 * anything else is counted for the client's address and the named account, and answered after
 * the throttle's delay, with [AUTH] (RFC 3206 5) when the credentials were wrong.
 */
export async function loginFailed(session: Session, username: string | null, method: string, reason: LoginFailure, detail: string): Promise<never> {
  session.log.info({ user: username, method, reason, detail }, 'pop3 login failed');
  if (reason === 'temporary') throw Pop3Errors.authUnavailable();
  const { throttle } = session.services;
  await throttle.recordFailure(session.remoteAddress, username);
  const delay = await throttle.delayFor(session.remoteAddress, username);
  if (delay > 0) await sleep(delay);
  if (reason === 'malformed') throw new Pop3Err(null, 'malformed authentication exchange');
  throw Pop3Errors.authFailed();
}
