/**
 * Which envelope senders an authenticated user may use (RFC 6409 6.1: the MSA checks that the
 * submitter is authorized to use the MAIL FROM address): the account's own address, its
 * plus-addressed forms (`user+tag@`), and explicit aliases that deliver to the account.
 * A catch-all does not count: receiving everything for a domain is not a licence to send as
 * anyone in it. The null sender is never a user's address.
 */
import type { Directory, Id } from '../store/types.js';
import { normalizeDomain, resolveRecipient, stripPlusTag } from './resolve.js';

export interface SenderOwner {
  accountId: Id;
  /** The account's address (lower-case). */
  address: string;
}

export async function senderOwnedBy(dir: Directory, localPart: string, domain: string, owner: SenderOwner): Promise<boolean> {
  if (localPart === '' || domain.startsWith('[')) return false;
  const domainKey = normalizeDomain(domain);
  if (domainKey === null) return false;
  const local = localPart.toLowerCase();
  const stripped = stripPlusTag(local);
  const candidates = stripped === null ? [local] : [local, stripped];
  for (const candidate of candidates) {
    const address = `${candidate}@${domainKey}`;
    if (address === owner.address) return true;
    if (await aliasDeliversTo(dir, address, owner.accountId)) return true;
  }
  return false;
}

async function aliasDeliversTo(dir: Directory, address: string, accountId: Id): Promise<boolean> {
  const alias = await dir.getAlias(address);
  if (alias === null) return false;
  for (const target of alias.targets) {
    const resolution = await resolveRecipient(dir, target);
    if (resolution.kind === 'local' && resolution.accounts.some((account) => account.accountId === accountId)) return true;
  }
  return false;
}
