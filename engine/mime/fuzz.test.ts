// Seeded mutation fuzzing of the MIME parser: real-world-shaped messages with bytes flipped,
// inserted, deleted and spliced must always give a summary (never an exception) whose offsets
// stay inside the message, whose invariants hold (multipart ⇔ children, message/rfc822 ⇔
// message), and whose every section slice resolves. FUZZ_SEED=n replays one run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededPrng } from '../io.js';
import { summarize } from './parse.js';
import { binaryBytes, sectionBytes } from './section.js';
import { corpus } from './fixtures.js';
import type { BodyPart } from './types.js';

const seed = Number(process.env.FUZZ_SEED ?? 20261129);
const iterations = Number(process.env.FUZZ_ITERATIONS ?? 3000);
const tokens = ['\r\n', '\r\n\r\n', '--', '--outer', '--outer--', '--alt', ';', '"', '(', ')', '<', '>', ':', '=?UTF-8?B?', '?=', '=', 'Content-Type: multipart/mixed; boundary=outer\r\n', 'Content-Type: message/rfc822\r\n', 'boundary*0*=', "''%"];

function mutate(prng: ReturnType<typeof seededPrng>, input: Uint8Array): Uint8Array {
  const bytes = [...input];
  const rounds = 1 + prng.below(8);
  for (let r = 0; r < rounds; r++) {
    const at = prng.below(bytes.length + 1);
    switch (prng.below(5)) {
      case 0:
        bytes[at] = prng.below(256);
        break;
      case 1:
        bytes.splice(at, 1 + prng.below(16));
        break;
      case 2:
        bytes.splice(at, 0, ...Buffer.from(tokens[prng.below(tokens.length)]!, 'latin1'));
        break;
      case 3: {
        const from = prng.below(bytes.length + 1);
        bytes.splice(at, 0, ...bytes.slice(from, from + prng.below(200)));
        break;
      }
      default:
        bytes.length = Math.min(bytes.length, at);
    }
  }
  return Uint8Array.from(bytes);
}

function check(part: BodyPart, size: number, where: string): number {
  assert.ok(0 <= part.headerStart && part.headerStart <= part.bodyStart && part.bodyStart <= part.bodyEnd && part.bodyEnd <= size, `${where}: offsets in order and inside`);
  assert.equal(part.sizeBytes, part.bodyEnd - part.bodyStart, `${where}: size`);
  assert.equal(part.type === 'multipart', part.children.length > 0, `${where}: multipart iff children`);
  assert.equal(part.type === 'message' && (part.subtype === 'rfc822' || part.subtype === 'global'), part.message !== null, `${where}: message iff encapsulated`);
  let count = 1;
  for (const child of part.children) count += check(child, size, `${where} > ${child.partId}`);
  if (part.message !== null) count += check(part.message.body, size, `${where} > message`);
  return count;
}

test(`MIME parser fuzz: ${iterations} mutated messages never throw and keep their invariants (FUZZ_SEED=${seed})`, () => {
  const prng = seededPrng(seed);
  for (let i = 0; i < iterations; i++) {
    const input = mutate(prng, corpus[prng.below(corpus.length)]!);
    try {
      const summary = summarize(input);
      assert.equal(summary.sizeBytes, input.length);
      check(summary.body, input.length, 'root');
      JSON.stringify(summary);
      // Every part number that exists resolves to a slice, with each specifier.
      const visit = (part: BodyPart, path: number[]): void => {
        for (const specifier of [undefined, 'MIME', 'HEADER', 'TEXT'] as const) sectionBytes(input, summary, { path, ...(specifier === undefined ? {} : { specifier }) });
        binaryBytes(input, summary, path);
        part.children.forEach((child, k) => visit(child, [...path, k + 1]));
      };
      visit(summary.body, []);
    } catch (error) {
      assert.fail(`FUZZ_SEED=${seed} iteration ${i}: ${(error as Error).stack}\ninput: ${Buffer.from(input).toString('base64')}`);
    }
  }
});
