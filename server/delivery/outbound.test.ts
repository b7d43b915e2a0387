// Proves outbound mail: an authenticated submission to local and remote recipients is
// answered 250 once the local copy is delivered and the remote part is in the durable queue;
// the queue delivers through a smarthost (a real smtp-server in this test), retries a 4xx
// with backoff, and bounces a 5xx to the sender as a DSN in their INBOX; MX routing goes
// through an injected resolver; a queued message survives closing the queue and is delivered
// after reopening. DSN (RFC 3461) parameters given with Python's smtplib are honoured: NOTIFY=
// SUCCESS gets a delivered (local) or relayed (remote) report, NOTIFY=NEVER no bounce, RET=FULL
// returns the whole message and RET=HDRS its header, ENVID and ORCPT come back in the report.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { type TestServer, startTestServer } from '../../test/harness.js';
import { silentLog } from '../frontend.js';
import type { FrontEnd } from '../../protocols/frontend.js';
import { inboxOf as messagesOf, runProgram } from '../../protocols/smtp/testing.js';
import { type MailFlow, type MailFlowOptions, startMailFlow } from './index.js';
import { FileOutboundQueue } from './queue.js';

interface Received {
  readonly from: string;
  readonly to: string[];
  readonly raw: Buffer;
  /** What a DSN-capable smarthost was given (RET, ENVID; NOTIFY and ORCPT per recipient). */
  readonly dsn: { ret: string | null; envid: string | null; rcpts: Array<{ notify: string[] | null; orcpt: string | null }> };
}

/** While true, the smarthost defers slow@ and slow2@remote.test. */
let holdSlow = true;

