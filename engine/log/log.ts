// The transaction log of one mailbox database: append-only segment files of framed records
// (docs/internals/log-format.md), written with group commit. Many callers append; one loop
// takes everything waiting, frames it as one batch (one atomic unit), makes one write and one
// fsync, hands the durable batch to `onDurable` (apply to state, ship to copies), and only then
// tells each caller its records are durable.
//
// A batch is answered only once a durable record says it was synced: recovery must be able to
// tell a synced (maybe acknowledged) batch that was damaged since from a torn unsynced write.
// That record is the **durable mark** carried by a later batch (its first record holds the end
// of everything synced when it was framed), so under load each fdatasync both makes a batch
// durable and marks the one before it; when no batch follows, the flush map is written instead.
// So a batch waits for two syncs in a row (its own, then its mark's), but the disk sees one
// fdatasync per batch instead of two.
//
// Batches are written and synced one at a time, in log order; a second batch may be framed and
// written while one is synced only when the group is large (framing is CPU, writing and
// syncing the disk), and when a large group waits and nothing is on its way to disk, the first
// batch takes about half of it so that the halves overlap.
//
// Open recovers the tail: a torn batch past the durable end (the flush map's, or the highest
// durable mark found in a valid record) is cut off; damage before it is corruption and refused.

import { join } from 'node:path';
import { assert } from '../assert.js';
import type { Clock, Storage, StorageFile } from '../io.js';
import { FlushMap, flushMapName } from './flushmap.js';
import {
  batchBytesMax,
  batchSplitBytesMin,
  batchTransactionsMax,
  commitQueueTransactionsMax,
  flushMapLagBytesMax,
  logPipelineBatchesMax,
  logPreallocBytes,
  passiveMarkIdleMs,
  segmentBytesMax,
} from '../constants.js';
import {
  type LogRecord,
  type RecordInput,
  ScanStatus,
  ScanErrorKind,
  batchBytesOf,
  recordBytesOf,
  decodeRecords,
  appendBytesMax,
  durableMarkOf,
  durableMarkRecord,
  isDurableMark,
  acquireFrameSlot,
  frameBatch,
  frameBatchInto,
  releaseFrameSlot,
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

/**
 * One batch as it became durable: its place in the log, its exact bytes, and who appended what.
 * `bytes` may be a view of the log's frame slot, valid only until onDurable returns: copy to keep.
 */
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
  readonly queuedMs: number;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

interface Segment {
  readonly start: number;
  readonly name: string;
}

/**
 * Counters of the group commit, cumulative since open. The `*MsTotal` are summed per batch
 * (write, sync, mark, onDurable) or per append (queue, append), so a mean is total / batches
 * or total / appends: where a commit's time goes.
 */
export interface LogStats {
  batches: number;
  appends: number;
  bytes: number;
  /** write + fdatasync of the batches (and of closing a full segment). */
  syncMsTotal: number;
  /** The fdatasync alone. */
  dataSyncMsTotal: number;
  /** Flush-map marks written (one may cover several batches) and their write + fdatasync. */
  marks: number;
  markMsTotal: number;
  /** onDurable (apply, state store, shipping) per batch. */
  durableMsTotal: number;
  /** Per append: from append() until its batch was framed (waiting for the pipeline). */
  queueMsTotal: number;
  /** Per append: from append() until it was answered. */
  appendMsTotal: number;
}

/** A signal that resolves once; stages of the pipeline wait for the batch before them with it. */
interface Signal {
  readonly promise: Promise<void>;
  fire(): void;
}

function signal(): Signal {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

/**
 * One framed batch on its way through the pipeline: written (in log order), synced (in log
 * order), handed to onDurable (in log order), answered. Each stage of batch N+1 waits for the same
 * stage of batch N. The signals fire on failure too (never reject): a waiter then finds
 * `failed` set and fails its own batch.
 */
interface InFlight {
  readonly start: number;
  readonly end: number;
  readonly bytes: Uint8Array;
  /** The frame slot `bytes` lives in, or -1 when they are a copy. */
  readonly slot: number;
  readonly group: Pending[];
  /** The durable mark this batch carries (everything before it was synced when it was framed), or -1. */
  readonly mark: number;
  /** Set once its fdatasync returned. */
  isSynced: boolean;
  readonly written: Signal;
  readonly synced: Signal;
  readonly marked: Signal;
  readonly applied: Signal;
}

export class TransactionLog {
  private pending: Pending[] = [];
  private readonly inFlight: InFlight[] = [];
  private flushing: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private closed = false;
  private failed: unknown = null;
  /** Everything before this is marked durable (flush map or a synced batch's durable mark): batches ending here may be answered. */
  private markedEnd: number;
  /** The highest durable mark framed into a batch so far (a batch carries one only when it says more than the batches before it). */
  private markFramed: number;
  /** The flush-map mark being written, if any (one at a time). */
  private marking: Promise<void> | null = null;
  /** A passive copy: a received batch is being written and synced; when the last one arrived; whether an idle mark waits. */
  private receiving = false;
  private receivedMs = 0;
  private idleMarking = false;
  /** Bytes the current segment file holds: its batches, then zeros written ahead (`logPreallocBytes`). */
  private allocatedBytes: number;
  /** Woken whenever a batch is framed or synced or a mark lands (a batch waiting for its mark looks again). */
  private progress: Signal = signal();
  readonly stats: LogStats = { batches: 0, appends: 0, bytes: 0, syncMsTotal: 0, dataSyncMsTotal: 0, marks: 0, markMsTotal: 0, durableMsTotal: 0, queueMsTotal: 0, appendMsTotal: 0 };

  private constructor(
    private readonly options: LogOptions,
    private segments: Segment[],
    private file: StorageFile,
    private fileBytes: number,
    /** Position the next batch will get: everything before it is durable. */
    private endPosition: number,
    private readonly flushMap: FlushMap,
    /** Position the next framed batch will get (ahead of endPosition while batches are in flight). */
    private framedEnd: number = endPosition,
  ) {
    this.markedEnd = endPosition;
    this.markFramed = endPosition;
    this.allocatedBytes = fileBytes;
  }

  static async open(options: LogOptions): Promise<TransactionLog> {
    const { storage, dir } = options;
    await storage.mkdirp(dir);
    const names = (await storage.list(dir)).filter((n) => n.endsWith(segmentSuffix)).sort();
    const segments: Segment[] = names.map((name) => ({ name, start: Number(name.slice(0, -segmentSuffix.length)) }));
    const opened = await FlushMap.open(storage, dir);
    if (opened === 'corrupt') throw new LogCorruptError(flushMapName, 0, 'flush map: no valid slot');
    let flushMap = opened;
    if (segments.length === 0) {
      if (flushMap !== null && flushMap.durableEnd > 0) {
        await flushMap.close();
        throw new LogCorruptError(segmentName(0), 0, `missing: durable to ${flushMap.durableEnd}, no segment left`);
      }
      await flushMap?.close();
      const name = segmentName(0);
      const file = await storage.open(join(dir, name), { create: true });
      const created = await FlushMap.create(storage, dir, 0); // syncs the directory for both files
      return new TransactionLog(options, [{ name, start: 0 }], file, 0, 0, created);
    }
    const durableEnd = flushMap?.durableEnd ?? null;
    const tail = await recoverTail(storage, dir, segments, durableEnd, options.tailMayBeTorn ?? true);
    const last = tail.segments[tail.segments.length - 1]!;
    const file = await storage.open(join(dir, last.name), { create: false });
    const end = last.start + tail.lastBytes;
    if (flushMap === null || end > flushMap.durableEnd) {
      // What recovery kept past the recorded durable end was never acknowledged, but from here
      // on it is served: make it durable first, then record that it is.
      for (const segment of tail.segments.slice(tail.firstScanned)) {
        const handle = segment === last ? file : await storage.open(join(dir, segment.name), { create: false });
        await handle.sync();
        if (handle !== file) await handle.close();
      }
      if (flushMap === null) flushMap = await FlushMap.create(storage, dir, end);
      else await flushMap.mark(end);
    }
    return new TransactionLog(options, tail.segments, file, tail.lastBytes, end, flushMap);
  }

  /** Everything before this position is durable. */
  get end(): number {
    return this.endPosition;
  }

  /** The first position still kept (older segments may have been truncated away). */
  get start(): number {
    return this.segments[0]!.start;
  }

  /** The segment files (oldest first) with the log position each starts at, and their directory. */
  segmentFiles(): { dir: string; segments: Array<{ name: string; start: number }> } {
    return { dir: this.options.dir, segments: this.segments.map((s) => ({ name: s.name, start: s.start })) };
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
    assert(records.length > 0 && bytes <= appendBytesMax, 'an append must fit in one batch');
    return new Promise((resolve, reject) => {
      this.pending.push({ records, bytes, tag, queuedMs: this.options.clock.monoMs(), resolve, reject });
      if (this.flushing === null) this.flushing = this.flushLoop();
      else this.wake?.();
    });
  }

  /**
   * Appends a batch framed elsewhere (a passive copy receiving the active's bytes): verified
   * whole, written byte for byte, synced. The durable marks the active framed into the bytes
   * hold here too (each names a position before `start`, and everything before `start` was
   * synced here before these bytes were written), so under a steady stream each received batch
   * marks the one before it and the flush map is not written per batch. What no mark covers yet
   * is marked by the flush map when asked (`mark`: the answer must mean marked, as a sync-mode
   * acknowledgement does), once it lags `flushMapLagBytesMax`, or once no batch has arrived for
   * `passiveMarkIdleMs` (markSynced, close and promotion too).
   */
  async appendFramed(bytes: Uint8Array, start: number, options: { readonly mark?: boolean } = {}): Promise<void> {
    if (this.failed !== null) throw this.failed;
    assert(this.flushing === null && this.pending.length === 0, 'framed appends are for passive copies only');
    assert(start === this.endPosition, `framed batch starts at ${start}, log ends at ${this.endPosition}`);
    const scan = scanBytes(bytes, start);
    if (scan.status !== ScanStatus.ok || scan.validBytes !== bytes.length) {
      throw new LogCorruptError('(shipped batch)', scan.errorOffset, kindName(scan.errorKind));
    }
    const file = this.file;
    this.receiving = true;
    try {
      const rolled = await this.writeBatch(bytes);
      await this.syncBatch(file, rolled, bytes.length);
      const received = highestMark(bytes, bytes.length);
      if (received > this.markedEnd) this.markedEnd = received;
      // A promoted copy's first batch carries a mark when the received ones left anything unmarked.
      if (received > this.markFramed) this.markFramed = received;
      if (options.mark === true || this.endPosition - this.flushMap.durableEnd >= flushMapLagBytesMax) await this.markSynced();
      else if (this.markedEnd < this.endPosition) this.markWhenIdle();
    } catch (error) {
      // A failed write or fsync leaves the file in an unknown state (and the write offset past a
      // batch the log does not count): refuse further batches, as the group commit does; reopening
      // recovers the log and the copy asks for the batch again.
      this.failed ??= error;
      throw error;
    } finally {
      this.receiving = false;
    }
  }

  /** Makes sure a durable record says everything synced so far was synced (the flush map, unless a mark already does). */
  async markSynced(): Promise<void> {
    while (this.markedEnd < this.endPosition) {
      if (this.failed !== null) throw this.failed;
      await this.markDurable();
    }
  }

  /** A passive copy's unmarked tail is marked once no batch has arrived for `passiveMarkIdleMs` (one waiter at a time). */
  private markWhenIdle(): void {
    this.receivedMs = this.options.clock.monoMs();
    if (this.idleMarking) return;
    this.idleMarking = true;
    const wait = async (): Promise<void> => {
      for (;;) {
        const left = this.receivedMs + passiveMarkIdleMs - this.options.clock.monoMs();
        if (left <= 0 && !this.receiving) break;
        // A batch being received marks itself idle again once synced: look again a whole wait later.
        await this.options.clock.sleep(left > 0 ? left : passiveMarkIdleMs);
        if (this.closed) return;
      }
      if (this.failed === null && !this.closed) await this.markSynced();
    };
    void wait()
      .catch((error: unknown) => (this.failed ??= error))
      .finally(() => (this.idleMarking = false));
  }

  /**
   * The group commit loop: while appends wait and the pipeline has room, frame the next batch
   * and send it on its way; otherwise wait for room or for appends. Ends when nothing waits and
   * nothing is in flight.
   */
  private async flushLoop(): Promise<void> {
    // Callers woken by the same answered batch append in the same turn: let them all queue
    // before the first batch is taken, or it would hold only the first of them.
    await Promise.resolve();
    try {
      for (;;) {
        if (this.failed !== null) break;
        if (this.pending.length > 0 && this.hasRoom()) {
          this.launch(this.takeGroup(this.unsynced() === 0));
          continue;
        }
        if (this.inFlight.length === 0) break;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          void this.inFlight[0]!.applied.promise.then(resolve);
          // A batch synced leaves room for the next (which carries its durable mark).
          void this.progress.promise.then(resolve);
        });
        this.wake = null;
        // The oldest batch answers its callers after `applied`; let it leave the pipeline.
        await Promise.resolve();
      }
    } finally {
      this.flushing = null;
      this.wake = null;
      if (this.failed !== null) for (const p of this.pending.splice(0)) p.reject(this.failed);
      this.kick();
    }
  }

  /** Batches framed and not yet synced. */
  private unsynced(): number {
    let count = 0;
    for (const batch of this.inFlight) if (!batch.isSynced) count += 1;
    return count;
  }

  /**
   * Whether the next batch may be framed now: when nothing is on its way to disk, or, for a
   * large group (framing and writing it take long), while one batch is synced.
   */
  private hasRoom(): boolean {
    const unsynced = this.unsynced();
    if (unsynced === 0) return true;
    if (unsynced >= logPipelineBatchesMax) return false;
    let bytes = 0;
    for (const p of this.pending) if ((bytes += p.bytes) >= batchSplitBytesMin / 2) return true;
    return false;
  }

  /** Frames a group into the next frame slot and starts it through the pipeline. */
  private launch(group: Pending[]): void {
    const start = this.framedEnd;
    const launchedMs = this.options.clock.monoMs();
    for (const p of group) this.stats.queueMsTotal += launchedMs - p.queuedMs;
    // Everything before endPosition is synced: say so in this batch when that is news.
    const mark = this.endPosition > this.markFramed ? this.endPosition : -1;
    const slot = acquireFrameSlot();
    let bytes: Uint8Array;
    try {
      const records = group.flatMap((p) => p.records);
      if (mark >= 0) records.unshift(durableMarkRecord(mark));
      bytes = slot >= 0 ? frameBatchInto(slot, records, start) : frameBatch(records, start);
    } catch (error) {
      if (slot >= 0) releaseFrameSlot(slot);
      this.failed = error;
      for (const p of group) p.reject(error);
      return;
    }
    this.framedEnd += bytes.length;
    if (mark >= 0) this.markFramed = mark;
    const batch: InFlight = { start, end: this.framedEnd, bytes, slot, group, mark, isSynced: false, written: signal(), synced: signal(), marked: signal(), applied: signal() };
    const previous = this.inFlight[this.inFlight.length - 1];
    this.inFlight.push(batch);
    this.kick();
    void this.process(batch, previous);
  }

  /** Wakes whoever waits for the pipeline to move (the flush loop, batches waiting for their mark). */
  private kick(): void {
    const fired = this.progress;
    this.progress = signal();
    fired.fire();
  }

  private async process(batch: InFlight, previous: InFlight | undefined): Promise<void> {
    try {
      await this.after(previous?.written);
      const file = this.file;
      const rolled = await this.writeBatch(batch.bytes);
      batch.written.fire();
      await this.after(previous?.synced);
      await this.syncBatch(file, rolled, batch.bytes.length);
      batch.isSynced = true;
      // This batch's own mark is durable now: the batches it names may be answered.
      if (batch.mark > this.markedEnd) this.markedEnd = batch.mark;
      if (this.endPosition - this.flushMap.durableEnd >= flushMapLagBytesMax && this.marking === null) {
        // Under steady load the flush map is not needed for answers; keep it near, so recovery scans little.
        void this.markDurable().catch((error: unknown) => (this.failed ??= error));
      }
      batch.synced.fire();
      this.kick();
      await this.after(previous?.marked);
      await this.markedThrough(batch.end);
      batch.marked.fire();
      await this.after(previous?.applied);
      const appends = batch.group.map((p) => ({ records: p.records, tag: p.tag }));
      const durableStartedMs = this.options.clock.monoMs();
      await this.options.onDurable?.({ start: batch.start, end: batch.end, bytes: batch.bytes, appends });
      const answeredMs = this.options.clock.monoMs();
      this.stats.durableMsTotal += answeredMs - durableStartedMs;
      this.stats.appends += batch.group.length;
      const result = { start: batch.start, end: batch.end };
      for (const p of batch.group) {
        this.stats.appendMsTotal += answeredMs - p.queuedMs;
        p.resolve(result);
      }
    } catch (error) {
      // A failed write or fsync leaves the file in an unknown state, and a failed onDurable
      // leaves the state behind the log: stop taking writes. Later batches fail too.
      if (this.failed === null) this.failed = error;
      for (const p of batch.group) p.reject(this.failed);
    } finally {
      // A process that died mid-batch (the simulator's power loss) never gets here: its slot
      // stays taken and later batches frame with a copy.
      if (batch.slot >= 0) releaseFrameSlot(batch.slot);
      this.inFlight.splice(this.inFlight.indexOf(batch), 1);
      batch.written.fire();
      batch.synced.fire();
      batch.marked.fire();
      batch.applied.fire();
      // A batch waiting for its mark looks again (and finds the failure, if this was one).
      this.kick();
    }
  }

  /**
   * Waits until a durable record says everything before `end` was synced: the next batch's
   * durable mark when one is coming (framed, or appends waiting to be), else the flush map.
   */
  private async markedThrough(end: number): Promise<void> {
    while (this.markedEnd < end) {
      if (this.failed !== null) throw this.failed;
      const carrier = this.inFlight.find((b) => b.mark >= end);
      if (carrier !== undefined) {
        await carrier.synced.promise;
        if (!carrier.isSynced && this.failed === null) throw new Error('log: the batch carrying a durable mark was not synced');
        continue;
      }
      if (this.pending.length > 0 && !this.closed) {
        // The flush loop frames the waiting appends as soon as there is room, with the mark.
        this.wake?.();
        await this.progress.promise;
        continue;
      }
      await this.markDurable();
    }
  }

  /** Writes the synced end into the flush map (one write at a time; a caller arriving meanwhile waits for it, then looks again). */
  private async markDurable(): Promise<void> {
    if (this.marking !== null) {
      await this.marking;
      return;
    }
    const run = async (): Promise<void> => {
      const started = this.options.clock.monoMs();
      const end = this.endPosition;
      await this.flushMap.mark(end);
      if (end > this.markedEnd) this.markedEnd = end;
      // markFramed stays: the next batch still carries this end, for the copies it ships to (a
      // passive copy's own marks are the ones it receives).
      this.stats.marks += 1;
      this.stats.markMsTotal += this.options.clock.monoMs() - started;
    };
    this.marking = run().finally(() => {
      this.marking = null;
      this.kick();
    });
    await this.marking;
  }

  /** Waits for the batch before to pass a stage; throws if the log failed meanwhile. */
  private async after(stage: Signal | undefined): Promise<void> {
    if (stage !== undefined) await stage.promise;
    if (this.failed !== null) throw this.failed;
  }

  private takeGroup(split: boolean): Pending[] {
    let bytes = 0;
    let count = 0;
    while (count < this.pending.length && count < batchTransactionsMax) {
      const next = this.pending[count]!;
      if (count > 0 && bytes + next.bytes > appendBytesMax) break;
      bytes += next.bytes;
      count += 1;
    }
    if (split && bytes >= batchSplitBytesMin) {
      // Nothing is on its way to disk: send about half now and frame the rest while it is written.
      let half = 0;
      let taken = 0;
      while (taken < count - 1 && half < bytes / 2) half += this.pending[taken++]!.bytes;
      count = Math.max(1, taken);
    }
    return this.pending.splice(0, count);
  }

  /** Writes bytes at the end of the current segment; rolls to a new segment when it is full. Returns the file rolled away from, if any. */
  private async writeBatch(bytes: Uint8Array): Promise<StorageFile | null> {
    const started = this.options.clock.monoMs();
    const segmentMax = this.options.segmentBytesMax ?? segmentBytesMax;
    const end = this.fileBytes + bytes.length;
    if (end > this.allocatedBytes && end < segmentMax) {
      // Zeros ahead of the data (synced with this batch): the batches after it overwrite blocks the
      // file already has, so their fdatasync commits no size change (no file-system journal
      // commit). Recovery reads the zeros as a zero tail; rolled segments never keep one (the
      // zeros stop at the segment's size, which the last batch passes) and close cuts it.
      const to = Math.min(segmentMax, end + logPreallocBytes);
      await this.file.write(end, zeroes(to - end));
      this.allocatedBytes = to;
    }
    await this.file.write(this.fileBytes, bytes);
    this.stats.syncMsTotal += this.options.clock.monoMs() - started;
    this.fileBytes += bytes.length;
    if (this.fileBytes < (this.options.segmentBytesMax ?? segmentBytesMax)) return null;
    const full = this.file;
    await this.roll(this.positionAfterFile());
    return full;
  }

  /** Makes a written batch durable (closing the segment it filled, if any) and moves the durable end past it. */
  private async syncBatch(file: StorageFile, rolledFrom: StorageFile | null, length: number): Promise<void> {
    const started = this.options.clock.monoMs();
    await file.sync();
    this.stats.dataSyncMsTotal += this.options.clock.monoMs() - started;
    if (rolledFrom !== null) await rolledFrom.close();
    this.stats.syncMsTotal += this.options.clock.monoMs() - started;
    this.stats.batches += 1;
    this.stats.bytes += length;
    this.endPosition += length;
    if (this.framedEnd < this.endPosition) this.framedEnd = this.endPosition;
  }

  /** Position just past what the current segment file holds. */
  private positionAfterFile(): number {
    return this.segments[this.segments.length - 1]!.start + this.fileBytes;
  }

  private async roll(position: number): Promise<void> {
    const name = segmentName(position);
    const next = await this.options.storage.open(join(this.options.dir, name), { create: true });
    await this.options.storage.syncDir(this.options.dir);
    this.file = next;
    this.fileBytes = 0;
    this.allocatedBytes = 0;
    this.segments.push({ name, start: position });
  }

  /** Verified batches from `from` (a batch boundary) up to the durable end. */
  async *read(from: number, to = this.endPosition): AsyncGenerator<{ start: number; end: number; bytes: Uint8Array; records: LogRecord[] }> {
    let position = from;
    while (position < to) {
      // Found by position at every segment, not by index: truncateBefore may shift the list
      // (and a roll extend it) while the caller works through a batch.
      assert(position >= this.start, `position ${position} was truncated away (log starts at ${this.start})`);
      let index = this.segments.length - 1;
      while (index > 0 && this.segments[index]!.start > position) index -= 1;
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
            // The log's own durable marks are not events: left out of the records, kept in the bytes.
            yield { start: batchStart, end, bytes: bytes.subarray(batchStart - position, end - position), records: batchRecords.filter((r) => !isDurableMark(r)) };
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

  /** Waits for queued appends, then closes the files. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing !== null) await this.flushing;
    // A passive copy's received tail no mark covers yet (after a clean close no tail is cut anyway).
    if (this.failed === null) {
      await this.markSynced();
      // A clean close leaves no zeros written ahead.
      if (this.allocatedBytes > this.fileBytes) {
        await this.file.truncate(this.fileBytes);
        await this.file.sync();
        this.allocatedBytes = this.fileBytes;
      }
    } else await this.marking?.catch(() => undefined);
    await this.file.close();
    await this.flushMap.close();
  }
}

let zeroBuffer = new Uint8Array(0);

/** `bytes` zeros (a view of one shared buffer, never written to). */
function zeroes(bytes: number): Uint8Array {
  if (zeroBuffer.length < bytes) zeroBuffer = new Uint8Array(Math.max(bytes, logPreallocBytes));
  return zeroBuffer.subarray(0, bytes);
}

function kindName(kind: number): string {
  return Object.entries(ScanErrorKind).find(([, v]) => v === kind)?.[0] ?? `kind ${kind}`;
}

/** What one segment holds: whole verified batches, then either nothing, zeros, or damage. */
interface SegmentScan {
  /** Bytes of whole verified batches from the segment's start. */
  readonly validBytes: number;
  readonly size: number;
  /** The first damage, or null when the segment is whole (possibly with a zero tail). */
  readonly damage: { readonly offset: number; readonly kind: string; readonly resync: boolean } | null;
  /** The highest durable mark in a valid batch of the segment, before or after the damage; -1 if none. */
  readonly mark: number;
}

/** The highest durable mark among the records of verified bytes; -1 if none. */
function highestMark(bytes: Uint8Array, validBytes: number): number {
  let mark = -1;
  if (validBytes === 0) return mark;
  for (const record of decodeRecords(bytes, validBytes)) if (isDurableMark(record)) mark = Math.max(mark, durableMarkOf(record));
  return mark;
}

async function scanSegment(file: StorageFile, segment: Segment): Promise<SegmentScan> {
  const size = await file.size();
  let offset = 0;
  let mark = -1;
  while (offset < size) {
    const length = Math.min(size - offset, workRegionBytes);
    const bytes = await file.read(offset, length);
    const scan = scanBytes(bytes, segment.start + offset);
    mark = Math.max(mark, highestMark(bytes, scan.validBytes));
    if (scan.status === ScanStatus.ok) {
      offset += scan.validBytes;
      if (scan.validBytes < length) break; // a zero tail after the last batch
      continue;
    }
    // A batch cut by the end of this chunk may just continue in the next one.
    if (scan.status === ScanStatus.torn && scan.validBytes > 0 && offset + length < size) {
      offset += scan.validBytes;
      continue;
    }
    const damageOffset = offset + Math.max(scan.errorOffset, 0);
    // Valid batches may follow the damage (a later write landed, an earlier one did not, or
    // synced bytes were damaged): their durable marks still say what had been synced.
    if (scan.resyncOffset >= 0) mark = Math.max(mark, await marksFrom(file, segment, offset + scan.resyncOffset, size));
    return {
      validBytes: offset + scan.validBytes,
      size,
      damage: { offset: damageOffset, kind: kindName(scan.errorKind), resync: scan.resyncOffset >= 0 },
      mark,
    };
  }
  return { validBytes: offset, size, damage: null, mark };
}

/** The highest durable mark in the valid batches of a segment from `from` on, resyncing past every damage. */
async function marksFrom(file: StorageFile, segment: Segment, from: number, size: number): Promise<number> {
  let mark = -1;
  let offset = from;
  while (offset < size) {
    const length = Math.min(size - offset, workRegionBytes);
    const bytes = await file.read(offset, length);
    let at = 0;
    let next = offset + length;
    for (;;) {
      const scan = scanBytes(bytes.subarray(at), segment.start + offset + at);
      mark = Math.max(mark, highestMark(bytes.subarray(at), scan.validBytes));
      if (scan.status === ScanStatus.ok) {
        if (at + scan.validBytes < length) next = size; // zeros to the end
        break;
      }
      if (scan.status === ScanStatus.torn && offset + length < size && scan.validBytes > 0) {
        next = offset + at + scan.validBytes; // a batch cut by the end of this chunk: read on from it
        break;
      }
      if (scan.resyncOffset < 0) break; // nothing valid in the rest of this chunk (a segment fits one chunk)
      at += scan.resyncOffset;
    }
    if (next <= offset) next = offset + length;
    offset = next;
  }
  return mark;
}

/**
 * Finds where the log really ends after a crash and cuts what follows. With a flush map, every
 * segment from the one holding its durable end to the last is scanned first, and the durable
 * end is the later of the flush map's and the highest durable mark in any valid batch (a batch
 * carries the end of what was synced when it was framed, so a valid one proves those bytes were
 * synced, wherever it lies: even past damage). Then damage (or missing bytes) before the durable
 * end is corruption and refused; the first damage at or past it is an unsynced write torn or
 * reordered by the crash, and the log is cut there (later segments removed). Without a flush
 * map (a log written before flush maps and marks), only the last segment is scanned and damage
 * with valid records after it is refused.
 */
async function recoverTail(
  storage: Storage,
  dir: string,
  all: readonly Segment[],
  flushEnd: number | null,
  tailMayBeTorn: boolean,
): Promise<{ segments: Segment[]; lastBytes: number; firstScanned: number }> {
  let first = all.length - 1;
  if (flushEnd !== null) while (first > 0 && all[first]!.start > flushEnd) first -= 1;
  const scans: SegmentScan[] = [];
  for (const segment of all.slice(first)) {
    const file = await storage.open(join(dir, segment.name), { create: false });
    try {
      scans.push(await scanSegment(file, segment));
    } finally {
      await file.close();
    }
  }
  const durableEnd = flushEnd === null ? null : Math.max(flushEnd, ...scans.map((scan) => scan.mark));
  for (let index = first; index < all.length; index++) {
    const segment = all[index]!;
    const scan = scans[index - first]!;
    const isLast = index === all.length - 1;
    const stop = segment.start + scan.validBytes;
    // A segment that ends short of where the next one starts: the write that filled it was lost.
    const endsShort = !isLast && (scan.validBytes < scan.size || all[index + 1]!.start !== stop);
    if (scan.damage !== null) {
      const cuttable = tailMayBeTorn && (durableEnd === null ? isLast && !scan.damage.resync : stop >= durableEnd);
      if (!cuttable) throw new LogCorruptError(segment.name, scan.damage.offset, scan.damage.kind);
    } else if (durableEnd !== null && stop < durableEnd && (isLast || endsShort)) {
      throw new LogCorruptError(segment.name, scan.validBytes, `missing: durable to ${durableEnd}, data ends at ${stop}`);
    } else if (!isLast && !endsShort) {
      continue;
    }
    // The log ends here: cut the damage or zero tail, and every later segment (never acknowledged).
    if (scan.validBytes < scan.size) {
      const file = await storage.open(join(dir, segment.name), { create: false });
      try {
        await file.truncate(scan.validBytes);
        await file.sync();
      } finally {
        await file.close();
      }
    }
    for (const later of all.slice(index + 1)) await storage.remove(join(dir, later.name));
    if (!isLast) await storage.syncDir(dir);
    return { segments: all.slice(0, index + 1), lastBytes: scan.validBytes, firstScanned: first };
  }
  throw new Error('unreachable: the last segment always returns');
}
