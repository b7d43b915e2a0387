// Keeps a database copy's content index, persists it, and answers searches with it.
//
// States: Crawling (catching up: from nothing, or from the persisted snapshot, in the
// background, with progress), Healthy (every stored content is indexed or waiting in the
// backlog; new ones are fed from each durable batch's ContentStored events — the active copy's
// commits and a passive copy's replay alike — deleted ones forgotten), Failed (indexing hit an
// error: the copy is still served, by brute force). Whatever the state, results are the
// brute-force results: an index answer is exact or is verified (index.ts), a content not
// indexed yet is verified, and without a healthy index every message is matched by brute force.
//
// Off the hot paths. A batch only queues its new contents (the bytes as logged, deflated or
// not); they are indexed later in slices of `indexSliceMs` that yield to the event loop through
// the clock (the simulator's clock decides when they run), so commits, replay and reads wait at
// most a slice for it. The queue is bounded (`indexBacklogBytesMax`): past it a content is
// queued by hash alone and read back from the state store when its turn comes. Mode `live`
// (the active copy) indexes as soon as the loop is free; mode `idle` (a passive copy) only once
// no batch was replayed for `passiveIndexIdleMs`, or once the oldest content waiting is
// `passiveIndexLagMsMax` old, so a promoted copy is never far behind; promotion makes it live.
//
// Persistence: a snapshot file in the copy's directory (index.ts has the layout), written
// atomically once enough has changed since the last one (a quarter of the documents, at least
// `snapshotChangesMin`), when a crawl ends, and at close. Documents are contents named by
// their hash, and a content never changes, so any snapshot is right about every document it
// holds: at open the index loads it, forgets what is no longer stored and indexes only the
// contents stored since (Crawling, with progress), instead of the whole copy (the backlog a
// close leaves is caught up the same way). A damaged or older-format snapshot is thrown away
// and the index crawled again.

import { inflateRawSync } from 'node:zlib';
import { EventType, type MailEvent } from '../events/types.js';
import type { MessageSummary } from '../mime/types.js';
import type { Clock, Storage } from '../io.js';
import { ContentIndex, SnapshotError, answerUnknown, answerYes } from './index.js';
import { matches, prefixTextOf, searchText, type SearchText } from './text.js';
import {
  indexBacklogBytesMax, indexSliceDocumentsMax, indexSliceMs, passiveIndexIdleMs, passiveIndexLagMsMax, passiveIndexPollMs, prefixTextsCachedMax, snapshotChangesMin, snapshotSliceMs,
} from './constants.js';
import type { ContentCriterion, IndexMode, SearchIndexState, SearchIndexStatus } from './types.js';

export interface IndexSource {
  /** The copy's live contents (hash, size) now. */
  contents(): Array<[string, number]>;
  isLive(hash: string): boolean;
  read(hash: string): Promise<{ bytes: Uint8Array; summary: MessageSummary }>;
  /** The log position the copy's state covers (recorded in a snapshot, for information). */
  position?(): number;
}

/** Where the index is persisted: one file, written with Storage.writeAtomic. */
export interface IndexStore {
  readonly storage: Storage;
  readonly path: string;
  readonly checksum: (bytes: Uint8Array) => number;
}

/** How and when new contents are indexed (defaults in constants.ts; the simulator and tests set small ones). */
export interface IndexingOptions {
  readonly mode?: IndexMode;
  readonly sliceMs?: number;
  readonly sliceDocumentsMax?: number;
  readonly backlogBytesMax?: number;
  readonly idleMs?: number;
  readonly lagMsMax?: number;
}

/** A content waiting to be indexed, as the log holds it. */
interface Waiting {
  readonly data: Uint8Array;
  readonly deflated: boolean;
  readonly summary: MessageSummary;
  readonly atMs: number;
}

interface FolderIds {
  hashes: string[];
  ids: Int32Array;
}

