// Framing and verifying log records. The format is documented in docs/internals/log-format.md.
//
//  0                   4                   8                                   16
//  +-------------------+-------------------+-----------------------------------+
//  | crc32c      u32   | payloadBytes u32  | position                     u64  |
//  +---------+---------+-------------------+-----------------------------------+
//  | type u16| ver u16 | flags        u32  | payload (payloadBytes) | zero pad to 8 |
//  +---------+---------+-------------------+-----------------------------------+
//  16        18        20                  24
//
// All integers little-endian (WASM's own order, so plain loads and stores). The crc covers
// [4, 24 + payloadBytes): everything after the crc field, not the padding, which must be zero.
// `position` is the record's offset in the logical log, so stale or misplaced bytes fail even
// when their crc is fine. type 0 never occurs: an all-zero header means "nothing written here".

import {
  recordHeaderBytes, recordPayloadBytesMax, recordFlagBatchEnd, recordFlagsKnown,
  scanOk, scanTorn, scanCorrupt,
  errNone, errHeaderTorn, errPayloadTorn, errBatchUnterminated, errCrc, errPosition, errType,
  errLength, errFlags, errPadding, errVersion,
  align8, positionFromF64, positionMax, DEBUG,
} from "./constants";
import { crc32cUnchecked } from "./crc32c";
import { assertInMemory } from "./memory";

// @ts-ignore: decorator
@inline
function zeroPadding(ptr: usize, payloadBytes: u32): void {
  const from = <usize>(recordHeaderBytes + payloadBytes);
  const to = <usize>(recordHeaderBytes + align8(payloadBytes));
  for (let i = from; i < to; i++) store<u8>(ptr + i, 0);
}

// @ts-ignore: decorator
@inline
function recordCrc(ptr: usize, payloadBytes: u32): u32 {
  return crc32cUnchecked(ptr + 4, recordHeaderBytes - 4 + payloadBytes, 0);
}

/**
 * Writes the header, zero padding and crc of one record whose payload is already at ptr + 24.
 * Returns recordBytes = 24 + align8(payloadBytes). Bad arguments are caller bugs (assert).
 */
export function frameRecord(ptr: usize, payloadBytes: u32, type: u32, version: u32, flags: u32, position: f64): u32 {
  const pos = positionFromF64(position);
  assert((pos & 7) == 0, "record positions are 8-aligned");
  assert(payloadBytes <= recordPayloadBytesMax, "payload too large");
  assert(type >= 1 && type <= 0xffff, "type must be in [1, 65535]");
  assert(version >= 1 && version <= 0xffff, "version must be in [1, 65535]");
  assert((flags & ~recordFlagsKnown) == 0, "unknown flag bits");
  const recordBytes = recordHeaderBytes + align8(payloadBytes);
  assertInMemory(ptr, recordBytes);
  // The next record's position must stay exact in JS too.
  assert(pos + <u64>recordBytes <= <u64>positionMax, "record ends past 2^53");
  store<u32>(ptr, payloadBytes, 4);
  store<u64>(ptr, pos, 8);
  store<u16>(ptr, <u16>type, 16);
  store<u16>(ptr, <u16>version, 18);
  store<u32>(ptr, flags, 20);
  zeroPadding(ptr, payloadBytes);
  store<u32>(ptr, recordCrc(ptr, payloadBytes), 0);
  return recordBytes;
}

/**
 * Frames `count` records laid out back to back from ptr, each with payloadBytes, type and version
 * already filled in and its payload in place. Fills positions (from `position`), flags
 * (BATCH_END on the last record only), padding and crcs. Returns the batch's total bytes.
 */
export function frameBatch(ptr: usize, count: u32, position: f64): u32 {
  assert(count >= 1, "a batch has at least one record");
  const pos = positionFromF64(position);
  assert((pos & 7) == 0, "record positions are 8-aligned");
  let off: usize = 0;
  for (let i: u32 = 0; i < count; i++) {
    const p = ptr + off;
    assertInMemory(p, recordHeaderBytes);
    const payloadBytes = load<u32>(p, 4);
    const type = <u32>load<u16>(p, 16);
    const version = <u32>load<u16>(p, 18);
    assert(payloadBytes <= recordPayloadBytesMax, "payload too large");
    assert(type != 0, "type must be in [1, 65535]");
    assert(version != 0, "version must be in [1, 65535]");
    const recordBytes = recordHeaderBytes + align8(payloadBytes);
    assertInMemory(p, recordBytes);
    store<u64>(p, pos + <u64>off, 8);
    store<u32>(p, i + 1 == count ? recordFlagBatchEnd : 0, 20);
    zeroPadding(p, payloadBytes);
    store<u32>(p, recordCrc(p, payloadBytes), 0);
    off += recordBytes; // cannot wrap: the record lies inside a memory of at most 4 GiB
  }
  // The next batch's position must stay exact in JS too.
  assert(pos + <u64>off <= <u64>positionMax, "batch ends past 2^53");
  return <u32>off;
}

// ---------------------------------------------------------------------------------------------
// scan: the verdict on a buffer that should hold whole batches from log position `position`.
// Results stay in these globals until the next scan (read them with the scan* getters).

let resultValidBytes: u32 = 0;
let resultRecords: u32 = 0;
let resultBatches: u32 = 0;
let resultErrorOffset: i32 = -1;
let resultErrorKind: u32 = errNone;
let resultResyncOffset: i32 = -1;

// @ts-ignore: decorator
@inline
function allZero(ptr: usize, from: usize, to: usize): bool {
  let i = from;
  while (i + 8 <= to) {
    if (load<u64>(ptr + i) != 0) return false;
    i += 8;
  }
  while (i < to) {
    if (load<u8>(ptr + i) != 0) return false;
    i++;
  }
  return true;
}

