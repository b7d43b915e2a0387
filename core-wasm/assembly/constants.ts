// The same numbers as core-wasm/constants.ts (the source of truth; AssemblyScript cannot import
// it). index.ts exports them as WASM globals so constants.test.ts can check that both agree.

export const recordHeaderBytes: u32 = 24;
export const recordAlignBytes: u32 = 8;
export const recordPayloadBytesMax: u32 = 64 * 1024 * 1024;

export const recordCrcOffset: u32 = 0;
export const recordPayloadBytesOffset: u32 = 4;
export const recordPositionOffset: u32 = 8;
export const recordTypeOffset: u32 = 16;
export const recordVersionOffset: u32 = 18;
export const recordFlagsOffset: u32 = 20;
export const recordCrcCoveredOffset: u32 = 4;

export const recordFlagBatchEnd: u32 = 1;
export const recordFlagsKnown: u32 = recordFlagBatchEnd;

export const ckptBatchesMax: u32 = 65536;

// ScanStatus
export const scanOk: i32 = 0;
export const scanTorn: i32 = 1;
export const scanCorrupt: i32 = 2;

// ScanErrorKind
export const errNone: u32 = 0;
export const errHeaderTorn: u32 = 1;
export const errPayloadTorn: u32 = 2;
export const errBatchUnterminated: u32 = 3;
export const errCrc: u32 = 4;
export const errPosition: u32 = 5;
export const errType: u32 = 6;
export const errLength: u32 = 7;
export const errFlags: u32 = 8;
export const errPadding: u32 = 9;
export const errVersion: u32 = 10;

// CkptStatus
export const ckptOk: i32 = 0;
export const ckptNotContiguous: i32 = 1;
export const ckptFull: i32 = 2;
export const ckptEmptyBatch: i32 = 3;
export const ckptUnknownBatch: i32 = 4;
export const ckptAlreadyMaterialized: i32 = 5;

/** Hot-loop invariant checks: on in the debug target (optimizeLevel 0), off in release. */
export const DEBUG: bool = ASC_OPTIMIZE_LEVEL == 0;

/** 2^53 - 1: positions and modseqs cross the boundary as f64 and must be exact. */
export const positionMax: f64 = 9007199254740991.0;

// @ts-ignore: decorator
@inline
export function align8(bytes: u32): u32 {
  return (bytes + 7) & ~7;
}

// @ts-ignore: decorator
@inline
export function align8Size(bytes: usize): usize {
  return (bytes + 7) & ~(<usize>7);
}

/** Converts a boundary f64 to u64. A non-integer or out-of-range value is a caller bug. */
// @ts-ignore: decorator
@inline
export function positionFromF64(position: f64): u64 {
  assert(position >= 0 && position <= positionMax && floor<f64>(position) == position, "position must be an exact integer in [0, 2^53)");
  return <u64>position;
}
