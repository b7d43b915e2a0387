// Proves message authentication with mailauth over a replaceable resolver: outbound mail of an
// accepted domain leaves DKIM-signed with the key generated at first start (its TXT record
// written beside it); that message, received back on the MX port from an address the SPF
// record allows, gets Authentication-Results with dkim=pass, spf=pass and dmarc=pass; a
// message forging the domain in From: without a signature gets dmarc=fail.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { type TestServer, startTestServer } from '../../test/harness.js';
import type { FrontEnd } from '../../protocols/frontend.js';
import { inboxOf as messagesOf } from '../../protocols/smtp/testing.js';
import { startMailFlow } from './index.js';
import { dkimDir, ensureDkimKey } from './mailauth.js';

let server: TestServer;
let dataDir: string;
let flow: FrontEnd;
let smarthost: SMTPServer;
const relayed: Buffer[] = [];

/** DNS as these tests publish it: TXT records only, NXDOMAIN for the rest. */
function resolverWith(txt: Record<string, string>) {
  return async (name: string, rrtype: string): Promise<string[][] | string[]> => {
    const value = txt[name.toLowerCase()];
    if (rrtype === 'TXT' && value !== undefined) return [[value]];
    throw Object.assign(new Error(`query${rrtype} ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  };
}

const inboxOf = async (address: string): Promise<string[]> => (await messagesOf(server, address)).map((m) => Buffer.from(m).toString('latin1'));

before(async () => {
  server = await startTestServer();
  await server.addUser('bob@example.org', 'bob-password-123', { database: 'DB02' });
  dataDir = mkdtempSync(join(tmpdir(), 'quire-mailauth-'));
  smarthost = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        relayed.push(Buffer.concat(chunks));
        callback();
      });
    },
  });
  const port = await new Promise<number>((resolve) => smarthost.listen(0, '127.0.0.1', () => resolve((smarthost.server.address() as AddressInfo).port)));
  const key = ensureDkimKey(dataDir);
  flow = await startMailFlow(server.server.context, { host: '127.0.0.1', port: () => 0 }, { dataDir }, {
    services: ['smtp', 'submissions'],
    smarthost: { host: '127.0.0.1', port },
    dnsResolver: resolverWith({
      'quire._domainkey.example.org': key.dnsRecord,
      'example.org': 'v=spf1 ip4:127.0.0.1 -all',
      '_dmarc.example.org': 'v=DMARC1; p=reject',
    }),
  });
});

after(async () => {
  await flow.close();
  await new Promise<void>((resolve) => smarthost.close(() => resolve()));
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('the DKIM key is generated once, with its TXT record beside it', () => {
  const first = ensureDkimKey(dataDir);
  assert.equal(first.generated, false, 'made before the flow started, kept since');
  assert.match(first.dnsRecord, /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]{300,}={0,2}$/);
  assert.ok(existsSync(join(dkimDir(dataDir), 'quire.pem')));
  assert.match(readFileSync(join(dkimDir(dataDir), 'quire.txt'), 'utf8'), /^quire\._domainkey\.<domain> IN TXT "v=DKIM1; k=rsa; p=/);
  assert.match(flow.description, /DKIM selector quire/);
});

test('outbound is DKIM-signed; received back on the MX port it passes DKIM, SPF and DMARC', async () => {
  const submit = nodemailer.createTransport({ host: '127.0.0.1', port: flow.ports.submissions!, secure: true, tls: { ca: server.cert, servername: 'localhost' }, auth: { user: server.demo.address, pass: server.demo.password } });
  await submit.sendMail({ from: 'demo@example.org', to: 'friend@remote.test', subject: 'signed', text: 'this leaves signed\n' });
  const deadline = Date.now() + 30_000;
  while (relayed.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const signed = relayed[0]!;
  assert.ok(signed !== undefined, 'the smarthost got the message');
  assert.match(signed.toString('latin1'), /^DKIM-Signature: [^]*?d=example\.org;[^]*?s=quire;/);

  const mx = nodemailer.createTransport({ host: '127.0.0.1', port: flow.ports.smtp!, secure: false, ignoreTLS: true, name: 'mail.example.org' });
  await mx.sendMail({ envelope: { from: 'demo@example.org', to: ['bob@example.org'] }, raw: signed });
  const stored = (await inboxOf('bob@example.org')).at(-1)!;
  const results = /Authentication-Results: localhost;[^]*?\r\n(?![ \t])/.exec(stored)?.[0] ?? '';
  assert.match(results, /dkim=pass[^;]*header\.i=@example\.org[^;]*header\.s=quire/, stored.slice(0, 1500));
  assert.match(results, /spf=pass/, results);
  assert.match(results, /dmarc=pass/, results);
  assert.ok(stored.endsWith(signed.toString('latin1')), 'the message itself is unchanged below the trace headers');
});

test('a forged From: without a signature from an address SPF does not allow fails DMARC', async () => {
  const mx = nodemailer.createTransport({ host: '127.0.0.1', port: flow.ports.smtp!, secure: false, ignoreTLS: true, name: 'evil.test' });
  await mx.sendMail({ envelope: { from: 'evil@remote.test', to: ['bob@example.org'] }, raw: 'From: CEO <ceo@example.org>\r\nTo: bob@example.org\r\nSubject: wire money\r\n\r\nnow\r\n' });
  const stored = (await inboxOf('bob@example.org')).at(-1)!;
  assert.match(stored, /Subject: wire money/);
  assert.match(stored, /Authentication-Results: localhost;[^]*dkim=none/);
  assert.match(stored, /dmarc=fail/);
});
