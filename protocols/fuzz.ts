// The seeded fuzz harness every line protocol shares (IMAP, POP3): a small PRNG, a mutator of
// valid commands (bit flips, protocol punctuation, deletions, duplicated slices, huge numbers,
// literal markers, deep nesting), the chunkings to feed them in (whole and 1, 3 and 17 byte
// pieces) and a driver that runs a session target through it, checking after every input that
// the target is still alive and holds no more than its bound. FUZZ_SEED=n reproduces a run,
// FUZZ_ITERATIONS=n runs longer; a failure names the seed and the iteration.

/** The pieces each input is fed in: 0 means whole. */
export const fuzzPieceBytes: readonly number[] = [0, 1, 3, 17];

/** mulberry32: small, fast, good enough to drive mutations reproducibly. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of this run: FUZZ_SEED or the given default. */
export function fuzzSeed(defaultSeed: number): number {
  return Number(process.env['FUZZ_SEED'] ?? defaultSeed) >>> 0;
}

/** The iterations of this run: FUZZ_ITERATIONS or the given default. */
export function fuzzIterations(defaultIterations: number): number {
  return Number(process.env['FUZZ_ITERATIONS'] ?? defaultIterations);
}

export function splitEvery(bytes: Uint8Array, pieceBytes: number): Uint8Array[] {
  if (pieceBytes <= 0) return [bytes];
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += pieceBytes) pieces.push(bytes.subarray(i, i + pieceBytes));
  return pieces;
}

/** Punctuation that line protocols give meaning to; mutations insert these. */
export const defaultSpecials: readonly string[] = ['{', '}', '(', ')', '"', '\\', '\r', '\n', '\r\n', ' ', '*', '$', '~', '+', '[', ']', '<', '>', '.', ':', ',', '\0', '\xff', 'NIL', '.\r\n'];

const hugeNumbers = ['4294967296', '99999999999999999999999', '0', '-1', '9223372036854775808', '18446744073709551616'];

/** One to four random mutations of `input`. Pure given the random source. */
export function mutate(input: Uint8Array, random: () => number, specials: readonly string[] = defaultSpecials): Buffer {
  let bytes = Buffer.from(input);
  const rounds = 1 + Math.floor(random() * 4);
  const at = (): number => Math.floor(random() * (bytes.length + 1));
  for (let r = 0; r < rounds; r++) {
    switch (Math.floor(random() * 8)) {
      case 0: {
        if (bytes.length === 0) break;
        const i = Math.min(at(), bytes.length - 1);
        bytes[i] = bytes[i]! ^ (1 << Math.floor(random() * 8));
        break;
      }
      case 1: {
        const i = at();
        const s = Buffer.from(specials[Math.floor(random() * specials.length)]!, 'latin1');
        bytes = Buffer.concat([bytes.subarray(0, i), s, bytes.subarray(i)]);
        break;
      }
      case 2: {
        const i = at();
        bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + Math.floor(random() * 8))]);
        break;
      }
      case 3: {
        const i = at();
        const j = Math.min(bytes.length, i + Math.floor(random() * 40));
        bytes = Buffer.concat([bytes.subarray(0, j), bytes.subarray(i, j), bytes.subarray(j)]);
        break;
      }
      case 4: {
        const huge = hugeNumbers[Math.floor(random() * hugeNumbers.length)]!;
        bytes = Buffer.from(bytes.toString('latin1').replace(/[0-9]+/, huge), 'latin1');
        break;
      }
      case 5: {
        const i = at();
        const n = [0, 1, 5, 4096, 4097, 10 ** 12][Math.floor(random() * 6)]!;
        const marker = `${random() < 0.3 ? '~' : ''}{${n}${random() < 0.5 ? '+' : ''}}\r\n`;
        bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from(marker), bytes.subarray(i)]);
        break;
      }
      case 6: {
        const i = at();
        const depth = Math.floor(random() * 40);
        bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from('('.repeat(depth) + 'NOT ' + ')'.repeat(depth)), bytes.subarray(i)]);
        break;
      }
      case 7: {
        // A long run without a line end: hits the line limits.
        const i = at();
        const n = Math.floor(random() * 3000);
        bytes = Buffer.concat([bytes.subarray(0, i), Buffer.alloc(n, 0x41), bytes.subarray(i)]);
        break;
      }
    }
  }
  return bytes;
}

/** A session under test, fed bytes as a client would send them. */
export interface FuzzTarget {
  /** Gives the session bytes; resolves once it has answered what it can. */
  feed(chunk: Uint8Array): Promise<void>;
  /** Bytes the session holds for input not yet answered (decoder buffers); must stay bounded. */
  heldBytes(): number;
  /** False once the session closed itself (allowed: e.g. LOGOUT or too many errors). */
  alive(): boolean;
  close(): Promise<void>;
}

export interface FuzzRun {
  /** Valid commands to start from (a script of whole commands, CRLFs included). */
  readonly corpus: readonly Uint8Array[];
  readonly seed: number;
  readonly iterations: number;
  readonly specials?: readonly string[];
  /** Upper bound for heldBytes() at every step. */
  readonly heldBytesMax: number;
  /** A fresh session; `random` is the run's source, for targets that want to vary. */
  open(): Promise<FuzzTarget>;
  /** Optional check after each input, e.g. that a valid command is still answered. */
  afterEach?(target: FuzzTarget): Promise<void>;
}

/**
 * Runs `iterations` mutated inputs, each fed in every chunking of fuzzPieceBytes to one
 * session; a fresh session is opened when one closed. Throws with the seed and iteration on
 * the first failure (an exception from the target, a held-bytes bound broken, a failed check).
 */
export async function runFuzz(run: FuzzRun): Promise<{ inputs: number; sessions: number }> {
  const random = prng(run.seed);
  let target = await run.open();
  let sessions = 1;
  let inputs = 0;
  try {
    for (let i = 0; i < run.iterations; i++) {
      const base = run.corpus[Math.floor(random() * run.corpus.length)]!;
      const input = mutate(base, random, run.specials);
      const pieceBytes = fuzzPieceBytes[i % fuzzPieceBytes.length]!;
      try {
        for (const piece of splitEvery(input, pieceBytes)) {
          if (!target.alive()) break;
          await target.feed(piece);
          const held = target.heldBytes();
          if (held > run.heldBytesMax) throw new Error(`session holds ${held} bytes, bound ${run.heldBytesMax}`);
        }
        if (target.alive() && run.afterEach !== undefined) await run.afterEach(target);
      } catch (error) {
        throw new Error(`fuzz failure (FUZZ_SEED=${run.seed}, iteration ${i}, pieces ${pieceBytes}, input ${JSON.stringify(input.toString('latin1').slice(0, 300))}): ${(error as Error).message}`, { cause: error });
      }
      inputs++;
      if (!target.alive()) {
        await target.close();
        target = await run.open();
        sessions++;
      }
    }
  } finally {
    await target.close();
  }
  return { inputs, sessions };
}
