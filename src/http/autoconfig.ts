/**
 * Documents that let mail clients configure themselves from an address alone:
 * - Thunderbird autoconfig, `config-v1.1.xml` (wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat,
 *   as read by Thunderbird's readFromXML);
 * - Outlook autodiscover, the POX response of [MS-OXDSCLI] (also read by Thunderbird), and the
 *   "v2" JSON that points Outlook at it;
 * - Apple configuration profiles (`.mobileconfig`), a property list with one
 *   com.apple.mail.managed payload.
 *
 * All are pure functions of ClientSettings (./client-settings.ts); src/http/public.ts serves them.
 * No document ever contains a password.
 * @module
 */
import { createHash } from 'node:crypto';
import type { ClientEndpoint, ClientSettings } from './client-settings.js';
import { element, renderXml } from './xml.js';
import type { XmlElement } from './xml.js';

/** Thunderbird replaces this with the address the user typed. */
export const EMAIL_PLACEHOLDER = '%EMAILADDRESS%';

/**
 * Thunderbird's clientConfig. `email` null: the username is the placeholder, so one document
 * serves every user of the domain. The first incomingServer and outgoingServer are the ones
 * Thunderbird proposes; the others are alternatives.
 */
export function thunderbirdConfig(settings: ClientSettings, domain: string, email: string | null): string {
  const username = email ?? EMAIL_PLACEHOLDER;
  const server = (tag: 'incomingServer' | 'outgoingServer', endpoint: ClientEndpoint): XmlElement =>
    element(
      tag,
      [
        element('hostname', endpoint.hostname),
        element('port', String(endpoint.port)),
        element('socketType', endpoint.tls === 'implicit' ? 'SSL' : 'STARTTLS'),
        element('username', username),
        // The password travels inside TLS: PLAIN/LOGIN over TLS, USER/PASS after STLS (docs/auth.md).
        element('authentication', 'password-cleartext'),
      ],
      { type: endpoint.service === 'submission' ? 'smtp' : endpoint.service },
    );
  const provider = element(
    'emailProvider',
    [
      element('domain', domain),
      element('displayName', `${domain} mail`),
      element('displayShortName', domain),
      ...settings.incoming.map((endpoint) => server('incomingServer', endpoint)),
      ...settings.outgoing.map((endpoint) => server('outgoingServer', endpoint)),
    ],
    { id: domain },
  );
  return renderXml(element('clientConfig', [provider], { version: '1.1' }));
}

export const AUTODISCOVER_RESPONSE_NS = 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006';
export const OUTLOOK_RESPONSE_SCHEMA = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a';

/**
 * The Outlook POX autodiscover response ([MS-OXDSCLI] 2.2.4): one Protocol element per service,
 * most preferred first. `SSL on` means TLS; Encryption says which kind (Outlook reads "SSL" as
 * TLS from the first byte and "TLS" as STARTTLS; Thunderbird falls back to the port).
 * SPA off: no NTLM/Kerberos. `email` null leaves LoginName out (the client uses the address).
 */
export function autodiscoverResponse(settings: ClientSettings, email: string | null): string {
  const protocol = (endpoint: ClientEndpoint): XmlElement =>
    element('Protocol', [
      element('Type', endpoint.service === 'submission' ? 'SMTP' : endpoint.service.toUpperCase()),
      element('Server', endpoint.hostname),
      element('Port', String(endpoint.port)),
      element('DomainRequired', 'off'),
      ...(email === null ? [] : [element('LoginName', email)]),
      element('SPA', 'off'),
      element('SSL', 'on'),
      element('Encryption', endpoint.tls === 'implicit' ? 'SSL' : 'TLS'),
      element('AuthRequired', 'on'),
    ]);
  const account = element('Account', [
    element('AccountType', 'email'),
    element('Action', 'settings'),
    ...[...settings.incoming, ...settings.outgoing].map(protocol),
  ]);
  const response = element('Response', [account], { xmlns: OUTLOOK_RESPONSE_SCHEMA });
  return renderXml(element('Autodiscover', [response], { xmlns: AUTODISCOVER_RESPONSE_NS }));
}

/** [MS-OXDISCO] error codes: 600 invalid request, 601 requested schema not available. */
export type AutodiscoverErrorCode = 600 | 601;

export function autodiscoverError(code: AutodiscoverErrorCode, message: string, now: Date): string {
  const time = now.toISOString().slice(11, 19); // hh:mm:ss, as Exchange writes it
  const error = element(
    'Error',
    [element('ErrorCode', String(code)), element('Message', message), element('DebugData')],
    { Time: time, Id: String(now.getTime() % 0x7fffffff) },
  );
  return renderXml(element('Autodiscover', [element('Response', [error])], { xmlns: AUTODISCOVER_RESPONSE_NS }));
}

/**
 * The e-mail address of a POX autodiscover request: `<Request><EMailAddress>`. The request is
 * tiny and fixed; a full XML parser would add attack surface for nothing, so this reads the
 * element text (namespace prefix allowed) and nothing else. Null when absent.
 */
