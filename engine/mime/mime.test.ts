// Proves the MIME parser on real-world-shaped messages: IMAP ENVELOPE and BODYSTRUCTURE fields,
// part numbering and byte offsets (so every BODY[section] is the right slice), RFC 2047/2231
// decoding, charsets, transfer encodings, JMAP body lists and preview, broken input, and each
// limit at the limit and one past it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize, partsById, partText } from './parse.js';
import { binaryBytes, parseSection, sectionBytes } from './section.js';
import { decodeBase64, decodeCharset, decodeParams, decodeQuotedPrintable, decodeWords } from './decode.js';
import { parseAddressList } from './address.js';
import { parseDate } from './date.js';
import { alternative, broken, bytesOf, mixed, plain } from './fixtures.js';
import { boundaryBytesMax, headerBytesMax, headerFieldsMax, mimeDepthMax, mimePartsMax } from './constants.js';
import type { BodyPart, MessageSummary, Section } from './types.js';

const text = (bytes: Uint8Array | null | string): string => (bytes === null ? '<null>' : typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
const section = (s: string): Section => {
  const parsed = parseSection(s);
  assert.ok(parsed !== null, `section ${s} parses`);
  return parsed;
};
const slice = (bytes: Uint8Array, summary: MessageSummary, s: string): string => text(sectionBytes(bytes, summary, section(s)));

test('multipart/alternative: envelope with RFC 2047, groups, thread ids, structure and preview', () => {
  const s = summarize(alternative);
  const e = s.envelope;
  assert.equal(e.date, 'Tue, 3 Mar 2026 11:00:00 +0100');
  assert.equal(e.dateMs, Date.UTC(2026, 2, 3, 10, 0, 0));
  assert.equal(e.dateOffsetMinutes, 60);
  assert.equal(e.subject, '=?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?= =?UTF-8?Q?_und_mehr?=');
  assert.equal(e.subjectDecoded, 'Grüße aus München und mehr');
  assert.deepEqual(e.from, [{ name: '=?UTF-8?Q?Ren=C3=A9e_M=C3=BCller?=', nameDecoded: 'Renée Müller', mailbox: 'alice', host: 'example.org', email: 'alice@example.org' }]);
  assert.deepEqual(e.to.map((a) => ('email' in a ? [a.name, a.email] : null)), [['Bob Example', 'bob@example.net'], [null, 'carol@example.com']]);
  assert.deepEqual(e.cc, [
    {
      group: 'Team',
      groupDecoded: 'Team',
      addresses: [
        { name: null, nameDecoded: null, mailbox: 'dave', host: 'example.com', email: 'dave@example.com' },
        { name: 'Eve', nameDecoded: 'Eve', mailbox: 'eve', host: 'example.com', email: 'eve@example.com' },
      ],
    },
  ]);
  assert.deepEqual([e.sender, e.replyTo, e.bcc], [[], [], []]);
  assert.equal(e.messageId, '<c0ffee.1@example.org>');
  assert.equal(e.inReplyTo, '<parent.0@example.net>');
  assert.deepEqual(s.thread, { messageId: 'c0ffee.1@example.org', inReplyTo: ['parent.0@example.net'], references: ['root@example.net', 'parent.0@example.net'] });
  assert.equal(s.headers.length, 12);
  assert.deepEqual(s.headers.map((h) => h.name).slice(0, 3), ['return-path', 'received', 'message-id']);

  const root = s.body;
  assert.deepEqual([root.partId, root.type, root.subtype, root.params], ['', 'multipart', 'alternative', [['boundary', '------------abc123']]]);
  const [plainPart, htmlPart] = root.children;
  assert.deepEqual(
    [plainPart!.partId, plainPart!.type, plainPart!.subtype, plainPart!.charset, plainPart!.encoding, plainPart!.lines, plainPart!.params],
    ['1', 'text', 'plain', 'utf-8', 'quoted-printable', 4, [['charset', 'UTF-8'], ['format', 'flowed']]],
  );
  assert.equal(plainPart!.sizeBytes, plainPart!.bodyEnd - plainPart!.bodyStart);
  assert.equal(partText(alternative, plainPart!).value, 'Grüße Bob,\r\n\r\ndas ist ein längerer Text mit einer weichen Zeilenumbruch.');
  assert.equal(plainPart!.decodedSizeBytes, Buffer.byteLength(partText(alternative, plainPart!).value));
  assert.deepEqual([htmlPart!.partId, htmlPart!.subtype, htmlPart!.encoding, htmlPart!.lines], ['2', 'html', '7bit', 1]);
  assert.deepEqual([s.textBody, s.htmlBody, s.attachments, s.hasAttachment], [['1'], ['2'], [], false]);
  assert.equal(s.preview, 'Grüße Bob, das ist ein längerer Text mit einer weichen Zeilenumbruch.');
  assert.deepEqual(s.problems, []);

  // Sections are slices of the stored bytes.
  assert.ok(slice(alternative, s, 'HEADER').startsWith('Return-Path: <alice@example.org>\r\n'));
  assert.ok(slice(alternative, s, 'HEADER').endsWith('boundary="------------abc123"\r\n\r\n'));
  assert.ok(slice(alternative, s, 'TEXT').startsWith('This is a multi-part message in MIME format.\r\n'));
  assert.equal(slice(alternative, s, ''), text(alternative));
  assert.equal(slice(alternative, s, '1.MIME'), 'Content-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n');
  assert.equal(slice(alternative, s, '2'), '<html><body><p>Gr&uuml;&szlig;e <b>Bob</b></p></body></html>');
  assert.equal(slice(alternative, s, 'HEADER.FIELDS (SUBJECT from)'), 'From: =?UTF-8?Q?Ren=C3=A9e_M=C3=BCller?= <alice@example.org>\r\nSubject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\r\n =?UTF-8?Q?_und_mehr?=\r\n\r\n');
  assert.ok(!slice(alternative, s, 'HEADER.FIELDS.NOT (Received Subject)').includes('Received:'));
  assert.equal(slice(alternative, s, '3'), '<null>');
  assert.equal(slice(alternative, s, '1.1'), '<null>');
  assert.equal(slice(alternative, s, '1.HEADER'), '<null>', 'HEADER of a part that is not a message names nothing');
  assert.equal(text(binaryBytes(alternative, s, [1]) as Uint8Array), 'Grüße Bob,\r\n\r\ndas ist ein längerer Text mit einer weichen Zeilenumbruch.');
});

test('multipart/mixed: related, inline image, RFC 2231 attachment name, nested message/rfc822', () => {
  const s = summarize(mixed);
  const byId = partsById(s.body);
  const ids = (part: BodyPart): string[] => [`${part.partId}:${part.type}/${part.subtype}`, ...part.children.flatMap(ids), ...(part.message === null ? [] : ids(part.message.body))];
  assert.deepEqual(ids(s.body), [
    ':multipart/mixed',
    '1:multipart/related',
    '1.1:multipart/alternative',
    '1.1.1:text/plain',
    '1.1.2:text/html',
    '1.2:image/png',
    '2:application/pdf',
    '3:message/rfc822',
    '3:multipart/mixed',
    '3.1:text/plain',
    '3.2:text/plain',
  ]);
  const pdf = byId.get('2')!;
  assert.equal(pdf.name, 'Bericht März.pdf');
  assert.deepEqual(pdf.params, [['name', '=?UTF-8?Q?Bericht_M=C3=A4rz.pdf?=']]);
  assert.deepEqual(pdf.disposition, { type: 'attachment', params: [['filename*0*', "UTF-8''Bericht%20M%C3%A4rz"], ['filename*1', '.pdf']] });
  assert.deepEqual([pdf.description, pdf.language, pdf.location, pdf.md5, pdf.encoding, pdf.lines, pdf.charset], ['the report', ['de', 'en'], 'http://example.com/r.pdf', 'Q2hlY2sgSW50ZWdyaXR5IQ==', 'base64', null, null]);
  assert.equal(pdf.decodedSizeBytes, 24);
  assert.deepEqual(Buffer.from(binaryBytes(mixed, s, [2]) as Uint8Array), Buffer.concat([Buffer.from('JVBERi0xLjQKJcfsj6IK', 'base64'), Buffer.from('JVBERi0xLjQK', 'base64')]));
  const image = byId.get('1.2')!;
  assert.deepEqual([image.id, image.cid, image.disposition?.type], ['<logo@x>', 'logo@x', 'inline']);
  const latin = byId.get('1.1.1')!;
  assert.equal(latin.charset, 'iso-8859-1');
  assert.equal(partText(mixed, latin).value, 'Siehe Anhang, schöne Grüße.');

  const forwarded = byId.get('3')!;
  assert.ok(forwarded.message !== null);
  assert.equal(forwarded.message.envelope.subject, 'Original');
  assert.equal(forwarded.message.envelope.messageId, '<orig.1@example.net>');
  assert.equal(forwarded.lines, 17);
  assert.equal(slice(mixed, s, '3.HEADER').split('\r\n')[0], 'From: Bob <bob@example.net>');
  assert.ok(slice(mixed, s, '3.TEXT').startsWith('--inner\r\n'));
  assert.equal(slice(mixed, s, '3.1'), 'original body');
  assert.equal(slice(mixed, s, '3.2.MIME'), 'Content-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment\r\n\r\n');
  assert.equal(slice(mixed, s, '3.HEADER.FIELDS (Subject)'), 'Subject: Original\r\n\r\n');
  assert.ok(slice(mixed, s, '3').startsWith('From: Bob'));
  assert.ok(slice(mixed, s, '3').endsWith('--inner--\r\n'));
  assert.equal(slice(mixed, s, '1.1.2'), '<p>Siehe Anhang <img src="cid:logo@x"></p>');
  assert.equal(slice(mixed, s, '3.3'), '<null>');

  // JMAP lists: the related image is an attachment beside the HTML; the forwarded message is one.
  assert.deepEqual([s.textBody, s.htmlBody, s.attachments, s.hasAttachment], [['1.1.1'], ['1.1.2'], ['1.2', '2', '3'], true]);
  assert.equal(s.preview, 'Siehe Anhang, schöne Grüße.');
  assert.equal(s.envelope.dateMs, Date.UTC(2026, 2, 4, 14, 15, 30));
});

test('a message without MIME headers gets the RFC 2045 defaults; single part is part 1', () => {
  const s = summarize(plain);
  assert.deepEqual([s.body.partId, s.body.type, s.body.subtype, s.body.charset, s.body.encoding, s.body.lines, s.body.params], ['1', 'text', 'plain', 'us-ascii', '7bit', 2, []]);
  assert.equal(slice(plain, s, '1'), 'line one\r\nline two\r\n');
  assert.equal(slice(plain, s, 'TEXT'), 'line one\r\nline two\r\n');
  assert.equal(slice(plain, s, '1.MIME'), slice(plain, s, 'HEADER'));
  assert.equal(s.envelope.dateMs, Date.UTC(2026, 2, 5, 6, 2, 0), 'two-digit year and a named zone');
  assert.deepEqual([s.textBody, s.htmlBody, s.preview], [['1'], ['1'], 'line one line two']);
});

test('broken input gives a summary, never an exception', () => {
  const s = summarize(broken);
  assert.deepEqual([s.body.type, s.body.subtype, s.body.children.length], ['text', 'plain', 0]);
  assert.deepEqual(s.problems, ['multipart without a usable boundary: read as text/plain']);
  assert.deepEqual(s.headers.map((h) => h.name), ['from', 'to', 'subject', 'content-type', 'content-transfer-encoding']);
  assert.equal(s.envelope.subjectDecoded, 'abc');
  for (const input of ['', '\r\n', 'no header at all', 'Subject: x', '\r\n\r\nbody only', 'Content-Type: message/rfc822\r\n\r\n', 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n']) {
    const r = summarize(bytesOf(input));
    assert.ok(r.body.bodyEnd === r.sizeBytes && r.body.bodyStart <= r.sizeBytes, `offsets inside ${JSON.stringify(input)}`);
  }
  // A message/rfc822 that is base64-encoded cannot be parsed as a message: an opaque part.
  const encoded = summarize(bytesOf('Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA==\r\n'));
  assert.deepEqual([encoded.body.type, encoded.body.subtype, encoded.body.message], ['application', 'octet-stream', null]);
  // A multipart whose boundary never appears has no parts: read as text.
  assert.equal(summarize(bytesOf('Content-Type: multipart/mixed; boundary=zz\r\n\r\nhello\r\n')).body.type, 'text');
  // LF-only line endings work the same.
  const lf = summarize(new TextEncoder().encode('Subject: lf\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nA\n--b\n\nB\n--b--\n'));
  assert.deepEqual(lf.body.children.map((c) => c.partId), ['1', '2']);
  assert.equal(text(sectionBytes(new TextEncoder().encode('Subject: lf\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nA\n--b\n\nB\n--b--\n'), lf, section('2'))), 'B');
});

test('decoders: RFC 2047 words, RFC 2231 values, charsets, quoted-printable, base64', () => {
  assert.equal(decodeWords('=?ISO-8859-1?Q?Andr=E9?= Pirard'), 'André Pirard');
  assert.equal(decodeWords('=?UTF-8?B?4oKs?= =?UTF-8?B?IDEw?='), '€ 10', 'blanks between adjacent words dropped');
  assert.equal(decodeWords('=?UTF-8?Q?=E2=82?= =?UTF-8?Q?=AC?='), '€', 'a character split across two words');
  assert.equal(decodeWords('a =?utf-8*en?q?b?= c'), 'a b c', 'RFC 2231 language in an encoded word');
  assert.equal(decodeWords('=?windows-1252?Q?=80uro?='), '€uro');
  assert.equal(decodeWords('=?koi8-r?B?8NLJ18XU?='), 'Привет');
  assert.equal(decodeWords('not =?encoded'), 'not =?encoded');
  assert.deepEqual(decodeParams([['title*', "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A"]]).get('title'), 'This is ***fun***');
  assert.deepEqual(decodeParams([['name*0', 'a'], ['name*2', 'c'], ['name*1', 'b']]).get('name'), 'abc');
  assert.deepEqual(decodeParams([['name', '=?UTF-8?Q?caf=C3=A9.txt?=']]).get('name'), 'café.txt');
  assert.deepEqual(decodeCharset(Buffer.from([0xe9]), 'no-such-charset'), { value: '\u00e9', problem: true });
  assert.deepEqual(decodeCharset(Buffer.from([0xff]), 'utf-8'), { value: '\ufffd', problem: true });
  assert.equal(decodeCharset(Buffer.from([0x82, 0xa0]), 'shift_jis').value, 'あ');
  assert.equal(text(decodeQuotedPrintable(bytesOf('a=3Db =\r\nc  \r\nd=\r\n')).value), 'a=b c\r\nd');
  assert.deepEqual(decodeQuotedPrintable(bytesOf('bad =ZZ')).problem, true);
  assert.equal(text(decodeBase64(bytesOf('aGVs\r\nbG8=\r\n')).value), 'hello');
  assert.equal(decodeBase64(bytesOf('aGVs*bG8')).problem, true);
});

test('addresses and dates: obsolete forms and comments', () => {
  const [a] = parseAddressList('Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>');
  assert.deepEqual(a, { name: 'Pete', nameDecoded: 'Pete', mailbox: 'pete', host: 'silly.test', email: 'pete@silly.test' });
  const [b] = parseAddressList('<@route.one,@route.two:jdoe@example.org>');
  assert.deepEqual(b, { name: null, nameDecoded: null, mailbox: 'jdoe', host: 'example.org', email: 'jdoe@example.org' });
  const [c] = parseAddressList('john.q.public@example.com (John Q. Public)');
  assert.deepEqual([('name' in c! ? c.name : null), ('email' in c! ? c.email : null)], ['John Q. Public', 'john.q.public@example.com']);
  const [d] = parseAddressList('"Joe Q. Public" <"joe public"@example.com>');
  assert.deepEqual(d, { name: 'Joe Q. Public', nameDecoded: 'Joe Q. Public', mailbox: '"joe public"', host: 'example.com', email: '"joe public"@example.com' });
  assert.deepEqual(parseAddressList('undisclosed-recipients:;'), [{ group: 'undisclosed-recipients', groupDecoded: 'undisclosed-recipients', addresses: [] }]);
  assert.equal(parseDate('Fri, 21 Nov 1997 09:55:06 -0600')?.ms, Date.UTC(1997, 10, 21, 15, 55, 6));
  assert.equal(parseDate('21 Nov 97 09:55:06 GMT')?.ms, Date.UTC(1997, 10, 21, 9, 55, 6));
  assert.equal(parseDate('Thu,\r\n 13\r\n Feb\r\n 1969\r\n 23:32\r\n -0330 (Newfoundland Time)')?.ms, Date.UTC(1969, 1, 14, 3, 2, 0));
  assert.equal(parseDate('yesterday'), null);
  assert.equal(parseDate('32 Jan 2020 10:00 +0000'), null);
});

/** `levels` multiparts nested in each other around one text part. */
function nested(levels: number): Uint8Array {
  let body = 'Content-Type: text/plain\r\n\r\ninnermost\r\n';
  for (let level = levels; level >= 1; level--) body = `Content-Type: multipart/mixed; boundary="b${level}"\r\n\r\n--b${level}\r\n${body}\r\n--b${level}--\r\n`;
  return bytesOf(body);
}

test(`limit: nesting depth ${mimeDepthMax} parses, ${mimeDepthMax + 1} stops at the limit`, () => {
  const atLimit = summarize(nested(mimeDepthMax));
  assert.deepEqual(atLimit.problems, []);
  let part = atLimit.body;
  while (part.children.length > 0) part = part.children[0]!;
  assert.deepEqual([part.type, part.partId], ['text', Array(mimeDepthMax).fill('1').join('.')]);
  const over = summarize(nested(mimeDepthMax + 1));
  assert.deepEqual(over.problems, ['nesting over limit: deeper parts not parsed']);
  part = over.body;
  while (part.children.length > 0) part = part.children[0]!;
  assert.deepEqual([part.type, part.subtype], ['application', 'octet-stream']);
});

function manyParts(count: number): Uint8Array {
  let body = 'Content-Type: multipart/mixed; boundary="p"\r\n\r\n';
  for (let i = 1; i <= count; i++) body += `--p\r\n\r\npart ${i}\r\n`;
  return bytesOf(`${body}--p--\r\n`);
}

test(`limit: ${mimePartsMax} entities parse, ${mimePartsMax + 1} stop at the limit`, () => {
  const atLimit = summarize(manyParts(mimePartsMax - 1)); // the multipart itself is one entity
  assert.deepEqual([atLimit.body.children.length, atLimit.problems], [mimePartsMax - 1, []]);
  const over = summarize(manyParts(mimePartsMax));
  assert.deepEqual([over.body.children.length, over.problems], [mimePartsMax - 1, ['part count over limit: later parts not parsed']]);
});

test(`limit: header fields starting within ${headerBytesMax} bytes parse, later ones do not`, () => {
  const padded = (subjectAt: number): MessageSummary => {
    const pad = 'X-Pad: ' + 'a'.repeat(subjectAt - 'X-Pad: '.length - 2) + '\r\n';
    return summarize(bytesOf(`${pad}Subject: found\r\n\r\nbody\r\n`));
  };
  const atLimit = padded(headerBytesMax - 1);
  assert.deepEqual([atLimit.envelope.subject, atLimit.problems], ['found', []]);
  const over = padded(headerBytesMax);
  assert.deepEqual([over.envelope.subject, over.problems], [null, ['header over limit: later fields ignored']]);
  assert.equal(over.body.bodyStart, over.sizeBytes - 'body\r\n'.length, 'the header still ends where it ends');
});

test(`limit: ${headerFieldsMax} header fields parse, the next is ignored`, () => {
  const fields = (count: number): MessageSummary => summarize(bytesOf(`${'X-A: 1\r\n'.repeat(count - 1)}Subject: last\r\n\r\n`));
  assert.deepEqual([fields(headerFieldsMax).envelope.subject, fields(headerFieldsMax).headers.length], ['last', headerFieldsMax]);
  const over = fields(headerFieldsMax + 1);
  assert.deepEqual([over.envelope.subject, over.headers.length, over.problems], [null, headerFieldsMax, ['header over limit: later fields ignored']]);
});

test(`limit: a ${boundaryBytesMax}-byte boundary works, ${boundaryBytesMax + 1} does not`, () => {
  const withBoundary = (length: number): MessageSummary => {
    const b = 'b'.repeat(length);
    return summarize(bytesOf(`Content-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\n\r\nA\r\n--${b}--\r\n`));
  };
  assert.equal(withBoundary(boundaryBytesMax).body.type, 'multipart');
  assert.equal(withBoundary(boundaryBytesMax + 1).body.type, 'text');
});

test('section syntax', () => {
  assert.deepEqual(parseSection(''), { path: [] });
  assert.deepEqual(parseSection('1.2.3'), { path: [1, 2, 3] });
  assert.deepEqual(parseSection('4.2.MIME'), { path: [4, 2], specifier: 'MIME' });
  assert.deepEqual(parseSection('header.fields (a b)'), { path: [], specifier: 'HEADER.FIELDS', fields: ['a', 'b'] });
  assert.deepEqual(parseSection('2.HEADER.FIELDS.NOT (x)'), { path: [2], specifier: 'HEADER.FIELDS.NOT', fields: ['x'] });
  for (const bad of ['MIME', '0', '1..2', '1.', 'HEADER.FIELDS', '1TEXT', 'BOGUS']) assert.equal(parseSection(bad), null, bad);
});
