// Conformance of the IMAP front end over real sockets against a real server: every command
// family with RFC 9051's own examples where they apply, and after every mutating command the
// mailbox-visible numbers (MESSAGES, UIDNEXT, UNSEEN, HIGHESTMODSEQ) checked through STATUS.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../../test/harness.js';
import { RawImap, type Reply } from './testing.js';

let server: TestServer;
const user = { address: 'conformance@example.org', password: 'conformance-pw' };

before(async () => {
  server = await startTestServer();
  await server.addUser(user.address, user.password);
});

after(async () => {
  await server.stop();
});

async function login(address = user.address, password = user.password): Promise<RawImap> {
  const c = await RawImap.connect(server.port('imaps'), { tls: true, ca: server.cert });
  assert.match((await c.line())!, /^\* OK \[CAPABILITY [^\]]*AUTH=PLAIN/);
  const r = await c.command(`LOGIN ${address} ${password}`);
  assert.match(r.tagged, /OK \[CAPABILITY [^\]]*IDLE/);
  return c;
}

function ok(r: Reply): Reply {
  assert.match(r.tagged, /^\S+ OK/, r.raw);
  return r;
}

interface Numbers {
  messages: number;
  uidNext: number;
  unseen: number;
  modseq: number;
}

async function numbers(c: RawImap, mailbox = 'INBOX'): Promise<Numbers> {
  const r = ok(await c.command(`STATUS ${mailbox} (MESSAGES UIDNEXT UNSEEN HIGHESTMODSEQ)`));
  const line = r.untagged.find((l) => l.startsWith('* STATUS'))!;
  const get = (name: string): number => Number(line.match(new RegExp(`${name} (\\d+)`))![1]);
  return { messages: get('MESSAGES'), uidNext: get('UIDNEXT'), unseen: get('UNSEEN'), modseq: get('HIGHESTMODSEQ') };
}

/** After a mutation: the numbers are as expected and HIGHESTMODSEQ moved forward. */
async function expectNumbers(c: RawImap, before: Numbers, expected: Omit<Numbers, 'modseq'>, mailbox = 'INBOX'): Promise<Numbers> {
  const now = await numbers(c, mailbox);
  assert.deepEqual({ messages: now.messages, uidNext: now.uidNext, unseen: now.unseen }, expected);
  assert.ok(now.modseq > before.modseq, `HIGHESTMODSEQ ${now.modseq} > ${before.modseq}`);
  return now;
}

const simple = (subject: string, from = 'Smith <smith@example.org>', extra = ''): string =>
  `From: ${from}\r\nTo: Bob <bob@example.org>\r\nSubject: ${subject}\r\nDate: Wed, 2 Feb 1994 10:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@x>\r\n${extra}\r\nHello ${subject} world\r\n`;

const multipart =
  'From: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\nTo: mooch@owatagu.siam.edu.example\r\nMessage-Id: <B27397-0100000@Blurdybloop.example>\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b1--\r\n';

