import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand, SmtpSyntaxError } from '../src/wire/smtp/command.js';
import type { MailParameters, RcptParameters, SyntaxErrorKind } from '../src/wire/smtp/command.js';
import { isIpv6Addr } from '../src/wire/smtp/address.js';

const NO_MAIL_PARAMS: MailParameters = {
  size: null,
  body: null,
  smtputf8: false,
  auth: null,
  ret: null,
  envid: null,
  requireTls: false,
};
const NO_RCPT_PARAMS: RcptParameters = { notify: null, orcpt: null };

const mailbox = (localPart: string, domain: string, address = `${localPart}@${domain}`, utf8 = false) => ({
  localPart,
  domain,
  literal: null,
  address,
  utf8,
});

/** Asserts that `line` is refused with exactly this reply. */
function assertRefused(line: string | Uint8Array, kind: SyntaxErrorKind, code: number, enhanced: string): void {
  assert.throws(
    () => parseCommand(line),
    (error: unknown) => {
      assert.ok(error instanceof SmtpSyntaxError, 'SmtpSyntaxError expected');
      assert.equal(error.kind, kind);
      assert.equal(error.reply.code, code);
      assert.equal(error.reply.enhanced, enhanced);
      return true;
    },
    `${String(line)} should be refused`,
  );
}

test('EHLO with a domain, an IPv4 literal, an IPv6 literal and a general literal', () => {
  assert.deepEqual(parseCommand('EHLO mail.example.com'), { verb: 'EHLO', host: { kind: 'domain', domain: 'mail.example.com' } });
  assert.deepEqual(parseCommand('ehlo [192.0.2.1]'), {
    verb: 'EHLO',
    host: { kind: 'literal', literal: { kind: 'ipv4', address: '192.0.2.1' }, text: '[192.0.2.1]' },
  });
  assert.deepEqual(parseCommand('EHLO [IPv6:2001:db8::1]'), {
    verb: 'EHLO',
    host: { kind: 'literal', literal: { kind: 'ipv6', address: '2001:db8::1' }, text: '[IPv6:2001:db8::1]' },
  });
  assert.deepEqual(parseCommand('EHLO [x-tag:abc]'), {
    verb: 'EHLO',
    host: { kind: 'literal', literal: { kind: 'general', tag: 'x-tag', content: 'abc' }, text: '[x-tag:abc]' },
  });
});

test('HELO, trailing text after the EHLO domain ignored (RFC 5321 4.1.1.1), trailing spaces tolerated', () => {
  assert.deepEqual(parseCommand('HELO relay.example.org'), { verb: 'HELO', host: { kind: 'domain', domain: 'relay.example.org' } });
  assert.deepEqual(parseCommand('EHLO client.example (some info)'), { verb: 'EHLO', host: { kind: 'domain', domain: 'client.example' } });
  assert.deepEqual(parseCommand('EHLO client.example \t '), { verb: 'EHLO', host: { kind: 'domain', domain: 'client.example' } });
});

test('EHLO refusals: missing argument, underscore, bad literal, non-ASCII; lenientHelo keeps them', () => {
  assertRefused('EHLO', 'syntax', 501, '5.5.4');
  assertRefused('HELO my_pc', 'syntax', 501, '5.5.4');
  assertRefused('EHLO [300.1.1.1]', 'syntax', 501, '5.5.4');
  assertRefused('EHLO [IPv6:1:2:3:4:5:6:7:8:9]', 'syntax', 501, '5.5.4');
  assertRefused('EHLO -bad.example', 'syntax', 501, '5.5.4');
  assertRefused('EHLO bad.example.', 'syntax', 501, '5.5.4');
  assertRefused('EHLO bücher.example', 'syntax', 501, '5.5.4');
  assert.deepEqual(parseCommand('HELO my_pc', { lenientHelo: true }), { verb: 'HELO', host: { kind: 'invalid', text: 'my_pc' } });
});

