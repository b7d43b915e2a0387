// RocksDB (npm `rocksdb`) as the state store. Writes are not synced: the transaction log is
// the write-ahead log, and the checkpoint key written in the same atomic batch as the state
// says how far the state got, so recovery replays the log from there. (The binding cannot turn
// RocksDB's own WAL off; it costs a page-cache write per batch and never an fsync.)

import { copyFile, link, mkdir, open, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type KvCheckpoint, type KvOp, type KvStore, seal, unseal } from './kv.js';

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

async function openHandle(location: string): Promise<RocksHandle> {
  const db = rocksdb(location);
  await new Promise<void>((resolve, reject) =>
    db.open({ createIfMissing: true, errorIfExists: false, infoLogLevel: 'error' }, (error) => (error ? reject(error) : resolve())),
  );
  return db;
}

export async function openRocksKv(location: string): Promise<KvStore> {
  return new RocksKv(location, await openHandle(location));
}

// The binding stores a plain Uint8Array as its string form; it must be handed a Buffer.
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Written with sync: true to make every earlier write durable; read by nothing. */
const syncMarkerKey = '!sync';

class RocksKv implements KvStore {
  /** Calls running now; a checkpoint waits for 0 and holds new calls at `gate` meanwhile. */
  private inFlight = 0;
  private idle: (() => void) | null = null;
  private gate: Promise<void> | null = null;

  constructor(private readonly location: string, private db: RocksHandle) {}

  private async enter(): Promise<void> {
    while (this.gate !== null) await this.gate;
    this.inFlight += 1;
  }

  private leave(): void {
    this.inFlight -= 1;
    if (this.inFlight === 0) this.idle?.();
  }

  private async guarded<T>(body: () => Promise<T>): Promise<T> {
    await this.enter();
    try {
      return await body();
    } finally {
      this.leave();
    }
  }

  /**
   * A consistent copy of the store in `target` (the binding has no RocksDB Checkpoint API):
   * calls are held and the running ones finish, so the store sits at a batch boundary; RocksDB
   * is closed (its files stop changing), every SST file (immutable) is hard-linked and the few
   * others (MANIFEST, CURRENT, OPTIONS, the WAL) are copied and synced; `during` runs while
   * nothing can write (the database links its log tail there); then RocksDB is opened again and
   * the held calls go on. The pause is the close, the links and the reopen.
   */
  async checkpoint(target: string, during: () => Promise<void>): Promise<KvCheckpoint> {
    while (this.gate !== null) await this.gate;
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => (release = resolve));
    try {
      if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
      this.idle = null;
      const started = performance.now();
      await new Promise<void>((resolve, reject) => this.db.close((error) => (error ? reject(error) : resolve())));
      const files: Array<{ name: string; bytes: number }> = [];
      try {
        await mkdir(target, { recursive: true });
        for (const name of (await readdir(this.location)).sort()) {
          if (name === 'LOCK' || name.startsWith('LOG')) continue; // the lock and RocksDB's info log
          const from = join(this.location, name);
          const to = join(target, name);
          if (name.endsWith('.sst')) await link(from, to);
          else {
            await copyFile(from, to);
            const handle = await open(to, 'r+');
            await handle.sync().finally(() => handle.close());
          }
          files.push({ name, bytes: (await stat(to)).size });
        }
        const dir = await open(target, 'r');
        await dir.sync().finally(() => dir.close());
        await during();
      } finally {
        this.db = await openHandle(this.location);
      }
      return { files, pauseMs: performance.now() - started };
    } finally {
      this.gate = null;
      release();
    }
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.guarded(() => this.getNow(key));
  }

  private getNow(key: string): Promise<Uint8Array | undefined> {
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
    return this.guarded(() => new Promise((resolve, reject) => this.db.batch(batch, { sync: false }, (error) => (error ? reject(error) : resolve()))));
  }

  /** A synced write syncs RocksDB's WAL, and with it every write before it. */
  sync(): Promise<void> {
    const marker = [{ type: 'put' as const, key: syncMarkerKey, value: asBuffer(seal(new Uint8Array(0))) }];
    return this.guarded(() => new Promise((resolve, reject) => this.db.batch(marker, { sync: true }, (error) => (error ? reject(error) : resolve()))));
  }

  async *scan(prefix: string): AsyncIterable<[string, Uint8Array]> {
    await this.enter();
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
      this.leave();
    }
  }

  async close(): Promise<void> {
    while (this.gate !== null) await this.gate;
    return new Promise((resolve, reject) => this.db.close((error) => (error ? reject(error) : resolve())));
  }
}
