/**
 * Command: IDLE (RFC 2177 3)
 * Request syntax: idle = "IDLE" CRLF "DONE"
 * Response: "+ idling", then untagged EXISTS / EXPUNGE (VANISHED) / FETCH as changes land (the
 *   change bus wakes the session, which pulls the change log), and the tagged OK after DONE.
 *   The autologout timer keeps running while idle (RFC 2177 3: clients re-issue IDLE within 29 minutes).
 * @module
 */
import { ConnectionClosedError } from '../../net/connection.js';
import { encode } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapBad } from '../errors.js';
import type { ImapSession } from '../session.js';

export async function cmdIdle(session: ImapSession, _command: CommandOf<'IDLE'>): Promise<Completion> {
  await session.send(encode.continuation('idling'));
  session.receiver.expectIdleDone();
  session.wake.clear();
  await session.flushChanges(true);
  let read: Promise<Buffer | null> | null = null;
  for (;;) {
    const event = session.receiver.next();
    if (event !== null) {
      if (event.type === 'idleEnd') {
        if (!event.done) throw new ImapBad('Expected DONE to end IDLE');
        return { text: 'IDLE terminated' };
      }
      if (event.type === 'error') throw new ImapBad(event.message);
      throw new ImapBad('Expected DONE to end IDLE');
    }
    await session.output.flush();
    read ??= session.conn.read();
    const chunk = await Promise.race([read.then((data) => ({ data })), session.wake.wait().then(() => null)]);
    if (chunk === null) {
      await session.flushChanges(true);
      continue;
    }
    read = null;
    if (chunk.data === null) throw new ConnectionClosedError('client left during IDLE');
    session.receiver.push(chunk.data);
  }
}
