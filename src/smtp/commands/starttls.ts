/**
 * Command: STARTTLS (RFC 3207 4).
 * Request syntax: `"STARTTLS" CRLF`. Response syntax: `220` then the TLS handshake; 454 when
 * TLS is unavailable, 501 with parameters (the parser), 503 when TLS is already active.
 *
 * CVE-2011-0411: bytes the client pipelined after the command were sent in plaintext and could
 * be injected by anyone on the path; they are dropped before the 220 is written, never read as
 * commands after the handshake. Afterwards the session starts over (RFC 3207 4.2): EHLO must
 * be repeated, and whatever was learned before (EHLO argument, AUTH) is forgotten.
 * @module
 */
import { TlsHandshakeError } from '../../net/starttls.js';
import { Reply, SmtpReplyError } from '../../wire/smtp/index.js';
import { command } from '../command.js';
import { SessionReply } from '../replies.js';
import { SessionEnd } from '../errors.js';

export const starttls = command<'STARTTLS', 'connected' | 'greeted'>({
  states: ['connected', 'greeted'],
  async run(session) {
    if (session.secure) throw new SmtpReplyError(SessionReply.tlsAlreadyActive);
    const dropped = session.receiver.discardBuffered() + session.conn.stopReadingForTls();
    if (dropped > 0) session.log.warn({ dropped }, 'plaintext sent after STARTTLS discarded');
    session.send(Reply.readyForTls);
    await session.flush();
    try {
      await session.conn.startTls(session.services.tls, session.settings.tlsHandshakeTimeoutMs);
    } catch (error) {
      if (!(error instanceof TlsHandshakeError)) throw error;
      session.log.info({ reason: error.message }, 'STARTTLS handshake failed');
      throw new SessionEnd('tls handshake failed');
    }
    const tls = session.tlsDetails;
    session.log.debug({ protocol: tls?.protocol, cipher: tls?.cipher }, 'tls established');
    session.state = { kind: 'connected' };
    session.identity = null;
    return null;
  },
});
