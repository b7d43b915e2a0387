// A worker's batch notice carries the bytes the batch was written with. The log hands onDurable a
// view of its frame slot, reused by a later batch once this one is answered; the IPC outbox
// writes its messages at the end of the event loop's turn, so a notice queued with that view
// could leave holding a later batch's bytes (the passive copies, or the Kafka topic, then get
// records at the wrong positions). Commits arriving out of step keep batches framed in the
// turn an earlier one was answered in; every notice is compared with the log file afterwards.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkerClient } from './client.js';
import type { Notice, OpenParams } from './protocol.js';
import { randomMessage } from '../replication/testing.js';

test('every batch notice holds its batch\'s bytes as written to the log (not a frame slot a later batch reused)', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-notice-'));
  const notices: Array<{ start: number; end: number; bytes: Uint8Array }> = [];
  const client = new WorkerClient('DB01', (notice: Notice) => {
    if (notice.notice === 'batch') notices.push({ start: notice.start, end: notice.end, bytes: notice.bytes });
  });
  const params: OpenParams = { name: 'DB01', dir, role: 'active' };
  const child = fork(fileURLToPath(new URL('./main.js', import.meta.url)), [], {
    serialization: 'advanced',
    env: { ...process.env, QUIRE_WORKER: JSON.stringify(params) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('message', (message: { notice?: string; error?: string }) => (message.notice === 'ready' ? resolve() : reject(new Error(message.error))));
      child.once('exit', (code) => reject(new Error(`worker exited ${code}`)));
    });
    client.attach(child);
    const created = await client.commit({ mailboxId: 'm1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] });
    assert.ok(created.ok);
    await Promise.all(
      Array.from({ length: 16 }, async (_, writer) => {
        for (let i = 0; i < 30; i++) {
          const content = new TextEncoder().encode(randomMessage(writer * 100 + i, 200 + ((writer * 131 + i * 17) % 3000)));
          const r = await client.commit({ mailboxId: 'm1', ops: [{ op: 'append', folder: 'INBOX', content }] });
          assert.ok(r.ok, JSON.stringify(r));
          // Out of step with each other, so commits keep arriving while batches are on their way.
          await new Promise((resolve) => setTimeout(resolve, (writer + i) % 4));
        }
      }),
    );
    await client.call('close', {});
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
    // Closed cleanly: the segments hold exactly the batches (no zeros written ahead).
    const log = Buffer.concat(readdirSync(join(dir, 'log')).filter((n) => n.endsWith('.qlog')).sort().map((n) => readFileSync(join(dir, 'log', n))));
    assert.ok(notices.length > 20, `${notices.length} batches`);
    const wrong = notices.filter((n) => !Buffer.from(n.bytes).equals(log.subarray(n.start, n.end)));
    assert.deepEqual(wrong.map((n) => n.start), [], `${wrong.length} of ${notices.length} batch notices carried other bytes than the log holds`);
  } finally {
    client.detach('test over');
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
