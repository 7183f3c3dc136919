/**
 * STATUS data (RFC 3501 6.3.10, RFC 7162 3.1.7 HIGHESTMODSEQ, RFC 8438 SIZE, RFC 9208 4.3
 * DELETED / DELETED-STORAGE, RFC 7889 APPENDLIMIT) for STATUS and LIST RETURN (STATUS) (RFC 5819).
 * The counters come from the mailbox row; RECENT and DELETED need the message list.
 * @module
 */
import type { Mailbox } from '../store/types.js';
import type { StatusItem } from '../wire/imap/index.js';
import { DELETED } from './flags.js';
import type { ImapSession } from './session.js';

export async function statusValues(session: ImapSession, mailbox: Mailbox, items: readonly StatusItem[]): Promise<Array<[string, number]>> {
  const needList = items.includes('RECENT') || items.includes('DELETED') || items.includes('DELETED-STORAGE');
  const messages = needList ? await session.store.listMessages(mailbox.id) : [];
  const claimed = session.services.recent.claimedUpTo(mailbox.id);
  const values: Array<[string, number]> = [];
  for (const item of items) {
    switch (item) {
      case 'MESSAGES':
        values.push([item, mailbox.messageCount]);
        break;
      case 'RECENT':
        values.push([item, messages.filter((m) => m.uid > claimed).length]);
        break;
      case 'UIDNEXT':
        values.push([item, mailbox.uidNext]);
        break;
      case 'UIDVALIDITY':
        values.push([item, mailbox.uidValidity]);
        break;
      case 'UNSEEN':
        values.push([item, mailbox.unseenCount]);
        break;
      case 'HIGHESTMODSEQ':
        await session.enableCondstore();
        values.push([item, Math.max(mailbox.highestModseq, 1)]);
        break;
      case 'SIZE':
        values.push([item, mailbox.totalSize]);
        break;
      case 'DELETED':
        values.push([item, messages.filter((m) => (m.flags & DELETED) !== 0).length]);
        break;
      case 'DELETED-STORAGE':
        values.push([item, messages.filter((m) => (m.flags & DELETED) !== 0).reduce((sum, m) => sum + m.size, 0)]);
        break;
      case 'APPENDLIMIT':
        values.push([item, session.settings.messageSize]);
        break;
    }
  }
  return values;
}