test('port 1143: LOGINDISABLED before STARTTLS, pipelined plaintext dropped, AUTHENTICATE PLAIN with SASL-IR after', async () => {
  const c = await RawImap.connect(server.port('imap'), { tls: false });
  const greeting = (await c.line())!;
  assert.match(greeting, /STARTTLS/);
  assert.match(greeting, /LOGINDISABLED/);
  assert.doesNotMatch(greeting, /AUTH=PLAIN/);
  assert.match((await c.command(`LOGIN ${user.address} ${user.password}`)).tagged, /NO \[PRIVACYREQUIRED\]/);
  assert.match((await c.command('AUTHENTICATE PLAIN AGZvbwBiYXI=')).tagged, /NO \[PRIVACYREQUIRED\]/);
  // A command pipelined behind STARTTLS must not run (it would run as if encrypted).
  c.write('s1 STARTTLS\r\ns2 CAPABILITY\r\n');
  assert.match((await c.until('s1')).tagged, /OK/);
  await c.startTls(server.cert);
  const caps = ok(await c.command('CAPABILITY'));
  assert.equal(caps.untagged.filter((l) => l.startsWith('* CAPABILITY')).length, 1, 'only our CAPABILITY was answered');
  assert.match(caps.untagged[0]!, /AUTH=PLAIN/);
  assert.doesNotMatch(caps.untagged[0]!, /LOGINDISABLED|STARTTLS/);
  const bad = Buffer.from(`\0${user.address}\0wrong`).toString('base64');
  assert.match((await c.command(`AUTHENTICATE PLAIN ${bad}`)).tagged, /NO \[AUTHENTICATIONFAILED\]/);
  const good = Buffer.from(`\0${user.address}\0${user.password}`).toString('base64');
  // Without SASL-IR: the challenge, then the response on its own line.
  c.write('a9 AUTHENTICATE PLAIN\r\n');
  assert.equal(await c.line(), '+ ');
  c.write(`${good}\r\n`);
  assert.match((await c.until('a9')).tagged, /^a9 OK/);
  ok(await c.command('LOGOUT'));
  c.close();
});

