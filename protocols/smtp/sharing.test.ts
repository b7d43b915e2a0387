// Proves issue 4's "a message for many recipients in one database is stored once there": one
// 67 KB message delivered over LMTP (nodemailer) to ten distinct users of DB01 grows DB01's
// log by about one copy, not ten (each user's Return-Path and Delivered-To are per-message
// prefixes in front of one shared content), and every user reads back their own trace fields
// + the shared bytes, byte for byte, over IMAP (imapflow: BODY[], RFC822.SIZE,
// BODY[HEADER.FIELDS (DELIVERED-TO)], SEARCH HEADER) and POP3 (Python's poplib: LIST, RETR, TOP).
// It prints the log bytes of each case: the figures in protocols/smtp/README.md.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { parseMessage, sectionBytes } from '../../engine/api.js';
import { type TestServer, startTestServer } from '../../test/harness.js';
import { jmapClient } from '../http/jmap/testing.js';

const run = promisify(execFile);
let server: TestServer;
const users = Array.from({ length: 10 }, (_, i) => ({ address: `share${i + 1}@example.org`, password: `share-password-${i + 1}` }));
const sender = 'list@remote.test';

/** A 67 KB message: text and a 48 KiB random attachment in base64 (the shape measured before). */
function message(subject: string): string {
  const attachment = randomBytes(48 * 1024).toString('base64').replace(/.{76}/g, '$&\r\n');
  return [
    `From: List <${sender}>`, 'To: many@example.org', `Subject: ${subject}`, `Message-ID: <${subject.replace(/\s/g, '.')}@remote.test>`,
    'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain; charset=utf-8', '', `The body of ${subject}.`, '',
    '--b1', 'Content-Type: application/octet-stream; name="data.bin"', 'Content-Transfer-Encoding: base64', '', attachment.trimEnd(), '--b1--', '',
  ].join('\r\n');
}

async function logEnd(): Promise<number> {
  const copy = (await server.server.supervisor.list()).find((c) => c.database === 'DB01' && c.role === 'active');
  assert.ok(copy !== undefined);
  return copy.lastLogPosition;
}

/** DB01's log growth for one LMTP delivery to `to` (every recipient answered 250). */
async function logBytesFor(to: string[], raw: string): Promise<number> {
  const start = await logEnd();
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.port('lmtp'), lmtp: true, secure: false, ignoreTLS: true });
  const info = (await transport.sendMail({ envelope: { from: sender, to }, raw })) as { accepted: string[] };
  assert.equal(info.accepted.length, to.length);
  // The copy status follows the worker's batch notices: wait until it has the delivery's batch.
  let end = await logEnd();
  for (let tries = 0; tries < 100 && end === start; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    end = await logEnd();
  }
  return end - start;
}

async function imapRead(user: { address: string; password: string }, subject: string) {
  const client = new ImapFlow({ host: '127.0.0.1', port: server.port('imap'), secure: false, doSTARTTLS: true, tls: { rejectUnauthorized: false }, auth: { user: user.address, pass: user.password }, logger: false } as ConstructorParameters<typeof ImapFlow>[0]);
  await client.connect();
  try {
    await client.mailboxOpen('INBOX');
    const uids = (await client.search({ header: { subject } }, { uid: true })) as number[];
    const byDeliveredTo = (await client.search({ header: { 'delivered-to': user.address } }, { uid: true })) as number[];
    const message = await client.fetchOne(String(uids.at(-1)), { uid: true, source: true, size: true, headers: ['delivered-to'], bodyParts: ['1', '2', 'text'], bodyStructure: true }, { uid: true });
    assert.ok(message !== false);
    return { uids, byDeliveredTo, source: message.source!, size: message.size!, deliveredTo: message.headers!.toString('latin1'), parts: message.bodyParts!, structure: message.bodyStructure! };
  } finally {
    await client.logout();
  }
}

const popScript = `
import json, poplib, ssl, sys
host, port, user, password = sys.argv[1:5]
s = poplib.POP3_SSL(host, int(port), context=ssl._create_unverified_context(), timeout=20)
s.user(user)
s.pass_(password)
count = s.stat()[0]
size = int(s.list(count).split()[2])
lines = s.retr(count)[1]
top = s.top(count, 0)[1]
s.quit()
print(json.dumps({'size': size, 'retr': (b'\\r\\n'.join(lines) + b'\\r\\n').hex(), 'top': (b'\\r\\n'.join(top) + b'\\r\\n').hex()}))
`;

before(async () => {
  server = await startTestServer();
  for (const user of users) await server.addUser(user.address, user.password, { database: 'DB01' });
  assert.ok((await server.server.directory.addGroup('ten@example.org', users.map((u) => u.address))).ok);
});

after(async () => {
  await server.stop();
});

