// The transaction log of one mailbox database: append-only segment files of framed records
// (docs/internals/log-format.md), written with group commit. Many callers append; one loop
// takes everything waiting, frames it as one batch (one atomic unit), makes one write and one
// fsync, hands the durable batch to `onDurable` (apply to state, ship to copies), and only then
// tells each caller its records are durable.
//
// Open recovers the tail: a torn last batch (a crash mid-write) is cut off; damage with valid
// records after it is corruption in the middle of the log and is refused, never cut.

import { join } from 'node:path';
import { assert } from '../assert.js';
import type { Clock, Storage, StorageFile } from '../io.js';
import { batchBytesMax, batchTransactionsMax, commitQueueTransactionsMax, segmentBytesMax } from '../constants.js';
import {
  type LogRecord,
  type RecordInput,
  ScanStatus,
  ScanErrorKind,
  batchBytesOf,
  recordBytesOf,
  decodeRecords,
  frameBatch,
  scanBytes,
  workRegionBytes,
} from './codec.js';

export type { LogRecord, RecordInput } from './codec.js';

export const segmentSuffix = '.qlog';
export const segmentName = (position: number): string => `${String(position).padStart(20, '0')}${segmentSuffix}`;

export class LogCorruptError extends Error {
  constructor(readonly segment: string, readonly offset: number, readonly kind: string) {
    super(`log corrupt in ${segment} at offset ${offset} (${kind}): refusing to serve or cut it`);
    this.name = 'LogCorruptError';
  }
}

export class LogBusyError extends Error {
  constructor() {
    super('commit queue full');
    this.name = 'LogBusyError';
  }
}

/** One batch as it became durable: its place in the log, its exact bytes, and who appended what. */
export interface DurableBatch {
  readonly start: number;
  readonly end: number;
  readonly bytes: Uint8Array;
  readonly appends: ReadonlyArray<{ readonly records: readonly RecordInput[]; readonly tag: unknown }>;
}

export interface AppendResult {
  /** Position of the batch the records went into, and its end. */
  readonly start: number;
  readonly end: number;
}

export interface LogOptions {
  readonly dir: string;
  readonly storage: Storage;
  readonly clock: Clock;
  /** Runs once per batch after its fsync and before its appends resolve. Sequential, in log order. */
  readonly onDurable?: (batch: DurableBatch) => Promise<void> | void;
  readonly segmentBytesMax?: number;
  /**
   * The process may have died mid-write (the database was not shut down cleanly): damage at the
   * very end of the last segment, with nothing valid after it, is then a torn write and is cut.
   * After a clean shutdown no write can be torn, so the same damage is corruption. Default true.
   */
  readonly tailMayBeTorn?: boolean;
}

interface Pending {
  readonly records: readonly RecordInput[];
  readonly bytes: number;
  readonly tag: unknown;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

interface Segment {
  readonly start: number;
  readonly name: string;
}

export interface LogStats {
  batches: number;
  appends: number;
  bytes: number;
  syncMsTotal: number;
}

export class TransactionLog {
  private pending: Pending[] = [];
  private flushing = false;
  private closed = false;
  private failed: unknown = null;
  readonly stats: LogStats = { batches: 0, appends: 0, bytes: 0, syncMsTotal: 0 };

  private constructor(
    private readonly options: LogOptions,
    private segments: Segment[],
    private file: StorageFile,
    private fileBytes: number,
    /** Position the next batch will get: everything before it is durable. */
    private endPosition: number,
  ) {}

  static async open(options: LogOptions): Promise<TransactionLog> {
    const { storage, dir } = options;
    await storage.mkdirp(dir);
    const names = (await storage.list(dir)).filter((n) => n.endsWith(segmentSuffix)).sort();
    const segments: Segment[] = names.map((name) => ({ name, start: Number(name.slice(0, -segmentSuffix.length)) }));
    if (segments.length === 0) {
      const name = segmentName(0);
      const file = await storage.open(join(dir, name), { create: true });
      await storage.syncDir(dir);
      return new TransactionLog(options, [{ name, start: 0 }], file, 0, 0);
    }
    const last = segments[segments.length - 1]!;
    const file = await storage.open(join(dir, last.name), { create: false });
    const validBytes = await recoverTail(file, last, options.tailMayBeTorn ?? true);
    if (validBytes < (await file.size())) {
      await file.truncate(validBytes);
      await file.sync();
    }
    return new TransactionLog(options, segments, file, validBytes, last.start + validBytes);
  }

