// Proves the encoder writes RFC-exact responses: status lines with each response code, strings
// in atom/quoted/literal form chosen safely (no bare CR/LF ever), compacted sequence sets, and
// ENVELOPE/BODYSTRUCTURE matching RFC 9051's FETCH example byte for byte.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ResponseWriter,
  encodeCapability,
  encodeContinuation,
  encodeEsearch,
  encodeList,
  encodeSearch,
  encodeStatus,
  encodeStatusData,
  encodeVanished,
  sequenceSetText,
  writeBodyStructure,
  writeEnvelope,
  writeFetchItemName,
} from './encoder.js';
import type { BodyStructure, Envelope } from './types.js';

const s = (b: Buffer) => b.toString('utf8');

test('status responses with codes', () => {
  assert.equal(s(encodeStatus({ tag: 'a1', status: 'OK', code: { code: 'READ-WRITE' }, text: 'SELECT completed' })), 'a1 OK [READ-WRITE] SELECT completed\r\n');
  assert.equal(s(encodeStatus({ tag: undefined, status: 'OK', code: { code: 'UIDVALIDITY', value: 3857529045 }, text: 'UIDs valid' })), '* OK [UIDVALIDITY 3857529045] UIDs valid\r\n');
  assert.equal(s(encodeStatus({ tag: 'A003', status: 'OK', code: { code: 'APPENDUID', uidValidity: 38505, uids: [3955, 3956, 3957, 3960] }, text: 'done' })), 'A003 OK [APPENDUID 38505 3955:3957,3960] done\r\n');
  assert.equal(
    s(encodeStatus({ tag: 'A004', status: 'OK', code: { code: 'COPYUID', uidValidity: 38505, sourceUids: [304, 319, 320], destinationUids: [3956, 3957, 3958] }, text: 'Done' })),
    'A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n',
  );
  assert.equal(s(encodeStatus({ tag: 'a', status: 'OK', code: { code: 'HIGHESTMODSEQ', value: 20010715194045007n }, text: 'x' })), 'a OK [HIGHESTMODSEQ 20010715194045007] x\r\n');
  assert.equal(s(encodeStatus({ tag: 'd105', status: 'OK', code: { code: 'MODIFIED', numbers: [7, 9] }, text: 'Conditional STORE failed' })), 'd105 OK [MODIFIED 7,9] Conditional STORE failed\r\n');
  assert.equal(s(encodeStatus({ tag: 'a', status: 'NO', code: { code: 'TOOBIG' }, text: 'too big' })), 'a NO [TOOBIG] too big\r\n');
  assert.equal(s(encodeStatus({ tag: 'a', status: 'OK', code: { code: 'MAILBOXID', id: 'F2212ea87-6097-4256-9d51-71338625' }, text: 'Completed' })), 'a OK [MAILBOXID (F2212ea87-6097-4256-9d51-71338625)] Completed\r\n');
  assert.equal(s(encodeStatus({ tag: undefined, status: 'OK', code: { code: 'CAPABILITY', capabilities: ['IMAP4rev2', 'AUTH=PLAIN', 'LITERAL+'] }, text: 'ready' })), '* OK [CAPABILITY IMAP4rev2 AUTH=PLAIN LITERAL+] ready\r\n');
  assert.equal(s(encodeStatus({ tag: undefined, status: 'OK', code: { code: 'PERMANENTFLAGS', flags: ['\\Deleted', '\\Seen', '\\*'] }, text: 'Limited' })), '* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n');
  // Text can never break the line.
  assert.equal(s(encodeStatus({ tag: 'a', status: 'BAD', text: 'evil\r\n* OK injected' })), 'a BAD evil  * OK injected\r\n');
  assert.equal(s(encodeContinuation()), '+ Ready\r\n');
  assert.equal(s(encodeContinuation(new Uint8Array(0))), '+ \r\n');
  assert.equal(s(encodeCapability(['IMAP4rev1', 'IMAP4rev2'])), '* CAPABILITY IMAP4rev1 IMAP4rev2\r\n');
  assert.throws(() => encodeStatus({ tag: 'a b', status: 'OK', text: 'x' }));
});

