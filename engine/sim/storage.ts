// An in-memory disk that fails the way real disks do, for the simulator (TigerBeetle's
// testing/storage.zig is the model). Each file keeps the bytes that survived the last fsync
// ("durable") and the writes made since; a power loss keeps, loses or tears each of those
// writes independently. Directory entries are durable only after syncDir. Every choice comes
// from the Prng the simulator passes in, so one seed always produces the same disk.

import { assert } from '../assert.js';
import type { Prng, Storage, StorageFile } from '../io.js';

/** An I/O error the simulator injects (the EIO a failing disk returns). */
export class SimIoError extends Error {
  readonly code = 'EIO';
  constructor(readonly op: string, readonly path: string) {
    super(`EIO (simulated) in ${op} ${path}`);
    this.name = 'SimIoError';
  }
}

type PendingOp = { readonly kind: 'write'; readonly offset: number; readonly data: Uint8Array } | { readonly kind: 'truncate'; readonly size: number };

/** One inode: what the platter holds, and what the page cache shows on top of it. */
class SimInode {
  durable: Uint8Array;
  current: Uint8Array;
  pending: PendingOp[] = [];
  constructor(bytes: Uint8Array = new Uint8Array(0)) {
    this.durable = bytes;
    this.current = new Uint8Array(bytes);
  }
}

export interface SimStorageStats {
  ops: number;
  crashes: number;
  writesKept: number;
  writesLost: number;
  writesTorn: number;
  filesLost: number;
  ioErrors: number;
  bitFlips: number;
}

export interface CrashOptions {
  /** Probability that the lost part of a torn write reads back as garbage rather than zeros or nothing. */
  readonly tornGarbageProbability?: number;
}

export interface FlipResult {
  readonly path: string;
  readonly offset: number;
  readonly bit: number;
}

function applyOp(bytes: Uint8Array, op: PendingOp): Uint8Array {
  if (op.kind === 'truncate') {
    if (op.size <= bytes.length) return bytes.slice(0, op.size);
    const grown = new Uint8Array(op.size);
    grown.set(bytes);
    return grown;
  }
  const end = op.offset + op.data.length;
  const out = end > bytes.length ? new Uint8Array(end) : bytes;
  if (out !== bytes) out.set(bytes);
  out.set(op.data, op.offset);
  return out;
}

const parentOf = (path: string): string => {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
};
const nameOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

export class SimStorage implements Storage {
  /** The namespace as the running process sees it. */
  private entries = new Map<string, SimInode>();
  /** The namespace as it would be after a power loss (changed only by syncDir and writeAtomic). */
  private durableEntries = new Map<string, SimInode>();
  private readonly dirs = new Set<string>();
  /** Bumped at every crash: handles of an older generation belong to a dead process. */
  private generation = 0;
  private failAtOp = -1;
  private crashAtOp = -1;
  private crashHook: (() => void) | null = null;
  readonly stats: SimStorageStats = { ops: 0, crashes: 0, writesKept: 0, writesLost: 0, writesTorn: 0, filesLost: 0, ioErrors: 0, bitFlips: 0 };

  constructor(private readonly prng: Prng, private readonly crashOptions: CrashOptions = {}) {}

  // ------------------------------------------------------------------ fault hooks

  /** The `n`th I/O call from now (1 = the next one) throws an EIO-like error. */
  failAfterOps(n: number): void {
    assert(n >= 1, 'failAfterOps counts from 1');
    this.failAtOp = this.stats.ops + n;
  }

  /** Power loss during the `n`th I/O call from now: that call never returns, `hook` runs, the disk crashes. */
  crashAfterOps(n: number, hook: () => void): void {
    assert(n >= 1, 'crashAfterOps counts from 1');
    this.crashAtOp = this.stats.ops + n;
    this.crashHook = hook;
  }

  disarm(): void {
    this.failAtOp = -1;
    this.crashAtOp = -1;
    this.crashHook = null;
  }

