// Order statistics for benchmark samples. Benchmarks report the median and the spread, not the
// mean: one stalled fsync or a neighbour's compile on a shared core moves a mean, not a median.

import { assert } from '../../engine/assert.js';

/** Percentile by linear interpolation between closest ranks (Hyndman & Fan type 7, as numpy/R default). */
export function percentile(samples: readonly number[], p: number): number {
  assert(samples.length > 0, 'percentile of no samples');
  assert(p >= 0 && p <= 100, `percentile out of range: ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  return percentileSorted(sorted, p);
}

/** As percentile(), for samples already sorted ascending (latency arrays are large: sort once). */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  assert(sorted.length > 0, 'percentile of no samples');
  const rank = (p / 100) * (sorted.length - 1);
  const below = Math.floor(rank);
  const above = Math.min(below + 1, sorted.length - 1);
  const weight = rank - below;
  return sorted[below] + (sorted[above] - sorted[below]) * weight;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export interface Summary {
  readonly sampleCount: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly p10: number;
  readonly p90: number;
  /** (max - min) / median: how far apart the best and the worst round were, relative to the typical one. */
  readonly spreadRel: number;
}

export function summarize(samples: readonly number[]): Summary {
  assert(samples.length > 0, 'summary of no samples');
  assert(samples.every(Number.isFinite), 'non-finite sample');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = percentileSorted(sorted, 50);
  const min = sorted[0];
  const max = sorted[sorted.length - 1];
  return {
    sampleCount: sorted.length,
    median: mid,
    min,
    max,
    p10: percentileSorted(sorted, 10),
    p90: percentileSorted(sorted, 90),
    spreadRel: mid === 0 ? (max === min ? 0 : Infinity) : (max - min) / Math.abs(mid),
  };
}

export interface RatioSummary {
  /** median(numerator) / median(denominator). */
  readonly ratio: number;
  /** The least favourable pairing of rounds: min(numerator) / max(denominator). */
  readonly ratioLow: number;
  /** The most favourable pairing: max(numerator) / min(denominator). */
  readonly ratioHigh: number;
}

/**
 * Ratio of two sample sets. The low/high bounds pair the extremes, so when ratioLow > 1 (or
 * ratioHigh < 1) the difference holds in every round, not just in the medians.
 */
export function ratioOf(numerator: readonly number[], denominator: readonly number[]): RatioSummary {
  const n = summarize(numerator);
  const d = summarize(denominator);
  return {
    ratio: n.median / d.median,
    ratioLow: n.min / d.max,
    ratioHigh: n.max / d.min,
  };
}

/** Higher is better for rates (anything per second); lower is better for times and sizes. */
export function higherIsBetter(unit: string): boolean {
  return unit.endsWith('/s');
}

/** Number formatting for tables and charts: 3 significant digits, thousands grouped. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs === 0) return '0';
  return Number(value.toPrecision(3)).toString();
}

export function formatRatio(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}×`;
}

export function formatPercent(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return `${(value * 100).toFixed(value < 0.1 ? 1 : 0)}%`;
}
