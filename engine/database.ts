// One mailbox database: its transaction log, its materialized state, and the mailbox API on
// top. The writer path is: plan against the head state (expected failures out first), append
// the events to the log (group commit), and once the batch is durable apply it to the durable
// state, write it to the state store with the checkpoint, notify watchers, and answer.
//
// Layout of a database directory:
//   header.json   {format, database, shutdown: "clean" | "dirty", crc32c}
//   log/          segment files, named by their first position
//   state/        RocksDB (the materialized state and the checkpoint)

import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import type {
  BodyValue,
  ColumnListing,
  CommitResult,
  DocumentListing,
  FolderInfo,
  FolderListing,
  ListOptions,
  MailboxApi,
  MailboxChange,
  MailboxInfo,
  MessageContent,
  MessageInfo,
  MessageSummary,
  Section,
  TxRequest,
} from './api.js';
import { assert } from './assert.js';
import { crc32c } from './checksum.js';
import { checkpointDepthBytesPassive, commitManyRequestsMax, commitQueueTransactionsMax, diskFreeBytesMinDefault, diskFreeCheckIntervalMs, sharedFoldersPerCallMax, stateBatchesBehindMax, watchersPerMailboxMax } from './constants.js';
import { type Failure, type Result, fail, ok } from './errors.js';
import { EventType, type MailEvent } from './events/types.js';
import { type EncodedEvent, decodeEvent, encodeRecord } from './events/codec.js';
import type { Clock, Prng, Storage } from './io.js';
import { appendBytesMax, batchBytesOf } from './log/codec.js';
import { type DurableBatch, type LogRecord, type LogStats, LogCorruptError, TransactionLog } from './log/log.js';
import { type KvOp, type KvStore, KvCorruptionError } from './state/kv.js';
import { packMessages, PackedListings, type PackedListing } from './worker/pack.js';
import { type DatabaseState, type FolderState, type MessageMeta, type Touched, apply, decodeContentRecord, emptyState, emptyTouched, findMessageIndex, messagePrefix, seenFlag, withPrefixBytes } from './state/model.js';
import { normalizeFolderName, planTransaction } from './state/plan.js';
import { contentKey, loadState, materialize, summaryKey, touchedContentValue } from './state/store.js';
import { summariesPerCallMax, summaryCacheEntriesMax } from './mime/constants.js';
import { bodyValuesOf, summarize } from './mime/parse.js';
import { withPrefix } from './mime/prefix.js';
import { binaryBytes, sectionBytes } from './mime/section.js';
import { summaryVersion } from './mime/types.js';
import { SearchIndexer, type IndexingOptions } from './search/indexer.js';
import { checkCriterion } from './search/criteria.js';
import type { ContentCriterion, SearchIndexStatus } from './search/types.js';

export type Shutdown = 'clean' | 'dirty';
export type Role = 'active' | 'passive';

export interface DatabaseOptions {
  readonly name: string;
  readonly dir: string;
  readonly storage: Storage;
  readonly clock: Clock;
  readonly prng: Prng;
  /** Opens the state store; the simulator passes an in-memory one. */
  readonly openKv: (dir: string) => Promise<KvStore>;
  readonly role?: Role;
  /**
   * Runs after each batch is durable and applied, before its commits answer (shipping). `bytes` is a
   * view of the log's frame slot, valid only until the returned promise settles: copy to keep or send later.
   */
  readonly onBatch?: (batch: { start: number; end: number; bytes: Uint8Array }) => Promise<void> | void;
  /** Called once when the database stops taking writes after an I/O failure (the worker exits so it is restarted). */
  readonly onFailure?: (error: unknown) => void;
  /** Log segment size (the simulator makes it small so segments roll often). */
  readonly logSegmentBytesMax?: number;
  /**
   * Low-disk guard: below this many free bytes in the database's file system, commits answer
   * DISK_FULL and a passive copy refuses shipped batches, before a write can fail half-way.
   * 0 turns the guard off. Default diskFreeBytesMinDefault.
   */
  readonly diskFreeBytesMin?: number;
  /**
   * A passive copy writes its replayed state to the store only once this much log was replayed
   * since the last write (default checkpointDepthBytesPassive); the active copy writes after
   * every batch.
   */
  readonly checkpointDepthBytes?: number;
  /** Passive: replay the received log at open (default). A lagged copy opens at its checkpoint and replays on the supervisor's word. */
  readonly replayAtOpen?: boolean;
  /** How the content index is fed (engine/search/README.md); its mode follows the role. */
  readonly indexing?: Omit<IndexingOptions, 'mode'>;
}

/** A consistent snapshot of a copy (`snapshot()`): its state store and the log tail after its checkpoint. */
export interface SnapshotInfo {
  /** Files of the snapshot, relative to its directory (state/..., log/...), with the bytes to copy. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly bytes: number }>;
  /** The log tail starts at this position (at or before the state's checkpoint) and ends here. */
  readonly logStartPosition: number;
  readonly logEndPosition: number;
  /** How long writes were held while it was taken. */
  readonly pauseMs: number;
}

export interface DatabaseStatus {
  readonly name: string;
  readonly role: Role;
  readonly lastLogPosition: number;
  /** Where the state store's checkpoint stands (recovery replays from here). */
  readonly checkpointPosition: number;
  /** End of the log replayed into the copy's state (in memory; at or after the checkpoint). */
  readonly replayedPosition: number;
  readonly logStartPosition: number;
  /** Free bytes in the database's file system at the last check, and whether the low-disk guard holds writes. */
  readonly diskFreeBytes: number | null;
  readonly lowDisk: boolean;
  readonly openedShutdown: Shutdown;
  readonly replayedBatches: number;
  readonly commitQueueLength: number;
  readonly mailboxes: number;
  readonly batches: number;
  readonly logBytes: number;
  readonly syncMsTotal: number;
  readonly searchIndex: SearchIndexStatus;
  /** Where commits' time went, cumulative since open (docs/internals/write-path.md). */
  readonly timings: WriteTimings;
}

/** The log's group-commit counters plus the database's own stages of a commit. */
export interface WriteTimings extends LogStats {
  /** Commits planned (with events) and their planning time (sha256, deflate, MIME parse). */
  readonly commits: number;
  readonly planMsTotal: number;
  /** Per commit: from commit() until it answered. */
  readonly commitMsTotal: number;
  /** Per batch: the state store write, and onBatch (shipping). */
  readonly stateMsTotal: number;
  readonly shipMsTotal: number;
}

