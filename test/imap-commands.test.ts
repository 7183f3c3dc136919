/**
 * Transcript tests per command (RFC 3501 6.3–6.4 and extensions): exact server responses for
 * SELECT/EXAMINE, FETCH, STORE, APPEND, COPY/MOVE, EXPUNGE, CLOSE/UNSELECT, LIST/LSUB, STATUS,
 * CREATE/DELETE/RENAME, SUBSCRIBE, QUOTA, NAMESPACE, ID, ENABLE, CONDSTORE/QRESYNC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { USER, sampleMessage, startImapServer } from './helpers/imap-client.js';
import type { ImapTestServer } from './helpers/imap-client.js';

const DATE = '"02-Jan-2024 03:04:05 +0000"';
const FLAGS = '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)';
const PERMANENT = '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted';
const ENVELOPE_ONE = '("Mon, 7 Feb 1994 21:52:25 -0800" "one" (("Ann" NIL "ann" "example.org")) (("Ann" NIL "ann" "example.org")) (("Ann" NIL "ann" "example.org")) ((NIL NIL "tim" "example.test")) NIL NIL NIL "<one@example.org>")';

async function withMessages(t: Parameters<typeof startImapServer>[0], subjects: string[]): Promise<ImapTestServer> {
  const server = await startImapServer(t);
  for (const subject of subjects) await server.deliver(USER, sampleMessage(subject));
  return server;
}

test('SELECT and EXAMINE: untagged data, READ-WRITE / READ-ONLY, \\Recent claimed once', async (t) => {
  const server = await withMessages(t, ['one', 'two']);
  const v = await server.uidValidity();
  const c = await server.client();
  assert.deepEqual(await c.run('SELECT INBOX'), [
    FLAGS,
    PERMANENT,
    '* 2 EXISTS',
    '* 2 RECENT',
    '* OK [UNSEEN 1] Message 1 is the first unseen',
    `* OK [UIDVALIDITY ${v}] UIDs valid`,
    '* OK [UIDNEXT 3] Predicted next UID',
    '* OK [HIGHESTMODSEQ 3] Highest',
    'A2 OK [READ-WRITE] SELECT completed',
  ]);
  assert.deepEqual(await c.run('EXAMINE inbox'), [
    '* OK [CLOSED] Previous mailbox closed',
    FLAGS,
    '* OK [PERMANENTFLAGS ()] No permanent flags permitted',
    '* 2 EXISTS',
    '* 0 RECENT',
    '* OK [UNSEEN 1] Message 1 is the first unseen',
    `* OK [UIDVALIDITY ${v}] UIDs valid`,
    '* OK [UIDNEXT 3] Predicted next UID',
    '* OK [HIGHESTMODSEQ 3] Highest',
    'A3 OK [READ-ONLY] EXAMINE completed',
  ]);
  assert.deepEqual(await c.run('SELECT Nope'), ['* OK [CLOSED] Previous mailbox closed', 'A4 NO [NONEXISTENT] No such mailbox']);
  assert.deepEqual(await c.run('FETCH 1 FLAGS'), ['A5 BAD FETCH is not allowed without a selected mailbox']);
});

test('FETCH: metadata, ENVELOPE, BODYSTRUCTURE, sections, partials, \\Seen on non-PEEK', async (t) => {
  const server = await withMessages(t, ['one']);
  const c = await server.client();
  await c.run('SELECT INBOX');
  assert.deepEqual(await c.run('FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)'), [
    `* 1 FETCH (UID 1 FLAGS (\\Recent) INTERNALDATE ${DATE} RFC822.SIZE 150 ENVELOPE ${ENVELOPE_ONE})`,
    'A3 OK FETCH completed',
  ]);
  assert.deepEqual(await c.run('FETCH 1 (BODYSTRUCTURE BODY)'), [
    '* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 14 1 NIL NIL NIL NIL) BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 14 1))',
    'A4 OK FETCH completed',
  ]);
  assert.deepEqual(await c.run('FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject FROM)] BODY.PEEK[TEXT]<6.100> BODY.PEEK[1]<0.5>)'), [
    '* 1 FETCH (BODY[HEADER.FIELDS (Subject FROM)] {45}\r\nFrom: Ann <ann@example.org>\r\nSubject: one\r\n\r\n BODY[TEXT]<6> {8}\r\nthere.\r\n BODY[1]<0> {5}\r\nHello)',
    'A5 OK FETCH completed',
  ]);
  assert.deepEqual(await c.run('FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (To From Date Message-ID)] BODY.PEEK[2] RFC822.HEADER)'), [
    '* 1 FETCH (BODY[HEADER.FIELDS.NOT (To From Date Message-ID)] {16}\r\nSubject: one\r\n\r\n BODY[2] NIL RFC822.HEADER {136}\r\n' +
      sampleMessage('one').slice(0, 136) +
      ')',
    'A6 OK FETCH completed',
  ]);
  // Nothing above set \Seen; BODY[TEXT] does, and the response carries the new FLAGS.
  assert.deepEqual(await c.run('FETCH 1 (BODY[TEXT])'), ['* 1 FETCH (BODY[TEXT] {14}\r\nHello there.\r\n FLAGS (\\Seen \\Recent))', 'A7 OK FETCH completed']);
  assert.deepEqual(await c.run('UID FETCH 1 (RFC822.SIZE) (CHANGEDSINCE 1)'), [
    // The first CONDSTORE enabling command with a mailbox selected (RFC 7162 3.1).
    '* OK [HIGHESTMODSEQ 3] Highest',
    '* 1 FETCH (UID 1 RFC822.SIZE 150 MODSEQ (3))',
    'A8 OK FETCH completed',
  ]);
  // CHANGEDSINCE made this session CONDSTORE-aware: MODSEQ in every FETCH from now on (RFC 7162 3.1).
  assert.deepEqual(await c.run('FETCH 1 FAST'), [`* 1 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE ${DATE} RFC822.SIZE 150 MODSEQ (3))`, 'A9 OK FETCH completed']);
  assert.deepEqual(await c.run('FETCH 2 FLAGS'), ['A10 BAD Invalid message sequence number']);
  assert.deepEqual(await c.run('UID FETCH 2:* FLAGS'), ['* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ (3))', 'A11 OK FETCH completed']);
  assert.deepEqual(await c.run('UID FETCH 1:4294967295 (UID)'), ['* 1 FETCH (UID 1 MODSEQ (3))', 'A12 OK FETCH completed']);
  assert.deepEqual(await c.run('FETCH 1 BINARY[1]'), ['A13 BAD BINARY is not supported']);
});

test('FETCH BODY[] streams the stored octets; RFC822 sets \\Seen', async (t) => {
  const big = sampleMessage('big', 'x'.repeat(200_000) + '\r\n');
  const server = await withMessages(t, []);
  await server.deliver(USER, big);
  const c = await server.client();
  await c.run('SELECT INBOX');
  const [response, tagged] = await c.run('FETCH 1 (RFC822)');
  assert.equal(response, `* 1 FETCH (RFC822 {${big.length}}\r\n${big} FLAGS (\\Seen \\Recent))`);
  assert.equal(tagged, 'A3 OK FETCH completed');
});

test('STORE: +FLAGS, -FLAGS.SILENT, FLAGS, keywords, UNCHANGEDSINCE / MODIFIED, read-only', async (t) => {
  const server = await withMessages(t, ['one', 'two', 'three']);
  const c = await server.client();
  await c.run('SELECT INBOX');
  assert.deepEqual(await c.run('STORE 1:2 +FLAGS (\\Flagged)'), [
    '* 1 FETCH (FLAGS (\\Flagged \\Recent))',
    '* 2 FETCH (FLAGS (\\Flagged \\Recent))',
    'A3 OK STORE completed',
  ]);
  assert.deepEqual(await c.run('STORE 1 -FLAGS.SILENT (\\Flagged)'), ['A4 OK STORE completed']);
  assert.deepEqual(await c.run('UID STORE 3 FLAGS (\\Seen $Label1)'), [
    '* 3 FETCH (FLAGS (\\Seen \\Recent $Label1) UID 3)',
    '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)',
    '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 \\*)] Flags permitted',
    'A5 OK STORE completed',
  ]);
  assert.deepEqual(await c.run('STORE 1 +FLAGS (\\Bogus)'), ['A6 BAD Unknown system flag \\Bogus']);
  // MODSEQs now: message 1 = 6, 2 = 5, 3 = 7. UNCHANGEDSINCE 6 refuses message 3 only.
  assert.deepEqual(await c.run('STORE 1:3 (UNCHANGEDSINCE 6) +FLAGS (\\Answered)'), [
    '* OK [HIGHESTMODSEQ 7] Highest',
    '* 1 FETCH (FLAGS (\\Answered \\Recent) MODSEQ (8))',
    '* 2 FETCH (FLAGS (\\Answered \\Flagged \\Recent) MODSEQ (8))',
    'A7 OK [MODIFIED 3] Conditional STORE failed for some messages',
  ]);
  await c.run('EXAMINE INBOX');
  assert.deepEqual(await c.run('STORE 1 +FLAGS (\\Seen)'), ['A9 NO [CANNOT] Mailbox is read-only']);
});

test('APPEND: synchronizing and LITERAL+, flags and date, APPENDUID, MULTIAPPEND, TRYCREATE, TOOBIG', async (t) => {
  const server = await startImapServer(t, { toml: '[limits]\nmessage_size = "1K"' });
  const v = await server.uidValidity();
  const c = await server.client();
  const message = sampleMessage('appended');
  c.write(`P1 APPEND INBOX (\\Seen $Work) "05-Mar-2024 10:00:00 +0100" {${message.length}}\r\n`);
  assert.equal(await c.readLine(), '+ Ready for literal data');
  c.write(message + '\r\n');
  assert.deepEqual(await c.readUntilTagged('P1'), [`P1 OK [APPENDUID ${v} 1] APPEND completed`]);
  c.write(`P2 APPEND INBOX {5+}\r\nfirst {6+}\r\nsecond\r\n`);
  assert.deepEqual(await c.readUntilTagged('P2'), [`P2 OK [APPENDUID ${v} 2:3] APPEND completed`]);
  c.write('P3 APPEND Missing {5}\r\n');
  assert.deepEqual(await c.readUntilTagged('P3'), ['P3 NO [TRYCREATE] Mailbox does not exist']);
  c.write('P4 APPEND INBOX {2000}\r\n');
  assert.deepEqual(await c.readUntilTagged('P4'), ['P4 NO [TOOBIG] Message is larger than the limit of 1024 octets']);
  await c.run('SELECT INBOX');
  assert.deepEqual(await c.run('FETCH 1:3 (FLAGS RFC822.SIZE)'), [
    `* 1 FETCH (FLAGS (\\Seen \\Recent $Work) RFC822.SIZE ${message.length})`,
    '* 2 FETCH (FLAGS (\\Recent) RFC822.SIZE 5)',
    '* 3 FETCH (FLAGS (\\Recent) RFC822.SIZE 6)',
    'A3 OK FETCH completed',
  ]);
  // The date-time's zone is honoured: 10:00 +0100 is 09:00 UTC.
  assert.deepEqual(await c.run('FETCH 1 INTERNALDATE'), ['* 1 FETCH (INTERNALDATE "05-Mar-2024 09:00:00 +0000")', 'A4 OK FETCH completed']);
  assert.equal((await server.messageTexts(USER)).join('|'), `${message}|first|second`);
});

test('COPY, MOVE (COPYUID, TRYCREATE), EXPUNGE, UID EXPUNGE, CLOSE, UNSELECT', async (t) => {
  const server = await withMessages(t, ['one', 'two', 'three', 'four']);
  const archive = await server.uidValidity('Archive');
  const trash = await server.uidValidity('Trash');
  const c = await server.client();
  await c.run('SELECT INBOX');
  assert.deepEqual(await c.run('COPY 1:2 Archive'), [`A3 OK [COPYUID ${archive} 1:2 1:2] COPY completed`]);
  assert.deepEqual(await c.run('COPY 1 Nowhere'), ['A4 NO [TRYCREATE] Destination mailbox does not exist']);
  assert.deepEqual(await c.run('UID MOVE 2,4 Trash'), [`* OK [COPYUID ${trash} 2,4 1:2] Moved`, '* 2 EXPUNGE', '* 3 EXPUNGE', 'A5 OK MOVE completed']);
  assert.deepEqual(await c.run('MOVE 1 INBOX'), ['A6 NO [CANNOT] Source and destination are the same mailbox']);
  await c.run('STORE 1:2 +FLAGS.SILENT (\\Deleted)');
  assert.deepEqual(await c.run('UID EXPUNGE 3'), ['* 2 EXPUNGE', 'A8 OK EXPUNGE completed']);
  assert.deepEqual(await c.run('EXPUNGE'), ['* 1 EXPUNGE', 'A9 OK EXPUNGE completed']);
  await c.run('SELECT Archive');
  await c.run('STORE 1 +FLAGS.SILENT (\\Deleted)');
  assert.deepEqual(await c.run('CLOSE'), ['A12 OK CLOSE completed']);
  assert.deepEqual(await c.run('STATUS Archive (MESSAGES UIDNEXT)'), ['* STATUS Archive (MESSAGES 1 UIDNEXT 3)', 'A13 OK STATUS completed']);
  await c.run('EXAMINE Trash');
  assert.deepEqual(await c.run('UNSELECT'), ['A15 OK UNSELECT completed']);
  assert.deepEqual(await c.run('EXPUNGE'), ['A16 BAD EXPUNGE is not allowed without a selected mailbox']);
});

test('LIST, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE, LSUB; CREATE, DELETE, RENAME, SUBSCRIBE', async (t) => {
  const server = await withMessages(t, ['one']);
  const c = await server.client();
  assert.deepEqual(await c.run('CREATE Projects/2024/Q1'), ['A2 OK CREATE completed']);
  assert.deepEqual(await c.run('CREATE "Caf&AOk-" (USE (\\Flagged))'), ['A3 OK CREATE completed']);
  assert.deepEqual(await c.run('CREATE INBOX'), ['A4 NO [ALREADYEXISTS] Mailbox already exists']);
  assert.deepEqual(await c.run('CREATE x (USE (\\Important))'), ['A5 NO [USEATTR] Unsupported special-use attribute \\Important']);
  assert.deepEqual(await c.run('LIST "" "%"'), [
    '* LIST (\\HasNoChildren) "/" INBOX',
    '* LIST (\\HasNoChildren \\Archive) "/" Archive',
    '* LIST (\\HasNoChildren \\Flagged) "/" Caf&AOk-',
    '* LIST (\\HasNoChildren \\Drafts) "/" Drafts',
    '* LIST (\\HasNoChildren \\Junk) "/" Junk',
    '* LIST (\\HasChildren) "/" Projects',
    '* LIST (\\HasNoChildren \\Sent) "/" Sent',
    '* LIST (\\HasNoChildren \\Trash) "/" Trash',
    'A6 OK LIST completed',
  ]);
  assert.deepEqual(await c.run('LIST "" ""'), ['* LIST (\\Noselect) "/" ""', 'A7 OK LIST completed']);
  assert.deepEqual(await c.run('LIST "Projects/" "*"'), ['* LIST (\\HasChildren) "/" Projects/2024', '* LIST (\\HasNoChildren) "/" Projects/2024/Q1', 'A8 OK LIST completed']);
  assert.deepEqual(await c.run('DELETE Projects/2024'), ['A9 OK DELETE completed']);
  assert.deepEqual(await c.run('LIST "" Projects/*'), ['* LIST (\\Noselect \\HasChildren) "/" Projects/2024', '* LIST (\\HasNoChildren) "/" Projects/2024/Q1', 'A10 OK LIST completed']);
  assert.deepEqual(await c.run('DELETE Projects/2024'), ['A11 NO [NONEXISTENT] No such mailbox']);
  assert.deepEqual(await c.run('RENAME Projects Work'), ['A12 OK RENAME completed']);
  assert.deepEqual(await c.run('RENAME Work Sent'), ['A13 NO [ALREADYEXISTS] Mailbox already exists']);
  assert.deepEqual(await c.run('SUBSCRIBE Work'), ['A14 OK SUBSCRIBE completed']);
  assert.deepEqual(await c.run('SUBSCRIBE Gone'), ['A15 OK SUBSCRIBE completed']);
  // New accounts have their default mailboxes subscribed.
  assert.deepEqual(await c.run('LIST (SUBSCRIBED) "" "*"'), [
    '* LIST (\\HasNoChildren \\Subscribed) "/" INBOX',
    '* LIST (\\HasNoChildren \\Subscribed \\Archive) "/" Archive',
    '* LIST (\\HasNoChildren \\Subscribed \\Drafts) "/" Drafts',
    '* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "/" Gone',
    '* LIST (\\HasNoChildren \\Subscribed \\Junk) "/" Junk',
    '* LIST (\\HasNoChildren \\Subscribed \\Sent) "/" Sent',
    '* LIST (\\HasNoChildren \\Subscribed \\Trash) "/" Trash',
    '* LIST (\\HasChildren \\Subscribed) "/" Work',
    'A16 OK LIST completed',
  ]);
  assert.deepEqual(await c.run('LSUB "" "W*"'), ['* LSUB () "/" Work', 'A17 OK LSUB completed']);
  assert.deepEqual(await c.run('LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES UNSEEN SIZE))'), [
    '* LIST (\\HasNoChildren \\Archive) "/" Archive',
    '* STATUS Archive (MESSAGES 0 UNSEEN 0 SIZE 0)',
    '* LIST (\\HasNoChildren \\Flagged) "/" Caf&AOk-',
    '* STATUS Caf&AOk- (MESSAGES 0 UNSEEN 0 SIZE 0)',
    '* LIST (\\HasNoChildren \\Drafts) "/" Drafts',
    '* STATUS Drafts (MESSAGES 0 UNSEEN 0 SIZE 0)',
    '* LIST (\\HasNoChildren \\Junk) "/" Junk',
    '* STATUS Junk (MESSAGES 0 UNSEEN 0 SIZE 0)',
    '* LIST (\\HasNoChildren \\Sent) "/" Sent',
    '* STATUS Sent (MESSAGES 0 UNSEEN 0 SIZE 0)',
    '* LIST (\\HasNoChildren \\Trash) "/" Trash',
    '* STATUS Trash (MESSAGES 0 UNSEEN 0 SIZE 0)',
    'A18 OK LIST completed',
  ]);
  assert.deepEqual(await c.run('LIST "" inbox'), ['* LIST (\\HasNoChildren) "/" INBOX', 'A19 OK LIST completed']);
  assert.deepEqual(await c.run('LIST (BOGUS) "" "*"'), ['A20 BAD Unknown LIST selection option BOGUS']);
  assert.deepEqual(await c.run('DELETE INBOX'), ['A21 NO [CANNOT] INBOX cannot be deleted']);
  // RENAME INBOX moves its messages and leaves it empty (RFC 3501 6.3.5).
  assert.deepEqual(await c.run('RENAME INBOX Old'), ['A22 OK RENAME completed']);
  assert.deepEqual(await c.run('STATUS INBOX (MESSAGES)'), ['* STATUS INBOX (MESSAGES 0)', 'A23 OK STATUS completed']);
  assert.deepEqual(await c.run('STATUS Old (MESSAGES)'), ['* STATUS Old (MESSAGES 1)', 'A24 OK STATUS completed']);
  // "__proto__" is an ordinary name.
  assert.deepEqual(await c.run('CREATE __proto__'), ['A25 OK CREATE completed']);
  assert.deepEqual(await c.run('STATUS __proto__ (MESSAGES)'), ['* STATUS __proto__ (MESSAGES 0)', 'A26 OK STATUS completed']);
});

test('STATUS items, QUOTA (STORAGE and MESSAGE), OVERQUOTA on APPEND and COPY', async (t) => {
  const server = await startImapServer(t);
  const account = await server.store.getAccount(USER);
  await server.store.setQuota(USER, 2048, 3);
  await server.deliver(USER, sampleMessage('one'));
  const c = await server.client();
  assert.deepEqual(await c.run('STATUS INBOX (MESSAGES RECENT UIDNEXT UNSEEN SIZE DELETED APPENDLIMIT)'), [
    '* STATUS INBOX (MESSAGES 1 RECENT 1 UIDNEXT 2 UNSEEN 1 SIZE 150 DELETED 0 APPENDLIMIT 52428800)',
    'A2 OK STATUS completed',
  ]);
  assert.deepEqual(await c.run('GETQUOTAROOT INBOX'), ['* QUOTAROOT INBOX ""', '* QUOTA "" (STORAGE 1 2 MESSAGE 1 3)', 'A3 OK GETQUOTAROOT completed']);
  assert.deepEqual(await c.run('GETQUOTA ""'), ['* QUOTA "" (STORAGE 1 2 MESSAGE 1 3)', 'A4 OK GETQUOTA completed']);
  assert.deepEqual(await c.run('GETQUOTA "other"'), ['A5 NO [NONEXISTENT] No such quota root']);
  assert.deepEqual(await c.run('SETQUOTA "" (STORAGE 10)'), ['A6 NO [NOPERM] Quotas are set by the administrator']);
  c.write('P1 APPEND INBOX {3000}\r\n');
  assert.deepEqual(await c.readUntilTagged('P1'), ['P1 NO [OVERQUOTA] Quota exceeded']);
  await c.run('SELECT INBOX');
  await c.run('COPY 1 Archive');
  assert.deepEqual(await c.run('COPY 1:* Archive'), ['A9 OK [COPYUID ' + (await server.uidValidity('Archive')) + ' 1 2] COPY completed']);
  assert.deepEqual(await c.run('COPY 1 Archive'), ['A10 NO [OVERQUOTA] Quota exceeded']);
  assert.equal(account?.quotaBytes, null);
});

test('SEARCH, UID SEARCH, ESEARCH, SEARCHRES ($), CHARSET, MODSEQ', async (t) => {
  const server = await withMessages(t, ['apple pie', 'banana split', 'cherry tart']);
  await server.deliver(USER, sampleMessage('plain', 'the word Kiwi is here\r\n'));
  const c = await server.client();
  await c.run('SELECT INBOX');
  await c.run('STORE 2 +FLAGS.SILENT (\\Flagged)');
  assert.deepEqual(await c.run('SEARCH FLAGGED'), ['* SEARCH 2', 'A4 OK SEARCH completed']);
  assert.deepEqual(await c.run('SEARCH OR SUBJECT apple SUBJECT cherry'), ['* SEARCH 1 3', 'A5 OK SEARCH completed']);
  assert.deepEqual(await c.run('UID SEARCH BODY kiwi'), ['* SEARCH 4', 'A6 OK SEARCH completed']);
  assert.deepEqual(await c.run('SEARCH CHARSET UTF-8 NOT FLAGGED'), ['* SEARCH 1 3 4', 'A7 OK SEARCH completed']);
  assert.deepEqual(await c.run('SEARCH CHARSET KOI8-R ALL'), ['A8 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset']);
  assert.deepEqual(await c.run('SEARCH RETURN (MIN MAX COUNT) 2:*'), ['* ESEARCH (TAG "A9") MIN 2 MAX 4 COUNT 3', 'A9 OK SEARCH completed']);
  assert.deepEqual(await c.run('UID SEARCH RETURN () SUBJECT zzz'), ['* ESEARCH (TAG "A10") UID', 'A10 OK SEARCH completed']);
  assert.deepEqual(await c.run('SEARCH RETURN (SAVE) OR FLAGGED SUBJECT cherry'), ['A11 OK SEARCH completed']);
  assert.deepEqual(await c.run('FETCH $ (UID)'), ['* 2 FETCH (UID 2)', '* 3 FETCH (UID 3)', 'A12 OK FETCH completed']);
  assert.deepEqual(await c.run('UID SEARCH UID $ SUBJECT cherry'), ['* SEARCH 3', 'A13 OK SEARCH completed']);
  // Deliveries got MODSEQ 2..5, the STORE on message 2 MODSEQ 6.
  assert.deepEqual(await c.run('SEARCH MODSEQ 5'), ['* OK [HIGHESTMODSEQ 6] Highest', '* SEARCH 2 4 (MODSEQ 6)', 'A14 OK SEARCH completed']);
  assert.deepEqual(await c.run('SEARCH SINCE 1-Jan-2024 BEFORE 3-Jan-2024 LARGER 100'), ['* SEARCH 1 2 3 4', 'A15 OK SEARCH completed']);
  assert.deepEqual(await c.run('SEARCH 1:4294967295 NOT 2'), ['* SEARCH 1 3 4', 'A16 OK SEARCH completed']);
});

test('ID, NAMESPACE, ENABLE (only when authenticated, not selected), CHECK', async (t) => {
  const server = await startImapServer(t);
  const c = await server.client();
  assert.deepEqual(await c.run('ID ("name" "test" "version" "1")'), ['* ID ("name" "Mailhaven" "version" "0.1.0")', 'A2 OK ID completed']);
  assert.deepEqual(await c.run('NAMESPACE'), ['* NAMESPACE (("" "/")) NIL NIL', 'A3 OK NAMESPACE completed']);
  assert.deepEqual(await c.run('ENABLE CONDSTORE X-UNKNOWN'), ['* ENABLED CONDSTORE', 'A4 OK ENABLE completed']);
  await c.run('SELECT INBOX');
  assert.deepEqual(await c.run('ENABLE QRESYNC'), ['A6 BAD ENABLE is not allowed with a mailbox selected']);
  assert.deepEqual(await c.run('CHECK'), ['A7 OK CHECK completed']);
});

test('FETCH sections at depth: multipart parts, MIME headers, an embedded message/rfc822', async (t) => {
  const inner = 'From: inner@example.org\r\nSubject: inner\r\n\r\nInner body\r\n';
  const message =
    'From: outer@example.org\r\nSubject: nested\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' +
    '--b\r\nContent-Type: text/plain\r\n\r\nFirst part\r\n' +
    `--b\r\nContent-Type: message/rfc822\r\n\r\n${inner}` +
    '--b--\r\n';
  const server = await withMessages(t, []);
  await server.deliver(USER, message);
  const c = await server.client();
  await c.run('SELECT INBOX');
  assert.deepEqual(await c.run('FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.1] BODY.PEEK[2.HEADER.FIELDS (Subject)])'), [
    '* 1 FETCH (BODY[1] {10}\r\nFirst part BODY[1.MIME] {28}\r\nContent-Type: text/plain\r\n\r\n BODY[2.HEADER] {43}\r\nFrom: inner@example.org\r\nSubject: inner\r\n\r\n' +
      // The CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1).
      ' BODY[2.TEXT] {10}\r\nInner body BODY[2.1] {10}\r\nInner body BODY[2.HEADER.FIELDS (Subject)] {18}\r\nSubject: inner\r\n\r\n)',
    'A3 OK FETCH completed',
  ]);
  const [structure] = await c.run('FETCH 1 BODYSTRUCTURE');
  assert.equal(
    structure,
    '* 1 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 0 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7BIT" 53 ' +
      '(NIL "inner" ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) NIL NIL NIL NIL NIL) ' +
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL))',
  );
});

test('DELETE of the selected mailbox closes it; a refused DELETE (INBOX) leaves the selection alone', async (t) => {
  const server = await withMessages(t, ['one']);
  const c = await server.client();
  await c.run('SELECT INBOX');
  assert.deepEqual(await c.run('DELETE INBOX'), ['A3 NO [CANNOT] INBOX cannot be deleted']);
  assert.deepEqual(await c.run('FETCH 1 (UID)'), ['* 1 FETCH (UID 1)', 'A4 OK FETCH completed']);
  assert.deepEqual(await c.run('CREATE Scratch'), ['A5 OK CREATE completed']);
  await c.run('SELECT Scratch');
  assert.deepEqual(await c.run('DELETE Scratch'), ['* OK [CLOSED] Mailbox closed after deletion', 'A7 OK DELETE completed']);
  assert.deepEqual(await c.run('FETCH 1 FLAGS'), ['A8 BAD FETCH is not allowed without a selected mailbox']);
});

test('CONDSTORE: the first enabling command with a mailbox selected reports HIGHESTMODSEQ (RFC 7162 3.1), once', async (t) => {
  const server = await withMessages(t, ['one', 'two']);
  const c = await server.client();
  await c.run('SELECT INBOX');
  assert.deepEqual(await c.run('FETCH 1 (FLAGS MODSEQ)'), [
    '* OK [HIGHESTMODSEQ 3] Highest',
    '* 1 FETCH (FLAGS (\\Recent) MODSEQ (2))',
    'A3 OK FETCH completed',
  ]);
  // Enabled now: MODSEQ comes with every FETCH, and no second HIGHESTMODSEQ.
  assert.deepEqual(await c.run('FETCH 2 (FLAGS)'), ['* 2 FETCH (FLAGS (\\Recent) MODSEQ (3))', 'A4 OK FETCH completed']);
  const other = await server.client();
  await other.run('SELECT INBOX');
  assert.deepEqual(await other.run('STATUS INBOX (HIGHESTMODSEQ)'), [
    '* OK [HIGHESTMODSEQ 3] Highest',
    '* STATUS INBOX (HIGHESTMODSEQ 3)',
    'A3 OK STATUS completed',
  ]);
});
