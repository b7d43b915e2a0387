// Proves inbound mail end to end against a real server (real worker processes, RocksDB,
// sockets): SMTP on the MX port and LMTP deliver to INBOX, read back byte for byte through the
// mailbox API with Return-Path, Delivered-To and Received on top; the EHLO extensions;
// unknown users, foreign domains, full mailboxes and a directory that is down get their
// answers at RCPT; aliases and groups expand (one stored content per group delivery);
// submission needs STARTTLS then AUTH and checks the envelope sender; the size limit holds at
// limit and limit + 1; bad commands are answered and the session goes on. Clients: nodemailer,
// Python's smtplib and a literal socket client (testing.ts).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { type TestServer, startTestServer } from '../../test/harness.js';
import { createFrontEndContext, frontEndLimitsDefault } from '../../server/frontend.js';
import { setQuota } from '../../server/users.js';
import type { FrontEnd } from '../frontend.js';
import { startSmtp } from './server.js';
import { dsnEnvidCharsMax, dsnOrcptCharsMax, traceHeadersBytesMax } from './constants.js';
import { SmtpTalk, dataBlock, inboxOf, runProgram } from './testing.js';
import { type MailServices, type SafetyNetEntry, deliveredMessage } from './types.js';

type Directory = TestServer['server']['directory'];

let server: TestServer;
let work: string;
let caPath: string;

const inbox = (address: string): Promise<Uint8Array[]> => inboxOf(server, address);

const python = (script: string, ...args: string[]) => runProgram('python3', ['-c', script, ...args]);

const raw = (subject: string, body = 'Hello there.\r\n'): string =>
  `From: Sender <sender@remote.test>\r\nTo: demo@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@remote.test>\r\n\r\n${body}`;

/** The bytes a delivery stores: Return-Path, Delivered-To, Received, then the message unchanged. */
function assertDelivered(stored: Uint8Array, mailFrom: string, rcpt: string, original: string | Buffer): void {
  const text = Buffer.from(stored).toString('latin1');
  const prefix = `Return-Path: <${mailFrom}>\r\nDelivered-To: ${rcpt}\r\nReceived: from `;
  assert.ok(text.startsWith(prefix), text.slice(0, 200));
  const originalBytes = Buffer.isBuffer(original) ? original : Buffer.from(original, 'latin1');
  assert.deepEqual(Buffer.from(stored.subarray(stored.length - originalBytes.length)), originalBytes, 'the message follows the trace headers byte for byte');
  const trace = text.slice(0, text.length - originalBytes.length);
  assert.match(trace, /\r\n\tby localhost \(Quire\) with E?[SL]MTPS?A? id [\w-]{12}/);
  // Below Received, the MX port adds Received-SPF and Authentication-Results (SPF/DKIM/DMARC).
  assert.match(trace, /\+0000\r\n(?:(?:Received-SPF|Authentication-Results): [^\r]*\r\n(?:[ \t][^\r]*\r\n)*)*$/, trace);
}

before(async () => {
  server = await startTestServer();
  work = mkdtempSync(join(tmpdir(), 'quire-smtp-test-'));
  caPath = join(work, 'ca.pem');
  writeFileSync(caPath, server.cert);
  await server.addUser('bob@example.org', 'bob-password-123', { database: 'DB02' });
  await server.addUser('carol@example.org', 'carol-password-123', { database: 'DB01' });
  await server.addUser('full@example.org', 'full-password-123');
});