  /** Everything before this position is durable. */
  get end(): number {
    return this.endPosition;
  }

  /** The first position still kept (older segments may have been truncated away). */
  get start(): number {
    return this.segments[0]!.start;
  }

  get queuedAppends(): number {
    return this.pending.length;
  }

  /** Appends records atomically; resolves once they are durable (group commit). */
  append(records: readonly RecordInput[], tag: unknown = null): Promise<AppendResult> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error('log is closed'));
    if (this.pending.length >= commitQueueTransactionsMax) return Promise.reject(new LogBusyError());
    const bytes = batchBytesOf(records);
    assert(records.length > 0 && bytes <= batchBytesMax, 'an append must fit in one batch');
    return new Promise((resolve, reject) => {
      this.pending.push({ records, bytes, tag, resolve, reject });
      if (!this.flushing) void this.flushLoop();
    });
  }

  /**
   * Appends a batch framed elsewhere (a passive copy receiving the active's bytes): verified
   * whole, written byte for byte, synced. Returns false when it does not start at our end.
   */
  async appendFramed(bytes: Uint8Array, start: number): Promise<void> {
    assert(!this.flushing && this.pending.length === 0, 'framed appends are for passive copies only');
    assert(start === this.endPosition, `framed batch starts at ${start}, log ends at ${this.endPosition}`);
    const scan = scanBytes(bytes, start);
    if (scan.status !== ScanStatus.ok || scan.validBytes !== bytes.length) {
      throw new LogCorruptError('(shipped batch)', scan.errorOffset, kindName(scan.errorKind));
    }
    await this.writeDurable(bytes);
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0 && this.failed === null) {
        const group = this.takeGroup();
        const start = this.endPosition;
        let bytes: Uint8Array;
        try {
          bytes = frameBatch(group.flatMap((p) => p.records), start);
          await this.writeDurable(bytes);
        } catch (error) {
          // A failed write or fsync leaves the file in an unknown state: stop taking writes.
          this.failed = error;
          for (const p of group) p.reject(error);
          break;
        }
        const result = { start, end: this.endPosition };
        try {
          await this.options.onDurable?.({ start, end: result.end, bytes, appends: group.map((p) => ({ records: p.records, tag: p.tag })) });
        } catch (error) {
          this.failed = error;
          for (const p of group) p.reject(error);
          break;
        }
        this.stats.appends += group.length;
        for (const p of group) p.resolve(result);
      }
    } finally {
      this.flushing = false;
      if (this.failed !== null) for (const p of this.pending.splice(0)) p.reject(this.failed);
    }
  }

  private takeGroup(): Pending[] {
    let bytes = 0;
    let count = 0;
    while (count < this.pending.length && count < batchTransactionsMax) {
      const next = this.pending[count]!;
      if (count > 0 && bytes + next.bytes > batchBytesMax) break;
      bytes += next.bytes;
      count += 1;
    }
    return this.pending.splice(0, count);
  }

  private async writeDurable(bytes: Uint8Array): Promise<void> {
    const started = this.options.clock.monoMs();
    await this.file.write(this.fileBytes, bytes);
    await this.file.sync();
    this.stats.syncMsTotal += this.options.clock.monoMs() - started;
    this.stats.batches += 1;
    this.stats.bytes += bytes.length;
    this.fileBytes += bytes.length;
    this.endPosition += bytes.length;
    if (this.fileBytes >= (this.options.segmentBytesMax ?? segmentBytesMax)) await this.roll();
  }

  private async roll(): Promise<void> {
    const name = segmentName(this.endPosition);
    const next = await this.options.storage.open(join(this.options.dir, name), { create: true });
    await this.options.storage.syncDir(this.options.dir);
    await this.file.close();
    this.file = next;
    this.fileBytes = 0;
    this.segments.push({ name, start: this.endPosition });
  }

  /** Verified batches from `from` (a batch boundary) up to the durable end. */
  async *read(from: number, to = this.endPosition): AsyncGenerator<{ start: number; end: number; bytes: Uint8Array; records: LogRecord[] }> {
    assert(from >= this.start, `position ${from} was truncated away (log starts at ${this.start})`);
    let index = this.segments.length - 1;
    while (index > 0 && this.segments[index]!.start > from) index -= 1;
    let position = from;
    for (; index < this.segments.length && position < to; index++) {
      const segment = this.segments[index]!;
      const nextStart = this.segments[index + 1]?.start ?? to;
      const file = await this.options.storage.open(join(this.options.dir, segment.name), { create: false });
      try {
        while (position < Math.min(nextStart, to)) {
          const length = Math.min(Math.min(nextStart, to) - position, workRegionBytes);
          const bytes = await file.read(position - segment.start, length);
          const scan = scanBytes(bytes, position);
          if (scan.status === ScanStatus.corrupt || scan.validBytes === 0) {
            throw new LogCorruptError(segment.name, position - segment.start + Math.max(scan.errorOffset, 0), kindName(scan.errorKind));
          }
          // Hand out one batch at a time so callers can apply each atomically.
          const records = decodeRecords(bytes, scan.validBytes);
          let batchStartIndex = 0;
          let batchStart = position;
          for (let i = 0; i < records.length; i++) {
            if ((records[i]!.flags & 1) === 0) continue;
            const batchRecords = records.slice(batchStartIndex, i + 1);
            const last = batchRecords[batchRecords.length - 1]!;
            const end = last.position + recordBytesOf(last.payload.length);
            yield { start: batchStart, end, bytes: bytes.subarray(batchStart - position, end - position), records: batchRecords };
            batchStartIndex = i + 1;
            batchStart = end;
          }
          position += scan.validBytes;
        }
      } finally {
        await file.close();
      }
    }
  }

  /** Removes whole segments that end at or before `position` (never the current one). */
  async truncateBefore(position: number): Promise<number> {
    let removed = 0;
    while (this.segments.length > 1 && this.segments[1]!.start <= position) {
      const segment = this.segments.shift()!;
      await this.options.storage.remove(join(this.options.dir, segment.name));
      removed += 1;
    }
    if (removed > 0) await this.options.storage.syncDir(this.options.dir);
    return removed;
  }

  /** Waits for queued appends, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((resolve) => setImmediate(resolve));
    await this.file.close();
  }
}

function kindName(kind: number): string {
  return Object.entries(ScanErrorKind).find(([, v]) => v === kind)?.[0] ?? `kind ${kind}`;
}

/** Scans the last segment; returns how many bytes of it are whole batches. Throws on mid-log damage. */
async function recoverTail(file: StorageFile, segment: Segment, tailMayBeTorn: boolean): Promise<number> {
  const size = await file.size();
  let offset = 0;
  while (offset < size) {
    const length = Math.min(size - offset, workRegionBytes);
    const bytes = await file.read(offset, length);
    const scan = scanBytes(bytes, segment.start + offset);
    if (scan.status === ScanStatus.ok) {
      offset += scan.validBytes;
      if (scan.validBytes < length) break; // a zero tail after the last batch
      continue;
    }
    // A torn write may leave garbage, not zeros, where its lost part was: a crc or length error
    // at the end of the file with no valid record after it is then the torn last batch.
    const tornTail = tailMayBeTorn && scan.resyncOffset < 0 && offset + length >= size;
    if ((scan.status === ScanStatus.corrupt && !tornTail) || scan.resyncOffset >= 0) {
      throw new LogCorruptError(segment.name, offset + Math.max(scan.errorOffset, 0), kindName(scan.errorKind));
    }
    // Torn: whole batches up to validBytes; if more file follows this chunk, the batch may just continue.
    if (scan.validBytes === 0 || offset + length >= size) {
      offset += scan.validBytes;
      break;
    }
    offset += scan.validBytes;
  }
  return offset;
}
