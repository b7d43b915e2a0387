// The log format's numbers, shared by the WASM core and TypeScript. core-wasm/assembly/constants.ts
// repeats them (AssemblyScript cannot import this file); constants.test.ts checks they agree.
// The layout itself is drawn in docs/internals/log-format.md.

/** Every record starts with this fixed header: crc32c, payloadBytes, position, type, version, flags. */
export const recordHeaderBytes = 24;
/** Records start on this boundary in the logical log; the payload is zero-padded up to it. */
export const recordAlignBytes = 8;
/** A larger payloadBytes field is corruption, not a big record. */
export const recordPayloadBytesMax = 64 * 1024 * 1024;
/** Positions and modseqs cross the WASM boundary as f64, so they must stay exact integers below 2^53. */
export const positionMax = Number.MAX_SAFE_INTEGER;

// Header field offsets inside a record.
export const recordCrcOffset = 0;
export const recordPayloadBytesOffset = 4;
export const recordPositionOffset = 8;
export const recordTypeOffset = 16;
export const recordVersionOffset = 18;
export const recordFlagsOffset = 20;
/** The crc covers [recordCrcCoveredOffset, recordHeaderBytes + payloadBytes). */
export const recordCrcCoveredOffset = 4;

/** Flag bits. Every bit not named here must be zero. */
export const recordFlagBatchEnd = 1;
export const recordFlagsKnown = recordFlagBatchEnd;

/** The checkpoint ring holds at most this many appended-but-not-checkpointed batches. */
export const ckptBatchesMax = 65536;

/** A scan's verdict on a buffer. */
export const ScanStatus = {
  /** The buffer ends exactly at a batch end (possibly followed by a zero tail). */
  ok: 0,
  /** The data stops inside a header, a payload or an unterminated batch. */
  torn: 1,
  /** A record is damaged: crc, position, type, version, length, flags or padding. */
  corrupt: 2,
} as const;
export type ScanStatus = (typeof ScanStatus)[keyof typeof ScanStatus];

/** Why a scan stopped. Numbered for the wire between WASM and TS: append only. */
export const ScanErrorKind = {
  none: 0,
  headerTorn: 1,
  payloadTorn: 2,
  batchUnterminated: 3,
  crc: 4,
  position: 5,
  type: 6,
  length: 7,
  flags: 8,
  padding: 9,
  version: 10,
} as const;
export type ScanErrorKind = (typeof ScanErrorKind)[keyof typeof ScanErrorKind];

/** Results of the checkpoint bookkeeping calls. */
export const CkptStatus = {
  ok: 0,
  /** ckptAppended: start is not the end of the previously appended batch. */
  notContiguous: 1,
  /** ckptAppended: the ring already holds ckptBatchesMax batches. */
  full: 2,
  /** ckptAppended: end <= start. */
  emptyBatch: 3,
  /** ckptMaterialized: no pending batch starts there. */
  unknownBatch: 4,
  /** ckptMaterialized: that batch was already marked. */
  alreadyMaterialized: 5,
} as const;
export type CkptStatus = (typeof CkptStatus)[keyof typeof CkptStatus];

export function align8(bytes: number): number {
  return (bytes + 7) & ~7;
}

/** Bytes a record with this payload occupies in the log, padding included. */
export function recordBytesOf(payloadBytes: number): number {
  return recordHeaderBytes + align8(payloadBytes);
}
