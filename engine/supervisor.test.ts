// Best-copy selection (shared/EXCHANGE.md): the order rankCopies gives failover's candidates.

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
