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
import { splitEvery, toJson } from './testing.js';

const seed = Number(process.env.FUZZ_SEED ?? 0x5eed1234) >>> 0;
const iterations = Number(process.env.FUZZ_ITERATIONS ?? 3000);
const limits: WireLimits = { lineBytesMax: 2048, literalBytesMax: 4096, literalsPerCommandMax: 8, commandBytesMax: 8192, parseDepthMax: 8 };

/** mulberry32: small, fast, good enough to drive mutations reproducibly. */
function prng(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const specials = ['{', '}', '(', ')', '"', '\\', '\r', '\n', '\r\n', ' ', '*', '$', '~', '+', '[', ']', '<', '>', '.', ':', ',', '\0', '\xff', 'NIL'];

function mutate(input: Buffer, random: () => number): Buffer {
  let bytes = Buffer.from(input);
  const rounds = 1 + Math.floor(random() * 4);
  const at = () => Math.floor(random() * (bytes.length + 1));
  for (let r = 0; r < rounds; r++) {
    switch (Math.floor(random() * 7)) {
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
        const n = Math.floor(random() * 8);
        bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + n)]);
        break;
      }
      case 3: {
        // Duplicate a slice (duplicates literal markers and payloads when it lands on them).
        const i = at();
        const j = Math.min(bytes.length, i + Math.floor(random() * 40));
        bytes = Buffer.concat([bytes.subarray(0, j), bytes.subarray(i, j), bytes.subarray(j)]);
        break;
      }
      case 4: {
        const huge = ['4294967296', '99999999999999999999999', '0', '9223372036854775808', '18446744073709551616'][Math.floor(random() * 5)]!;
        const text = bytes.toString('latin1').replace(/[0-9]+/, huge);
        bytes = Buffer.from(text, 'latin1');
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
        const depth = Math.floor(random() * 12);
        bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from('('.repeat(depth) + 'NOT ' + ')'.repeat(depth)), bytes.subarray(i)]);
        break;
      }
    }
  }
  return bytes;
}

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