after(async () => {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('inbound SMTP (MX)', () => {
  test('nodemailer delivers to INBOX; stored bytes are the trace headers plus the message, byte for byte', async () => {
    const message = raw('nodemailer inbound', 'Line one\r\n.leading dot\r\nUnicode: caf\u00e9\r\n');
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.port('smtp'), secure: false, tls: { ca: server.cert, servername: 'localhost' }, name: 'client.test' });
    const info = await transport.sendMail({ envelope: { from: 'sender@remote.test', to: ['demo@example.org'] }, raw: Buffer.from(message, 'utf8') });
    assert.match(info.response, /^250 2\.0\.0 Ok: delivered as /);
    const stored = await inbox('demo@example.org');
    assert.equal(stored.length, 1);
    assertDelivered(stored[0]!, 'sender@remote.test', 'demo@example.org', Buffer.from(message, 'utf8'));
    assert.match(Buffer.from(stored[0]!).toString('latin1'), /Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby localhost \(Quire\) with ESMTPS id [\w-]{12}\r\n\tfor <demo@example\.org>;/);
  });

  test('EHLO lists the extensions; no AUTH on the MX port; unknown user 550 5.1.1; foreign domain 550 5.7.1; bad input answered, session goes on', async () => {
    const talk = await SmtpTalk.connect(server.port('smtp'));
    try {
      assert.equal((await talk.reply()).code, 220);
      const ehlo = await talk.command('EHLO client.test');
      assert.equal(ehlo.code, 250);
      const features = ehlo.lines.map((l) => l.slice(4));
      for (const feature of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS']) assert.ok(features.includes(feature), `${feature} in ${features.join(',')}`);
      assert.ok(features.includes(`SIZE ${frontEndLimitsDefault.messageBytesMax - traceHeadersBytesMax}`), features.join(','));
      assert.ok(!features.some((f) => f.startsWith('AUTH')), 'no AUTH on the MX port');
      assert.match((await talk.command('FROBNICATE')).text, /^500 /);
      assert.match((await talk.command('MAIL FROM:<a@remote.test> BODY=8BITMIME')).text, /^250 2\.1\.0/);
      assert.match((await talk.command('RCPT TO:<nobody@example.org>')).text, /^550 5\.1\.1 /);
      assert.match((await talk.command('RCPT TO:<someone@elsewhere.test>')).text, /^550 5\.7\.1 /);
      assert.match((await talk.command('RCPT TO:<not an address>')).text, /^5\d\d /);
      assert.match((await talk.command('NOOP')).text, /^250 /, 'the session goes on');
      assert.match((await talk.command('RSET')).text, /^250 /);
      assert.match((await talk.command('QUIT')).text, /^221 /);
    } finally {
      talk.close();
    }
  });

  test('DSN is offered; ENVID and ORCPT at their RFC 3461 limits (100, 500 characters as xtext) pass, one more is 501 5.5.4', async () => {
    const talk = await SmtpTalk.connect(server.port('smtp'));
    try {
      await talk.reply();
      assert.ok((await talk.command('EHLO client.test')).lines.some((l) => l.slice(4) === 'DSN'));
      // '+2B' is one '+' in xtext: the limit counts the encoded form.
      const envid = (chars: number): string => `+2B${'e'.repeat(chars - 3)}`;
      assert.match((await talk.command(`MAIL FROM:<a@remote.test> RET=HDRS ENVID=${envid(dsnEnvidCharsMax + 1)}`)).text, /^501 5\.5\.4 ENVID longer than 100/);
      assert.match((await talk.command(`MAIL FROM:<a@remote.test> RET=HDRS ENVID=${envid(dsnEnvidCharsMax)}`)).text, /^250 /);
      const orcpt = (chars: number): string => `rfc822;${'o'.repeat(chars - 'rfc822;@example.org'.length)}@example.org`;
      assert.match((await talk.command(`RCPT TO:<demo@example.org> NOTIFY=FAILURE ORCPT=${orcpt(dsnOrcptCharsMax + 1)}`)).text, /^501 5\.5\.4 ORCPT longer than 500/);
      assert.match((await talk.command(`RCPT TO:<demo@example.org> NOTIFY=FAILURE ORCPT=${orcpt(dsnOrcptCharsMax)}`)).text, /^250 /);
      assert.match((await talk.command('RCPT TO:<demo@example.org> NOTIFY=NEVER,SUCCESS')).text, /^501 /, 'NEVER alone (smtp-server checks NOTIFY)');
      assert.match((await talk.command('RSET')).text, /^250 /);
    } finally {
      talk.close();
    }
  });

  test('Python smtplib over STARTTLS with PIPELINING: two recipients in two databases, both durable before 250', async () => {
    const script = `
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='py.test')
s.starttls(context=ctx)
s.ehlo('py.test')
assert s.has_extn('pipelining') and s.has_extn('enhancedstatuscodes'), s.esmtp_features
msg = b'From: py@remote.test\\r\\nTo: bob@example.org\\r\\nSubject: smtplib\\r\\n\\r\\nfrom python\\r\\n'
refused = s.sendmail('py@remote.test', ['bob@example.org', 'carol@example.org'], msg)
print('refused', refused)
code, text = s.noop()
print('noop', code)
s.quit()
`;
    const r = await python(script, String(server.port('smtp')), caPath);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /refused \{\}/);
    const original = 'From: py@remote.test\r\nTo: bob@example.org\r\nSubject: smtplib\r\n\r\nfrom python\r\n';
    const [bob] = await inbox('bob@example.org');
    const [carol] = await inbox('carol@example.org');
    assertDelivered(bob!, 'py@remote.test', 'bob@example.org', original);
    assertDelivered(carol!, 'py@remote.test', 'carol@example.org', original);
    assert.doesNotMatch(Buffer.from(bob!).toString('latin1'), /\tfor </, 'no "for" clause when the message has several recipients (it would leak Bcc)');
  });

  test('an alias delivers to its user; a group expands, and its members in one database get identical bytes', async () => {
    const directory = server.server.directory;
    assert.ok((await directory.addAlias('robert@example.org', 'bob@example.org')).ok);
    assert.ok((await directory.addGroup('team@example.org', ['demo@example.org', 'carol@example.org', 'robert@example.org'])).ok);
    const before = { demo: (await inbox('demo@example.org')).length, carol: (await inbox('carol@example.org')).length, bob: (await inbox('bob@example.org')).length };
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.port('smtp'), secure: false, ignoreTLS: true });
    await transport.sendMail({ envelope: { from: 'x@remote.test', to: ['team@example.org', 'carol@example.org'] }, raw: raw('group') });
    const demo = await inbox('demo@example.org');
    const carol = await inbox('carol@example.org');
    const bob = await inbox('bob@example.org');
    assert.equal(demo.length, before.demo + 1);
    assert.equal(carol.length, before.carol + 1, 'carol, reached as herself and through the group, gets one copy');
    assert.equal(bob.length, before.bob + 1);
    assertDelivered(demo.at(-1)!, 'x@remote.test', 'team@example.org', raw('group'));
    assert.deepEqual(demo.at(-1), carol.at(-1), 'members of one database reached through the group share the same bytes (stored once)');
    assertDelivered(bob.at(-1)!, 'x@remote.test', 'team@example.org', raw('group'));
  });

  test('a full mailbox is refused at RCPT with the quota answer', async () => {
    // A mailbox is full when it holds more than its quota: fill it, then lower the quota.
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.port('smtp'), secure: false, ignoreTLS: true });
    await transport.sendMail({ envelope: { from: 'x@remote.test', to: ['full@example.org'] }, raw: raw('fills it') });
    const lowered = await setQuota(server.server.directory, (db) => server.server.supervisor.api(db), 'full@example.org', 10);
    assert.ok(lowered.ok);
    const talk = await SmtpTalk.connect(server.port('smtp'));
    try {
      await talk.reply();
      await talk.command('EHLO c');
      await talk.command('MAIL FROM:<x@remote.test>');
      assert.match((await talk.command('RCPT TO:<full@example.org>')).text, /^552 5\.2\.2 /);
    } finally {
      talk.close();
    }
  });
});

