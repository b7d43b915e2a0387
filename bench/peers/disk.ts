// The disk's own limits, the ceiling every durable store on this machine lives under:
//   - durable writes: write + fdatasync of one record at a time, on one file (fsyncs/s, MB/s);
//   - sequential bandwidth: 4 MiB writes, fdatasync every 64 MiB and at the end (MB/s).
// Synchronous fs calls in a tight loop: no libuv thread hop and no promise per write, so this
// is the fastest honest way Node can reach the disk, which is what a ceiling should be.

import { closeSync, fdatasyncSync, fsyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../../engine/assert.js';
import { bytesPerMb } from '../lib/constants.js';
import { percentileSorted } from '../lib/stats.js';
import type { Reading } from '../lib/suite.js';
import { makePayloads, type DriveResult } from './driver.js';

export const sequentialWriteBytes = 4 * 1024 * 1024;
export const sequentialSyncEveryBytes = 64 * 1024 * 1024;
/** The preallocated file's size; overwrites wrap around inside it. */
export const preallocatedBytesMax = 64 * 1024 * 1024;

export interface FsyncLoopOptions {
  readonly dir: string;
  readonly recordBytes: number;
  /**
   * 'append' grows the file, so every fdatasync also commits the new size through the file
   * system's journal: what a log that appends pays. 'preallocated' overwrites a file already
   * written and synced: the device's own flush rate, what a log with preallocated segments pays.
   */
  readonly file: 'append' | 'preallocated';
  readonly durationMs: number;
  readonly writesMax: number;
}

/** write + fdatasync, one record each, in one thread: the same shape as the driver with one writer. */
export function fsyncLoop(options: FsyncLoopOptions): DriveResult {
  const { dir, recordBytes, file, durationMs, writesMax } = options;
  assert(recordBytes > 0 && writesMax > 0 && durationMs > 0, 'fsync loop bounds');
  const path = join(dir, `fsync-${recordBytes}-${file}`);
  const payload = makePayloads(recordBytes, 1)[0];
  const fd = openSync(path, 'w');
  try {
    // Append mode never wraps; preallocated mode wraps inside an area written and synced first,
    // so its overwrites change no file size and allocate no extent.
    const areaRecords =
      file === 'append' ? Number.MAX_SAFE_INTEGER : Math.max(1, Math.min(writesMax, Math.floor(preallocatedBytesMax / recordBytes)));
    if (file === 'preallocated') {
      const fill = new Uint8Array(1024 * 1024);
      const areaBytes = areaRecords * recordBytes;
      for (let at = 0; at < areaBytes; at += fill.length) writeSync(fd, fill, 0, Math.min(fill.length, areaBytes - at), at);
      fsyncSync(fd);
    }
    const latenciesMs = new Float64Array(writesMax);
    let writes = 0;
    const t0 = performance.now();
    const deadline = t0 + durationMs;
    while (writes < writesMax && performance.now() < deadline) {
      const start = performance.now();
      const written = writeSync(fd, payload, 0, recordBytes, (writes % areaRecords) * recordBytes);
      assert(written === recordBytes, 'short write');
      fdatasyncSync(fd);
      latenciesMs[writes++] = performance.now() - start;
    }
    const elapsedMs = performance.now() - t0;
    const sorted = latenciesMs.subarray(0, writes).sort();
    const seconds = elapsedMs / 1000;
    return {
      writes,
      records: writes,
      elapsedMs,
      writesPerSec: writes / seconds,
      recordsPerSec: writes / seconds,
      mbPerSec: (writes * recordBytes) / bytesPerMb / seconds,
      latencyP50Ms: percentileSorted(sorted, 50),
      latencyP99Ms: percentileSorted(sorted, 99),
    };
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
}

export interface SequentialOptions {
  readonly dir: string;
  /** Bytes written in total; a multiple of sequentialSyncEveryBytes, so every write is synced the same way. */
  readonly totalBytes: number;
}

/** Sequential bandwidth in MB/s: large appends, fdatasync every 64 MiB and at the end. */
export function sequentialWrite(options: SequentialOptions): number {
  const { dir, totalBytes } = options;
  assert(totalBytes >= sequentialSyncEveryBytes && totalBytes % sequentialSyncEveryBytes === 0, 'sequential size');
  const path = join(dir, 'sequential');
  // Random bytes: a compressing or deduplicating layer below must not flatter the figure.
  const chunk = makePayloads(sequentialWriteBytes, 1)[0];
  const fd = openSync(path, 'w');
  try {
    const t0 = performance.now();
    let written = 0;
    while (written < totalBytes) {
      const n = writeSync(fd, chunk, 0, chunk.length);
      assert(n === chunk.length, 'short write');
      written += n;
      if (written % sequentialSyncEveryBytes === 0) fdatasyncSync(fd);
    }
    const seconds = (performance.now() - t0) / 1000;
    return written / bytesPerMb / seconds;
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
}

export function sequentialReadings(mbPerSec: number): Reading[] {
  return [{ metric: 'sequential bandwidth', unit: 'MB/s', value: mbPerSec }];
}

/** The params under which the sequential figure is recorded; ratios refer to it by these. */
export const sequentialParams = { writeBytes: sequentialWriteBytes, syncEveryBytes: sequentialSyncEveryBytes } as const;
