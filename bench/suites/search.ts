// The `search` suite: content search (IMAP SEARCH TEXT, JMAP text filters) in a large mailbox.
// "quire" is the content index (engine/search/index.ts, with brute-force verification where a
// query needs it); the peer "scan" is the best case of having no index: every message's
// searchable text already decoded and folded in memory, one substring test per message (what
// a grep over pre-extracted text costs; a scan that reads and decodes the mail is far slower).
// Both give the same UIDs (checked every sample). Also reported: the index size against the
// mail size, and the crawl rate that builds the index.

import { seededPrng } from '../../engine/io.js';
import { summarize } from '../../engine/mime/parse.js';
import { generateMessage } from '../../engine/search/corpus.js';
import { SearchIndexer } from '../../engine/search/indexer.js';
import { fold, allHeadersText, searchText } from '../../engine/search/text.js';
import type { Suite, SuiteContext } from '../lib/suite.js';

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

    // Quire: build the index (parsing each message as delivery would), then search with it.
    let indexer: SearchIndexer | null = new SearchIndexer({
      contents: () => [...contents].map(([hash, bytes]) => [hash, bytes.length]),
      isLive: (hash) => contents.has(hash),
      read: async (hash) => {
        const bytes = contents.get(hash)!;
        return { bytes, summary: summarize(bytes) };
      },
    });
    const crawl = await ctx.measure('crawl (parse and index every message)', () => indexer!.rebuild());
    const status = indexer.status();
    if (status.state !== 'Healthy') throw new Error(`index ${status.state}: ${status.error}`);
    ctx.record({ metric: 'crawl rate', unit: 'messages/s', params: { messages: messagesCount }, subject: 'quire', samples: [messagesCount / (crawl.elapsedMs / 1000)] });
    ctx.table('index size vs mail size', ['messages', 'mail bytes', 'index bytes (estimate)', 'index / mail'], [
      [messagesCount, mailBytes, status.bytes, (status.bytes / mailBytes).toFixed(3)],
    ]);
    ctx.record({ metric: 'index size / mail size', unit: 'ratio', params: { messages: messagesCount }, subject: 'quire', samples: [status.bytes / mailBytes] });
    for (const query of queries) {
      const samples: number[] = [];
      for (let round = 0; round < ctx.rounds; round++) {
        const started = performance.now();
        const uids = await indexer.search(messages, { key: 'text', value: query.value });
        samples.push(performance.now() - started);
        same(query.kind, uids);
      }
      ctx.log(`quire ${query.kind}: ${samples.map((v) => v.toFixed(1)).join(', ')} ms (${results.get(query.kind)!.length} matches)`);
      ctx.record({ metric: 'TEXT search', unit: 'ms', params: params(query.kind), subject: 'quire', samples });
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
      const samples: number[] = [];
      for (let round = 0; round < ctx.rounds; round++) {
        const started = performance.now();
        const uids = folded.value.filter((m) => m.header.includes(q) || m.body.includes(q)).map((m) => m.uid);
        samples.push(performance.now() - started);
        same(query.kind, uids);
      }
      ctx.log(`scan ${query.kind}: ${samples.map((v) => v.toFixed(1)).join(', ')} ms`);
      ctx.record({ metric: 'TEXT search', unit: 'ms', params: params(query.kind), subject: 'scan', samples });
    }
    ctx.ratio({
      label: 'scan ÷ index, one word (speed-up)',
      numerator: { subject: 'scan', metric: 'TEXT search', params: { query: 'one word', messages: messagesCount } },
      denominator: { subject: 'quire', metric: 'TEXT search', params: { query: 'one word', messages: messagesCount } },
      goal: 1,
    });
    ctx.note(`Corpus: engine/search/corpus.ts, seed 20261129, ${messagesCount} messages of 60-120 words (several scripts, QP/base64/8bit, HTML alternatives, attachments, forwarded messages), ${(mailBytes / 1e6).toFixed(1)} MB.`);
    ctx.note('The index is in memory; its size is an estimate (dictionary strings, 48 B per term, 4 B per posting). The scan peer holds the folded text in memory, which a server would not. Quire is measured first, then its index is dropped and the peer built, so neither pays for the other\'s heap.');
    ctx.note('Both subjects return the same UIDs in every sample (the suite fails otherwise).');
  },
};

export default suite;