  /** Power loss now: every unsynced write is kept, lost or torn; unsynced directory entries revert. */
  crash(): void {
    this.disarm();
    this.generation += 1;
    this.stats.crashes += 1;
    const garbage = this.crashOptions.tornGarbageProbability ?? 0.5;
    const survivors = new Map<string, SimInode>();
    for (const [path, inode] of this.durableEntries) survivors.set(path, inode);
    for (const path of this.entries.keys()) if (!survivors.has(path)) this.stats.filesLost += 1;
    const seen = new Set<SimInode>();
    for (const inode of survivors.values()) {
      if (seen.has(inode)) continue;
      seen.add(inode);
      let bytes = inode.durable;
      for (const op of inode.pending) {
        const fate = this.prng.below(3);
        if (fate === 0) {
          this.stats.writesKept += 1;
          bytes = applyOp(bytes, op);
        } else if (fate === 1 || op.kind === 'truncate') {
          this.stats.writesLost += 1;
        } else {
          this.stats.writesTorn += 1;
          bytes = this.tear(bytes, op, garbage);
        }
      }
      inode.durable = bytes;
      inode.current = new Uint8Array(bytes);
      inode.pending = [];
    }
    // Inodes that lost their last durable name are gone with their data.
    this.entries = new Map(survivors);
    this.durableEntries = new Map(survivors);
  }

  /**
   * A torn write: a prefix reaches the disk (cut at any byte, as sectors land out of order and
   * the cut is where the power went). The rest is either never written (the file may still have
   * grown: it reads back as zeros), or lands as garbage.
   */
  private tear(bytes: Uint8Array, op: PendingOp & { kind: 'write' }, garbageProbability: number): Uint8Array {
    const kept = this.prng.below(op.data.length);
    let out = applyOp(bytes, { kind: 'write', offset: op.offset, data: op.data.subarray(0, kept) });
    const tail = op.data.length - kept;
    const shape = this.prng.next();
    if (shape < garbageProbability) {
      const junkBytes = 1 + this.prng.below(tail);
      out = applyOp(out, { kind: 'write', offset: op.offset + kept, data: this.prng.bytes(junkBytes) });
    } else if (shape < garbageProbability + (1 - garbageProbability) / 2) {
      // The size grew but the data did not land: zeros.
      out = applyOp(out, { kind: 'write', offset: op.offset + kept, data: new Uint8Array(tail) });
    }
    return out;
  }

  /** Bit rot: flips one bit of one durable byte of a file chosen by `filter`. Null when no file qualifies. */
  flipBit(prng: Prng, filter: (path: string) => boolean): FlipResult | null {
    const candidates = [...this.durableEntries.entries()].filter(([path, inode]) => filter(path) && inode.durable.length > 0).sort(([a], [b]) => (a < b ? -1 : 1));
    if (candidates.length === 0) return null;
    const [path, inode] = candidates[prng.below(candidates.length)]!;
    const offset = prng.below(inode.durable.length);
    const bit = prng.below(8);
    inode.durable = new Uint8Array(inode.durable);
    inode.durable[offset]! ^= 1 << bit;
    // The medium changed under the cache: reads see it too unless a newer write covers the byte.
    if (offset < inode.current.length && inode.pending.length === 0) inode.current[offset]! ^= 1 << bit;
    this.stats.bitFlips += 1;
    return { path, offset, bit };
  }

  /** The durable bytes of a file (tests and the simulator's reports), or null. */
  durableBytes(path: string): Uint8Array | null {
    return this.durableEntries.get(path)?.durable ?? null;
  }

  paths(): string[] {
    return [...this.entries.keys()].sort();
  }

  // ------------------------------------------------------------------ the Storage interface

  /**
   * Every I/O call passes here: it counts the call, and injects the armed fault. A call from a
   * handle of a crashed generation, or the call the power fails in, never returns (the process
   * is dead), so nothing after it runs.
   */
  private async op<T>(name: string, path: string, generation: number, body: () => T): Promise<T> {
    if (generation !== this.generation) return new Promise<T>(() => {});
    this.stats.ops += 1;
    if (this.stats.ops === this.crashAtOp) {
      const hook = this.crashHook;
      this.crash();
      hook?.();
      return new Promise<T>(() => {});
    }
    if (this.stats.ops === this.failAtOp) {
      this.failAtOp = -1;
      this.stats.ioErrors += 1;
      throw new SimIoError(name, path);
    }
    // One microtask of "disk latency", so concurrent callers interleave as they would on a real disk.
    await Promise.resolve();
    if (generation !== this.generation) return new Promise<T>(() => {});
    return body();
  }

  open(path: string, options: { create: boolean }): Promise<StorageFile> {
    const generation = this.generation;
    return this.op('open', path, generation, () => {
      let inode = this.entries.get(path);
      if (inode === undefined) {
        if (!options.create) throw Object.assign(new Error(`ENOENT (simulated): ${path}`), { code: 'ENOENT' });
        assert(this.dirs.has(parentOf(path)), `open(create) in missing directory ${parentOf(path)}`);
        inode = new SimInode();
        this.entries.set(path, inode);
      }
      return new SimFile(this, path, inode, generation);
    });
  }

