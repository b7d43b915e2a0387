// The engine's door to the WASM core for log bytes: framing a batch, scanning (verifying)
// bytes read back or received from another copy, and CRC32C of arbitrary buffers. All WASM
// memory is reserved once, here, at first use, so views never go stale (growing memory would
// detach them). (CRC32C of arbitrary buffers is the core's own crc32cBytes.)
//
// The log frames each batch straight into one of `frameSlots` slots and writes it to disk from
// there, with no copy out: a log takes a slot for a batch and gives it back once the batch is
// answered, so a slot's bytes stay untouched while its write is in flight. When every slot is
// taken (several logs in one process), the batch is framed in the work region and copied out. Scans use their own
// region, so reading the log (recovery, shipping) never races a write in flight.

import {
  loadCore,
  recordHeaderBytes,
  recordPayloadBytesOffset,
  recordTypeOffset,
  recordVersionOffset,
  recordPositionOffset,
  recordFlagsOffset,
  recordBytesOf,
  recordPayloadBytesMax,
  type ScanResult,
  type WasmCore,
} from '../../core-wasm/index.js';
import { assert } from '../assert.js';
import { batchBytesMax, logPipelineBatchesMax } from '../constants.js';

export { ScanStatus, ScanErrorKind, type ScanResult, recordBytesOf } from '../../core-wasm/index.js';

export interface RecordInput {
  readonly type: number;
  readonly version: number;
  readonly payload: Uint8Array;
}

export interface LogRecord extends RecordInput {
  readonly position: number;
  readonly flags: number;
}

/**
 * The log's own record type (no event has it): a **durable mark**, u64 LE payload, saying that
 * every byte of the log before that position was synced before this record was framed. The log
 * puts one first in a batch when it has news (log.ts); readers of events never see it (`read`
 * leaves it out), but it is part of the batch's bytes, so it ships and replicates with them.
 */
const durableMarkType = 0xffff;
const durableMarkVersion = 1;
const durableMarkPayloadBytes = 8;
/** What a durable mark adds to a batch. */
const durableMarkBytes = recordBytesOf(durableMarkPayloadBytes);

export function durableMarkRecord(end: number): RecordInput {
  const payload = new Uint8Array(durableMarkPayloadBytes);
  new DataView(payload.buffer).setBigUint64(0, BigInt(end), true);
  return { type: durableMarkType, version: durableMarkVersion, payload };
}

export function isDurableMark(record: RecordInput): boolean {
  return record.type === durableMarkType;
}

/** The position a verified durable mark record names. */
export function durableMarkOf(record: RecordInput): number {
  assert(record.type === durableMarkType && record.payload.length === durableMarkPayloadBytes, 'not a durable mark');
  return Number(new DataView(record.payload.buffer, record.payload.byteOffset, durableMarkPayloadBytes).getBigUint64(0, true));
}

/** The most record bytes one append may hold: a batch with room for the durable mark put in front of it. */
export const appendBytesMax = batchBytesMax - durableMarkBytes;

/** The work region holds one batch plus headroom, so any batch the log accepts fits whole. */
export const workRegionBytes = batchBytesMax + recordPayloadBytesMax + 1024 * 1024;

/** Frame slots: one per batch the log may have framed and not yet answered (one more waits for the batch carrying its durable mark). */
export const frameSlots = logPipelineBatchesMax + 1;

let core: WasmCore | undefined;
let workPtr = 0;
const slotPtrs: number[] = [];
/** Slots are shared by every log in the process (a worker has one; tests and the CLI may have more). */
const slotTaken: boolean[] = [];

function init(): WasmCore {
  if (core === undefined) {
    core = loadCore();
    workPtr = core.reserve(workRegionBytes);
    assert(workPtr !== 0, 'WASM core could not reserve its work memory');
    for (let slot = 0; slot < frameSlots; slot++) {
      const ptr = core.reserve(batchBytesMax);
      assert(ptr !== 0, 'WASM core could not reserve its frame slots');
      slotPtrs.push(ptr);
      slotTaken.push(false);
    }
  }
  return core;
}

