// Turns what a suite recorded into its three files: <date>-<suite>.json (machine, params, raw
// samples, summaries), <date>-<suite>.md (tables, ratios, goals, notes) and <date>-<suite>.svg.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderChart, type ChartPanel } from './chart.js';
import { describeParams, figureKey, paramsKey, type SuiteRecord, type SuiteTable } from './context.js';
import type { Machine } from './machine.js';
import {
  formatNumber,
  formatPercent,
  formatRatio,
  higherIsBetter,
  ratioOf,
  summarize,
  type RatioSummary,
  type Summary,
} from './stats.js';
import { spreadRelNoisy } from './constants.js';
import { quireSubject, type Figure, type FigureRef, type Params } from './suite.js';

export interface FigureReport extends Figure {
  readonly summary: Summary;
}

/** Quire / peer for one metric under the same params. */
export interface RatioRow extends RatioSummary {
  readonly metric: string;
  readonly unit: string;
  readonly params: Params;
  readonly peer: string;
  readonly higherIsBetter: boolean;
}

/** A declared ratio (possibly across params) with its goal. */
export interface GoalRow {
  readonly label: string;
  readonly numerator: FigureRef;
  readonly denominator: FigureRef;
  readonly goal: number | null;
  /** Null when one of the two figures was not measured (see missing). */
  readonly result: RatioSummary | null;
  readonly met: boolean | null;
  readonly missing: string | null;
}

export interface SuiteReport {
  readonly suite: string;
  readonly description: string;
  readonly date: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly quick: boolean;
  readonly rounds: number;
  readonly status: 'ok' | 'failed';
  readonly error: string | null;
  readonly machine: Machine;
  readonly figures: readonly FigureReport[];
  readonly ratios: readonly RatioRow[];
  readonly goals: readonly GoalRow[];
  readonly notes: readonly string[];
  readonly tables: readonly SuiteTable[];
}

export interface ReportInput {
  readonly suite: string;
  readonly description: string;
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly quick: boolean;
  readonly rounds: number;
  readonly error: string | null;
  readonly machine: Machine;
  readonly record: SuiteRecord;
}

export function buildReport(input: ReportInput): SuiteReport {
  const figures = input.record.figures.map((f) => ({ ...f, samples: [...f.samples], summary: summarize(f.samples) }));
  const byKey = new Map(figures.map((f) => [figureKey(f), f]));

  const ratios: RatioRow[] = [];
  for (const q of figures) {
    if (q.subject !== quireSubject) continue;
    for (const peer of figures) {
      if (peer.subject === quireSubject || peer.metric !== q.metric || paramsKey(peer.params) !== paramsKey(q.params)) {
        continue;
      }
      ratios.push({
        metric: q.metric,
        unit: q.unit,
        params: q.params,
        peer: peer.subject,
        higherIsBetter: higherIsBetter(q.unit),
        ...ratioOf(q.samples, peer.samples),
      });
    }
  }

  const goals: GoalRow[] = input.record.ratios.map((spec) => {
    const n = byKey.get(figureKey(spec.numerator));
    const d = byKey.get(figureKey(spec.denominator));
    const missingRefs = [n === undefined ? spec.numerator : null, d === undefined ? spec.denominator : null]
      .filter((r): r is FigureRef => r !== null)
      .map((r) => `${r.subject} ${r.metric} ${describeParams(r.params)}`);
    const result = n !== undefined && d !== undefined ? ratioOf(n.samples, d.samples) : null;
    const goal = spec.goal ?? null;
    return {
      label: spec.label,
      numerator: spec.numerator,
      denominator: spec.denominator,
      goal,
      result,
      met: result === null || goal === null ? null : result.ratio >= goal,
      missing: missingRefs.length === 0 ? null : `not measured: ${missingRefs.join('; ')}`,
    };
  });

  return {
    suite: input.suite,
    description: input.description,
    date: input.startedAt.toISOString().slice(0, 10),
    startedAt: input.startedAt.toISOString(),
    durationMs: Math.round(input.durationMs),
    quick: input.quick,
    rounds: input.rounds,
    status: input.error === null ? 'ok' : 'failed',
    error: input.error,
    machine: input.machine,
    figures,
    ratios,
    goals,
    notes: [...input.record.notes],
    tables: [...input.record.tables],
  };
}