  list(dir: string): Promise<string[]> {
    return this.op('list', dir, this.generation, () => [...this.entries.keys()].filter((p) => parentOf(p) === dir).map(nameOf).sort());
  }

  exists(path: string): Promise<boolean> {
    return this.op('exists', path, this.generation, () => this.entries.has(path) || this.dirs.has(path));
  }

  /** Directories are durable at once: the engine creates them at open, before anything depends on them. */
  mkdirp(dir: string): Promise<void> {
    return this.op('mkdirp', dir, this.generation, () => {
      for (let d = dir; d !== '/' && d !== '.' && d !== ''; d = parentOf(d)) this.dirs.add(d);
    });
  }

  remove(path: string): Promise<void> {
    return this.op('remove', path, this.generation, () => {
      this.entries.delete(path);
      for (const p of [...this.entries.keys()]) if (p.startsWith(path + '/')) this.entries.delete(p);
    });
  }

  syncDir(dir: string): Promise<void> {
    return this.op('syncDir', dir, this.generation, () => {
      for (const p of [...this.durableEntries.keys()]) if (parentOf(p) === dir && !this.entries.has(p)) this.durableEntries.delete(p);
      for (const [p, inode] of this.entries) if (parentOf(p) === dir) this.durableEntries.set(p, inode);
    });
  }

  /** temp + fsync + rename + fsync(dir): all or nothing, and durable when it resolves. */
  writeAtomic(path: string, data: Uint8Array): Promise<void> {
    return this.op('writeAtomic', path, this.generation, () => {
      assert(this.dirs.has(parentOf(path)), `writeAtomic in missing directory ${parentOf(path)}`);
      const inode = new SimInode(new Uint8Array(data));
      this.entries.set(path, inode);
      this.durableEntries.set(path, inode);
    });
  }

  readAll(path: string): Promise<Uint8Array | null> {
    return this.op('readAll', path, this.generation, () => {
      const inode = this.entries.get(path);
      return inode === undefined ? null : new Uint8Array(inode.current);
    });
  }

  /** A hard link: the new name shares the inode (and its unsynced writes). */
  link(existing: string, newPath: string): Promise<void> {
    return this.op('link', newPath, this.generation, () => {
      const inode = this.entries.get(existing);
      if (inode === undefined) throw Object.assign(new Error(`ENOENT (simulated): ${existing}`), { code: 'ENOENT' });
      assert(this.dirs.has(parentOf(newPath)), `link in missing directory ${parentOf(newPath)}`);
      this.entries.set(newPath, inode);
    });
  }

  /** The simulated disk's free space: set by a test (default 1 TiB, so the low-disk guard never trips). */
  freeBytesNow = 2 ** 40;

  freeBytes(path: string): Promise<number> {
    return this.op('freeBytes', path, this.generation, () => this.freeBytesNow);
  }

  // ------------------------------------------------------------------ for SimFile

  /** @internal */
  fileOp<T>(file: SimFile, name: string, body: () => T): Promise<T> {
    assert(!file.closed, `${name} on closed file ${file.path}`);
    return this.op(name, file.path, file.generation, body);
  }
}

export class SimFile implements StorageFile {
  closed = false;
  constructor(private readonly storage: SimStorage, readonly path: string, private readonly inode: SimInode, readonly generation: number) {}

  size(): Promise<number> {
    return this.storage.fileOp(this, 'size', () => this.inode.current.length);
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.storage.fileOp(this, 'read', () => this.inode.current.slice(offset, Math.min(offset + length, this.inode.current.length)));
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    // Copy now: the caller may reuse its buffer once the call returns.
    const op: PendingOp = { kind: 'write', offset, data: new Uint8Array(data) };
    return this.storage.fileOp(this, 'write', () => {
      this.inode.pending.push(op);
      this.inode.current = applyOp(this.inode.current, op);
    });
  }
  sync(): Promise<void> {
    return this.storage.fileOp(this, 'sync', () => {
      this.inode.durable = new Uint8Array(this.inode.current);
      this.inode.pending = [];
    });
  }
  truncate(size: number): Promise<void> {
    const op: PendingOp = { kind: 'truncate', size };
    return this.storage.fileOp(this, 'truncate', () => {
      this.inode.pending.push(op);
      this.inode.current = applyOp(this.inode.current, op);
    });
  }
  close(): Promise<void> {
    return this.storage.fileOp(this, 'close', () => {
      this.closed = true;
    });
  }
}
