// Proves scan() tells every way a log can be torn or corrupted apart, agrees with the reference
// on each, and that its resync offset separates a torn tail (cut) from damage mid-log (refuse).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  loadCore, ScanStatus, ScanErrorKind, recordPayloadBytesMax, recordHeaderBytes, recordBytesOf,
  recordFlagBatchEnd, type ScanResult,
} from './index.js';
import * as ref from './reference.js';
import { Prng, buildLog, layBatch, testSeed, type BuiltLog, type RecordSpec } from './testing.js';

const core = loadCore();
const area = core.reserve(1 << 20);
const copy = core.reserve(1 << 20);
const seed = testSeed(0xdead);
const position = 8 * 1_000_003; // not 0, so a position bug cannot hide

function spec(payloadBytes: number, fill: number, type = 7): RecordSpec {
  return { payload: new Uint8Array(payloadBytes).fill(fill), type, version: 1 };
}

/** Three batches; payload lengths cover empty, unaligned and aligned, so padding varies. */
function sampleLog(at = area, base = position): BuiltLog {
  return buildLog(core, at, base, [
    [spec(5, 0x11), spec(0, 0), spec(16, 0x22)],
    [spec(9, 0x33)],
    [spec(1, 0x44), spec(31, 0x55)],
  ]);
}

/** Scans [ptr, ptr + len) with WASM and the reference and insists they agree. */
function scanBoth(ptr: number, len: number, base = position): ScanResult {
  const wasm = core.scanResult(ptr, len, base);
  assert.deepEqual(wasm, { ...ref.scan(core.bytes(ptr, len).slice(), base) }, 'wasm and reference disagree');
  return wasm;
}

function expectResult(actual: ScanResult, expected: Partial<ScanResult>, message: string): void {
  for (const [key, value] of Object.entries(expected)) {
    assert.equal(actual[key as keyof ScanResult], value, `${message}: ${key}`);
  }
}

function lastBatchEndAtOrBefore(log: BuiltLog, offset: number): number {
  let end = 0;
  for (const e of log.batchEnds) if (e <= offset) end = e;
  return end;
}

function recordIndexAt(log: BuiltLog, offset: number): number {
  let index = 0;
  for (let i = 0; i < log.recordStarts.length; i++) if (log.recordStarts[i]! <= offset) index = i;
  return index;
}

/** Offset of the record after record `index`, or -1 after the last one. */
function nextRecordStart(log: BuiltLog, index: number): number {
  return index + 1 < log.recordStarts.length ? log.recordStarts[index + 1]! : -1;
}

test('a whole log scans OK with its record and batch counts', () => {
  const log = sampleLog();
  const result = scanBoth(area, log.bytes);
  expectResult(result, {
    status: ScanStatus.ok, validBytes: log.bytes, records: 6, batches: 3,
    errorOffset: -1, errorKind: ScanErrorKind.none, resyncOffset: -1,
  }, 'whole');
  expectResult(scanBoth(area, 0), { status: ScanStatus.ok, validBytes: 0, records: 0, batches: 0 }, 'empty');
});

test('truncated at every byte: TORN inside a batch, OK only at batch ends, never a resync', () => {
  const log = sampleLog();
  for (let len = 0; len <= log.bytes; len++) {
    const result = scanBoth(area, len);
    const validBytes = lastBatchEndAtOrBefore(log, len);
    if (validBytes === len) {
      expectResult(result, { status: ScanStatus.ok, validBytes }, `len ${len}`);
      continue;
    }
    const index = recordIndexAt(log, len);
    const start = log.recordStarts[index]!;
    const kind = len === start ? ScanErrorKind.batchUnterminated
      : len - start < recordHeaderBytes ? ScanErrorKind.headerTorn : ScanErrorKind.payloadTorn;
    expectResult(result, {
      status: ScanStatus.torn, validBytes, errorKind: kind, errorOffset: start, resyncOffset: -1,
      batches: log.batchEnds.indexOf(validBytes) + 1,
    }, `len ${len}`);
  }
});

test('a zero tail after a batch end is OK, of any length; mid-batch it is TORN', () => {
  const log = sampleLog();
  for (const zeros of [1, 7, 8, 23, 24, 25, 100, 4096]) {
    core.bytes(area + log.bytes, zeros).fill(0);
    expectResult(scanBoth(area, log.bytes + zeros), {
      status: ScanStatus.ok, validBytes: log.bytes, batches: 3, records: 6, errorOffset: -1,
    }, `zeros ${zeros}`);
  }
  // The first batch's third record never reached the disk: zeros where it should be.
  const cut = log.recordStarts[2]!;
  core.bytes(area + cut, log.bytes - cut).fill(0);
  expectResult(scanBoth(area, log.bytes), {
    status: ScanStatus.torn, validBytes: 0, errorKind: ScanErrorKind.batchUnterminated,
    errorOffset: cut, resyncOffset: -1,
  }, 'zeros mid-batch');
});

