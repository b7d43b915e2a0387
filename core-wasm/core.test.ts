// Proves each WASM core export does what its reference twin does: crc32c on known vectors and
// random input, memory reservation, record and batch framing, mailbox-index loops, checkpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  loadCore, instantiateCore, WasmAbortError, CkptStatus, ScanStatus, ckptBatchesMax,
  recordPayloadBytesMax, recordFlagBatchEnd, recordBytesOf,
} from './index.js';
import * as ref from './reference.js';
import { Prng, testSeed, layBatch, randomBatch } from './testing.js';

const core = loadCore();
const scratchBytes = 1 << 20;
const scratch = core.reserve(scratchBytes);
const seed = testSeed(0x5eed);

function withSeed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    console.error(`reproduce with FUZZ_SEED=${seed}`);
    throw error;
  }
}

// --- crc32c ----------------------------------------------------------------------------------

function wasmCrc(data: Uint8Array, crc = 0, misalign = 0): number {
  core.bytes(scratch + misalign, data.length).set(data);
  return core.crc32c(scratch + misalign, data.length, crc);
}

test('crc32c: known vectors (RFC 3720 B.4 and the check value)', () => {
  const ascending = Uint8Array.from({ length: 32 }, (_, i) => i);
  const descending = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);
  const vectors: Array<[Uint8Array, number]> = [
    [new Uint8Array(0), 0],
    [new TextEncoder().encode('123456789'), 0xe3069283],
    [new Uint8Array(32), 0x8a9136aa],
    [new Uint8Array(32).fill(0xff), 0x62a8ab43],
    [ascending, 0x46dd794e],
    [descending, 0x113fdb5c],
  ];
  for (const [data, expected] of vectors) {
    assert.equal(wasmCrc(data), expected);
    assert.equal(ref.crc32c(data), expected);
    assert.equal(core.crc32cBytes(data), expected);
  }
});

test('crc32c: chains across every split point and any alignment', () => {
  const data = new Prng(seed).fill(new Uint8Array(100));
  const whole = ref.crc32c(data);
  for (let split = 0; split <= data.length; split++) {
    const first = wasmCrc(data.subarray(0, split));
    assert.equal(wasmCrc(data.subarray(split), first, 3), whole, `split ${split}`);
  }
  for (let misalign = 0; misalign < 8; misalign++) {
    for (let len = 0; len <= 40; len++) {
      const part = data.subarray(0, len);
      assert.equal(wasmCrc(part, 0, misalign), ref.crc32c(part), `misalign ${misalign} len ${len}`);
    }
  }
});

test('crc32c: agrees with the reference on random buffers', () => withSeed(() => {
  const prng = new Prng(seed);
  for (let i = 0; i < 200; i++) {
    const data = prng.fill(new Uint8Array(prng.below(i < 150 ? 300 : 70_000)));
    const crc = prng.u32();
    assert.equal(wasmCrc(data, crc, prng.below(8)), ref.crc32c(data, crc));
  }
  const big = prng.fill(new Uint8Array(3 * 65536 + 5));
  assert.equal(core.crc32cBytes(big), ref.crc32c(big), 'crc32cBytes across scratch chunks');
}));

test('crc32c: a region outside memory is a caller bug', () => {
  assert.throws(() => core.crc32c(core.memoryBytes() - 4, 8, 0), WasmAbortError);
});

// --- memory ----------------------------------------------------------------------------------

test('reserve: 8-aligned, disjoint, zeroed regions; memory grows only here', () => {
  const fresh = instantiateCore();
  const before = fresh.memoryBytes();
  const a = fresh.reserve(13);
  const b = fresh.reserve(0);
  const c = fresh.reserve(32 * 65536); // more than the initial 1 MiB: must grow
  assert.equal(a % 8, 0);
  assert.ok(b >= a + 13 && b % 8 === 0);
  assert.ok(c >= b && c % 8 === 0);
  assert.ok(fresh.memoryBytes() > before && fresh.memoryBytes() >= c + 32 * 65536);
  assert.ok(fresh.bytes(c, 32 * 65536).every((x) => x === 0));
  assert.equal(fresh.reserve(0xffff_ffff), 0, 'cannot fit 4 GiB');
  assert.equal(fresh.reserve(0xffff_fff9), 0, 'align8 must not wrap');
  const d = fresh.reserve(8);
  assert.ok(d >= c + 32 * 65536, 'a failed reserve leaves the allocator unchanged');
});

