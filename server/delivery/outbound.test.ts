// Proves outbound mail: an authenticated submission to local and remote recipients is
// answered 250 once the local copy is delivered and the remote part is in the durable queue;
// the queue delivers through a smarthost (a real smtp-server in this test), retries a 4xx
// with backoff, and bounces a 5xx to the sender as a DSN in their INBOX; MX routing goes
// through an injected resolver; a queued message survives closing the queue and is delivered
// after reopening.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { type TestServer, startTestServer } from '../../test/harness.js';
import { silentLog } from '../frontend.js';
import type { FrontEnd } from '../../protocols/frontend.js';
import { inboxOf as messagesOf } from '../../protocols/smtp/testing.js';
import { startMailFlow } from './index.js';
import { FileOutboundQueue } from './queue.js';

interface Received {
  readonly from: string;
  readonly to: string[];
  readonly raw: Buffer;
}

/** A local smarthost: refuses refuse@ for good, defers later@ twice, takes everything else. */
async function startSmarthost(): Promise<{ port: number; received: Received[]; deferrals: number; close(): Promise<void> }> {
  const state = { received: [] as Received[], deferrals: 0 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    hideENHANCEDSTATUSCODES: false,
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address === 'refuse@remote.test') return callback(Object.assign(new Error('5.1.1 no such user'), { responseCode: 550 }));
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
        state.received.push({ from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) });
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
