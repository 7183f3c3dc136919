/**
 * Address and domain syntax for accounts and aliases: RFC 5321 4.1.2 `Mailbox` restricted to
 * a dot-atom local part (no quoted strings, no address literals), lower-cased, with IDN domains
 * converted to their A-label form (`url.domainToASCII`, UTS #46).
 * @module
 */
import { domainToASCII } from 'node:url';
import { AdminError } from './errors.js';

/** RFC 5321 4.5.3.1.1. */
const MAX_LOCAL_PART_OCTETS = 64;
/** RFC 1035 2.3.4: 63 octets a label, 253 characters a name written without the final dot. */
const MAX_LABEL_OCTETS = 63;
const MAX_DOMAIN_OCTETS = 253;
/** RFC 5321 4.5.3.1.3 allows a 256-octet path including "<" and ">": 254 for the address (RFC 3696 errata 1690). */
const MAX_ADDRESS_OCTETS = 254;

/** RFC 5322 3.2.3 atext. */
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
/** RFC 5321 4.1.2 Dot-string = Atom *("." Atom). */
const DOT_STRING = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*$`);
/** RFC 5321 4.1.2 sub-domain = Let-dig [Ldh-str]. */
const SUB_DOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/**
 * Validates a domain name and returns it in canonical form: A-labels, lower case.
 * Throws AdminError('invalidDomain').
 */
export function normalizeDomain(input: string): string {
  const ascii = toAsciiDomain(input);
  const reason = domainProblem(ascii);
  if (reason !== null) throw new AdminError('invalidDomain', `invalid domain "${input}": ${reason}`);
  return ascii;
}

/** UTS #46 ToASCII (lower-cases, maps U-labels to A-labels); '' when not convertible. */
function toAsciiDomain(input: string): string {
  return input === '' ? '' : domainToASCII(input);
}

function domainProblem(ascii: string): string | null {
  if (ascii === '') return 'not a domain name';
  if (ascii.length > MAX_DOMAIN_OCTETS) return `longer than ${MAX_DOMAIN_OCTETS} octets`;
  const labels = ascii.split('.');
  for (const label of labels) {
    if (label === '') return 'empty label';
    if (label.length > MAX_LABEL_OCTETS) return `label longer than ${MAX_LABEL_OCTETS} octets`;
    if (!SUB_DOMAIN.test(label)) return `label "${label}" is not letters, digits and inner hyphens`;
  }
  // An all-numeric last label is an IPv4 address, which needs the address-literal syntax.
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return 'top-level label is numeric';
  return null;
}

export interface ParsedAddress {
  /** Canonical "local@domain". */
  address: string;
  localPart: string;
  domain: string;
}

/**
 * Validates an RFC 5321 Mailbox with a dot-atom local part and returns it lower-cased with an
 * A-label domain. Throws AdminError('invalidAddress').
 */
export function parseAddress(input: string): ParsedAddress {
  const at = input.lastIndexOf('@');
  if (at <= 0 || at === input.length - 1) throw invalidAddress(input, 'expected local-part@domain');
  const localPart = input.slice(0, at).toLowerCase();
  if (!DOT_STRING.test(localPart)) {
    throw invalidAddress(input, 'local part must be a dot-atom (RFC 5321 4.1.2)');
  }
  if (localPart.length > MAX_LOCAL_PART_OCTETS) {
    throw invalidAddress(input, `local part longer than ${MAX_LOCAL_PART_OCTETS} octets`);
  }
  const domain = toAsciiDomain(input.slice(at + 1));
  const reason = domainProblem(domain);
  if (reason !== null) throw invalidAddress(input, `domain: ${reason}`);
  const address = `${localPart}@${domain}`;
  if (address.length > MAX_ADDRESS_OCTETS) {
    throw invalidAddress(input, `longer than ${MAX_ADDRESS_OCTETS} octets`);
  }
  return { address, localPart, domain };
}

export interface ParsedAlias {
  /** True for "@domain": every local part of the domain without an account or alias of its own. */
  catchAll: boolean;
  /** Canonical "local@domain" or "@domain". */
  address: string;
  domain: string;
}

/** An alias source: a mailbox address, or "@domain" for a catch-all. */
export function parseAliasSource(input: string): ParsedAlias {
  if (!input.startsWith('@')) {
    const parsed = parseAddress(input);
    return { catchAll: false, address: parsed.address, domain: parsed.domain };
  }
  const domain = toAsciiDomain(input.slice(1));
  const reason = domainProblem(domain);
  if (reason !== null) throw invalidAddress(input, `domain: ${reason}`);
  return { catchAll: true, address: `@${domain}`, domain };
}

function invalidAddress(input: string, reason: string): AdminError {
  return new AdminError('invalidAddress', `invalid address "${input}": ${reason}`);
}