export function batchBytesOf(records: readonly RecordInput[]): number {
  let total = 0;
  for (const record of records) total += recordBytesOf(record.payload.length);
  return total;
}

/**
 * A frame slot no batch in flight holds, marked taken; -1 when every slot is taken (another log
 * in this process holds them: frame with frameBatch, which copies). Give it back with
 * releaseFrameSlot once the batch framed in it is answered.
 */
export function acquireFrameSlot(): number {
  init();
  const slot = slotTaken.indexOf(false);
  if (slot >= 0) slotTaken[slot] = true;
  return slot;
}

export function releaseFrameSlot(slot: number): void {
  assert(slotTaken[slot] === true, `frame slot ${slot} released but not taken`);
  slotTaken[slot] = false;
}

/** Frames records as one batch starting at `position`; returns a fresh copy of the bytes. */
export function frameBatch(records: readonly RecordInput[], position: number): Uint8Array {
  init();
  return frameAt(workPtr, records, position).slice();
}

/**
 * Frames records as one batch starting at `position` into frame slot `slot` (taken with
 * acquireFrameSlot) and returns a view of the framed bytes in WASM memory (no copy). The view is
 * valid until the slot is released.
 */
export function frameBatchInto(slot: number, records: readonly RecordInput[], position: number): Uint8Array {
  init();
  assert(slotTaken[slot] === true, `frame slot ${slot} is not taken`);
  return frameAt(slotPtrs[slot]!, records, position);
}

function frameAt(ptr: number, records: readonly RecordInput[], position: number): Uint8Array {
  const c = init();
  const total = batchBytesOf(records);
  assert(records.length > 0, 'a batch has at least one record');
  assert(total <= batchBytesMax, `batch of ${total} bytes exceeds a frame slot`);
  const region = c.bytes(ptr, total);
  const view = new DataView(region.buffer, region.byteOffset, total);
  let offset = 0;
  for (const record of records) {
    assert(record.payload.length <= recordPayloadBytesMax, 'record payload over the format limit');
    view.setUint32(offset + recordPayloadBytesOffset, record.payload.length, true);
    view.setUint16(offset + recordTypeOffset, record.type, true);
    view.setUint16(offset + recordVersionOffset, record.version, true);
    region.set(record.payload, offset + recordHeaderBytes);
    offset += recordBytesOf(record.payload.length);
  }
  const framed = c.frameBatch(ptr, records.length, position);
  assert(framed === total, `frameBatch framed ${framed} bytes, expected ${total}`);
  return region;
}

/** Verifies bytes that should hold whole records starting at log position `position`. */
export function scanBytes(bytes: Uint8Array, position: number): ScanResult {
  const c = init();
  assert(bytes.length <= workRegionBytes, 'scan input larger than the work region');
  c.bytes(workPtr, bytes.length).set(bytes);
  return c.scanResult(workPtr, bytes.length, position);
}

/** Splits verified bytes (a scan's valid prefix) into records. Does not re-verify. */
export function decodeRecords(bytes: Uint8Array, length = bytes.length): LogRecord[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  const records: LogRecord[] = [];
  let offset = 0;
  while (offset < length) {
    const payloadBytes = view.getUint32(offset + recordPayloadBytesOffset, true);
    records.push({
      position: Number(view.getBigUint64(offset + recordPositionOffset, true)),
      type: view.getUint16(offset + recordTypeOffset, true),
      version: view.getUint16(offset + recordVersionOffset, true),
      flags: view.getUint32(offset + recordFlagsOffset, true),
      payload: bytes.subarray(offset + recordHeaderBytes, offset + recordHeaderBytes + payloadBytes),
    });
    offset += recordBytesOf(payloadBytes);
  }
  assert(offset === length, 'records do not end where the scan said');
  return records;
}
