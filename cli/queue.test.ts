// Proves `quire queue list|flush|delete` both ways: through a running server's admin API and
// offline on the queue files once it has stopped. The server's smarthost does not answer, so
// submitted mail stays queued with its last error; delete --bounce gives the sender a DSN
// (online: into their INBOX; offline: a bounce written into the queue for the next start).
// Client: nodemailer on the submission port.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import { inboxOf } from '../protocols/smtp/testing.js';
import { startTestServer } from '../test/harness.js';
import { until } from '../test/until.js';
import { quire } from './testing.js';

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Entry { id: string; mailFrom: string; recipients: string[]; local: string[]; attempts: number; nextAttemptMs: number; lastError: string | null }

test('quire queue list/flush/delete through the admin API and offline', { timeout: 120_000 }, async () => {
  const server = await startTestServer({ keepData: true, transport: { smarthost: `127.0.0.1:${await deadPort()}`, retryMsBase: 3_600_000 } });
  const dataDir = server.dataDir;
  const list = async (): Promise<Entry[]> => {
    const r = await quire(dataDir, 'queue', 'list', '--json');
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Entry[];
  };
  try {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.port('submission'), secure: false, requireTLS: true, tls: { ca: server.cert, servername: 'localhost' }, auth: { user: server.demo.address, pass: server.demo.password } });
    await transport.sendMail({ envelope: { from: server.demo.address, to: ['a@remote.test', 'b@remote.test'] }, raw: 'Subject: first queued\r\nMessage-ID: <q1@example.org>\r\n\r\none\r\n' });
    await transport.sendMail({ envelope: { from: server.demo.address, to: ['c@remote.test'] }, raw: 'Subject: second queued\r\nMessage-ID: <q2@example.org>\r\n\r\ntwo\r\n' });
    await until(async () => (await list()).filter((e) => e.attempts === 1).length === 2, 'both messages tried once');
    const entries = await list();
    const first = entries.find((e) => e.recipients.includes('a@remote.test'))!;
    const second = entries.find((e) => e.recipients.includes('c@remote.test'))!;
    assert.deepEqual(first.recipients, ['a@remote.test', 'b@remote.test']);
    assert.equal(first.mailFrom, server.demo.address);
    assert.match(first.lastError ?? '', /ECONNREFUSED|refused/i);
    assert.ok(first.nextAttemptMs > Date.now() + 30 * 60_000, 'the next attempt is an hour away');

    const table = await quire(dataDir, 'queue', 'list');
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^id +sender +recipients +attempts +next +lastError/);
    assert.ok(table.stdout.includes(first.id) && table.stdout.includes('a@remote.test, b@remote.test'), table.stdout);

    const flushed = await quire(dataDir, 'queue', 'flush', second.id);
    assert.equal(flushed.status, 0, flushed.stderr);
    assert.equal(flushed.stdout.trim(), '1 message due now');
    await until(async () => (await list()).find((e) => e.id === second.id)?.attempts === 2, 'the flushed message tried again');
    assert.equal((await list()).find((e) => e.id === first.id)?.attempts, 1, 'the other one waits for its time');

    const deleted = await quire(dataDir, 'queue', 'delete', first.id, '--bounce');
    assert.equal(deleted.status, 0, deleted.stderr);
    assert.deepEqual((await list()).map((e) => e.id), [second.id]);
    const dsn = (await inboxOf(server, server.demo.address)).map((m) => Buffer.from(m).toString('latin1')).find((m) => m.includes('<q1@example.org>'));
    assert.ok(dsn !== undefined, 'the sender has a DSN for the deleted message');
    assert.match(dsn, /Final-Recipient: rfc822; a@remote\.test\r\nAction: failed\r\nStatus: 5\.0\.0\r\n/);
    assert.match(dsn, /removed from the queue by the administrator/);

    const missing = await quire(dataDir, 'queue', 'delete', 'nosuchid');
    assert.notEqual(missing.status, 0);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
    assert.match(missing.stderr, /NO_SUCH_MESSAGE/);
    // After `--` an argument is an id even when it looks like an option.
    const dashed = await quire(dataDir, 'queue', 'delete', '--', '--nosuchid');
    assert.notEqual(dashed.status, 0);
    assert.match(dashed.stderr, /NO_SUCH_MESSAGE/);

    await server.stop();
    // Offline, on the files.
    assert.deepEqual((await list()).map((e) => [e.id, e.attempts]), [[second.id, 2]]);
    const offlineFlush = await quire(dataDir, 'queue', 'flush');
    assert.equal(offlineFlush.stdout.trim(), '1 message due now (tried at the next start)');
    assert.equal((await list())[0]!.nextAttemptMs, 0);
    const offlineDelete = await quire(dataDir, 'queue', 'delete', second.id, '--bounce');
    assert.equal(offlineDelete.status, 0, offlineDelete.stderr);
    const left = await list();
    assert.equal(left.length, 1, 'the bounce waits in the queue for the next start');
    assert.deepEqual([left[0]!.mailFrom, left[0]!.recipients, left[0]!.local], ['', [server.demo.address], [server.demo.address]], 'from the null sender, delivered locally');
    const silent = await quire(dataDir, 'queue', 'delete', left[0]!.id);
    assert.equal(silent.status, 0, silent.stderr);
    assert.deepEqual(await list(), []);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
