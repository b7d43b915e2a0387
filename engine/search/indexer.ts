// Keeps a database copy's content index, persists it, and answers searches with it.
//
// States: Crawling (catching up: from nothing, or from the persisted snapshot, in the
// background, with progress), Healthy (every stored content is indexed; new ones are fed from
// each durable batch's ContentStored events — the active copy's commits and a passive copy's
// replay alike — deleted ones forgotten), Failed (indexing hit an error: the copy is still
// served, by brute force). Whatever the state, results are the brute-force results: an index
// answer is exact or is verified (index.ts), and without a healthy index every message is
// matched by brute force.
//
// Persistence: a snapshot file in the copy's directory (index.ts has the layout), written
// atomically once enough has changed since the last one (a quarter of the documents, at least
// `snapshotChangesMin`), when a crawl ends, and at close. Documents are contents named by
// their hash, and a content never changes, so any snapshot is right about every document it
// holds: at open the index loads it, forgets what is no longer stored and indexes only the
// contents stored since (Crawling, with progress), instead of the whole copy. A damaged or
// older-format snapshot is thrown away and the index crawled again.

import { inflateRawSync } from 'node:zlib';
import { EventType, type MailEvent } from '../events/types.js';
import type { MessageSummary } from '../mime/types.js';
import type { Storage } from '../io.js';
import { ContentIndex, SnapshotError, answerUnknown, answerYes } from './index.js';
import { matches, prefixTextOf, searchText, type SearchText } from './text.js';
import { prefixTextsCachedMax, snapshotChangesMin, snapshotSliceMs } from './constants.js';
import type { ContentCriterion, SearchIndexState, SearchIndexStatus } from './types.js';

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
  private readonly pending = new Map<string, { bytes: Uint8Array; summary: MessageSummary }>();
  private draining = false;
  /** Documents added or forgotten since the last snapshot. */
  private changes = 0;
  private writing: Promise<void> | null = null;
  private snapshotBytes = 0;
  private loaded = 0;
  /** Per message list (a folder's), the document id of each message: kept between searches. */
  private folderIds = new WeakMap<object, FolderIds>();

  constructor(
    private readonly source: IndexSource,
    private readonly store: IndexStore | null = null,
  ) {}

  status(): SearchIndexStatus {
    return {
      state: this.state,
      documents: this.index.documents,
      documentsTotal: Math.max(this.total, this.index.documents),
      documentsLoaded: this.loaded,
      bytes: this.index.bytes,
      persistedBytes: this.snapshotBytes,
      contentBytes: this.index.contentBytes,
      error: this.error,
    };
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
      // In slices: commits and searches run between them; what is indexed or forgotten meanwhile is counted for the next one.
      const bytes = await this.index.encodeSliced(this.source.position?.() ?? 0, store.checksum, snapshotSliceMs);
      await store.storage.mkdirp(store.path.slice(0, store.path.lastIndexOf('/')));
      await store.storage.writeAtomic(store.path, bytes);
      this.snapshotBytes = bytes.length;
    });
    this.writing = next.catch(() => undefined);
    return next;
  }

  /** Close: stops the crawl, indexes what is pending and writes the snapshot. */
  async close(): Promise<void> {
    this.stopped = true;
    await this.crawl;
    if (this.state !== 'Failed') this.drain();
    await this.persist().catch(() => undefined); // the next open catches up instead
  }

  private fail(error: unknown): void {
    this.state = 'Failed';
    this.error = `${(error as Error).name}: ${(error as Error).message}`;
  }

  /** A durable batch (committed, or replayed by a passive copy): index its new contents soon, forget deleted ones. */
  onBatch(events: readonly MailEvent[], deleted: Iterable<string>): void {
    for (const event of events) {
      if (event.type !== EventType.ContentStored || event.summary === undefined) continue;
      const bytes = event.compression === 'deflate' ? new Uint8Array(inflateRawSync(event.data)) : event.data;
      this.pending.set(event.hash, { bytes, summary: event.summary });
    }
    for (const hash of deleted) {
      this.pending.delete(hash);
      this.forget(hash);
    }
    if (this.pending.size > 0 && !this.draining) {
      this.draining = true;
      void Promise.resolve().then(() => this.drain());
    }
  }

  private drain(): void {
    this.draining = false;
    try {
      for (const [hash, { bytes, summary }] of this.pending) {
        if (this.source.isLive(hash)) this.addDocument(hash, searchText(bytes, summary), bytes.length);
      }
    } catch (error) {
      this.fail(error);
    }
    this.pending.clear();
    if (this.state === 'Healthy' && this.changes >= Math.max(snapshotChangesMin, this.index.documents / 4)) void this.persist().catch((error: unknown) => this.fail(error));
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
        const { bytes, summary } = await this.source.read(hash);
        texts.set(hash, (text = searchText(bytes, summary)));
        // A content the feed has not indexed yet: indexed now.
        if (this.state === 'Healthy' && !this.index.has(hash) && this.source.isLive(hash)) this.addDocument(hash, text, bytes.length);
      }
      return text;
    };
    if (this.pending.size > 0) this.drain();
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