describe('LMTP', () => {
  test('per-recipient 250 after DATA, each once durable; unknown recipient refused at RCPT', async () => {
    const talk = await SmtpTalk.connect(server.port('lmtp'));
    try {
      assert.match((await talk.reply()).text, /^220 .*LMTP/);
      assert.equal((await talk.command('LHLO mta.test')).code, 250);
      talk.write('MAIL FROM:<lmtp@remote.test>\r\nRCPT TO:<demo@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n');
      assert.match((await talk.reply()).text, /^250 /);
      assert.match((await talk.reply()).text, /^250 /);
      assert.match((await talk.reply()).text, /^550 5\.1\.1 /);
      assert.match((await talk.reply()).text, /^250 /);
      assert.equal((await talk.reply()).code, 354);
      const message = raw('lmtp');
      talk.write(dataBlock(message));
      const first = await talk.reply();
      const second = await talk.reply();
      assert.match(first.text, /^250 2\.0\.0 Ok: delivered as/);
      assert.match(second.text, /^250 2\.0\.0 Ok: delivered as/);
      assertDelivered((await inbox('demo@example.org')).at(-1)!, 'lmtp@remote.test', 'demo@example.org', message);
      assertDelivered((await inbox('bob@example.org')).at(-1)!, 'lmtp@remote.test', 'bob@example.org', message);
      assert.match((await talk.command('QUIT')).text, /^221 /);
    } finally {
      talk.close();
    }
  });

  test('Python smtplib.LMTP delivers', async () => {
    const script = `
import smtplib, sys
s = smtplib.LMTP('127.0.0.1', int(sys.argv[1]))
s.ehlo_or_helo_if_needed()
print(s.sendmail('py@remote.test', ['carol@example.org'], b'Subject: py lmtp\\r\\n\\r\\nbody\\r\\n'))
s.quit()
`;
    const r = await python(script, String(server.port('lmtp')));
    assert.equal(r.status, 0, r.stderr);
    assertDelivered((await inbox('carol@example.org')).at(-1)!, 'py@remote.test', 'carol@example.org', 'Subject: py lmtp\r\n\r\nbody\r\n');
  });
});