export function requestedEmailAddress(body: string): { email: string | null; schema: string | null } {
  const text = (name: string): string | null => {
    const match = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${name}\\b[^>]*>([^<]*)</(?:[A-Za-z_][\\w.-]*:)?${name}\\s*>`).exec(body);
    return match?.[1]?.trim() ?? null;
  };
  return { email: text('EMailAddress'), schema: text('AcceptableResponseSchema') };
}

/**
 * The autodiscover v2 answer for Protocol=AutodiscoverV1: where the POX endpoint is. Outlook only
 * follows https URLs, so the reverse proxy in front of the listener must serve TLS (docs/http.md).
 */
export function autodiscoverV2(host: string): { Protocol: 'AutodiscoverV1'; Url: string } {
  return { Protocol: 'AutodiscoverV1', Url: `https://${host}/autodiscover/autodiscover.xml` };
}

/**
 * An Apple configuration profile with one mail account (developer.apple.com/documentation/
 * devicemanagement/mail). Unsigned and without a password: the device asks for it when the
 * profile is installed. UUIDs are derived from the address and host name, so downloading the
 * profile again replaces the installed one instead of adding a second account.
 */
export function appleMobileConfig(settings: ClientSettings, email: string): string | null {
  const incoming = settings.incoming.find((endpoint) => endpoint.service === 'imap');
  const outgoing = settings.outgoing[0];
  if (incoming === undefined || outgoing === undefined) return null;
  const [localPart = '', domain = ''] = splitAddress(email);
  const identifier = `${domain.split('.').reverse().join('.')}.${localPart.replace(/[^A-Za-z0-9-]/g, '-')}.mailhaven`;
  const account: PlistDict = {
    EmailAccountDescription: email,
    EmailAccountName: email,
    EmailAccountType: 'EmailTypeIMAP',
    EmailAddress: email,
    IncomingMailServerAuthentication: 'EmailAuthPassword',
    IncomingMailServerHostName: incoming.hostname,
    IncomingMailServerPortNumber: incoming.port,
    // "UseSSL" is TLS from the first byte; false makes Mail use STARTTLS when offered.
    IncomingMailServerUseSSL: incoming.tls === 'implicit',
    IncomingMailServerUsername: email,
    OutgoingMailServerAuthentication: 'EmailAuthPassword',
    OutgoingMailServerHostName: outgoing.hostname,
    OutgoingMailServerPortNumber: outgoing.port,
    OutgoingMailServerUseSSL: outgoing.tls === 'implicit',
    OutgoingMailServerUsername: email,
    OutgoingPasswordSameAsIncomingPassword: true,
    PayloadDescription: `Mail account ${email}`,
    PayloadDisplayName: email,
    PayloadIdentifier: `${identifier}.account`,
    PayloadType: 'com.apple.mail.managed',
    PayloadUUID: stableUuid(`account\n${email}\n${settings.hostname}`),
    PayloadVersion: 1,
  };
  const profile: PlistDict = {
    PayloadContent: [account],
    PayloadDescription: `Sets up the mail account ${email}`,
    PayloadDisplayName: `${email} (mail)`,
    PayloadIdentifier: identifier,
    PayloadRemovalDisallowed: false,
    PayloadType: 'Configuration',
    PayloadUUID: stableUuid(`profile\n${email}\n${settings.hostname}`),
    PayloadVersion: 1,
  };
  return plist(profile);
}

type PlistValue = string | number | boolean | PlistDict | PlistValue[];
interface PlistDict {
  [key: string]: PlistValue;
}

/** XML property list 1.0: keys in the order given, integers as <integer>, booleans as <true/>/<false/>. */
function plist(root: PlistDict): string {
  const prolog =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n';
  return renderXml(element('plist', [plistElement(root)], { version: '1.0' }), prolog);
}

function plistElement(value: PlistValue): XmlElement {
  if (typeof value === 'string') return element('string', value);
  if (typeof value === 'number') return element('integer', String(Math.trunc(value)));
  if (typeof value === 'boolean') return element(value ? 'true' : 'false');
  if (Array.isArray(value)) return element('array', value.map(plistElement));
  return element(
    'dict',
    Object.entries(value).flatMap(([key, item]) => [element('key', key), plistElement(item)]),
  );
}

/** An RFC 4122 version-4-shaped UUID from a SHA-256, upper case as Apple writes them. */
function stableUuid(seed: string): string {
  const bytes = createHash('sha256').update(seed, 'utf8').digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function splitAddress(email: string): [string, string] {
  const at = email.lastIndexOf('@');
  return [email.slice(0, at), email.slice(at + 1)];
}

/** For tests and the docs: the filename Apple devices see. */
export function mobileConfigFilename(email: string): string {
  return `${email.replace(/[^A-Za-z0-9@._-]/g, '_')}.mobileconfig`;
}
