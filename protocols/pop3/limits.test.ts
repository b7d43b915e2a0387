// Proves the POP3 limits that come from the server's FrontEndLimits, at the limit and one past
// it, on a second POP3 front end started with small limits over a real server's directory and
// databases: sessions per user, connections per address, the idle autologout (which never
// deletes). And that a QUIT whose expunge commit fails answers -ERR [SYS/TEMP] and deletes
// nothing, while the next QUIT with a working database does.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fail } from '../../engine/errors.js';
import type { MailboxApi } from '../../engine/api.js';
import { createFrontEndContext, frontEndLimitsDefault } from '../../server/frontend.js';
import { startTestServer, type TestServer } from '../../test/harness.js';
import type { FrontEnd, FrontEndLimits } from '../frontend.js';
import { startPop3 } from './server.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendToInbox, message, Pop3TestClient } from './testing.js';

let server: TestServer;
const started: FrontEnd[] = [];

before(async () => {
  server = await startTestServer();
});

after(async () => {
  await Promise.all(started.map((f) => f.close()));
  await server.stop();
});

/** A POP3 front end with its own limits (and optionally a wrapped mailbox API) over the test server. */
async function pop3With(limits: Partial<FrontEndLimits>, wrap: (api: MailboxApi) => MailboxApi = (api) => api): Promise<FrontEnd> {
  const context = createFrontEndContext({
    directory: server.server.directory,
    mailboxes: (database) => wrap(server.server.supervisor.api(database)),
    hostname: 'localhost',
    serverName: 'MBX1',
    tls: { cert: server.cert, key: tlsKey() },
    limits: { ...frontEndLimitsDefault, ...limits },
  });
  const frontEnd = await startPop3(context, { host: '127.0.0.1', port: () => 0 });
  started.push(frontEnd);
  return frontEnd;
}

function tlsKey(): string {
  // The key first start wrote beside the certificate (<data>/tls/key.pem).
  return readFileSync(join(server.dataDir, 'tls', 'key.pem'), 'utf8');
}

async function user(name: string, messages: number): Promise<{ address: string; password: string; mailboxId: string; api: MailboxApi }> {
  const address = `${name}@example.org`;
  const password = `pw-${name}-secret`;
  await server.addUser(address, password);
  const found = await server.server.directory.findUser(address);
  assert.ok(found !== null);
  const api = server.server.supervisor.api(found.database);
  if (messages > 0) await appendToInbox(api, found.mailboxId, Array.from({ length: messages }, (_, i) => message(`${name} ${i}`, ['body'])));
  return { address, password, mailboxId: found.mailboxId, api };
}

async function login(port: number, u: { address: string; password: string }): Promise<[Pop3TestClient, string]> {
  const client = await Pop3TestClient.connect(port, { tls: true, cert: server.cert });
  await client.expectLine();
  await client.command(`USER ${u.address}`);
  return [client, await client.command(`PASS ${u.password}`)];
}

async function count(u: { api: MailboxApi; mailboxId: string }): Promise<number> {
  const listing = await u.api.listMessages(u.mailboxId, 'INBOX');
  assert.ok(listing.ok);
  return listing.value.messages.length;
}

test('sessions per user: at the limit the lease is granted (then the maildrop lock answers [IN-USE]); past it, [SYS/TEMP]', async () => {
  const u = await user('lease', 1);
  // Limit 2: the second session gets its lease, and is stopped by the POP3 lock.
  const two = await pop3With({ sessionsPerUser: 2 });
  const [first, ok1] = await login(two.ports.pop3s!, u);
  assert.match(ok1, /^\+OK Logged in/);
  const [second, answer2] = await login(two.ports.pop3s!, u);
  assert.equal(answer2, '-ERR [IN-USE] Maildrop is locked by another POP3 session');
  first.close();
  second.close();
  // Limit 1: the second session is over the per-user limit before it reaches the lock.
  const one = await pop3With({ sessionsPerUser: 1 });
  const [held, ok3] = await login(one.ports.pop3s!, u);
  assert.match(ok3, /^\+OK Logged in/);
  const [over, answer4] = await login(one.ports.pop3s!, u);
  assert.match(answer4, /^-ERR \[SYS\/TEMP\] .*the limit is 1/);
  assert.match(await held.command('QUIT'), /^\+OK/);
  await held.closed();
  // The lease came back with the QUIT: the same connection may now log in.
  await over.command(`USER ${u.address}`);
  assert.match(await over.command(`PASS ${u.password}`), /^\+OK Logged in/);
  assert.match(await over.command('QUIT'), /^\+OK/);
});

test('connections per address: at the limit each is greeted; one more is refused with [SYS/TEMP]', async () => {
  const frontEnd = await pop3With({ connectionsPerAddress: 2 });
  const a = await Pop3TestClient.connect(frontEnd.ports.pop3!);
  const b = await Pop3TestClient.connect(frontEnd.ports.pop3!);
  assert.match(await a.expectLine(), /^\+OK/);
  assert.match(await b.expectLine(), /^\+OK/);
  const c = await Pop3TestClient.connect(frontEnd.ports.pop3!);
  assert.equal(await c.line(), '-ERR [SYS/TEMP] Too many connections from your address');
  await c.closed();
  a.close();
  b.close();
});

test('idle: a session active within the limit stays; one idle past it is logged out and deletes nothing', async () => {
  const u = await user('idle', 2);
  const frontEnd = await pop3With({ idleMs: 4_000 });
  const [client, answer] = await login(frontEnd.ports.pop3s!, u);
  assert.match(answer, /^\+OK Logged in/);
  assert.match(await client.command('DELE 1'), /^\+OK/);
  // Commands every 1.2 s (under a third of the limit) for longer than the limit: still served.
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.equal(await client.command('NOOP'), '+OK');
  }
  // Then silence: the server speaks first and closes.
  assert.equal(await client.line(), '-ERR Autologout; idle for too long');
  await client.closed();
  assert.equal(await count(u), 2);
});

test('QUIT whose expunge commit fails answers -ERR [SYS/TEMP] and deletes nothing; a later QUIT deletes', async () => {
  const u = await user('commitfail', 3);
  let failCommits = true;
  const flaky = (api: MailboxApi): MailboxApi => ({
    ...api,
    commit: async (request) => (failCommits ? fail('DATABASE_UNAVAILABLE', 'Database DB01 has no active copy') : api.commit(request)),
    listMessages: (...args) => api.listMessages(...args),
    readMessage: (...args) => api.readMessage(...args),
  });
  const frontEnd = await pop3With({}, flaky);
  const [client, answer] = await login(frontEnd.ports.pop3s!, u);
  assert.match(answer, /^\+OK Logged in/);
  assert.match(await client.command('DELE 1'), /^\+OK/);
  assert.match(await client.command('DELE 2'), /^\+OK/);
  assert.equal(await client.command('QUIT'), '-ERR [SYS/TEMP] Messages not deleted: Database DB01 has no active copy');
  await client.closed();
  assert.equal(await count(u), 3);
  failCommits = false;
  const [again] = await login(frontEnd.ports.pop3s!, u);
  assert.match(await again.command('DELE 1'), /^\+OK/);
  assert.match(await again.command('DELE 2'), /^\+OK/);
  assert.match(await again.command('QUIT'), /^\+OK .*\(1 messages left\)/);
  await again.closed();
  assert.equal(await count(u), 1);
});