test('MAIL FROM with the null sender and with a path', () => {
  assert.deepEqual(parseCommand('MAIL FROM:<>'), { verb: 'MAIL', from: { kind: 'null' }, params: NO_MAIL_PARAMS });
  assert.deepEqual(parseCommand('mail from:<Joe.Q@Example.COM>'), {
    verb: 'MAIL',
    from: { kind: 'path', mailbox: mailbox('Joe.Q', 'Example.COM'), sourceRoute: [] },
    params: NO_MAIL_PARAMS,
  });
});

test('MAIL FROM tolerates a space after the colon (common quirk)', () => {
  assert.deepEqual(parseCommand('MAIL FROM: <a@b.example>'), {
    verb: 'MAIL',
    from: { kind: 'path', mailbox: mailbox('a', 'b.example'), sourceRoute: [] },
    params: NO_MAIL_PARAMS,
  });
});

test('source routes are parsed and returned apart; the mailbox alone is the address (RFC 5321 4.1.1.3)', () => {
  assert.deepEqual(parseCommand('RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>'), {
    verb: 'RCPT',
    to: { kind: 'path', mailbox: mailbox('userc', 'd.bar.org'), sourceRoute: ['hosta.int', 'jkl.org'] },
    params: NO_RCPT_PARAMS,
  });
});

test('quoted local parts are unquoted; the address uses minimal quoting', () => {
  assert.deepEqual(parseCommand('MAIL FROM:<"joe smith"@example.com>').verb, 'MAIL');
  const quoted = parseCommand('RCPT TO:<"Joe\\,Smith"@example.com>');
  assert.deepEqual(quoted, {
    verb: 'RCPT',
    to: { kind: 'path', mailbox: mailbox('Joe,Smith', 'example.com', '"Joe,Smith"@example.com'), sourceRoute: [] },
    params: NO_RCPT_PARAMS,
  });
  // "joe" quoted needlessly is the same mailbox as joe (RFC 5321 4.1.2).
  const needless = parseCommand('RCPT TO:<"joe"@example.com>');
  assert.deepEqual(needless, {
    verb: 'RCPT',
    to: { kind: 'path', mailbox: mailbox('joe', 'example.com'), sourceRoute: [] },
    params: NO_RCPT_PARAMS,
  });
  const spaces = parseCommand('RCPT TO:<"a > b\\"c"@example.com> NOTIFY=NEVER');
  assert.deepEqual(spaces, {
    verb: 'RCPT',
    to: { kind: 'path', mailbox: mailbox('a > b"c', 'example.com', '"a > b\\"c"@example.com'), sourceRoute: [] },
    params: { notify: 'NEVER', orcpt: null },
  });
});

test('address literals as mailbox domains', () => {
  assert.deepEqual(parseCommand('RCPT TO:<user@[IPv6:::ffff:192.0.2.1]>'), {
    verb: 'RCPT',
    to: {
      kind: 'path',
      mailbox: {
        localPart: 'user',
        domain: '[IPv6:::ffff:192.0.2.1]',
        literal: { kind: 'ipv6', address: '::ffff:192.0.2.1' },
        address: 'user@[IPv6:::ffff:192.0.2.1]',
        utf8: false,
      },
      sourceRoute: [],
    },
    params: NO_RCPT_PARAMS,
  });
});

test('RCPT TO:<Postmaster> in any case, <postmaster@domain> is an ordinary path, <> is refused', () => {
  assert.deepEqual(parseCommand('RCPT TO:<Postmaster>'), { verb: 'RCPT', to: { kind: 'postmaster' }, params: NO_RCPT_PARAMS });
  assert.deepEqual(parseCommand('RCPT TO:<POSTMASTER>'), { verb: 'RCPT', to: { kind: 'postmaster' }, params: NO_RCPT_PARAMS });
  assert.deepEqual(parseCommand('RCPT TO:<postmaster@example.com>'), {
    verb: 'RCPT',
    to: { kind: 'path', mailbox: mailbox('postmaster', 'example.com'), sourceRoute: [] },
    params: NO_RCPT_PARAMS,
  });
  assertRefused('RCPT TO:<>', 'address', 501, '5.1.3');
});

