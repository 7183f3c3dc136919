/**
 * Client autoconfiguration on the `http` listener, each document parsed (strict XML) and read
 * the way its client reads it: Thunderbird's readFromXML rules for config-v1.1.xml, the
 * [MS-OXDSCLI] POX response for Outlook (and Thunderbird's reading of it), Apple's property list
 * with a com.apple.mail.managed payload, and the RFC 8461 MTA-STS policy.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { HttpHandlerOptions } from '../src/http/index.js';
import { httpRequest } from './helpers/http.js';
import type { HttpResponse } from './helpers/http.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';
import { all, childNames, only, parseXml, textOf } from './helpers/xml.js';
import type { XmlNode } from './helpers/xml.js';

const HOST = 'mx.test.example';
/** The ports clients are told (the test listeners themselves are ephemeral). */
const CLIENT_PORTS = { imaps: 993, imap: 143, pop3s: 995, pop3: 110, submissions: 465, submission: 587 };

async function autoconfigServer(t: TestContext, http: HttpHandlerOptions = {}): Promise<TestServer> {
  const server = await startTestServer(t, { listeners: ['http'], protocols: { http: { client: { ports: CLIENT_PORTS }, ...http } } });
  await server.addDomain('example.org');
  await server.addDomain('second.example');
  return server;
}

async function get(server: TestServer, path: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
  return httpRequest(server.port('http'), path, { headers });
}

// ---- Thunderbird -----------------------------------------------------------------------

interface ThunderbirdServer {
  type: string;
  hostname: string;
  port: number;
  socketType: string;
  username: string;
  authentication: string;
}

/**
 * What Thunderbird's readFromXML accepts (mozilla/releases-comm-central, accountcreation):
 * clientConfig > emailProvider with an id, at least one <domain>; servers with a known type,
 * a host name, a port 1..65535, a username, socketType plain/SSL/STARTTLS and a known
 * authentication value; outgoing servers of type smtp. Anything else throws here too.
 */
function readLikeThunderbird(xml: string): { id: string; domains: string[]; incoming: ThunderbirdServer[]; outgoing: ThunderbirdServer[] } {
  const doc = parseXml(xml);
  assert.equal(doc.root.name, 'clientConfig');
  assert.equal(doc.root.attributes.version, '1.1');
  const provider = only(doc.root, 'emailProvider');
  const id = provider.attributes.id ?? '';
  assert.match(id, /^[a-z0-9.-]+$/);
  const domains = all(provider, 'domain').map((domain) => domain.text);
  assert.ok(domains.length > 0, 'need proper <domain> in XML');
  const server = (node: XmlNode, types: string[], auths: string[]): ThunderbirdServer => {
    const type = node.attributes.type ?? '';
    assert.ok(types.includes(type), `server type ${type}`);
    const port = Number(textOf(node, 'port'));
    assert.ok(Number.isInteger(port) && port >= 1 && port <= 65535, `port ${port}`);
    const socketType = textOf(node, 'socketType');
    assert.ok(['plain', 'SSL', 'STARTTLS'].includes(socketType), `socketType ${socketType}`);
    const authentication = textOf(node, 'authentication');
    assert.ok(auths.includes(authentication), `authentication ${authentication}`);
    const hostname = textOf(node, 'hostname');
    assert.match(hostname, /^[a-z0-9.-]+$/);
    return { type, hostname, port, socketType, username: textOf(node, 'username'), authentication };
  };
  const incoming = all(provider, 'incomingServer').map((node) => server(node, ['pop3', 'imap', 'nntp', 'exchange'], ['password-cleartext', 'password-encrypted', 'GSSAPI', 'NTLM', 'OAuth2']));
  const outgoing = all(provider, 'outgoingServer').map((node) => server(node, ['smtp'], ['none', 'client-IP-address', 'smtp-after-pop', 'password-cleartext', 'password-encrypted', 'GSSAPI', 'NTLM', 'OAuth2']));
  assert.ok(incoming.length > 0, 'Need proper <incomingServer> in XML file');
  assert.ok(outgoing.length > 0, 'Need proper <outgoingServer> in XML file');
  return { id, domains, incoming, outgoing };
}

