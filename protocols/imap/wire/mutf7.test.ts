// Proves the modified UTF-7 codec matches RFC 3501 §5.1.3's example, round-trips any string,
// and refuses non-canonical or broken encodings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mutf7Decode, mutf7Encode } from './mutf7.js';

test('RFC 3501 example and the ampersand', () => {
  assert.equal(mutf7Encode('~peter/mail/台北/日本語'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
  assert.equal(mutf7Decode('~peter/mail/&U,BTFw-/&ZeVnLIqe-'), '~peter/mail/台北/日本語');
  assert.equal(mutf7Encode('Tom & Jerry'), 'Tom &- Jerry');
  assert.equal(mutf7Decode('Tom &- Jerry'), 'Tom & Jerry');
  assert.equal(mutf7Encode('Entwürfe'), 'Entw&APw-rfe');
  assert.equal(mutf7Encode('😀'), '&2D3eAA-');
  assert.equal(mutf7Decode('&2D3eAA-'), '😀');
});

test('round trip over mixed strings', () => {
  const samples = ['', 'INBOX', 'a&b', '日本語/ü/&/😀x', '\u0001ctl', 'Ω', 'ab\u00e9\u00e9cd'];
  for (const s of samples) assert.equal(mutf7Decode(mutf7Encode(s)), s, s);
});

test('refuses what an encoder never produces', () => {
  for (const bad of ['&', '&U,BTFw', '&AGE-', '&U,BTFw-&ZeVnLIqe-', '&2D0-', '&Jjo!-', 'caf\u00e9', '&ZeVnLIq-']) {
    assert.equal(mutf7Decode(bad), undefined, bad);
  }
});
