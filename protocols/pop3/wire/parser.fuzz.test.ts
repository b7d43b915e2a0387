// Seeded mutation fuzzing of the POP3 decoder + parser, fed whole and in 1, 3 and 17 byte
// pieces: no exception escapes, the decoder never holds more than its cap, the outcome does not
// depend on chunking, and after any garbage a valid command still parses. FUZZ_SEED=n reproduces.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandBytesMax } from './constants.js';
import { Pop3Decoder } from './decoder.js';
import { parsePop3Command } from './parser.js';
import { fuzzIterations, fuzzSeed, mutate, prng, splitEvery } from '../../fuzz.js';

const seed = fuzzSeed(0x5eed1234);
const iterations = fuzzIterations(3000);

const corpus = ['USER mrose', 'PASS secret word', 'STAT', 'LIST 2', 'RETR 1', 'DELE 1', 'TOP 1 10', 'UIDL', 'CAPA', 'STLS', 'AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=', 'APOP mrose c4c9334bac560ecc979e58001b3e22fb', 'QUIT'];
const specials = ['\r', '\n', '\r\n', ' ', '\0', '\xff', '.', '=', '*', '99999999999', 'x'.repeat(300)];

function feed(input: Buffer, piece: number): string[] {
  const decoder = new Pop3Decoder();
  const out: string[] = [];
  const drain = () => {
    for (let e = decoder.next(); e !== null; e = decoder.next()) out.push(e.kind === 'line' ? JSON.stringify(parsePop3Command(e.line)) : e.code);
  };
  for (const chunk of splitEvery(input, piece)) {
    decoder.push(chunk);
    drain();
    assert.ok(decoder.heldBytes() <= commandBytesMax, 'decoder memory bounded by the cap');
  }
  decoder.push(Buffer.from('\r\nNOOP\r\n'));
  drain();
  assert.equal(out[out.length - 1], JSON.stringify({ ok: true, command: { kind: 'NOOP' } }));
  assert.ok(decoder.isIdle());
  return out;
}

test(`mutated POP3 commands never throw and always resync (FUZZ_SEED=${seed})`, () => {
  const random = prng(seed);
  for (let i = 0; i < iterations; i++) {
    const a = corpus[Math.floor(random() * corpus.length)]!;
    const b = corpus[Math.floor(random() * corpus.length)]!;
    const input = mutate(Buffer.from(`${a}\r\n${b}\r\n`, 'latin1'), random, specials);
    try {
      const whole = feed(input, Math.max(1, input.length));
      for (const piece of [1, 3, 17]) assert.deepEqual(feed(input, piece), whole);
    } catch (e) {
      console.error(`FUZZ FAILURE: FUZZ_SEED=${seed} iteration ${i} input=${JSON.stringify(input.toString('latin1'))}`);
      throw e;
    }
  }
});
