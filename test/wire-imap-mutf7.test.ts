import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MailboxNameError, decodeMailboxName, encodeMailboxName, isValidMailboxName, normalizeInbox } from '../src/wire/imap/index.js';

describe('modified UTF-7 (RFC 3501 5.1.3)', () => {
  it('decodes and encodes the RFC example', () => {
    assert.equal(decodeMailboxName('~peter/mail/&U,BTFw-/&ZeVnLIqe-'), '~peter/mail/台北/日本語');
    assert.equal(encodeMailboxName('~peter/mail/台北/日本語'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
  });

  it('accepts the corrected forms the RFC gives', () => {
    assert.equal(decodeMailboxName('&Jjo-!'), '☺!');
    assert.equal(decodeMailboxName('&U,BTF2XlZyyKng-'), '台北日本語');
    assert.equal(encodeMailboxName('台北日本語'), '&U,BTF2XlZyyKng-');
  });

  it('writes "&" as "&-" and keeps printable ASCII as itself', () => {
    assert.equal(encodeMailboxName('R&D ~/[x]'), 'R&-D ~/[x]');
    assert.equal(decodeMailboxName('R&-D'), 'R&D');
    assert.equal(encodeMailboxName(''), '');
  });

  it('encodes characters outside the BMP as surrogate pairs and control characters in base64', () => {
    assert.equal(encodeMailboxName('😀'), '&2D3eAA-');
    assert.equal(decodeMailboxName('&2D3eAA-'), '😀');
    assert.equal(encodeMailboxName('a\tb'), 'a&AAk-b');
    assert.equal(encodeMailboxName('Entwürfe'), 'Entw&APw-rfe');
    assert.equal(decodeMailboxName('&APwAAA-'), 'ü\u0000');
  });

  const malformed: Array<[string, string]> = [
    ['&Jjo!', 'Mailbox name ends inside a modified BASE64 run (missing "-")'],
    ['&U,BTFw-&ZeVnLIqe-', 'Mailbox name contains a superfluous shift ("-&")'],
    ['&AGE-', 'Modified BASE64 encodes a printable US-ASCII character'],
    ['&ACY-', 'Modified BASE64 encodes a printable US-ASCII character'],
    ['&AP-', 'Modified BASE64 run has non-zero or excess padding bits'],
    ['&APw', 'Mailbox name ends inside a modified BASE64 run (missing "-")'],
    ['&APx-', 'Modified BASE64 run has non-zero or excess padding bits'],
    ['&APwA-', 'Modified BASE64 run does not hold whole UTF-16 units'],
    ['&APwAA-', 'Modified BASE64 run has non-zero or excess padding bits'],
    ['&AP/-', 'Invalid character "/" in modified BASE64'],
    ['&AP==-', 'Invalid character "=" in modified BASE64'],
    ['&2D0-', 'Mailbox name contains an unpaired UTF-16 surrogate'],
    ['&3gDYPQ-', 'Mailbox name contains an unpaired UTF-16 surrogate'],
    ['caf\u00e9', 'Mailbox name contains a character that must be encoded (position 3)'],
    ['a\tb', 'Mailbox name contains a character that must be encoded (position 1)'],
  ];
  for (const [wire, message] of malformed) {
    it(`rejects ${JSON.stringify(wire)}`, () => {
      assert.throws(() => decodeMailboxName(wire), (error: unknown) => error instanceof MailboxNameError && error.message === message);
      assert.equal(isValidMailboxName(wire), false);
    });
  }

  it('refuses to encode a lone surrogate', () => {
    assert.throws(() => encodeMailboxName('a\ud800b'), { name: 'MailboxNameError', message: 'Mailbox name contains an unpaired UTF-16 surrogate' });
  });

  it('round-trips any Unicode string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
        const wire = encodeMailboxName(name);
        assert.match(wire, /^[\x20-\x7e]*$/);
        assert.equal(decodeMailboxName(wire), name);
      }),
      { numRuns: 1000 },
    );
  });

  it('has exactly one spelling per name: encode(decode(x)) === x for every valid x (property)', () => {
    const wireAlphabet = fc.constantFrom(...'&-,+/AaBbZz09 ~!'.split(''));
    fc.assert(
      fc.property(fc.string({ unit: wireAlphabet, maxLength: 16 }), (wire) => {
        if (!isValidMailboxName(wire)) return;
        assert.equal(encodeMailboxName(decodeMailboxName(wire)), wire);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('normalizeInbox (RFC 3501 5.1, 9 "mailbox")', () => {
  it('spells every case variant of INBOX as INBOX, including its children', () => {
    assert.equal(normalizeInbox('inbox'), 'INBOX');
    assert.equal(normalizeInbox('iNbOx'), 'INBOX');
    assert.equal(normalizeInbox('Inbox/Work'), 'INBOX/Work');
    assert.equal(normalizeInbox('inbox.Work', '.'), 'INBOX.Work');
  });

  it('leaves other names alone', () => {
    assert.equal(normalizeInbox('Inboxes'), 'Inboxes');
    assert.equal(normalizeInbox('inbox.Work'), 'inbox.Work');
    assert.equal(normalizeInbox('Archive/inbox'), 'Archive/inbox');
    assert.equal(normalizeInbox('inb'), 'inb');
  });
});
