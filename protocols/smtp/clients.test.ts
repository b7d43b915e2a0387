// Proves delivery with swaks (Debian's SMTP test tool, installed here through the services
// provisioning or failing loudly) on the MX port over STARTTLS, on LMTP, and on submission
// with AUTH; each delivered message is read back over IMAP (imapflow, the real IMAP front end)
// byte for byte: trace headers on top of the exact bytes swaks sent.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { aptInstall, commandExists } from '../../scripts/services/runner.js';
import { type TestServer, startTestServer } from '../../test/harness.js';

let server: TestServer;
let work: string;

function swaks(...args: string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('swaks', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output }));
  });
}

/** Every INBOX message of the demo user, as IMAP returns BODY[] (the full source). */
async function imapInbox(): Promise<Buffer[]> {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port: server.port('imaps'),
    secure: true,
    tls: { ca: [server.cert], servername: 'localhost' },
    auth: { user: server.demo.address, pass: server.demo.password },
    logger: false,
  } as ConstructorParameters<typeof ImapFlow>[0]);
  await client.connect();
  try {
    await client.mailboxOpen('INBOX');
    const out: Buffer[] = [];
    for await (const m of client.fetch('1:*', { uid: true, source: true })) out.push(m.source!);
    return out;
  } finally {
    await client.logout();
  }
}

before(async () => {
  if (!commandExists('swaks')) aptInstall('swaks', ['swaks']);
  assert.ok(commandExists('swaks'), 'swaks must be installed (apt-get install swaks)');
  server = await startTestServer();
  work = mkdtempSync(join(tmpdir(), 'quire-swaks-'));
});

after(async () => {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
});

test('swaks on MX (STARTTLS), LMTP and submission (AUTH PLAIN after STARTTLS); read back over IMAP byte for byte', async () => {
  const cases = [
    { name: 'mx', args: ['--server', `127.0.0.1:${server.port('smtp')}`, '--tls', '--from', 'swaks@remote.test'], from: 'swaks@remote.test', with: 'ESMTPS' },
    { name: 'lmtp', args: ['--server', `127.0.0.1:${server.port('lmtp')}`, '--protocol', 'LMTP', '--from', 'swaks@remote.test'], from: 'swaks@remote.test', with: 'LMTP' },
    {
      name: 'submission',
      args: ['--server', `127.0.0.1:${server.port('submission')}`, '--tls', '--auth', 'PLAIN', '--auth-user', server.demo.address, '--auth-password', server.demo.password, '--from', server.demo.address],
      from: server.demo.address,
      with: 'ESMTPSA',
    },
  ];
  const sent: Buffer[] = [];
  for (const c of cases) {
    const message = Buffer.from(`From: swaks <${c.from}>\r\nTo: demo@example.org\r\nSubject: swaks ${c.name}\r\n\r\nbody of ${c.name}\r\n.a line with a leading dot\r\n`, 'latin1');
    const file = join(work, `${c.name}.eml`);
    // swaks ends the data with a line break of its own: give it the message without its last CRLF.
    writeFileSync(file, message.subarray(0, message.length - 2));
    const r = await swaks(...c.args, '--to', 'demo@example.org', '--ehlo', 'swaks.test', '--data', `@${file}`, '--hide-informational');
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /<[-~]\s+250 2\.0\.0 Ok: delivered as /, r.output);
    sent.push(message);
  }
  const inbox = await imapInbox();
  assert.equal(inbox.length, cases.length);
  cases.forEach((c, i) => {
    const stored = inbox[i]!;
    const original = sent[i]!;
    assert.deepEqual(stored.subarray(stored.length - original.length), original, `${c.name}: the message is stored byte for byte`);
    const trace = stored.subarray(0, stored.length - original.length).toString('latin1');
    assert.match(trace, new RegExp(`^Return-Path: <${c.from.replace(/\./g, '\\.')}>\\r\\nDelivered-To: demo@example\\.org\\r\\nReceived: from swaks\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby localhost \\(Quire\\) with ${c.with} id [\\w-]{12}\\r\\n\\tfor <demo@example\\.org>;\\r\\n\\t[^\\r]+ \\+0000\\r\\n(?:(?:Received-SPF|Authentication-Results): [^\\r]*\\r\\n(?:[ \\t][^\\r]*\\r\\n)*)*$`), trace);
  });
});
