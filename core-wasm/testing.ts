// Test helpers for the core: a seeded PRNG and builders that lay records out in WASM memory the
// way the engine does (header fields the caller owns filled in, then frameBatch).

import type { WasmCore } from './index.js';
import { recordHeaderBytes, recordBytesOf } from './constants.js';

/** mulberry32: small, seeded, good enough to pick sizes and bytes. */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  u32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  below(n: number): number {
    return this.u32() % n;
  }
  fill(bytes: Uint8Array): Uint8Array {
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.u32() & 0xff;
    return bytes;
  }
}

/** The seed for randomized tests: FUZZ_SEED if set, printed on failure by the tests that use it. */
export function testSeed(fallback: number): number {
  const env = process.env['FUZZ_SEED'];
  return env !== undefined ? Number(env) >>> 0 : fallback;
}

export interface RecordSpec {
  payload: Uint8Array;
  type: number;
  version: number;
}

/**
 * Lays `batch` out at `ptr` as the engine does before frameBatch: payloadBytes, type and version
 * filled in, payloads in place, everything else left as garbage (0xAA) to prove frameBatch owns it.
 * Returns the batch's byte length.
 */
export function layBatch(core: WasmCore, ptr: number, batch: RecordSpec[]): number {
  const total = batch.reduce((sum, r) => sum + recordBytesOf(r.payload.length), 0);
  const bytes = core.bytes(ptr, total);
  bytes.fill(0xaa);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (const r of batch) {
    dv.setUint32(at + 4, r.payload.length, true);
    dv.setUint16(at + 16, r.type, true);
    dv.setUint16(at + 18, r.version, true);
    bytes.set(r.payload, at + recordHeaderBytes);
    at += recordBytesOf(r.payload.length);
  }
  return total;
}

export function randomBatch(prng: Prng, records: number, payloadBytesMax: number): RecordSpec[] {
  const batch: RecordSpec[] = [];
  for (let i = 0; i < records; i++) {
    batch.push({
      payload: prng.fill(new Uint8Array(prng.below(payloadBytesMax + 1))),
      type: 1 + prng.below(0xffff),
      version: 1 + prng.below(0xffff),
    });
  }
  return batch;
}

/** A framed log in WASM memory plus where each record and batch starts. */
export interface BuiltLog {
  ptr: number;
  bytes: number;
  recordStarts: number[];
  /** For each record, the offset of the batch it belongs to. */
  recordBatchStarts: number[];
  batchEnds: number[];
}

/** Frames `batches` back to back at ptr, the first at log position `position`. */
export function buildLog(core: WasmCore, ptr: number, position: number, batches: RecordSpec[][]): BuiltLog {
  const log: BuiltLog = { ptr, bytes: 0, recordStarts: [], recordBatchStarts: [], batchEnds: [] };
  for (const batch of batches) {
    const batchStart = log.bytes;
    let at = batchStart;
    for (const r of batch) {
      log.recordStarts.push(at);
      log.recordBatchStarts.push(batchStart);
      at += recordBytesOf(r.payload.length);
    }
    layBatch(core, ptr + batchStart, batch);
    log.bytes += core.frameBatch(ptr + batchStart, batch.length, position + batchStart);
    log.batchEnds.push(log.bytes);
  }
  return log;
}
