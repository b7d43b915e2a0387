// Every limit of the benchmark frame in one place, units last. Quick mode exists so CI runs the
// whole harness on every change (two shared, noisy cores, well under two minutes in total): its
// numbers are a smoke test of the harness, never a result.

/** Rounds per comparison; each round samples every subject once, in rotating order. */
export const roundsDefault = 5;
export const roundsQuick = 2;
export const roundsMax = 50;

/** A suite that has not finished after this long is reported as failed and the run goes on. */
export const suiteBudgetMsDefault = 15 * 60_000;
export const suiteBudgetMsQuick = 40_000;

/** After this share of its budget a suite's comparisons stop starting new rounds (at least one always runs). */
export const roundsStopBudgetShare = 0.7;

/** Where results go; quick runs go to a git-ignored sub folder. */
export const resultsDirDefault = 'bench/results';
export const resultsDirQuick = 'bench/results/quick';

/**
 * Scratch space for suites: under the repository, so fsync figures come from the disk a
 * deployment's data directory would live on (os.tmpdir() may be a tmpfs, where fsync is free).
 */
export const scratchDirRoot = '.cache/bench';

/**
 * libuv worker threads. RocksDB's binding runs each put on a libuv worker, and so do async fs
 * calls, so with the default of 4 no more than 4 writes are ever in flight, whatever the writer
 * count: RocksDB could not group more than 4 synced writes into one WAL sync. The runner
 * re-executes itself with this size when UV_THREADPOOL_SIZE is unset; both subjects get it.
 */
export const threadpoolSize = 64;

/** Figures whose samples spread more than this (max - min over median) are flagged as noisy. */
export const spreadRelNoisy = 0.25;

/** 1 MB = 10^6 bytes in every MB/s figure. */
export const bytesPerMb = 1_000_000;