test('one message to ten distinct users of one database: the log grows by about one copy; each reads its own Delivered-To + the shared bytes over IMAP and POP3', { timeout: 180_000 }, async () => {
  const one = await logBytesFor([users[0]!.address], message('warm up'));
  const single = await logBytesFor([users[0]!.address], message('single'));
  const group = await logBytesFor(['ten@example.org'], message('group'));
  const raw = message('distinct');
  const distinct = await logBytesFor(users.map((u) => u.address), raw);
  console.log(`# DB01 log bytes for one ${raw.length}-byte message: 1 RCPT ${single} (first ${one}), group RCPT (10 members) ${group}, 10 distinct RCPTs ${distinct}: ${(distinct / single).toFixed(2)}x one recipient, ${(distinct / group).toFixed(2)}x the group`);
  assert.ok(distinct < single * 1.5, `10 distinct recipients wrote ${distinct} bytes of log, one recipient ${single}: about one copy, not ten`);
  assert.ok(distinct < group * 1.5, `10 distinct recipients wrote ${distinct}, the group ${group}`);

  for (const user of users) {
    const imap = await imapRead(user, 'distinct');
    const source = imap.source.toString('latin1');
    assert.ok(source.startsWith(`Return-Path: <${sender}>\r\nDelivered-To: ${user.address}\r\nReceived: from `), source.slice(0, 200));
    assert.ok(source.endsWith(raw), `${user.address}: the message as sent, byte for byte, after the trace fields`);
    assert.equal(imap.size, imap.source.length, 'RFC822.SIZE is the size of BODY[]');
    assert.equal(imap.deliveredTo, `Delivered-To: ${user.address}\r\n\r\n`);
    assert.ok(imap.byDeliveredTo.includes(imap.uids.at(-1)!), 'SEARCH HEADER Delivered-To finds it');
    // Sections and BODYSTRUCTURE sizes are those of the whole message parsed on its own.
    const whole = parseMessage(new Uint8Array(imap.source));
    for (const [key, section] of [['1', { path: [1] }], ['2', { path: [2] }], ['text', { path: [], specifier: 'TEXT' as const }]] as const) {
      assert.deepEqual(imap.parts.get(key), Buffer.from(sectionBytes(new Uint8Array(imap.source), whole, section)!), `BODY[${key}]`);
    }
    assert.deepEqual(imap.structure.childNodes!.map((n) => n.size), whole.body.children.map((c) => c.sizeBytes));

    const { stdout } = await run('python3', ['-c', popScript, '127.0.0.1', String(server.port('pop3s')), user.address, user.password], { timeout: 60_000 });
    const pop = JSON.parse(stdout) as { size: number; retr: string; top: string };
    assert.equal(pop.size, imap.source.length, 'POP3 LIST size');
    assert.deepEqual(Buffer.from(pop.retr, 'hex'), imap.source, 'POP3 RETR gives the same bytes as IMAP');
    const header = source.slice(0, source.indexOf('\r\n\r\n') + 4);
    assert.equal(Buffer.from(pop.top, 'hex').toString('latin1'), header, 'POP3 TOP 0 is the header with the trace fields');
  }

  // JMAP: size, the Delivered-To header, the blob download and Email/parse of it.
  for (const user of users.slice(0, 3)) {
    const jmap = jmapClient(server, user.address, user.password, ['urn:ietf:params:jmap:core', 'urn:ietf:params:jmap:mail']);
    const accountId = (await jmap.get('/.well-known/jmap')).json().primaryAccounts['urn:ietf:params:jmap:mail'] as string;
    const query = await jmap.one('Email/query', { accountId, filter: { subject: 'distinct' } });
    const got = await jmap.one('Email/get', { accountId, ids: query.ids, properties: ['size', 'blobId', 'header:Delivered-To:asText'] });
    const email = got.list[0];
    const source = (await imapRead(user, 'distinct')).source;
    assert.equal(email.size, source.length);
    assert.equal(email['header:Delivered-To:asText'], user.address);
    const download = await jmap.get(`/jmap/download/${accountId}/${email.blobId}/m.eml?accept=message/rfc822`);
    assert.equal(download.status, 200);
    assert.deepEqual(download.body, source, 'the blob is the message with its trace fields');
    const parsed = await jmap.one('Email/parse', { accountId, blobIds: [email.blobId], properties: ['subject', 'header:Delivered-To:asText', 'size'] });
    assert.equal(parsed.parsed[email.blobId]['header:Delivered-To:asText'], user.address);
    assert.equal(parsed.parsed[email.blobId].subject, 'distinct');
  }
});

test('a mailbox move carries each message prefix: the moved copy reads the same and keeps its content apart from its Delivered-To', { timeout: 180_000 }, async () => {
  const user = users[1]!;
  const found = (await server.server.directory.findUser(user.address))!;
  const before = await server.server.supervisor.api('DB01').listMessages(found.mailboxId, 'INBOX');
  assert.ok(before.ok);
  const delivered = before.value.messages.at(-1)!;
  assert.ok((delivered.prefixBytes ?? 0) > 0, 'a delivered message has its own prefix');
  const bytesBefore = await server.server.supervisor.api('DB01').readMessage(found.mailboxId, 'INBOX', delivered.uid);
  assert.ok(bytesBefore.ok);
  const started = await server.server.moves.start(user.address, 'DB02');
  assert.ok(started.ok, started.ok ? '' : started.message);
  const done = (await server.server.moves.wait(started.value.id))!;
  assert.equal(done.state, 'done', done.error ?? '');
  const after = await server.server.supervisor.api('DB02').listMessages(found.mailboxId, 'INBOX');
  assert.ok(after.ok);
  const moved = after.value.messages.find((m) => m.uid === delivered.uid)!;
  assert.equal(moved.prefixBytes, delivered.prefixBytes);
  assert.equal(moved.sizeBytes, delivered.sizeBytes);
  const bytesAfter = await server.server.supervisor.api('DB02').readMessage(found.mailboxId, 'INBOX', delivered.uid);
  assert.ok(bytesAfter.ok);
  assert.deepEqual(Buffer.from(bytesAfter.value), Buffer.from(bytesBefore.value));
  const imap = await imapRead(user, 'distinct');
  assert.equal(imap.deliveredTo, `Delivered-To: ${user.address}\r\n\r\n`);
});
