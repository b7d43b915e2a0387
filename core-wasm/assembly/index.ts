// The Quire WASM core: the transaction log's byte work and hot mailbox-index loops.
// Only integers cross the boundary; positions and modseqs as f64 (exact integers < 2^53).
// The TypeScript wrapper is core-wasm/index.ts; the plain-TS twin is core-wasm/reference.ts.

export { reserve, memoryBytes } from "./memory";
export { crc32c } from "./crc32c";
export {
  frameRecord, frameBatch, scan,
  scanValidBytes, scanRecords, scanBatches, scanErrorOffset, scanErrorKind, scanResyncOffset,
} from "./record";
export { ckptReset, ckptAppended, ckptMaterialized, ckptPosition, ckptPending } from "./checkpoint";
export { uidToSeq, uidLowerBound, countMask, countMissing, selectModseqAbove } from "./mailbox";

// Exported as WASM globals so constants.test.ts can compare them with core-wasm/constants.ts.
export {
  recordHeaderBytes, recordAlignBytes, recordPayloadBytesMax, recordFlagBatchEnd,
  recordFlagsKnown, ckptBatchesMax,
  scanOk, scanTorn, scanCorrupt,
  errNone, errHeaderTorn, errPayloadTorn, errBatchUnterminated, errCrc, errPosition, errType,
  errLength, errFlags, errPadding, errVersion,
  ckptOk, ckptNotContiguous, ckptFull, ckptEmptyBatch, ckptUnknownBatch, ckptAlreadyMaterialized,
} from "./constants";
