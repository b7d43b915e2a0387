// Proves every IMAP session limit at the limit and one past it, over real sockets: command line
// length, literal size (APPENDLIMIT), parse depth, sessions per user, connections per address,
// idle time, BADs in a row and failed logins per connection. Past a limit the client gets the
// protocol's answer and (where the RFC allows) the session goes on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../../test/harness.js';
import { authFailuresMax, badCommandsInRowMax } from './constants.js';
import { RawImap, startLimitedImap, type LimitedImap, type Reply } from './testing.js';
import { lineBytesMax, parseDepthMax } from './wire/constants.js';

let server: TestServer;
let imap: LimitedImap;
const user = { address: 'limits@example.org', password: 'limits-pw' };
const literalBytesMax = 4096;

before(async () => {
  server = await startTestServer();
  await server.addUser(user.address, user.password);
  imap = await startLimitedImap(server, { messageBytesMax: literalBytesMax, sessionsPerUser: 3, connectionsPerAddress: 5, idleMs: 60_000 });
});

after(async () => {
  await imap.frontEnd.close();
  await server.stop();
});

async function connect(): Promise<RawImap> {
  const c = await RawImap.connect(imap.frontEnd.ports.imaps!, { tls: true, ca: imap.cert });
  assert.match((await c.line())!, /^\* OK/);
  return c;
}

async function login(): Promise<RawImap> {
  const c = await connect();
  ok(await c.command(`LOGIN ${user.address} ${user.password}`));
  return c;
}

function ok(r: Reply): Reply {
  assert.match(r.tagged, /^\S+ OK/, r.raw);
  return r;
}

test('command line: lineBytesMax passes, lineBytesMax + 1 is BAD and the session goes on', async () => {
  const c = await login();
  const frame = (n: number, tag: string): string => {
    const head = `${tag} LIST "" "`;
    return head + 'x'.repeat(n - head.length - 3) + '"\r\n';
  };
  const atLimit = frame(lineBytesMax, 'l1');
  assert.equal(atLimit.length, lineBytesMax);
  c.write(atLimit);
  ok(await c.until('l1'));
  c.write(frame(lineBytesMax + 1, 'l2'));
  assert.match((await c.until('l2')).tagged, /^l2 BAD/);
  ok(await c.command('NOOP'));
  c.close();
});

test('literal: APPENDLIMIT bytes are taken, one more is NO [TOOBIG] before it is sent, LITERAL+ over it is BAD', async () => {
  const c = await login();
  const caps = ok(await c.command('CAPABILITY'));
  assert.match(caps.untagged[0]!, new RegExp(`APPENDLIMIT=${literalBytesMax}\\b`));
  const body = (n: number): string => {
    const head = 'Subject: big\r\n\r\n';
    return head + 'y'.repeat(n - head.length);
  };
  c.write(`a1 APPEND INBOX {${literalBytesMax}}\r\n`);
  assert.match((await c.line())!, /^\+ /);
  c.write(body(literalBytesMax) + '\r\n');
  assert.match((await c.until('a1')).tagged, /^a1 OK \[APPENDUID/);
  c.write(`a2 APPEND INBOX {${literalBytesMax + 1}}\r\n`);
  assert.match((await c.until('a2')).tagged, /^a2 NO \[TOOBIG\]/);
  c.write(`a3 APPEND INBOX {${literalBytesMax + 1}+}\r\n${body(literalBytesMax + 1)}\r\n`);
  assert.match((await c.until('a3')).tagged, /^a3 BAD/);
  const status = ok(await c.command('STATUS INBOX (MESSAGES)'));
  assert.match(status.untagged[0]!, /MESSAGES 1\)/);
  c.close();
});

test('parse depth: parseDepthMax nested keys pass, one more is BAD', async () => {
  const c = await login();
  ok(await c.command('SELECT INBOX'));
  const nested = (depth: number): string => '('.repeat(depth) + 'ALL' + ')'.repeat(depth);
  ok(await c.command(`SEARCH ${nested(parseDepthMax - 1)}`));
  assert.match((await c.command(`SEARCH ${nested(parseDepthMax + 1)}`)).tagged, /BAD/);
  ok(await c.command('NOOP'));
  c.close();
});

test('sessions per user: the limit logs in, one more gets NO [LIMIT]; a released session frees a place', async () => {
  const sessions = [await login(), await login(), await login()];
  const extra = await connect();
  assert.match((await extra.command(`LOGIN ${user.address} ${user.password}`)).tagged, /NO \[LIMIT\]/);
  ok(await sessions[0]!.command('LOGOUT'));
  sessions[0]!.close();
  ok(await extra.command(`LOGIN ${user.address} ${user.password}`));
  for (const s of [...sessions.slice(1), extra]) s.close();
});

test('connections per address: the limit connects, one more gets BYE [LIMIT]', async () => {
  const open: RawImap[] = [];
  for (let i = 0; i < 5; i++) open.push(await connect());
  const refused = await RawImap.connect(imap.frontEnd.ports.imaps!, { tls: true, ca: imap.cert });
  assert.match((await refused.line())!, /^\* BYE \[LIMIT\]/);
  for (const c of open) c.close();
  refused.close();
});

test('BADs in a row: one under the limit goes on, the limit ends the session', async () => {
  const c = await login();
  for (let i = 0; i < badCommandsInRowMax - 1; i++) assert.match((await c.command('BOGUS')).tagged, /BAD/);
  ok(await c.command('NOOP'));
  for (let i = 0; i < badCommandsInRowMax - 1; i++) assert.match((await c.command('BOGUS')).tagged, /BAD/);
  c.write('x BOGUS\r\n');
  assert.match((await c.line())!, /^x BAD/);
  assert.match((await c.line())!, /^\* BYE/);
  assert.equal(await c.line(), null);
});

test('failed logins: one under the limit may still log in, the limit ends the connection', async () => {
  const c = await connect();
  for (let i = 0; i < authFailuresMax - 1; i++) assert.match((await c.command(`LOGIN ${user.address} nope`)).tagged, /NO \[AUTHENTICATIONFAILED\]/);
  ok(await c.command(`LOGIN ${user.address} ${user.password}`));
  c.close();
  const d = await connect();
  for (let i = 0; i < authFailuresMax - 1; i++) await d.command(`LOGIN ${user.address} nope`);
  d.write(`x LOGIN ${user.address} nope\r\n`);
  assert.match((await d.line())!, /^x NO \[AUTHENTICATIONFAILED\]/);
  assert.match((await d.line())!, /^\* BYE/);
  assert.equal(await d.line(), null);
});

test('idle time: a silent session is logged out with BYE', async () => {
  const quick = await startLimitedImap(server, { idleMs: 200 });
  try {
    const c = await RawImap.connect(quick.frontEnd.ports.imaps!, { tls: true, ca: quick.cert });
    assert.match((await c.line())!, /^\* OK/);
    assert.match((await c.line())!, /^\* BYE Autologout/);
    assert.equal(await c.line(), null);
  } finally {
    await quick.frontEnd.close();
  }
});
