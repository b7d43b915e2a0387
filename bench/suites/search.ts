// The `search` suite: content search (IMAP SEARCH TEXT, JMAP text filters) in a large mailbox.
// "quire" is the content index (engine/search/index.ts, with brute-force verification where a
// query needs it); the peer "scan" is the best case of having no index: every message's
// searchable text already decoded and folded in memory, one substring test per message (what
// a grep over pre-extracted text costs; a scan that reads and decodes the mail is far slower).
// Both give the same UIDs (checked every sample). Also reported: the index size against the
// mail size, and the crawl rate that builds the index.

import { seededPrng } from '../../engine/io.js';
import { summarize } from '../../engine/mime/parse.js';
import type { MessageSummary } from '../../engine/mime/types.js';
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
    const contents = new Map<string, { bytes: Uint8Array; summary: MessageSummary }>();
    const messages: Array<{ uid: number; hash: string }> = [];
    let mailBytes = 0;
    await ctx.measure(`generate and parse ${messagesCount} messages`, () => {
      for (let n = 0; n < messagesCount; n++) {
        const bytes = generateMessage(prng, n, 60);
        const hash = `h${n}`;
        contents.set(hash, { bytes, summary: summarize(bytes) });
        messages.push({ uid: n + 1, hash });
        mailBytes += bytes.length;
      }
    });
    const indexer = new SearchIndexer({
      contents: () => [...contents].map(([hash, c]) => [hash, c.bytes.length]),
      isLive: (hash) => contents.has(hash),
      read: async (hash) => contents.get(hash)!,
    });
    const crawl = await ctx.measure('crawl (build the index)', () => indexer.rebuild());
    const status = indexer.status();
    if (status.state !== 'Healthy') throw new Error(`index ${status.state}: ${status.error}`);
    ctx.record({ metric: 'crawl rate', unit: 'messages/s', params: { messages: messagesCount }, subject: 'quire', samples: [messagesCount / (crawl.elapsedMs / 1000)] });
    ctx.table('index size vs mail size', ['messages', 'mail bytes', 'index bytes (estimate)', 'index / mail'], [
      [messagesCount, mailBytes, status.bytes, (status.bytes / mailBytes).toFixed(3)],
    ]);
    ctx.record({ metric: 'index size / mail size', unit: 'ratio', params: { messages: messagesCount }, subject: 'quire', samples: [status.bytes / mailBytes] });

    // The peer: every message's TEXT already decoded and folded in memory.
    const folded = await ctx.measure('scan peer: decode and fold every message', () =>
      messages.map((m) => {
        const c = contents.get(m.hash)!;
        const text = searchText(c.bytes, c.summary);
        return { uid: m.uid, header: fold(allHeadersText(text)), body: fold(text.body) };
      }),
    );
    for (const query of queries) {
      const q = fold(query.value);
      let expected: number[] | null = null;
      const check = (uids: number[]): void => {
        if (expected === null) expected = uids;
        else if (uids.length !== expected.length || uids.some((u, i) => u !== expected![i])) throw new Error(`index and scan disagree on ${query.value}`);
      };
      await ctx.compare({ query: query.kind, messages: messagesCount }, {
        quire: async () => {
          const started = performance.now();
          const uids = await indexer.search(messages, { key: 'text', value: query.value });
          const ms = performance.now() - started;
          check(uids);
          return [{ metric: 'TEXT search', unit: 'ms', value: ms }];
        },
        scan: async () => {
          const started = performance.now();
          const uids = folded.value.filter((m) => m.header.includes(q) || m.body.includes(q)).map((m) => m.uid);
          const ms = performance.now() - started;
          check(uids);
          return [{ metric: 'TEXT search', unit: 'ms', value: ms }];
        },
      });
    }
    ctx.ratio({
      label: 'scan ÷ index, one word (speed-up)',
      numerator: { subject: 'scan', metric: 'TEXT search', params: { query: 'one word', messages: messagesCount } },
      denominator: { subject: 'quire', metric: 'TEXT search', params: { query: 'one word', messages: messagesCount } },
      goal: 1,
    });
    ctx.note(`Corpus: engine/search/corpus.ts, seed 20261129, ${messagesCount} messages of 60-120 words (several scripts, QP/base64/8bit, HTML alternatives, attachments, forwarded messages), ${(mailBytes / 1e6).toFixed(1)} MB.`);
    ctx.note('The index is in memory; its size is an estimate (UTF-16 dictionary strings, 48 B per term, 4 B per posting). The scan peer holds the folded text in memory too, which a server would not.');
    ctx.note('Both subjects return the same UIDs in every sample (the suite fails otherwise).');
  },
};

export default suite;