interface HeaderRecord {
  format: 1;
  database: string;
  shutdown: Shutdown;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
/** The content index's snapshot, in `<copy dir>/search/` (a reseed's snapshot carries it too). */
const indexFileName = 'index.qsi';

export class DatabaseCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseCorruptError';
  }
}

async function readHeader(storage: Storage, path: string): Promise<HeaderRecord | null> {
  const bytes = await storage.readAll(path);
  if (bytes === null) return null;
  let parsed: HeaderRecord & { crc32c: number };
  try {
    parsed = JSON.parse(dec.decode(bytes)) as HeaderRecord & { crc32c: number };
  } catch {
    throw new DatabaseCorruptError(`database header ${path} is not JSON`);
  }
  const { crc32c: stored, ...header } = parsed;
  if (crc32c(enc.encode(JSON.stringify(header))) !== stored) throw new DatabaseCorruptError(`database header ${path} fails its checksum`);
  return header;
}

async function writeHeader(storage: Storage, path: string, header: HeaderRecord): Promise<void> {
  const body = JSON.stringify(header);
  await storage.writeAtomic(path, enc.encode(JSON.stringify({ ...header, crc32c: crc32c(enc.encode(body)) })));
}

export class MailboxDatabase implements MailboxApi {
  private head: DatabaseState;
  /** The checkpoint the state store has been written up to (durable.position runs ahead while a write is in flight). */
  private materializedPosition: number;
  /**
   * State-store writes behind the log. A batch is answered once it is durable in the log and
   * applied to the in-memory state; its state-store write (with the checkpoint) follows without
   * holding the answer. One write runs at a time (RocksDB would run concurrent batches in any
   * order); batches that become durable meanwhile are merged into the next write, newest value
   * per key. Until a value lands, `stored()` serves it from here, so a read after an answered
   * commit sees it.
   */
  private stateWriting: { readonly ops: Map<string, Uint8Array | null>; readonly done: Promise<void> } | null = null;
  private get indexPath(): string {
    return join(this.options.dir, 'search', indexFileName);
  }
  private stateQueued: { readonly ops: Map<string, Uint8Array | null>; end: number; batches: number } | null = null;
  private readonly watchers = new Map<string, Set<(change: MailboxChange) => void>>();
  private failure: unknown = null;
  /** The newest append's answer (appends are answered in log order): what a commit with nothing to write waits for. */
  private appending: Promise<{ end: number } | null> = Promise.resolve(null);
  private closing = false;
  /** MIME summaries by content hash (immutable per hash), most recently used last. */
  private readonly summaryCache = new Map<string, MessageSummary>();
  private readonly packedListings = new PackedListings();
  private readonly indexer: SearchIndexer;
  private readonly timings = { commits: 0, planMsTotal: 0, commitMsTotal: 0, stateMsTotal: 0, shipMsTotal: 0 };
  /** Passive: what was replayed since the state store was last written (written at the checkpoint depth). */
  private unwritten: Touched | null = null;
  /** The low-disk guard's last reading of free space, and when (clock.monoMs). */
  private diskFree: { bytes: number | null; atMs: number; refreshing: boolean } = { bytes: null, atMs: -Infinity, refreshing: false };
  /** Passive until promoted (an activation promotes the running copy in place). */
  private role: Role;

  private constructor(
    private readonly options: DatabaseOptions,
    private readonly log: TransactionLog,
    private readonly kv: KvStore,
    private durable: DatabaseState,
    readonly openedShutdown: Shutdown,
    readonly replayedBatches: number,
    readonly rebuiltState: boolean,
  ) {
    this.head = structuredClone(durable);
    this.materializedPosition = durable.position;
    this.role = options.role ?? 'active';
    this.indexer = new SearchIndexer({
      contents: () => [...this.durable.contents].map(([hash, ref]) => [hash, ref.sizeBytes]),
      isLive: (hash) => this.durable.contents.has(hash),
      read: async (hash) => ({ bytes: await this.contentBytes(hash), summary: await this.summaryOf(hash) }),
      position: () => this.durable.position,
    }, { storage: options.storage, path: this.indexPath, checksum: crc32c }, options.clock, {
      ...options.indexing,
      mode: this.role === 'passive' ? 'idle' : 'live',
    });
  }

  static async open(options: DatabaseOptions): Promise<MailboxDatabase> {
    const { storage, dir } = options;
    await storage.mkdirp(dir);
    const headerPath = join(dir, 'header.json');
    const header = await readHeader(storage, headerPath);
    const openedShutdown: Shutdown = header === null ? 'clean' : header.shutdown;
    await writeHeader(storage, headerPath, { format: 1, database: options.name, shutdown: 'dirty' });
    let kv = await options.openKv(join(dir, 'state'));
    let durable: DatabaseState;
    let rebuiltState = false;
    try {
      durable = await loadState(kv);
    } catch (error) {
      // The state is only a cache of the log: a damaged state store is thrown away and the
      // state rebuilt by replaying the log from zero (refused below if the log no longer
      // starts at zero — then the copy needs a reseed).
      if (!(error instanceof KvCorruptionError)) throw error;
      await kv.close();
      await storage.remove(join(dir, 'state'));
      kv = await options.openKv(join(dir, 'state'));
      durable = emptyState();
      rebuiltState = true;
    }
    // eslint-disable-next-line prefer-const
    let database: MailboxDatabase;
    const log = await TransactionLog.open({
      dir: join(dir, 'log'),
      storage,
      clock: options.clock,
      onDurable: (batch) => database.onDurable(batch),
      tailMayBeTorn: header === null || header.shutdown === 'dirty',
      ...(options.logSegmentBytesMax === undefined ? {} : { segmentBytesMax: options.logSegmentBytesMax }),
    });
    if (rebuiltState && log.start > 0) {
      await log.close();
      await kv.close();
      throw new DatabaseCorruptError(`state store damaged and the log no longer starts at 0 (starts at ${log.start}): reseed this copy`);
    }
    if (durable.position < log.start) {
      await log.close();
      await kv.close();
      throw new DatabaseCorruptError(
        `state checkpoint ${durable.position} is before the log's first kept position ${log.start}: the segments it needs were truncated; reseed this copy`,
      );
    }
    if (durable.position > log.end) {
      await log.close();
      await kv.close();
      throw new DatabaseCorruptError(`state checkpoint ${durable.position} is past the end of the log ${log.end}: log lost`);
    }
    if (openedShutdown === 'clean' && durable.position !== log.end && header !== null) {
      // A clean shutdown leaves state and log equal; anything else is worth knowing about.
      // Replaying below makes it right either way.
    }
    const replayedBatches = options.replayAtOpen === false ? 0 : await replay(log, kv, durable, log.end);
    database = new MailboxDatabase(options, log, kv, durable, openedShutdown, replayedBatches, rebuiltState);
    await database.refreshDiskFree();
    return database;
  }

