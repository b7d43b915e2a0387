// RocksDB as a peer: the npm `rocksdb` binding (abstract-leveldown API) with its default
// options, every write synced ({ sync: true }: the WAL is fsynced before the callback). With
// concurrent writers RocksDB's own write group turns many synced puts into one WAL sync: its
// group commit, the fair thing to race Quire's. Each put runs on a libuv worker, so the number
// in flight is capped by UV_THREADPOOL_SIZE (the runner raises it, see lib/constants.ts).

import { createRequire } from 'node:module';
import { rm } from 'node:fs/promises';
import { assert } from '../../engine/assert.js';
import { driveWriters, makePayloads, type DriveResult } from './driver.js';

type Callback = (error?: Error | null) => void;
interface BatchOp {
  readonly type: 'put';
  readonly key: Buffer;
  readonly value: Buffer;
}
interface RocksDb {
  open(options: Record<string, unknown>, cb: Callback): void;
  close(cb: Callback): void;
  put(key: Buffer, value: Buffer, options: { sync: boolean }, cb: Callback): void;
  batch(ops: readonly BatchOp[], options: { sync: boolean }, cb: Callback): void;
}

const require = createRequire(import.meta.url);
// No type declarations ship with the binding; the interface above is the part used here.
const rocksdb = require('rocksdb') as (location: string) => RocksDb;

function call(fn: (cb: Callback) => void): Promise<void> {
  return new Promise((resolve, reject) => fn((error) => (error ? reject(error) : resolve())));
}

/** The options the peer runs with; written into the results' notes. */
export const rocksOpenOptions = { createIfMissing: true, errorIfExists: true } as const;

export interface RocksHandle {
  put(key: Buffer, value: Buffer): Promise<void>;
  batch(ops: readonly BatchOp[]): Promise<void>;
  close(): Promise<void>;
}

export async function openRocks(dir: string): Promise<RocksHandle> {
  const db = rocksdb(dir);
  await call((cb) => db.open({ ...rocksOpenOptions }, cb));
  const sync = { sync: true };
  return {
    put: (key, value) => call((cb) => db.put(key, value, sync, cb)),
    batch: (ops) => call((cb) => db.batch(ops, sync, cb)),
    close: () => call((cb) => db.close(cb)),
  };
}

/** Fixed-width keys in write order: the same key shape for every mode. */
function keyOf(index: number): Buffer {
  const key = Buffer.alloc(8);
  key.writeBigUInt64BE(BigInt(index));
  return key;
}

function asBuffer(payload: Uint8Array): Buffer {
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

export interface RocksSampleOptions {
  /** A fresh directory; the database is created in it and removed after the sample. */
  readonly dir: string;
  readonly payloadBytes: number;
  readonly writers: number;
  /** 1: synced puts; > 1: each write is one synced batch of this many puts. */
  readonly batchRecords: number;
  readonly durationMs: number;
  readonly writesMax: number;
}

/** One sample: open a fresh database, drive it, close and delete it. Only the driving is timed. */
export async function rocksSample(options: RocksSampleOptions): Promise<DriveResult> {
  const { dir, payloadBytes, writers, batchRecords, durationMs, writesMax } = options;
  assert(batchRecords >= 1, 'batchRecords');
  // Distinct values inside a batch, so a batch is not one value repeated.
  const batchValues = batchRecords === 1 ? [] : makePayloads(payloadBytes, batchRecords).map(asBuffer);
  const db = await openRocks(dir);
  try {
    const write =
      batchRecords === 1
        ? (payload: Uint8Array, index: number) => db.put(keyOf(index), asBuffer(payload))
        : (_payload: Uint8Array, index: number) => {
            const ops: BatchOp[] = [];
            for (let j = 0; j < batchRecords; j++) {
              ops.push({ type: 'put', key: keyOf(index * batchRecords + j), value: batchValues[(index + j) % batchRecords] });
            }
            return db.batch(ops);
          };
    return await driveWriters({ write, writers, payloadBytes, recordsPerWrite: batchRecords, durationMs, writesMax });
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}
