/**
 * `mailhaven sendmail`: a message from a local program delivered like mail received by SMTP,
 * without a network hop. The command opens the store like every admin command (the running
 * server sees the new messages through the change log); local recipients get their copy now,
 * others go into the outbound queue for the server to send. It is trusted local injection, as
 * Postfix's sendmail is: whoever can open the data directory can use it.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/types.js';
import { deliverMessage } from '../delivery/accept.js';
import type { MessageRecipient } from '../delivery/accept.js';
import { normalizeDomain, resolveRecipient, splitAddress } from '../delivery/resolve.js';
import { indexMessage } from '../mime/indexer.js';
import { hasOutboundQueue } from '../queue/types.js';
import type { MailStore } from '../store/types.js';
import type { SendmailArguments } from './args.js';
import { composeMessage } from './message.js';

export class SendmailError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SendmailError';
  }
}

export interface SendmailDependencies {
  store: MailStore;
  config: Config;
  /** The local user running the command: the default sender is USER@hostname. */
  username: string;
  uid: number | null;
  now?: () => Date;
}

export interface SendmailResult {
  /** Local copies stored. */
  stored: number;
  /** Recipients queued for sending. */
  queued: number;
  /** One line per recipient that could not be served. */
  warnings: string[];
}

/** RFC 5321 4.1.2 Mailbox as programs pass it: a dot-atom-ish local part, "@", a domain. */
const LOCAL_PART = /^[^\s<>()[\]\\,;:"@]+$/;

export async function sendmail(args: SendmailArguments, input: Buffer, deps: SendmailDependencies): Promise<SendmailResult> {
  const { store, config } = deps;
  const hostname = config.hostname.toLowerCase();
  if (input.length > config.limits.messageSize) {
    throw new SendmailError(`message larger than limits.message_size (${config.limits.messageSize} octets)`);
  }
  // The null reverse-path stays empty; a bare name (the default: the Unix user) is at our host name.
  const sender = args.sender === '' ? '' : canonical(args.sender ?? deps.username, hostname);
  if (sender === null) throw new SendmailError(`invalid sender address "${args.sender ?? deps.username}"`);
  const now = deps.now?.() ?? new Date();
  const id = randomBytes(6).toString('hex').toUpperCase();
  const message = composeMessage(input, {
    hostname,
    sender,
    fullName: args.fullName,
    readRecipientsFromHeader: args.readRecipientsFromHeader,
    dotEndsMessage: args.dotEndsMessage,
    now,
    uid: deps.uid,
    id,
  });
  const addresses = uniqueRecipients([...args.recipients, ...message.headerRecipients], hostname);
  if (addresses.length === 0) throw new SendmailError(args.readRecipientsFromHeader ? 'no recipients in the arguments or in To, Cc, Bcc' : 'no recipients (give addresses, or -t)');
  const recipients = await resolveAll(store, addresses, hostname);
  if (recipients.some((recipient) => recipient.forwards.length > 0) && !hasOutboundQueue(store)) {
    throw new SendmailError('this store has no outbound queue: only local recipients can be served');
  }
  const writer = store.createBlobWriter();
  try {
    await writer.write(message.bytes);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const blob = await writer.finish();
  const report = await deliverMessage(
    store,
    { blob, index: indexMessage(message.bytes) },
    {
      sender,
      ret: null,
      envid: null,
      body: message.bytes.some((byte) => byte > 0x7f) ? '8BITMIME' : '7BIT',
      smtputf8: addresses.some((address) => /[^\x21-\x7e]/.test(address)),
      // Local submission by a user of this machine (Postfix's pickup): signed like authenticated
      // submission (docs/dkim.md); the name is for `queue show` and logs.
      submitter: `sendmail:${deps.username}`,
      clientAddress: '127.0.0.1',
    },
    recipients,
    now,
  );
  return {
    stored: report.stored,
    queued: report.queued,
    warnings: report.refused.map((refusal) => `${refusal.address}: ${refusal.reason === 'overQuota' ? 'mailbox full' : 'no such account'}`),
  };
}

/**
 * "user@domain" with the domain in lower-case A-labels; a bare name ("root", as cron sends) is a
 * user at our host name. Null when it is not an address.
 */
function canonical(input: string, hostname: string): string | null {
  const address = input.trim().replace(/^<(.*)>$/, '$1');
  const parts = address.includes('@') ? splitAddress(address) : { local: address, domain: hostname };
  if (parts === null || !LOCAL_PART.test(parts.local) || parts.local.length > 64) return null;
  const domain = normalizeDomain(parts.domain);
  if (domain === null || !/^[a-z0-9.-]+$/.test(domain)) return null;
  return `${parts.local}@${domain}`;
}

function uniqueRecipients(inputs: readonly string[], hostname: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const input of inputs) {
    for (const piece of input.split(',')) {
      if (piece.trim() === '') continue;
      const address = canonical(piece, hostname);
      if (address === null) throw new SendmailError(`invalid recipient address "${piece.trim()}"`);
      const key = address.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(address);
    }
  }
  return out;
}

/**
 * Every recipient must be deliverable: a local address that nobody receives is refused now
 * (the program learns it from the exit status), not bounced later. Mail for our own host name
 * that is not one of our domains would loop back to us, so it is refused with a hint.
 */
async function resolveAll(store: MailStore, addresses: readonly string[], hostname: string): Promise<MessageRecipient[]> {
  const recipients: MessageRecipient[] = [];
  for (const address of addresses) {
    const resolution = await resolveRecipient(store, address);
    const domain = address.slice(address.lastIndexOf('@') + 1);
    if (resolution.kind === 'unknown') throw new SendmailError(`unknown recipient ${address}`);
    if (resolution.kind === 'remote' && domain === hostname) {
      throw new SendmailError(`unknown recipient ${address}: ${hostname} is not a mail domain here (add it and an alias: mailhaven domain add ${hostname}; mailhaven alias add ${address} you@example.org)`);
    }
    recipients.push({
      address,
      notify: null,
      orcpt: null,
      accounts: resolution.kind === 'local' ? resolution.accounts : [],
      forwards: resolution.kind === 'local' ? resolution.remote : [address],
    });
  }
  return recipients;
}
