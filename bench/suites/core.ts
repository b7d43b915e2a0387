// The `core` suite: how fast can Quire make an event durable, against the disk's own limits and
// against RocksDB doing the same job. Order: the disk first (the ceiling), then each RocksDB
// case alternating round by round with the same case on Quire's log (same driver, same
// payloads, same disk), then the WASM core's own kernel benchmarks against plain TypeScript.

import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fsyncLoop, sequentialParams, sequentialReadings, sequentialWrite, sequentialSyncEveryBytes } from '../peers/disk.js';
import { driveReadings, driveWriters, makePayloads, type DriveResult } from '../peers/driver.js';
import { rocksOpenOptions, rocksSample } from '../peers/rocksdb.js';
import { median } from '../lib/stats.js';
import type { Params, Reading, SampleRun, Suite, SuiteContext } from '../lib/suite.js';

const payloadSizesBytes = [256, 64 * 1024] as const;
const writerCounts = [1, 16, 256] as const;
const batchRecordCounts = [16, 256] as const;

/** Quire at 256 writers vs RocksDB one synced put at a time, 256 B events. */
const goalVsRocksSinglePut = 10;
/** Quire's 64 KiB appends at 256 writers vs the disk's sequential bandwidth. */
const goalVsDiskSequential = 0.8;
/** The case the bandwidth goal is about; the disk's sequential run joins its rounds. */
const bandwidthGoalParams = { payloadBytes: 65536, writers: 256 } as const;

interface Sizing {
  readonly durationMs: number;
  readonly writesMax: number;
  readonly sequentialBytes: number;
}

function sizing(quick: boolean): Sizing {
  return quick
    ? { durationMs: 250, writesMax: 4_000, sequentialBytes: 2 * sequentialSyncEveryBytes }
    : { durationMs: 2_000, writesMax: 500_000, sequentialBytes: 16 * sequentialSyncEveryBytes };
}

// ---- Quire's log, loaded at run time: it is written concurrently and may not exist yet. ----

interface LogEvent {
  readonly type: number;
  readonly version: number;
  readonly payload: Uint8Array;
}
interface QuireLog {
  append(events: readonly LogEvent[]): Promise<unknown>;
  close(): Promise<void>;
}
type OpenQuireLog = (dir: string) => Promise<QuireLog>;

/** 'missing': the module is not there yet (reported, not a failure); 'broken': it is there and does not work. */
type Loaded = { readonly open: OpenQuireLog } | { readonly problem: 'missing' | 'broken'; readonly error: string };

const logSpecifier = '../../engine/log/log.js';
const ioSpecifier = '../../engine/io.js';
const wasmBenchSpecifier = '../../core-wasm/core.bench.js';