// --- framing ---------------------------------------------------------------------------------

test('frameRecord: same bytes as the reference for payloads 0..40 and large positions', () => {
  const prng = new Prng(seed);
  for (let payloadBytes = 0; payloadBytes <= 40; payloadBytes++) {
    for (const position of [0, 8, 4096, 2 ** 40 + 8, 2 ** 53 - 128]) {
      const recordBytes = recordBytesOf(payloadBytes);
      const region = core.bytes(scratch, recordBytes);
      prng.fill(region); // garbage header and padding: frameRecord must own them
      const expected = region.slice();
      const flags = payloadBytes % 2 ? recordFlagBatchEnd : 0;
      assert.equal(core.frameRecord(scratch, payloadBytes, 300 + payloadBytes, 2, flags, position), recordBytes);
      ref.frameRecord(expected, 0, payloadBytes, 300 + payloadBytes, 2, flags, position);
      assert.deepEqual(core.bytes(scratch, recordBytes), expected, `payload ${payloadBytes} position ${position}`);
      if (flags) {
        assert.equal(core.scan(scratch, recordBytes, position), ScanStatus.ok);
        assert.equal(ref.scan(expected, position).status, ScanStatus.ok);
      }
    }
  }
});

test('frameRecord: bad arguments are caller bugs', () => {
  const bad: Array<[number, number, number, number, number]> = [
    [recordPayloadBytesMax + 1, 1, 1, 0, 0],
    [0, 0, 1, 0, 0],
    [0, 0x10000, 1, 0, 0],
    [0, 1, 0, 0, 0],
    [0, 1, 1, 2, 0],
    [0, 1, 1, 0, 4],
    [0, 1, 1, 0, -8],
    [0, 1, 1, 0, 8.5],
    [0, 1, 1, 0, 2 ** 53],
    [0, 1, 1, 0, NaN],
    [0, 1, 1, 0, 2 ** 53 - 16], // ends past 2^53: the next position would not be exact
  ];
  for (const [payloadBytes, type, version, flags, position] of bad) {
    assert.throws(() => core.frameRecord(scratch, payloadBytes, type, version, flags, position), WasmAbortError,
      JSON.stringify([payloadBytes, type, version, flags, position]));
  }
});

test('frameRecord: the largest payload frames and scans; one more byte is refused', () => {
  const big = instantiateCore();
  const ptr = big.reserve(recordBytesOf(recordPayloadBytesMax));
  assert.notEqual(ptr, 0);
  const recordBytes = big.frameRecord(ptr, recordPayloadBytesMax, 1, 1, recordFlagBatchEnd, 0);
  assert.equal(recordBytes, recordBytesOf(recordPayloadBytesMax));
  assert.equal(big.scan(ptr, recordBytes, 0), ScanStatus.ok);
  assert.throws(() => big.frameRecord(ptr, recordPayloadBytesMax + 1, 1, 1, 0, 0), WasmAbortError);
});

test('frameBatch: same bytes as the reference on random batches', () => withSeed(() => {
  const prng = new Prng(seed ^ 1);
  for (let round = 0; round < 100; round++) {
    const batch = randomBatch(prng, 1 + prng.below(20), round % 10 === 0 ? 3000 : 40);
    const position = prng.below(2 ** 20) * 8 * (round % 3 === 0 ? 2 ** 20 : 1);
    const total = layBatch(core, scratch, batch);
    const expected = core.bytes(scratch, total).slice();
    assert.equal(core.frameBatch(scratch, batch.length, position), total);
    assert.equal(ref.frameBatch(expected, 0, batch.length, position), total);
    assert.deepEqual(core.bytes(scratch, total), expected);
    const result = core.scanResult(scratch, total, position);
    assert.deepEqual(result, { ...ref.scan(expected, position) });
    assert.equal(result.status, ScanStatus.ok);
    assert.equal(result.records, batch.length);
    assert.equal(result.batches, 1);
  }
}));

test('frameBatch: an empty batch or a type-0 record is a caller bug', () => {
  assert.throws(() => core.frameBatch(scratch, 0, 0), WasmAbortError);
  layBatch(core, scratch, [{ payload: new Uint8Array(3), type: 0, version: 1 }]);
  assert.throws(() => core.frameBatch(scratch, 1, 0), WasmAbortError);
});

