// The flush map: a small file beside the segments that records how far the log is known to be
// durable (Exchange's flush map, reduced to one number). A batch may be acknowledged only once a
// durable record says it was synced: the next batch's durable mark (log.ts) or, when no batch
// follows, this map, written after the batch's fdatasync and synced. So at recovery, with the
// durable end = the later of this map's and the highest durable mark in a valid record:
//
//   - damage below the durable end was written, synced (and maybe acknowledged), then damaged:
//     corruption, refused, whatever follows it;
//   - damage at or past it was never acknowledged: a torn or reordered unsynced write, cut.
//
// The file is written in place (never grown after creation), so its fdatasync commits no file
// size change and costs a fraction of the segment's. Two slots, one per 512-byte sector, are
// written alternately: a write torn by a power loss damages only the slot being written, and the
// other still holds the previous end (which is all that had been acknowledged).
//
//   slot (512 bytes, at 0 and 512)
//   +---------------------+---------------------+-----------+-----------+-------------+
//   | durable end  u64 LE | sequence     u64 LE | magic u32 | crc32c u32| zeros       |
//   +---------------------+---------------------+-----------+-----------+-------------+
//   0                     8                     16          20          24          512
//
// crc32c covers bytes 0..20. The valid slot with the higher sequence wins.

import { join } from 'node:path';
import { crc32c } from '../checksum.js';
import type { Storage, StorageFile } from '../io.js';

export const flushMapName = 'flush.map';
export const flushSlotBytes = 512;
const flushSlotCount = 2;
const magic = 0x4d4c4651; // "QFLM" little-endian
const slotFieldsBytes = 24;

export interface FlushMark {
  readonly durableEnd: number;
  readonly sequence: number;
}

export function encodeSlot(mark: FlushMark): Uint8Array {
  const out = new Uint8Array(slotFieldsBytes);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(mark.durableEnd), true);
  view.setBigUint64(8, BigInt(mark.sequence), true);
  view.setUint32(16, magic, true);
  view.setUint32(20, crc32c(out.subarray(0, 20)), true);
  return out;
}

/** The mark a slot holds, or null when it was never written or fails its checksum. */
export function decodeSlot(bytes: Uint8Array): FlushMark | null {
  if (bytes.length < slotFieldsBytes) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, slotFieldsBytes);
  if (view.getUint32(16, true) !== magic || view.getUint32(20, true) !== crc32c(bytes.subarray(0, 20))) return null;
  return { durableEnd: Number(view.getBigUint64(0, true)), sequence: Number(view.getBigUint64(8, true)) };
}

export class FlushMap {
  private constructor(private readonly file: StorageFile, private sequence: number, private end: number) {}

  /**
   * The map of a log directory: null when it has none (a log written before flush maps),
   * 'corrupt' when no slot is valid (one torn write cannot do that: the caller refuses).
   */
  static async open(storage: Storage, dir: string): Promise<FlushMap | null | 'corrupt'> {
    const path = join(dir, flushMapName);
    if (!(await storage.exists(path))) return null;
    const file = await storage.open(path, { create: false });
    const bytes = await file.read(0, flushSlotBytes * flushSlotCount);
    let best: FlushMark | null = null;
    for (let slot = 0; slot < flushSlotCount; slot++) {
      const mark = decodeSlot(bytes.subarray(slot * flushSlotBytes, slot * flushSlotBytes + slotFieldsBytes));
      if (mark !== null && (best === null || mark.sequence > best.sequence)) best = mark;
    }
    if (best === null) {
      await file.close();
      return 'corrupt';
    }
    return new FlushMap(file, best.sequence, best.durableEnd);
  }

  /** Creates the map with `durableEnd` (both slots written, synced, and its directory entry synced). */
  static async create(storage: Storage, dir: string, durableEnd: number): Promise<FlushMap> {
    const file = await storage.open(join(dir, flushMapName), { create: true });
    const bytes = new Uint8Array(flushSlotBytes * flushSlotCount);
    bytes.set(encodeSlot({ durableEnd, sequence: 0 }), 0);
    bytes.set(encodeSlot({ durableEnd, sequence: 1 }), flushSlotBytes);
    await file.write(0, bytes);
    await file.sync();
    await storage.syncDir(dir);
    return new FlushMap(file, 1, durableEnd);
  }

  /** Everything before this position was synced before the map said so. */
  get durableEnd(): number {
    return this.end;
  }

  /** Records that everything before `durableEnd` is synced. Call only after that sync, and one at a time. */
  async mark(durableEnd: number): Promise<void> {
    const sequence = this.sequence + 1;
    await this.file.write((sequence % flushSlotCount) * flushSlotBytes, encodeSlot({ durableEnd, sequence }));
    await this.file.sync();
    this.sequence = sequence;
    this.end = durableEnd;
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
