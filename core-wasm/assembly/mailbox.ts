// Hot mailbox-index operations over arrays the engine keeps in WASM memory, one entry per
// message of a folder, in UID order:
//
//   uidsPtr:    u32[count]  strictly increasing UIDs
//   flagsPtr:   u32[count]  flag bit words (bit meanings belong to the engine)
//   modseqPtr:  f64[count]  modseqs as f64: exact integers < 2^53, like positions, so JS reads
//                           and writes them through a Float64Array without BigInt
//   outPtr:     u32[count]  room for the answer of selectModseqAbove

import { assertInMemory } from "./memory";
import { DEBUG } from "./constants";

// @ts-ignore: decorator
@inline
function lowerBound(uidsPtr: usize, count: u32, uid: u32): u32 {
  let lo: u32 = 0;
  let hi: u32 = count;
  while (lo < hi) {
    const mid = lo + ((hi - lo) >>> 1);
    if (load<u32>(uidsPtr + ((<usize>mid) << 2)) < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** 1-based message sequence number of `uid`, or 0 if the folder does not hold it. */
export function uidToSeq(uidsPtr: usize, count: u32, uid: u32): u32 {
  assertInMemory(uidsPtr, (<usize>count) << 2);
  const i = lowerBound(uidsPtr, count, uid);
  if (i < count && load<u32>(uidsPtr + ((<usize>i) << 2)) == uid) return i + 1;
  return 0;
}

/** Index of the first UID >= uid (count if none). */
export function uidLowerBound(uidsPtr: usize, count: u32, uid: u32): u32 {
  assertInMemory(uidsPtr, (<usize>count) << 2);
  return lowerBound(uidsPtr, count, uid);
}

/** How many flag words have any of the `mask` bits. */
export function countMask(flagsPtr: usize, count: u32, mask: u32): u32 {
  assertInMemory(flagsPtr, (<usize>count) << 2);
  return countAny(flagsPtr, count, mask);
}

/** How many flag words have none of the `mask` bits (UNSEEN: countMissing(flags, n, seen)). */
export function countMissing(flagsPtr: usize, count: u32, mask: u32): u32 {
  assertInMemory(flagsPtr, (<usize>count) << 2);
  return count - countAny(flagsPtr, count, mask);
}

function countAny(flagsPtr: usize, count: u32, mask: u32): u32 {
  const m = i32x4.splat(<i32>mask);
  const zero = i32x4.splat(0);
  // Lanes are -1 where a word has a mask bit; subtracting them counts. 4 lanes of u32 cannot
  // overflow: each counts at most count / 4 < 2^30.
  let acc = i32x4.splat(0);
  const n4 = count & ~3;
  let i: u32 = 0;
  for (; i < n4; i += 4) {
    const w = v128.load(flagsPtr + ((<usize>i) << 2));
    acc = i32x4.sub(acc, i32x4.ne(v128.and(w, m), zero));
  }
  let n = <u32>(i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1)
    + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3));
  for (; i < count; i++) n += <u32>((load<u32>(flagsPtr + ((<usize>i) << 2)) & mask) != 0);
  if (DEBUG) assert(n <= count);
  return n;
}

/** Writes the indices of entries with modseq > since to outPtr (u32 each); returns how many. */
export function selectModseqAbove(modseqPtr: usize, count: u32, since: f64, outPtr: usize): u32 {
  assertInMemory(modseqPtr, (<usize>count) << 3);
  assertInMemory(outPtr, (<usize>count) << 2);
  let n: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    // Branch-free: always write, advance only on a match. Changed entries are usually rare and
    // clustered at the end, but a branch would mispredict on mixed folders.
    store<u32>(outPtr + ((<usize>n) << 2), i);
    n += <u32>(load<f64>(modseqPtr + ((<usize>i) << 3)) > since);
  }
  return n;
}
