// The state store behind the materialized state: an ordered key-value store with atomic
// batches. RocksDB in production; an in-memory store with crash and bit-flip faults in the
// simulator. Both sit behind this interface so the engine cannot tell them apart.
//
// Every value is written with a CRC32C trailer and checked when read back: a flipped bit in a
// state file is detected, never served (the database then rebuilds its state from the log).

import { crc32c } from '../checksum.js';

export type KvOp = { readonly key: string; readonly value: Uint8Array | null };

export interface KvStore {
  get(key: string): Promise<Uint8Array | undefined>;
  /** Applies all ops atomically. Not synced: the log is the write-ahead log, the state only a cache of it. */
  write(ops: readonly KvOp[]): Promise<void>;
  /**
   * Makes every write so far durable. Never needed for correctness of the state (the log is the
   * write-ahead log), but the log may only drop segments once the checkpoint past them is on disk.
   */
  sync(): Promise<void>;
  /** Every entry whose key starts with `prefix`, in key order. */
  scan(prefix: string): AsyncIterable<[string, Uint8Array]>;
  close(): Promise<void>;
  /**
   * A consistent copy of the whole store into the directory `target`, taken between two writes;
   * `during` runs while no write can happen (the database records its log tail then). Only
   * stores on disk have it (RocksDB); a reseed needs it.
   */
  checkpoint?(target: string, during: () => Promise<void>): Promise<KvCheckpoint>;
}

export interface KvCheckpoint {
  /** The files of the copy, names relative to its directory. */
  readonly files: ReadonlyArray<{ readonly name: string; readonly bytes: number }>;
  /** How long calls were held. */
  readonly pauseMs: number;
}

export class KvCorruptionError extends Error {
  constructor(readonly key: string) {
    super(`state store value for ${key} fails its checksum`);
    this.name = 'KvCorruptionError';
  }
}

export function seal(value: Uint8Array): Uint8Array {
  const out = new Uint8Array(value.length + 4);
  out.set(value, 0);
  new DataView(out.buffer).setUint32(value.length, crc32c(value), true);
  return out;
}

export function unseal(key: string, sealed: Uint8Array): Uint8Array {
  if (sealed.length < 4) throw new KvCorruptionError(key);
  const value = sealed.subarray(0, sealed.length - 4);
  const stored = new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength).getUint32(value.length, true);
  if (crc32c(value) !== stored) throw new KvCorruptionError(key);
  return value;
}

/** In-memory store for unit tests and the simulator; `crash()` keeps a random prefix of unsynced batches. */
export class MemoryKv implements KvStore {
  private durable = new Map<string, Uint8Array>();
  private recent: KvOp[][] = [];
  private closed = false;

  async get(key: string): Promise<Uint8Array | undefined> {
    this.checkOpen();
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const batch = this.recent[i]!;
      for (let j = batch.length - 1; j >= 0; j--) {
        if (batch[j]!.key === key) return batch[j]!.value === null ? undefined : unseal(key, batch[j]!.value!);
      }
    }
    const value = this.durable.get(key);
    return value === undefined ? undefined : unseal(key, value);
  }
  async write(ops: readonly KvOp[]): Promise<void> {
    this.checkOpen();
    this.recent.push(ops.map((op) => ({ key: op.key, value: op.value === null ? null : seal(op.value) })));
    if (this.recent.length > 64) this.flush(1);
  }
  async sync(): Promise<void> {
    this.checkOpen();
    this.flush(this.recent.length);
  }
  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    this.checkOpen();
    const merged = new Map(this.durable);
    for (const batch of this.recent) for (const op of batch) op.value === null ? merged.delete(op.key) : merged.set(op.key, op.value);
    const keys = [...merged.keys()].filter((k) => k.startsWith(prefix)).sort();
    for (const key of keys) yield [key, unseal(key, merged.get(key)!)];
  }
  async close(): Promise<void> {
    this.flush(this.recent.length);
    this.closed = true;
  }
  /** Simulated crash: the oldest `keep` unsynced batches reach the disk, the rest are lost. */
  crash(keep: number): void {
    this.flush(Math.min(keep, this.recent.length));
    this.recent = [];
    this.closed = true;
  }
  reopen(): MemoryKv {
    const next = new MemoryKv();
    next.durable = this.durable;
    return next;
  }
  unsyncedBatches(): number {
    return this.recent.length;
  }
  /** Simulated bit rot: flips one bit of one stored value. Returns the key, or null when empty. */
  flipBit(pick: (bound: number) => number): string | null {
    this.flush(this.recent.length);
    const keys = [...this.durable.keys()].sort();
    if (keys.length === 0) return null;
    const key = keys[pick(keys.length)]!;
    const value = new Uint8Array(this.durable.get(key)!);
    const bit = pick(value.length * 8);
    value[bit >>> 3]! ^= 1 << (bit & 7);
    this.durable.set(key, value);
    return key;
  }
  private flush(count: number): void {
    for (const batch of this.recent.splice(0, count)) {
      for (const op of batch) op.value === null ? this.durable.delete(op.key) : this.durable.set(op.key, op.value);
    }
  }
  private checkOpen(): void {
    if (this.closed) throw new Error('state store is closed');
  }
}
