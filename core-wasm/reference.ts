// The WASM core's functions written the plain TypeScript way, over a Uint8Array and DataView.
// Tests cross-check the core against this; benchmarks use it as the baseline the core must beat.
// Keep it straightforward: its worth is being obviously right, not fast.

import {
  recordHeaderBytes, recordPayloadBytesMax, recordFlagBatchEnd, recordFlagsKnown, positionMax,
  ckptBatchesMax, ScanStatus, ScanErrorKind, CkptStatus, align8,
} from './constants.js';
import type { ScanResult } from './index.js';

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** Chainable CRC32C, one table lookup per byte. */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  let c = ~crc;
  for (let i = 0; i < bytes.length; i++) c = (c >>> 8) ^ crcTable[(c ^ bytes[i]!) & 0xff]!;
  return ~c >>> 0;
}

function assertPosition(position: number): void {
  if (!(Number.isInteger(position) && position >= 0 && position <= positionMax)) {
    throw new RangeError(`position must be an exact integer in [0, 2^53): ${position}`);
  }
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function setPosition(dv: DataView, at: number, position: number): void {
  dv.setUint32(at, position % 0x1_0000_0000, true);
  dv.setUint32(at + 4, Math.floor(position / 0x1_0000_0000), true);
}

function getPosition(dv: DataView, at: number): number {
  return dv.getUint32(at, true) + dv.getUint32(at + 4, true) * 0x1_0000_0000;
}

function recordCrc(buf: Uint8Array, offset: number, payloadBytes: number): number {
  return crc32c(buf.subarray(offset + 4, offset + recordHeaderBytes + payloadBytes));
}

/** Frames one record whose payload is at offset + 24; returns its recordBytes. */
export function frameRecord(
  buf: Uint8Array, offset: number, payloadBytes: number, type: number, version: number, flags: number, position: number,
): number {
  assertPosition(position);
  if (position % 8 !== 0 || payloadBytes > recordPayloadBytesMax || type < 1 || type > 0xffff
    || version < 1 || version > 0xffff || (flags & ~recordFlagsKnown) !== 0
    || position + recordHeaderBytes + align8(payloadBytes) > positionMax) {
    throw new RangeError('bad record arguments');
  }
  const dv = view(buf);
  dv.setUint32(offset + 4, payloadBytes, true);
  setPosition(dv, offset + 8, position);
  dv.setUint16(offset + 16, type, true);
  dv.setUint16(offset + 18, version, true);
  dv.setUint32(offset + 20, flags, true);
  const recordBytes = recordHeaderBytes + align8(payloadBytes);
  buf.fill(0, offset + recordHeaderBytes + payloadBytes, offset + recordBytes);
  dv.setUint32(offset, recordCrc(buf, offset, payloadBytes), true);
  return recordBytes;
}

/** Frames `count` records laid out from offset (payloadBytes, type, version filled in). */
export function frameBatch(buf: Uint8Array, offset: number, count: number, position: number): number {
  assertPosition(position);
  const dv = view(buf);
  let at = offset;
  for (let i = 0; i < count; i++) {
    const payloadBytes = dv.getUint32(at + 4, true);
    const type = dv.getUint16(at + 16, true);
    const version = dv.getUint16(at + 18, true);
    at += frameRecord(buf, at, payloadBytes, type, version, i + 1 === count ? recordFlagBatchEnd : 0, position + (at - offset));
  }
  return at - offset;
}

function isZero(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

function validRecordAt(buf: Uint8Array, dv: DataView, at: number, position: number): boolean {
  if (at + recordHeaderBytes > buf.length) return false;
  if (getPosition(dv, at + 8) !== position + at) return false;
  const payloadBytes = dv.getUint32(at + 4, true);
  if (payloadBytes > recordPayloadBytesMax || at + recordHeaderBytes + align8(payloadBytes) > buf.length) return false;
  return dv.getUint32(at, true) === recordCrc(buf, at, payloadBytes);
}

/** Verifies `buf` as records from log position `position`; same verdicts as the WASM scan. */
export function scan(buf: Uint8Array, position: number): ScanResult {
  assertPosition(position);
  const dv = view(buf);
  const result: ScanResult = {
    status: ScanStatus.ok, validBytes: 0, records: 0, batches: 0,
    errorOffset: -1, errorKind: ScanErrorKind.none, resyncOffset: -1,
  };
  const fail = (status: ScanStatus, at: number, kind: ScanErrorKind): ScanResult => {
    result.status = status;
    result.errorOffset = at;
    result.errorKind = kind;
    for (let o = (at + 8) & ~7; o + recordHeaderBytes <= buf.length; o += 8) {
      if (validRecordAt(buf, dv, o, position)) {
        result.resyncOffset = o;
        break;
      }
    }
    return result;
  };
  let at = 0;
  let records = 0;
  while (at < buf.length) {
    const headerFits = at + recordHeaderBytes <= buf.length;
    if (!headerFits || isZero(buf, at, at + recordHeaderBytes)) {
      if (isZero(buf, at, buf.length)) break;
      if (!headerFits) return fail(ScanStatus.torn, at, ScanErrorKind.headerTorn);
      return fail(ScanStatus.corrupt, at, ScanErrorKind.type);
    }
    const payloadBytes = dv.getUint32(at + 4, true);
    if (payloadBytes > recordPayloadBytesMax) return fail(ScanStatus.corrupt, at, ScanErrorKind.length);
    const recordBytes = recordHeaderBytes + align8(payloadBytes);
    if (at + recordBytes > buf.length) return fail(ScanStatus.torn, at, ScanErrorKind.payloadTorn);
    if (dv.getUint32(at, true) !== recordCrc(buf, at, payloadBytes)) return fail(ScanStatus.corrupt, at, ScanErrorKind.crc);
    if (getPosition(dv, at + 8) !== position + at) return fail(ScanStatus.corrupt, at, ScanErrorKind.position);
    if (dv.getUint16(at + 16, true) === 0) return fail(ScanStatus.corrupt, at, ScanErrorKind.type);
    if (dv.getUint16(at + 18, true) === 0) return fail(ScanStatus.corrupt, at, ScanErrorKind.version);
    const flags = dv.getUint32(at + 20, true);
    if ((flags & ~recordFlagsKnown) !== 0) return fail(ScanStatus.corrupt, at, ScanErrorKind.flags);
    if (!isZero(buf, at + recordHeaderBytes + payloadBytes, at + recordBytes)) {
      return fail(ScanStatus.corrupt, at, ScanErrorKind.padding);
    }
    records++;
    at += recordBytes;
    if (flags & recordFlagBatchEnd) {
      result.validBytes = at;
      result.records = records;
      result.batches++;
    }
  }
  if (at !== result.validBytes) return fail(ScanStatus.torn, at, ScanErrorKind.batchUnterminated);
  return result;
}

/** The checkpoint bookkeeping as a plain class (a sorted array of pending batches). */
export class Checkpoint {
  private starts: number[] = [];
  private done: boolean[] = [];
  private appendedEnd = 0;

  reset(position: number): void {
    assertPosition(position);
    this.starts = [];
    this.done = [];
    this.appendedEnd = position;
  }

  appended(start: number, end: number): CkptStatus {
    assertPosition(start);
    assertPosition(end);
    if (start !== this.appendedEnd) return CkptStatus.notContiguous;
    if (end <= start) return CkptStatus.emptyBatch;
    if (this.starts.length === ckptBatchesMax) return CkptStatus.full;
    this.starts.push(start);
    this.done.push(false);
    this.appendedEnd = end;
    return CkptStatus.ok;
  }

  materialized(start: number): CkptStatus {
    assertPosition(start);
    const i = this.starts.indexOf(start);
    if (i < 0) return CkptStatus.unknownBatch;
    if (this.done[i]) return CkptStatus.alreadyMaterialized;
    this.done[i] = true;
    while (this.done.length > 0 && this.done[0]) {
      this.done.shift();
      this.starts.shift();
    }
    return CkptStatus.ok;
  }

  position(): number {
    return this.starts.length > 0 ? this.starts[0]! : this.appendedEnd;
  }

  pending(): number {
    return this.starts.length;
  }
}

/** 1-based sequence number of uid in a sorted UID array, or 0. */
export function uidToSeq(uids: Uint32Array, uid: number): number {
  const i = uidLowerBound(uids, uid);
  return i < uids.length && uids[i] === uid ? i + 1 : 0;
}

export function uidLowerBound(uids: Uint32Array, uid: number): number {
  let lo = 0;
  let hi = uids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (uids[mid]! < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function countMask(flags: Uint32Array, mask: number): number {
  let n = 0;
  for (let i = 0; i < flags.length; i++) if ((flags[i]! & mask) !== 0) n++;
  return n;
}

export function countMissing(flags: Uint32Array, mask: number): number {
  return flags.length - countMask(flags, mask);
}

export function selectModseqAbove(modseqs: Float64Array, since: number, out: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < modseqs.length; i++) if (modseqs[i]! > since) out[n++] = i;
  return n;
}
