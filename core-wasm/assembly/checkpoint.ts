// Checkpoint bookkeeping. The engine appends batches to the log (durable, in order) and later
// materializes them into RocksDB, possibly finishing out of order. The checkpoint is the lowest
// log position not yet in RocksDB: replay after a crash starts there.
//
// A ring of the batches appended since the checkpoint, oldest at `tail`. Batches are contiguous,
// so a batch ends where the next one starts and only the newest end is kept separately.
//
//   startsPtr: u64[ckptBatchesMax]   donePtr: u8[ckptBatchesMax]
//   +--------+--------+-----+--------+
//   | start  | start  | ... | start  |  slot = (tail + k) & (ckptBatchesMax - 1), k in [0, pending)
//   +--------+--------+-----+--------+
//   appendedEnd: end of the newest appended batch (== checkpoint when pending == 0)

import {
  ckptBatchesMax, ckptOk, ckptNotContiguous, ckptFull, ckptEmptyBatch, ckptUnknownBatch,
  ckptAlreadyMaterialized, positionFromF64, DEBUG,
} from "./constants";
import { reserve } from "./memory";

const slotMask: u32 = ckptBatchesMax - 1;
const startsPtr: usize = reserve(ckptBatchesMax * 8);
const donePtr: usize = reserve(ckptBatchesMax);

let tail: u32 = 0;
let pending: u32 = 0;
let appendedEnd: u64 = 0;

// @ts-ignore: decorator
@inline
function slotOf(k: u32): usize {
  return <usize>((tail + k) & slotMask);
}

/** Forgets every pending batch: the checkpoint and the append point are both `position`. */
export function ckptReset(position: f64): void {
  assert(startsPtr != 0 && donePtr != 0, "no memory for the checkpoint ring");
  if (DEBUG) assert((ckptBatchesMax & slotMask) == 0, "ring size is a power of two");
  appendedEnd = positionFromF64(position);
  tail = 0;
  pending = 0;
}

/** Records that the batch [start, end) is durable in the log. It must follow the previous one. */
export function ckptAppended(start: f64, end: f64): i32 {
  const s = positionFromF64(start);
  const e = positionFromF64(end);
  if (s != appendedEnd) return ckptNotContiguous;
  if (e <= s) return ckptEmptyBatch;
  if (pending == ckptBatchesMax) return ckptFull;
  const slot = slotOf(pending);
  store<u64>(startsPtr + (slot << 3), s);
  store<u8>(donePtr + slot, 0);
  pending++;
  appendedEnd = e;
  return ckptOk;
}

/** Records that the batch starting at `start` is in RocksDB; moves the checkpoint past done batches. */
export function ckptMaterialized(start: f64): i32 {
  const s = positionFromF64(start);
  // Starts increase along the ring, so binary search for the batch.
  let lo: u32 = 0;
  let hi: u32 = pending;
  while (lo < hi) {
    const mid = lo + ((hi - lo) >>> 1);
    if (load<u64>(startsPtr + (slotOf(mid) << 3)) < s) lo = mid + 1;
    else hi = mid;
  }
  if (lo == pending || load<u64>(startsPtr + (slotOf(lo) << 3)) != s) return ckptUnknownBatch;
  const slot = slotOf(lo);
  if (load<u8>(donePtr + slot) != 0) return ckptAlreadyMaterialized;
  store<u8>(donePtr + slot, 1);
  while (pending > 0 && load<u8>(donePtr + slotOf(0)) != 0) {
    tail = (tail + 1) & slotMask;
    pending--;
  }
  return ckptOk;
}

/** The lowest log position not yet in RocksDB. */
export function ckptPosition(): f64 {
  if (pending == 0) return <f64>appendedEnd;
  return <f64>load<u64>(startsPtr + (slotOf(0) << 3));
}

/**
 * Batches at or after the checkpoint: appended, and not yet passed by it. This counts batches
 * already materialized out of order behind an older unfinished one: they hold ring slots, and a
 * crash would replay them.
 */
export function ckptPending(): u32 {
  return pending;
}