  /** Rebuilds a state from the whole log, from position 0 (the simulator's checker, `quire db rebuild`). */
  static async rebuildFromLog(log: TransactionLog, kv: KvStore): Promise<DatabaseState> {
    if (log.start > 0) {
      throw new DatabaseCorruptError(`cannot rebuild from the log: it was truncated and starts at ${log.start}, not 0; reseed this copy instead`);
    }
    const state = emptyState();
    await replay(log, kv, state, log.end);
    return state;
  }

  get name(): string {
    return this.options.name;
  }

  /** The state as of the last durable batch (tests and the simulator compare it with a replay). */
  durableState(): DatabaseState {
    return this.durable;
  }

  transactionLog(): TransactionLog {
    return this.log;
  }

  /**
   * Deletes the whole log segments that end at or before `position`: the supervisor passes
   * min(checkpoint, what every copy has replayed). Refuses a position past this copy's checkpoint
   * (recovery replays from there, so those bytes must stay). The state store is synced first, so
   * the checkpoint past the deleted segments is on disk before they go. After truncation the
   * state can no longer be rebuilt from the log alone: a damaged state store then needs a reseed.
   */
  async truncateLog(position: number): Promise<Result<{ removedSegments: number; logStartPosition: number }>> {
    if (!Number.isSafeInteger(position) || position < 0) return fail('INVALID_ARGUMENT', `bad log position ${position}`);
    await this.stateSettled();
    const checkpoint = this.materializedPosition;
    if (position > checkpoint) {
      return fail('INVALID_ARGUMENT', `cannot truncate the log at ${position}: past the checkpoint ${checkpoint}, which recovery replays from`);
    }
    await this.kv.sync();
    const removedSegments = await this.log.truncateBefore(position);
    return ok({ removedSegments, logStartPosition: this.log.start });
  }

  status(): DatabaseStatus {
    return {
      name: this.options.name,
      role: this.role,
      lastLogPosition: this.log.end,
      checkpointPosition: this.materializedPosition,
      replayedPosition: this.durable.position,
      logStartPosition: this.log.start,
      diskFreeBytes: this.diskFree.bytes,
      lowDisk: this.lowDisk() !== null,
      openedShutdown: this.openedShutdown,
      replayedBatches: this.replayedBatches,
      commitQueueLength: this.log.queuedAppends,
      mailboxes: this.durable.mailboxes.size,
      batches: this.log.stats.batches,
      logBytes: this.log.stats.bytes,
      syncMsTotal: this.log.stats.syncMsTotal,
      searchIndex: this.indexer.status(),
      timings: { ...this.log.stats, ...this.timings },
    };
  }

  async commit(request: TxRequest): Promise<Result<CommitResult>> {
    return (await this.commitMany([request]))[0]!;
  }

  /**
   * Several transactions, each planned on its own (one's expected failure leaves the others),
   * appended to the log together: one append when they fit in one batch, durable at once. A
   * delivery to many mailboxes of this database commits here once, its content hashed, parsed
   * and stored once (`append.prefix` keeps each recipient's own header fields). When they do
   * not fit (each recipient's copy stored whole), consecutive transactions go in several
   * appends, queued in order, each transaction whole in one (`appendGroups`).
   */
  async commitMany(requests: readonly TxRequest[]): Promise<Array<Result<CommitResult>>> {
    const refused = this.refusal(requests.length);
    if (refused !== null) return requests.map(() => refused);
    const clock = this.options.clock;
    const startedMs = clock.monoMs();
    const context = { clock, prng: this.options.prng, hashes: new WeakMap<Uint8Array, string>() };
    const planned = requests.map((request) => planTransaction(this.head, request, context));
    const answer = (end: number): Array<Result<CommitResult>> =>
      planned.map((plan, i) => (plan.ok ? ok({ results: plan.value.results, modseqHighest: plan.value.modseqHighest, position: end, ...this.listAfter(requests[i]!), ...this.documentsAfter(requests[i]!) }) : plan));
    const transactions = planned.flatMap((plan) => (plan.ok && plan.value.events.length > 0 ? [plan.value.events] : []));
    if (transactions.length === 0) {
      // Nothing to write: the plan saw the head, whose newest changes (another caller's, the
      // same change perhaps) may not be durable yet. Answer once they are, as they would be.
      const seen = await this.appending.catch(() => null);
      if (this.failure !== null) return planned.map((plan) => (plan.ok ? fail('DATABASE_UNAVAILABLE', `database ${this.name} failed: ${String(this.failure)}`) : plan));
      return answer(seen?.end ?? this.log.end);
    }
    const committing = transactions.length;
    this.timings.commits += committing;
    this.timings.planMsTotal += clock.monoMs() - startedMs;
    try {
      // Queued one after the other before any is awaited: log order is the planning order.
      const appended = appendGroups(transactions).map((group) => this.log.append(group.records, group.events));
      this.appending = appended[appended.length - 1]!;
      let end = 0;
      for (const done of await Promise.all(appended)) end = Math.max(end, done.end);
      this.timings.commitMsTotal += (clock.monoMs() - startedMs) * committing;
      return answer(end);
    } catch (error) {
      // The head holds a change the log did not take: the writer view is wrong from here on,
      // so this database refuses writes until it is reopened (the supervisor restarts it).
      if (this.failure === null) queueMicrotask(() => this.options.onFailure?.(error));
      this.failure = error;
      const failed = fail('DATABASE_UNAVAILABLE', `log write failed: ${(error as Error).message}`);
      return planned.map((plan) => (plan.ok ? failed : plan));
    }
  }

