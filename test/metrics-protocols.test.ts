/**
 * Commands on SMTP, IMAP and POP3 are counted once each, by verb and result, in
 * mailhaven_commands_total (src/metrics/attach.ts finds the server's metrics from a session).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpRequest } from './helpers/http.js';
import { ImapTestClient } from './helpers/imap-client.js';
import { Pop3TestClient } from './helpers/pop3-client.js';
import { startTestServer } from './helpers/server.js';
import { SmtpTestClient } from './helpers/smtp-client.js';

/** The value of one series (labels in the order the family declares them), 0 when absent. */
async function sampleValue(httpPort: number, series: string): Promise<number> {
  const response = await httpRequest(httpPort, '/metrics');
  assert.equal(response.status, 200);
  const found = response.body.split('\n').find((row) => row.startsWith(`${series} `));
  return found === undefined ? 0 : Number(found.slice(series.length + 1));
}

function commandCount(httpPort: number, protocol: string, command: string, result: string): Promise<number> {
  return sampleValue(httpPort, `mailhaven_commands_total{protocol="${protocol}",command="${command}",result="${result}"}`);
}

test('SMTP, IMAP and POP3 commands are counted by verb and result', async (t) => {
  const server = await startTestServer(t, { listeners: ['smtp', 'imap', 'pop3', 'http'], toml: '[auth]\nallow_plaintext_on_loopback = true' });
  await server.addDomain('example.org');
  await server.addUser('alice@example.org', 'correct horse battery');
  const http = server.port('http');

  const { client: smtp } = await SmtpTestClient.open(server.port('smtp'));
  assert.equal((await smtp.command('EHLO client.example')).code, 250);
  assert.equal((await smtp.command('NOOP')).code, 250);
  assert.equal((await smtp.command('NOOP')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<alice@example.org>')).code, 503); // no MAIL yet
  assert.equal((await smtp.command('QUIT')).code, 221);

  const imap = await ImapTestClient.login(server.port('imap'), 'alice@example.org', 'correct horse battery');
  assert.match((await imap.exchange('NOOP')).tagged, /^\S+ OK /);
  assert.match((await imap.exchange('SELECT Nowhere')).tagged, /^\S+ NO /);
  assert.match((await imap.exchange('LOGOUT')).tagged, /^\S+ OK /);

  const { client: pop3 } = await Pop3TestClient.connect(server.port('pop3'));
  assert.match(await pop3.command('USER alice@example.org'), /^\+OK/);
  assert.match(await pop3.command('PASS wrong password'), /^-ERR/);
  assert.match(await pop3.command('QUIT'), /^\+OK/);

  assert.equal(await commandCount(http, 'smtp', 'EHLO', 'ok'), 1);
  assert.equal(await commandCount(http, 'smtp', 'NOOP', 'ok'), 2);
  assert.equal(await commandCount(http, 'smtp', 'RCPT', 'permfail'), 1);
  assert.equal(await commandCount(http, 'smtp', 'QUIT', 'ok'), 1);
  assert.equal(await commandCount(http, 'imap', 'LOGIN', 'ok'), 1);
  assert.equal(await commandCount(http, 'imap', 'NOOP', 'ok'), 1);
  assert.equal(await commandCount(http, 'imap', 'SELECT', 'no'), 1);
  assert.equal(await commandCount(http, 'imap', 'LOGOUT', 'ok'), 1);
  assert.equal(await commandCount(http, 'pop3', 'USER', 'ok'), 1);
  assert.equal(await commandCount(http, 'pop3', 'PASS', 'no'), 1);
  assert.equal(await commandCount(http, 'pop3', 'QUIT', 'ok'), 1);
});

test('SMTP counts local deliveries per recipient and refusals by reason', async (t) => {
  const server = await startTestServer(t, { listeners: ['smtp', 'http'] });
  await server.addDomain('example.org');
  await server.addUser('alice@example.org', 'correct horse battery');
  await server.addUser('bob@example.org', 'correct horse battery');
  const http = server.port('http');

  const { client: smtp } = await SmtpTestClient.open(server.port('smtp'));
  assert.equal((await smtp.command('EHLO client.example')).code, 250);
  assert.equal((await smtp.command('MAIL FROM:<ann@example.net>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<alice@example.org>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<bob@example.org>')).code, 250);
  assert.equal((await smtp.command('RCPT TO:<nobody@example.org>')).code, 550);
  assert.equal((await smtp.command('RCPT TO:<carol@remote.example>')).code, 554);
  const [, accepted] = await smtp.data('Subject: hi\r\n\r\nHello.\r\n');
  assert.equal(accepted.code, 250);
  assert.equal((await smtp.command('QUIT')).code, 221);

  assert.equal(await sampleValue(http, 'mailhaven_smtp_deliveries_total{kind="local"}'), 2);
  assert.equal(await sampleValue(http, 'mailhaven_smtp_deliveries_total{kind="queued"}'), 0);
  assert.equal(await sampleValue(http, 'mailhaven_smtp_rejections_total{reason="unknownRecipient"}'), 1);
  assert.equal(await sampleValue(http, 'mailhaven_smtp_rejections_total{reason="relayDenied"}'), 1);
  assert.equal(await commandCount(http, 'smtp', 'RCPT', 'ok'), 2);
  assert.equal(await commandCount(http, 'smtp', 'RCPT', 'permfail'), 2);
  assert.equal(await commandCount(http, 'smtp', 'DATA', 'ok'), 1);
});
