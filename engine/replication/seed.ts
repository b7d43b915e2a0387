// Reseed by snapshot: the files of a consistent snapshot of the active copy (its state store as
// of a batch boundary plus the log tail from there, MailboxDatabase.snapshot) are copied into a
// staging folder beside the target copy, from a folder on this machine or read from the server
// holding the active copy (SnapshotSource), several files at once: each chunk is read from the
// snapshot, written to the copy with O_DIRECT and read back from the disk with O_DIRECT (not
// from the page cache, which would only show what was just written), and the bytes read back
// must be the bytes read from the snapshot, before the folder is swapped in (why a read-back and
// not checksums: engine/replication/README.md, "Verification"). The staging folder records what
// it holds (`seed.json`), so an interrupted reseed (the CLI, the server or the machine stopped)
// goes on from the files already copied and verified: a state file (RocksDB files never change
// under one name, or are only appended to) or a log segment (only appended to) already there is
// kept as it is (same name and size), a partial one continues where it stopped (from its last
// whole page), its staged prefix read back and compared against the new snapshot.

import { constants } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile, mkdir, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { crc32c } from '../checksum.js';

/** What the staging folder holds, written after each verified file. */
export const seedProgressName = 'seed.json';
/** The unit of reading, writing and reading back, and how many are in flight at once. */
const chunkBytes = 4 * 1024 * 1024;
const chunksInFlight = 4;

export interface SnapshotFile {
  /** Relative to the snapshot's folder: state/<name> or log/<segment>. */
  readonly path: string;
  readonly bytes: number;
}