test('a batch without BATCH_END is TORN at the end of the data', () => {
  const log = sampleLog();
  const last = log.recordStarts[5]!;
  core.frameRecord(area + last, 31, 7, 1, 0, position + last); // valid crc, no BATCH_END
  expectResult(scanBoth(area, log.bytes), {
    status: ScanStatus.torn, validBytes: log.batchEnds[1], batches: 2, records: 4,
    errorKind: ScanErrorKind.batchUnterminated, errorOffset: log.bytes, resyncOffset: -1,
  }, 'unterminated');
});

/** Rewrites a header field of record `index`, recomputing the crc when asked. */
function damageField(log: BuiltLog, index: number, write: (dv: DataView) => void, recrc: boolean): void {
  const at = area + log.recordStarts[index]!;
  const dv = new DataView(core.bytes(at, recordHeaderBytes).buffer, at, recordHeaderBytes);
  write(dv);
  if (recrc) {
    // A damaged length may exceed the buffer; scan rejects those before it reads the crc, so
    // any in-bounds crc will do for them.
    const payloadBytes = Math.min(dv.getUint32(4, true), 64);
    dv.setUint32(0, core.crc32c(at + 4, recordHeaderBytes - 4 + payloadBytes, 0), true);
  }
}

test('each header field damaged: CORRUPT with its own kind, and resync finds the next record', () => {
  const cases: Array<[string, (dv: DataView) => void, ScanErrorKind]> = [
    ['crc', (dv) => dv.setUint32(0, dv.getUint32(0, true) ^ 0x100, true), ScanErrorKind.crc],
    ['position', (dv) => dv.setUint32(8, dv.getUint32(8, true) + 8, true), ScanErrorKind.position],
    ['position high word', (dv) => dv.setUint32(12, 1, true), ScanErrorKind.position],
    ['type 0', (dv) => dv.setUint16(16, 0, true), ScanErrorKind.type],
    ['version 0', (dv) => dv.setUint16(18, 0, true), ScanErrorKind.version],
    ['reserved flag bit 1', (dv) => dv.setUint32(20, dv.getUint32(20, true) | 2, true), ScanErrorKind.flags],
    ['reserved flag bit 31', (dv) => dv.setUint32(20, dv.getUint32(20, true) | 0x8000_0000, true), ScanErrorKind.flags],
  ];
  for (const [name, write, kind] of cases) {
    for (let index = 0; index < 6; index++) {
      for (const recrc of [true, false]) {
        if (name === 'crc' && recrc) continue;
        const log = sampleLog();
        damageField(log, index, write, recrc);
        const start = log.recordStarts[index]!;
        expectResult(scanBoth(area, log.bytes), {
          status: ScanStatus.corrupt, errorOffset: start, errorKind: recrc ? kind : ScanErrorKind.crc,
          validBytes: log.recordBatchStarts[index], resyncOffset: nextRecordStart(log, index),
        }, `${name} record ${index} recrc ${recrc}`);
      }
    }
  }
});

test('an oversize length is CORRUPT; the largest legal length running past the end is TORN', () => {
  for (const [payloadBytes, status, kind] of [
    [recordPayloadBytesMax + 1, ScanStatus.corrupt, ScanErrorKind.length],
    [0xffff_ffff, ScanStatus.corrupt, ScanErrorKind.length],
    [recordPayloadBytesMax, ScanStatus.torn, ScanErrorKind.payloadTorn],
  ] as const) {
    for (const index of [1, 5]) {
      const log = sampleLog();
      damageField(log, index, (dv) => dv.setUint32(4, payloadBytes, true), true);
      expectResult(scanBoth(area, log.bytes), {
        status, errorKind: kind, errorOffset: log.recordStarts[index],
        validBytes: log.recordBatchStarts[index], resyncOffset: nextRecordStart(log, index),
      }, `payloadBytes ${payloadBytes} record ${index}`);
    }
  }
});

test('non-zero padding is CORRUPT even though the crc does not cover it', () => {
  for (let pad = 5; pad < 8; pad++) { // record 0 has a 5-byte payload: padding is bytes 5..7 after it
    const fresh = sampleLog();
    core.bytes(area + recordHeaderBytes + pad, 1)[0] = 0x80;
    expectResult(scanBoth(area, fresh.bytes), {
      status: ScanStatus.corrupt, errorKind: ScanErrorKind.padding, errorOffset: 0, validBytes: 0,
      resyncOffset: fresh.recordStarts[1],
    }, `pad byte ${pad}`);
  }
});

test('every single bit flipped: never OK, stopped at the damaged record, resync iff records follow', () => {
  const log = sampleLog(copy);
  const pristine = core.bytes(copy, log.bytes).slice();
  const bytes = core.bytes(area, log.bytes);
  for (let offset = 0; offset < log.bytes; offset++) {
    for (let bit = 0; bit < 8; bit++) {
      bytes.set(pristine);
      bytes[offset]! ^= 1 << bit;
      const index = recordIndexAt(log, offset);
      const result = scanBoth(area, log.bytes);
      const where = `byte ${offset} bit ${bit}`;
      assert.notEqual(result.status, ScanStatus.ok, where);
      expectResult(result, {
        errorOffset: log.recordStarts[index], validBytes: log.recordBatchStarts[index],
        resyncOffset: nextRecordStart(log, index),
      }, where);
    }
  }
});