test('strings choose atom, quoted or literal', () => {
  const w = (f: (w: ResponseWriter) => void, utf8 = false) => {
    const writer = new ResponseWriter({ utf8 });
    f(writer);
    return s(writer.toBuffer());
  };
  assert.equal(w((x) => x.astring('INBOX')), 'INBOX');
  assert.equal(w((x) => x.astring('NIL')), '"NIL"');
  assert.equal(w((x) => x.astring('')), '""');
  assert.equal(w((x) => x.astring('a b')), '"a b"');
  assert.equal(w((x) => x.string('say "hi" \\o/')), '"say \\"hi\\" \\\\o/"');
  assert.equal(w((x) => x.string('two\r\nlines')), '{10}\r\ntwo\r\nlines');
  assert.equal(w((x) => x.string('naïve')), '{6}\r\nnaïve');
  assert.equal(w((x) => x.string('naïve'), true), '"naïve"');
  assert.equal(w((x) => x.nstring(null)), 'NIL');
  assert.equal(w((x) => x.mailbox('~peter/mail/台北')), '~peter/mail/&U,BTFw-');
  assert.equal(w((x) => x.mailbox('台北 x'), true), '"台北 x"');
  assert.equal(w((x) => x.literal(Buffer.from('a\0b'))), '~{3}\r\na\0b');
  assert.throws(() => new ResponseWriter().raw('x\r\n'));
});

test('sequence set compaction', () => {
  assert.equal(sequenceSetText([1, 2, 3, 5, 7, 8, 9]), '1:3,5,7:9');
  assert.equal(sequenceSetText([9, 8, 7, 5, 3, 2, 1, 2]), '1:3,5,7:9');
  assert.equal(sequenceSetText([42]), '42');
  assert.equal(sequenceSetText([5, 6, 1, 2], { keepOrder: true }), '5:6,1:2');
  assert.throws(() => sequenceSetText([]));
});

test('search, esearch, vanished, list and status data', () => {
  assert.equal(s(encodeSearch([2, 84, 882])), '* SEARCH 2 84 882\r\n');
  assert.equal(s(encodeSearch([])), '* SEARCH\r\n');
  assert.equal(s(encodeSearch([2, 5], 917162500n)), '* SEARCH 2 5 (MODSEQ 917162500)\r\n');
  assert.equal(s(encodeEsearch({ tag: 'A282', uid: false, min: 2, count: 3 })), '* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n');
  assert.equal(s(encodeEsearch({ tag: 'A283', uid: true, all: [2, 10, 11] })), '* ESEARCH (TAG "A283") UID ALL 2,10:11\r\n');
  assert.equal(s(encodeEsearch({ tag: 'A284', uid: false, all: [] })), '* ESEARCH (TAG "A284")\r\n');
  assert.equal(s(encodeVanished([41, 43, 44, 45, 50], true)), '* VANISHED (EARLIER) 41,43:45,50\r\n');
  assert.equal(s(encodeVanished([405], false)), '* VANISHED 405\r\n');
  assert.equal(s(encodeList({ attributes: ['\\HasNoChildren'], delimiter: '/', name: 'INBOX' }, { utf8: false })), '* LIST (\\HasNoChildren) "/" INBOX\r\n');
  assert.equal(s(encodeList({ attributes: [], delimiter: '/', name: '台北' }, { utf8: false })), '* LIST () "/" &U,BTFw-\r\n');
  assert.equal(s(encodeList({ attributes: [], delimiter: '/', name: '台北' }, { utf8: true })), '* LIST () "/" "台北"\r\n');
  assert.equal(
    s(encodeList({ attributes: ['\\NonExistent'], delimiter: '/', name: 'Foo', childInfo: ['SUBSCRIBED'] }, { utf8: false })),
    '* LIST (\\NonExistent) "/" Foo ("CHILDINFO" ("SUBSCRIBED"))\r\n',
  );
  assert.equal(s(encodeList({ attributes: [], delimiter: null, name: 'x' }, { utf8: false }, 'LSUB')), '* LSUB () NIL x\r\n');
  assert.equal(
    s(encodeStatusData('blurdybloop', [['MESSAGES', 231], ['UIDNEXT', 44292], ['HIGHESTMODSEQ', 7011231777n], ['MAILBOXID', 'F22']], { utf8: false })),
    '* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292 HIGHESTMODSEQ 7011231777 MAILBOXID (F22))\r\n',
  );
});

// RFC 9051 §8's `a003 fetch 12 full` reply, built from typed structures.
const rfcEnvelope: Envelope = {
  date: 'Wed, 17 Jul 1996 02:23:25 -0700 (PDT)',
  subject: 'IMAP4rev2 WG mtg summary and minutes',
  from: [{ name: 'Terry Gray', adl: null, mailbox: 'gray', host: 'cac.washington.edu' }],
  sender: [{ name: 'Terry Gray', adl: null, mailbox: 'gray', host: 'cac.washington.edu' }],
  replyTo: [{ name: 'Terry Gray', adl: null, mailbox: 'gray', host: 'cac.washington.edu' }],
  to: [{ name: null, adl: null, mailbox: 'imap', host: 'cac.washington.edu' }],
  cc: [
    { name: null, adl: null, mailbox: 'minutes', host: 'CNRI.Reston.VA.US' },
    { name: 'John Klensin', adl: null, mailbox: 'KLENSIN', host: 'MIT.EDU' },
  ],
  bcc: null,
  inReplyTo: null,
  messageId: '<B27397-0100000@cac.washington.edu>',
};

