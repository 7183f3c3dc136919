/**
 * Command: LIST (RFC 3501 6.3.8; RFC 5258 LIST-EXTENDED; RFC 5819 LIST-STATUS; RFC 6154
 * SPECIAL-USE; RFC 3348 CHILDREN) and LSUB (RFC 3501 6.3.9)
 * Request syntax: list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
 * Response syntax: "* LIST (" mbx-list-flags ") " DQUOTE "/" DQUOTE SP mailbox [SP mbox-list-extended],
 *   and with RETURN (STATUS ...) a "* STATUS" line after each selectable mailbox.
 *
 * Names that exist only as the parent of another name (the store keeps children of a deleted
 * mailbox) are listed \Noselect, as RFC 3501 6.3.4 describes; subscribed names that do not exist
 * are \NonExistent under LIST (SUBSCRIBED) (RFC 5258 3.4).
 * @module
 */
import { HIERARCHY_DELIMITER, INBOX, parentNames } from '../../store/names.js';
import type { Mailbox } from '../../store/types.js';
import { encode, normalizeInbox } from '../../wire/imap/index.js';
import type { ImapValue } from '../../wire/imap/encode.js';
import type { CommandOf, Completion } from '../dispatch.js';
import { storeCall } from '../errors.js';
import type { ImapSession } from '../session.js';
import type { LoggedInState } from '../state.js';
import { statusValues } from '../status-values.js';

interface Node {
  readonly name: string;
  readonly mailbox: Mailbox | null;
  subscribed: boolean;
  hasChildren: boolean;
  subscribedChild: boolean;
}

export async function cmdList(session: ImapSession, command: CommandOf<'LIST'>, state: LoggedInState): Promise<Completion> {
  // RFC 3501 6.3.8: an empty pattern asks for the delimiter and the root.
  if (command.patterns.length === 1 && command.patterns[0] === '' && !command.extended) {
    await session.send(encode.listResponse({ attributes: ['\\Noselect'], delimiter: HIERARCHY_DELIMITER, name: '' }));
    return;
  }
  const nodes = await buildTree(session, state);
  const matchers = command.patterns.map((pattern) => patternMatcher(command.reference, pattern));
  const matches = (name: string): boolean => matchers.some((m) => m(name));
  const { selection, returns } = command;
  const showSubscribed = selection.subscribed || returns.subscribed;
  for (const node of sortNodes(nodes.values())) {
    const listed = matches(node.name);
    let childInfo = false;
    if (selection.subscribed) {
      // RFC 5258 3.5: with RECURSIVEMATCH, an unsubscribed match with subscribed children is
      // listed with CHILDINFO ("SUBSCRIBED").
      childInfo = selection.recursiveMatch && node.subscribedChild && !node.subscribed;
      if (!node.subscribed && !childInfo) continue;
    }
    if (!listed) continue;
    if (selection.specialUse && node.mailbox?.specialUse == null) continue;
    const attributes: string[] = [];
    if (node.mailbox === null) attributes.push(selection.subscribed && node.subscribed ? '\\NonExistent' : '\\Noselect');
    attributes.push(node.hasChildren ? '\\HasChildren' : '\\HasNoChildren');
    if (showSubscribed && node.subscribed) attributes.push('\\Subscribed');
    const use = node.mailbox?.specialUse ?? null;
    if (use !== null) attributes.push(use);
    const extended: ImapValue[] = childInfo ? [encode.raw('"CHILDINFO"'), encode.list([encode.quoted('SUBSCRIBED')])] : [];
    await session.send(encode.listResponse({ attributes, delimiter: HIERARCHY_DELIMITER, name: node.name, extended }));
    if (returns.status !== null && node.mailbox !== null) {
      await session.send(encode.statusResponse(node.name, await statusValues(session, node.mailbox, returns.status)));
    }
  }
}