test('append, select, store, expunge, copy, move: numbers after every mutation', async () => {
  const c = await login();
  let n = await numbers(c);
  assert.deepEqual({ ...n, modseq: 0 }, { messages: 0, uidNext: 1, unseen: 0, modseq: 0 });

  // LITERAL+ APPEND with flags and date (RFC 9051 §6.3.12 example shape).
  const first = simple('first');
  let r = ok(await c.command(`APPEND INBOX (\\Seen) "05-Jan-2024 10:00:00 +0000" {${first.length}+}\r\n${first}`));
  assert.match(r.tagged, /OK \[APPENDUID \d+ 1\]/);
  n = await expectNumbers(c, n, { messages: 1, uidNext: 2, unseen: 0 });

  // MULTIAPPEND: two messages, one commit.
  const a = simple('second', 'Jones <jones@example.org>');
  const b = simple('third');
  r = ok(await c.command(`APPEND INBOX (\\Flagged) {${a.length}+}\r\n${a} {${b.length}+}\r\n${b}`));
  assert.match(r.tagged, /APPENDUID \d+ 2:3/);
  n = await expectNumbers(c, n, { messages: 3, uidNext: 4, unseen: 2 });

  r = ok(await c.command('SELECT INBOX'));
  assert.ok(r.untagged.includes('* 3 EXISTS'), r.raw);
  assert.ok(r.untagged.some((l) => /^\* OK \[UIDVALIDITY \d+\]/.test(l)));
  assert.ok(r.untagged.some((l) => l.startsWith('* OK [UIDNEXT 4]')));
  assert.ok(r.untagged.some((l) => l.startsWith('* OK [UNSEEN 2]')));
  assert.ok(r.untagged.some((l) => l.startsWith('* OK [HIGHESTMODSEQ')));
  assert.match(r.tagged, /OK \[READ-WRITE\]/);

  // RFC 9051 §6.4.6: STORE 2:3 +FLAGS (\Deleted) answers the new flags.
  r = ok(await c.command('STORE 2:3 +FLAGS (\\Deleted)'));
  assert.ok(r.untagged.some((l) => /^\* 2 FETCH \(UID 2 FLAGS \((\\Flagged \\Deleted|\\Deleted \\Flagged)\)( MODSEQ \(\d+\))?\)$/.test(l)), r.raw);
  assert.ok(r.untagged.some((l) => l.startsWith('* 3 FETCH')));
  n = await expectNumbers(c, n, { messages: 3, uidNext: 4, unseen: 2 });

  r = ok(await c.command('STORE 2 -FLAGS.SILENT (\\Deleted)'));
  // CONDSTORE is on (STATUS HIGHESTMODSEQ enables it): .SILENT still sends the new MODSEQ, never FLAGS.
  assert.deepEqual(r.untagged.map((l) => l.replace(/\d+\)\)$/, 'n))')), ['* 2 FETCH (UID 2 MODSEQ (n))']);
  n = await expectNumbers(c, n, { messages: 3, uidNext: 4, unseen: 2 });

  r = ok(await c.command('EXPUNGE'));
  assert.deepEqual(r.untagged, ['* 3 EXPUNGE']);
  n = await expectNumbers(c, n, { messages: 2, uidNext: 4, unseen: 1 });

  r = ok(await c.command('COPY 1:2 Archive'));
  assert.match(r.tagged, /OK \[COPYUID \d+ 1:2 1:2\]/);
  const archive = await numbers(c, 'Archive');
  assert.deepEqual({ ...archive, modseq: 0 }, { messages: 2, uidNext: 3, unseen: 1, modseq: 0 });

  r = ok(await c.command('UID MOVE 2 Trash'));
  assert.ok(r.untagged.some((l) => /^\* OK \[COPYUID \d+ 2 1\]/.test(l)), r.raw);
  assert.ok(r.untagged.includes('* 2 EXPUNGE'), r.raw);
  n = await expectNumbers(c, n, { messages: 1, uidNext: 4, unseen: 0 });

  // CONDSTORE: a STORE with a stale UNCHANGEDSINCE changes nothing and says MODIFIED.
  r = ok(await c.command('FETCH 1 (MODSEQ)'));
  const modseq = Number(r.untagged[0]!.match(/MODSEQ \((\d+)\)/)![1]);
  r = ok(await c.command(`STORE 1 (UNCHANGEDSINCE ${modseq}) +FLAGS (\\Answered)`));
  assert.ok(r.untagged.some((l) => l.includes('MODSEQ')), r.raw);
  r = await c.command(`STORE 1 (UNCHANGEDSINCE ${modseq}) +FLAGS (\\Draft)`);
  assert.match(r.tagged, /OK \[MODIFIED 1\]/);
  n = await expectNumbers(c, n, { messages: 1, uidNext: 4, unseen: 0 });

  // UID EXPUNGE only takes the named \Deleted messages.
  const more = simple('fourth');
  ok(await c.command(`APPEND INBOX (\\Deleted) {${more.length}+}\r\n${more}`));
  ok(await c.command('STORE 1 +FLAGS (\\Deleted)'));
  r = ok(await c.command('UID EXPUNGE 4'));
  assert.ok(r.untagged.includes('* 2 EXPUNGE'), r.raw);
  await expectNumbers(c, n, { messages: 1, uidNext: 5, unseen: 0 });
  ok(await c.command('CLOSE'));
  assert.equal((await numbers(c)).messages, 0, 'CLOSE expunged the rest');
  ok(await c.command('LOGOUT'));
  c.close();
});