function expectedServers(username: string): { incoming: ThunderbirdServer[]; outgoing: ThunderbirdServer[] } {
  const entry = (type: string, port: number, socketType: string): ThunderbirdServer => ({ type, hostname: HOST, port, socketType, username, authentication: 'password-cleartext' });
  return {
    incoming: [entry('imap', 993, 'SSL'), entry('imap', 143, 'STARTTLS'), entry('pop3', 995, 'SSL'), entry('pop3', 110, 'STARTTLS')],
    outgoing: [entry('smtp', 465, 'SSL'), entry('smtp', 587, 'STARTTLS')],
  };
}

test('Thunderbird autoconfig with emailaddress: the account, implicit TLS first, as readFromXML reads it', async (t) => {
  const server = await autoconfigServer(t);
  for (const path of ['/.well-known/autoconfig/mail/config-v1.1.xml', '/mail/config-v1.1.xml']) {
    const response = await get(server, `${path}?emailaddress=Alice%40Example.ORG`);
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'application/xml; charset=utf-8');
    assert.equal(response.headers['cache-control'], 'no-store');
    const config = readLikeThunderbird(response.body);
    assert.equal(config.id, 'example.org');
    assert.deepEqual(config.domains, ['example.org']);
    assert.deepEqual({ incoming: config.incoming, outgoing: config.outgoing }, expectedServers('alice@example.org'));
  }
});

test('Thunderbird autoconfig without emailaddress is never a 4xx: placeholder username, domain from the Host', async (t) => {
  const server = await autoconfigServer(t);
  const cases: Array<{ path: string; host: string; domain: string }> = [
    { path: '/mail/config-v1.1.xml', host: 'autoconfig.second.example', domain: 'second.example' },
    { path: '/.well-known/autoconfig/mail/config-v1.1.xml', host: 'second.example', domain: 'second.example' },
    // A Host that is not one of ours (an IP, another name): the first domain.
    { path: '/mail/config-v1.1.xml', host: '127.0.0.1:8025', domain: 'example.org' },
    { path: '/mail/config-v1.1.xml?emailaddress=', host: 'nowhere.test', domain: 'example.org' },
    { path: '/mail/config-v1.1.xml?emailaddress=not%20an%20address', host: 'autoconfig.example.org', domain: 'example.org' },
  ];
  for (const { path, host, domain } of cases) {
    const response = await get(server, path, { Host: host });
    assert.equal(response.status, 200, `${path} Host ${host}`);
    const config = readLikeThunderbird(response.body);
    assert.equal(config.id, domain);
    assert.deepEqual(config.domains, [domain]);
    assert.deepEqual({ incoming: config.incoming, outgoing: config.outgoing }, expectedServers('%EMAILADDRESS%'));
  }
});

test('Thunderbird autoconfig: no domains yet gives the host name; an address of a foreign domain is 404', async (t) => {
  const server = await startTestServer(t, { listeners: ['http'], protocols: { http: { client: { ports: CLIENT_PORTS } } } });
  const fallback = await get(server, '/mail/config-v1.1.xml');
  assert.equal(fallback.status, 200);
  assert.equal(readLikeThunderbird(fallback.body).id, HOST);
  const foreign = await get(server, '/mail/config-v1.1.xml?emailaddress=bob%40elsewhere.test');
  assert.equal(foreign.status, 404);
  assert.equal(foreign.body, 'elsewhere.test is not a domain of this server\n');
});

test('Thunderbird autoconfig escapes the address: characters XML reserves survive the round trip', async (t) => {
  const server = await autoconfigServer(t);
  const response = await get(server, `/mail/config-v1.1.xml?emailaddress=${encodeURIComponent("o'neil&co@example.org")}`);
  assert.equal(response.status, 200);
  assert.match(response.body, /<username>o&apos;neil&amp;co@example\.org<\/username>/);
  assert.equal(readLikeThunderbird(response.body).incoming[0]?.username, "o'neil&co@example.org");
});

test('autoconfig lists only the listeners that exist: STARTTLS-only IMAP and submission', async (t) => {
  const server = await startTestServer(t, { listeners: ['http'], protocols: { http: { client: { ports: { imap: 143, submission: 587 }, hostname: 'Mail.Example.ORG' } } } });
  await server.addDomain('example.org');
  const config = readLikeThunderbird((await get(server, '/mail/config-v1.1.xml?emailaddress=a%40example.org')).body);
  assert.deepEqual(
    config.incoming.map((s) => [s.type, s.hostname, s.port, s.socketType]),
    [['imap', 'mail.example.org', 143, 'STARTTLS']],
  );
  assert.deepEqual(
    config.outgoing.map((s) => [s.type, s.hostname, s.port, s.socketType]),
    [['smtp', 'mail.example.org', 587, 'STARTTLS']],
  );
});