  /** Why a commit of `requests` transactions is refused before planning; null when it may go on. */
  private refusal(requests: number): Failure | null {
    if (this.failure !== null) return fail('DATABASE_UNAVAILABLE', `database ${this.name} failed: ${String(this.failure)}`);
    if (this.closing) return fail('DATABASE_UNAVAILABLE', `database ${this.name} is shutting down`);
    if (this.role !== 'active') return fail('NOT_ACTIVE', `this copy of ${this.name} is passive`);
    if (requests > commitManyRequestsMax) return fail('LIMIT', `at most ${commitManyRequestsMax} transactions in one commitMany`);
    const low = this.lowDisk();
    if (low !== null) return fail('DISK_FULL', low);
    // Backpressure before planning: once planned, the head holds the change, so the append must not be refused.
    if (this.log.queuedAppends + requests > commitQueueTransactionsMax) return fail('LIMIT', 'commit queue full, try again');
    return null;
  }

  private async onDurable(batch: DurableBatch): Promise<void> {
    const touched = emptyTouched();
    const changes = new Map<string, ChangeBuilder>();
    for (const append of batch.appends) {
      for (const event of append.tag as MailEvent[]) {
        apply(this.durable, event, touched);
        noteChange(changes, this.durable, event);
      }
    }
    this.durable.position = batch.end;
    const clock = this.options.clock;
    const startedMs = clock.monoMs();
    await this.writeState(batch.end, materialize(this.durable, touched));
    const writtenMs = clock.monoMs();
    this.timings.stateMsTotal += writtenMs - startedMs;
    await this.options.onBatch?.({ start: batch.start, end: batch.end, bytes: batch.bytes });
    this.timings.shipMsTotal += clock.monoMs() - writtenMs;
    this.notify(changes);
    // New contents are only queued: the indexer tokenizes them later, in slices between commits.
    this.indexer.onBatch(batch.appends.flatMap((append) => append.tag as MailEvent[]), deletedContents(touched));
  }

  /**
   * Queues a batch's state-store writes behind the one in flight, starting it at once when none
   * is, and returns without waiting for it, unless `stateBatchesBehindMax` batches are already
   * behind (backpressure). A failed write stops the database: the log holds every answered
   * commit, and reopening replays it from the checkpoint the store did reach.
   */
  private async writeState(end: number, ops: readonly KvOp[]): Promise<void> {
    while (this.stateWriting !== null && (this.stateQueued?.batches ?? 0) >= stateBatchesBehindMax) await this.stateWriting.done;
    if (this.failure !== null) throw this.failure;
    const queued = (this.stateQueued ??= { ops: new Map(), end, batches: 0 });
    for (const op of ops) queued.ops.set(op.key, op.value);
    queued.end = end;
    queued.batches += 1;
    if (this.stateWriting === null) this.startStateWrite();
  }

  private startStateWrite(): void {
    const next = this.stateQueued;
    if (next === null) return;
    this.stateQueued = null;
    const done = this.kv.write([...next.ops].map(([key, value]) => ({ key, value }))).then(
      () => {
        this.materializedPosition = next.end;
        this.stateWriting = null;
        this.startStateWrite();
      },
      (error: unknown) => {
        if (this.failure === null) queueMicrotask(() => this.options.onFailure?.(error));
        this.failure ??= error;
        this.stateWriting = null;
      },
    );
    this.stateWriting = { ops: next.ops, done };
  }

  /** A state-store value, newest first: a batch not written yet, else the store. */
  private async stored(key: string): Promise<Uint8Array | undefined> {
    for (const pending of [this.stateQueued, this.stateWriting]) {
      if (pending?.ops.has(key)) return pending.ops.get(key) ?? undefined;
    }
    // A passive copy's replay not written yet (deep checkpoint): contents and their summaries.
    const unwritten = this.unwritten === null ? undefined : touchedContentValue(this.unwritten, key);
    if (unwritten !== undefined) return unwritten ?? undefined;
    return this.kv.get(key);
  }

  /** Waits until every durable batch's state-store write has landed (or one failed). */
  async stateSettled(): Promise<void> {
    while (this.stateWriting !== null) await this.stateWriting.done;
  }

  /**
   * A passive copy: verify and append a batch shipped from the active copy, then replay up to
   * `replayTo` (default: all of it; a lagged copy replays only what is old enough). `mark`:
   * answer only once a durable record says the batch was synced (a sync-mode acknowledgement);
   * otherwise the next batch's mark or an idle flush map says so (`TransactionLog.appendFramed`).
   * Refused under the low-disk guard: the copy stops receiving (the supervisor marks it Failed)
   * rather than fill the disk.
   */
  async receiveBatch(bytes: Uint8Array, start: number, replayTo?: number, mark = false): Promise<void> {
    assert(this.role === 'passive', 'only a passive copy receives batches');
    const low = this.lowDisk();
    if (low !== null) throw new Error(low);
    try {
      await this.log.appendFramed(bytes, start, { mark });
    } catch (error) {
      // A shipped batch that fails its scan is the transport's fault (asked again from our end);
      // a failed write or sync stops the copy like the active's: the worker restarts and recovers.
      if (!(error instanceof LogCorruptError)) {
        if (this.failure === null) queueMicrotask(() => this.options.onFailure?.(error));
        this.failure ??= error;
      }
      throw error;
    }
    await this.playForward(replayTo ?? this.log.end, { boundary: true });
  }

  /**
   * A passive copy replays its received log: every whole batch that ends at or before `to`.
   * The state store is written once per checkpoint depth of replayed log, the touched keys of
   * every batch since merged (passive copies keep a deep checkpoint, as Exchange 2013 did).
   */
  async playForward(to: number, options: { boundary?: boolean } = {}): Promise<number> {
    // One replay at a time: an operator's play-forward and the replay after a received batch
    // would otherwise read from the same position and both apply the same batches, and the
    // one finishing last would set the replayed position back.
    const run = this.replaying.then(() => this.playForwardNow(to, options));
    this.replaying = run.catch(() => undefined);
    return run;
  }

  private replaying: Promise<unknown> = Promise.resolve();

