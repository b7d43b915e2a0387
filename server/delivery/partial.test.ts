// Proves that SMTP never makes a sender send a message twice to recipients who have it: when
// one recipient's database cannot take the message at DATA (a fault injected behind the
// MailboxApi interface: DB02's commits answer DATABASE_UNAVAILABLE, as a database without an
// active copy does), the others get it, the answer is 250, and the outbound queue delivers the
// missed recipients once the database is back: every recipient exactly once, including the
// members of a group split across databases. When nothing could be stored, the answer is 451
// and the sender's retry delivers once. A member refused for good (over quota at commit) once
// others have it is bounced to the sender as a DSN instead of failing the whole message. Over
// LMTP (per-recipient answers) only a group partly delivered goes to the queue.
// Clients: Python's smtplib (the sender, retrying on 4xx as an MTA would), nodemailer, and
// the literal LMTP client of protocols/smtp/testing.ts.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { fail, type Failure } from '../../engine/errors.js';
import { until as waitFor } from '../../engine/replication/testing.js';
import type { MailboxApi } from '../../engine/api.js';
import type { FrontEndContext } from '../../protocols/frontend.js';
import { SmtpTalk, dataBlock, inboxOf, runProgram } from '../../protocols/smtp/testing.js';
import { type TestServer, startTestServer } from '../../test/harness.js';
import { type MailFlow, startMailFlow } from './index.js';

let server: TestServer;
let flow: MailFlow;
let work: string;
/** The injected fault of DB02's commits: none, unavailable (temporary) or over quota (permanent). */
let db02: 'up' | 'down' | 'full' = 'up';

const until = (check: () => Promise<boolean> | boolean, what: string): Promise<true> => waitFor(async () => (await check()) || null, 30_000, what);

/** The context the mail flow runs on: the server's, with DB02's commits failing while `db02` says so. */
function faultyContext(base: FrontEndContext): FrontEndContext {
  const wrapped = new Map<string, MailboxApi>();
  return {
    ...base,
    mailboxes(database: string): MailboxApi {
      const api = base.mailboxes(database);
      if (database !== 'DB02') return api;
      let faulty = wrapped.get(database);
      if (faulty === undefined) {
        faulty = new Proxy(api, {
          get(target, property, receiver) {
            const injected = (): Failure | null =>
              db02 === 'down' ? fail('DATABASE_UNAVAILABLE', 'DB02 has no active copy (injected)') : db02 === 'full' ? fail('OVER_QUOTA', 'mailbox full (injected)') : null;
            if (property === 'commitMany') {
              return (requests: Parameters<MailboxApi['commitMany']>[0]) => {
                const failure = injected();
                return failure === null ? target.commitMany(requests) : Promise.resolve(requests.map(() => failure));
              };
            }
            if (property !== 'commit') return Reflect.get(target, property, receiver) as unknown;
            return (request: Parameters<MailboxApi['commit']>[0]) => {
              const failure = injected();
              return failure === null ? target.commit(request) : Promise.resolve(failure);
            };
          },
        });
        wrapped.set(database, faulty);
      }
      return faulty;
    },
  };
}

/** Sends with Python's smtplib like an MTA: on a 4xx it waits for `ready` and sends the whole message again. */
function pythonSend(port: number, from: string, to: string[], message: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const script = `
import smtplib, sys, json
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
try:
    refused = s.sendmail(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4].encode('latin-1'))
    print('250', json.dumps(refused))
except smtplib.SMTPDataError as e:
    print(e.smtp_code, e.smtp_error.decode())
except smtplib.SMTPRecipientsRefused as e:
    print('refused', e)
s.quit()
`;
  return runProgram('python3', ['-c', script, String(port), from, JSON.stringify(to), message]);
}

const counts = async (addresses: string[]): Promise<Record<string, number>> =>
  Object.fromEntries(await Promise.all(addresses.map(async (a) => [a, (await inboxOf(server, a)).filter((m) => /X-Test-Marker/.test(Buffer.from(m).toString('latin1')) && !/MAILER-DAEMON/.test(Buffer.from(m).toString('latin1'))).length] as const)));