// --- mailbox index ---------------------------------------------------------------------------

test('uidToSeq, uidLowerBound: agree with the reference on random folders', () => withSeed(() => {
  const prng = new Prng(seed ^ 2);
  for (const count of [0, 1, 2, 3, 7, 100, 5000]) {
    const uids = new Uint32Array(count);
    let uid = 0;
    for (let i = 0; i < count; i++) uids[i] = uid += 1 + prng.below(count < 10 ? 3 : 1000);
    if (count === 5000) uids[count - 1] = 0xffff_ffff; // the top of the UID space
    const ptr = core.reserve(count * 4);
    core.u32s(ptr, count).set(uids);
    const probes = [0, 1, 0xffff_ffff, 0xffff_fffe, ...Array.from(uids), ...Array.from(uids, (u) => u + 1)];
    for (let i = 0; i < 200; i++) probes.push(prng.u32() % (uid + 2));
    for (const probe of probes) {
      const p = probe >>> 0;
      assert.equal(core.uidToSeq(ptr, count, p), ref.uidToSeq(uids, p), `count ${count} uid ${p}`);
      assert.equal(core.uidLowerBound(ptr, count, p), ref.uidLowerBound(uids, p), `count ${count} uid ${p}`);
    }
    for (let i = 0; i < count; i++) assert.equal(core.uidToSeq(ptr, count, uids[i]!), i + 1);
  }
}));

test('countMask, countMissing, selectModseqAbove: agree with the reference', () => withSeed(() => {
  const prng = new Prng(seed ^ 3);
  for (const count of [0, 1, 3, 4, 5, 8, 17, 1000]) {
    const flags = new Uint32Array(count).map(() => prng.u32() & (prng.below(2) ? 0xff : 0x8000_0001));
    const modseqs = new Float64Array(count).map(() => prng.below(50) + (prng.below(4) === 0 ? 2 ** 40 : 0));
    const flagsPtr = core.reserve(count * 4);
    const modseqPtr = core.reserve(count * 8);
    const outPtr = core.reserve(count * 4);
    core.u32s(flagsPtr, count).set(flags);
    core.f64s(modseqPtr, count).set(modseqs);
    for (const mask of [0, 1, 2, 0x80, 0x8000_0000, 0xffff_ffff, 0x8000_0001]) {
      assert.equal(core.countMask(flagsPtr, count, mask), ref.countMask(flags, mask), `count ${count} mask ${mask}`);
      assert.equal(core.countMissing(flagsPtr, count, mask), ref.countMissing(flags, mask));
    }
    for (const since of [-1, 0, 10, 49, 2 ** 40, 2 ** 40 + 48, 2 ** 41]) {
      const expected = new Uint32Array(count);
      const n = ref.selectModseqAbove(modseqs, since, expected);
      assert.equal(core.selectModseqAbove(modseqPtr, count, since, outPtr), n);
      assert.deepEqual(core.u32s(outPtr, n), expected.subarray(0, n));
    }
  }
}));

// --- checkpoint ------------------------------------------------------------------------------

test('checkpoint: in-order and out-of-order materialization', () => {
  core.ckptReset(1000);
  assert.equal(core.ckptPosition(), 1000);
  assert.equal(core.ckptPending(), 0);
  assert.equal(core.ckptAppended(1000, 1100), CkptStatus.ok);
  assert.equal(core.ckptAppended(1100, 1200), CkptStatus.ok);
  assert.equal(core.ckptAppended(1200, 1300), CkptStatus.ok);
  assert.equal(core.ckptPosition(), 1000);
  assert.equal(core.ckptPending(), 3);
  assert.equal(core.ckptMaterialized(1100), CkptStatus.ok, 'the middle one finishes first');
  assert.equal(core.ckptPosition(), 1000, 'the oldest is not done: the checkpoint stays');
  assert.equal(core.ckptPending(), 3);
  assert.equal(core.ckptMaterialized(1100), CkptStatus.alreadyMaterialized);
  assert.equal(core.ckptMaterialized(1000), CkptStatus.ok);
  assert.equal(core.ckptPosition(), 1200, 'moves past both done batches');
  assert.equal(core.ckptPending(), 1);
  assert.equal(core.ckptMaterialized(1000), CkptStatus.unknownBatch, 'already behind the checkpoint');
  assert.equal(core.ckptMaterialized(1250), CkptStatus.unknownBatch, 'not a batch start');
  assert.equal(core.ckptMaterialized(1300), CkptStatus.unknownBatch, 'not appended yet');
  assert.equal(core.ckptMaterialized(1200), CkptStatus.ok);
  assert.equal(core.ckptPosition(), 1300, 'all done: the end of the last appended batch');
  assert.equal(core.ckptPending(), 0);
});

