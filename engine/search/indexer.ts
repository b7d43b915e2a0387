// Keeps a database copy's content index and answers searches with it.
//
// States: Crawling (built or rebuilt from the copy's contents, in the background, with
// progress), Healthy (every stored content is indexed; new ones are fed from each durable
// batch's ContentStored events, deleted ones forgotten), Failed (indexing hit an error: the
// copy is still served, by brute force). Whatever the state, results are the brute-force
// results: an index answer is exact or is verified (index.ts), and without a healthy index
// every message is matched by brute force.

import { inflateRawSync } from 'node:zlib';
import { EventType, type MailEvent } from '../events/types.js';
import type { MessageSummary } from '../mime/types.js';
import { ContentIndex } from './index.js';
import { matches, searchText, type SearchText } from './text.js';
import type { ContentCriterion, SearchIndexState, SearchIndexStatus } from './types.js';

export interface IndexSource {
  /** The copy's live contents (hash, size) now. */
  contents(): Array<[string, number]>;
  isLive(hash: string): boolean;
  read(hash: string): Promise<{ bytes: Uint8Array; summary: MessageSummary }>;
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

  constructor(private readonly source: IndexSource) {}

  status(): SearchIndexStatus {
    return { state: this.state, documents: this.index.documents, documentsTotal: Math.max(this.total, this.index.documents), bytes: this.index.bytes, contentBytes: this.index.contentBytes, error: this.error };
  }

  /** Builds the index from the copy's contents (again, if it was built or failed). Resolves when done. */
  rebuild(): Promise<void> {
    if (this.crawl !== null) return this.crawl;
    this.index = new ContentIndex();
    this.state = 'Crawling';
    this.error = null;
    this.crawl = this.run().finally(() => (this.crawl = null));
    return this.crawl;
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    try {
      const contents = this.source.contents();
      this.total = contents.length;
      for (const [hash] of contents) {
        if (this.stopped) return;
        if (this.index.has(hash) || !this.source.isLive(hash)) continue;
        const { bytes, summary } = await this.source.read(hash);
        if (this.source.isLive(hash)) this.index.add(hash, searchText(bytes, summary), bytes.length);
      }
      this.state = 'Healthy';
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    this.state = 'Failed';
    this.error = `${(error as Error).name}: ${(error as Error).message}`;
  }

  /** A durable batch: index its new contents (after the batch's callers are answered), forget deleted ones. */
  onBatch(events: readonly MailEvent[], deleted: Iterable<string>): void {
    if (this.stopped) return;
    for (const event of events) {
      if (event.type !== EventType.ContentStored || event.summary === undefined) continue;
      const bytes = event.compression === 'deflate' ? new Uint8Array(inflateRawSync(event.data)) : event.data;
      this.pending.set(event.hash, { bytes, summary: event.summary });
    }
    for (const hash of deleted) {
      this.pending.delete(hash);
      this.index.remove(hash);
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
        if (this.source.isLive(hash)) this.index.add(hash, searchText(bytes, summary), bytes.length);
      }
    } catch (error) {
      this.fail(error);
    }
    this.pending.clear();
  }

  /** The UIDs of `messages` that match: exactly the brute-force results, in the order given. */
  async search(messages: ReadonlyArray<{ uid: number; hash: string }>, criterion: ContentCriterion): Promise<number[]> {
    const texts = new Map<string, SearchText>();
    const textOf = async (hash: string): Promise<SearchText> => {
      let text = texts.get(hash);
      if (text === undefined) {
        const { bytes, summary } = await this.source.read(hash);
        texts.set(hash, (text = searchText(bytes, summary)));
        // A content the feed never saw (a passive copy's replay): indexed now.
        if (this.state === 'Healthy' && !this.index.has(hash) && this.source.isLive(hash)) this.index.add(hash, text, bytes.length);
      }
      return text;
    };
    if (this.pending.size > 0) this.drain();
    const values = this.state === 'Healthy' ? this.index.evaluate(criterion, messages.map((m) => m.hash)) : messages.map(() => null);
    const out: number[] = [];
    for (let i = 0; i < messages.length; i++) {
      const value = values[i];
      if (value === true || (value === null && matches(await textOf(messages[i]!.hash), criterion))) out.push(messages[i]!.uid);
    }
    return out;
  }
}