const textPart = (subtype: string, sizeBytes: number, lines: number): BodyStructure => ({
  kind: 'single',
  type: 'TEXT',
  subtype,
  params: [['CHARSET', 'US-ASCII']],
  id: null,
  description: null,
  encoding: '7BIT',
  sizeBytes,
  lines,
  message: undefined,
  md5: null,
  disposition: null,
  language: null,
  location: null,
});

test('ENVELOPE and BODY as in RFC 9051 section 8', () => {
  const w = new ResponseWriter();
  writeEnvelope(w, rfcEnvelope);
  w.raw(' BODY ');
  writeBodyStructure(w, textPart('PLAIN', 3028, 92), false);
  assert.equal(
    s(w.toBuffer()),
    '("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev2 WG mtg summary and minutes" ' +
      '(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ' +
      '(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) ' +
      '((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL ' +
      '"<B27397-0100000@cac.washington.edu>") BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)',
  );
});

test('BODYSTRUCTURE: multipart, extension data, message/rfc822 nesting', () => {
  const attachment: BodyStructure = {
    kind: 'single',
    type: 'APPLICATION',
    subtype: 'PDF',
    params: [['NAME', 'a "b".pdf']],
    id: '<id@x>',
    description: null,
    encoding: 'BASE64',
    sizeBytes: 100,
    lines: undefined,
    message: undefined,
    md5: null,
    disposition: { type: 'attachment', params: [['filename', 'a.pdf']] },
    language: ['en', 'de'],
    location: null,
  };
  const inner: BodyStructure = { ...textPart('PLAIN', 10, 1) };
  const forwarded: BodyStructure = {
    kind: 'single',
    type: 'MESSAGE',
    subtype: 'RFC822',
    params: null,
    id: null,
    description: null,
    encoding: '7BIT',
    sizeBytes: 500,
    lines: 20,
    message: { envelope: rfcEnvelope, body: inner },
    md5: null,
    disposition: null,
    language: null,
    location: null,
  };
  const mixed: BodyStructure = {
    kind: 'multipart',
    subtype: 'MIXED',
    parts: [textPart('PLAIN', 1152, 23), attachment, forwarded],
    params: [['BOUNDARY', 'xyz']],
    disposition: null,
    language: null,
    location: 'http://example.org/',
  };
  const w = new ResponseWriter();
  writeBodyStructure(w, mixed, true);
  const text = s(w.toBuffer());
  assert.ok(text.startsWith('(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23 NIL NIL NIL NIL)("APPLICATION" "PDF" ("NAME" "a \\"b\\".pdf") "<id@x>" NIL "BASE64" 100 NIL ("attachment" ("filename" "a.pdf")) ("en" "de") NIL)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 500 ("Wed'), text);
  assert.ok(text.endsWith(' ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 20 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "xyz") NIL NIL "http://example.org/")'), text);
  // Inconsistent input is a programmer error.
  assert.throws(() => writeBodyStructure(new ResponseWriter(), { ...attachment, lines: 3 }, true));
});

test('FETCH item names echo the request without PEEK and with the partial origin', () => {
  const name = (att: Parameters<typeof writeFetchItemName>[1]) => {
    const w = new ResponseWriter();
    writeFetchItemName(w, att);
    return s(w.toBuffer());
  };
  assert.equal(name({ kind: 'BODY[]', peek: true, section: { part: [1, 2], text: 'HEADER.FIELDS', fields: ['From', 'Subject'] }, partial: { offset: 0, count: 100 } }), 'BODY[1.2.HEADER.FIELDS (From Subject)]<0>');
  assert.equal(name({ kind: 'BODY[]', peek: false, section: { part: [], text: undefined, fields: [] }, partial: undefined }), 'BODY[]');
  assert.equal(name({ kind: 'BINARY[]', peek: true, part: [3], partial: undefined }), 'BINARY[3]');
  assert.equal(name({ kind: 'BINARY.SIZE', part: [1, 1] }), 'BINARY.SIZE[1.1]');
  assert.equal(name({ kind: 'RFC822.SIZE' }), 'RFC822.SIZE');
});
