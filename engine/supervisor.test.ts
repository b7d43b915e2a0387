// The supervisor: best-copy selection order (rankCopies), and an active copy that mounts only on a restart.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rankCopies } from './supervisor.js';

const MiB = 1024 * 1024;
interface TestCopy {
  readonly name: string;
  readonly end: number;
  readonly replayed: number;
  readonly preference: number;
  readonly index?: string;
}
const order = (copies: TestCopy[], head: number): string[] => rankCopies(copies, head, (c) => c.index).map((c) => c.name);

test('a copy close to the head with a healthy content index beats a more complete one whose index failed', () => {
  const head = 100 * MiB;
  const copies: TestCopy[] = [
    { name: 'complete-failed-index', end: head, replayed: head, preference: 1, index: 'Failed' },
    { name: 'behind-healthy', end: head - 2 * MiB, replayed: head - 2 * MiB, preference: 2, index: 'Healthy' },
    { name: 'behind-crawling', end: head - MiB, replayed: head - MiB, preference: 3, index: 'Crawling' },
  ];
  assert.deepEqual(order(copies, head), ['behind-healthy', 'behind-crawling', 'complete-failed-index']);
});

test('copies 10 logs or more behind, or with 50 logs to replay, come after the close ones, most complete first', () => {
  const head = 200 * MiB;
  const copies: TestCopy[] = [
    { name: 'far', end: head - 10 * MiB, replayed: head - 10 * MiB, preference: 1, index: 'Healthy' },
    { name: 'replay-queue', end: head, replayed: head - 50 * MiB, preference: 1, index: 'Healthy' },
    { name: 'close-failed', end: head - 9 * MiB, replayed: head - 9 * MiB, preference: 3, index: 'Failed' },
    { name: 'farther', end: head - 20 * MiB, replayed: head - 20 * MiB, preference: 1, index: 'Healthy' },
  ];
  assert.deepEqual(order(copies, head), ['close-failed', 'replay-queue', 'far', 'farther']);
});

test('ties go by activation preference; an unknown index state ranks as failed', () => {
  const copies: TestCopy[] = [
    { name: 'pref3', end: 5 * MiB, replayed: 5 * MiB, preference: 3, index: 'Healthy' },
    { name: 'unknown', end: 5 * MiB, replayed: 5 * MiB, preference: 1 },
    { name: 'pref2', end: 5 * MiB, replayed: 5 * MiB, preference: 2, index: 'Healthy' },
  ];
  assert.deepEqual(order(copies, 0), ['pref2', 'pref3', 'unknown']);
  assert.deepEqual(order([], 7), []);
});

test('an active copy whose first start fails (its store locked by a leftover process) is activated when its restart mounts it', { timeout: 120_000 }, async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { Supervisor } = await import('./supervisor.js');
  const { openRocksKv } = await import('./state/rocks.js');
  const { append, createMailbox, until } = await import('./replication/testing.js');
  const dir = mkdtempSync(join(tmpdir(), 'quire-late-active-'));
  const options = { durability: 'async' as const, restartsBeforeFailover: 50, log: () => undefined, copies: [{ database: 'DB01', server: 'MBX1', copy: 1, role: 'active' as const, dir: join(dir, 'a') }] };
  const first = new Supervisor(options);
  await first.start();
  await createMailbox(first.api('DB01'), 'm1', 'late@example.org');
  await first.stop();
  // A worker of a server killed with -9 can outlive it for a moment, holding the store's lock.
  const holder = await openRocksKv(join(dir, 'a', 'state'));
  const second = new Supervisor(options);
  try {
    await second.start();
    assert.equal((await second.list())[0]!.state === 'Mounted', false, 'the first start cannot mount while the lock is held');
    await holder.close();
    const uid = await until(async () => {
      const appended = await append(second.api('DB01'), 'm1', 'Subject: after\r\n\r\nx\r\n');
      return 'uid' in appended ? appended.uid : null;
    }, 30_000, 'a write accepted once the restarted copy mounts');
    assert.equal(uid, 1);
  } finally {
    await second.stop();
  }
});