// ---- Outlook ---------------------------------------------------------------------------

const REQUEST_NS = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006';
const RESPONSE_NS = 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006';
const OUTLOOK_NS = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a';

function outlookRequest(email: string, schema = OUTLOOK_NS): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="${REQUEST_NS}">
  <Request>
    <EMailAddress>${email}</EMailAddress>
    <AcceptableResponseSchema>${schema}</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;
}

async function autodiscover(server: TestServer, body: string, path = '/autodiscover/autodiscover.xml'): Promise<HttpResponse> {
  return httpRequest(server.port('http'), path, { method: 'POST', headers: { 'Content-Type': 'text/xml; charset=utf-8' }, body });
}

interface OutlookProtocol {
  Type: string;
  Server: string;
  Port: string;
  LoginName?: string;
  SSL: string;
  Encryption: string;
  SPA: string;
  AuthRequired: string;
  DomainRequired: string;
}

/** The POX response shape of [MS-OXDSCLI] 2.2.4: Autodiscover > Response (2006a) > Account > Protocol*. */
function readOutlookResponse(xml: string): { accountType: string; action: string; protocols: OutlookProtocol[] } {
  const doc = parseXml(xml);
  assert.equal(doc.root.name, 'Autodiscover');
  assert.equal(doc.root.attributes.xmlns, RESPONSE_NS);
  const response = only(doc.root, 'Response');
  assert.equal(response.attributes.xmlns, OUTLOOK_NS);
  const account = only(response, 'Account');
  const protocols = all(account, 'Protocol').map((node) => Object.fromEntries(node.children.map((child) => [child.name, child.text])) as unknown as OutlookProtocol);
  return { accountType: textOf(account, 'AccountType'), action: textOf(account, 'Action'), protocols };
}

/** How Thunderbird's ExchangeAutoDiscover reads a Protocol: TLS unless SSL off or Encryption None; STARTTLS on the standard plain ports. */
function thunderbirdSocketType(protocol: OutlookProtocol): string {
  if (protocol.SSL.toLowerCase() === 'off' || protocol.Encryption.toLowerCase() === 'none') return 'plain';
  return ['143', '110', '25', '587'].includes(protocol.Port) ? 'STARTTLS' : 'SSL';
}

test('Outlook autodiscover (POX): settings for the address, readable by Outlook and Thunderbird', async (t) => {
  const server = await autoconfigServer(t);
  for (const path of ['/autodiscover/autodiscover.xml', '/Autodiscover/Autodiscover.xml']) {
    const response = await autodiscover(server, outlookRequest('Alice@Example.org'), path);
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'application/xml; charset=utf-8');
    const parsed = readOutlookResponse(response.body);
    assert.equal(parsed.accountType, 'email');
    assert.equal(parsed.action, 'settings');
    const protocol = (Type: string, Port: string, Encryption: string): OutlookProtocol => ({
      Type,
      Server: HOST,
      Port,
      DomainRequired: 'off',
      LoginName: 'alice@example.org',
      SPA: 'off',
      SSL: 'on',
      Encryption,
      AuthRequired: 'on',
    });
    assert.deepEqual(parsed.protocols, [
      protocol('IMAP', '993', 'SSL'),
      protocol('IMAP', '143', 'TLS'),
      protocol('POP3', '995', 'SSL'),
      protocol('POP3', '110', 'TLS'),
      protocol('SMTP', '465', 'SSL'),
      protocol('SMTP', '587', 'TLS'),
    ]);
    assert.deepEqual(parsed.protocols.map(thunderbirdSocketType), ['SSL', 'STARTTLS', 'SSL', 'STARTTLS', 'SSL', 'STARTTLS']);
    // Each Protocol has its elements in the schema's order.
    const first = only(only(parseXml(response.body).root, 'Response'), 'Account').children.find((child) => child.name === 'Protocol');
    assert.deepEqual(childNames(first!), ['Type', 'Server', 'Port', 'DomainRequired', 'LoginName', 'SPA', 'SSL', 'Encryption', 'AuthRequired']);
  }
});

