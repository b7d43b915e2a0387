// touchedContentValue answers exactly what materialize writes for content and summary keys.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyState, emptyTouched } from './model.js';
import { contentKey, materialize, summaryKey, touchedContentValue } from './store.js';
import type { MessageSummary } from '../api.js';

test('touchedContentValue is what materialize writes for c/ and s/ keys', () => {
  const touched = emptyTouched();
  const summary = { version: 1, subject: 's' } as unknown as MessageSummary;
  touched.contentData.set('aa', new Uint8Array([0, 1, 2]));
  touched.contentSummaries.set('aa', summary);
  touched.contentData.set('bb', null);
  touched.contentSummaries.set('cc', summary);
  const written = new Map(materialize(emptyState(), touched).map((op) => [op.key, op.value]));
  for (const hash of ['aa', 'bb', 'cc', 'dd']) {
    for (const key of [contentKey(hash), summaryKey(hash)]) {
      assert.deepEqual(touchedContentValue(touched, key), written.get(key), key);
    }
  }
});