before(async () => {
  server = await startTestServer();
  work = mkdtempSync(join(tmpdir(), 'quire-partial-'));
  await server.addUser('bob@example.org', 'bob-password-123', { database: 'DB02' });
  await server.addUser('carol@example.org', 'carol-password-123', { database: 'DB01' });
  await server.addUser('dave@example.org', 'dave-password-123', { database: 'DB02' });
  assert.ok((await server.server.directory.addGroup('crew@example.org', ['carol@example.org', 'dave@example.org'])).ok);
  flow = await startMailFlow(faultyContext(server.server.context), { host: '127.0.0.1', port: () => 0 }, { dataDir: work }, { services: ['smtp', 'submission', 'lmtp'], retryMsBase: 100, retryMsMax: 200, checkInbound: false });
});

after(async () => {
  await flow.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
});

const everyone = ['demo@example.org', 'bob@example.org', 'carol@example.org', 'dave@example.org'];

test('a database down at DATA: 250, the others have it at once, the queue delivers the missed ones later, all exactly once', async () => {
  const before = await counts(everyone);
  db02 = 'down';
  const message = 'From: x@remote.test\r\nTo: several\r\nSubject: partial\r\nX-Test-Marker: 1\r\n\r\nonce each\r\n';
  const sent = await pythonSend(flow.ports.smtp!, 'x@remote.test', ['demo@example.org', 'bob@example.org', 'crew@example.org'], message);
  assert.equal(sent.status, 0, sent.stderr);
  assert.match(sent.stdout, /^250 \{\}/, 'the whole message is accepted: the sender must not send it again');
  assert.deepEqual(await counts(everyone), { ...before, 'demo@example.org': before['demo@example.org']! + 1, 'carol@example.org': before['carol@example.org']! + 1 }, 'the recipients whose database is up have it at once');

  const waiting = flow.queue.list();
  assert.equal(waiting.length, 1);
  assert.deepEqual([...waiting[0]!.local].sort(), ['bob@example.org', 'dave@example.org'], 'only the mailboxes that missed it are queued (not carol, reached through the same group)');
  await until(() => (flow.queue.list()[0]?.attempts ?? 0) >= 1, 'a failed redelivery attempt');
  assert.match(flow.queue.list()[0]!.lastError ?? '', /DB02 has no active copy/);

  db02 = 'up';
  await until(() => flow.queue.list().length === 0, 'the redelivery');
  const after = await counts(everyone);
  assert.deepEqual(after, Object.fromEntries(everyone.map((a) => [a, before[a]! + 1])), 'every recipient exactly once');
  const text = async (address: string): Promise<string> => Buffer.from((await inboxOf(server, address)).at(-1)!).toString('latin1');
  const demo = await text('demo@example.org');
  const bob = await text('bob@example.org');
  const dave = await text('dave@example.org');
  assert.match(bob, /^Return-Path: <x@remote\.test>\r\nDelivered-To: bob@example\.org\r\nReceived: from /);
  assert.match(dave, /^Return-Path: <x@remote\.test>\r\nDelivered-To: crew@example\.org\r\nReceived: from /, 'a group member redelivered keeps the group as Delivered-To');
  const received = (m: string): string => m.slice(m.indexOf('Received: '));
  assert.equal(received(bob), received(demo), 'the redelivered copy has the same Received header and message bytes');
  assert.ok(bob.endsWith(message));
});

test('nothing stored: 451, and the sender\'s retry delivers exactly once', async () => {
  const before = await counts(everyone);
  db02 = 'down';
  const message = 'From: x@remote.test\r\nTo: bob\r\nSubject: all down\r\nX-Test-Marker: 2\r\n\r\nretry me\r\n';
  const first = await pythonSend(flow.ports.smtp!, 'x@remote.test', ['bob@example.org', 'dave@example.org'], message);
  assert.match(first.stdout, /^451 4\.3\.0 /, first.stdout + first.stderr);
  assert.deepEqual(flow.queue.list(), [], 'nothing queued: the sender keeps the message');
  db02 = 'up';
  const retry = await pythonSend(flow.ports.smtp!, 'x@remote.test', ['bob@example.org', 'dave@example.org'], message);
  assert.match(retry.stdout, /^250 \{\}/);
  assert.deepEqual(await counts(everyone), { ...before, 'bob@example.org': before['bob@example.org']! + 1, 'dave@example.org': before['dave@example.org']! + 1 });
});

