// Test helpers for the directory: a temp data dir, virtual time and seeded randomness.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { nodeStorage, seededPrng } from '../io.js';
import type { EmbeddedDirectoryOptions } from './embedded.js';
import { nodeIsProcessAlive } from './lock.js';

export function tempDataDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'quire-directory-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `body` on a fresh temp data dir, removed afterwards whatever happens. */
export async function inDataDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const { dir, cleanup } = tempDataDir();
  try {
    return await body(dir);
  } finally {
    cleanup();
  }
}

/** Deterministic options: virtual time that advances 1 ms per reading, seeded bytes, cheap scrypt. */
export function testOptions(seed = 1, overrides: Partial<EmbeddedDirectoryOptions> = {}): EmbeddedDirectoryOptions {
  const prng = seededPrng(seed);
  let nowMs = 1_700_000_000_000;
  return {
    clock: { nowMs: () => nowMs++ },
    randomBytes: (n) => prng.bytes(n),
    storage: nodeStorage(),
    pid: process.pid,
    isProcessAlive: nodeIsProcessAlive,
    scrypt: { ln: 10, r: 8, p: 1 },
    ...overrides,
  };
}
