// Proves the POP3 front end with real clients over real sockets against a real server:
// Python's poplib (STLS on the plain port with certificate verification, then POP3_SSL on the
// TLS port: STAT, LIST, UIDL, RETR, TOP, DELE, RSET, QUIT) and curl's pop3/pop3s (STLS with
// --ssl-reqd, LIST, RETR, UIDL, DELE), checking what they read and what the mailbox holds after.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { MailboxApi } from '../../engine/api.js';
import { startTestServer, type TestServer } from '../../test/harness.js';
import { appendToInbox, message } from './testing.js';

const run = promisify(execFile);
let server: TestServer;
let caFile: string;

before(async () => {
  server = await startTestServer();
  caFile = join(server.dataDir, 'client-ca.pem');
  writeFileSync(caFile, server.cert);
});

after(async () => {
  await server.stop();
});

async function user(name: string, count: number): Promise<{ address: string; password: string; mailboxId: string; api: MailboxApi }> {
  const address = `${name}@example.org`;
  const password = `pw ${name} with spaces`;
  await server.addUser(address, password);
  const found = await server.server.directory.findUser(address);
  assert.ok(found !== null);
  const api = server.server.supervisor.api(found.database);
  await appendToInbox(api, found.mailboxId, Array.from({ length: count }, (_, i) => message(`${name} ${i + 1}`, [`hello ${i + 1}`, '.starts with a dot', '', 'end'])));
  return { address, password, mailboxId: found.mailboxId, api };
}

async function subjects(u: { api: MailboxApi; mailboxId: string }): Promise<string[]> {
  const listing = await u.api.listMessages(u.mailboxId, 'INBOX');
  assert.ok(listing.ok);
  const out: string[] = [];
  for (const m of listing.value.messages) {
    const read = await u.api.readMessage(u.mailboxId, 'INBOX', m.uid);
    assert.ok(read.ok);
    out.push(/Subject: (.*)\r\n/.exec(Buffer.from(read.value).toString())![1]!);
  }
  return out;
}

const pythonScript = `
import json, poplib, ssl, sys
host, plain_port, tls_port, cafile, user, password = sys.argv[1:7]
context = ssl.create_default_context(cafile=cafile)
out = {}
p = poplib.POP3(host, int(plain_port), timeout=20)
out['capa_plain'] = sorted(p.capa().keys())
p.stls(context)
out['capa_tls'] = sorted(p.capa().keys())
p.user(user)
p.pass_(password)
out['stat'] = list(p.stat())
out['list'] = [l.decode() for l in p.list()[1]]
out['uidl'] = [l.decode() for l in p.uidl()[1]]
out['retr1'] = [l.decode() for l in p.retr(1)[1]]
out['top2'] = [l.decode() for l in p.top(2, 1)[1]]
p.dele(1)
p.rset()
p.dele(2)
out['quit'] = p.quit().decode()
s = poplib.POP3_SSL(host, int(tls_port), context=context, timeout=20)
s.user(user)
s.pass_(password)
out['stat_after'] = list(s.stat())
try:
    s.retr(9)
except poplib.error_proto as e:
    out['retr9'] = str(e)
out['quit2'] = s.quit().decode()
print(json.dumps(out))
`;

test("Python's poplib: STLS with a verified certificate, every command, DELE applied at QUIT", async () => {
  const u = await user('py', 3);
  const { stdout } = await run('python3', ['-c', pythonScript, 'localhost', String(server.port('pop3')), String(server.port('pop3s')), caFile, u.address, u.password], { timeout: 60_000 });
  const out = JSON.parse(stdout) as Record<string, unknown>;
  assert.deepEqual(out['capa_plain'], ['AUTH-RESP-CODE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'STLS', 'TOP', 'UIDL']);
  assert.deepEqual(out['capa_tls'], ['AUTH-RESP-CODE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'SASL', 'TOP', 'UIDL', 'USER']);
  const [count, octets] = out['stat'] as [number, number];
  assert.equal(count, 3);
  const list = out['list'] as string[];
  assert.equal(list.length, 3);
  assert.equal(list.map((l) => Number(l.split(' ')[1])).reduce((a, b) => a + b, 0), octets);
  assert.equal((out['uidl'] as string[]).length, 3);
  assert.deepEqual(out['retr1'], ['From: sender@example.net', 'To: demo@example.org', 'Subject: py 1', 'Message-ID: <py1@example.net>', '', 'hello 1', '.starts with a dot', '', 'end']);
  assert.deepEqual(out['top2'], ['From: sender@example.net', 'To: demo@example.org', 'Subject: py 2', 'Message-ID: <py2@example.net>', '', 'hello 2']);
  assert.match(out['quit'] as string, /^\+OK/);
  assert.equal((out['stat_after'] as number[])[0], 2);
  assert.equal(out['retr9'], 'b\'-ERR No message 9\'');
  assert.deepEqual(await subjects(u), ['py 1', 'py 3']);
});

test("curl's pop3 (STLS, --ssl-reqd) and pop3s: LIST, RETR, UIDL, DELE", async () => {
  const u = await user('curl', 2);
  const credentials = ['--user', `${u.address}:${u.password}`, '--cacert', caFile, '--silent', '--show-error', '--max-time', '20'];
  const plain = `pop3://localhost:${server.port('pop3')}`;
  const tls = `pop3s://localhost:${server.port('pop3s')}`;
  const listed = await run('curl', [...credentials, '--ssl-reqd', `${plain}/`]);
  assert.match(listed.stdout, /^1 \d+\r\n2 \d+\r\n$/);
  const retrieved = await run('curl', [...credentials, `${tls}/2`]);
  assert.equal(retrieved.stdout, 'From: sender@example.net\r\nTo: demo@example.org\r\nSubject: curl 2\r\nMessage-ID: <curl2@example.net>\r\n\r\nhello 2\r\n.starts with a dot\r\n\r\nend\r\n');
  const uidl = await run('curl', [...credentials, '--request', 'UIDL', `${tls}/`]);
  assert.equal(uidl.stdout.trim().split('\r\n').length, 2);
  // Without --ssl-reqd curl would log in in plaintext; the server refuses USER before TLS.
  await assert.rejects(run('curl', [...credentials.filter((a) => a !== '--show-error'), `${plain}/`]));
  await run('curl', [...credentials, '--request', 'DELE', '--list-only', `${tls}/1`]);
  assert.deepEqual(await subjects(u), ['curl 2']);
});
