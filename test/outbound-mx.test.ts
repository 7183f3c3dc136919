/**
 * MX resolution and host fallback (RFC 5321 5.1, RFC 7505) against a DNS server on loopback
 * (test/helpers/dns-server.ts): MX preference order, equal preferences shuffled, the implicit MX
 * (A records), null MX, NXDOMAIN, SERVFAIL and silent DNS; then whole deliveries where the MX
 * hosts are scripted SMTP servers on 127.0.0.x sharing one port (outbound mxPort).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { decode, encode } from 'dns-packet';
import { createLogger } from '../src/log/index.js';
import { createResolver, resolveAddresses, resolveMx } from '../src/queue/mx.js';
import { createOutboundTransport } from '../src/queue/transport-impl.js';
import type { DomainDeliveryResult } from '../src/queue/transport.js';
import { rr, startDnsServer } from './helpers/dns-server.js';
import type { Zone } from './helpers/dns-server.js';
import { makeRequest, outboundConfig, simpleMessage } from './helpers/outbound.js';
import { startScriptedServer } from './helpers/scripted-smtp-server.js';
import type { Script, ScriptedServer } from './helpers/scripted-smtp-server.js';

const silent = createLogger({ level: 'silent' });

/** A DNS server that answers every query with SERVFAIL (rcode 2). */
async function startServfailServer(t: TestContext): Promise<string> {
  const socket = createSocket('udp4');
  socket.on('message', (message, remote) => {
    const query = decode(message);
    const response = encode({ type: 'response', id: query.id ?? 0, flags: 2, questions: query.questions ?? [], answers: [] });
    socket.send(response, remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return `127.0.0.1:${socket.address().port}`;
}

test('MX records come back in preference order; a host name without MX falls back to its own address', async (t) => {
  const zone: Zone = {
    'multi.example': [rr('MX', 'multi.example', { preference: 20, exchange: 'mx20.multi.example' }), rr('MX', 'multi.example', { preference: 5, exchange: 'MX5.multi.example' })],
    'plain.example': [rr('A', 'plain.example', '127.0.0.9'), rr('AAAA', 'plain.example', '::1')],
    'mx20.multi.example': [rr('A', 'mx20.multi.example', '127.0.0.20')],
  };
  const resolver = createResolver({ servers: [await startDnsServer(t, zone)], timeoutMs: 500, tries: 1 });
  assert.deepEqual(await resolveMx(resolver, 'multi.example'), {
    kind: 'hosts',
    hosts: [
      { name: 'mx5.multi.example', preference: 5, implicit: false },
      { name: 'mx20.multi.example', preference: 20, implicit: false },
    ],
  });
  assert.deepEqual(await resolveMx(resolver, 'plain.example'), { kind: 'hosts', hosts: [{ name: 'plain.example', preference: 0, implicit: true }] });
  assert.deepEqual(await resolveAddresses(resolver, 'plain.example'), { kind: 'addresses', addresses: ['127.0.0.9', '::1'] });
  assert.deepEqual(await resolveAddresses(resolver, 'mx20.multi.example'), { kind: 'addresses', addresses: ['127.0.0.20'] });
});

test('MX hosts of equal preference are shuffled, and stay behind better preferences', async (t) => {
  const zone: Zone = {
    'equal.example': [
      rr('MX', 'equal.example', { preference: 10, exchange: 'a.equal.example' }),
      rr('MX', 'equal.example', { preference: 10, exchange: 'b.equal.example' }),
      rr('MX', 'equal.example', { preference: 1, exchange: 'first.equal.example' }),
    ],
  };
  const resolver = createResolver({ servers: [await startDnsServer(t, zone)], timeoutMs: 500, tries: 1 });
  const orders = new Set<string>();
  for (let i = 0; i < 40 && orders.size < 2; i++) {
    const result = await resolveMx(resolver, 'equal.example');
    assert.equal(result.kind, 'hosts');
    if (result.kind !== 'hosts') return;
    assert.equal(result.hosts[0]?.name, 'first.equal.example');
    orders.add(result.hosts.slice(1).map((host) => host.name).join(','));
  }
  assert.deepEqual([...orders].sort(), ['a.equal.example,b.equal.example', 'b.equal.example,a.equal.example']);
});

test('null MX, NXDOMAIN, no MX and no address, SERVFAIL and silent DNS', async (t) => {
  const zone: Zone = {
    'nomail.example': [rr('MX', 'nomail.example', { preference: 0, exchange: '.' })],
    'empty.example': [rr('TXT', 'empty.example', ['v=spf1 -all'])],
  };
  const resolver = createResolver({ servers: [await startDnsServer(t, zone)], timeoutMs: 500, tries: 1 });
  assert.deepEqual(await resolveMx(resolver, 'nomail.example'), { kind: 'nullMx' });
  assert.equal((await resolveMx(resolver, 'missing.example')).kind, 'noSuchDomain');
  assert.equal((await resolveMx(resolver, 'empty.example')).kind, 'noSuchDomain');
  const servfail = createResolver({ servers: [await startServfailServer(t)], timeoutMs: 500, tries: 1 });
  assert.equal((await resolveMx(servfail, 'any.example')).kind, 'temporary');
  const quiet = createResolver({ servers: [await startDnsServer(t, zone, true)], timeoutMs: 200, tries: 1 });
  const started = Date.now();
  const result = await resolveMx(quiet, 'any.example');
  assert.equal(result.kind, 'temporary');
  assert.ok(Date.now() - started < 3000);
});

/** Scripted SMTP servers on 127.0.0.N, all on one port. */
async function mxServers(t: TestContext, scripts: Record<string, Script>): Promise<{ port: number; servers: Record<string, ScriptedServer> }> {
  const servers: Record<string, ScriptedServer> = {};
  let port = 0;
  for (const [address, script] of Object.entries(scripts)) {
    const server = await startScriptedServer(t, script, { host: address, port });
    port = server.port;
    servers[address] = server;
  }
  return { port, servers };
}

async function deliverVia(t: TestContext, zone: Zone, port: number, domain: string, recipients = [`a@${domain}`], extra = ''): Promise<DomainDeliveryResult> {
  const dns = await startDnsServer(t, zone);
  const { config } = outboundConfig(t, `[outbound]\nmta_sts = false\nresolvers = ["${dns}"]\nconnect_timeout = "2s"\ncommand_timeout = "2s"\n${extra}`);
  const transport = createOutboundTransport(config, silent, { mxPort: port, dnsTimeoutMs: 500, random: () => 0.5 });
  return transport.deliver(domain, makeRequest(recipients, simpleMessage(['via MX'])));
}

const twoMx = (domain: string): Zone => ({
  [domain]: [rr('MX', domain, { preference: 10, exchange: `mx1.${domain}` }), rr('MX', domain, { preference: 20, exchange: `mx2.${domain}` })],
  [`mx1.${domain}`]: [rr('A', `mx1.${domain}`, '127.0.0.2')],
  [`mx2.${domain}`]: [rr('A', `mx2.${domain}`, '127.0.0.3')],
});

test('a 554 greeting on the first MX moves on to the next, which delivers', async (t) => {
  const { port, servers } = await mxServers(t, { '127.0.0.2': { greeting: '554 5.3.2 not now' }, '127.0.0.3': {} });
  const result = await deliverVia(t, twoMx('two.example'), port, 'two.example');
  assert.deepEqual(result.recipients.map((r) => `${r.status} ${r.code}`), ['delivered 250']);
  assert.equal(result.remoteHost, 'mx2.two.example');
  assert.equal(servers['127.0.0.2']?.sessions.length, 1);
  assert.equal(servers['127.0.0.3']?.sessions[0]?.messages.length, 1);
});

test('a refused connection, an EHLO 421 and a MAIL 451 each move on to the next MX', async (t) => {
  const { port, servers } = await mxServers(t, { '127.0.0.3': {} });
  // 127.0.0.2 has nothing listening: connection refused.
  const refused = await deliverVia(t, twoMx('down.example'), port, 'down.example');
  assert.equal(refused.recipients[0]?.status, 'delivered');
  assert.equal(refused.remoteHost, 'mx2.down.example');

  for (const script of [{ ehlo: '421 4.7.0 busy' }, { mail: () => '451 4.3.0 later' }] satisfies Script[]) {
    const { port: p2, servers: s2 } = await mxServers(t, { '127.0.0.4': script, '127.0.0.5': {} });
    const zone: Zone = {
      'busy.example': [rr('MX', 'busy.example', { preference: 10, exchange: 'mx1.busy.example' }), rr('MX', 'busy.example', { preference: 20, exchange: 'mx2.busy.example' })],
      'mx1.busy.example': [rr('A', 'mx1.busy.example', '127.0.0.4')],
      'mx2.busy.example': [rr('A', 'mx2.busy.example', '127.0.0.5')],
    };
    const result = await deliverVia(t, zone, p2, 'busy.example');
    assert.equal(result.recipients[0]?.status, 'delivered', JSON.stringify(script));
    assert.equal(s2['127.0.0.5']?.sessions[0]?.messages.length, 1);
  }
  assert.equal(servers['127.0.0.3']?.sessions.length, 1);
});

test('answers to RCPT are final: a 550 and a 451 from the first MX are not retried on the second', async (t) => {
  const { port, servers } = await mxServers(t, {
    '127.0.0.2': { rcpt: (address) => (address.startsWith('gone') ? '550 5.1.1 gone' : '451 4.2.0 later') },
    '127.0.0.3': {},
  });
  const result = await deliverVia(t, twoMx('final.example'), port, 'final.example', ['gone@final.example', 'later@final.example']);
  assert.deepEqual(result.recipients.map((r) => `${r.status} ${r.code}`), ['failed 550', 'deferred 451']);
  assert.equal(result.remoteHost, 'mx1.final.example');
  assert.equal(servers['127.0.0.3']?.sessions.length, 0);
});

test('every MX answering 5xx at the greeting fails; a mix with temporary failures defers', async (t) => {
  const hard = await mxServers(t, { '127.0.0.2': { greeting: '554 no' }, '127.0.0.3': { greeting: '554 5.7.1 no either' } });
  const failed = await deliverVia(t, twoMx('hard.example'), hard.port, 'hard.example');
  assert.deepEqual(failed.recipients.map((r) => `${r.status} ${r.code} ${r.enhanced}`), ['failed 554 5.7.1']);

  const mixed = await mxServers(t, { '127.0.0.2': { greeting: '421 4.3.2 shutting down' }, '127.0.0.3': { greeting: '554 no' } });
  const deferred = await deliverVia(t, twoMx('mixed.example'), mixed.port, 'mixed.example');
  assert.equal(deferred.recipients[0]?.status, 'deferred');
  assert.equal(deferred.recipients[0]?.code, 421);
});

test('no MX: delivery to the A record of the domain (implicit MX)', async (t) => {
  const { port, servers } = await mxServers(t, { '127.0.0.6': {} });
  const result = await deliverVia(t, { 'implicit.example': [rr('A', 'implicit.example', '127.0.0.6')] }, port, 'implicit.example');
  assert.equal(result.recipients[0]?.status, 'delivered');
  assert.equal(result.remoteHost, 'implicit.example');
  assert.equal(servers['127.0.0.6']?.sessions.length, 1);
});

test('delivery results for null MX (failed 5.1.10), NXDOMAIN (failed 5.1.2), MX without addresses (deferred 4.4.4), silent DNS (deferred 4.4.3)', async (t) => {
  const zone: Zone = {
    'nomail.example': [rr('MX', 'nomail.example', { preference: 0, exchange: '.' })],
    'dangling.example': [rr('MX', 'dangling.example', { preference: 10, exchange: 'nowhere.dangling.example' })],
  };
  const nullMx = await deliverVia(t, zone, 1, 'nomail.example', ['a@nomail.example', 'b@nomail.example']);
  assert.deepEqual(nullMx.recipients.map((r) => `${r.status} ${r.enhanced}`), ['failed 5.1.10', 'failed 5.1.10']);
  const nx = await deliverVia(t, zone, 1, 'missing.example');
  assert.deepEqual(nx.recipients.map((r) => `${r.status} ${r.enhanced}`), ['failed 5.1.2']);
  const dangling = await deliverVia(t, zone, 1, 'dangling.example');
  assert.deepEqual(dangling.recipients.map((r) => `${r.status} ${r.enhanced}`), ['deferred 4.4.4']);
  assert.match(dangling.recipients[0]?.diagnostic ?? '', /nowhere\.dangling\.example/);

  const quiet = await startDnsServer(t, zone, true);
  const { config } = outboundConfig(t, `[outbound]\nmta_sts = false\nresolvers = ["${quiet}"]`);
  const started = Date.now();
  const timedOut = await createOutboundTransport(config, silent, { dnsTimeoutMs: 200 }).deliver('slow.example', makeRequest(['a@slow.example'], simpleMessage(['x'])));
  assert.deepEqual(timedOut.recipients.map((r) => `${r.status} ${r.enhanced}`), ['deferred 4.4.3']);
  assert.ok(Date.now() - started < 5000, 'bounded by the DNS timeout');

  const servfail = await startServfailServer(t);
  const failing = outboundConfig(t, `[outbound]\nmta_sts = false\nresolvers = ["${servfail}"]`).config;
  const result = await createOutboundTransport(failing, silent, { dnsTimeoutMs: 500 }).deliver('broken.example', makeRequest(['a@broken.example'], simpleMessage(['x'])));
  assert.deepEqual(result.recipients.map((r) => `${r.status} ${r.enhanced}`), ['deferred 4.4.3']);
});

test('a route for the domain wins over "*", and "*" wins over MX', async (t) => {
  const { port, servers } = await mxServers(t, { '127.0.0.7': {}, '127.0.0.8': {} });
  const zone: Zone = { 'routed.example': [rr('MX', 'routed.example', { preference: 10, exchange: 'mx.routed.example' })], 'mx.routed.example': [rr('A', 'mx.routed.example', '127.0.0.9')] };
  const routes = `[[routes]]\ndomain = "routed.example"\nhost = "127.0.0.7:${port}"\n[[routes]]\ndomain = "*"\nhost = "127.0.0.8:${port}"`;
  const own = await deliverVia(t, zone, port, 'routed.example', undefined, routes);
  assert.equal(own.recipients[0]?.status, 'delivered');
  const other = await deliverVia(t, zone, port, 'elsewhere.example', undefined, routes);
  assert.equal(other.recipients[0]?.status, 'delivered');
  assert.equal(servers['127.0.0.7']?.sessions.length, 1);
  assert.equal(servers['127.0.0.8']?.sessions.length, 1);
});
