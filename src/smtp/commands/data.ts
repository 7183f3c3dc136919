/**
 * Command: DATA (RFC 5321 4.1.1.4).
 * Request syntax: `"DATA" CRLF`, then the message, dot-stuffed (RFC 5321 4.5.2), ended by
 * `CRLF "." CRLF`. Response syntax: `354` (go ahead), then, after the end of data, `250` or
 * 450/451/452/552/554.
 *
 * The message streams through the receiver into the blob store (./../message.ts). Only a real
 * `CRLF . CRLF` ends it; a bare CR or LF fails it, or a bare LF becomes CRLF when configured
 * (SMTP smuggling, CVE-2023-51764 family); a text line over 1000 octets fails it
 * (RFC 5321 4.5.3.1.6). Any failure is answered once, after the real end, so the client stays
 * in step. The transaction ends with the final reply, whatever it is.
 * @module
 */
import { ConnectionClosedError } from '../../net/connection.js';
import { Reply, SmtpReplyError } from '../../wire/smtp/index.js';
import type { DataErrorReason } from '../../wire/smtp/index.js';
import { command } from '../command.js';
import { asError } from '../errors.js';
import { contentFailureReply, deliverIncoming, nextMessageId, openIncomingMessage } from '../receive.js';
import { SessionReply } from '../replies.js';

export const data = command<'DATA', 'transaction'>({
  states: ['transaction'],
  async run(session, state) {
    const { envelope, greeting } = state;
    // RFC 5321 3.3 / RFC 2920 3.1: no accepted recipient → 554 "no valid recipients".
    if (envelope.recipients.length === 0) throw new SmtpReplyError(SessionReply.noValidRecipients);
    // RFC 3030 3: a BINARYMIME message can only be sent with BDAT.
    if (envelope.params.body === 'BINARYMIME') throw new SmtpReplyError(SessionReply.binaryNeedsBdat);
    const id = nextMessageId(session);
    const message = await openIncomingMessage(session, greeting, envelope, id);
    session.send(Reply.startData);
    session.receiver.startData();
    let contentError: DataErrorReason | null = null;
    let storeError: Error | null = null;
    for (;;) {
      const event = await session.nextEvent();
      if (event === null) throw new ConnectionClosedError('client closed during DATA');
      if (event.type === 'dataEnd') break;
      if (event.type === 'dataError') contentError = event.reason;
      else if (event.type === 'data' && storeError === null) {
        try {
          await message.write(event.chunk);
        } catch (error) {
          // Keep reading to the end so the reply comes in step; the error is answered then.
          storeError = asError(error);
          await message.abort().catch(() => undefined);
        }
      }
    }
    await session.resetTransaction();
    if (storeError !== null || contentError !== null || message.oversized) {
      session.trackMessage(null);
      await message.abort();
      if (storeError !== null) throw storeError;
      if (contentError !== null) {
        session.log.info({ id, reason: contentError }, 'message refused: bad line endings or line length');
        return contentFailureReply(contentError);
      }
      session.log.info({ id, size: message.clientBytes }, 'message refused: too big');
      return Reply.sizeExceeded;
    }
    return deliverIncoming(session, envelope, message, id);
  },
});
