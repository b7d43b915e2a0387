// Proves the WASM core's copy of the format constants equals core-wasm/constants.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCore } from './index.js';
import * as c from './constants.js';

test('assembly constants agree with constants.ts', () => {
  const core = loadCore();
  const expected: Record<string, number> = {
    recordHeaderBytes: c.recordHeaderBytes,
    recordAlignBytes: c.recordAlignBytes,
    recordPayloadBytesMax: c.recordPayloadBytesMax,
    recordFlagBatchEnd: c.recordFlagBatchEnd,
    recordFlagsKnown: c.recordFlagsKnown,
    ckptBatchesMax: c.ckptBatchesMax,
    scanOk: c.ScanStatus.ok,
    scanTorn: c.ScanStatus.torn,
    scanCorrupt: c.ScanStatus.corrupt,
    errNone: c.ScanErrorKind.none,
    errHeaderTorn: c.ScanErrorKind.headerTorn,
    errPayloadTorn: c.ScanErrorKind.payloadTorn,
    errBatchUnterminated: c.ScanErrorKind.batchUnterminated,
    errCrc: c.ScanErrorKind.crc,
    errPosition: c.ScanErrorKind.position,
    errType: c.ScanErrorKind.type,
    errLength: c.ScanErrorKind.length,
    errFlags: c.ScanErrorKind.flags,
    errPadding: c.ScanErrorKind.padding,
    errVersion: c.ScanErrorKind.version,
    ckptOk: c.CkptStatus.ok,
    ckptNotContiguous: c.CkptStatus.notContiguous,
    ckptFull: c.CkptStatus.full,
    ckptEmptyBatch: c.CkptStatus.emptyBatch,
    ckptUnknownBatch: c.CkptStatus.unknownBatch,
    ckptAlreadyMaterialized: c.CkptStatus.alreadyMaterialized,
  };
  for (const [name, value] of Object.entries(expected)) {
    assert.equal(core.constant(name), value, name);
  }
  // Every kind and status has a WASM twin: a new enum member without one fails here.
  assert.equal(Object.keys(c.ScanErrorKind).length, 11);
  assert.equal(Object.keys(c.ScanStatus).length, 3);
  assert.equal(Object.keys(c.CkptStatus).length, 6);
});

test('the header offsets tile the 24-byte header', () => {
  assert.equal(c.recordPayloadBytesOffset, c.recordCrcOffset + 4);
  assert.equal(c.recordPositionOffset, c.recordPayloadBytesOffset + 4);
  assert.equal(c.recordTypeOffset, c.recordPositionOffset + 8);
  assert.equal(c.recordVersionOffset, c.recordTypeOffset + 2);
  assert.equal(c.recordFlagsOffset, c.recordVersionOffset + 2);
  assert.equal(c.recordHeaderBytes, c.recordFlagsOffset + 4);
  assert.equal(c.recordBytesOf(0), 24);
  assert.equal(c.recordBytesOf(1), 32);
  assert.equal(c.recordBytesOf(8), 32);
  assert.equal(c.recordBytesOf(9), 40);
});