async function loadQuireLog(): Promise<Loaded> {
  // The specifiers are variables so tsc does not resolve them: a missing engine must be a
  // reported gap in the results, not a build error in the harness.
  let logModule: Record<string, unknown>;
  let ioModule: Record<string, unknown>;
  try {
    logModule = (await import(logSpecifier)) as Record<string, unknown>;
    ioModule = (await import(ioSpecifier)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    const ownModuleMissing =
      code === 'ERR_MODULE_NOT_FOUND' && (message.includes('engine/log/log.js') || message.includes('engine/io.js'));
    return { problem: ownModuleMissing ? 'missing' : 'broken', error: message };
  }
  const { openLog, TransactionLog } = logModule;
  const { nodeStorage, systemClock } = ioModule;
  // The planned entry point is openLog(options); the log as first written exposes
  // TransactionLog.open(options), with the same options and append/close. Accept either.
  const open =
    typeof openLog === 'function'
      ? openLog
      : typeof (TransactionLog as { open?: unknown } | undefined)?.open === 'function'
        ? (options: unknown) => (TransactionLog as { open(o: unknown): Promise<unknown> }).open(options)
        : null;
  if (open === null || typeof nodeStorage !== 'function' || typeof systemClock !== 'function') {
    return {
      problem: 'broken',
      error:
        'expected openLog or TransactionLog.open (engine/log/log.js), nodeStorage and systemClock (engine/io.js); ' +
        `got ${typeof openLog}, ${typeof TransactionLog}, ${typeof nodeStorage}, ${typeof systemClock}`,
    };
  }
  return {
    open: async (dir) => (await open({ dir, storage: nodeStorage(), clock: systemClock() })) as QuireLog,
  };
}

async function quireSample(
  open: OpenQuireLog,
  dir: string,
  payloadBytes: number,
  writers: number,
  batchRecords: number,
  s: Sizing,
): Promise<DriveResult> {
  const batchPayloads = batchRecords === 1 ? [] : makePayloads(payloadBytes, batchRecords);
  const log = await open(dir);
  try {
    const write =
      batchRecords === 1
        ? async (payload: Uint8Array) => {
            await log.append([{ type: 1, version: 1, payload }]);
          }
        : async (_payload: Uint8Array, index: number) => {
            const events: LogEvent[] = [];
            for (let j = 0; j < batchRecords; j++) {
              events.push({ type: 1, version: 1, payload: batchPayloads[(index + j) % batchRecords] });
            }
            await log.append(events);
          };
    return await driveWriters({
      write,
      writers,
      payloadBytes,
      recordsPerWrite: batchRecords,
      durationMs: s.durationMs,
      writesMax: Math.max(writers, Math.floor(s.writesMax / batchRecords)),
    });
  } finally {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- The suite ----

function sequentialRun(ctx: SuiteContext, s: Sizing): SampleRun {
  return async () => sequentialReadings(sequentialWrite({ dir: await ctx.scratch('sequential'), totalBytes: s.sequentialBytes }));
}

async function runDisk(ctx: SuiteContext, s: Sizing): Promise<void> {
  for (const file of ['append', 'preallocated'] as const) {
    for (const payloadBytes of payloadSizesBytes) {
      // The append loop shares the params of the 1-writer cases: Quire/disk there is the log's overhead.
      const params: Params = file === 'append' ? { payloadBytes, writers: 1 } : { payloadBytes, writers: 1, file };
      await ctx.compare(params, {
        disk: async () =>
          driveReadings(
            fsyncLoop({ dir: await ctx.scratch('disk'), recordBytes: payloadBytes, file, durationMs: s.durationMs, writesMax: s.writesMax }),
          ),
      });
    }
  }
  await ctx.compare(sequentialParams, { disk: sequentialRun(ctx, s) });
}

async function runStores(ctx: SuiteContext, s: Sizing, quire: Loaded, failures: string[]): Promise<void> {
  let quireError: string | null = null;
  const quireRun =
    (payloadBytes: number, writers: number, batchRecords: number): SampleRun =>
    async (): Promise<readonly Reading[]> => {
      if (!('open' in quire) || quireError !== null) return [];
      try {
        return driveReadings(await quireSample(quire.open, await ctx.scratch('quire'), payloadBytes, writers, batchRecords, s));
      } catch (error) {
        // Keep measuring the peers: the report then shows what Quire is missing, next to them.
        quireError = error instanceof Error ? (error.stack ?? error.message) : String(error);
        failures.push(`quire log failed (${payloadBytes} B, ${writers} writers, batch ${batchRecords}): ${quireError}`);
        ctx.note(`quire log failed at ${payloadBytes} B, ${writers} writers, batch ${batchRecords}: ${quireError.split('\n')[0]}`);
        return [];
      }
    };
  const rocksRun =
    (payloadBytes: number, writers: number, batchRecords: number): SampleRun =>
    async () =>
      driveReadings(
        await rocksSample({
          dir: await ctx.scratch('rocksdb'),
          payloadBytes,
          writers,
          batchRecords,
          durationMs: s.durationMs,
          writesMax: Math.max(writers, Math.floor(s.writesMax / batchRecords)),
        }),
      );
  const subjects = (payloadBytes: number, writers: number, batchRecords: number): Record<string, SampleRun> =>
    'open' in quire
      ? { quire: quireRun(payloadBytes, writers, batchRecords), rocksdb: rocksRun(payloadBytes, writers, batchRecords) }
      : { rocksdb: rocksRun(payloadBytes, writers, batchRecords) };

  for (const payloadBytes of payloadSizesBytes) {
    for (const writers of writerCounts) {
      const run = subjects(payloadBytes, writers, 1);
      // The bandwidth goal's denominator is measured in the same rounds, alternating with Quire,
      // so both meet the same disk and the same neighbours (the disk's figure swings minute to minute).
      if (payloadBytes === bandwidthGoalParams.payloadBytes && writers === bandwidthGoalParams.writers) run.disk = sequentialRun(ctx, s);
      await ctx.compare({ payloadBytes, writers }, run);
    }
  }
  for (const payloadBytes of payloadSizesBytes) {
    for (const batchRecords of batchRecordCounts) {
      await ctx.compare({ payloadBytes, writers: 1, batchRecords }, subjects(payloadBytes, 1, batchRecords));
    }
  }
}

function declareRatios(ctx: SuiteContext): void {
  for (const payloadBytes of payloadSizesBytes) {
    ctx.ratio({
      label: `Quire ${payloadBytes} B records/s at 256 writers ÷ RocksDB one synced put at a time`,
      numerator: { subject: 'quire', metric: 'durable records', params: { payloadBytes, writers: 256 } },
      denominator: { subject: 'rocksdb', metric: 'durable records', params: { payloadBytes, writers: 1 } },
      // 64 KiB records are bandwidth-bound; the disk-bandwidth goal below is theirs.
      goal: payloadBytes === 256 ? goalVsRocksSinglePut : undefined,
    });
  }
  ctx.ratio({
    label: 'Quire 64 KiB MB/s at 256 writers ÷ disk sequential MB/s (measured in the same rounds)',
    numerator: { subject: 'quire', metric: 'durable bandwidth', params: bandwidthGoalParams },
    denominator: { subject: 'disk', metric: 'sequential bandwidth', params: bandwidthGoalParams },
    goal: goalVsDiskSequential,
  });
  ctx.ratio({
    label: 'RocksDB 64 KiB MB/s at 256 writers ÷ disk sequential MB/s (the peer, for scale)',
    numerator: { subject: 'rocksdb', metric: 'durable bandwidth', params: bandwidthGoalParams },
    denominator: { subject: 'disk', metric: 'sequential bandwidth', params: bandwidthGoalParams },
  });
}

interface WasmRow {
  readonly name: string;
  readonly unit: string;
  readonly wasm: number;
  readonly ts: number;
  readonly ratio: number;
}

async function runWasm(ctx: SuiteContext, failures: string[]): Promise<void> {
  if (!existsSync(new URL(wasmBenchSpecifier, import.meta.url))) {
    ctx.note('core-wasm/core.bench.ts not built yet: no WASM kernel rows');
    return;
  }
  try {
    const mod = (await import(wasmBenchSpecifier)) as { benchCore?: (o: { quick: boolean }) => Promise<WasmRow[]> | WasmRow[] };
    if (typeof mod.benchCore !== 'function') throw new Error('core-wasm/core.bench.js exports no benchCore function');
    const byName = new Map<string, { unit: string; rows: WasmRow[] }>();
    for (let round = 0; round < ctx.rounds; round++) {
      // Bounded by the suite's budget: the kernels' own benchmark decides its iterations.
      if (round > 0 && ctx.timeLeftMs() < (ctx.quick ? 5_000 : 60_000)) break;
      const { value: rows } = await ctx.measure(`core-wasm benchCore round ${round + 1}/${ctx.rounds}`, () =>
        mod.benchCore!({ quick: ctx.quick }),
      );
      for (const row of rows) {
        const params = { kernel: row.name };
        ctx.record({ metric: 'core-wasm kernel', unit: row.unit, params, subject: 'quire', samples: [row.wasm] });
        ctx.record({ metric: 'core-wasm kernel', unit: row.unit, params, subject: 'ts', samples: [row.ts] });
        const entry = byName.get(row.name) ?? { unit: row.unit, rows: [] };
        entry.rows.push(row);
        byName.set(row.name, entry);
      }
    }
    ctx.table(
      'core-wasm kernels: WASM vs plain TypeScript (median of rounds, as benchCore reports them)',
      ['kernel', 'unit', 'wasm', 'ts', 'ratio (benchCore)'],
      [...byName].map(([name, e]) => [
        name,
        e.unit,
        median(e.rows.map((r) => r.wasm)).toPrecision(4),
        median(e.rows.map((r) => r.ts)).toPrecision(4),
        median(e.rows.map((r) => r.ratio)).toPrecision(3),
      ]),
    );
  } catch (error) {
    failures.push(`core-wasm benchCore failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    ctx.note(`core-wasm benchCore failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const suite: Suite = {
  name: 'core',
  description:
    'Durable appends: the disk\'s own fsync and sequential limits, RocksDB synced puts/batches/concurrent writers, ' +
    "Quire's log append through the same driver; WASM core kernels vs plain TypeScript.",
  chartMetrics: ['durable records', 'durable bandwidth', 'sequential bandwidth'],
  async run(ctx) {
    const s = sizing(ctx.quick);
    const failures: string[] = [];
    ctx.note(
      `each sample: ${s.durationMs} ms or ${s.writesMax} writes, whichever first, on a fresh file/database/log; ` +
        `sequential: ${s.sequentialBytes / 2 ** 20} MiB in 4 MiB writes, fdatasync every 64 MiB`,
    );
    ctx.note(`rocksdb: npm rocksdb defaults plus ${JSON.stringify(rocksOpenOptions)}, every write { sync: true }`);
    ctx.note('disk: synchronous write + fdatasync in a tight loop (no libuv hop): the fastest honest way from Node');

    await runDisk(ctx, s);
    const quire = await ctx.measure('load engine/log/log.js', loadQuireLog);
    if ('problem' in quire.value) {
      ctx.note(`quire engine not available: ${quire.value.error}`);
      if (quire.value.problem === 'broken') failures.push(`quire engine not available: ${quire.value.error}`);
    }
    declareRatios(ctx);
    await runStores(ctx, s, quire.value, failures);
    await runWasm(ctx, failures);
    if (failures.length > 0) throw new Error(failures.join('\n'));
  },
};

export default suite;