export class SearchIndexer {
  private index = new ContentIndex();
  private state: SearchIndexState = 'Crawling';
  private error: string | null = null;
  private total = 0;
  private crawl: Promise<void> | null = null;
  private stopped = false;
  /** The backlog: contents waiting with their bytes (at most backlogBytesMax of them), then by hash alone (read back from the store). */
  private readonly pending = new Map<string, Waiting>();
  private pendingBytes = 0;
  private readonly unread = new Map<string, number>();
  private pumping: Promise<void> | null = null;
  private mode: IndexMode;
  private lastBatchMs = -Infinity;
  private readonly sliceMs: number;
  private readonly sliceDocumentsMax: number;
  private readonly backlogBytesMax: number;
  private readonly idleMs: number;
  private readonly lagMsMax: number;
  private indexMsTotal = 0;
  private snapshots = 0;
  private snapshotMsTotal = 0;
  /** Documents added or forgotten since the last snapshot. */
  private changes = 0;
  private writing: Promise<void> | null = null;
  private snapshotBytes = 0;
  private loaded = 0;
  /** Per message list (a folder's), the document id of each message: kept between searches. */
  private folderIds = new WeakMap<object, FolderIds>();

  constructor(
    private readonly source: IndexSource,
    private readonly store: IndexStore | null,
    /** Slices yield with clock.sleep(0) and are timed with clock.monoMs. */
    private readonly clock: Clock,
    options: IndexingOptions = {},
  ) {
    this.mode = options.mode ?? 'live';
    this.sliceMs = options.sliceMs ?? indexSliceMs;
    this.sliceDocumentsMax = options.sliceDocumentsMax ?? indexSliceDocumentsMax;
    this.backlogBytesMax = options.backlogBytesMax ?? indexBacklogBytesMax;
    this.idleMs = options.idleMs ?? passiveIndexIdleMs;
    this.lagMsMax = options.lagMsMax ?? passiveIndexLagMsMax;
  }

  status(): SearchIndexStatus {
    const backlog = this.pending.size + this.unread.size;
    return {
      state: this.state,
      documents: this.index.documents,
      documentsTotal: this.state === 'Healthy' ? this.index.documents + backlog : Math.max(this.total, this.index.documents),
      documentsLoaded: this.loaded,
      bytes: this.index.bytes,
      persistedBytes: this.snapshotBytes,
      contentBytes: this.index.contentBytes,
      error: this.error,
      mode: this.mode,
      backlogDocuments: backlog,
      backlogBytes: this.pendingBytes,
      backlogUnread: this.unread.size,
      lagMs: backlog === 0 ? 0 : Math.max(0, Math.round(this.clock.monoMs() - this.oldestWaitingMs())),
      indexMsTotal: Math.round(this.indexMsTotal),
      snapshots: this.snapshots,
      snapshotMsTotal: Math.round(this.snapshotMsTotal),
    };
  }

  /** `live` (the active copy) or `idle` (a passive copy: index when replay is quiet or the lag is long). Promotion sets `live`. */
  setMode(mode: IndexMode): void {
    this.mode = mode;
    this.kick();
  }

  /** Resolves once the backlog is indexed (or indexing stopped or failed): tests and benches. */
  async settled(): Promise<void> {
    while (this.pumping !== null) await this.pumping;
  }

  /** Loads the persisted index, if any, and catches up with the copy's contents (else builds it). Resolves when Healthy or Failed. */
  start(): Promise<void> {
    return this.begin(true);
  }

  /** Builds the index from the copy's contents again, ignoring any snapshot. */
  rebuild(): Promise<void> {
    return this.begin(false);
  }

  private begin(load: boolean): Promise<void> {
    if (this.crawl !== null) return this.crawl;
    this.index = new ContentIndex();
    this.folderIds = new WeakMap();
    this.state = 'Crawling';
    this.error = null;
    this.crawl = this.run(load).finally(() => (this.crawl = null));
    return this.crawl;
  }

  /** Stops a crawl at its next step (close). */
  stop(): void {
    this.stopped = true;
  }

