/**
 * STAT, LIST and UIDL (RFC 1939 5, 7): the drop listing, scan listings and unique-id listings
 * of the session's snapshot. Messages marked as deleted are neither counted nor listed.
 * @module
 */
import type { CommandSpec } from '../command.js';
import { listing, ok } from '../reply.js';

/**
 * Command: STAT (RFC 1939 5).
 * Response: +OK nn mm (messages, octets), nothing else (RFC 1939 5 discourages more).
 */
export const stat: CommandSpec<'STAT'> = {
  transaction(_session, { maildrop }) {
    return ok(`${maildrop.count} ${maildrop.size}`);
  },
};

/**
 * Command: LIST [msg] (RFC 1939 5).
 * Response: +OK msg size | +OK n messages (m octets) + "msg size" lines | -ERR no such message.
 */
export const list: CommandSpec<'LIST'> = {
  transaction(_session, { maildrop }, command) {
    if (command.message !== null) {
      const entry = maildrop.entry(command.message);
      return ok(`${entry.number} ${entry.meta.size}`);
    }
    const lines: string[] = [];
    for (const entry of maildrop.live()) lines.push(`${entry.number} ${entry.meta.size}`);
    const count = maildrop.count;
    return listing(`${count} message${count === 1 ? '' : 's'} (${maildrop.size} octets)`, lines);
  },
};

/**
 * Command: UIDL [msg] (RFC 1939 7).
 * Response: +OK msg unique-id | +OK + "msg unique-id" lines | -ERR no such message.
 */
export const uidl: CommandSpec<'UIDL'> = {
  transaction(_session, { maildrop }, command) {
    if (command.message !== null) {
      const entry = maildrop.entry(command.message);
      return ok(`${entry.number} ${entry.uniqueId}`);
    }
    const lines: string[] = [];
    for (const entry of maildrop.live()) lines.push(`${entry.number} ${entry.uniqueId}`);
    return listing('unique-id listing follows', lines);
  },
};
