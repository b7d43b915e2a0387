// RocksDB (npm `rocksdb`) as the state store. Writes are not synced: the transaction log is
// the write-ahead log, and the checkpoint key written in the same atomic batch as the state
// says how far the state got, so recovery replays the log from there. (The binding cannot turn
// RocksDB's own WAL off; it costs a page-cache write per batch and never an fsync.)

import { createRequire } from 'node:module';
import { type KvOp, type KvStore, seal, unseal } from './kv.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-var-requires
const rocksdb = require('rocksdb') as (location: string) => RocksHandle;

interface RocksIterator {
  next(cb: (error: Error | undefined, key?: Buffer, value?: Buffer) => void): void;
  end(cb: (error?: Error) => void): void;
}
interface RocksHandle {
  open(options: Record<string, unknown>, cb: (error?: Error) => void): void;
  close(cb: (error?: Error) => void): void;
  get(key: string, options: Record<string, unknown>, cb: (error: (Error & { notFound?: boolean }) | undefined, value?: Buffer) => void): void;
  batch(ops: Array<{ type: 'put' | 'del'; key: string; value?: Uint8Array }>, options: Record<string, unknown>, cb: (error?: Error) => void): void;
  iterator(options: Record<string, unknown>): RocksIterator;
}

export async function openRocksKv(location: string): Promise<KvStore> {
  const db = rocksdb(location);
  await new Promise<void>((resolve, reject) =>
    db.open({ createIfMissing: true, errorIfExists: false, infoLogLevel: 'error' }, (error) => (error ? reject(error) : resolve())),
  );
  return new RocksKv(db);
}

// The binding stores a plain Uint8Array as its string form; it must be handed a Buffer.
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Written with sync: true to make every earlier write durable; read by nothing. */
const syncMarkerKey = '!sync';

class RocksKv implements KvStore {
  constructor(private readonly db: RocksHandle) {}

  get(key: string): Promise<Uint8Array | undefined> {
    return new Promise((resolve, reject) =>
      this.db.get(key, { asBuffer: true, fillCache: true }, (error, value) => {
        if (error) return error.notFound || /NotFound/.test(error.message) ? resolve(undefined) : reject(error);
        try {
          resolve(unseal(key, new Uint8Array(value!)));
        } catch (corruption) {
          reject(corruption);
        }
      }),
    );
  }

  write(ops: readonly KvOp[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    const batch = ops.map((op) =>
      op.value === null ? { type: 'del' as const, key: op.key } : { type: 'put' as const, key: op.key, value: asBuffer(seal(op.value)) },
    );
    return new Promise((resolve, reject) => this.db.batch(batch, { sync: false }, (error) => (error ? reject(error) : resolve())));
  }

  /** A synced write syncs RocksDB's WAL, and with it every write before it. */
  sync(): Promise<void> {
    const marker = [{ type: 'put' as const, key: syncMarkerKey, value: asBuffer(seal(new Uint8Array(0))) }];
    return new Promise((resolve, reject) => this.db.batch(marker, { sync: true }, (error) => (error ? reject(error) : resolve())));
  }

  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    const iterator = this.db.iterator({ gte: prefix, lt: prefix + '\uffff', keyAsBuffer: false, valueAsBuffer: true });
    try {
      for (;;) {
        const entry = await new Promise<[string, Buffer] | null>((resolve, reject) =>
          iterator.next((error, key, value) => (error ? reject(error) : resolve(key === undefined ? null : [String(key), value!]))),
        );
        if (entry === null) return;
        yield [entry[0], unseal(entry[0], new Uint8Array(entry[1]))];
      }
    } finally {
      await new Promise<void>((resolve) => iterator.end(() => resolve()));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((error) => (error ? reject(error) : resolve())));
  }
}