test('SMTPUTF8: UTF-8 addresses with the parameter; without it MAIL gets 550 5.6.7', () => {
  const line = Buffer.from('MAIL FROM:<δοκιμή@παράδειγμα.δοκιμή> SMTPUTF8', 'utf8');
  assert.deepEqual(parseCommand(line), {
    verb: 'MAIL',
    from: { kind: 'path', mailbox: mailbox('δοκιμή', 'παράδειγμα.δοκιμή', undefined, true), sourceRoute: [] },
    params: { ...NO_MAIL_PARAMS, smtputf8: true },
  });
  assertRefused(Buffer.from('MAIL FROM:<δοκιμή@example.com>', 'utf8'), 'address', 550, '5.6.7');
  // RCPT cannot know about the MAIL command: it reports utf8 and the session decides.
  const rcpt = parseCommand(Buffer.from('RCPT TO:<用户@例子.广告>', 'utf8'));
  assert.equal(rcpt.verb === 'RCPT' && rcpt.to.kind === 'path' && rcpt.to.mailbox.utf8, true);
});

test('invalid UTF-8 and control characters are refused with 500 5.5.2', () => {
  assertRefused(Buffer.from([0x4d, 0x41, 0x49, 0x4c, 0x20, 0xff]), 'badCharacters', 500, '5.5.2');
  assertRefused('MAIL FROM:<a@b.example>\0', 'badCharacters', 500, '5.5.2');
  assertRefused('MAIL FROM:<a\x07@b.example>', 'badCharacters', 500, '5.5.2');
  assertRefused('MAIL\tFROM:<a@b.example>', 'badCharacters', 500, '5.5.2');
});

test('all MAIL parameters, case-insensitive keywords and values', () => {
  const command = parseCommand(
    'MAIL FROM:<e=mc2@example.com> size=12345 BODY=8bitmime SMTPUTF8 AUTH=e+3Dmc2@example.com RET=hdrs ENVID=QQ+2B314159 REQUIRETLS',
  );
  assert.deepEqual(command, {
    verb: 'MAIL',
    from: { kind: 'path', mailbox: mailbox('e=mc2', 'example.com'), sourceRoute: [] },
    params: {
      size: 12345,
      body: '8BITMIME',
      smtputf8: true,
      auth: { kind: 'mailbox', mailbox: mailbox('e=mc2', 'example.com') },
      ret: 'HDRS',
      envid: 'QQ+314159',
      requireTls: true,
    },
  });
  assert.deepEqual(parseCommand('MAIL FROM:<john+@example.org> AUTH=<>'), {
    verb: 'MAIL',
    from: { kind: 'path', mailbox: mailbox('john+', 'example.org'), sourceRoute: [] },
    params: { ...NO_MAIL_PARAMS, auth: { kind: 'null' } },
  });
  assert.deepEqual(parseCommand('MAIL FROM:<> BODY=BINARYMIME SIZE=99999999999999999999'), {
    verb: 'MAIL',
    from: { kind: 'null' },
    params: { ...NO_MAIL_PARAMS, body: 'BINARYMIME', size: Number.POSITIVE_INFINITY },
  });
});

test('RCPT parameters: NOTIFY lists and NEVER, ORCPT decoded from xtext', () => {
  assert.deepEqual(parseCommand('RCPT TO:<b@example.net> NOTIFY=success,Delay ORCPT=rfc822;b+2Bx@example.net'), {
    verb: 'RCPT',
    to: { kind: 'path', mailbox: mailbox('b', 'example.net'), sourceRoute: [] },
    params: { notify: ['SUCCESS', 'DELAY'], orcpt: { addrType: 'rfc822', address: 'b+x@example.net' } },
  });
  assertRefused('RCPT TO:<b@example.net> NOTIFY=NEVER,SUCCESS', 'parameter', 501, '5.5.4');
  assertRefused('RCPT TO:<b@example.net> NOTIFY=SOMETIMES', 'parameter', 501, '5.5.4');
  assertRefused('RCPT TO:<b@example.net> NOTIFY=FAILURE,FAILURE', 'parameter', 501, '5.5.4');
  assertRefused('RCPT TO:<b@example.net> ORCPT=b@example.net', 'parameter', 501, '5.5.4');
  assertRefused('RCPT TO:<b@example.net> ORCPT=rfc822;bad+zz', 'parameter', 501, '5.5.4');
});

