// Seeded mutation fuzzing of the IMAP decoder + parser: valid RFC example commands are mutated
// (bit flips, insertions of protocol punctuation, deletions, duplicated slices and literals,
// huge numbers, stray literal markers) and fed whole and in 1, 3 and 17 byte pieces. Proves no
// exception escapes, the decoder never holds more than commandBytesMax, the parse does not
// depend on chunking, and after any garbage a valid command still decodes and parses (resync).
// FUZZ_SEED=n reproduces a run; FUZZ_ITERATIONS=n runs longer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WireLimits } from './constants.js';
import { ImapDecoder } from './decoder.js';
import { parseCommand } from './parser.js';
import { rfcExamples } from './rfc-examples.fixture.js';
import { fuzzIterations, fuzzSeed, mutate, prng, splitEvery } from '../../fuzz.js';
import { toJson } from './testing.js';

const seed = fuzzSeed(0x5eed1234);
const iterations = fuzzIterations(3000);
const limits: WireLimits = { lineBytesMax: 2048, literalBytesMax: 4096, literalsPerCommandMax: 8, commandBytesMax: 8192, parseDepthMax: 8 };

/** Runs one input through a fresh decoder in the given pieces; returns a chunking-independent summary. */
function feed(input: Buffer, piece: number): string[] {
  const decoder = new ImapDecoder(limits);
  const out: string[] = [];
  const drain = () => {
    for (let e = decoder.next(); e !== null; e = decoder.next()) {
      assert.ok(decoder.heldBytes() <= limits.commandBytesMax + 64, `decoder holds ${decoder.heldBytes()} bytes`);
      if (e.kind === 'command') out.push(toJson(parseCommand(e.command, { limits })));
      else if (e.kind === 'error') out.push(`error ${e.error.code} ${e.error.tag}`);
    }
  };
  for (const chunk of splitEvery(input, piece)) {
    decoder.push(chunk);
    drain();
  }
  // Resync: end whatever the garbage left open, then a valid command must come through.
  for (let round = 0; round < 4 && !decoder.isIdle(); round++) {
    const remaining = decoder.literalBytesRemaining();
    if (remaining > limits.commandBytesMax) decoder.reset(); // a client owing us a terabyte: the session closes it
    else if (remaining > 0) decoder.push(Buffer.alloc(remaining, 0x78));
    decoder.push(Buffer.from('\r\n'));
    drain();
  }
  assert.ok(decoder.isIdle(), 'decoder is back at a command boundary');
  const before = out.length;
  decoder.push(Buffer.from('zz9 UID FETCH 1:* (FLAGS)\r\n'));
  drain();
  assert.equal(out.length, before + 1);
  assert.match(out[out.length - 1]!, /"ok": true/);
  return out;
}

test(`mutated RFC commands never throw and always resync (FUZZ_SEED=${seed})`, () => {
  const random = prng(seed);
  const corpus = rfcExamples.map((e) => Buffer.from(e.command + '\r\n', 'utf8'));
  for (let i = 0; i < iterations; i++) {
    // Two commands in a row: mutations can run one into the other.
    const a = corpus[Math.floor(random() * corpus.length)]!;
    const b = corpus[Math.floor(random() * corpus.length)]!;
    const input = mutate(Buffer.concat([a, b]), random);
    try {
      const whole = feed(input, input.length || 1);
      for (const piece of [1, 3, 17]) assert.deepEqual(feed(input, piece), whole, `${piece}-byte pieces differ from whole`);
    } catch (e) {
      console.error(`FUZZ FAILURE: FUZZ_SEED=${seed} iteration ${i} input=${JSON.stringify(input.toString('latin1'))}`);
      throw e;
    }
  }
});
