// The benchmark runner: `node dist/bench/run.js [SUITE...] [--quick] [--rounds N] [--out DIR]`.
// Finds every suite in bench/suites/ by file name (adding a suite is adding one file), runs the
// chosen ones in turn under a time budget each, writes <date>-<suite>.{json,md,svg}, and exits
// non-zero if any suite failed, after running all the others.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  resultsDirDefault,
  resultsDirQuick,
  roundsDefault,
  roundsMax,
  roundsQuick,
  scratchDirRoot,
  suiteBudgetMsDefault,
  suiteBudgetMsQuick,
  threadpoolSize,
} from './lib/constants.js';
import { Context } from './lib/context.js';
import { describeMachine } from './lib/machine.js';
import { buildReport, writeReport, type SuiteReport } from './lib/report.js';
import { formatRatio } from './lib/stats.js';
import type { Suite } from './lib/suite.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const suitesDir = fileURLToPath(new URL('./suites/', import.meta.url));

const usage = `usage: npm run bench -- [SUITE...] [--quick] [--rounds N] [--out DIR] [--list]

  SUITE       run only these suites (default: every suite in bench/suites/)
  --quick     small smoke run (what CI runs); results go to ${resultsDirQuick}/
  --rounds N  rounds per comparison (default ${roundsDefault}, quick ${roundsQuick}, max ${roundsMax})
  --out DIR   where results go (default ${resultsDirDefault}/)
  --list      list the suites and exit`;

interface Options {
  readonly suites: string[];
  readonly quick: boolean;
  readonly rounds: number;
  readonly outDir: string;
  readonly list: boolean;
}

/** Expected failures of the command line are values: a message and exit status 2. */
function parseArgs(argv: readonly string[]): Options | { error: string } {
  const suites: string[] = [];
  let quick = false;
  let rounds: number | null = null;
  let outDir: string | null = null;
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') quick = true;
    else if (arg === '--list') list = true;
    else if (arg === '--help' || arg === '-h') return { error: '' };
    else if (arg === '--rounds' || arg === '--out') {
      const value = argv[++i];
      if (value === undefined) return { error: `${arg} needs a value` };
      if (arg === '--out') outDir = resolve(value);
      else {
        rounds = Number(value);
        if (!Number.isInteger(rounds) || rounds < 1 || rounds > roundsMax) {
          return { error: `--rounds must be an integer from 1 to ${roundsMax}` };
        }
      }
    } else if (arg.startsWith('-')) return { error: `unknown option ${arg}` };
    else suites.push(arg);
  }
  return {
    suites,
    quick,
    rounds: rounds ?? (quick ? roundsQuick : roundsDefault),
    outDir: outDir ?? join(repoRoot, quick ? resultsDirQuick : resultsDirDefault),
    list,
  };
}

/** Every suite module by name; one that fails to load is kept as its error, so the others still run. */
async function discoverSuites(): Promise<Map<string, Suite | Error>> {
  const suites = new Map<string, Suite | Error>();
  const files = readdirSync(suitesDir)
    .filter((f) => f.endsWith('.js') && !f.endsWith('.test.js'))
    .sort();
  for (const file of files) {
    const name = basename(file, '.js');
    try {
      const mod = (await import(join(suitesDir, file))) as { default?: Suite };
      const suite = mod.default;
      if (suite === undefined || typeof suite.run !== 'function' || suite.name !== name) {
        throw new Error(`bench/suites/${name}.ts must export default a Suite named '${name}'`);
      }
      suites.set(name, suite);
    } catch (error) {
      suites.set(name, error instanceof Error ? error : new Error(String(error)));
    }
  }
  return suites;
}

function log(suite: string, message: string): void {
  process.stdout.write(`[${suite}] ${message}\n`);
}