describe('submission', () => {
  test('1587: no AUTH before STARTTLS, MAIL needs AUTH, wrong password 535 5.7.8, foreign sender 553 5.7.1, then delivery', async () => {
    const talk = await SmtpTalk.connect(server.port('submission'));
    try {
      await talk.reply();
      const plain = await talk.command('EHLO c.test');
      assert.ok(!plain.lines.some((l) => l.slice(4).startsWith('AUTH')), 'AUTH is not offered before TLS');
      assert.match((await talk.command(`AUTH PLAIN ${Buffer.from(`\0${server.demo.address}\0${server.demo.password}`).toString('base64')}`)).text, /^5\d\d /);
      assert.match((await talk.command('MAIL FROM:<demo@example.org>')).text, /^530 /);
      assert.equal((await talk.startTls(server.cert)).code, 220);
      const secure = await talk.command('EHLO c.test');
      assert.ok(secure.lines.some((l) => /AUTH.*PLAIN.*LOGIN|AUTH.*LOGIN.*PLAIN/.test(l)), secure.lines.join('|'));
      assert.match((await talk.command(`AUTH PLAIN ${Buffer.from(`\0${server.demo.address}\0wrong-password`).toString('base64')}`)).text, /^535 5\.7\.8 /);
      assert.match((await talk.command(`AUTH PLAIN ${Buffer.from(`\0${server.demo.address}\0${server.demo.password}`).toString('base64')}`)).text, /^235 /);
      assert.match((await talk.command('MAIL FROM:<bob@example.org>')).text, /^553 5\.7\.1 /);
      assert.match((await talk.command('MAIL FROM:<demo@example.org>')).text, /^250 /);
      assert.match((await talk.command('RCPT TO:<carol@example.org>')).text, /^250 /);
      assert.equal((await talk.command('DATA')).code, 354);
      talk.write(dataBlock(raw('submitted')));
      assert.match((await talk.reply()).text, /^250 2\.0\.0 /);
    } finally {
      talk.close();
    }
    const stored = (await inbox('carol@example.org')).at(-1)!;
    assertDelivered(stored, 'demo@example.org', 'carol@example.org', raw('submitted'));
    assert.match(Buffer.from(stored).toString('latin1'), /with ESMTPSA id/);
  });

  test('1465 (TLS) with nodemailer and AUTH LOGIN', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.port('submissions'), secure: true, tls: { ca: server.cert, servername: 'localhost' }, auth: { user: server.demo.address, pass: server.demo.password }, authMethod: 'LOGIN' });
    const info = await transport.sendMail({ from: server.demo.address, to: 'bob@example.org', subject: 'over TLS', text: 'hi' });
    assert.deepEqual(info.accepted, ['bob@example.org']);
    const stored = Buffer.from((await inbox('bob@example.org')).at(-1)!).toString('latin1');
    assert.match(stored, /^Return-Path: <demo@example\.org>\r\nDelivered-To: bob@example\.org\r\n/);
    assert.match(stored, /Subject: over TLS/);
  });
});

/** A front end of its own over the test server's directory and databases, with other limits or a failing directory. */
async function ownFrontEnd(options: { messageBytesMax?: number; directory?: Directory }, kept: SafetyNetEntry[] = []): Promise<FrontEnd> {
  const context = createFrontEndContext({
    directory: options.directory ?? server.server.directory,
    mailboxes: (database) => server.server.supervisor.api(database),
    hostname: 'localhost',
    serverName: 'MBX1',
    tls: { cert: server.cert, key: '' },
    limits: { ...frontEndLimitsDefault, messageBytesMax: options.messageBytesMax ?? frontEndLimitsDefault.messageBytesMax },
  });
  let n = 0;
  const services: MailServices = { safetyNet: { keep: async (entry) => void kept.push(entry) }, outbound: null, nowMs: Date.now, newId: () => `test${String(++n).padStart(8, '0')}` };
  return startSmtp(context, { host: '127.0.0.1', port: () => 0 }, services, { services: ['smtp'] });
}