test('Outlook autodiscover without an address, or by GET: settings without LoginName, never a 4xx', async (t) => {
  const server = await autoconfigServer(t);
  const answers = [
    await autodiscover(server, `<Autodiscover xmlns="${REQUEST_NS}"><Request><AcceptableResponseSchema>${OUTLOOK_NS}</AcceptableResponseSchema></Request></Autodiscover>`),
    await autodiscover(server, ''),
    await get(server, '/autodiscover/autodiscover.xml'),
  ];
  for (const response of answers) {
    assert.equal(response.status, 200);
    const parsed = readOutlookResponse(response.body);
    assert.equal(parsed.protocols.length, 6);
    assert.ok(parsed.protocols.every((protocol) => protocol.LoginName === undefined));
  }
});

test('Outlook autodiscover errors: ActiveSync schema is 601, a foreign domain 600, both well-formed', async (t) => {
  const server = await autoconfigServer(t);
  const cases: Array<[string, string]> = [
    [outlookRequest('alice@example.org', 'http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006'), '601'],
    [outlookRequest('bob@elsewhere.test'), '600'],
  ];
  for (const [body, code] of cases) {
    const response = await autodiscover(server, body);
    assert.equal(response.status, 200);
    const doc = parseXml(response.body);
    assert.equal(doc.root.attributes.xmlns, RESPONSE_NS);
    const error = only(only(doc.root, 'Response'), 'Error');
    assert.equal(textOf(error, 'ErrorCode'), code);
    assert.match(error.attributes.Time ?? '', /^\d\d:\d\d:\d\d$/);
  }
});

test('autodiscover v2 (JSON): AutodiscoverV1 points at the POX endpoint on the host asked; other protocols are 400', async (t) => {
  const server = await autoconfigServer(t);
  const ok = await get(server, '/autodiscover/autodiscover.json/v1.0/alice@example.org?Protocol=AutodiscoverV1', { Host: 'autodiscover.example.org' });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['content-type'], 'application/json; charset=utf-8');
  assert.deepEqual(JSON.parse(ok.body), { Protocol: 'AutodiscoverV1', Url: 'https://autodiscover.example.org/autodiscover/autodiscover.xml' });
  const query = await get(server, '/Autodiscover/Autodiscover.json?Email=alice@example.org&Protocol=autodiscoverv1&RedirectCount=1', { Host: 'Autodiscover.Example.org' });
  assert.deepEqual(JSON.parse(query.body), { Protocol: 'AutodiscoverV1', Url: 'https://autodiscover.example.org/autodiscover/autodiscover.xml' });
  const other = await get(server, '/autodiscover/autodiscover.json/v1.0/alice@example.org?Protocol=ActiveSync<x>');
  assert.equal(other.status, 400);
  assert.deepEqual(JSON.parse(other.body), {
    ErrorCode: 'InvalidProtocol',
    ErrorMessage: "The given protocol value 'ActiveSyncx' is invalid. Supported values are 'AutodiscoverV1'",
  });
});

// ---- Apple -----------------------------------------------------------------------------

type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

/** An XML property list value (Apple's PropertyList-1.0 DTD): dict keys alternate with values. */
function plistValue(node: XmlNode): PlistValue {
  switch (node.name) {
    case 'string':
      return node.text;
    case 'integer':
      assert.match(node.text, /^-?\d+$/);
      return Number(node.text);
    case 'true':
    case 'false':
      assert.equal(node.children.length, 0);
      return node.name === 'true';
    case 'array':
      return node.children.map(plistValue);
    case 'dict': {
      const dict: Record<string, PlistValue> = {};
      assert.equal(node.children.length % 2, 0, 'dict: key/value pairs');
      for (let i = 0; i < node.children.length; i += 2) {
        const key = node.children[i]!;
        assert.equal(key.name, 'key');
        assert.ok(!(key.text in dict), `duplicate key ${key.text}`);
        dict[key.text] = plistValue(node.children[i + 1]!);
      }
      return dict;
    }
    default:
      throw new Error(`not a plist element: <${node.name}>`);
  }
}

const UUID = /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/;