  private async playForwardNow(to: number, options: { boundary?: boolean }): Promise<number> {
    assert(this.role === 'passive', 'only a passive copy plays its log forward');
    const depth = this.options.checkpointDepthBytes ?? checkpointDepthBytesPassive;
    if (Math.min(to, this.log.end) > this.durable.position) {
      // To the end, or to a known batch end: read exactly that far. To any other position (an
      // operator's --to): read on and stop before the first batch that ends past it.
      const exact = to >= this.log.end || options.boundary === true;
      for await (const batch of this.log.read(this.durable.position, exact ? Math.min(to, this.log.end) : undefined)) {
        if (batch.end > to) break;
        const { events, touched } = applyLogged(this.durable, batch);
        this.unwritten = this.unwritten === null ? touched : mergeTouched(this.unwritten, touched);
        // Queued for the content index, indexed when replay is quiet (the contents it reads are served from `unwritten` until written).
        this.indexer.onBatch(events, deletedContents(touched));
        if (this.durable.position - this.materializedPosition >= depth) await this.writeCheckpoint();
      }
    }
    this.head = this.durable;
    return this.durable.position;
  }

  /** Writes what was replayed since the last write, with the checkpoint, in one store batch. */
  private async writeCheckpoint(): Promise<void> {
    if (this.unwritten === null) return;
    // A checkpoint never names a position recovery could cut (a received tail no mark covers yet).
    await this.log.markSynced();
    const touched = this.unwritten;
    this.unwritten = null;
    await this.kv.write(materialize(this.durable, touched));
    this.materializedPosition = this.durable.position;
  }

  /** Null when there is room; else why writes are held. Refreshes the reading in the background once it is stale. */
  private lowDisk(): string | null {
    const min = this.options.diskFreeBytesMin ?? diskFreeBytesMinDefault;
    if (min <= 0) return null;
    if (this.options.clock.monoMs() - this.diskFree.atMs >= diskFreeCheckIntervalMs) void this.refreshDiskFree();
    const free = this.diskFree.bytes;
    if (free === null || free >= min) return null;
    return `low disk: ${free} bytes free where ${this.name} keeps its files, below the ${min} the server keeps in reserve; writes resume once space is freed`;
  }

  private async refreshDiskFree(): Promise<void> {
    if (this.diskFree.refreshing) return;
    this.diskFree.refreshing = true;
    this.diskFree.atMs = this.options.clock.monoMs();
    try {
      this.diskFree.bytes = await this.options.storage.freeBytes(this.options.dir);
    } catch {
      // unknown: the guard keeps its last reading
    } finally {
      this.diskFree.refreshing = false;
    }
  }

  /**
   * A consistent snapshot of this copy into `dir` (for a reseed): the state store's files as of a
   * batch boundary (KvStore.checkpoint: writes are held meanwhile) and hard links to the log
   * segments from the one holding the state's checkpoint to the log's end at that moment. The
   * links keep those segments' bytes while the copy truncates its own log.
   */
  async snapshot(dir: string): Promise<Result<SnapshotInfo>> {
    const kv = this.kv;
    if (kv.checkpoint === undefined) return fail('INVALID_ARGUMENT', `the state store of ${this.name} cannot take a checkpoint`);
    const { storage } = this.options;
    await storage.remove(dir);
    await storage.mkdirp(join(dir, 'log'));
    // The store's checkpoint at the pause is at least this: the log tail starts at or before it.
    const from = this.materializedPosition;
    const logFiles: Array<{ path: string; bytes: number }> = [];
    let logStartPosition = 0;
    let logEndPosition = 0;
    const taken = await kv.checkpoint(join(dir, 'state'), async () => {
      // Read in one turn with nothing awaited, so the segment list and the end agree.
      const end = this.log.end;
      const { dir: logDir, segments } = this.log.segmentFiles();
      const wanted = segments.filter((segment, i) => (segments[i + 1]?.start ?? Infinity) > from && (segment.start < end || segment.start <= from));
      logStartPosition = wanted[0]!.start;
      logEndPosition = end;
      for (let i = 0; i < wanted.length; i++) {
        const segment = wanted[i]!;
        await storage.link(join(logDir, segment.name), join(dir, 'log', segment.name));
        logFiles.push({ path: `log/${segment.name}`, bytes: Math.min(wanted[i + 1]?.start ?? end, end) - segment.start });
      }
      await storage.syncDir(join(dir, 'log'));
    });
    // The content index's snapshot is replaced whole (a rename), never written in place: a link
    // to the current one is a consistent file, and any one is right for the documents it holds
    // (engine/search/README.md); a copy opened on it indexes only what was stored since.
    const indexFiles: Array<{ path: string; bytes: number }> = [];
    try {
      await storage.mkdirp(join(dir, 'search'));
      await storage.link(this.indexPath, join(dir, 'search', indexFileName));
      const linked = await storage.open(join(dir, 'search', indexFileName), { create: false });
      indexFiles.push({ path: `search/${indexFileName}`, bytes: await linked.size().finally(() => linked.close()) });
      await storage.syncDir(join(dir, 'search'));
    } catch {
      // None written yet: the reseeded copy builds its index from its contents.
    }
    return ok({
      files: [...taken.files.map((f) => ({ path: `state/${f.name}`, bytes: f.bytes })), ...logFiles, ...indexFiles],
      logStartPosition,
      logEndPosition,
      pauseMs: taken.pauseMs,
    });
  }

  /**
   * A passive copy becomes the active one in place (an activation): its state is current to its
   * log end, so it takes commits at once, with no reopen, replay or new process.
   */
  async promote(): Promise<void> {
    assert(this.role === 'passive', 'only a passive copy is promoted');
    // Everything received is replayed (a lagged copy is played forward), and what the deep
    // passive checkpoint held back is written: the active path writes only what each batch touches.
    await this.playForward(this.log.end);
    await this.writeCheckpoint();
    assert(this.log.end === this.durable.position, 'a promoted copy has replayed all it received');
    this.role = 'active';
    this.head = structuredClone(this.durable);
    this.indexer.setMode('live'); // what replay left waiting is indexed now, in slices
  }

  private notify(changes: Map<string, ChangeBuilder>): void {
    for (const [mailboxId, change] of changes) {
      const listeners = this.watchers.get(mailboxId);
      if (listeners === undefined) continue;
      const message: MailboxChange = {
        mailboxId,
        modseqHighest: this.durable.mailboxes.get(mailboxId)?.modseqHighest ?? 0,
        hierarchyChanged: change.hierarchyChanged,
        folders: [...change.folders.values()],
        ...(change.documents.size > 0 ? { documents: [...change.documents] } : {}),
      };
      for (const listener of listeners) {
        try {
          listener(message);
        } catch {
          // A watcher's bug must not stop the writer.
        }
      }
    }
  }