test('FETCH: envelope, body structure, sections, partials, BINARY, implicit \\Seen', async () => {
  await server.addUser('fetch@example.org', 'fetch-pw');
  const c = await login('fetch@example.org', 'fetch-pw');
  ok(await c.command(`APPEND INBOX {${multipart.length}+}\r\n${multipart}`));
  ok(await c.command('SELECT INBOX'));
  let r = ok(await c.command('FETCH 1 (FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE INTERNALDATE EMAILID THREADID)'));
  const line = r.untagged[0]!;
  assert.match(line, /ENVELOPE \("Mon, 7 Feb 1994 21:52:25 -0800" "afternoon meeting" \(\("Fred Foobar" NIL "foobar" "Blurdybloop.example"\)\)/);
  assert.match(line, /BODYSTRUCTURE \(\("text" "plain" \("charset" "us-ascii"\) NIL NIL "7bit" \d+ \d+/i);
  assert.match(line, /"mixed"/i);
  assert.match(line, new RegExp(`RFC822.SIZE ${multipart.length}`));
  assert.match(line, /EMAILID \(M[0-9a-f]+\) THREADID \(T[0-9a-f]+\)/);
  // Again, from the session's summary cache: the same answer.
  assert.equal(ok(await c.command('FETCH 1 (FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE INTERNALDATE EMAILID THREADID)')).untagged[0], line);
  r = ok(await c.command('FETCH 1 (BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[2.MIME] BODY.PEEK[]<0.4> BINARY.PEEK[2] BINARY.SIZE[2])'));
  const all = r.untagged.join('\n');
  assert.match(all, /BODY\[1\] \{\d+\}\r\nHello Joe, do you think we can meet at 3:30 tomorrow\?/);
  assert.match(all, /BODY\[HEADER\.FIELDS \(Subject\)\] \{\d+\}\r\nSubject: afternoon meeting\r\n\r\n/);
  assert.match(all, /BODY\[2\.MIME\] \{\d+\}\r\nContent-Type: application\/octet-stream/);
  assert.match(all, /BODY\[\]<0> "From"|BODY\[\]<0> \{4\}\r\nFrom/);
  assert.match(all, /BINARY\[2\] ~\{5\}\r\n\x00\x01\x02\x03\x04/);
  assert.match(all, /BINARY\.SIZE\[2\] 5/);
  assert.doesNotMatch(all, /\\Seen/, 'PEEK sets no flag');
  r = ok(await c.command('FETCH 1 BODY[TEXT]'));
  assert.match(r.untagged.join('\n'), /FLAGS \(\\Seen\)/, 'a non-PEEK fetch sets \\Seen and says so');
  r = ok(await c.command('FETCH 1 FAST'));
  assert.match(r.untagged[0]!, /^\* 1 FETCH \(FLAGS \(\\Seen\) INTERNALDATE "[^"]+" RFC822.SIZE \d+\)$/);
  assert.match((await c.command('FETCH 5 FLAGS')).tagged, /BAD/);
  ok(await c.command('LOGOUT'));
  c.close();
});

test('SEARCH (RFC 9051 examples), ESEARCH, SEARCHRES, MODSEQ, SORT, THREAD', async () => {
  await server.addUser('search@example.org', 'search-pw');
  const c = await login('search@example.org', 'search-pw');
  const messages = [
    simple('Hello there', 'Smith <smith@example.org>'),
    simple('Re: Hello there', 'Jones <jones@example.org>', 'In-Reply-To: <Hellothere@x>\r\nReferences: <Hellothere@x>\r\n'),
    simple('Unrelated', 'Adams <adams@example.org>'),
  ];
  for (const m of messages) ok(await c.command(`APPEND INBOX {${m.length}+}\r\n${m}`));
  ok(await c.command('SELECT INBOX'));
  ok(await c.command('STORE 1,3 +FLAGS (\\Flagged)'));
  // RFC 9051 §6.4.4: SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"
  let r = ok(await c.command('SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"'));
  assert.deepEqual(r.untagged, ['* SEARCH 3']);
  r = ok(await c.command('UID SEARCH OR BODY "Unrelated world" SUBJECT "re: hello"'));
  assert.deepEqual(r.untagged, ['* SEARCH 2 3']);
  r = ok(await c.command('SEARCH SENTON 2-Feb-1994 LARGER 10 NOT DELETED TEXT "there"'));
  assert.deepEqual(r.untagged, ['* SEARCH 1 2']);
  r = ok(await c.command('SEARCH HEADER Message-ID "<Unrelated@x>"'));
  assert.deepEqual(r.untagged, ['* SEARCH 3']);
  r = ok(await c.command('SEARCH RETURN (MIN MAX COUNT) FLAGGED'));
  assert.match(r.untagged[0]!, /^\* ESEARCH \(TAG "t\d+"\) MIN 1 MAX 3 COUNT 2$/);
  r = ok(await c.command('UID SEARCH RETURN (SAVE) FLAGGED'));
  assert.equal(r.untagged.length, 0);
  r = ok(await c.command('FETCH $ (UID)'));
  assert.deepEqual(r.untagged, ['* 1 FETCH (UID 1)', '* 3 FETCH (UID 3)']);
  // WITHIN (RFC 5032): all three were appended just now.
  assert.deepEqual(ok(await c.command('SEARCH YOUNGER 86400')).untagged, ['* SEARCH 1 2 3']);
  assert.deepEqual(ok(await c.command('SEARCH OLDER 86400')).untagged, ['* SEARCH']);
  r = ok(await c.command('SEARCH MODSEQ 1'));
  assert.match(r.untagged[0]!, /^\* SEARCH 1 2 3 \(MODSEQ \d+\)$/);
  assert.match((await c.command('SEARCH CHARSET KOI8-R ALL')).tagged, /NO \[BADCHARSET/);
  r = ok(await c.command('SORT (REVERSE FROM) UTF-8 ALL'));
  assert.deepEqual(r.untagged, ['* SORT 1 2 3']);
  r = ok(await c.command('UID SORT (SUBJECT ARRIVAL) UTF-8 ALL'));
  assert.deepEqual(r.untagged, ['* SORT 1 2 3']);
  r = ok(await c.command('THREAD REFERENCES UTF-8 ALL'));
  assert.deepEqual(r.untagged, ['* THREAD (1 2)(3)']);
  r = ok(await c.command('THREAD ORDEREDSUBJECT UTF-8 ALL'));
  assert.deepEqual(r.untagged, ['* THREAD (1 2)(3)']);
  ok(await c.command('LOGOUT'));
  c.close();
});

test('mailboxes: LIST variants, CREATE with parents and USE, RENAME, DELETE, SUBSCRIBE, STATUS, NAMESPACE, QUOTA', async () => {
  await server.addUser('boxes@example.org', 'boxes-pw', { quotaBytes: 10 * 1024 * 1024 });
  const c = await login('boxes@example.org', 'boxes-pw');
  let r = ok(await c.command('LIST "" ""'));
  assert.deepEqual(r.untagged, ['* LIST (\\Noselect) "/" ""']);
  r = ok(await c.command('LIST "" *'));
  assert.ok(r.untagged.includes('* LIST (\\HasNoChildren) "/" INBOX'), r.raw);
  assert.ok(r.untagged.includes('* LIST (\\HasNoChildren \\Sent) "/" Sent'), r.raw);
  ok(await c.command('CREATE Projects/2024/Q1'));
  ok(await c.command('CREATE Stuff (USE (\\Archive))'));
  assert.match((await c.command('CREATE Projects')).tagged, /NO \[ALREADYEXISTS\]/);
  r = ok(await c.command('LIST "" Projects/%'));
  assert.deepEqual(r.untagged, ['* LIST (\\HasChildren) "/" Projects/2024']);
  r = ok(await c.command('LIST (SPECIAL-USE) "" *'));
  assert.ok(r.untagged.every((l) => /\\(Sent|Drafts|Trash|Junk|Archive)/.test(l)) && r.untagged.length === 6, r.raw);
  ok(await c.command('RENAME Projects/2024 Projects/2025'));
  r = ok(await c.command('LIST "" Projects/*'));
  assert.deepEqual(r.untagged, ['* LIST (\\HasChildren) "/" Projects/2025', '* LIST (\\HasNoChildren) "/" Projects/2025/Q1']);
  ok(await c.command('UNSUBSCRIBE Sent'));
  ok(await c.command('SUBSCRIBE Projects/2025/Q1'));
  r = ok(await c.command('LIST (SUBSCRIBED RECURSIVEMATCH) "" Projects'));
  assert.deepEqual(r.untagged, ['* LIST (\\HasChildren) "/" Projects ("CHILDINFO" ("SUBSCRIBED"))']);
  r = ok(await c.command('LSUB "" S*'));
  assert.equal(r.untagged.length, 0, r.raw);
  r = ok(await c.command('LIST "" INBOX RETURN (STATUS (MESSAGES UIDNEXT SIZE))'));
  assert.deepEqual(r.untagged, ['* LIST (\\HasNoChildren) "/" INBOX', '* STATUS INBOX (MESSAGES 0 UIDNEXT 1 SIZE 0)']);
  // RENAME creates the superior hierarchy; RENAME INBOX moves its messages and leaves it empty.
  ok(await c.command('RENAME Stuff Old/Stuff'));
  r = ok(await c.command('LIST "" Old/*'));
  assert.deepEqual(r.untagged, ['* LIST (\\HasNoChildren \\Archive) "/" Old/Stuff']);
  const inboxMail = 'Subject: kept\r\n\r\nbody\r\n';
  ok(await c.command(`APPEND INBOX (\\Flagged) {${inboxMail.length}+}\r\n${inboxMail}`));
  ok(await c.command(`APPEND INBOX {${inboxMail.length}+}\r\n${inboxMail}`));
  ok(await c.command('RENAME INBOX Old/Inbox'));
  r = ok(await c.command('STATUS INBOX (MESSAGES UIDNEXT)'));
  assert.deepEqual(r.untagged, ['* STATUS INBOX (MESSAGES 0 UIDNEXT 3)']);
  r = ok(await c.command('STATUS Old/Inbox (MESSAGES)'));
  assert.deepEqual(r.untagged, ['* STATUS Old/Inbox (MESSAGES 2)']);
  assert.match((await c.command('RENAME INBOX Old/Inbox')).tagged, /NO \[ALREADYEXISTS\]/);
  assert.match((await c.command('RENAME Old/Stuff Old//x')).tagged, /NO \[CANNOT\]/);
  ok(await c.command('DELETE Projects/2025/Q1'));
  assert.match((await c.command('DELETE INBOX')).tagged, /NO/);
  assert.match((await c.command('STATUS Nope (MESSAGES)')).tagged, /NO \[NONEXISTENT\]/);
  r = ok(await c.command('NAMESPACE'));
  assert.deepEqual(r.untagged, ['* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Public Folders/" "/"))']);
  r = ok(await c.command('GETQUOTAROOT INBOX'));
  assert.deepEqual(r.untagged, ['* QUOTAROOT INBOX ""', '* QUOTA "" (STORAGE 1 10240)']); // the two messages moved out of INBOX
  // UTF-8 names: mUTF-7 before ENABLE, UTF-8 after.
  ok(await c.command('CREATE "&ZeVnLIqe-"'));
  r = ok(await c.command('LIST "" "&ZeVnLIqe-"'));
  assert.deepEqual(r.untagged, ['* LIST (\\HasNoChildren) "/" &ZeVnLIqe-']);
  r = ok(await c.command('ENABLE UTF8=ACCEPT CONDSTORE'));
  assert.deepEqual(r.untagged, ['* ENABLED UTF8=ACCEPT CONDSTORE']);
  r = ok(await c.command('LIST "" "日本語"'));
  assert.deepEqual(r.untagged, [Buffer.from('* LIST (\\HasNoChildren) "/" "日本語"').toString('latin1')]);
  ok(await c.command('LOGOUT'));
  c.close();
});

test('bad commands get BAD and the session goes on', async () => {
  const c = await login();
  assert.match((await c.command('FROBNICATE')).tagged, /BAD/);
  assert.match((await c.command('FETCH 1 FLAGS')).tagged, /BAD/, 'FETCH before SELECT');
  assert.match((await c.command('SELECT')).tagged, /BAD/);
  c.write('* NOOP\r\n');
  assert.match((await c.line())!, /^\* BAD/);
  ok(await c.command('NOOP'));
  ok(await c.command('LOGOUT'));
  c.close();
});