test('parameter errors: duplicates 501, unknown 555, values where none allowed 501', () => {
  assertRefused('MAIL FROM:<a@b.example> SIZE=1 size=2', 'parameter', 501, '5.5.4');
  assertRefused('MAIL FROM:<a@b.example> RET=FULL RET=FULL', 'parameter', 501, '5.5.4');
  assertRefused('RCPT TO:<a@b.example> NOTIFY=NEVER NOTIFY=NEVER', 'parameter', 501, '5.5.4');
  assertRefused('MAIL FROM:<a@b.example> X-UNKNOWN=1', 'parameter', 555, '5.5.4');
  assertRefused('MAIL FROM:<a@b.example> NOTIFY=NEVER', 'parameter', 555, '5.5.4');
  assertRefused('RCPT TO:<a@b.example> SIZE=10', 'parameter', 555, '5.5.4');
  assertRefused('MAIL FROM:<a@b.example> SMTPUTF8=yes', 'parameter', 501, '5.5.4');
  assertRefused('MAIL FROM:<a@b.example> SIZE', 'parameter', 501, '5.5.4');
  assertRefused('MAIL FROM:<a@b.example> SIZE=12a', 'parameter', 501, '5.5.4');
  assertRefused('MAIL FROM:<a@b.example> BODY=9BIT', 'parameter', 501, '5.5.4');
  assertRefused('MAIL FROM:<a@b.example> RET=SOME', 'parameter', 501, '5.5.4');
  assertRefused('MAIL FROM:<a@b.example> AUTH=not-a-mailbox', 'parameter', 501, '5.5.4');
  assertRefused('MAIL FROM:<a@b.example> ENVID=a=b', 'parameter', 501, '5.5.4');
  assertRefused(`MAIL FROM:<a@b.example> ENVID=${'x'.repeat(101)}`, 'parameter', 501, '5.5.4');
});

test('bad MAIL and RCPT syntax: 501 with 5.1.7 for senders, 5.1.3 for recipients', () => {
  assertRefused('MAIL FROM:a@b.example', 'address', 501, '5.1.7');
  assertRefused('MAIL FROM:<a@b.example', 'address', 501, '5.1.7');
  assertRefused('MAIL FROM:<a@b_c.example>', 'address', 501, '5.1.7');
  assertRefused('MAIL FROM:<a..b@example.com>', 'address', 501, '5.1.7');
  assertRefused('MAIL FROM:<@a.example:>', 'address', 501, '5.1.7');
  assertRefused('MAIL FROM:<a@b.example>SIZE=1', 'address', 501, '5.1.7');
  assertRefused('RCPT TO:<user>', 'address', 501, '5.1.3');
  assertRefused('RCPT TO:<"unterminated@example.com>', 'address', 501, '5.1.3');
  assertRefused('MAIL TO:<a@b.example>', 'syntax', 501, '5.5.4');
  assertRefused('RCPT FROM:<a@b.example>', 'syntax', 501, '5.5.4');
  assertRefused('MAIL FROM <a@b.example>', 'syntax', 501, '5.5.4');
});

test('DATA, RSET, QUIT, STARTTLS take no parameters', () => {
  assert.deepEqual(parseCommand('DATA'), { verb: 'DATA' });
  assert.deepEqual(parseCommand('rset'), { verb: 'RSET' });
  assert.deepEqual(parseCommand('QUIT '), { verb: 'QUIT' });
  assert.deepEqual(parseCommand('StartTLS'), { verb: 'STARTTLS' });
  assertRefused('DATA now', 'syntax', 501, '5.5.4');
  assertRefused('QUIT please', 'syntax', 501, '5.5.4');
  assertRefused('STARTTLS x', 'syntax', 501, '5.5.4');
});