  private async run(load: boolean): Promise<void> {
    try {
      if (load && this.store !== null) await this.load();
      const contents = this.source.contents();
      this.total = contents.length;
      // Forget what the snapshot holds and the copy no longer stores.
      for (const hash of this.index.contents()) if (!this.source.isLive(hash)) this.forget(hash);
      let sinceSnapshot = 0;
      for (const [hash] of contents) {
        if (this.stopped) return;
        if (this.index.has(hash) || !this.source.isLive(hash)) continue;
        const { bytes, summary } = await this.source.read(hash);
        if (this.source.isLive(hash)) this.addDocument(hash, searchText(bytes, summary), bytes.length);
        // A long crawl persists its progress now and then, so a restart resumes from there.
        if (++sinceSnapshot >= Math.max(snapshotChangesMin, this.index.documents)) {
          sinceSnapshot = 0;
          await this.persist();
        }
      }
      this.state = 'Healthy';
      if (this.changes > 0) await this.persist();
    } catch (error) {
      this.fail(error);
    }
  }

  private async load(): Promise<void> {
    const bytes = await this.store!.storage.readAll(this.store!.path);
    if (bytes === null) return;
    try {
      this.index = ContentIndex.decode(bytes, this.store!.checksum).index;
      this.snapshotBytes = bytes.length;
      this.loaded = this.index.documents;
    } catch (error) {
      if (!(error instanceof SnapshotError) && !(error instanceof SyntaxError) && !(error instanceof TypeError)) throw error;
      this.index = new ContentIndex(); // damaged or another format: crawl from nothing
      this.changes = 1;
    }
  }

  private addDocument(hash: string, text: SearchText, contentBytes: number): void {
    this.index.add(hash, text, contentBytes);
    this.changes += 1;
  }

  private forget(hash: string): void {
    if (!this.index.has(hash)) return;
    this.index.remove(hash);
    this.changes += 1;
  }

  /** Writes a snapshot of the index as it is now (at most one write at a time). */
  persist(): Promise<void> {
    if (this.store === null || this.state === 'Failed') return Promise.resolve();
    const store = this.store;
    const next = (this.writing ?? Promise.resolve()).then(async () => {
      if (this.changes === 0) return;
      this.changes = 0;
      const startMs = this.clock.monoMs();
      // In slices: commits and searches run between them; what is indexed or forgotten meanwhile is counted for the next one.
      const bytes = await this.index.encodeSliced(this.source.position?.() ?? 0, store.checksum, snapshotSliceMs);
      await store.storage.mkdirp(store.path.slice(0, store.path.lastIndexOf('/')));
      await store.storage.writeAtomic(store.path, bytes);
      this.snapshotBytes = bytes.length;
      this.snapshots += 1;
      this.snapshotMsTotal += this.clock.monoMs() - startMs;
    });
    this.writing = next.catch(() => undefined);
    return next;
  }

  /** Close: stops the crawl and the backlog's indexing and writes the snapshot (the next open catches up with the backlog). */
  async close(): Promise<void> {
    this.stopped = true;
    await this.crawl;
    await this.persist().catch(() => undefined); // the next open catches up instead
  }

  private fail(error: unknown): void {
    this.state = 'Failed';
    this.pending.clear();
    this.pendingBytes = 0;
    this.unread.clear();
    this.error = `${(error as Error).name}: ${(error as Error).message}`;
  }

  /** A durable batch (committed, or replayed by a passive copy): queue its new contents, forget deleted ones. Cheap: the indexing runs later, in slices. */
  onBatch(events: readonly MailEvent[], deleted: Iterable<string>): void {
    const now = this.clock.monoMs();
    this.lastBatchMs = now;
    // Failed: nothing is queued (startIndexing() again crawls whatever the index lacks).
    for (const event of this.state === 'Failed' ? [] : events) {
      if (event.type !== EventType.ContentStored || event.summary === undefined) continue;
      const hash = event.hash;
      if (this.index.has(hash) || this.pending.has(hash) || this.unread.has(hash)) continue;
      if (this.pendingBytes + event.data.length <= this.backlogBytesMax) {
        this.pending.set(hash, { data: ownBytes(event.data), deflated: event.compression === 'deflate', summary: event.summary, atMs: now });
        this.pendingBytes += event.data.length;
      } else {
        this.unread.set(hash, now); // past the bound: read back from the state store in its turn
      }
    }
    for (const hash of deleted) {
      this.dequeue(hash);
      this.forget(hash);
    }
    this.kick();
  }

