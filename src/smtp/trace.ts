/**
 * Header fields the server writes: the Received trace field (RFC 5321 4.4) and, for
 * submission, the Date and Message-ID an MSA may add (RFC 6409 8.2, 8.3).
 *
 * Only values the server has validated go in: the EHLO argument as parsed (a Domain or an
 * address literal, never raw client text), the peer IP, our own host name, the TLS version and
 * cipher (no secrets, no user name), and a recipient address that passed the address grammar.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { TlsDetails } from '../net/connection.js';
import type { HeloHost } from '../wire/smtp/index.js';
import { rfc5322Date } from '../mime/date.js';

export { rfc5322Date };

export interface ReceivedFields {
  helo: HeloHost | null;
  /** Peer IP address. */
  remoteAddress: string;
  hostname: string;
  /** RFC 3848 / RFC 6531 3.7.3 "with" protocol. */
  protocol: string;
  /** Session-unique id (atom characters only). */
  id: string;
  tls: TlsDetails | null;
  /** Named only when the message has exactly one recipient (RFC 5321 4.4: privacy). */
  recipient: string | null;
  date: Date;
}

/**
 * "with" values: SMTP after HELO; ESMTP after EHLO, + "S" with TLS and "A" authenticated
 * (RFC 3848); UTF8SMTP in place of ESMTP when SMTPUTF8 was used (RFC 6531 3.7.3).
 */
export function withProtocol(options: { ehlo: boolean; utf8: boolean; tls: boolean; authenticated: boolean }): string {
  if (!options.ehlo) return 'SMTP';
  return `${options.utf8 ? 'UTF8SMTP' : 'ESMTP'}${options.tls ? 'S' : ''}${options.authenticated ? 'A' : ''}`;
}

/**
 * Received: from <helo> ([ip])
 *         (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)
 *         by <hostname> (Mailhaven) with ESMTPS id <id>
 *         for <rcpt>; <date-time>
 * The "from" part is Extended-Domain with TCP-info (RFC 5321 4.4); the TLS comment is CFWS.
 */
export function receivedField(fields: ReceivedFields): Buffer {
  const lines = [`Received: from ${heloText(fields.helo, fields.remoteAddress)} (${addressLiteral(fields.remoteAddress)})`];
  if (fields.tls !== null) lines.push(`\t(using ${sanitizeToken(fields.tls.protocol)} with cipher ${sanitizeToken(fields.tls.cipher)})`);
  lines.push(`\tby ${fields.hostname} (Mailhaven) with ${fields.protocol} id ${fields.id}`);
  const date = rfc5322Date(fields.date);
  if (fields.recipient !== null) lines.push(`\tfor <${fields.recipient}>; ${date}`);
  else lines[lines.length - 1] += `; ${date}`;
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');
}

function heloText(helo: HeloHost | null, remoteAddress: string): string {
  if (helo === null || helo.kind === 'invalid') return addressLiteral(remoteAddress);
  return helo.kind === 'domain' ? helo.domain : helo.text;
}

/** RFC 5321 4.1.3: "[192.0.2.1]" or "[IPv6:2001:db8::1]". */
function addressLiteral(ip: string): string {
  return isIPv6(ip) ? `[IPv6:${ip}]` : `[${ip}]`;
}

/** TLS names are library output, but keep them to token characters all the same. */
function sanitizeToken(value: string): string {
  return value.replace(/[^A-Za-z0-9._+-]/g, '_');
}


/** RFC 5322 3.6.4 msg-id: "<" id-left "@" id-right ">", unique by randomness. */
export function newMessageId(hostname: string, date: Date): string {
  return `<${date.getTime().toString(36)}.${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}@${hostname}>`;
}

/** Which of the fields an MSA may add are present in a header block (field names at line starts). */
export function presentFields(header: Buffer): { date: boolean; messageId: boolean } {
  // Field names are ASCII (RFC 5322 3.6.8); latin1 maps bytes 1:1 so offsets do not matter.
  const text = header.toString('latin1');
  return {
    date: /(?:^|\r?\n)date[ \t]*:/i.test(text),
    messageId: /(?:^|\r?\n)message-id[ \t]*:/i.test(text),
  };
}
