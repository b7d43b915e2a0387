// Times each WASM core export against its plain-TypeScript twin (reference.ts), and the
// throughput-bound ones against Buffer.copy of the same bytes (the memcpy ceiling).
// A bench harness calls benchCore(); `node dist/core-wasm/core.bench.js [--quick]` prints a table.

import { pathToFileURL } from 'node:url';
import { instantiateCore, recordBytesOf } from './index.js';
import * as ref from './reference.js';
import { Prng, layBatch, type RecordSpec } from './testing.js';

export interface BenchRow {
  name: string;
  unit: string;
  wasm: number;
  ts: number;
  /** wasm / ts: above 1, the core is faster. */
  ratio: number;
}

interface Case {
  name: string;
  unit: 'MB/s' | 'Mop/s';
  /** Bytes (MB/s) or operations (Mop/s) one call of either side does. */
  workPerCall: number;
  wasm: () => unknown;
  ts: () => unknown;
}

let sink = 0; // results flow here so the JIT cannot drop the work

/** Throughput of `fn` in work units per second over about `sampleMs`. */
function sample(fn: () => unknown, calls: number, workPerCall: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) sink ^= Number(fn()) | 0;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return (calls * workPerCall) / seconds;
}

/** Enough calls of `fn` to fill about `sampleMs`. */
function calibrate(fn: () => unknown, sampleMs: number): number {
  let calls = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) sink ^= Number(fn()) | 0;
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (ms >= sampleMs / 4 || calls >= 1 << 24) return Math.max(1, Math.ceil((calls * sampleMs) / Math.max(ms, 0.001)));
    calls *= 4;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function run(c: Case, rounds: number, sampleMs: number): BenchRow {
  const wasmCalls = calibrate(c.wasm, sampleMs);
  const tsCalls = calibrate(c.ts, sampleMs);
  const wasm: number[] = [];
  const ts: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first so drift (thermal, other tenants) hits both alike.
    if (round % 2 === 0) {
      wasm.push(sample(c.wasm, wasmCalls, c.workPerCall));
      ts.push(sample(c.ts, tsCalls, c.workPerCall));
    } else {
      ts.push(sample(c.ts, tsCalls, c.workPerCall));
      wasm.push(sample(c.wasm, wasmCalls, c.workPerCall));
    }
  }
  const w = median(wasm) / 1e6;
  const t = median(ts) / 1e6;
  return { name: c.name, unit: c.unit, wasm: round3(w), ts: round3(t), ratio: round3(w / t) };
}

function round3(x: number): number {
  return Number(x.toPrecision(4));
}

function sameBatch(count: number, payloadBytes: number, prng: Prng): RecordSpec[] {
  return Array.from({ length: count }, () => ({ payload: prng.fill(new Uint8Array(payloadBytes)), type: 5, version: 1 }));
}

/** The cases, built once per process: the harness calls benchCore once per round. */
let cases: Case[] | undefined;

/**
 * Sets up on a private core instance, so benchmarking never grows the engine's memory (which
 * would detach its views) nor resets its checkpoint ring.
 */