test('a stale record from another position is CORRUPT (position), even with a good crc', () => {
  // A whole log framed for a different place, as a recycled or misplaced segment would hold.
  const log = sampleLog(area, position + 4096);
  expectResult(scanBoth(area, log.bytes, position), {
    status: ScanStatus.corrupt, errorKind: ScanErrorKind.position, errorOffset: 0, validBytes: 0,
    resyncOffset: -1,
  }, 'misplaced log');
  // Stale bytes from an older generation after the real end: a tail to cut, not mid-log damage.
  const fresh = sampleLog();
  const stale = buildLog(core, copy, 0, [[spec(40, 0x66)], [spec(3, 0x77)]]);
  core.bytes(area + fresh.bytes, stale.bytes).set(core.bytes(copy, stale.bytes));
  expectResult(scanBoth(area, fresh.bytes + stale.bytes), {
    status: ScanStatus.corrupt, errorKind: ScanErrorKind.position, errorOffset: fresh.bytes,
    validBytes: fresh.bytes, batches: 3, resyncOffset: -1,
  }, 'stale tail');
});

test('a lost write mid-log (a zeroed hole) is CORRUPT and resync finds the data after it', () => {
  const prng = new Prng(seed);
  const batches: RecordSpec[][] = [];
  for (let i = 0; i < 40; i++) batches.push([{ payload: prng.fill(new Uint8Array(prng.below(200))), type: 3, version: 1 }]);
  const log = buildLog(core, area, position, batches);
  const holeStart = log.batchEnds[9]!;
  const holeEnd = log.batchEnds[19]!;
  core.bytes(area + holeStart, holeEnd - holeStart).fill(0);
  expectResult(scanBoth(area, log.bytes), {
    status: ScanStatus.corrupt, errorKind: ScanErrorKind.type, errorOffset: holeStart,
    validBytes: holeStart, batches: 10, resyncOffset: holeEnd,
  }, 'hole');
  // The same hole at the very end is just a zero tail.
  expectResult(scanBoth(area, holeEnd), { status: ScanStatus.ok, validBytes: holeStart, batches: 10 }, 'hole at end');
  // Garbage after the last batch (no valid record in it): a torn tail, resync -1.
  prng.fill(core.bytes(area + holeStart, holeEnd - holeStart));
  const tail = scanBoth(area, holeEnd);
  assert.equal(tail.validBytes, holeStart);
  assert.notEqual(tail.status, ScanStatus.ok);
  assert.equal(tail.resyncOffset, -1);
});

test('random damage: WASM and reference agree on every verdict', () => {
  const prng = new Prng(seed ^ 9);
  try {
    for (let round = 0; round < 300; round++) {
      const batches: RecordSpec[][] = [];
      const count = 1 + prng.below(8);
      for (let b = 0; b < count; b++) {
        const batch: RecordSpec[] = [];
        for (let r = 0, n = 1 + prng.below(4); r < n; r++) {
          batch.push({ payload: prng.fill(new Uint8Array(prng.below(100))), type: 1 + prng.below(9), version: 1 });
        }
        batches.push(batch);
      }
      const base = prng.below(1 << 30) * 8;
      const log = buildLog(core, area, base, batches);
      const bytes = core.bytes(area, log.bytes + 64);
      bytes.fill(0, log.bytes);
      let len = log.bytes + prng.below(65);
      switch (prng.below(4)) {
        case 0: len = prng.below(len + 1); break;
        case 1: bytes[prng.below(len)]! ^= 1 << prng.below(8); break;
        case 2: bytes.fill(0, prng.below(len), prng.below(len)); break;
        case 3: for (let i = 0; i < 4; i++) bytes[prng.below(len)] = prng.below(256); break;
      }
      scanBoth(area, len, base);
    }
  } catch (error) {
    console.error(`reproduce with FUZZ_SEED=${seed}`);
    throw error;
  }
});

test('scan arguments outside the contract are caller bugs', () => {
  assert.throws(() => core.scan(area, 8, 4), /8-aligned/);
  assert.throws(() => core.scan(area, 8, 2 ** 53), /exact integer/);
  assert.throws(() => core.scan(core.memoryBytes() - 8, 16, 0), /outside linear memory/);
});

test('a record framed alone with BATCH_END is a one-record batch', () => {
  layBatch(core, area, [spec(12, 0x99)]);
  const recordBytes = core.frameRecord(area, 12, 9, 1, recordFlagBatchEnd, 0);
  assert.equal(recordBytes, recordBytesOf(12));
  expectResult(scanBoth(area, recordBytes, 0), { status: ScanStatus.ok, records: 1, batches: 1 }, 'single');
});