  watch(mailboxId: string, listener: (change: MailboxChange) => void): () => void {
    let set = this.watchers.get(mailboxId);
    if (set === undefined) this.watchers.set(mailboxId, (set = new Set()));
    assert(set.size < watchersPerMailboxMax, 'too many watchers on one mailbox');
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) this.watchers.delete(mailboxId);
    };
  }

  async mailbox(mailboxId: string): Promise<Result<MailboxInfo>> {
    const m = this.durable.mailboxes.get(mailboxId);
    if (m === undefined) return fail('NO_SUCH_MAILBOX', `no mailbox ${mailboxId} in ${this.name}`);
    const documents = Object.fromEntries([...m.documents].map(([kind, k]) => [kind, k.modseqHighest]));
    return ok({ mailboxId, address: m.address, public: m.public, quotaBytes: m.quotaBytes, usedBytes: m.usedBytes, modseqHighest: m.modseqHighest, folders: m.folders.size, documents, ...(m.importing === true ? { importing: true } : {}) });
  }

  async documents(mailboxId: string, kind: string, options: { readonly ids?: readonly string[] } = {}): Promise<Result<DocumentListing>> {
    return this.documentListing(mailboxId, kind, options);
  }

  /** What a commit's `documentsAfter` asks for, from the durable state as it is now. */
  private documentsAfter(request: TxRequest): Pick<CommitResult, 'documentsRead'> {
    const want = request.documentsAfter;
    if (want === undefined) return {};
    const read = this.documentListing(request.mailboxId, want.kind, { ids: want.ids });
    return read.ok ? { documentsRead: read.value } : {};
  }

  private documentListing(mailboxId: string, kind: string, options: { readonly ids?: readonly string[] }): Result<DocumentListing> {
    const m = this.durable.mailboxes.get(mailboxId);
    if (m === undefined) return fail('NO_SUCH_MAILBOX', `no mailbox ${mailboxId} in ${this.name}`);
    const k = m.documents.get(kind);
    if (k === undefined) return ok({ modseqHighest: 0, documents: [], destroyed: [], destroyedDroppedModseq: 0 });
    const found = options.ids === undefined ? [...k.documents.values()] : options.ids.flatMap((id) => k.documents.get(id) ?? []);
    // Values are shared with the state (and never changed in place): callers get their own copy.
    return ok(structuredClone({ modseqHighest: k.modseqHighest, documents: found, destroyed: k.destroyed, destroyedDroppedModseq: k.destroyedDroppedModseq }));
  }

  async folders(mailboxId: string): Promise<Result<FolderInfo[]>> {
    const m = this.durable.mailboxes.get(mailboxId);
    if (m === undefined) return fail('NO_SUCH_MAILBOX', `no mailbox ${mailboxId} in ${this.name}`);
    return ok([...m.folders.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((f) => folderInfo(f, m.subscriptions.has(f.name))));
  }

  /** The listing a commit's `listAfter` asks for, from the durable state as it is now. */
  private listAfter(request: TxRequest): Pick<CommitResult, 'listed'> {
    const want = request.listAfter;
    if (want === undefined) return {};
    const listing = this.listing(request.mailboxId, want.folder, { changedSince: want.changedSince });
    const mailbox = this.durable.mailboxes.get(request.mailboxId);
    return listing.ok && mailbox !== undefined ? { listed: { listing: listing.value, mailboxModseqHighest: mailbox.modseqHighest } } : {};
  }

  async sharedFolders(identifier: string): Promise<Result<Array<{ mailboxId: string; address: string; folder: FolderInfo }>>> {
    const out: Array<{ mailboxId: string; address: string; folder: FolderInfo }> = [];
    for (const m of this.durable.mailboxes.values()) {
      if (m.public || m.address === identifier) continue;
      for (const f of m.folders.values()) {
        if (!(identifier in f.acl) && !('anyone' in f.acl)) continue;
        if (out.length >= sharedFoldersPerCallMax) return ok(out);
        out.push({ mailboxId: m.mailboxId, address: m.address, folder: folderInfo(f, false) });
      }
    }
    return ok(out);
  }

  async listMessages(mailboxId: string, folderName: string, options: ListOptions = {}): Promise<Result<FolderListing>> {
    return this.listing(mailboxId, folderName, options);
  }

  /** listMessages with the messages in columns (engine/worker/pack.ts): the worker's answer, no object per message. */
  listMessagesPacked(mailboxId: string, folderName: string, options: ListOptions = {}): Result<PackedListing> {
    // A whole large folder's listing is kept packed and patched (PackedListings), except in a mailbox being imported.
    const keep = options.changedSince === undefined && this.durable.mailboxes.get(mailboxId)?.importing !== true;
    return this.listing(mailboxId, folderName, options, keep ? (messages) => this.packedListings.pack(messages) : packMessages);
  }

  async listMessageColumns(mailboxId: string, folderName: string, options: ListOptions = {}): Promise<Result<ColumnListing>> {
    return this.listMessagesPacked(mailboxId, folderName, options);
  }

  private listing(mailboxId: string, folderName: string, options: ListOptions): Result<FolderListing>;
  private listing<T>(mailboxId: string, folderName: string, options: ListOptions, shape: (messages: MessageMeta[]) => T): Result<Omit<FolderListing, 'messages'> & { messages: T }>;
  private listing(mailboxId: string, folderName: string, options: ListOptions, shape: (messages: MessageMeta[]) => unknown = (ms) => ms.map(messageInfo)): Result<Omit<FolderListing, 'messages'> & { messages: unknown }> {
    const found = this.findFolder(mailboxId, folderName);
    if (!found.ok) return found;
    const { folder, subscribed } = found.value;
    const since = options.changedSince;
    const messages = shape(since === undefined ? folder.messages : folder.messages.filter((m) => m.modseq > since));
    const gone = since === undefined ? [] : folder.expunged.filter((e) => e.modseq > since);
    const vanished = gone.map((e) => e.uid);
    const vanishedEmailIds = gone.map((e) => e.emailId ?? null);
    const vanishedIncomplete = since !== undefined && since < folder.expungedDroppedModseq;
    const history = options.history === true ? { expunged: folder.expunged.map((e) => ({ uid: e.uid, modseq: e.modseq })), expungedDroppedModseq: folder.expungedDroppedModseq } : {};
    return ok({ folder: folderInfo(folder, subscribed), messages, vanished, vanishedEmailIds, vanishedIncomplete, ...history });
  }

  async readMessage(mailboxId: string, folderName: string, uid: number): Promise<Result<Uint8Array>> {
    const found = this.findFolder(mailboxId, folderName);
    if (!found.ok) return found;
    const index = findMessageIndex(found.value.folder, uid);
    if (index < 0) return fail('NO_SUCH_MESSAGE', `no message with UID ${uid}`);
    return ok(await this.messageBytes(found.value.folder.messages[index]!));
  }

  /** A message as every reader sees it: its prefix, then its content. */
  private async messageBytes(message: MessageMeta): Promise<Uint8Array> {
    const content = await this.contentBytes(message.hash);
    if (message.prefix === undefined) return content;
    return withPrefixBytes(messagePrefix(message), content);
  }

  /** A message's MIME summary: its content's, shifted behind its prefix (engine/mime/prefix.ts). */
  private async messageSummary(message: MessageMeta): Promise<MessageSummary> {
    return withPrefix(await this.summaryOf(message.hash), messagePrefix(message));
  }

  private async contentBytes(hash: string): Promise<Uint8Array> {
    const record = await this.stored(contentKey(hash));
    if (record === undefined) throw new DatabaseCorruptError(`content ${hash} missing from the state store`);
    const { compression, data } = decodeContentRecord(record);
    return compression === 'deflate' ? new Uint8Array(inflateRawSync(data)) : new Uint8Array(data);
  }

  /** A content's MIME summary: cached, else stored (s/<hash>), else parsed now (content stored before summaries existed). */
  private async summaryOf(hash: string): Promise<MessageSummary> {
    const cached = this.summaryCache.get(hash);
    if (cached !== undefined) {
      this.summaryCache.delete(hash);
      this.summaryCache.set(hash, cached);
      return cached;
    }
    const record = await this.stored(summaryKey(hash));
    let summary = record === undefined ? null : (JSON.parse(dec.decode(record)) as MessageSummary);
    if (summary === null || summary.version !== summaryVersion) summary = summarize(await this.contentBytes(hash));
    if (this.summaryCache.size >= summaryCacheEntriesMax) this.summaryCache.delete(this.summaryCache.keys().next().value!);
    this.summaryCache.set(hash, summary);
    return summary;
  }

  async summaries(mailboxId: string, folderName: string, uids: readonly number[]): Promise<Result<MessageContent[]>> {
    if (uids.length > summariesPerCallMax) return fail('LIMIT', `at most ${summariesPerCallMax} messages per summaries call`);
    const found = this.findFolder(mailboxId, folderName);
    if (!found.ok) return found;
    const folder = found.value.folder;
    const out: MessageContent[] = [];
    for (const uid of [...new Set(uids)].sort((a, b) => a - b)) {
      const index = findMessageIndex(folder, uid);
      if (index < 0) continue;
      const m = folder.messages[index]!;
      out.push({ uid, emailId: m.emailId, threadId: m.threadId, sizeBytes: m.sizeBytes, internalDateMs: m.internalDateMs, summary: await this.messageSummary(m) });
    }
    return ok(out);
  }

  /** One message's bytes and MIME summary. */
  private async messageContent(mailboxId: string, folderName: string, uid: number): Promise<Result<{ bytes: Uint8Array; summary: MessageSummary }>> {
    const found = this.findFolder(mailboxId, folderName);
    if (!found.ok) return found;
    const index = findMessageIndex(found.value.folder, uid);
    if (index < 0) return fail('NO_SUCH_MESSAGE', `no message with UID ${uid}`);
    const message = found.value.folder.messages[index]!;
    return ok({ bytes: await this.messageBytes(message), summary: await this.messageSummary(message) });
  }

  async readPart(mailboxId: string, folderName: string, uid: number, section: Section, options: { binary?: boolean } = {}): Promise<Result<Uint8Array | null>> {
    const content = await this.messageContent(mailboxId, folderName, uid);
    if (!content.ok) return content;
    const { bytes, summary } = content.value;
    if (options.binary !== true) {
      const slice = sectionBytes(bytes, summary, section);
      return ok(slice === null ? null : slice.slice());
    }
    if (section.specifier !== undefined) return fail('INVALID_ARGUMENT', 'BINARY takes a part number only');
    const decoded = binaryBytes(bytes, summary, section.path);
    if (decoded === 'unknownEncoding') return fail('UNKNOWN_CTE', `part ${section.path.join('.')} has a transfer encoding that cannot be decoded`);
    return ok(decoded === null ? null : decoded.slice());
  }

  async bodyValues(mailboxId: string, folderName: string, uid: number, partIds: readonly string[], options: { bytesMax?: number } = {}): Promise<Result<Record<string, BodyValue>>> {
    const content = await this.messageContent(mailboxId, folderName, uid);
    if (!content.ok) return content;
    return ok(bodyValuesOf(content.value.bytes, content.value.summary, partIds, options.bytesMax ?? 0));
  }

  private findFolder(mailboxId: string, folderName: string): Result<{ folder: FolderState; subscribed: boolean }> {
    const m = this.durable.mailboxes.get(mailboxId);
    if (m === undefined) return fail('NO_SUCH_MAILBOX', `no mailbox ${mailboxId} in ${this.name}`);
    const name = normalizeFolderName(folderName);
    const folder = m.folders.get(m.folderIdsByName.get(name) ?? -1);
    if (folder === undefined) return fail('NO_SUCH_FOLDER', `no folder ${folderName}`);
    return ok({ folder, subscribed: m.subscriptions.has(name) });
  }

  /** Loads the persisted content index and catches it up with this copy's contents, or builds it (the worker starts it at open). */
  startIndexing(): Promise<void> {
    return this.indexer.start();
  }

  /** Resolves once every content stored so far is indexed (tests and benches; searches never need it). */
  indexSettled(): Promise<void> {
    return this.indexer.settled();
  }

  async search(mailboxId: string, folderName: string, criterion: ContentCriterion, options: { uids?: readonly number[] } = {}): Promise<Result<number[]>> {
    const problem = checkCriterion(criterion);
    if (problem !== null) return problem;
    const found = this.findFolder(mailboxId, folderName);
    if (!found.ok) return found;
    const folder = found.value.folder;
    let messages = folder.messages;
    if (options.uids !== undefined) {
      const wanted = new Set(options.uids);
      messages = messages.filter((m) => wanted.has(m.uid));
    }
    return ok(await this.indexer.search(messages, criterion));
  }

  /** Waits for queued commits, writes the state and marks the header Clean Shutdown. */
  async close(): Promise<void> {
    this.indexer.stop();
    this.closing = true;
    await this.log.close();
    await this.stateSettled();
    await this.writeCheckpoint();
    await this.indexer.close(); // its snapshot, so the next open resumes from here
    await this.kv.close();
    if (this.failure === null) {
      await writeHeader(this.options.storage, join(this.options.dir, 'header.json'), { format: 1, database: this.options.name, shutdown: 'clean' });
    }
  }
}