export async function cmdLsub(session: ImapSession, command: CommandOf<'LSUB'>, state: LoggedInState): Promise<Completion> {
  if (command.pattern === '') {
    await session.send(encode.listResponse({ command: 'LSUB', attributes: ['\\Noselect'], delimiter: HIERARCHY_DELIMITER, name: '' }));
    return;
  }
  const subscriptions = await storeCall(() => session.store.listSubscriptions(state.user.accountId));
  const existing = new Set((await storeCall(() => session.store.listMailboxes(state.user.accountId))).map((m) => m.name));
  const matcher = patternMatcher(command.reference, command.pattern);
  const subscribed = new Set(subscriptions);
  const listed = new Map<string, string[]>();
  for (const name of subscriptions) {
    if (matcher(name)) listed.set(name, existing.has(name) ? [] : ['\\Noselect']);
    // RFC 3501 6.3.9: with "%", a parent of a subscribed name matches as \Noselect.
    for (const parent of parentNames(name)) {
      if (!subscribed.has(parent) && !listed.has(parent) && matcher(parent)) listed.set(parent, ['\\Noselect']);
    }
  }
  for (const name of [...listed.keys()].sort(compareNames)) {
    await session.send(encode.listResponse({ command: 'LSUB', attributes: listed.get(name)!, delimiter: HIERARCHY_DELIMITER, name }));
  }
}

async function buildTree(session: ImapSession, state: LoggedInState): Promise<Map<string, Node>> {
  const mailboxes = await storeCall(() => session.store.listMailboxes(state.user.accountId));
  const subscriptions = await storeCall(() => session.store.listSubscriptions(state.user.accountId));
  const nodes = new Map<string, Node>();
  const add = (name: string, mailbox: Mailbox | null): Node => {
    let node = nodes.get(name);
    if (node === undefined) {
      node = { name, mailbox, subscribed: false, hasChildren: false, subscribedChild: false };
      nodes.set(name, node);
    }
    return node;
  };
  for (const mailbox of mailboxes) add(mailbox.name, mailbox);
  for (const mailbox of mailboxes) for (const parent of parentNames(mailbox.name)) add(parent, null).hasChildren = true;
  for (const name of subscriptions) {
    const node = nodes.get(name) ?? add(name, null);
    node.subscribed = true;
    for (const parent of parentNames(name)) {
      const above = nodes.get(parent);
      if (above !== undefined) above.subscribedChild = true;
    }
  }
  for (const node of nodes.values()) {
    if (node.mailbox === null) continue;
    for (const parent of parentNames(node.name)) {
      const above = nodes.get(parent);
      if (above !== undefined) above.hasChildren = true;
    }
  }
  return nodes;
}

/** INBOX first, then by name. */
function sortNodes(nodes: Iterable<Node>): Node[] {
  return [...nodes].sort((a, b) => compareNames(a.name, b.name));
}

function compareNames(a: string, b: string): number {
  if (a === INBOX) return -1;
  if (b === INBOX) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * RFC 3501 6.3.8: reference and pattern are joined; "*" matches anything, "%" anything but the
 * delimiter. INBOX is case-insensitive, also as the first level of the pattern.
 */
export function patternMatcher(reference: string, pattern: string): (name: string) => boolean {
  let full = pattern.startsWith(HIERARCHY_DELIMITER) && reference.endsWith(HIERARCHY_DELIMITER) ? reference + pattern.slice(1) : reference + pattern;
  full = normalizeInbox(full, HIERARCHY_DELIMITER);
  let source = '^';
  for (const ch of full) {
    if (ch === '*') source += '.*';
    else if (ch === '%') source += '[^/]*';
    else source += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  const regex = new RegExp(`${source}$`, 'su');
  const inboxPrefix = /^inbox/i.test(full) && !/^INBOX/.test(full);
  return (name: string) => regex.test(name) || (inboxPrefix && regex.test(name.replace(/^INBOX/, 'inbox')));
}
