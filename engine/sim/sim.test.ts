// Proves the engine keeps every acknowledged write, replays to exactly its live state, only
// grows UIDs and modseqs, and detects every bit flip, across many seeds of concurrent writers,
// power losses at any I/O call, torn writes, I/O errors and bit rot (see README.md).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFailure, runSeed, type SimStats } from './simulator.js';

const single = process.env.SIM_SEED === undefined ? null : Number(process.env.SIM_SEED);
const seedCount = Number(process.env.SIM_SEEDS ?? 300);
/** Seeds run again with mailbox ids reused after deletion (UIDVALIDITY must still never repeat). */
const reuseSeedCount = Number(process.env.SIM_REUSE_SEEDS ?? 100);
const firstSeed = Number(process.env.SIM_SEED_FIRST ?? 1);
const reuseOnly = process.env.SIM_REUSE_MAILBOX_IDS === '1';

async function runSeeds(seeds: readonly number[], reuseMailboxIds: boolean): Promise<void> {
  const totals: Partial<SimStats> & Record<string, number> = {};
  const failures: string[] = [];
  let detected = 0;
  const started = performance.now();
  for (const seed of seeds) {
    const result = await runSeed(seed, { reuseMailboxIds });
    for (const [key, value] of Object.entries(result.stats)) totals[key] = (totals[key] ?? 0) + value;
    if (result.detected !== undefined) detected += 1;
    if (!result.ok) {
      const report = formatFailure(result);
      console.error(reuseMailboxIds ? `${report}\n(with SIM_REUSE_MAILBOX_IDS=1)` : report);
      failures.push(`seed ${seed}: ${result.failure?.split('\n')[0]}`);
    } else if (single !== null) {
      console.log(result.stepLog.join('\n'));
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const mode = reuseMailboxIds ? ' (mailbox ids reused)' : '';
  console.log(`simulator${mode}: ${seeds.length} seeds in ${seconds} s, ${failures.length} failed, ${detected} ended on a detected log flip`);
  console.log(Object.entries(totals).map(([k, v]) => `${k}=${v}`).join(' '));
  assert.deepEqual(failures, [], `${failures.length} seeds failed:\n${failures.join('\n')}`);
}

const seedsFrom = (count: number): number[] => Array.from({ length: count }, (_, i) => firstSeed + i);

if (single !== null) {
  test(`simulator: seed ${single}${reuseOnly ? ' (mailbox ids reused)' : ''}`, () => runSeeds([single], reuseOnly));
} else {
  if (!reuseOnly) test(`simulator: ${seedCount} seeds from ${firstSeed}`, () => runSeeds(seedsFrom(seedCount), false));
  test(`simulator, mailbox ids reused: ${reuseSeedCount} seeds from ${firstSeed}`, () => runSeeds(seedsFrom(reuseSeedCount), true));
}
