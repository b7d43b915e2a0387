// Proves the engine keeps every acknowledged write, replays to exactly its live state, only
// grows UIDs and modseqs, and detects every bit flip, across many seeds of concurrent writers,
// power losses at any I/O call, torn writes, I/O errors and bit rot (see README.md).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFailure, runSeed, type SimStats } from './simulator.js';

const single = process.env.SIM_SEED === undefined ? null : Number(process.env.SIM_SEED);
const seedCount = Number(process.env.SIM_SEEDS ?? 300);
const firstSeed = Number(process.env.SIM_SEED_FIRST ?? 1);

test(single === null ? `simulator: ${seedCount} seeds from ${firstSeed}` : `simulator: seed ${single}`, async () => {
  const seeds = single === null ? Array.from({ length: seedCount }, (_, i) => firstSeed + i) : [single];
  const totals: Partial<SimStats> & Record<string, number> = {};
  const failures: string[] = [];
  let detected = 0;
  const started = performance.now();
  for (const seed of seeds) {
    const result = await runSeed(seed, { reuseMailboxIds: process.env.SIM_REUSE_MAILBOX_IDS === '1' });
    for (const [key, value] of Object.entries(result.stats)) totals[key] = (totals[key] ?? 0) + value;
    if (result.detected !== undefined) detected += 1;
    if (!result.ok) {
      const report = formatFailure(result);
      console.error(report);
      failures.push(`seed ${seed}: ${result.failure?.split('\n')[0]}`);
    } else if (single !== null) {
      console.log(result.stepLog.join('\n'));
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`simulator: ${seeds.length} seeds in ${seconds} s, ${failures.length} failed, ${detected} ended on a detected log flip`);
  console.log(Object.entries(totals).map(([k, v]) => `${k}=${v}`).join(' '));
  assert.deepEqual(failures, [], `${failures.length} seeds failed:\n${failures.join('\n')}`);
});