  private dequeue(hash: string): void {
    const waiting = this.pending.get(hash);
    if (waiting !== undefined) {
      this.pending.delete(hash);
      this.pendingBytes -= waiting.data.length;
    }
    this.unread.delete(hash);
  }

  private oldestWaitingMs(): number {
    let oldest = Infinity;
    for (const waiting of this.pending.values()) {
      oldest = waiting.atMs;
      break;
    }
    for (const atMs of this.unread.values()) return Math.min(oldest, atMs);
    return oldest;
  }

  private kick(): void {
    if (this.pumping !== null || this.stopped || this.state === 'Failed' || this.pending.size + this.unread.size === 0) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      this.kick();
    });
  }

  /** Indexes the backlog in slices, yielding to the event loop between them (a passive copy waits for quiet replay first). */
  private async pump(): Promise<void> {
    const clock = this.clock;
    try {
      await clock.sleep(0); // after the batch's callers are answered
      while (!this.stopped && this.state !== 'Failed' && this.pending.size + this.unread.size > 0) {
        if (this.mode === 'idle') {
          const now = clock.monoMs();
          const quietMs = now - this.lastBatchMs;
          const lagMs = now - this.oldestWaitingMs();
          if (quietMs < this.idleMs && lagMs < this.lagMsMax) {
            // Checked again at least every passiveIndexPollMs, so a promotion (setMode) or close is seen soon.
            await clock.sleep(Math.max(1, Math.min(this.idleMs - quietMs, this.lagMsMax - lagMs, passiveIndexPollMs)));
            continue;
          }
        }
        const sliceStartMs = clock.monoMs();
        await this.slice();
        this.indexMsTotal += clock.monoMs() - sliceStartMs;
        if (this.state === 'Healthy' && this.changes >= Math.max(snapshotChangesMin, this.index.documents / 4)) void this.persist().catch((error: unknown) => this.fail(error));
        await clock.sleep(0);
      }
    } catch (error) {
      if (!this.stopped) this.fail(error);
    }
  }

  /** One slice: at most sliceMs (and sliceDocumentsMax contents) of indexing, the in-memory backlog first. */
  private async slice(): Promise<void> {
    const clock = this.clock;
    const startMs = clock.monoMs();
    for (let done = 0; done < this.sliceDocumentsMax && clock.monoMs() - startMs < this.sliceMs; done++) {
      const held = this.pending.entries().next();
      if (!held.done) {
        const [hash, waiting] = held.value;
        this.dequeue(hash);
        if (!this.source.isLive(hash)) continue;
        const bytes = waiting.deflated ? new Uint8Array(inflateRawSync(waiting.data)) : waiting.data;
        this.addDocument(hash, searchText(bytes, waiting.summary), bytes.length);
        continue;
      }
      const next = this.unread.keys().next();
      if (next.done) return;
      const hash = next.value;
      this.dequeue(hash);
      if (this.index.has(hash) || !this.source.isLive(hash)) continue;
      let read;
      try {
        read = await this.source.read(hash);
      } catch (error) {
        if (!this.source.isLive(hash)) continue; // deleted meanwhile
        throw error;
      }
      if (this.stopped) return;
      if (this.source.isLive(hash)) this.addDocument(hash, searchText(read.bytes, read.summary), read.bytes.length);
    }
  }

  /** The document id of each message (-1: not indexed), kept per message list and patched where it changed. */
  private idsOf(messages: ReadonlyArray<{ uid: number; hash: string }>): Int32Array {
    let known = this.folderIds.get(messages);
    if (known === undefined || known.ids.length !== messages.length) {
      const previous = known;
      known = { hashes: new Array<string>(messages.length), ids: new Int32Array(messages.length).fill(-1) };
      if (previous !== undefined) {
        const keep = Math.min(previous.ids.length, messages.length);
        for (let i = 0; i < keep; i++) known.hashes[i] = previous.hashes[i]!;
        known.ids.set(previous.ids.subarray(0, keep));
      }
      this.folderIds.set(messages, known);
    }
    const { hashes, ids } = known;
    for (let i = 0; i < messages.length; i++) {
      const hash = messages[i]!.hash;
      if (ids[i]! < 0 || hashes[i] !== hash) {
        hashes[i] = hash;
        ids[i] = this.index.idOf(hash);
      }
    }
    return ids;
  }

  /** A message prefix's searchable text (latin1, as the state keeps it), cached by the prefix. */
  private prefixText(prefix: string | undefined): SearchText | null {
    if (prefix === undefined) return null;
    let text = this.prefixTexts.get(prefix);
    if (text === undefined) {
      if (this.prefixTexts.size >= prefixTextsCachedMax) this.prefixTexts.clear();
      this.prefixTexts.set(prefix, (text = prefixTextOf(Buffer.from(prefix, 'latin1'))));
    }
    return text;
  }

  private readonly prefixTexts = new Map<string, SearchText>();

  /** The UIDs of `messages` that match: exactly the brute-force results, in the order given. */
  async search(messages: ReadonlyArray<{ uid: number; hash: string; prefix?: string }>, criterion: ContentCriterion): Promise<number[]> {
    const texts = new Map<string, SearchText>();
    const textOf = async (hash: string): Promise<SearchText> => {
      let text = texts.get(hash);
      if (text === undefined) {
        // A content in the backlog: its bytes are here (else read from the store).
        const waiting = this.pending.get(hash);
        const { bytes, summary } = waiting === undefined ? await this.source.read(hash)
          : { bytes: waiting.deflated ? new Uint8Array(inflateRawSync(waiting.data)) : waiting.data, summary: waiting.summary };
        texts.set(hash, (text = searchText(bytes, summary)));
        // A content not indexed yet: indexed now (and out of the backlog).
        if (this.state === 'Healthy' && !this.index.has(hash) && this.source.isLive(hash)) {
          this.dequeue(hash);
          this.addDocument(hash, text, bytes.length);
        }
      }
      return text;
    };
    // Contents in the backlog are not in the index: their answers are unknown and verified below.
    const out: number[] = [];
    if (this.state !== 'Healthy') {
      for (const m of messages) if (matches(await textOf(m.hash), criterion, this.prefixText(m.prefix))) out.push(m.uid);
      return out;
    }
    const index = this.index;
    const prefixes = messages.some((m) => m.prefix !== undefined) ? messages.map((m) => this.prefixText(m.prefix)) : null;
    const values = index.evaluateIds(criterion, this.idsOf(messages), prefixes);
    const unknown = collect(messages, values, out);
    if (unknown.length > 0) {
      // Verify the candidates, then merge them back in message order.
      const verified = new Set<number>();
      for (const i of unknown) if (matches(await textOf(messages[i]!.hash), criterion, prefixes?.[i] ?? null)) verified.add(i);
      out.length = 0;
      for (let i = 0; i < messages.length; i++) if (values[i] === answerYes || verified.has(i)) out.push(messages[i]!.uid);
    }
    index.release(values);
    return out;
  }
}

/** The UIDs answered yes go to `out`, in order; returns the positions answered unknown (a tight synchronous loop). */
function collect(messages: ReadonlyArray<{ uid: number }>, values: Uint8Array, out: number[]): number[] {
  const unknown: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === answerYes) out.push(messages[i]!.uid);
    else if (value === answerUnknown) unknown.push(i);
  }
  return unknown;
}

/**
 * The bytes alone: a replayed event's data is a view into the whole buffer its batch was read
 * in (up to a batch's size), which a queued view would keep alive past the backlog's bound.
 */
function ownBytes(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}