function buildCases(): Case[] {
  const core = instantiateCore();
  const prng = new Prng(42);

  // Every region is reserved before any view is taken: a later reserve could detach them.
  const mib = 1 << 20;
  const crcPtr = core.reserve(mib);
  const smallBatchBytes = 256 * recordBytesOf(256);
  const bigBatchBytes = 16 * recordBytesOf(64 * 1024);
  const smallPtr = core.reserve(smallBatchBytes);
  const bigPtr = core.reserve(bigBatchBytes);
  const logPtr = core.reserve(mib + 64 * 1024);
  const folderCount = 100_000;
  const uidsPtr = core.reserve(folderCount * 4);
  const flagsPtr = core.reserve(folderCount * 4);
  const modseqPtr = core.reserve(folderCount * 8);
  const outPtr = core.reserve(folderCount * 4);

  const crcBytes = prng.fill(core.bytes(crcPtr, mib));
  const crc4k = crcBytes.subarray(0, 4096);
  const copyTarget = Buffer.alloc(mib + 64 * 1024);

  layBatch(core, smallPtr, sameBatch(256, 256, prng));
  layBatch(core, bigPtr, sameBatch(16, 64 * 1024, prng));
  const smallView = core.bytes(smallPtr, smallBatchBytes);
  const bigView = core.bytes(bigPtr, bigBatchBytes);

  // A 1 MiB log of 256 B records in 16-record batches, for scan.
  let logBytes = 0;
  while (logBytes + 16 * recordBytesOf(256) <= mib) {
    layBatch(core, logPtr + logBytes, sameBatch(16, 256, prng));
    logBytes += core.frameBatch(logPtr + logBytes, 16, logBytes);
  }
  const logView = core.bytes(logPtr, logBytes);

  // A folder: sorted UIDs with gaps, flag words, modseqs mostly old with recent ones at the end.
  const uids = core.u32s(uidsPtr, folderCount);
  let uid = 0;
  for (let i = 0; i < folderCount; i++) uids[i] = uid += 1 + prng.below(4);
  const probes = Uint32Array.from({ length: 4096 }, () => prng.below(uid + 1));
  const flags = core.u32s(flagsPtr, folderCount);
  const modseqs = core.f64s(modseqPtr, folderCount);
  for (let i = 0; i < folderCount; i++) {
    flags[i] = prng.u32() & 0x1f;
    modseqs[i] = 1000 + i;
  }
  const out = core.u32s(outPtr, folderCount);
  const seen = 0x2;
  const since = 1000 + folderCount - 1000; // the last 1000 changed
  let probe = 0;

  const built: Case[] = [
    { name: 'crc32c 4 KiB', unit: 'MB/s', workPerCall: 4096,
      wasm: () => core.crc32c(crcPtr, 4096, 0), ts: () => ref.crc32c(crc4k) },
    { name: 'crc32c 1 MiB', unit: 'MB/s', workPerCall: mib,
      wasm: () => core.crc32c(crcPtr, mib, 0), ts: () => ref.crc32c(crcBytes) },
    { name: 'crc32c 1 MiB (ts = Buffer.copy 1 MiB)', unit: 'MB/s', workPerCall: mib,
      wasm: () => core.crc32c(crcPtr, mib, 0), ts: () => core.buffer(crcPtr, mib).copy(copyTarget) },
    { name: 'frameBatch 256 x 256 B', unit: 'MB/s', workPerCall: smallBatchBytes,
      wasm: () => core.frameBatch(smallPtr, 256, 0), ts: () => ref.frameBatch(smallView, 0, 256, 0) },
    { name: 'frameBatch 16 x 64 KiB', unit: 'MB/s', workPerCall: bigBatchBytes,
      wasm: () => core.frameBatch(bigPtr, 16, 0), ts: () => ref.frameBatch(bigView, 0, 16, 0) },
    { name: 'frameBatch 16 x 64 KiB (ts = Buffer.copy)', unit: 'MB/s', workPerCall: bigBatchBytes,
      wasm: () => core.frameBatch(bigPtr, 16, 0), ts: () => core.buffer(bigPtr, bigBatchBytes).copy(copyTarget) },
    { name: 'scan 1 MiB (16 x 256 B batches)', unit: 'MB/s', workPerCall: logBytes,
      wasm: () => core.scan(logPtr, logBytes, 0), ts: () => ref.scan(logView, 0).status },
    { name: 'uidToSeq (100k UIDs)', unit: 'Mop/s', workPerCall: 1,
      wasm: () => core.uidToSeq(uidsPtr, folderCount, probes[probe++ & 4095]!),
      ts: () => ref.uidToSeq(uids, probes[probe++ & 4095]!) },
    { name: 'countMissing (100k flag words)', unit: 'Mop/s', workPerCall: folderCount,
      wasm: () => core.countMissing(flagsPtr, folderCount, seen), ts: () => ref.countMissing(flags, seen) },
    { name: 'selectModseqAbove (100k, 1k match)', unit: 'Mop/s', workPerCall: folderCount,
      wasm: () => core.selectModseqAbove(modseqPtr, folderCount, since, outPtr),
      ts: () => ref.selectModseqAbove(modseqs, since, out) },
  ];

  // The checkpoint ring: 64 batches in flight, finished out of order in pairs.
  const model = new ref.Checkpoint();
  let wasmEnd = 0;
  let tsEnd = 0;
  core.ckptReset(0);
  model.reset(0);
  for (let i = 0; i < 64; i++) {
    core.ckptAppended(wasmEnd, (wasmEnd += 64));
    model.appended(tsEnd, (tsEnd += 64));
  }
  built.push({
    name: 'ckpt: batches through the ring (64 in flight, pairs out of order)', unit: 'Mop/s', workPerCall: 2,
    wasm: () => {
      const first = core.ckptPosition();
      core.ckptAppended(wasmEnd, (wasmEnd += 64));
      core.ckptAppended(wasmEnd, (wasmEnd += 64));
      core.ckptMaterialized(first + 64);
      return core.ckptMaterialized(first);
    },
    ts: () => {
      const first = model.position();
      model.appended(tsEnd, (tsEnd += 64));
      model.appended(tsEnd, (tsEnd += 64));
      model.materialized(first + 64);
      return model.materialized(first);
    },
  });

  return built;
}

export async function benchCore(opts: { quick: boolean }): Promise<BenchRow[]> {
  cases ??= buildCases();
  const rounds = opts.quick ? 5 : 15;
  const sampleMs = opts.quick ? 15 : 60;
  const rows: BenchRow[] = [];
  for (const c of cases) rows.push(run(c, rounds, sampleMs));
  if (sink === 0x7fff_ffff) console.log(''); // keeps `sink` observable
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await benchCore({ quick: process.argv.includes('--quick') });
  console.table(rows);
}