/** Metrics in first-recorded order, each with its figures grouped by params in first-recorded order. */
function byMetric(figures: readonly FigureReport[]): Map<string, Map<string, FigureReport[]>> {
  const out = new Map<string, Map<string, FigureReport[]>>();
  for (const f of figures) {
    let groups = out.get(f.metric);
    if (groups === undefined) out.set(f.metric, (groups = new Map()));
    const key = paramsKey(f.params);
    let list = groups.get(key);
    if (list === undefined) groups.set(key, (list = []));
    list.push(f);
  }
  return out;
}

/** Quire's bar on top of each group, then the peers in the order they were first measured. */
function quireFirst(a: FigureReport, b: FigureReport): number {
  return Number(b.subject === quireSubject) - Number(a.subject === quireSubject);
}

function ratioTextOf(report: SuiteReport, metric: string, params: Params): string {
  const key = paramsKey(params);
  return report.ratios
    .filter((r) => r.metric === metric && paramsKey(r.params) === key)
    .map((r) => `${quireSubject}/${r.peer} ${formatRatio(r.ratio)}`)
    .join('  ');
}

export function chartPanels(report: SuiteReport, chartMetrics?: readonly string[]): ChartPanel[] {
  const panels: ChartPanel[] = [];
  for (const [metric, groups] of byMetric(report.figures)) {
    if (chartMetrics !== undefined && !chartMetrics.includes(metric)) continue;
    const first = groups.values().next().value as FigureReport[];
    const unit = first[0].unit;
    panels.push({
      title: `${metric} [${unit}] (${higherIsBetter(unit) ? 'higher' : 'lower'} is better)`,
      groups: [...groups.values()].map((list) => ({
        label: describeParams(list[0].params),
        ratioText: ratioTextOf(report, metric, list[0].params),
        bars: [...list].sort(quireFirst).map((f) => ({ subject: f.subject, median: f.summary.median, low: f.summary.min, high: f.summary.max })),
      })),
    });
  }
  return panels;
}