test('BDAT size [LAST]', () => {
  assert.deepEqual(parseCommand('BDAT 1000'), { verb: 'BDAT', size: 1000, last: false });
  assert.deepEqual(parseCommand('bdat 0 last'), { verb: 'BDAT', size: 0, last: true });
  assertRefused('BDAT', 'syntax', 501, '5.5.4');
  assertRefused('BDAT -1', 'syntax', 501, '5.5.4');
  assertRefused('BDAT 10 FIRST', 'syntax', 501, '5.5.4');
  assertRefused('BDAT 99999999999999999999', 'syntax', 501, '5.5.4');
});

test('NOOP, HELP, VRFY, EXPN arguments', () => {
  assert.deepEqual(parseCommand('NOOP'), { verb: 'NOOP', text: null });
  assert.deepEqual(parseCommand('NOOP anything at all'), { verb: 'NOOP', text: 'anything at all' });
  assert.deepEqual(parseCommand('HELP'), { verb: 'HELP', argument: null });
  assert.deepEqual(parseCommand('HELP MAIL'), { verb: 'HELP', argument: 'MAIL' });
  assert.deepEqual(parseCommand('VRFY postmaster'), { verb: 'VRFY', argument: 'postmaster', smtputf8: false });
  assert.deepEqual(parseCommand('VRFY "John Doe" SMTPUTF8'), { verb: 'VRFY', argument: 'John Doe', smtputf8: true });
  assert.deepEqual(parseCommand('EXPN staff-list'), { verb: 'EXPN', argument: 'staff-list', smtputf8: false });
  assertRefused('VRFY', 'syntax', 501, '5.5.4');
  assertRefused('VRFY "broken', 'syntax', 501, '5.5.4');
});

test('AUTH mechanism [initial-response]: raw response kept, "=" for empty, bad base64 501 5.5.2', () => {
  assert.deepEqual(parseCommand('AUTH PLAIN'), { verb: 'AUTH', mechanism: 'PLAIN', initialResponse: null });
  assert.deepEqual(parseCommand('auth plain AHRpbQB0YW5zdGFhZnRhbnN0YWFm'), {
    verb: 'AUTH',
    mechanism: 'PLAIN',
    initialResponse: 'AHRpbQB0YW5zdGFhZnRhbnN0YWFm',
  });
  assert.deepEqual(parseCommand('AUTH SCRAM-SHA-256 ='), { verb: 'AUTH', mechanism: 'SCRAM-SHA-256', initialResponse: '=' });
  assertRefused('AUTH', 'syntax', 501, '5.5.4');
  assertRefused('AUTH PLAIN abc def', 'syntax', 501, '5.5.4');
  assertRefused('AUTH THIS-NAME-IS-MUCH-TOO-LONG', 'syntax', 501, '5.5.4');
  assertRefused('AUTH PLAIN ab!c', 'syntax', 501, '5.5.2');
});

test('unknown commands and garbage: 500 5.5.2 unknownCommand', () => {
  assertRefused('FOO', 'unknownCommand', 500, '5.5.2');
  assertRefused('GET / HTTP/1.1', 'unknownCommand', 500, '5.5.2');
  assertRefused('', 'unknownCommand', 500, '5.5.2');
  assertRefused(' MAIL FROM:<a@b.example>', 'unknownCommand', 500, '5.5.2');
  assertRefused('MAILFROM:<a@b.example>', 'unknownCommand', 500, '5.5.2');
  assertRefused('constructor', 'unknownCommand', 500, '5.5.2');
});

test('IPv6-addr grammar (RFC 5321 4.1.3)', () => {
  const valid = ['1:2:3:4:5:6:7:8', '::', '::1', '2001:db8::', '1:2:3:4:5:6::', '1:2:3:4:5:6:1.2.3.4', '::1.2.3.4', '1::2:3:4:1.2.3.4'];
  const invalid = ['1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '1:2:3:4:5:6:7::', '12345::', ':1:2:3:4:5:6:7', '1:2:3:4:5::1.2.3.4', '::1.2.3', 'g::1'];
  for (const text of valid) assert.equal(isIpv6Addr(text), true, text);
  for (const text of invalid) assert.equal(isIpv6Addr(text), false, text);
});