test('Apple .mobileconfig: a plist Configuration profile with one com.apple.mail.managed payload', async (t) => {
  const server = await autoconfigServer(t);
  const response = await get(server, '/apple/mobileconfig?email=Alice%40example.org');
  assert.equal(response.status, 200);
  assert.equal(response.headers['content-type'], 'application/x-apple-aspen-config; charset=utf-8');
  assert.equal(response.headers['content-disposition'], 'attachment; filename="alice@example.org.mobileconfig"');
  const doc = parseXml(response.body);
  assert.equal(doc.declaration.encoding, 'UTF-8');
  assert.equal(doc.doctype, 'plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd"');
  assert.equal(doc.root.name, 'plist');
  assert.equal(doc.root.attributes.version, '1.0');
  assert.equal(doc.root.children.length, 1);
  const profile = plistValue(doc.root.children[0]!) as Record<string, PlistValue>;
  const [account, ...more] = profile.PayloadContent as Array<Record<string, PlistValue>>;
  assert.equal(more.length, 0);
  const { PayloadUUID: profileUuid, PayloadContent: _content, ...profileRest } = profile;
  assert.equal(typeof profileUuid, 'string');
  assert.match(profileUuid as string, UUID);
  assert.deepEqual(profileRest, {
    PayloadDescription: 'Sets up the mail account alice@example.org',
    PayloadDisplayName: 'alice@example.org (mail)',
    PayloadIdentifier: 'org.example.alice.mailhaven',
    PayloadRemovalDisallowed: false,
    PayloadType: 'Configuration',
    PayloadVersion: 1,
  });
  const { PayloadUUID: accountUuid, ...accountRest } = account!;
  assert.equal(typeof accountUuid, 'string');
  assert.match(accountUuid as string, UUID);
  assert.notEqual(accountUuid, profileUuid);
  assert.deepEqual(accountRest, {
    EmailAccountDescription: 'alice@example.org',
    EmailAccountName: 'alice@example.org',
    EmailAccountType: 'EmailTypeIMAP',
    EmailAddress: 'alice@example.org',
    IncomingMailServerAuthentication: 'EmailAuthPassword',
    IncomingMailServerHostName: HOST,
    IncomingMailServerPortNumber: 993,
    IncomingMailServerUseSSL: true,
    IncomingMailServerUsername: 'alice@example.org',
    OutgoingMailServerAuthentication: 'EmailAuthPassword',
    OutgoingMailServerHostName: HOST,
    OutgoingMailServerPortNumber: 465,
    OutgoingMailServerUseSSL: true,
    OutgoingMailServerUsername: 'alice@example.org',
    OutgoingPasswordSameAsIncomingPassword: true,
    PayloadDescription: 'Mail account alice@example.org',
    PayloadDisplayName: 'alice@example.org',
    PayloadIdentifier: 'org.example.alice.mailhaven.account',
    PayloadType: 'com.apple.mail.managed',
    PayloadVersion: 1,
  });
  // Downloading again gives the same UUIDs: the device replaces the profile instead of adding one.
  assert.equal((await get(server, '/apple/mobileconfig?email=alice%40example.org')).body, response.body);
  assert.doesNotMatch(response.body, /Password<\/key>\s*<string>/);
});

test('Apple .mobileconfig: the address is required (400) and must be in one of our domains (404)', async (t) => {
  const server = await autoconfigServer(t);
  const missing = await get(server, '/apple/mobileconfig');
  assert.equal(missing.status, 400);
  assert.equal(missing.body, 'give the account as ?email=user@example.org\n');
  assert.equal((await get(server, '/apple/mobileconfig?email=nonsense')).status, 400);
  const foreign = await get(server, '/apple/mobileconfig?email=bob%40elsewhere.test');
  assert.equal(foreign.status, 404);
  assert.equal(foreign.body, 'elsewhere.test is not a domain of this server\n');
});

// ---- MTA-STS -------------------------------------------------------------------------

/** RFC 8461 3.2: CRLF lines "key: value"; version first... parsed per the ABNF, fields collected. */
function parseStsPolicy(text: string): Map<string, string[]> {
  assert.ok(text.endsWith('\r\n'));
  const fields = new Map<string, string[]>();
  for (const line of text.slice(0, -2).split('\r\n')) {
    const match = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,31}):[ \t]*(\S(?:.*\S)?)$/.exec(line);
    assert.ok(match, `policy line ${JSON.stringify(line)}`);
    fields.set(match[1]!, [...(fields.get(match[1]!) ?? []), match[2]!]);
  }
  return fields;
}

