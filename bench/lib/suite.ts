// The interface between the benchmark frame and a suite. A suite is one file,
// bench/suites/<name>.ts, whose default export is a Suite; the runner finds it by file name.
//
//   import type { Suite } from '../lib/suite.js';
//   const suite: Suite = {
//     name: 'delivery',
//     description: 'LMTP deliveries/s, Quire vs Dovecot',
//     async run(ctx) {
//       await ctx.compare({ payloadBytes: 4096 }, {
//         quire: async () => [{ metric: 'deliveries/s', unit: 'ops/s', value: await deliverQuire() }],
//         dovecot: async () => [{ metric: 'deliveries/s', unit: 'ops/s', value: await deliverDovecot() }],
//       });
//     },
//   };
//   export default suite;

/** What a figure was measured under: payload size, writer count, mode... Values print in tables. */
export type Params = Readonly<Record<string, string | number | boolean>>;

/** 'quire' or the peer's name ('disk', 'rocksdb', 'dovecot', 'ts' for plain TypeScript...). */
export type Subject = string;

export const quireSubject = 'quire';

/** One value from one sample of one subject. */
export interface Reading {
  readonly metric: string;
  /** 'records/s', 'MB/s', 'ms', 'ns/op'... Units ending in '/s' are higher-is-better, others lower-is-better. */
  readonly unit: string;
  readonly value: number;
}

/** One sample run of one subject: it measures itself (its own timed window) and returns readings. */
export type SampleRun = () => Promise<readonly Reading[]>;

/** A figure: every sample of one metric of one subject under one set of params. */
export interface Figure {
  readonly metric: string;
  readonly unit: string;
  readonly params: Params;
  readonly subject: Subject;
  readonly samples: number[];
}

/** Selects the figure a ratio reads: the first figure with this subject, metric and params. */
export interface FigureRef {
  readonly subject: Subject;
  readonly metric: string;
  readonly params: Params;
}

/** A ratio across figures with different params (e.g. Quire at 256 writers vs RocksDB at 1), with a goal. */
export interface RatioSpec {
  readonly label: string;
  readonly numerator: FigureRef;
  readonly denominator: FigureRef;
  /** The ratio the project aims for; met when ratio >= goal. */
  readonly goal?: number;
}

export interface SuiteContext {
  readonly quick: boolean;
  /** Rounds per comparison (--rounds, or the default for the mode). */
  readonly rounds: number;
  /** A fresh directory on the repository's disk (under .cache/bench/), removed after the suite. */
  readonly scratchDir: string;
  /** A fresh, empty sub directory of scratchDir. */
  scratch(name: string): Promise<string>;
  /** Milliseconds left of the suite's budget; loops should stop early when it runs low. */
  timeLeftMs(): number;
  log(message: string): void;
  /** Times fn once (wall clock) and logs it; for set-up steps and one-shot figures. */
  measure<T>(label: string, fn: () => Promise<T> | T): Promise<{ value: T; elapsedMs: number }>;
  /**
   * The main loop: for each round, samples every subject once, rotating which goes first so no
   * subject always runs on a disk the other just dirtied (Q P, P Q, Q P ...). Every reading
   * becomes a sample of the figure (metric, unit, params, subject). Stops starting rounds when
   * the budget runs low, after at least one. A subject that throws fails the suite.
   */
  compare(params: Params, subjects: Readonly<Record<Subject, SampleRun>>): Promise<void>;
  /** Adds samples measured some other way (a suite's own loop, a module's bench rows). */
  record(figure: Figure): void;
  /** Declares a ratio across params, shown with its goal in the summary. */
  ratio(spec: RatioSpec): void;
  /** A line for the summary's notes: what was not measured and why, peer settings, caveats. */
  note(text: string): void;
  /** A free-form table for the summary (e.g. rows a module's own benchmark returned). */
  table(title: string, columns: readonly string[], rows: readonly (readonly (string | number)[])[]): void;
}

export interface Suite {
  readonly name: string;
  /** One line: what is measured, against which peer. */
  readonly description: string;
  /** Budget for a full run; quick runs use suiteBudgetMsQuick. */
  readonly budgetMs?: number;
  /** Metrics drawn in the SVG chart (all when omitted); the rest appear in the table only. */
  readonly chartMetrics?: readonly string[];
  run(ctx: SuiteContext): Promise<void>;
}