async function runSuite(suite: Suite, options: Options): Promise<SuiteReport> {
  const budgetMs = options.quick ? suiteBudgetMsQuick : (suite.budgetMs ?? suiteBudgetMsDefault);
  const scratchDir = join(repoRoot, scratchDirRoot, `${suite.name}-${process.pid}`);
  await rm(scratchDir, { recursive: true, force: true });
  await mkdir(scratchDir, { recursive: true });
  const ctx = new Context({
    quick: options.quick,
    rounds: options.rounds,
    scratchDir,
    budgetMs,
    log: (m) => log(suite.name, m),
  });
  const startedAt = new Date();
  const t0 = performance.now();
  let error: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  // A suite past its budget is failed and the run goes on; it is also told to stop, so it does
  // not keep writing to the disk the next suite measures.
  const overrun = new Promise<never>((_, reject) => {
    // Grace on top of the budget: compare() already stops starting rounds well before it.
    timer = setTimeout(() => reject(new Error(`exceeded its time budget of ${budgetMs / 1000} s`)), budgetMs * 1.25);
  });
  try {
    await Promise.race([suite.run(ctx), overrun]);
  } catch (e) {
    error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    ctx.abort(error.split('\n')[0]);
    process.stderr.write(`[${suite.name}] FAILED: ${error}\n`);
  } finally {
    clearTimeout(timer);
  }
  const machine = await describeMachine(repoRoot, scratchDir);
  await rm(scratchDir, { recursive: true, force: true });
  return buildReport({
    suite: suite.name,
    description: suite.description,
    startedAt,
    durationMs: performance.now() - t0,
    quick: options.quick,
    rounds: options.rounds,
    error,
    machine,
    record: ctx.collected,
  });
}

function printSummary(report: SuiteReport, paths: { json: string; md: string; svg: string | null }): void {
  const name = report.suite;
  for (const g of report.goals) {
    const value = g.result === null ? (g.missing ?? 'not measured') : formatRatio(g.result.ratio);
    const target = g.goal === null || g.met === null ? '' : ` (goal ≥ ${formatRatio(g.goal)}: ${g.met ? 'met' : 'NOT met'})`;
    log(name, `${g.label}: ${value}${target}`);
  }
  log(name, `${report.status}; results: ${[paths.md, paths.json, paths.svg].filter((p) => p !== null).map((p) => relative(process.cwd(), p)).join(', ')}`);
}

async function main(): Promise<number> {
  const parsed = parseArgs(process.argv.slice(2));
  if ('error' in parsed) {
    if (parsed.error !== '') process.stderr.write(`${parsed.error}\n`);
    process.stderr.write(`${usage}\n`);
    return parsed.error === '' ? 0 : 2;
  }
  const all = await discoverSuites();
  if (parsed.list) {
    for (const [name, s] of all) {
      process.stdout.write(`${name}\t${s instanceof Error ? `does not load: ${s.message}` : s.description}\n`);
    }
    return 0;
  }
  const unknown = parsed.suites.filter((s) => !all.has(s));
  if (unknown.length > 0) {
    process.stderr.write(`unknown suite ${unknown.join(', ')}; suites: ${[...all.keys()].join(', ')}\n`);
    return 2;
  }
  const chosen = parsed.suites.length > 0 ? parsed.suites : [...all.keys()];
  const failed: string[] = [];
  for (const name of chosen) {
    const suite = all.get(name)!;
    if (suite instanceof Error) {
      process.stderr.write(`[${name}] FAILED to load: ${suite.stack ?? suite.message}\n`);
      failed.push(name);
      continue;
    }
    log(name, `start: ${suite.description}`);
    const report = await runSuite(suite, parsed);
    const paths = await writeReport(parsed.outDir, report, suite.chartMetrics);
    printSummary(report, paths);
    if (report.status === 'failed') failed.push(name);
  }
  if (failed.length > 0) {
    process.stderr.write(`failed suites: ${failed.join(', ')}\n`);
    return 1;
  }
  return 0;
}

// libuv sizes its thread pool once, at first use, which Node's module loader may already have
// made: the only sure way to set it is in the environment of a fresh process.
if (process.env.UV_THREADPOOL_SIZE === undefined) {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: String(threadpoolSize) },
  });
  process.exit(child.status ?? 1);
} else {
  if (!existsSync(suitesDir)) throw new Error(`no suites directory at ${suitesDir}`);
  // Exit explicitly: a suite that overran its budget may still hold handles open.
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
