// Proves the POP3 front end over real sockets against a real `quire start` (worker processes,
// RocksDB): every command of RFC 1939 with CAPA, RESP-CODES, STLS, AUTH PLAIN and PIPELINING;
// no login before TLS; the maildrop lock ([IN-USE]); the snapshot taken at login; DELE applied
// durably at QUIT and never without it; bad commands answered with the session going on; the
// line limit at 255 and 256 octets; the bad-command limit at 20 and 21.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MailboxApi } from '../../engine/api.js';
import { startTestServer, type TestServer } from '../../test/harness.js';
import { authFailuresMax, commandErrorsMax } from './constants.js';
import { appendToInbox, message, Pop3TestClient } from './testing.js';
import { commandBytesMax } from './wire/constants.js';

let server: TestServer;
let api: MailboxApi;
let demo: { address: string; password: string; mailboxId: string };

before(async () => {
  server = await startTestServer();
  const user = await server.server.directory.findUser(server.demo.address);
  assert.ok(user !== null);
  api = server.server.supervisor.api(user.database);
  demo = { ...server.demo, mailboxId: user.mailboxId };
});

after(async () => {
  await server.stop();
});

async function inboxUids(mailboxId = demo.mailboxId): Promise<number[]> {
  const listing = await api.listMessages(mailboxId, 'INBOX');
  assert.ok(listing.ok);
  return listing.value.messages.map((m) => m.uid);
}

/** A fresh user with `count` messages; its login and mailbox. */
async function userWith(name: string, count: number): Promise<{ address: string; password: string; mailboxId: string; uids: number[] }> {
  const address = `${name}@example.org`;
  const password = `pw-${name}-secret`;
  await server.addUser(address, password);
  const user = await server.server.directory.findUser(address);
  assert.ok(user !== null);
  const uids = count === 0 ? [] : await appendToInbox(api, user.mailboxId, Array.from({ length: count }, (_, i) => message(`${name} ${i + 1}`, [`line one of ${i + 1}`, '.dot line', 'last'])));
  return { address, password, mailboxId: user.mailboxId, uids };
}

async function loggedIn(user: { address: string; password: string }): Promise<Pop3TestClient> {
  const client = await Pop3TestClient.connect(server.port('pop3s'), { tls: true, cert: server.cert });
  assert.match(await client.expectLine(), /^\+OK /);
  assert.match(await client.command(`USER ${user.address}`), /^\+OK/);
  assert.match(await client.command(`PASS ${user.password}`), /^\+OK Logged in/);
  return client;
}

test('plain port: CAPA offers STLS, no login before TLS, STLS drops pipelined plaintext, then USER/PASS', async () => {
  const client = await Pop3TestClient.connect(server.port('pop3'));
  assert.match(await client.expectLine(), /^\+OK .*Quire POP3 ready/);
  const [status, capabilities] = await client.multiline('CAPA');
  assert.match(status, /^\+OK/);
  assert.deepEqual(capabilities, ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'STLS', 'IMPLEMENTATION Quire']);
  assert.equal(await client.command(`USER ${demo.address}`), '-ERR [AUTH] Plaintext authentication is disallowed before STLS');
  assert.equal(await client.command('PASS x'), '-ERR Send USER first');
  const plain = Buffer.from(`\0${demo.address}\0${demo.password}`).toString('base64');
  assert.equal(await client.command(`AUTH PLAIN ${plain}`), '-ERR [AUTH] Plaintext authentication is disallowed before STLS');
  assert.deepEqual(await client.multiline('AUTH'), ['+OK Mechanisms follow', []]);
  assert.match(await client.command('STAT'), /^-ERR STAT is not valid in this state/);
  assert.match(await client.stls(server.cert), /^\+OK Begin TLS/);
  const [, secured] = await client.multiline('CAPA');
  assert.deepEqual(secured, ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'USER', 'SASL PLAIN', 'IMPLEMENTATION Quire']);
  assert.equal(await client.command('STLS'), '-ERR Already using TLS');
  assert.match(await client.command(`USER ${demo.address}`), /^\+OK/);
  assert.match(await client.command(`PASS ${demo.password}`), /^\+OK Logged in/);
  const [, afterLogin] = await client.multiline('CAPA');
  assert.deepEqual(afterLogin, ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'IMPLEMENTATION Quire']);
  assert.match(await client.command('QUIT'), /^\+OK/);
  await client.closed();
});

