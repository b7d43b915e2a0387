// The longest event-loop stall while the content index's snapshot is encoded (not a suite: no
// peer, no ratio). Indexes N bench deliveries (`seededMessage`: every line holds a unique
// token, so most terms hold one document), forgets a few (the snapshot then compacts and
// renumbers, as after expunges), then encodes the snapshot whole (`encode`, what the worker did
// before) and in slices (`encodeSliced`, what `SearchIndexer.persist` does) while
// perf_hooks.monitorEventLoopDelay samples the loop every millisecond; the longest delay is how
// long a commit arriving then would wait for the encode. Checks that both give the same bytes.
//
//   npm run build && node dist/bench/tools/snapshotstall.js [messages=2000] [rounds=3]
//
// Figures from a shared machine swing by 2-5x between runs: compare the two lines of one run.

import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ContentIndex } from '../../engine/search/index.js';
import { searchText } from '../../engine/search/text.js';
import { snapshotSliceMs } from '../../engine/search/constants.js';
import { summarize } from '../../engine/mime/parse.js';
import { crc32c } from '../../engine/checksum.js';
import { seededMessage } from '../peers/mail.js';

const messages = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 3);
const index = new ContentIndex();
for (let i = 0; i < messages; i++) {
  const bytes = seededMessage(0x5e11, i);
  index.add(`m${i}`, searchText(bytes, summarize(bytes)), bytes.length);
}
for (let i = 0; i < messages; i += 100) index.remove(`m${i}`);
console.log(`${messages} messages indexed (${index.documents} live), load average ${loadavg()[0]!.toFixed(1)}`);

async function measure(encode: () => Promise<Uint8Array>): Promise<{ maxMs: number; totalMs: number; bytes: Uint8Array }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await new Promise((resolve) => setTimeout(resolve, 20)); // the sampling timer runs before the encode starts
  const started = performance.now();
  const bytes = await encode();
  const totalMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 5)); // the sample spanning the end
  histogram.disable();
  return { maxMs: histogram.max / 1e6, totalMs, bytes };
}

for (let round = 1; round <= rounds; round++) {
  const whole = await measure(async () => index.encode(1, crc32c));
  const sliced = await measure(() => index.encodeSliced(1, crc32c, snapshotSliceMs));
  if (!Buffer.from(whole.bytes).equals(Buffer.from(sliced.bytes))) throw new Error('the sliced snapshot differs from the whole one');
  console.log(
    `round ${round}: ${(whole.bytes.length / 1e6).toFixed(1)} MB snapshot; whole: longest stall ${whole.maxMs.toFixed(1)} ms (encode ${whole.totalMs.toFixed(0)} ms); ` +
      `sliced (${snapshotSliceMs} ms): longest stall ${sliced.maxMs.toFixed(1)} ms (encode ${sliced.totalMs.toFixed(0)} ms)`,
  );
}
