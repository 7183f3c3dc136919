/**
 * QUIT (RFC 1939 4, 6). In AUTHORIZATION it just closes. In TRANSACTION the session enters
 * UPDATE: the marked messages are expunged in one durable store transaction *before* the +OK
 * (so a client that saw +OK may forget them), the first download of each retrieved message is
 * recorded for retention, and the maildrop lock is released.
 * @module
 */
import type { CommandSpec } from '../command.js';
import { StoreError } from '../../store/types.js';
import { Pop3Err } from '../errors.js';
import { ok } from '../reply.js';

/**
 * Command: QUIT (RFC 1939 4, 6).
 * Response: +OK signing off (n messages left) | -ERR [SYS/TEMP] some deleted messages not removed.
 */
export const quit: CommandSpec<'QUIT'> = {
  authorization(session) {
    session.closeAfterReply();
    return ok('Mailhaven POP3 server signing off');
  },
  async transaction(session, { login, maildrop, lease }) {
    session.closeAfterReply();
    session.state = { kind: 'update' };
    const { store } = session.services;
    const deleted = maildrop.deletedUids();
    let failure: unknown = null;
    try {
      if (deleted.length > 0) await store.expunge(login.accountId, maildrop.mailboxId, deleted);
    } catch (error) {
      failure = error;
    }
    // After a failed expunge the store is full, locked or failing: do not make the client wait
    // for a second write (another busy budget). Retention then counts from a later download.
    if (failure === null) {
      try {
        await store.recordPop3Downloads(maildrop.mailboxId, maildrop.retrievedUids(), session.settings.now());
      } catch (error) {
        // Retention then counts from a later download; nothing the client relies on.
        session.log.warn({ err: error }, 'recording POP3 downloads failed');
      }
    }
    await lease.release();
    session.log.info({ user: login.address, deleted: failure === null ? deleted.length : 0, left: maildrop.count }, 'pop3 logout');
    if (failure !== null) {
      // RFC 1939 6: "-ERR some deleted messages not removed"; the store transaction is all or nothing.
      const busy = failure instanceof StoreError && failure.code === 'busy';
      session.log[busy ? 'warn' : 'error']({ err: failure }, 'expunge at QUIT failed');
      throw new Pop3Err('SYS/TEMP', 'some deleted messages not removed');
    }
    const left = maildrop.count;
    return ok(`Mailhaven POP3 server signing off (${left === 0 ? 'maildrop empty' : `${left} message${left === 1 ? '' : 's'} left`})`);
  },
};