test('MTA-STS: 404 when not configured; the RFC 8461 policy as text/plain when it is', async (t) => {
  const plain = await autoconfigServer(t);
  const none = await get(plain, '/.well-known/mta-sts.txt', { Host: 'mta-sts.example.org' });
  assert.equal(none.status, 404);

  const server = await autoconfigServer(t, { mtaSts: { mode: 'enforce' } });
  const response = await get(server, '/.well-known/mta-sts.txt', { Host: 'mta-sts.example.org' });
  assert.equal(response.status, 200);
  assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(response.body, `version: STSv1\r\nmode: enforce\r\nmx: ${HOST}\r\nmax_age: 604800\r\n`);
  const policy = parseStsPolicy(response.body);
  assert.deepEqual(policy.get('version'), ['STSv1']);
  assert.deepEqual(policy.get('mode'), ['enforce']);
  assert.deepEqual(policy.get('mx'), [HOST]);
  assert.deepEqual(policy.get('max_age'), ['604800']);

  const custom = await autoconfigServer(t, { mtaSts: { mode: 'testing', mx: ['mx1.example.org', '*.example.net'], maxAgeSeconds: 99_999_999 } });
  const text = (await get(custom, '/.well-known/mta-sts.txt')).body;
  assert.equal(text, 'version: STSv1\r\nmode: testing\r\nmx: mx1.example.org\r\nmx: *.example.net\r\nmax_age: 31557600\r\n');
});

test('[mta_sts] and [client] from the config file reach the policy and the autoconfig documents', async (t) => {
  const server = await startTestServer(t, {
    listeners: ['http'],
    toml: '[mta_sts]\nmode = "enforce"\nmx = ["mx.example.org"]\nmax_age = "1d"\n[client]\nhostname = "mail.example.org"\nports = { imaps = 993, submissions = 465 }\n',
  });
  await server.addDomain('example.org');
  const policy = await get(server, '/.well-known/mta-sts.txt', { Host: 'mta-sts.example.org' });
  assert.equal(policy.body, 'version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmax_age: 86400\r\n');
  const xml = (await get(server, '/mail/config-v1.1.xml?emailaddress=alice%40example.org')).body;
  assert.ok(xml.includes('<hostname>mail.example.org</hostname>'), xml);
  assert.ok(xml.includes('<port>993</port>') && xml.includes('<port>465</port>'), xml);
});

// ---- independent parsers ---------------------------------------------------------------

/**
 * The same documents through parsers we did not write: Python's plistlib (Apple's format,
 * refuses anything that is not a property list) and ElementTree (XML well-formedness and
 * namespaces). python3 is in .ci/debian-packages.
 */
test('the documents pass Python plistlib and ElementTree', async (t) => {
  const server = await autoconfigServer(t);
  const profile = (await get(server, '/apple/mobileconfig?email=alice%40example.org')).body;
  const thunderbird = (await get(server, '/mail/config-v1.1.xml?emailaddress=alice%40example.org')).body;
  const outlook = (await autodiscover(server, outlookRequest('alice@example.org'))).body;
  const script = [
    'import json, plistlib, sys, xml.etree.ElementTree as ET',
    'docs = json.load(sys.stdin)',
    'p = plistlib.loads(docs["profile"].encode())',
    'a = p["PayloadContent"][0]',
    'tb = ET.fromstring(docs["thunderbird"].encode())',
    'ol = ET.fromstring(docs["outlook"].encode())',
    'ns = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"',
    'print(json.dumps([p["PayloadType"], a["PayloadType"], a["IncomingMailServerPortNumber"], a["IncomingMailServerUseSSL"],',
    '  tb.tag, tb.find("emailProvider/incomingServer/port").text,',
    '  ol.tag, [e.text for e in ol.iter(ns + "Type")]]))',
  ].join('\n');
  const result = spawnSync('python3', ['-c', script], { input: JSON.stringify({ profile, thunderbird, outlook }), encoding: 'utf8' });
  assert.equal(result.error, undefined, 'python3 is needed (apt-get install python3)');
  assert.equal(result.stderr, '');
  assert.deepEqual(JSON.parse(result.stdout), [
    'Configuration',
    'com.apple.mail.managed',
    993,
    true,
    'clientConfig',
    '993',
    '{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}Autodiscover',
    ['IMAP', 'IMAP', 'POP3', 'POP3', 'SMTP', 'SMTP'],
  ]);
});

test('the test XML parser is strict: malformed documents are refused', () => {
  const bad = [
    '<a><b></a></b>',
    '<a>fish & chips</a>',
    '<a x="1" x="2"/>',
    '<a>&nbsp;</a>',
    '<a/><b/>',
    '<a>text</a>trailing',
    '<a x=1/>',
    '<a><!-- a -- b --></a>',
  ];
  for (const xml of bad) assert.throws(() => parseXml(xml), /offset/, xml);
  assert.equal(parseXml('<?xml version="1.0"?>\n<a x="&lt;&#65;"> t&amp;t <b/></a>\n').root.attributes.x, '<A');
});
