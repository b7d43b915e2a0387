// The `search` suite: content search (IMAP SEARCH TEXT, JMAP text filters) in a large mailbox.
// "quire" is the content index (engine/search/index.ts, with brute-force verification where a
// query needs it); the peer "scan" is the best case of having no index: every message's
// searchable text already decoded and folded in memory, one substring test per message (what
// a grep over pre-extracted text costs; a scan that reads and decodes the mail is far slower).
// Both give the same UIDs (checked every sample). Also reported: the index size against the
// mail size, and the crawl rate that builds the index.

import { summarize } from '../../engine/mime/parse.js';
import { generateMessage } from '../../engine/search/corpus.js';
import { SearchIndexer } from '../../engine/search/indexer.js';
import { fold, allHeadersText, searchText } from '../../engine/search/text.js';
import type { Suite, SuiteContext } from '../lib/suite.js';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { nodeStorage, seededPrng, systemClock } from '../../engine/io.js';
import { crc32c } from '../../engine/checksum.js';

const queries = [
  { kind: 'one word', value: 'quarterly' },
  { kind: 'partial word', value: 'eadli' },
  { kind: 'rare word', value: 'gen.777@' },
  { kind: 'two words', value: 'budget report' },
];

const suite: Suite = {
  name: 'search',
  description: 'TEXT search in a large mailbox: content index vs a scan of pre-decoded text; index size vs mail size',
  budgetMs: 20 * 60 * 1000,
  async run(ctx: SuiteContext) {
    const messagesCount = ctx.quick ? 2000 : 100_000;
    const prng = seededPrng(20261129);
    // Only the bytes are kept: summaries and texts are made again on demand, as a server reads them.
    const contents = new Map<string, Uint8Array>();
    const messages: Array<{ uid: number; hash: string }> = [];
    let mailBytes = 0;
    await ctx.measure(`generate ${messagesCount} messages`, () => {
      for (let n = 0; n < messagesCount; n++) {
        const bytes = generateMessage(prng, n, 60);
        contents.set(`h${n}`, bytes);
        messages.push({ uid: n + 1, hash: `h${n}` });
        mailBytes += bytes.length;
      }
    });
    const params = (kind: string) => ({ query: kind, messages: messagesCount });
    const results = new Map<string, number[]>();
    const same = (kind: string, uids: number[]): void => {
      const expected = results.get(kind);
      if (expected === undefined) results.set(kind, uids);
      else if (uids.length !== expected.length || uids.some((u, i) => u !== expected[i])) throw new Error(`index and scan disagree on ${kind}`);
    };

    // Quire: build the index (parsing each message as delivery would), persist it, reopen it from
    // its snapshot (a restart), then search with the reopened one.
    const source = {
      contents: (): Array<[string, number]> => [...contents].map(([hash, bytes]) => [hash, bytes.length]),
      isLive: (hash: string) => contents.has(hash),
      read: async (hash: string) => {
        const bytes = contents.get(hash)!;
        return { bytes, summary: summarize(bytes) };
      },
    };
    const store = { storage: nodeStorage(), path: join(await ctx.scratch('index'), 'index.qsi'), checksum: crc32c };
    let indexer: SearchIndexer | null = new SearchIndexer(source, store, systemClock());
    const crawl = await ctx.measure('crawl (parse and index every message, snapshots included)', () => indexer!.rebuild());
    let status = indexer.status();
    if (status.state !== 'Healthy') throw new Error(`index ${status.state}: ${status.error}`);
    ctx.record({ metric: 'crawl rate', unit: 'messages/s', params: { messages: messagesCount }, subject: 'quire', samples: [messagesCount / (crawl.elapsedMs / 1000)] });
    const persistedBytes = statSync(store.path).size;
    indexer = new SearchIndexer(source, store, systemClock());
    const reopened = await ctx.measure('restart: load the snapshot and catch up', () => indexer!.start());
    status = indexer.status();
    if (status.state !== 'Healthy' || status.documentsLoaded !== messagesCount) throw new Error(`reopened index ${status.state} with ${status.documentsLoaded} documents loaded`);
    ctx.record({ metric: 'index load at restart', unit: 'ms', params: { messages: messagesCount }, subject: 'quire', samples: [reopened.elapsedMs] });
    ctx.table('index size vs mail size', ['messages', 'mail bytes', 'index on disk (snapshot)', 'on disk / mail', 'index in memory (estimate)', 'in memory / mail', 'build (s)', 'load at restart (ms)'], [
      [messagesCount, mailBytes, persistedBytes, (persistedBytes / mailBytes).toFixed(3), status.bytes, (status.bytes / mailBytes).toFixed(3), (crawl.elapsedMs / 1000).toFixed(1), reopened.elapsedMs.toFixed(0)],
    ]);
    ctx.record({ metric: 'index size / mail size', unit: 'ratio', params: { messages: messagesCount, form: 'on disk' }, subject: 'quire', samples: [persistedBytes / mailBytes] });
    ctx.record({ metric: 'index size / mail size', unit: 'ratio', params: { messages: messagesCount, form: 'in memory' }, subject: 'quire', samples: [status.bytes / mailBytes] });
    // Per round, `repeats` searches of each kind: that round's median and p99 are its samples.
    const repeats = ctx.quick ? 5 : 40;
    const timed = async (run: () => Promise<number[]> | number[], kind: string, count: number): Promise<{ p50: number; p99: number }> => {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const started = performance.now();
        const uids = await run();
        times.push(performance.now() - started);
        same(kind, uids);
      }
      times.sort((a, b) => a - b);
      return { p50: times[Math.floor((times.length - 1) / 2)]!, p99: times[Math.min(times.length - 1, Math.ceil(times.length * 0.99) - 1)]! };
    };
    for (const query of queries) {
      const p50: number[] = [];
      const p99: number[] = [];
      for (let round = 0; round < ctx.rounds; round++) {
        const t = await timed(() => indexer!.search(messages, { key: 'text', value: query.value }), query.kind, repeats);
        p50.push(t.p50);
        p99.push(t.p99);
      }
      ctx.log(`quire ${query.kind}: p50 ${p50.map((v) => v.toFixed(1)).join(', ')} ms, p99 ${p99.map((v) => v.toFixed(1)).join(', ')} ms (${results.get(query.kind)!.length} matches)`);
      ctx.record({ metric: 'TEXT search p50', unit: 'ms', params: params(query.kind), subject: 'quire', samples: p50 });
      ctx.record({ metric: 'TEXT search p99', unit: 'ms', params: params(query.kind), subject: 'quire', samples: p99 });
    }
    indexer = null; // its memory is not the peer's

    // The peer: every message's TEXT already decoded and folded in memory, one substring test each.
    const folded = await ctx.measure('scan peer: decode and fold every message', () =>
      messages.map((m) => {
        const bytes = contents.get(m.hash)!;
        const text = searchText(bytes, summarize(bytes));
        return { uid: m.uid, header: fold(allHeadersText(text)), body: fold(text.body) };
      }),
    );
    for (const query of queries) {
      const q = fold(query.value);
      const p50: number[] = [];
      const p99: number[] = [];
      for (let round = 0; round < ctx.rounds; round++) {
        const t = await timed(() => folded.value.filter((m) => m.header.includes(q) || m.body.includes(q)).map((m) => m.uid), query.kind, ctx.quick ? 2 : 5);
        p50.push(t.p50);
        p99.push(t.p99);
      }
      ctx.log(`scan ${query.kind}: p50 ${p50.map((v) => v.toFixed(1)).join(', ')} ms`);
      ctx.record({ metric: 'TEXT search p50', unit: 'ms', params: params(query.kind), subject: 'scan', samples: p50 });
      ctx.record({ metric: 'TEXT search p99', unit: 'ms', params: params(query.kind), subject: 'scan', samples: p99 });
    }
    ctx.ratio({
      label: 'scan ÷ index, one word (speed-up)',
      numerator: { subject: 'scan', metric: 'TEXT search p50', params: { query: 'one word', messages: messagesCount } },
      denominator: { subject: 'quire', metric: 'TEXT search p50', params: { query: 'one word', messages: messagesCount } },
      goal: 1,
    });
    ctx.note(`Corpus: engine/search/corpus.ts, seed 20261129, ${messagesCount} messages of 60-120 words (several scripts, QP/base64/8bit, HTML alternatives, attachments, forwarded messages), ${(mailBytes / 1e6).toFixed(1)} MB.`);
    ctx.note('Index size: on disk is the snapshot file (sorted front-coded dictionaries, delta+varint postings); in memory is an estimate (dictionary strings twice, 48 B per term, the postings bytes). The searches run on the index reloaded from its snapshot, as after a restart. p50/p99: of 40 searches per round (5 for the scan), one sample per round. The scan peer holds the folded text in memory, which a server would not. Quire is measured first, then its index is dropped and the peer built, so neither pays for the other\'s heap.');
    ctx.note('Both subjects return the same UIDs in every sample (the suite fails otherwise).');
  },
};

export default suite;