/**
 * A record starting at ptr + off is one a writer produced for that place: it fits, its length is
 * sane, its stored position is its place and its crc matches. The position test runs first; it
 * rejects almost every offset without reading more than 8 bytes.
 */
function validRecordAt(ptr: usize, off: usize, len: usize, pos: u64): bool {
  if (off + <usize>recordHeaderBytes > len) return false;
  const p = ptr + off;
  if (load<u64>(p, 8) != pos + <u64>off) return false;
  const payloadBytes = load<u32>(p, 4);
  if (payloadBytes > recordPayloadBytesMax) return false;
  if (off + <usize>recordHeaderBytes + <usize>align8(payloadBytes) > len) return false;
  return load<u32>(p) == recordCrc(p, payloadBytes);
}

function resyncAfter(ptr: usize, errorOffset: usize, len: usize, pos: u64): i32 {
  for (let off = (errorOffset + 8) & ~(<usize>7); off + <usize>recordHeaderBytes <= len; off += 8) {
    if (validRecordAt(ptr, off, len, pos)) return <i32>off;
  }
  return -1;
}

function fail(ptr: usize, len: usize, pos: u64, status: i32, off: usize, kind: u32): i32 {
  resultErrorOffset = <i32>off;
  resultErrorKind = kind;
  resultResyncOffset = resyncAfter(ptr, off, len, pos);
  return status;
}

/**
 * Verifies [ptr, ptr + len) as records starting at log position `position`. Returns
 * 0 OK (ends exactly at a batch end, or at a batch end followed only by zero bytes: a zero tail),
 * 1 TORN (data stops inside a header, a payload, or a batch without BATCH_END), or
 * 2 CORRUPT (crc, position, type, version, length, flags or padding wrong; or an all-zero header
 * with non-zero bytes after it, a hole). Stops at the first problem.
 */
export function scan(ptr: usize, len: u32, position: f64): i32 {
  const pos = positionFromF64(position);
  assert((pos & 7) == 0, "record positions are 8-aligned");
  assert(len <= <u32>i32.MAX_VALUE, "scan at most 2 GiB at a time (offsets are i32)");
  assertInMemory(ptr, len);
  const end = <usize>len;
  resultValidBytes = 0;
  resultRecords = 0;
  resultBatches = 0;
  resultErrorOffset = -1;
  resultErrorKind = errNone;
  resultResyncOffset = -1;

  let off: usize = 0;
  let records: u32 = 0; // in the open batch plus every closed one
  while (off < end) {
    if (DEBUG) assert((off & 7) == 0, "records start 8-aligned");
    const p = ptr + off;
    if (off + <usize>recordHeaderBytes > end || allZero(p, 0, recordHeaderBytes)) {
      // Fewer than 24 bytes left, or a zero header: if only zeros follow, the data ends here.
      if (allZero(ptr, off, end)) break;
      if (off + <usize>recordHeaderBytes > end) return fail(ptr, end, pos, scanTorn, off, errHeaderTorn);
      return fail(ptr, end, pos, scanCorrupt, off, errType);
    }
    const payloadBytes = load<u32>(p, 4);
    if (payloadBytes > recordPayloadBytesMax) return fail(ptr, end, pos, scanCorrupt, off, errLength);
    const recordBytes = recordHeaderBytes + align8(payloadBytes);
    if (off + <usize>recordBytes > end) return fail(ptr, end, pos, scanTorn, off, errPayloadTorn);
    if (load<u32>(p) != recordCrc(p, payloadBytes)) return fail(ptr, end, pos, scanCorrupt, off, errCrc);
    if (load<u64>(p, 8) != pos + <u64>off) return fail(ptr, end, pos, scanCorrupt, off, errPosition);
    if (load<u16>(p, 16) == 0) return fail(ptr, end, pos, scanCorrupt, off, errType);
    if (load<u16>(p, 18) == 0) return fail(ptr, end, pos, scanCorrupt, off, errVersion);
    const flags = load<u32>(p, 20);
    if ((flags & ~recordFlagsKnown) != 0) return fail(ptr, end, pos, scanCorrupt, off, errFlags);
    if (!allZero(p, <usize>(recordHeaderBytes + payloadBytes), <usize>recordBytes)) {
      return fail(ptr, end, pos, scanCorrupt, off, errPadding);
    }
    records++;
    off += recordBytes;
    if ((flags & recordFlagBatchEnd) != 0) {
      resultValidBytes = <u32>off;
      resultRecords = records;
      resultBatches++;
    }
  }
  if (off != <usize>resultValidBytes) return fail(ptr, end, pos, scanTorn, off, errBatchUnterminated);
  return scanOk;
}

/** End offset of the last complete batch: everything before it is verified. */
export function scanValidBytes(): u32 { return resultValidBytes; }
/** Records in the valid prefix. */
export function scanRecords(): u32 { return resultRecords; }
/** Batches in the valid prefix. */
export function scanBatches(): u32 { return resultBatches; }
/** Offset where the scan stopped on a problem, or -1. */
export function scanErrorOffset(): i32 { return resultErrorOffset; }
/** What the problem was (ScanErrorKind in constants.ts). */
export function scanErrorKind(): u32 { return resultErrorKind; }
/**
 * After TORN or CORRUPT: the first 8-aligned offset past the error where a valid record (crc ok,
 * stored position == its place) starts, or -1. -1 means the damage runs to the end (a torn tail
 * recovery may cut); otherwise good data follows the damage and must not be cut silently.
 */
export function scanResyncOffset(): i32 { return resultResyncOffset; }