/** A local smarthost: refuses refuse@ for good, defers later@ twice and slow@/slow2@ while holdSlow, takes everything else. */
async function startSmarthost(options: { dsn?: boolean } = {}): Promise<{ port: number; received: Received[]; deferrals: number; close(): Promise<void> }> {
  const state = { received: [] as Received[], deferrals: 0 };
  const server = new SMTPServer({
    hideDSN: options.dsn !== true,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    hideENHANCEDSTATUSCODES: false,
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address === 'refuse@remote.test') return callback(Object.assign(new Error('5.1.1 no such user'), { responseCode: 550 }));
      if (address.address.startsWith('slow') && holdSlow) return callback(Object.assign(new Error('4.2.1 busy, try later'), { responseCode: 451 }));
      if (address.address === 'later@remote.test' && state.deferrals < 2) {
        state.deferrals++;
        return callback(Object.assign(new Error('4.2.0 try again later'), { responseCode: 451 }));
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.received.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          dsn: { ret: session.envelope.dsn?.ret ?? null, envid: session.envelope.dsn?.envid ?? null, rcpts: session.envelope.rcptTo.map((r) => ({ notify: r.dsn?.notify ?? null, orcpt: r.dsn?.orcpt ?? null })) },
        });
        callback();
      });
    },
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.server.address() as AddressInfo).port)));
  return {
    port,
    received: state.received,
    get deferrals() {
      return state.deferrals;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let server: TestServer;
/** The server's certificate, for smtplib's STARTTLS. */
let caPath: string;
let smarthost: Awaited<ReturnType<typeof startSmarthost>>;
const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-outbound-'));
  dirs.push(dir);
  return dir;
};

const inbox = async (address: string): Promise<string[]> => (await messagesOf(server, address)).map((m) => Buffer.from(m).toString('latin1'));

before(async () => {
  server = await startTestServer();
  smarthost = await startSmarthost();
  await server.addUser('bob@example.org', 'bob-password-123', { database: 'DB02' });
  caPath = join(tempDir(), 'ca.pem');
  writeFileSync(caPath, server.cert);
});

after(async () => {
  await smarthost.close();
  await server.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('submission: local delivered, remote through the smarthost with retries, a refusal bounced to the sender as a DSN', async () => {
  const flow: FrontEnd = await startMailFlow(server.server.context, { host: '127.0.0.1', port: () => 0 }, { dataDir: tempDir() }, {
    services: ['submission'],
    smarthost: { host: '127.0.0.1', port: smarthost.port },
    retryMsBase: 50,
    retryMsMax: 200,
  });
  try {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: flow.ports.submission!, secure: false, requireTLS: true, tls: { ca: server.cert, servername: 'localhost' }, auth: { user: server.demo.address, pass: server.demo.password } });
    const raw = 'From: demo@example.org\r\nTo: many\r\nSubject: outbound\r\nMessage-ID: <outbound@example.org>\r\n\r\nhello world\r\n';
    const info = await transport.sendMail({ envelope: { from: 'demo@example.org', to: ['bob@example.org', 'ok@remote.test', 'later@remote.test', 'refuse@remote.test'] }, raw });
    assert.deepEqual(info.accepted.sort(), ['bob@example.org', 'later@remote.test', 'ok@remote.test', 'refuse@remote.test']);
    assert.ok((await inbox('bob@example.org')).some((m) => m.endsWith(raw)), 'the local recipient has it once the 250 came');

    await until(() => smarthost.received.some((r) => r.to.includes('later@remote.test')), 'the deferred recipient to be delivered on a retry');
    assert.equal(smarthost.deferrals, 2);
    const ok = smarthost.received.find((r) => r.to.includes('ok@remote.test'))!;
    assert.equal(ok.from, 'demo@example.org');
    assert.match(ok.raw.toString('latin1'), /^DKIM-Signature: [^]*?d=example\.org;[^]*?\r\nReceived: from [^\r]*\r\n\tby localhost \(Quire\) with ESMTPSA id /, 'signed for the sender\'s domain, then our Received');
    assert.ok(ok.raw.toString('latin1').endsWith(raw), 'the message is relayed byte for byte below our Received header');
    assert.ok(!smarthost.received.some((r) => r.to.includes('bob@example.org') || r.to.includes('refuse@remote.test')));

    await until(async () => (await inbox('demo@example.org')).some((m) => m.includes('Undelivered Mail Returned to Sender')), 'the DSN in the sender\'s INBOX');
    const dsn = (await inbox('demo@example.org')).find((m) => m.includes('Undelivered Mail Returned to Sender'))!;
    assert.match(dsn, /^Return-Path: <>\r\nDelivered-To: demo@example\.org\r\n/);
    assert.match(dsn, /Content-Type: multipart\/report; report-type=delivery-status/);
    assert.match(dsn, /Final-Recipient: rfc822; refuse@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\n/);
    assert.match(dsn, /Message-ID: <outbound@example\.org>/, 'the original headers are returned');
    assert.doesNotMatch(dsn, /ok@remote\.test|later@remote\.test\r\nAction/, 'only the failed recipient is reported');
  } finally {
    await flow.close();
  }
});

const python = (script: string, ...args: string[]) => runProgram('python3', ['-c', script, ...args]);

/** A mail flow on a fresh data directory that relays through the test smarthost, retrying every 50 ms. */
const smarthostFlow = (options: MailFlowOptions): Promise<MailFlow> =>
  startMailFlow(server.server.context, { host: '127.0.0.1', port: () => 0 }, { dataDir: tempDir() }, { smarthost: { host: '127.0.0.1', port: smarthost.port }, retryMsBase: 50, ...options });

test('DSN parameters (smtplib): NOTIFY=SUCCESS reports delivered and relayed, NOTIFY=NEVER silences a bounce, RET, ENVID and ORCPT honoured', async () => {
  const flow = await smarthostFlow({ services: ['submission', 'lmtp'], retryMsMax: 200 });
  try {
    // Per-recipient parameters, so the low-level calls: MAIL with RET/ENVID, then one RCPT each.
    const script = `
import smtplib, ssl, sys, json
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.starttls(context=ssl.create_default_context(cafile=sys.argv[2]))
s.ehlo('client.test')
print('dsn' if s.has_extn('dsn') else 'no-dsn')
s.login(sys.argv[3], sys.argv[4])
for mail_options, rcpts, subject in json.loads(sys.argv[5]):
    print(s.mail(sys.argv[3], mail_options)[0])
    for address, options in rcpts:
        print(s.rcpt(address, options)[0])
    print(s.data(('From: demo@example.org\\r\\nSubject: ' + subject + '\\r\\nMessage-ID: <' + subject + '@example.org>\\r\\n\\r\\nbody of ' + subject + '\\r\\n').encode())[0])
s.quit()
l = smtplib.LMTP('127.0.0.1', int(sys.argv[6]))
l.ehlo('client.test')
print('lmtp-dsn' if l.has_extn('dsn') else 'lmtp-no-dsn')
l.quit()
`;
    const transactions = [
      [['RET=FULL', 'ENVID=env+2Bone'], [['bob@example.org', ['NOTIFY=SUCCESS']], ['ok@remote.test', ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;orig@remote.test']], ['refuse@remote.test', ['NOTIFY=NEVER']]], 'dsnfull'],
      [['RET=HDRS'], [['refuse@remote.test', ['NOTIFY=FAILURE', 'ORCPT=rfc822;first@remote.test']]], 'dsnhdrs'],
    ];
    const r = await python(script, String(flow.ports.submission), caPath, server.demo.address, server.demo.password, JSON.stringify(transactions), String(flow.ports.lmtp));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['dsn', '250', '250', '250', '250', '250', '250', '250', '250', 'lmtp-no-dsn'], 'DSN offered on submission (not on LMTP), every command accepted');

    const reports = async (): Promise<string[]> => (await inbox('demo@example.org')).filter((m) => /Subject: (Successful Mail Delivery Report|Undelivered Mail Returned to Sender)/.test(m) && /dsn(full|hdrs)/.test(m));
    await until(async () => (await reports()).length >= 3 && flow.queue.list().length === 0, 'three reports and an empty queue');
    const all = await reports();
    assert.equal(all.length, 3, 'delivered (bob), relayed (ok@), failed (refuse@ in the RET=HDRS message); nothing for NOTIFY=NEVER');
    const delivered = all.find((m) => /Action: delivered/.test(m))!;
    assert.match(delivered, /Original-Envelope-Id: env\+2Bone\r\n/);
    assert.match(delivered, /Final-Recipient: rfc822; bob@example\.org\r\nAction: delivered\r\nStatus: 2\.0\.0\r\n/);
    assert.match(delivered, /Content-Type: message\/rfc822\r\n\r\n[^]*body of dsnfull\r\n/, 'RET=FULL returns the whole message');
    const relayed = all.find((m) => /Action: relayed/.test(m))!;
    assert.match(relayed, /Original-Recipient: rfc822;orig@remote\.test\r\nFinal-Recipient: rfc822; ok@remote\.test\r\nAction: relayed\r\n/);
    assert.doesNotMatch(relayed, /refuse@remote\.test\r\nAction/, 'NOTIFY=NEVER: the refused recipient of that message is not reported');
    const failed = all.find((m) => /Action: failed/.test(m))!;
    assert.match(failed, /Subject: Undelivered Mail Returned to Sender/);
    assert.match(failed, /Original-Recipient: rfc822;first@remote\.test\r\nFinal-Recipient: rfc822; refuse@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1/);
    assert.match(failed, /Content-Type: text\/rfc822-headers\r\n\r\n[^]*Message-ID: <dsnhdrs@example\.org>\r\n\r\n--/);
    assert.doesNotMatch(failed, /body of dsnhdrs/, 'RET=HDRS: the header section only');
  } finally {
    await flow.close();
  }
});

test('a next hop that offers DSN gets the parameters (grouped by NOTIFY and ORCPT) and reports itself: no relayed report from us', async () => {
  const capable = await startSmarthost({ dsn: true });
  const flow = await startMailFlow(server.server.context, { host: '127.0.0.1', port: () => 0 }, { dataDir: tempDir() }, { services: ['submission'], smarthost: { host: '127.0.0.1', port: capable.port }, retryMsBase: 50 });
  try {
    const script = `
import smtplib, ssl, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.starttls(context=ssl.create_default_context(cafile=sys.argv[2]))
s.login(sys.argv[3], sys.argv[4])
s.mail(sys.argv[3], ['RET=HDRS', 'ENVID=e1'])
s.rcpt('ok@remote.test', ['NOTIFY=SUCCESS', 'ORCPT=rfc822;orig@remote.test'])
s.rcpt('ok2@remote.test', ['NOTIFY=FAILURE'])
print(s.data(b'From: demo@example.org\\r\\nSubject: passed on\\r\\nMessage-ID: <passedon@example.org>\\r\\n\\r\\nx\\r\\n')[0])
s.quit()
`;
    const r = await python(script, String(flow.ports.submission), caPath, server.demo.address, server.demo.password);
    assert.equal(r.stdout.trim(), '250', r.stderr);
    await until(() => flow.queue.list().length === 0 && capable.received.length === 2, 'both relayed');
    const byRcpt = new Map(capable.received.map((m) => [m.to.join(','), m.dsn]));
    assert.deepEqual(byRcpt.get('ok@remote.test'), { ret: 'HDRS', envid: 'e1', rcpts: [{ notify: ['SUCCESS'], orcpt: 'rfc822;orig@remote.test' }] });
    assert.deepEqual(byRcpt.get('ok2@remote.test'), { ret: 'HDRS', envid: 'e1', rcpts: [{ notify: ['FAILURE'], orcpt: null }] });
    assert.ok(!(await inbox('demo@example.org')).some((m) => m.includes('<passedon@example.org>')), 'no relayed report: the next hop reports');
  } finally {
    await flow.close();
    await capable.close();
  }
});

test('NOTIFY=DELAY: one delay report while the message is retried, only for the recipient that asked; none repeated, no bounce once delivered', async () => {
  const flow = await smarthostFlow({ services: ['submission'], retryMsMax: 100, delayWarningMs: 0 });
  try {
    const script = `
import smtplib, ssl, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.starttls(context=ssl.create_default_context(cafile=sys.argv[2]))
s.login(sys.argv[3], sys.argv[4])
s.mail(sys.argv[3])
print(s.rcpt('slow@remote.test', ['NOTIFY=DELAY,FAILURE'])[0], s.rcpt('slow2@remote.test')[0], s.rcpt('ok@remote.test', ['NOTIFY=DELAY'])[0])
print(s.data(b'From: demo@example.org\\r\\nSubject: delayed\\r\\nMessage-ID: <delayed@example.org>\\r\\n\\r\\nslow\\r\\n')[0])
s.quit()
`;
    const r = await python(script, String(flow.ports.submission), caPath, server.demo.address, server.demo.password);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '250 250 250\n250');
    const delayReports = async (): Promise<string[]> => (await inbox('demo@example.org')).filter((m) => m.includes('<delayed@example.org>') && m.includes('Action: delayed'));
    await until(async () => (await delayReports()).length === 1 && (flow.queue.list()[0]?.attempts ?? 0) >= 3, 'a delay report and more attempts');
    const [report] = await delayReports();
    assert.match(report!, /Subject: Delayed Mail \(still being retried\)/);
    assert.match(report!, /Final-Recipient: rfc822; slow@remote\.test\r\nAction: delayed\r\nStatus: 4\.2\.1\r\n/);
    assert.doesNotMatch(report!, /slow2@remote\.test|ok@remote\.test\r\nAction/, 'only the recipient that asked, and only one still waiting');
    holdSlow = false;
    await until(() => flow.queue.list().length === 0, 'delivery once the smarthost takes it');
    assert.equal((await delayReports()).length, 1, 'one delay report, not one per attempt');
    assert.ok(!(await inbox('demo@example.org')).some((m) => m.includes('<delayed@example.org>') && m.includes('Action: failed')), 'no bounce');
  } finally {
    holdSlow = true;
    await flow.close();
  }
});

test('MX routing through an injected resolver; a domain that does not exist bounces', async () => {
  const resolver = {
    async resolveMx(domain: string) {
      if (domain === 'mx.test') return [{ exchange: 'unreachable.invalid', priority: 20 }, { exchange: '127.0.0.1', priority: 10 }];
      throw Object.assign(new Error(`queryMx ENOTFOUND ${domain}`), { code: 'ENOTFOUND' });
    },
  };
  const flow = await startMailFlow(server.server.context, { host: '127.0.0.1', port: () => 0 }, { dataDir: tempDir() }, { services: ['submissions'], smarthost: null, resolver, mxPort: smarthost.port, retryMsBase: 50 });
  try {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: flow.ports.submissions!, secure: true, tls: { ca: server.cert, servername: 'localhost' }, auth: { user: server.demo.address, pass: server.demo.password } });
    await transport.sendMail({ envelope: { from: 'demo@example.org', to: ['someone@mx.test', 'x@nowhere.test'] }, raw: 'Subject: via MX\r\n\r\nmx\r\n' });
    await until(() => smarthost.received.some((r) => r.to.includes('someone@mx.test')), 'delivery to the preferred MX host');
    await until(async () => (await inbox('demo@example.org')).some((m) => /Final-Recipient: rfc822; x@nowhere\.test\r\nAction: failed\r\nStatus: 5\.1\.2/.test(m)), 'the DSN for the domain that does not exist');
  } finally {
    await flow.close();
  }
});

