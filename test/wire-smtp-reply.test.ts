import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeReply, formatReply, reply, Reply, SmtpReplyError, SmtpReplyFormatError, withText } from '../src/wire/smtp/reply.js';
import { decodeXtext, encodeXtext, XtextError } from '../src/wire/smtp/xtext.js';

test('single-line reply with enhanced code', () => {
  assert.equal(formatReply(250, '2.1.0', ['Sender OK']).toString(), '250 2.1.0 Sender OK\r\n');
});

test('multi-line reply: hyphen on all but the last line, enhanced code on every line (RFC 2034 4)', () => {
  assert.equal(
    formatReply(550, '5.7.1', ['Message rejected', 'see https://example.com/policy']).toString(),
    '550-5.7.1 Message rejected\r\n550 5.7.1 see https://example.com/policy\r\n',
  );
});

test('EHLO-style reply without enhanced codes (RFC 2034 4: not on EHLO responses)', () => {
  assert.equal(
    formatReply(250, null, ['mx.example.com Hello', 'PIPELINING', 'SIZE 10485760', 'ENHANCEDSTATUSCODES']).toString(),
    '250-mx.example.com Hello\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n250 ENHANCEDSTATUSCODES\r\n',
  );
});

test('an empty 334 challenge keeps its space (RFC 4954 4)', () => {
  assert.equal(formatReply(334, null, ['']).toString(), '334 \r\n');
  assert.equal(formatReply(334, null, []).toString(), '334 \r\n');
  assert.equal(formatReply(334, null, ['VXNlcm5hbWU6']).toString(), '334 VXNlcm5hbWU6\r\n');
  assert.equal(formatReply(250, '2.0.0', ['']).toString(), '250 2.0.0\r\n');
});

test('named replies carry the RFC codes', () => {
  const codes = (name: keyof typeof Reply): string => `${Reply[name].code} ${Reply[name].enhanced ?? '-'}`;
  assert.equal(codes('ok'), '250 2.0.0');
  assert.equal(codes('badSequence'), '503 5.5.1');
  assert.equal(codes('syntax'), '500 5.5.2');
  assert.equal(codes('syntaxArguments'), '501 5.5.4');
  assert.equal(codes('tooManyRecipients'), '452 4.5.3');
  assert.equal(codes('sizeExceeded'), '552 5.3.4');
  assert.equal(codes('authFailed'), '535 5.7.8');
  assert.equal(codes('authSucceeded'), '235 2.7.0');
  assert.equal(codes('relayDenied'), '554 5.7.1');
  assert.equal(codes('startData'), '354 -');
  assert.equal(codes('paramNotRecognized'), '555 5.5.4');
  assert.equal(encodeReply(Reply.closing).toString(), '221 2.0.0 Bye\r\n');
  assert.equal(encodeReply(withText(Reply.badSequence, 'Need MAIL first')).toString(), '503 5.5.1 Need MAIL first\r\n');
});

test('every named reply is well formed', () => {
  for (const [name, value] of Object.entries(Reply)) {
    assert.doesNotThrow(() => encodeReply(value), name);
  }
});

test('malformed replies are refused: code range, class mismatch, CR/LF in text', () => {
  assert.throws(() => formatReply(199, null, ['x']), SmtpReplyFormatError);
  assert.throws(() => formatReply(250, '5.0.0', ['x']), SmtpReplyFormatError);
  assert.throws(() => formatReply(250, '2.0', ['x']), SmtpReplyFormatError);
  assert.throws(() => formatReply(250, '2.0.0', ['a\r\n250 injected']), SmtpReplyFormatError);
  assert.throws(() => reply(550, '5.1.1', 'x\ny'), SmtpReplyFormatError);
});

test('SmtpReplyError carries its reply', () => {
  const error = new SmtpReplyError(Reply.authFailed);
  assert.equal(error.reply, Reply.authFailed);
  assert.equal(error.message, '535 5.7.8 Authentication credentials invalid');
});

test('xtext decoding (RFC 3461 4)', () => {
  assert.equal(decodeXtext('e+3Dmc2@example.com').toString(), 'e=mc2@example.com');
  assert.equal(decodeXtext('QQ314159').toString(), 'QQ314159');
  assert.equal(decodeXtext('a+2Bb+20c').toString(), 'a+b c');
  assert.deepEqual(decodeXtext('+00+FF'), Buffer.from([0x00, 0xff]));
  assert.equal(decodeXtext('').length, 0);
});

test('xtext refuses what the grammar does not allow', () => {
  for (const bad of ['a=b', 'a b', '+', '+4', '+4g', '+3d', 'é', 'a\tb']) {
    assert.throws(() => decodeXtext(bad), XtextError, bad);
  }
});

test('xtext encoding round-trips and hex-encodes +, =, space, controls and non-ASCII', () => {
  assert.equal(encodeXtext('e=mc2@example.com'), 'e+3Dmc2@example.com');
  assert.equal(encodeXtext('a+b c'), 'a+2Bb+20c');
  assert.equal(encodeXtext('é'), '+C3+A9');
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  assert.deepEqual(decodeXtext(encodeXtext(all)), all);
});
