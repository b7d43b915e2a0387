// The frame's side of SuiteContext: it owns the rounds, the scratch directory and the clock of
// the run, and collects what a suite measures into a SuiteRecord for the report.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../../engine/assert.js';
import { roundsStopBudgetShare } from './constants.js';
import type { Figure, Params, RatioSpec, SampleRun, Subject, SuiteContext } from './suite.js';

export interface SuiteTable {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

/** Everything a suite produced; the report derives summaries and ratios from it. */
export interface SuiteRecord {
  readonly figures: Figure[];
  readonly ratios: RatioSpec[];
  readonly notes: string[];
  readonly tables: SuiteTable[];
}

/** Params as a stable key: key order must not make two figures of the same params differ. */
export function paramsKey(params: Params): string {
  return JSON.stringify(Object.keys(params).sort().map((k) => [k, params[k]]));
}

export function figureKey(f: { subject: Subject; metric: string; params: Params }): string {
  return JSON.stringify([f.subject, f.metric, paramsKey(f.params)]);
}

export interface ContextOptions {
  readonly quick: boolean;
  readonly rounds: number;
  readonly scratchDir: string;
  readonly budgetMs: number;
  readonly log: (message: string) => void;
}

export class Context implements SuiteContext {
  readonly quick: boolean;
  readonly rounds: number;
  readonly scratchDir: string;
  readonly collected: SuiteRecord = { figures: [], ratios: [], notes: [], tables: [] };
  private readonly figuresByKey = new Map<string, Figure>();
  private readonly startMs = performance.now();
  private readonly budgetMs: number;
  private readonly logLine: (message: string) => void;
  private scratchCount = 0;
  private abortReason: string | null = null;

  constructor(options: ContextOptions) {
    assert(options.rounds >= 1, 'at least one round');
    this.quick = options.quick;
    this.rounds = options.rounds;
    this.scratchDir = options.scratchDir;
    this.budgetMs = options.budgetMs;
    this.logLine = options.log;
  }

  async scratch(name: string): Promise<string> {
    assert(/^[A-Za-z0-9._-]+$/.test(name), `scratch name must be a plain file name: ${name}`);
    this.scratchCount += 1;
    const dir = join(this.scratchDir, `${String(this.scratchCount).padStart(4, '0')}-${name}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Called by the runner when the suite overran its budget: its next sample throws instead of running. */
  abort(reason: string): void {
    this.abortReason = reason;
  }

  timeLeftMs(): number {
    return this.budgetMs - (performance.now() - this.startMs);
  }

  log(message: string): void {
    this.logLine(message);
  }

  async measure<T>(label: string, fn: () => Promise<T> | T): Promise<{ value: T; elapsedMs: number }> {
    const t0 = performance.now();
    const value = await fn();
    const elapsedMs = performance.now() - t0;
    this.log(`${label}: ${elapsedMs.toFixed(1)} ms`);
    return { value, elapsedMs };
  }

  async compare(params: Params, subjects: Readonly<Record<Subject, SampleRun>>): Promise<void> {
    const names = Object.keys(subjects);
    assert(names.length > 0, 'compare needs at least one subject');
    const roundsStopMs = this.budgetMs * roundsStopBudgetShare;
    for (let round = 0; round < this.rounds; round++) {
      if (round > 0 && performance.now() - this.startMs > roundsStopMs) {
        this.note(`${describeParams(params)}: stopped after ${round} of ${this.rounds} rounds (time budget)`);
        break;
      }
      // Rotate the order each round: the second subject otherwise always meets a disk still
      // writing back the first one's pages.
      for (let i = 0; i < names.length; i++) {
        const subject = names[(i + round) % names.length];
        if (this.abortReason !== null) throw new Error(`aborted: ${this.abortReason}`);
        const readings = await subjects[subject]();
        for (const r of readings) {
          this.addSample({ subject, metric: r.metric, unit: r.unit, params }, r.value);
        }
        this.log(
          `round ${round + 1}/${this.rounds} ${subject} ${describeParams(params)}: ` +
            readings.map((r) => `${r.metric} ${r.value.toPrecision(4)} ${r.unit}`).join(', '),
        );
      }
    }
  }

  record(figure: Figure): void {
    for (const v of figure.samples) this.addSample(figure, v);
  }

  ratio(spec: RatioSpec): void {
    this.collected.ratios.push(spec);
  }

  note(text: string): void {
    this.log(`note: ${text}`);
    this.collected.notes.push(text);
  }

  table(title: string, columns: readonly string[], rows: readonly (readonly (string | number)[])[]): void {
    assert(rows.every((r) => r.length === columns.length), `table ${title}: row width differs from columns`);
    this.collected.tables.push({ title, columns: [...columns], rows: rows.map((r) => [...r]) });
  }

  private addSample(f: Omit<Figure, 'samples'>, value: number): void {
    assert(Number.isFinite(value), `${f.subject} ${f.metric}: non-finite sample ${value}`);
    const key = figureKey(f);
    let figure = this.figuresByKey.get(key);
    if (figure === undefined) {
      figure = { metric: f.metric, unit: f.unit, params: { ...f.params }, subject: f.subject, samples: [] };
      this.figuresByKey.set(key, figure);
      this.collected.figures.push(figure);
    }
    assert(figure.unit === f.unit, `${f.metric}: unit changed from ${figure.unit} to ${f.unit}`);
    figure.samples.push(value);
  }
}

/** "payloadBytes=256 writers=16" — params as they appear in logs, tables and the chart. */
export function describeParams(params: Params): string {
  const keys = Object.keys(params);
  if (keys.length === 0) return '(no params)';
  return keys.map((k) => `${k}=${String(params[k])}`).join(' ');
}
