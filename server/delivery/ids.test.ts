// Transaction (and queue) ids: operators type them as `quire queue` arguments, so none may look
// like an option.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newTransactionId } from './index.js';

test('transaction ids: 12 URL-safe characters, distinct, never starting with "-"', () => {
  const seen = new Set<string>();
  // 1 in 64 base64url ids would start with "-": 20,000 of them would hold ~300.
  for (let i = 0; i < 20_000; i++) {
    const id = newTransactionId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{11}$/, id);
    seen.add(id);
  }
  assert.equal(seen.size, 20_000);
});
