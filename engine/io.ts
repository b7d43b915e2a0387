// Every source of time, randomness and disk I/O the engine uses comes through these
// interfaces, so the simulator can run the same engine code on virtual time, a seeded
// random stream and a faulty in-memory disk. The engine never calls Date.now,
// Math.random, timers or node:fs itself; only the node* factories at the bottom do.

import { promises as fsp, constants as fsc, writeSync } from 'node:fs';
import { syncWriteBytesMax } from './constants.js';
import { basename, dirname, join } from 'node:path';
import { randomBytes as nodeRandomBytes } from 'node:crypto';

export interface Clock {
  /** Wall-clock milliseconds since the epoch; stamped into events once, at append. */
  nowMs(): number;
  /** Monotonic milliseconds for measuring durations. */
  monoMs(): number;
  /** Resolves after `ms` of (possibly virtual) time. */
  sleep(ms: number): Promise<void>;
}

export interface Prng {
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, bound). */
  below(bound: number): number;
  bytes(count: number): Uint8Array;
}

/** One open file. Writes are positional; nothing is durable until `sync` resolves. */
export interface StorageFile {
  readonly path: string;
  size(): Promise<number>;
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** fdatasync: every write before it is durable once it resolves. */
  sync(): Promise<void>;
  truncate(size: number): Promise<void>;
  close(): Promise<void>;
}

export interface Storage {
  open(path: string, options: { create: boolean }): Promise<StorageFile>;
  /** Names (not paths) of the entries of a directory; [] if it does not exist. */
  list(dir: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
  mkdirp(dir: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Makes a directory's entries (created, renamed, removed files) durable. */
  syncDir(dir: string): Promise<void>;
  /** Replaces a small file atomically and durably (write temp, fsync, rename, fsync dir). */
  writeAtomic(path: string, data: Uint8Array): Promise<void>;
  /** Whole small file, or null if missing. */
  readAll(path: string): Promise<Uint8Array | null>;
  /** A second name for an existing file (a hard link: same bytes, no copy). Not durable until syncDir. */
  link(existing: string, newPath: string): Promise<void>;
  /** Bytes free for this process on the file system holding `path` (the low-disk guard reads it). */
  freeBytes(path: string): Promise<number>;
}

// ---------------------------------------------------------------- node implementations

export function systemClock(): Clock {
  return {
    nowMs: () => Date.now(),
    monoMs: () => performance.now(),
    // sleep(0) is a yield to the event loop (setImmediate: after pending I/O, without a timer's 1 ms).
    sleep: (ms) => new Promise((resolve) => (ms <= 0 ? setImmediate(resolve) : setTimeout(resolve, ms))),
  };
}

/** xoshiro128** seeded through splitmix32: small, fast, and the same stream on every machine. */
export function seededPrng(seed: number): Prng {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix(), b = splitmix(), c = splitmix(), d = splitmix();
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t;
    d = rotl(d, 11);
    return result;
  };
  return {
    nextU32,
    next: () => nextU32() / 4294967296,
    below: (bound) => Math.floor((nextU32() / 4294967296) * bound),
    bytes: (count) => {
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) out[i] = nextU32() & 0xff;
      return out;
    },
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Randomness for ids and UIDVALIDITY in production: the OS's generator behind the Prng face. */
export function systemPrng(): Prng {
  // Drawn from the system's generator 4 KiB at a time, not per id (a delivery's plan draws several).
  let pool = Buffer.alloc(0);
  let at = 0;
  const take = (count: number): Buffer => {
    if (at + count > pool.length) {
      pool = nodeRandomBytes(Math.max(4096, count));
      at = 0;
    }
    at += count;
    return pool.subarray(at - count, at);
  };
  const u32 = (): number => take(4).readUInt32LE(0);
  return {
    nextU32: u32,
    next: () => u32() / 4294967296,
    below: (bound) => Math.floor((u32() / 4294967296) * bound),
    bytes: (count) => new Uint8Array(take(count)),
  };
}

class NodeFile implements StorageFile {
  constructor(readonly path: string, private readonly handle: fsp.FileHandle) {}
  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? buffer : buffer.subarray(0, done);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    let done = 0;
    if (data.length <= syncWriteBytesMax) {
      // A small write only copies into the page cache: done here it takes microseconds, where a
      // trip through the thread pool waits for a thread and then for this event loop, which on
      // a busy machine costs milliseconds (and the log's commit path writes twice per batch).
      while (done < data.length) done += writeSync(this.handle.fd, data, done, data.length - done, offset + done);
      return;
    }
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  }
  sync(): Promise<void> {
    return this.handle.datasync();
  }
  truncate(size: number): Promise<void> {
    return this.handle.truncate(size);
  }
  close(): Promise<void> {
    return this.handle.close();
  }
}

export function nodeStorage(): Storage {
  return {
    async open(path, { create }) {
      const flags = create ? fsc.O_RDWR | fsc.O_CREAT : fsc.O_RDWR;
      return new NodeFile(path, await fsp.open(path, flags, 0o600));
    },
    async list(dir) {
      try {
        return await fsp.readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
    },
    async exists(path) {
      try {
        await fsp.access(path);
        return true;
      } catch {
        return false;
      }
    },
    async mkdirp(dir) {
      await fsp.mkdir(dir, { recursive: true });
    },
    async remove(path) {
      await fsp.rm(path, { force: true, recursive: true });
    },
    async syncDir(dir) {
      const handle = await fsp.open(dir, fsc.O_RDONLY);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
    async writeAtomic(path, data) {
      // Named after the file: two files of one directory may be written at once.
      const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
      const handle = await fsp.open(temp, 'w', 0o600);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(temp, path);
      await this.syncDir(dirname(path));
    },
    async readAll(path) {
      try {
        return new Uint8Array(await fsp.readFile(path));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async link(existing, newPath) {
      await fsp.link(existing, newPath);
    },
    async freeBytes(path) {
      const fs = await fsp.statfs(path);
      return fs.bavail * fs.bsize;
    },
  };
}
