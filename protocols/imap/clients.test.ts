// Proves the IMAP front end works for two more real clients over real sockets: Python's imaplib
// (STARTTLS on the plain port and TLS, a script run with python3) and curl's IMAP support
// (LIST, APPEND by upload, FETCH by URL, a custom command), each checked against what the
// mailbox then holds.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../../test/harness.js';

const run = promisify(execFile);
let server: TestServer;
let dir: string;
let certFile: string;

before(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'quire-imap-clients-'));
  certFile = join(dir, 'cert.pem');
  writeFileSync(certFile, server.cert);
});

after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const pythonScript = `
import imaplib, json, ssl, sys
port_plain, port_tls, cafile, user, password = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=cafile)
out = {}
# STARTTLS on the plain port; LOGIN is refused before it.
m = imaplib.IMAP4('localhost', int(port_plain))
out['logindisabled'] = 'LOGINDISABLED' in m.capabilities
m.starttls(ssl_context=ctx)
m.login(user, password)
m.logout()
m = imaplib.IMAP4_SSL('localhost', int(port_tls), ssl_context=ctx)
m.login(user, password)
msg = b'From: py@example.org\\r\\nSubject: from python\\r\\n\\r\\nimaplib body\\r\\n'
typ, data = m.append('INBOX', '(\\\\Flagged)', imaplib.Time2Internaldate(1700000000), msg)
out['append'] = [typ, data[0].decode()]
typ, data = m.select('INBOX')
out['exists'] = int(data[0])
typ, data = m.search(None, 'FLAGGED', 'SUBJECT', '"from python"')
out['search'] = data[0].decode()
typ, data = m.fetch('1', '(FLAGS INTERNALDATE BODY.PEEK[TEXT])')
out['fetch'] = data[0][0].decode()
out['text'] = data[0][1].decode()
typ, data = m.store('1', '+FLAGS', '(\\\\Deleted)')
out['store'] = data[0].decode()
typ, data = m.expunge()
out['expunge'] = [d.decode() for d in data if d]
typ, data = m.list()
out['list'] = [d.decode() for d in data]
typ, data = m.status('INBOX', '(MESSAGES UIDNEXT)')
out['status'] = data[0].decode()
m.logout()
print(json.dumps(out))
`;

test("Python's imaplib: STARTTLS, TLS, append, select, search, fetch, store, expunge, list, status", async () => {
  await server.addUser('python@example.org', 'python-pw');
  const script = join(dir, 'imap_client.py');
  writeFileSync(script, pythonScript);
  const { stdout } = await run('python3', [script, String(server.port('imap')), String(server.port('imaps')), certFile, 'python@example.org', 'python-pw']);
  const out = JSON.parse(stdout) as Record<string, unknown>;
  assert.equal(out['logindisabled'], true);
  assert.deepEqual(out['append'], ['OK', `[APPENDUID ${(out['append'] as string[])[1]!.match(/APPENDUID (\d+)/)![1]} 1] APPEND completed`]);
  assert.equal(out['exists'], 1);
  assert.equal(out['search'], '1');
  assert.match(out['fetch'] as string, /FLAGS \(\\Flagged\)/);
  assert.match(out['fetch'] as string, /INTERNALDATE "14-Nov-2023 22:13:20 \+0000"/);
  assert.equal(out['text'], 'imaplib body\r\n');
  assert.match(out['store'] as string, /FLAGS \(\\Flagged \\Deleted\)|FLAGS \(\\Deleted \\Flagged\)/);
  assert.deepEqual(out['expunge'], ['1']);
  assert.ok((out['list'] as string[]).includes('(\\HasNoChildren \\Drafts) "/" Drafts'), String(out['list']));
  assert.equal(out['status'], 'INBOX (MESSAGES 0 UIDNEXT 2)');
});

test("curl's IMAP: LIST, APPEND by upload, FETCH by URL, a custom command", async () => {
  await server.addUser('curl@example.org', 'curl-pw');
  const port = server.port('imaps');
  const base = `imaps://localhost:${port}`;
  const curl = (...args: string[]): Promise<{ stdout: string }> =>
    run('curl', ['--silent', '--show-error', '--cacert', certFile, '--resolve', `localhost:${port}:127.0.0.1`, '--user', 'curl@example.org:curl-pw', ...args]);
  const list = await curl(`${base}/`);
  assert.match(list.stdout, /\* LIST \(\\HasNoChildren\) "\/" INBOX/);
  const file = join(dir, 'upload.eml');
  writeFileSync(file, 'From: curl@example.org\r\nSubject: via curl\r\n\r\nuploaded by curl\r\n');
  await curl('-T', file, `${base}/INBOX`);
  const fetched = await curl(`${base}/INBOX;UID=1`);
  assert.equal(fetched.stdout, 'From: curl@example.org\r\nSubject: via curl\r\n\r\nuploaded by curl\r\n');
  const searched = await curl('-X', 'SEARCH SUBJECT "via curl"', `${base}/INBOX`);
  assert.match(searched.stdout, /\* SEARCH 1/);
  const examined = await curl('-X', 'STATUS INBOX (MESSAGES UNSEEN)', `${base}/`);
  assert.match(examined.stdout, /\* STATUS INBOX \(MESSAGES 1 UNSEEN 0\)/);
});