/**
 * Transactions' events as log appends: consecutive transactions together while their records
 * fit in one append (appendBytesMax), each transaction whole in one append. A single
 * transaction larger than that stays one append (the log refuses it).
 */
function appendGroups(transactions: readonly MailEvent[][]): Array<{ records: EncodedEvent[]; events: MailEvent[] }> {
  const groups: Array<{ records: EncodedEvent[]; events: MailEvent[]; bytes: number }> = [];
  for (const events of transactions) {
    const records = events.map(encodeRecord);
    const bytes = batchBytesOf(records);
    const last = groups[groups.length - 1];
    if (last !== undefined && last.bytes + bytes <= appendBytesMax) {
      last.records.push(...records);
      last.events.push(...events);
      last.bytes += bytes;
    } else groups.push({ records, events: [...events], bytes });
  }
  return groups;
}

/** Replays verified batches from state.position to `end`, writing each to the store with its checkpoint. */
async function replay(log: TransactionLog, kv: KvStore, state: DatabaseState, end: number): Promise<number> {
  let batches = 0;
  for await (const batch of log.read(state.position, end)) {
    await kv.write(materialize(state, applyLogged(state, batch).touched));
    batches += 1;
  }
  return batches;
}

/** Applies one batch read from the log to `state` (recovery and a passive copy's replay alike). */
function applyLogged(state: DatabaseState, batch: { end: number; records: readonly LogRecord[] }): { events: MailEvent[]; touched: Touched } {
  const touched = emptyTouched();
  const events = batch.records.map((record) => decodeEvent(record.type, record.version, record.payload));
  for (const event of events) apply(state, event, touched);
  state.position = batch.end;
  return { events, touched };
}