interface SeedProgress {
  /** The copy the files came from: files from another copy are never reused. */
  readonly source: string;
  /** The files copied and read back the same as the snapshot's, by path. */
  readonly verified: Record<string, { bytes: number }>;
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

/**
 * Replaces the record (a temp file renamed over it). It is not synced: every file it names as
 * verified was synced before it was written, so a crash can only leave an older record (or none),
 * which costs copying again, never trusting bytes that were not on the disk.
 */
async function writeProgress(staging: string, progress: SeedProgress): Promise<void> {
  const path = join(staging, seedProgressName);
  const temp = `${path}.tmp`;
  await writeFile(temp, JSON.stringify(progress));
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

/** O_DIRECT's unit: offsets and lengths of direct I/O are multiples of it. */
const pageBytes = 4096;
const alignUp = (n: number): number => Math.ceil(n / pageBytes) * pageBytes;
const alignDown = (n: number): number => Math.floor(n / pageBytes) * pageBytes;

/** Opens the copy to write it straight to the disk (O_DIRECT); a file system that refuses it is written through the cache. */
async function openForDirectWrite(path: string): Promise<{ handle: FileHandle; direct: boolean }> {
  const flags = constants.O_WRONLY | constants.O_CREAT;
  try {
    return { handle: await open(path, flags | constants.O_DIRECT, 0o644), direct: true };
  } catch {
    return { handle: await open(path, flags, 0o644), direct: false };
  }
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
 * (WAL, MANIFEST: a reopen starts new ones). CURRENT and the content index's snapshot are
 * replaced under the same name: always copied. Whatever is
 * kept is checked with the whole file against the new snapshot, so a wrong guess costs a copy.
 */
function continuable(path: string): boolean {
  return !path.endsWith('/CURRENT') && !path.startsWith('search/');
}

/**
 * Where a snapshot's files are read from: a folder on this machine (`snapshotFolder`), or the
 * server holding the active copy (server/peers.ts, over HTTPS). Each file is read once, in order.
 */
export interface SnapshotSource {
  /**
   * Opens one file to read it in order from `from` (page-aligned; what an interrupted run
   * staged), answering the CRC32C of the bytes before it (`prefixChecksum`), or from its start
   * (no `prefixChecksum`): a source that is cheap to read again.
   */
  open(path: string, from: number): Promise<SnapshotReader>;
}

export interface SnapshotReader {
  /** Fills `into` with the file's next `length` bytes; fewer only where the file ends. */
  read(into: Buffer, length: number): Promise<number>;
  close(): Promise<void>;
  /** Opened past its start: the CRC32C of the file's bytes before that point. */
  readonly prefixChecksum?: number;
}

/** The snapshot in a folder on this machine (the active copy is under this supervisor): read from the start (a staged prefix is compared with its bytes). */
export function snapshotFolder(dir: string): SnapshotSource {
  return {
    async open(path) {
      const handle = await open(join(dir, path), 'r');
      let position = 0;
      return {
        async read(into, length) {
          let filled = 0;
          while (filled < length) {
            const { bytesRead } = await handle.read(into, filled, length - filled, position + filled);
            if (bytesRead === 0) break;
            filled += bytesRead;
          }
          position += filled;
          return filled;
        },
        close: () => handle.close(),
      };
    },
  };
}

/** Files copied at once: a snapshot of many small files is not a sequence of open, write, fsync. */
const filesInFlight = 4;

/**
 * Copies the snapshot's files (a folder, or a SnapshotSource) into `staging`, verifying each, and
 * resuming an earlier run's staging folder. Several files are copied at once (their chunks share
 * one pool), the log's first. Resolves once every file is copied, synced and verified.
 */
export async function copySnapshot(from: string | SnapshotSource, staging: string, files: readonly SnapshotFile[], options: SeedCopyOptions): Promise<SeedCopyResult> {
  const started = performance.now();
  const snapshot = typeof from === 'string' ? snapshotFolder(from) : from;
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
  // A throttled copy moves in smaller steps, so its progress (and its pauses) stay smooth;
  // every step is whole pages (O_DIRECT writes and reads need aligned offsets and lengths).
  const step = options.bytesPerSecondMax === undefined ? chunkBytes : Math.min(chunkBytes, Math.max(64 * 1024, alignDown(Math.floor(options.bytesPerSecondMax / 8))));
  /** Per chunk in flight (whatever file it belongs to): the snapshot's bytes, and the copy's bytes read back. */
  const free = Array.from({ length: chunksInFlight }, () => ({ data: alignedBuffer(chunkBytes), back: alignedBuffer(chunkBytes) }));
  const waiting: Array<() => void> = [];
  const acquire = async (): Promise<(typeof free)[number]> => {
    while (free.length === 0) await new Promise<void>((resolve) => waiting.push(resolve));
    return free.pop()!;
  };
  const giveBack = (slot: (typeof free)[number]): void => {
    free.push(slot);
    waiting.shift()?.();
  };
  /** The first failure stops every file (the others finish the chunks they have in flight). */
  let stopped: Error | null = null;
  /**
   * Copies one file (its first `have` bytes are already staged) in one pass. Chunk by chunk,
   * several in flight: the snapshot's bytes are read, written to the copy with O_DIRECT
   * (straight to the disk, not left dirty in the page cache for one long fsync), read back from
   * the disk with O_DIRECT, and both must be the same bytes (compared whole: stronger than a
   * checksum, and cheaper than checksumming both). The file is synced at its end.
   */
  const copyOne = async (file: SnapshotFile, have: number, tally: { done: number; reused: number; copied: number }): Promise<void> => {
    const target = join(staging, file.path);
    const source = await snapshot.open(file.path, have);
    const { handle: out, direct } = await openForDirectWrite(target).catch(async (error: Error) => {
      await source.close();
      throw error;
    });
    const disk = await openUncached(target);
    const inFlight = new Set<Promise<void>>();
    let failure: Error | null = null;
    /** Writes one chunk (unless below `have`), reads it back from the disk and compares; gives its buffers back. */
    const land = async (slot: (typeof free)[number], position: number, length: number): Promise<void> => {
      const buffer = slot.data;
      try {
        if (position + length > have) {
          // Below `have` the staged bytes stand (read back and checked like the rest). The last
          // chunk is written padded to whole pages and the file cut to its length after.
          const from = Math.max(0, have - position);
          const padded = direct ? alignUp(length) : length;
          if (padded > length) buffer.fill(0, length, padded);
          await out.write(buffer, from, padded - from, position + from);
        }
        const { bytesRead } = await disk.read(slot.back, 0, alignUp(length), position);
        if (bytesRead < length) throw new SeedVerifyError(`${file.path}: the copy reads back ${position + bytesRead} of ${file.bytes} bytes`);
        if (!slot.back.subarray(0, length).equals(buffer.subarray(0, length))) {
          let at = 0;
          while (slot.back[at] === buffer[at]) at += 1;
          throw new SeedVerifyError(`${file.path}: the copy reads back different bytes at ${position + at} than the snapshot has`);
        }
      } finally {
        giveBack(slot);
      }
    };
    try {
      // A source that starts at `have` vouches for the staged prefix by its CRC32C: it is read
      // back from the disk and checked against that (a mismatch copies the file whole).
      const resumeAt = source.prefixChecksum === undefined ? 0 : have;
      if (resumeAt > 0) {
        const slot = await acquire();
        try {
          let crc = 0;
          for (let position = 0; position < resumeAt; position += chunkBytes) {
            const length = Math.min(chunkBytes, resumeAt - position);
            const { bytesRead } = await disk.read(slot.back, 0, length, position);
            if (bytesRead < length) throw new SeedVerifyError(`${file.path}: the staged copy reads back ${position + bytesRead} of ${resumeAt} bytes`);
            crc = crc32c(slot.back.subarray(0, length), crc);
          }
          if (crc !== source.prefixChecksum) throw new SeedVerifyError(`${file.path}: the staged ${resumeAt} bytes are not the snapshot's (CRC32C)`);
        } finally {
          giveBack(slot);
        }
        reused += resumeAt;
        done += resumeAt;
        tally.reused += resumeAt;
        tally.done += resumeAt;
        options.onProgress?.(done, copied);
      }
      for (let position = resumeAt; position < file.bytes && failure === null && stopped === null; ) {
        const slot = await acquire();
        const length = Math.min(step, file.bytes - position);
        const bytesRead = await source.read(slot.data, length).catch((error: Error) => {
          giveBack(slot);
          throw error;
        });
        if (bytesRead !== length) {
          giveBack(slot);
          throw new Error(`${file.path}: the snapshot file ended at ${position + bytesRead} of ${file.bytes} bytes`);
        }
        const landed = land(slot, position, length).catch((error: Error) => {
          failure ??= error;
        });
        inFlight.add(landed);
        void landed.finally(() => inFlight.delete(landed));
        const kept = Math.min(length, Math.max(0, have - position));
        reused += kept;
        copied += length - kept;
        done += length;
        tally.reused += kept;
        tally.copied += length - kept;
        tally.done += length;
        position += length;
        options.onProgress?.(done, copied);
        if (position > have) await throttle();
      }
      await Promise.all(inFlight);
      // (Set by the chunks' callbacks: the compiler cannot see it.)
      const failed = (failure as Error | null) ?? stopped;
      if (failed !== null) {
        if (failed instanceof SeedVerifyError) await out.truncate(0);
        throw failed;
      }
      await out.truncate(file.bytes);
      await out.sync();
    } finally {
      // A failed copy: let the writes and reads in flight end before the files close.
      await Promise.allSettled([...inFlight]);
      await Promise.allSettled([source.close(), out.close(), disk.close()]);
    }
  };
  let recording: Promise<void> = Promise.resolve();
  /** One file, from its check of what an earlier run staged to its entry in the progress record. */
  const stage = async (file: SnapshotFile): Promise<void> => {
    const target = join(staging, file.path);
    const known = progress.verified[file.path];
    if (known !== undefined && known.bytes === file.bytes && continuable(file.path) && (await sizeOf(target)) === file.bytes) {
      done += file.bytes;
      reused += file.bytes;
      options.onProgress?.(done, copied);
      return;
    }
    delete progress.verified[file.path];
    await mkdir(dirname(target), { recursive: true });
    // A partial file goes on from its last whole page (direct writes are page-aligned; a file
    // longer than the snapshot's was stopped after its padded last page, before it was cut).
    const have = continuable(file.path) ? alignDown(Math.min(file.bytes, Math.max(0, await sizeOf(target)))) : 0;
    const tally = { done: 0, reused: 0, copied: 0 };
    try {
      await copyOne(file, have, tally);
    } catch (error) {
      // A staged prefix that does not match (a machine that lost unsynced writes): copy it whole.
      if (!(error instanceof SeedVerifyError) || have === 0 || stopped !== null) throw error;
      done -= tally.done;
      reused -= tally.reused;
      copied -= tally.copied;
      await copyOne(file, 0, { done: 0, reused: 0, copied: 0 });
    }
    progress.verified[file.path] = { bytes: file.bytes };
    recording = recording.then(() => writeProgress(staging, progress));
    await recording;
  };
  // The log first: the bulk of a young copy, and what an interrupted run can always keep.
  const queue = [...files.filter((f) => f.path.startsWith('log/')), ...files.filter((f) => !f.path.startsWith('log/'))];
  const lanes = Array.from({ length: Math.min(filesInFlight, queue.length) }, async () => {
    for (let file = queue.shift(); file !== undefined && stopped === null; file = queue.shift()) {
      await stage(file).catch((error: Error) => {
        stopped ??= error;
      });
    }
  });
  await Promise.all(lanes);
  await recording.catch(() => {});
  if (stopped !== null) throw stopped;
  for (const dir of new Set(files.map((f) => dirname(join(staging, f.path))).concat(staging))) {
    const handle = await open(dir, 'r');
    await handle.sync().finally(() => handle.close());
  }
  return { bytesTotal, bytesReused: reused, bytesCopied: copied, files: files.length, ms: performance.now() - started };
}