test('checkpoint: appends must be contiguous and non-empty; positions beyond 2^32 stay exact', () => {
  const base = 2 ** 52;
  core.ckptReset(base);
  assert.equal(core.ckptAppended(base + 8, base + 16), CkptStatus.notContiguous, 'a gap');
  assert.equal(core.ckptAppended(base - 8, base), CkptStatus.notContiguous, 'an overlap');
  assert.equal(core.ckptAppended(base, base), CkptStatus.emptyBatch);
  assert.equal(core.ckptAppended(base, base - 8), CkptStatus.emptyBatch);
  assert.equal(core.ckptPending(), 0, 'refused appends change nothing');
  assert.equal(core.ckptAppended(base, base + 24), CkptStatus.ok);
  assert.equal(core.ckptPosition(), base);
  assert.equal(core.ckptMaterialized(base), CkptStatus.ok);
  assert.equal(core.ckptPosition(), base + 24);
  assert.throws(() => core.ckptAppended(base + 24, 2 ** 53), WasmAbortError, 'not an exact position');
  assert.throws(() => core.ckptReset(-1), WasmAbortError);
});

test('checkpoint: the ring holds exactly ckptBatchesMax batches and wraps', () => {
  core.ckptReset(0);
  for (let i = 0; i < ckptBatchesMax; i++) assert.equal(core.ckptAppended(i * 8, i * 8 + 8), CkptStatus.ok);
  assert.equal(core.ckptPending(), ckptBatchesMax);
  const end = ckptBatchesMax * 8;
  assert.equal(core.ckptAppended(end, end + 8), CkptStatus.full, 'limit + 1');
  assert.equal(core.ckptPosition(), 0, 'a refused append corrupts nothing');
  assert.equal(core.ckptMaterialized(ckptBatchesMax * 8 - 8), CkptStatus.ok, 'the newest, out of order');
  assert.equal(core.ckptAppended(end, end + 8), CkptStatus.full, 'the newest done does not free the oldest slot');
  assert.equal(core.ckptMaterialized(0), CkptStatus.ok);
  assert.equal(core.ckptAppended(end, end + 8), CkptStatus.ok, 'a slot freed, and the ring wraps');
  assert.equal(core.ckptPosition(), 8);
  for (let i = 1; i < ckptBatchesMax - 1; i++) assert.equal(core.ckptMaterialized(i * 8), CkptStatus.ok);
  assert.equal(core.ckptPosition(), end, 'past the newest-done batch too');
  assert.equal(core.ckptPending(), 1);
  assert.equal(core.ckptMaterialized(end), CkptStatus.ok);
  assert.equal(core.ckptPosition(), end + 8);
  assert.equal(core.ckptPending(), 0);
});

test('checkpoint: agrees with the reference under random out-of-order completion', () => withSeed(() => {
  const prng = new Prng(seed ^ 4);
  const model = new ref.Checkpoint();
  core.ckptReset(64);
  model.reset(64);
  const open: number[] = [];
  let end = 64;
  for (let step = 0; step < 20_000; step++) {
    const choice = prng.below(10);
    if (choice < 5) {
      const start = prng.below(50) === 0 ? end + 8 : end; // now and then a gap
      const next = start + 8 * (1 + prng.below(100));
      const status = core.ckptAppended(start, next);
      assert.equal(status, model.appended(start, next));
      if (status === CkptStatus.ok) {
        open.push(start);
        end = next;
      }
    } else if (open.length > 0) {
      const i = prng.below(open.length);
      const start = prng.below(30) === 0 ? open[i]! + 8 : open[i]!; // now and then a wrong start
      const status = core.ckptMaterialized(start);
      assert.equal(status, model.materialized(start));
      if (status === CkptStatus.ok) open.splice(i, 1);
    }
    assert.equal(core.ckptPosition(), model.position());
    assert.equal(core.ckptPending(), model.pending());
  }
}));
