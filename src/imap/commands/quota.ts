/**
 * QUOTA (RFC 9208): one quota root "" per account, with the STORAGE (units of 1024 octets,
 * RFC 9208 5.1) and MESSAGE resources the account has limits for. An account without limits
 * has no quota root.
 * @module
 */
import type { Account } from '../../store/types.js';
import { encode } from '../../wire/imap/index.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { ImapNo, storeCall } from '../errors.js';
import type { ImapSession } from '../session.js';
import type { LoggedInState } from '../state.js';

const ROOT = '';

/**
 * Command: GETQUOTA (RFC 9208 4.2)
 * Request syntax: getquota = "GETQUOTA" SP quota-root-name
 * Response syntax: quota-response = "QUOTA" SP quota-root-name SP quota-list
 */
export async function cmdGetQuota(session: ImapSession, command: CommandOf<'GETQUOTA'>, state: LoggedInState): Promise<Completion> {
  const resources = await quotaResources(session, state);
  if (command.root !== ROOT || resources.length === 0) throw new ImapNo('NONEXISTENT', 'No such quota root');
  await session.send(encode.quotaResponse(ROOT, resources));
}

/**
 * Command: GETQUOTAROOT (RFC 9208 4.3)
 * Request syntax: getquotaroot = "GETQUOTAROOT" SP mailbox
 * Response syntax: quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name), then QUOTA
 */
export async function cmdGetQuotaRoot(session: ImapSession, command: CommandOf<'GETQUOTAROOT'>, state: LoggedInState): Promise<Completion> {
  const mailbox = await storeCall(() => session.store.getMailbox(state.user.accountId, command.mailbox));
  if (mailbox === null) throw new ImapNo('NONEXISTENT', 'No such mailbox');
  const resources = await quotaResources(session, state);
  await session.send(encode.quotaRootResponse(mailbox.name, resources.length > 0 ? [ROOT] : []));
  if (resources.length > 0) await session.send(encode.quotaResponse(ROOT, resources));
}

/**
 * Command: SETQUOTA (RFC 9208 4.1.3)
 * Quotas are set by the administrator (mailhaven CLI); clients get NO [NOPERM].
 */
export async function cmdSetQuota(): Promise<Completion> {
  return Promise.reject(new ImapNo('NOPERM', 'Quotas are set by the administrator'));
}

async function quotaResources(session: ImapSession, state: LoggedInState): Promise<Array<{ name: string; usage: number; limit: number }>> {
  const account: Account | null = await storeCall(() => session.store.getAccountById(state.user.accountId));
  if (account === null) return [];
  const resources: Array<{ name: string; usage: number; limit: number }> = [];
  if (account.quotaBytes !== null) resources.push({ name: 'STORAGE', usage: Math.ceil(account.usedBytes / 1024), limit: Math.floor(account.quotaBytes / 1024) });
  if (account.quotaMessages !== null) resources.push({ name: 'MESSAGE', usage: account.usedMessages, limit: account.quotaMessages });
  return resources;
}