describe('limits and failures', () => {
  test('SIZE: a message of exactly the limit is delivered, limit + 1 gets 552 5.3.4 and the session goes on', async () => {
    const limit = 4096;
    const frontEnd = await ownFrontEnd({ messageBytesMax: limit + traceHeadersBytesMax });
    const talk = await SmtpTalk.connect(frontEnd.ports.smtp!);
    try {
      await talk.reply();
      const ehlo = await talk.command('EHLO c');
      assert.ok(ehlo.lines.some((l) => l.slice(4) === `SIZE ${limit}`), ehlo.lines.join('|'));
      const header = 'Subject: size\r\n\r\n';
      const exact = header + 'x'.repeat(limit - header.length - 2) + '\r\n';
      assert.equal(Buffer.byteLength(exact), limit);
      assert.match((await talk.command(`MAIL FROM:<s@remote.test> SIZE=${limit + 1}`)).text, /^552 /, 'a declared SIZE over the limit is refused at MAIL');
      const before = (await inbox('demo@example.org')).length;
      for (const [message, expected] of [[exact, /^250 /], [header + 'x'.repeat(limit - header.length - 1) + '\r\n', /^552 5\.3\.4 /]] as const) {
        assert.match((await talk.command('MAIL FROM:<s@remote.test>')).text, /^250 /);
        assert.match((await talk.command('RCPT TO:<demo@example.org>')).text, /^250 /);
        assert.equal((await talk.command('DATA')).code, 354);
        talk.write(dataBlock(message));
        assert.match((await talk.reply()).text, expected);
      }
      const after = await inbox('demo@example.org');
      assert.equal(after.length, before + 1, 'only the message at the limit was stored');
      assertDelivered(after.at(-1)!, 's@remote.test', 'demo@example.org', exact);
      assert.match((await talk.command('NOOP')).text, /^250 /);
    } finally {
      talk.close();
      await frontEnd.close();
    }
  });

  test('a directory that cannot be reached: 451 4.4.3 at RCPT, nothing accepted', async () => {
    const real = server.server.directory;
    const down = new Proxy(real, {
      get(target, name, receiver) {
        if (name === 'resolveRecipient' || name === 'isAcceptedDomain' || name === 'findUser') return () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:389'));
        return Reflect.get(target, name, receiver);
      },
    }) as Directory;
    const frontEnd = await ownFrontEnd({ directory: down });
    const talk = await SmtpTalk.connect(frontEnd.ports.smtp!);
    try {
      await talk.reply();
      await talk.command('EHLO c');
      await talk.command('MAIL FROM:<s@remote.test>');
      assert.match((await talk.command('RCPT TO:<demo@example.org>')).text, /^451 4\.4\.3 /);
      assert.match((await talk.command('DATA')).text, /^503 /);
    } finally {
      talk.close();
      await frontEnd.close();
    }
  });

  test('the safety net is given every delivered message with its exact bytes; a loop is refused', async () => {
    const kept: SafetyNetEntry[] = [];
    const frontEnd = await ownFrontEnd({}, kept);
    try {
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: frontEnd.ports.smtp!, secure: false, ignoreTLS: true });
      await transport.sendMail({ envelope: { from: 'n@remote.test', to: ['demo@example.org', 'bob@example.org'] }, raw: raw('net') });
      assert.equal(kept.length, 1);
      assert.deepEqual(kept[0]!.deliveries.map((d) => d.address).sort(), ['bob@example.org', 'demo@example.org']);
      const demo = kept[0]!.deliveries.find((d) => d.address === 'demo@example.org')!;
      const { prefix, content } = deliveredMessage(kept[0]!, demo);
      assert.equal(kept[0]!.contents.length, 1, 'the content is kept once for both recipients');
      assert.deepEqual(new Uint8Array(Buffer.concat([prefix, content])), (await inbox('demo@example.org')).at(-1));
      await assert.rejects(
        transport.sendMail({ envelope: { from: 'n@remote.test', to: ['demo@example.org'] }, raw: 'Delivered-To: demo@example.org\r\nSubject: loop\r\n\r\nx\r\n' }),
        (error: Error & { responseCode?: number }) => error.responseCode === 554,
      );
      assert.equal(kept.length, 1);
    } finally {
      await frontEnd.close();
    }
  });
});
