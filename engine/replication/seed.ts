// Reseed by snapshot: the files of a consistent snapshot of the active copy (its state store as
// of a batch boundary plus the log tail from there, MailboxDatabase.snapshot) are copied into a
// staging folder beside the target copy at disk speed, each file checked by CRC-32 (the bytes
// read from the source against the bytes read back from the synced copy, from the disk and not
// from the page cache that still holds what was just written) before the folder is
// swapped in. The staging folder records what it holds (`seed.json`), so an interrupted reseed
// (the CLI, the server or the machine stopped) goes on from the files already copied and
// verified: a state file (RocksDB files never change under one name, or are only appended to)
// or a log segment (only appended to) already there is kept, a partial one continues where it
// stopped; either is checked whole against the new snapshot.

import { constants } from 'node:fs';
import { copyFile, open, readFile, rename, rm, stat, writeFile, mkdir, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { crc32 } from 'node:zlib';

/** What the staging folder holds, written after each verified file. */
export const seedProgressName = 'seed.json';
const chunkBytes = 4 * 1024 * 1024;

export interface SnapshotFile {
  /** Relative to the snapshot's folder: state/<name> or log/<segment>. */
  readonly path: string;
  readonly bytes: number;
}

interface SeedProgress {
  /** The copy the files came from: files from another copy are never reused. */
  readonly source: string;
  /** CRC-32 (zlib's, native: the check of a copy, where the engine's WASM CRC32C is 4x slower). */
  readonly verified: Record<string, { bytes: number; crc32: number }>;
}

export interface SeedCopyOptions {
  /** The copy the snapshot was taken of (files staged from another copy are thrown away). */
  readonly source: string;
  /** Bytes done so far (kept from an earlier run + copied now), and of them copied by this run. */
  readonly onProgress?: (bytesDone: number, bytesCopied: number) => void;
  /** Throttle (bytes per second); default: as fast as the disks go. */
  readonly bytesPerSecondMax?: number;
}

export interface SeedCopyResult {
  readonly bytesTotal: number;
  /** Bytes taken from an earlier, interrupted run (verified files, or the prefix of a partial one). */
  readonly bytesReused: number;
  readonly bytesCopied: number;
  readonly files: number;
  readonly ms: number;
}

export class SeedVerifyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeedVerifyError';
  }
}

async function readProgress(staging: string, source: string): Promise<SeedProgress> {
  try {
    const parsed = JSON.parse(await readFile(join(staging, seedProgressName), 'utf8')) as SeedProgress;
    if (parsed.source === source && typeof parsed.verified === 'object' && parsed.verified !== null) return parsed;
  } catch {
    // none yet, or unreadable: start from nothing
  }
  await rm(staging, { recursive: true, force: true });
  return { source, verified: {} };
}

async function writeProgress(staging: string, progress: SeedProgress): Promise<void> {
  const path = join(staging, seedProgressName);
  const temp = `${path}.tmp`;
  await writeFile(temp, JSON.stringify(progress));
  const handle = await open(temp, 'r+');
  await handle.sync().finally(() => handle.close());
  await rename(temp, path);
}

/**
 * Opens a file to read it from the disk (O_DIRECT): a read-back through the page cache would
 * only see the pages just written and could never fail. A file system that refuses O_DIRECT
 * (tmpfs on older kernels) is read through the cache.
 */
async function openUncached(path: string): Promise<FileHandle> {
  return open(path, constants.O_RDONLY | constants.O_DIRECT).catch(() => open(path, 'r'));
}

/** A buffer aligned for O_DIRECT (a WebAssembly memory's base is page-aligned, a Buffer's is not). */
function alignedBuffer(bytes: number): Buffer {
  return Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) }).buffer, 0, bytes);
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return -1;
  }
}

/**
 * Whether a staged file from an earlier run can be kept or continued: log segments are only
 * appended to, and RocksDB's files are immutable (SST, OPTIONS) or append-only under one name
 * (WAL, MANIFEST: a reopen starts new ones). CURRENT is rewritten: always copied. Whatever is
 * kept is checked with the whole file against the new snapshot, so a wrong guess costs a copy.
 */
function continuable(path: string): boolean {
  return !path.endsWith('/CURRENT');
}

/**
 * Copies the snapshot's files from `snapshotDir` into `staging`, verifying each, and resuming an
 * earlier run's staging folder. Resolves once every file is copied, synced and verified.
 */
