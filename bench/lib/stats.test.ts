// Proves the benchmark frame's arithmetic and drawing: percentiles, medians, spreads and ratios
// match hand-computed values, and the SVG chart is well-formed XML with one bar per figure.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeXml, renderChart, type ChartPanel } from './chart.js';
import { Context, paramsKey } from './context.js';
import { buildReport, chartPanels, renderMarkdown } from './report.js';
import { formatNumber, higherIsBetter, median, percentile, ratioOf, summarize } from './stats.js';
import type { Machine } from './machine.js';

test('median of odd and even sample counts, independent of order', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
});

test('percentiles interpolate between closest ranks (type 7)', () => {
  const s = [10, 20, 30, 40, 50];
  assert.equal(percentile(s, 0), 10);
  assert.equal(percentile(s, 100), 50);
  assert.equal(percentile(s, 25), 20);
  assert.equal(percentile(s, 10), 14);
  assert.equal(percentile(s, 90), 46);
  assert.throws(() => percentile([], 50));
  assert.throws(() => percentile(s, 101));
});

test('summary spread is (max - min) / median', () => {
  const s = summarize([90, 100, 110, 100, 100]);
  assert.equal(s.sampleCount, 5);
  assert.equal(s.median, 100);
  assert.equal(s.min, 90);
  assert.equal(s.max, 110);
  assert.equal(s.spreadRel, 0.2);
  assert.equal(summarize([5, 5]).spreadRel, 0);
  assert.throws(() => summarize([1, Number.NaN]));
});

test('ratio is of medians; its bounds pair the extreme rounds', () => {
  const r = ratioOf([100, 120, 110], [10, 12, 11]);
  assert.equal(r.ratio, 10);
  assert.equal(r.ratioLow, 100 / 12);
  assert.equal(r.ratioHigh, 12);
});

test('rates are higher-is-better, times are lower-is-better', () => {
  assert.equal(higherIsBetter('records/s'), true);
  assert.equal(higherIsBetter('MB/s'), true);
  assert.equal(higherIsBetter('ms'), false);
  assert.equal(higherIsBetter('ns/op'), false);
});

test('numbers print with three significant digits and grouped thousands', () => {
  assert.equal(formatNumber(1234567.8), '1,234,568');
  assert.equal(formatNumber(0.012345), '0.0123');
  assert.equal(formatNumber(12.345), '12.3');
});

test('params keys ignore key order', () => {
  assert.equal(paramsKey({ a: 1, b: 'x' }), paramsKey({ b: 'x', a: 1 }));
  assert.notEqual(paramsKey({ a: 1 }), paramsKey({ a: 2 }));
});

/** A small well-formedness check: every tag closes in order, attributes are quoted, no raw '&' or '<' in text. */
function assertWellFormedXml(xml: string): void {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  let roots = 0;
  while ((m = token.exec(body)) !== null) {
    if (m[6] !== undefined) assert.fail(`stray '<' at ${m.index}: ${body.slice(m.index, m.index + 40)}`);
    if (m[5] !== undefined) {
      assert.ok(!/&(?!(amp|lt|gt|quot|apos);)/.test(m[5]), `unescaped & in text: ${m[5]}`);
      if (stack.length === 0) assert.match(m[5], /^\s*$/, 'text outside the root');
      continue;
    }
    const [, closing, name, , selfClosing] = m;
    if (closing === '/') assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else {
      if (stack.length === 0) roots++;
      if (selfClosing !== '/') stack.push(name);
    }
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.equal(roots, 1, 'exactly one root element');
}

test('the chart is well-formed XML with one bar and one whisker per figure', () => {
  const panels: ChartPanel[] = [
    {
      title: 'durable records [records/s] <higher> & better',
      groups: [
        {
          label: 'payloadBytes=256 writers=1',
          ratioText: 'quire/rocksdb 2.00×',
          bars: [
            { subject: 'quire', median: 200, low: 190, high: 210 },
            { subject: 'rocksdb', median: 100, low: 90, high: 110 },
          ],
        },
        { label: 'no quire "here"', ratioText: '', bars: [{ subject: "o'peer", median: 0, low: 0, high: 0 }] },
      ],
    },
    { title: 'second', groups: [{ label: 'x', ratioText: '', bars: [{ subject: 'disk', median: 5, low: 4, high: 6 }] }] },
  ];
  const svg = renderChart('test & chart', panels);
  assertWellFormedXml(svg);
  assert.equal(svg.match(/<rect class="bar"/g)?.length, 4);
  assert.equal(svg.match(/<line class="whisker"/g)?.length, 4);
  assert.ok(svg.includes('quire/rocksdb 2.00×'));
  assert.equal(escapeXml(`<a & "b" 'c'>`), '&lt;a &amp; &quot;b&quot; &apos;c&apos;&gt;');
});

test('a recorded suite reports same-params ratios, cross-params goals and a chart of every figure', async () => {
  const ctx = new Context({ quick: true, rounds: 3, scratchDir: '/nonexistent', budgetMs: 60_000, log: () => {} });
  let q = 0;
  let p = 0;
  const order: string[] = [];
  await ctx.compare(
    { writers: 1 },
    {
      quire: async () => (order.push('quire'), [{ metric: 'ops', unit: 'ops/s', value: 200 + q++ }]),
      peer: async () => (order.push('peer'), [{ metric: 'ops', unit: 'ops/s', value: 100 + p++ }]),
    },
  );
  assert.deepEqual(order, ['quire', 'peer', 'peer', 'quire', 'quire', 'peer'], 'subjects alternate and rotate');
  ctx.record({ metric: 'ops', unit: 'ops/s', params: { writers: 8 }, subject: 'quire', samples: [400, 410] });
  ctx.ratio({
    label: 'quire at 8 vs peer at 1',
    numerator: { subject: 'quire', metric: 'ops', params: { writers: 8 } },
    denominator: { subject: 'peer', metric: 'ops', params: { writers: 1 } },
    goal: 5,
  });
  ctx.ratio({
    label: 'missing',
    numerator: { subject: 'quire', metric: 'ops', params: { writers: 99 } },
    denominator: { subject: 'peer', metric: 'ops', params: { writers: 1 } },
  });
  const machine = { cpuModel: 'test', cores: 1, memoryBytes: 1, kernel: 'k', platform: 'p', node: 'v', uvThreadpoolSize: '4', packages: {}, scratchDisk: { path: '/', device: 'd', fsType: 'f', mountPoint: '/', sizeBytes: 1, freeBytes: 1 } } satisfies Machine;
  const report = buildReport({ suite: 't', description: 'd', startedAt: new Date(0), durationMs: 1, quick: true, rounds: 3, error: null, machine, record: ctx.collected });

  assert.equal(report.ratios.length, 1);
  assert.equal(report.ratios[0].peer, 'peer');
  assert.equal(report.ratios[0].ratio, 201 / 101);
  assert.equal(report.goals[0].result?.ratio, 405 / 101);
  assert.equal(report.goals[0].met, false);
  assert.equal(report.goals[1].result, null);
  assert.match(report.goals[1].missing ?? '', /writers=99/);

  const panels = chartPanels(report);
  assert.equal(panels.length, 1);
  assert.deepEqual(panels[0].groups.map((g) => g.bars.map((b) => b.subject)), [['quire', 'peer'], ['quire']]);
  const svg = renderChart('t', panels);
  assertWellFormedXml(svg);
  assert.equal(svg.match(/<rect class="bar"/g)?.length, 3);
  assert.match(renderMarkdown(report, 'x.svg'), /\| quire at 8 vs peer at 1 \| 4\.01× \|/);
});
