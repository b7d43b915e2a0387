// Proves that a message kept as a prefix in front of a shared content reads exactly as the
// whole message would: the content's summary shifted behind the prefix (prefix.ts) equals
// parsing prefix + content, for every fixture and for seeded mutations of them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededPrng } from '../io.js';
import { takesPrefix } from '../state/plan.js';
import { corpus, mixed } from './fixtures.js';
import { summarize } from './parse.js';
import { withPrefix } from './prefix.js';
import { sectionBytes } from './section.js';

const prefix = new Uint8Array(Buffer.from('Return-Path: <bounce@example.net>\r\nDelivered-To: bob+tag@example.org\r\n', 'latin1'));
const join = (a: Uint8Array, b: Uint8Array): Uint8Array => new Uint8Array(Buffer.concat([a, b]));

test('the shifted summary is the summary of prefix + content, for every fixture', () => {
  for (const content of corpus) {
    if (!takesPrefix(content, prefix)) continue;
    assert.deepEqual(withPrefix(summarize(content), prefix), summarize(join(prefix, content)));
  }
  const summary = summarize(mixed);
  assert.equal(withPrefix(summary, new Uint8Array(0)), summary, 'no prefix: the same summary');
});

test('sections of a prefixed message: HEADER holds the prefix, HEADER.FIELDS finds Delivered-To, parts are unchanged', () => {
  const whole = join(prefix, mixed);
  const summary = withPrefix(summarize(mixed), prefix);
  const text = (bytes: Uint8Array | null): string => Buffer.from(bytes ?? new Uint8Array(0)).toString('latin1');
  assert.ok(text(sectionBytes(whole, summary, { path: [], specifier: 'HEADER' })).startsWith('Return-Path: <bounce@example.net>\r\nDelivered-To: bob+tag@example.org\r\nFrom: Mallory'));
  assert.equal(text(sectionBytes(whole, summary, { path: [], specifier: 'HEADER.FIELDS', fields: ['Delivered-To'] })), 'Delivered-To: bob+tag@example.org\r\n\r\n');
  const original = summarize(mixed);
  assert.equal(text(sectionBytes(whole, summary, { path: [3, 2], specifier: 'MIME' })), text(sectionBytes(mixed, original, { path: [3, 2], specifier: 'MIME' })));
  assert.equal(text(sectionBytes(whole, summary, { path: [], specifier: 'TEXT' })), text(sectionBytes(mixed, original, { path: [], specifier: 'TEXT' })));
  assert.equal(text(sectionBytes(whole, summary, { path: [] })), text(whole));
});

test('seeded mutations: wherever the content takes a prefix, shifting equals parsing the whole', () => {
  const seed = Number(process.env.FUZZ_SEED ?? 4242);
  const prng = seededPrng(seed);
  const iterations = Number(process.env.FUZZ_ITERATIONS ?? 300);
  let checked = 0;
  for (let i = 0; i < iterations; i++) {
    const base = corpus[i % corpus.length]!;
    const bytes = new Uint8Array(base);
    const flips = 1 + (prng.bytes(1)[0]! % 8);
    for (let k = 0; k < flips; k++) {
      const [a, b, c] = prng.bytes(3);
      const at = ((a! << 8) | b!) % bytes.length;
      bytes[at] = [0x0d, 0x0a, 0x20, 0x3a, 0x2d, 0x3b, 0x3d, c!][c! % 8]!;
    }
    if (!takesPrefix(bytes, prefix)) continue;
    checked += 1;
    assert.deepEqual(withPrefix(summarize(bytes), prefix), summarize(join(prefix, bytes)), `seed ${seed} iteration ${i}`);
  }
  assert.ok(checked > iterations / 2, `most mutations still start with a header field (${checked})`);
});