function cell(value: string | number): string {
  return String(value).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function tableMd(columns: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  return [
    `| ${columns.map(cell).join(' | ')} |`,
    `|${columns.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
}

export function renderMarkdown(report: SuiteReport, svgFileName: string | null): string {
  const out: string[] = [];
  out.push(`# Benchmark \`${report.suite}\` — ${report.date}`, '', report.description, '');
  if (report.quick) out.push('> **Quick run**: a smoke test of the harness, not a result.', '');
  out.push(
    `Status: **${report.status}**${report.error !== null ? ` — \`${report.error.split('\n')[0]}\`` : ''}. ` +
      `${report.rounds} rounds, ${(report.durationMs / 1000).toFixed(1)} s. ` +
      `Median of the rounds; spread = (max − min) / median; ratios are Quire / peer.`,
    '',
  );

  if (report.goals.length > 0) {
    out.push('## Goals', '');
    out.push(
      ...tableMd(
        ['goal', 'ratio', 'worst–best round pairing', 'target', 'met'],
        report.goals.map((g) => [
          g.label,
          g.result === null ? '—' : formatRatio(g.result.ratio),
          g.result === null ? (g.missing ?? '—') : `${formatRatio(g.result.ratioLow)} – ${formatRatio(g.result.ratioHigh)}`,
          g.goal === null ? '—' : `≥ ${formatRatio(g.goal)}`,
          g.result === null ? 'not measured' : g.met === null ? '—' : g.met ? 'yes' : '**no**',
        ]),
      ),
      '',
    );
  }

  if (report.ratios.length > 0) {
    out.push('## Ratios, Quire / peer, same params', '');
    out.push(
      ...tableMd(
        ['metric', 'params', 'peer', 'ratio', 'worst–best round pairing', 'better when'],
        report.ratios.map((r) => [
          `${r.metric} [${r.unit}]`,
          describeParams(r.params),
          r.peer,
          formatRatio(r.ratio),
          `${formatRatio(r.ratioLow)} – ${formatRatio(r.ratioHigh)}`,
          r.higherIsBetter ? '> 1' : '< 1',
        ]),
      ),
      '',
    );
  }

  if (svgFileName !== null) out.push(`![${report.suite} chart](${svgFileName})`, '');

  out.push('## Figures', '');
  for (const [metric, groups] of byMetric(report.figures)) {
    const figures = [...groups.values()].flatMap((list) => [...list].sort(quireFirst));
    const unit = figures[0].unit;
    out.push(`### ${metric} [${unit}], ${higherIsBetter(unit) ? 'higher' : 'lower'} is better`, '');
    out.push(
      ...tableMd(
        ['params', 'subject', 'median', 'p10 – p90', 'min – max', 'spread', 'n'],
        figures.map((f) => {
          const s = f.summary;
          return [
            describeParams(f.params),
            f.subject,
            formatNumber(s.median),
            `${formatNumber(s.p10)} – ${formatNumber(s.p90)}`,
            `${formatNumber(s.min)} – ${formatNumber(s.max)}`,
            s.spreadRel > spreadRelNoisy ? `**${formatPercent(s.spreadRel)}** (noisy)` : formatPercent(s.spreadRel),
            s.sampleCount,
          ];
        }),
      ),
      '',
    );
  }

  for (const t of report.tables) {
    out.push(`## ${t.title}`, '', ...tableMd(t.columns, t.rows), '');
  }

  if (report.notes.length > 0) {
    out.push('## Notes', '', ...report.notes.map((n) => `- ${n}`), '');
  }

  const m = report.machine;
  out.push(
    '## Machine',
    '',
    `- CPU: ${m.cpuModel}, ${m.cores} cores; memory ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB`,
    `- Kernel ${m.kernel} (${m.platform}); Node ${m.node}; UV_THREADPOOL_SIZE ${m.uvThreadpoolSize}`,
    `- Packages: ${Object.entries(m.packages).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `- Scratch disk: ${m.scratchDisk.path} on ${m.scratchDisk.device} (${m.scratchDisk.fsType}, mounted at ${m.scratchDisk.mountPoint}), ` +
      `${(m.scratchDisk.freeBytes / 2 ** 30).toFixed(0)} of ${(m.scratchDisk.sizeBytes / 2 ** 30).toFixed(0)} GiB free`,
    '',
  );
  return out.join('\n');
}

async function writeAtomic(path: string, text: string): Promise<void> {
  // A crashed run must not leave half a JSON file that a later comparison would read.
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

export async function writeReport(
  outDir: string,
  report: SuiteReport,
  chartMetrics?: readonly string[],
): Promise<{ json: string; md: string; svg: string | null }> {
  await mkdir(outDir, { recursive: true });
  const base = join(outDir, `${report.date}-${report.suite}`);
  const json = `${base}.json`;
  const md = `${base}.md`;
  const panels = chartPanels(report, chartMetrics);
  let svg: string | null = null;
  if (panels.length > 0) {
    svg = `${base}.svg`;
    await writeAtomic(svg, renderChart(`${report.suite} — ${report.date}${report.quick ? ' (quick run)' : ''}`, panels));
  }
  await writeAtomic(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeAtomic(md, renderMarkdown(report, svg === null ? null : `${report.date}-${report.suite}.svg`));
  return { json, md, svg };
}