/** The contents a batch deleted (the content index forgets them). */
function deletedContents(touched: Touched): string[] {
  return [...touched.contentData].filter(([, data]) => data === null).map(([hash]) => hash);
}

/** `later` folded into `earlier` (a passive copy's batches between two state writes); materialize reads the state, so the newest wins. */
function mergeTouched(earlier: Touched, later: Touched): Touched {
  for (const id of later.mailboxes) earlier.mailboxes.add(id);
  for (const id of later.folders) earlier.folders.add(id);
  for (const [id, exists] of later.messages) earlier.messages.set(id, exists);
  for (const hash of later.contents) earlier.contents.add(hash);
  for (const [hash, data] of later.contentData) earlier.contentData.set(hash, data);
  for (const [hash, summary] of later.contentSummaries) earlier.contentSummaries.set(hash, summary);
  earlier.foldersRemoved.push(...later.foldersRemoved);
  earlier.mailboxesRemoved.push(...later.mailboxesRemoved);
  for (const id of later.retired) earlier.retired.add(id);
  for (const ref of later.documents) earlier.documents.add(ref);
  for (const ref of later.documentKinds) earlier.documentKinds.add(ref);
  return earlier;
}

function folderInfo(f: FolderState, subscribed: boolean): FolderInfo {
  return {
    folderId: f.folderId,
    name: f.name,
    uidValidity: f.uidValidity,
    uidNext: f.uidNext,
    modseqHighest: f.modseqHighest,
    messages: f.messages.length,
    unseen: f.unseenCount,
    sizeBytes: f.sizeBytes,
    specialUse: f.specialUse,
    subscribed,
    acl: { ...f.acl },
    address: f.address,
  };
}

function messageInfo(m: FolderState['messages'][number]): MessageInfo {
  return { uid: m.uid, modseq: m.modseq, flags: [...m.flags], sizeBytes: m.sizeBytes, internalDateMs: m.internalDateMs, emailId: m.emailId, threadId: m.threadId, ...(m.prefix === undefined ? {} : { prefixBytes: m.prefix.length }) };
}

interface ChangeBuilder {
  hierarchyChanged: boolean;
  /** Account document kinds changed. */
  documents: Set<string>;
  folders: Map<number, { name: string; folderId: number; appended: number[]; expunged: number[]; flagged: number[] }>;
}

function noteChange(changes: Map<string, ChangeBuilder>, state: DatabaseState, event: MailEvent): void {
  if (event.type === EventType.ContentStored) return;
  let change = changes.get(event.mailboxId);
  if (change === undefined) changes.set(event.mailboxId, (change = { hierarchyChanged: false, documents: new Set(), folders: new Map() }));
  if (event.type === EventType.DocumentSet || event.type === EventType.DocumentDestroyed || event.type === EventType.DocumentsImported) {
    change.documents.add(event.kind);
  } else if (event.type === EventType.MessageAppended || event.type === EventType.FlagsSet || event.type === EventType.MessagesExpunged) {
    let entry = change.folders.get(event.folderId);
    if (entry === undefined) {
      const name = state.mailboxes.get(event.mailboxId)?.folders.get(event.folderId)?.name ?? '';
      change.folders.set(event.folderId, (entry = { name, folderId: event.folderId, appended: [], expunged: [], flagged: [] }));
    }
    if (event.type === EventType.MessageAppended) entry.appended.push(event.uid);
    else if (event.type === EventType.FlagsSet) entry.flagged.push(...event.items.map((i) => i.uid));
    else entry.expunged.push(...event.items.map((i) => i.uid));
  } else {
    change.hierarchyChanged = true;
  }
}

export { seenFlag };