test('a queued message survives closing the queue and is delivered after reopening', async () => {
  const dir = tempDir();
  const bounced: string[] = [];
  const options = (port: number) => ({
    dir,
    nowMs: Date.now,
    log: silentLog,
    bounce: async (message: { id: string }) => void bounced.push(message.id),
    relay: { hostname: 'localhost', smarthost: { host: '127.0.0.1', port }, resolver: { resolveMx: async () => [] }, mxPort: 25, timeoutMs: 2_000 },
    retryMsBase: 60_000,
  });
  // Nothing listens on the smarthost port yet: the first attempt fails and the next is a minute away.
  const closed = await startSmarthost();
  const deadPort = closed.port;
  await closed.close();
  let queue = await FileOutboundQueue.open(options(deadPort));
  await queue.enqueue({ id: 'restart1', timeMs: Date.now(), mailFrom: 'demo@example.org', recipients: ['ok@remote.test'], content: Buffer.from('Subject: restart\r\n\r\nsurvives\r\n') });
  await until(() => queue.list()[0]?.state.attempts === 1, 'the first attempt');
  await queue.close();
  assert.deepEqual(readdirSync(dir).sort(), ['restart1.msg', 'restart1.state']);

  queue = await FileOutboundQueue.open({ ...options(smarthost.port), retryMsBase: 50 });
  try {
    assert.deepEqual(queue.list().map((e) => [e.id, e.state.attempts, e.state.remaining]), [['restart1', 1, ['ok@remote.test']]]);
    // Due in a minute per its state; a restart does not lose that, so make it due now.
    (queue as unknown as { entries: Map<string, { state: { nextAttemptMs: number } }> }).entries.get('restart1')!.state.nextAttemptMs = 0;
    await queue.enqueue({ id: 'restart2', timeMs: Date.now(), mailFrom: 'demo@example.org', recipients: ['ok@remote.test'], content: Buffer.from('Subject: second\r\n\r\nx\r\n') });
    await until(() => queue.list().length === 0, 'both delivered');
    assert.ok(smarthost.received.some((r) => r.raw.toString().includes('survives')));
    assert.deepEqual(readdirSync(dir), []);
    assert.deepEqual(bounced, []);
  } finally {
    await queue.close();
  }
});
