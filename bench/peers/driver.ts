// The concurrent-writer driver: W async writers, each awaiting one durable write before it
// starts the next, for a fixed time or a fixed number of writes, whichever ends first. It is the
// one load shape every durable store here is measured with (RocksDB's synced puts, Quire's log
// append, ...), so their figures compare. Closed loop on purpose: a writer is a session waiting
// for its OK, and W is how many sessions wait at once; group commit is what makes W > 1 pay.

import { randomBytes } from 'node:crypto';
import { assert } from '../../engine/assert.js';
import { bytesPerMb } from '../lib/constants.js';
import { percentileSorted } from '../lib/stats.js';
import type { Reading } from '../lib/suite.js';

export const writersMax = 4096;

export interface DriveOptions {
  /** One durable write; resolves once it is durable. writeIndex is unique across writers (use it for keys). */
  readonly write: (payload: Uint8Array, writeIndex: number) => Promise<void>;
  readonly writers: number;
  readonly payloadBytes: number;
  /** Records one write carries (a batch of 16 puts is one write of 16 records); for records/s and MB/s. */
  readonly recordsPerWrite?: number;
  /** Stop starting writes after this long... */
  readonly durationMs: number;
  /** ...or after this many writes in total, whichever comes first. */
  readonly writesMax: number;
}

export interface DriveResult {
  readonly writes: number;
  readonly records: number;
  readonly elapsedMs: number;
  readonly writesPerSec: number;
  readonly recordsPerSec: number;
  readonly mbPerSec: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
}

/** Distinct random payloads, so no store can win by compressing or deduplicating them. */
export function makePayloads(payloadBytes: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, () => new Uint8Array(randomBytes(payloadBytes)));
}

export async function driveWriters(options: DriveOptions): Promise<DriveResult> {
  const { write, writers, payloadBytes, durationMs, writesMax } = options;
  const recordsPerWrite = options.recordsPerWrite ?? 1;
  assert(Number.isInteger(writers) && writers >= 1 && writers <= writersMax, `writers out of range: ${writers}`);
  assert(payloadBytes >= 0 && durationMs > 0 && writesMax >= writers, 'drive bounds');

  // Payloads are made before the clock starts; each writer reuses its own few.
  const payloadsPerWriter = 4;
  const payloads = makePayloads(payloadBytes, Math.min(writers * payloadsPerWriter, 1024));
  const latenciesMs = new Float64Array(writesMax);
  let started = 0;
  let finished = 0;
  const t0 = performance.now();
  const deadline = t0 + durationMs;

  async function writer(w: number): Promise<void> {
    let own = 0;
    while (started < writesMax && performance.now() < deadline) {
      const index = started++;
      const payload = payloads[(w * payloadsPerWriter + (own++ % payloadsPerWriter)) % payloads.length];
      const start = performance.now();
      await write(payload, index);
      latenciesMs[finished++] = performance.now() - start;
    }
  }

  await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
  const elapsedMs = performance.now() - t0;
  assert(finished === started && finished > 0, 'every started write finished');
  const sorted = latenciesMs.subarray(0, finished).sort();
  const seconds = elapsedMs / 1000;
  const records = finished * recordsPerWrite;
  return {
    writes: finished,
    records,
    elapsedMs,
    writesPerSec: finished / seconds,
    recordsPerSec: records / seconds,
    mbPerSec: (records * payloadBytes) / bytesPerMb / seconds,
    latencyP50Ms: percentileSorted(sorted, 50),
    latencyP99Ms: percentileSorted(sorted, 99),
  };
}

/** The readings every durable-write subject reports, under the same metric names. */
export function driveReadings(r: DriveResult): Reading[] {
  return [
    { metric: 'durable records', unit: 'records/s', value: r.recordsPerSec },
    { metric: 'durable bandwidth', unit: 'MB/s', value: r.mbPerSec },
    { metric: 'write latency p50', unit: 'ms', value: r.latencyP50Ms },
    { metric: 'write latency p99', unit: 'ms', value: r.latencyP99Ms },
  ];
}