test('a member refused for good at commit once others have it: 250, and a DSN to the sender for that one', async () => {
  const before = await counts(everyone);
  db02 = 'full';
  try {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: flow.ports.submission!, secure: false, requireTLS: true, tls: { ca: server.cert, servername: 'localhost' }, auth: { user: 'carol@example.org', pass: 'carol-password-123' } });
    const info = await transport.sendMail({ envelope: { from: 'carol@example.org', to: ['demo@example.org', 'crew@example.org'] }, raw: 'From: carol@example.org\r\nSubject: quota\r\nX-Test-Marker: 3\r\nMessage-ID: <quota@example.org>\r\n\r\nfull\r\n' });
    assert.match(info.response, /^250 /);
    await until(() => flow.queue.list().length === 0, 'the bounce');
  } finally {
    db02 = 'up';
  }
  const after = await counts(everyone);
  assert.deepEqual(after, { ...before, 'demo@example.org': before['demo@example.org']! + 1, 'carol@example.org': before['carol@example.org']! + 1 });
  const dsn = (await inboxOf(server, 'carol@example.org')).map((m) => Buffer.from(m).toString('latin1')).find((m) => m.includes('Undelivered Mail Returned to Sender'));
  assert.ok(dsn !== undefined, 'the sender has a DSN');
  assert.match(dsn, /Final-Recipient: rfc822; crew@example\.org\r\nAction: failed\r\nStatus: 5\.2\.2\r\n/);
  assert.match(dsn, /Message-ID: <quota@example\.org>/);
});

test('LMTP: a group some members of which have it is answered 250 and its other members are redelivered; a recipient nobody got keeps its 451', async () => {
  const before = await counts(everyone);
  db02 = 'down';
  const message = 'From: x@remote.test\r\nTo: crew\r\nSubject: lmtp partial\r\nX-Test-Marker: 4\r\n\r\nper recipient\r\n';
  const talk = await SmtpTalk.connect(flow.ports.lmtp!);
  try {
    await talk.reply();
    await talk.command('LHLO mta.test');
    await talk.command('MAIL FROM:<x@remote.test>');
    assert.match((await talk.command('RCPT TO:<crew@example.org>')).text, /^250 /);
    assert.match((await talk.command('RCPT TO:<bob@example.org>')).text, /^250 /);
    assert.match((await talk.command('DATA')).text, /^354 /);
    talk.write(dataBlock(message));
    assert.match((await talk.reply()).text, /^250 2\.0\.0 Ok: delivered as \S+, the rest queued as /, 'crew: carol has it, dave is queued');
    assert.match((await talk.reply()).text, /^451 4\.3\.0 /, 'bob: nothing stored, the MTA retries him');
    await talk.command('QUIT');
  } finally {
    talk.close();
  }
  assert.deepEqual(flow.queue.list().map((e) => e.local), [['dave@example.org']]);
  db02 = 'up';
  await until(() => flow.queue.list().length === 0, 'dave redelivered');
  // The MTA's retry of the recipient that failed.
  const retry = await SmtpTalk.connect(flow.ports.lmtp!);
  try {
    await retry.reply();
    await retry.command('LHLO mta.test');
    await retry.command('MAIL FROM:<x@remote.test>');
    await retry.command('RCPT TO:<bob@example.org>');
    await retry.command('DATA');
    retry.write(dataBlock(message));
    assert.match((await retry.reply()).text, /^250 /);
  } finally {
    retry.close();
  }
  assert.deepEqual(await counts(everyone), { ...before, 'carol@example.org': before['carol@example.org']! + 1, 'dave@example.org': before['dave@example.org']! + 1, 'bob@example.org': before['bob@example.org']! + 1 });
});