export async function copySnapshot(snapshotDir: string, staging: string, files: readonly SnapshotFile[], options: SeedCopyOptions): Promise<SeedCopyResult> {
  const started = performance.now();
  const progress = await readProgress(staging, options.source);
  await mkdir(staging, { recursive: true });
  // Recorded before the first byte, so a run stopped inside its first file is continued too.
  await writeProgress(staging, progress);
  const wanted = new Set(files.map((f) => f.path));
  // Files of an older snapshot that this one does not have (compacted SST files, truncated segments).
  for (const path of Object.keys(progress.verified)) {
    if (!wanted.has(path)) {
      delete progress.verified[path];
      await rm(join(staging, path), { force: true });
    }
  }
  const bytesTotal = files.reduce((sum, f) => sum + f.bytes, 0);
  let done = 0;
  let reused = 0;
  let copied = 0;
  const throttle = async (): Promise<void> => {
    const rate = options.bytesPerSecondMax;
    if (rate === undefined || rate <= 0) return;
    const aheadMs = (copied / rate) * 1000 - (performance.now() - started);
    if (aheadMs > 0) await new Promise((resolve) => setTimeout(resolve, aheadMs));
  };
  // A throttled copy moves in smaller steps, so its progress (and its pauses) stay smooth.
  const step = options.bytesPerSecondMax === undefined ? chunkBytes : Math.min(chunkBytes, Math.max(64 * 1024, Math.floor(options.bytesPerSecondMax / 8)));
  const direct = alignedBuffer(chunkBytes);
  /** Copies one file (its first `have` bytes are already staged), syncs it and reads it back from the disk; returns its CRC-32. */
  const copyOne = async (file: SnapshotFile, have: number): Promise<number> => {
    const target = join(staging, file.path);
    if (have === 0 && options.bytesPerSecondMax === undefined) {
      // A whole file, unthrottled: the kernel copies it (copy_file_range), then both are read for the check.
      await copyFile(join(snapshotDir, file.path), target);
      copied += file.bytes;
    }
    const source = await open(join(snapshotDir, file.path), 'r');
    const out = await open(target, 'r+').catch(() => open(target, 'w+'));
    const fresh = have === 0 && options.bytesPerSecondMax === undefined;
    let crc = 0;
    try {
      const buffer = Buffer.allocUnsafe(chunkBytes);
      let position = 0;
      while (position < file.bytes) {
        const length = Math.min(step, file.bytes - position);
        const { bytesRead } = await source.read(buffer, 0, length, position);
        if (bytesRead !== length) throw new Error(`${file.path}: the snapshot file ended at ${position + bytesRead} of ${file.bytes} bytes`);
        const chunk = buffer.subarray(0, length);
        crc = crc32(chunk, crc);
        if (fresh) {
          // copied by the kernel above
        } else if (position + length > have) {
          // Below `have` the staged bytes stand (checked with the whole file below).
          const from = Math.max(0, have - position);
          await out.write(chunk, from, length - from, position + from);
          copied += length - from;
          reused += from;
          await throttle();
        } else reused += length;
        position += length;
        done += length;
        options.onProgress?.(done, copied);
      }
      await out.truncate(file.bytes);
      await out.sync();
      // Read the synced copy back from the disk: what is there must be what was read from the snapshot.
      const disk = await openUncached(target);
      let back = 0;
      try {
        // Whole aligned chunks (O_DIRECT): the last read stops short at the file's end.
        for (let at = 0; at < file.bytes; at += chunkBytes) {
          const { bytesRead } = await disk.read(direct, 0, chunkBytes, at);
          back = crc32(direct.subarray(0, Math.min(bytesRead, file.bytes - at)), back);
          if (bytesRead < Math.min(chunkBytes, file.bytes - at)) break;
        }
      } finally {
        await disk.close();
      }
      if (back !== crc) {
        await out.truncate(0);
        throw new SeedVerifyError(`${file.path}: the copy reads back with CRC-32 ${back.toString(16)}, the snapshot has ${crc.toString(16)}`);
      }
      return crc;
    } finally {
      await source.close();
      await out.close();
    }
  };
  // The log first: the bulk of a young copy, and what an interrupted run can always keep.
  const ordered = [...files.filter((f) => f.path.startsWith('log/')), ...files.filter((f) => !f.path.startsWith('log/'))];
  for (const file of ordered) {
    const target = join(staging, file.path);
    const known = progress.verified[file.path];
    if (known !== undefined && known.bytes === file.bytes && continuable(file.path) && (await sizeOf(target)) === file.bytes) {
      done += file.bytes;
      reused += file.bytes;
      options.onProgress?.(done, copied);
      continue;
    }
    delete progress.verified[file.path];
    await mkdir(dirname(target), { recursive: true });
    let have = continuable(file.path) ? Math.max(0, await sizeOf(target)) : 0;
    if (have > file.bytes) have = 0;
    const before = { done, reused, copied };
    let crc: number;
    try {
      crc = await copyOne(file, have);
    } catch (error) {
      // A staged prefix that does not match (a machine that lost unsynced writes): copy it whole.
      if (!(error instanceof SeedVerifyError) || have === 0) throw error;
      ({ done, reused, copied } = before);
      crc = await copyOne(file, 0);
    }
    progress.verified[file.path] = { bytes: file.bytes, crc32: crc };
    await writeProgress(staging, progress);
  }
  for (const dir of new Set(files.map((f) => dirname(join(staging, f.path))).concat(staging))) {
    const handle = await open(dir, 'r');
    await handle.sync().finally(() => handle.close());
  }
  return { bytesTotal, bytesReused: reused, bytesCopied: copied, files: files.length, ms: performance.now() - started };
}