test('plaintext pipelined behind STLS is never executed', async () => {
  const client = await Pop3TestClient.connect(server.port('pop3'));
  await client.expectLine();
  // USER/PASS ride in the same packet as STLS; RFC 2595 says they must be ignored.
  client.write(`STLS\r\nUSER ${demo.address}\r\nPASS ${demo.password}\r\n`);
  assert.match(await client.expectLine(), /^\+OK Begin TLS/);
  client.close();
  const again = await Pop3TestClient.connect(server.port('pop3'));
  await again.expectLine();
  assert.match(await again.stls(server.cert), /^\+OK/);
  assert.match(await again.command('NOOP'), /^-ERR NOOP is not valid in this state/);
  assert.match(await again.command('QUIT'), /^\+OK/);
});

test('every TRANSACTION command: STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP; LAST is not supported', async () => {
  const user = await userWith('tx', 3);
  const client = await loggedIn(user);
  const sizes: number[] = [];
  for (const uid of user.uids) {
    const read = await api.readMessage(user.mailboxId, 'INBOX', uid);
    assert.ok(read.ok);
    sizes.push(read.value.length);
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  assert.equal(await client.command('STAT'), `+OK 3 ${total}`);
  assert.deepEqual(await client.multiline('LIST'), [`+OK 3 messages (${total} octets)`, sizes.map((s, i) => `${i + 1} ${s}`)]);
  assert.equal(await client.command('LIST 2'), `+OK 2 ${sizes[1]}`);
  assert.equal(await client.command('LIST 4'), '-ERR No message 4');
  const [, uidl] = await client.multiline('UIDL');
  assert.equal(uidl.length, 3);
  const ids = uidl.map((l) => l.split(' ')[1]!);
  assert.equal(new Set(ids).size, 3);
  for (const id of ids) assert.match(id, /^[\x21-\x7e]{1,70}$/);
  assert.equal(await client.command('UIDL 3'), `+OK 3 ${ids[2]}`);
  const [retr, body] = await client.multiline('RETR 1');
  assert.equal(retr, `+OK ${sizes[0]} octets`);
  assert.deepEqual(body, ['From: sender@example.net', 'To: demo@example.org', 'Subject: tx 1', 'Message-ID: <tx1@example.net>', '', 'line one of 1', '.dot line', 'last']);
  assert.deepEqual(await client.multiline('TOP 2 1'), ['+OK Top of message follows', ['From: sender@example.net', 'To: demo@example.org', 'Subject: tx 2', 'Message-ID: <tx2@example.net>', '', 'line one of 2']]);
  const [, top0] = await client.multiline('TOP 2 0');
  assert.equal(top0.length, 5);
  assert.equal(await client.command('DELE 2'), '+OK Message 2 deleted');
  assert.equal(await client.command('DELE 2'), '-ERR Message 2 is marked deleted');
  assert.equal(await client.command('RETR 2'), '-ERR Message 2 is marked deleted');
  assert.equal(await client.command('STAT'), `+OK 2 ${total - sizes[1]!}`);
  assert.deepEqual((await client.multiline('LIST'))[1], [`1 ${sizes[0]}`, `3 ${sizes[2]}`]);
  assert.equal(await client.command('RSET'), `+OK Maildrop has 3 messages (${total} octets)`);
  assert.equal(await client.command('NOOP'), '+OK');
  assert.equal(await client.command('LAST'), '-ERR Unknown command');
  assert.equal(await client.command('RETR 0'), '-ERR Bad message number');
  assert.equal(await client.command('USER someone'), '-ERR USER is not valid in this state');
  assert.match(await client.command('QUIT'), /^\+OK .*\(3 messages left\)/);
  await client.closed();
  assert.deepEqual(await inboxUids(user.mailboxId), user.uids);
});

test('DELE is applied at QUIT in one durable expunge; a dropped connection deletes nothing', async () => {
  const user = await userWith('dele', 4);
  const dropped = await loggedIn(user);
  assert.match(await dropped.command('DELE 1'), /^\+OK/);
  dropped.close();
  const client = await loggedIn(user);
  assert.equal((await client.command('STAT')).split(' ')[1], '4');
  assert.match(await client.command('DELE 1'), /^\+OK/);
  assert.match(await client.command('DELE 3'), /^\+OK/);
  assert.match(await client.command('QUIT'), /^\+OK .*\(2 messages left\)/);
  await client.closed();
  assert.deepEqual(await inboxUids(user.mailboxId), [user.uids[1], user.uids[3]]);
  // The survivors keep their unique ids; numbering starts again at 1.
  const next = await loggedIn(user);
  assert.deepEqual((await next.multiline('LIST'))[1].map((l) => l.split(' ')[0]), ['1', '2']);
  assert.match(await next.command('QUIT'), /^\+OK/);
});

test('the maildrop is a snapshot taken at login, and locked: a second session gets [IN-USE]', async () => {
  const user = await userWith('lock', 2);
  const first = await loggedIn(user);
  await appendToInbox(api, user.mailboxId, [message('arrived later', ['x'])]);
  assert.match(await first.command('STAT'), /^\+OK 2 /);
  const second = await Pop3TestClient.connect(server.port('pop3s'), { tls: true, cert: server.cert });
  await second.expectLine();
  await second.command(`USER ${user.address}`);
  assert.equal(await second.command(`PASS ${user.password}`), '-ERR [IN-USE] Maildrop is locked by another POP3 session');
  // Still in AUTHORIZATION: it may try again once the first session is gone.
  assert.match(await first.command('QUIT'), /^\+OK/);
  await first.closed();
  await second.command(`USER ${user.address}`);
  assert.match(await second.command(`PASS ${user.password}`), /^\+OK Logged in; maildrop has 3 messages/);
  // An expunge by another protocol after login: RETR says the message is gone.
  const listing = await api.listMessages(user.mailboxId, 'INBOX');
  assert.ok(listing.ok);
  const expunged = await api.commit({ mailboxId: user.mailboxId, ops: [{ op: 'expunge', folder: 'INBOX', uids: [listing.value.messages[0]!.uid] }] });
  assert.ok(expunged.ok);
  assert.equal(await second.command('RETR 1'), '-ERR Message 1 was deleted by another session');
  assert.match(await second.command('DELE 1'), /^\+OK/);
  assert.match(await second.command('QUIT'), /^\+OK/);
  await second.closed();
  assert.equal((await inboxUids(user.mailboxId)).length, 2);
});

test('AUTH PLAIN with an initial response, with a continuation, cancelled; wrong passwords get [AUTH]', async () => {
  const user = await userWith('sasl', 1);
  const plain = (authz: string, login: string, password: string) => Buffer.from(`${authz}\0${login}\0${password}`).toString('base64');
  const client = await Pop3TestClient.connect(server.port('pop3s'), { tls: true, cert: server.cert });
  await client.expectLine();
  assert.deepEqual(await client.multiline('AUTH'), ['+OK Mechanisms follow', ['PLAIN']]);
  assert.equal(await client.command('AUTH PLAIN'), '+ ');
  assert.equal(await client.command('*'), '-ERR AUTH cancelled');
  assert.equal(await client.command('AUTH PLAIN'), '+ ');
  assert.equal(await client.command('not base64!'), '-ERR Invalid base64 in SASL response');
  assert.equal(await client.command('AUTH CRAM-MD5'), '-ERR Unsupported SASL mechanism CRAM-MD5');
  assert.equal(await client.command(`AUTH PLAIN ${plain('someone@example.org', user.address, user.password)}`), '-ERR [AUTH] Logging in as another user is not allowed');
  assert.match(await client.command(`AUTH PLAIN ${plain('', user.address, 'wrong')}`), /^-ERR \[AUTH\] /);
  assert.equal(await client.command('AUTH PLAIN'), '+ ');
  assert.match(await client.command(plain(user.address, user.address, user.password)), /^\+OK Logged in; maildrop has 1 messages/);
  assert.match(await client.command('QUIT'), /^\+OK/);
  await client.closed();
});

test(`failed logins: ${authFailuresMax - 1} answered -ERR [AUTH], failure number ${authFailuresMax} closes the connection`, async () => {
  const user = await userWith('guess', 0);
  const client = await Pop3TestClient.connect(server.port('pop3s'), { tls: true, cert: server.cert });
  await client.expectLine();
  for (let i = 1; i < authFailuresMax; i++) {
    await client.command(`USER ${user.address}`);
    assert.match(await client.command('PASS wrong'), /^-ERR \[AUTH\] /);
  }
  await client.command(`USER ${user.address}`);
  assert.match(await client.command('PASS wrong'), /^-ERR \[AUTH\] /);
  await client.closed();
  assert.equal(await client.line(), null);
});

test('PIPELINING: many commands in one write are answered in order', async () => {
  const user = await userWith('pipe', 2);
  const client = await Pop3TestClient.connect(server.port('pop3s'), { tls: true, cert: server.cert });
  await client.expectLine();
  client.write(`USER ${user.address}\r\nPASS ${user.password}\r\nSTAT\r\nLIST\r\nRETR 2\r\nDELE 1\r\nBOGUS\r\nUIDL 1\r\nNOOP\r\nQUIT\r\n`);
  assert.match(await client.expectLine(), /^\+OK Send PASS/);
  assert.match(await client.expectLine(), /^\+OK Logged in/);
  assert.match(await client.expectLine(), /^\+OK 2 \d+$/);
  assert.match(await client.expectLine(), /^\+OK 2 messages/);
  assert.equal((await client.body()).length, 2);
  assert.match(await client.expectLine(), /^\+OK \d+ octets/);
  assert.ok((await client.body()).includes('Subject: pipe 2'));
  assert.equal(await client.expectLine(), '+OK Message 1 deleted');
  assert.equal(await client.expectLine(), '-ERR Unknown command');
  assert.equal(await client.expectLine(), '-ERR Message 1 is marked deleted');
  assert.equal(await client.expectLine(), '+OK');
  assert.match(await client.expectLine(), /^\+OK .*\(1 messages left\)/);
  await client.closed();
  assert.deepEqual(await inboxUids(user.mailboxId), [user.uids[1]]);
});

test(`line limit: ${commandBytesMax} octets with CRLF are read, ${commandBytesMax + 1} answered -ERR, and the session goes on`, async () => {
  const user = await userWith('long', 0);
  const client = await loggedIn(user);
  // NOOP takes no argument: a line at the limit parses as a NOOP with junk, not a line error.
  let atLimit = 'NOOP';
  while (atLimit.length < commandBytesMax - 2) atLimit += commandBytesMax - 2 - atLimit.length >= 2 ? ' x' : 'x';
  assert.equal(Buffer.byteLength(atLimit) + 2, commandBytesMax);
  assert.equal(await client.command(atLimit), '-ERR NOOP takes no arguments');
  assert.equal(await client.command(atLimit + 'x'), `-ERR Line over ${commandBytesMax} octets`);
  assert.equal(await client.command('NOOP'), '+OK');
  assert.match(await client.command('QUIT'), /^\+OK/);
});

test(`bad commands: ${commandErrorsMax} in a row are answered and the session goes on; one more closes it`, async () => {
  const client = await Pop3TestClient.connect(server.port('pop3s'), { tls: true, cert: server.cert });
  await client.expectLine();
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < commandErrorsMax; i++) assert.equal(await client.command(`FROB ${i}`), '-ERR Unknown command');
    // A good command resets the count.
    assert.match(await client.command('CAPA'), /^\+OK/);
    await client.body();
  }
  for (let i = 0; i < commandErrorsMax; i++) await client.command('FROB');
  assert.equal(await client.command('FROB'), `-ERR Too many bad commands (${commandErrorsMax}); closing`);
  await client.closed();
});
