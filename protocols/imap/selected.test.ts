import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageContent, MessageInfo } from '../../engine/api.js';
import { contentCacheEntriesMax } from './constants.js';
import { SelectedMailbox } from './selected.js';

const info = (uid: number): MessageInfo => ({ uid, flags: [], modseq: 1 }) as unknown as MessageInfo;
const content = (uid: number): MessageContent => ({ uid }) as unknown as MessageContent;

test('summary cache: kept up to its limit, least recently used dropped, expunged and reloaded views forget', () => {
  const view = new SelectedMailbox('INBOX', 1, 1, false, 1, 1);
  const n = contentCacheEntriesMax;
  view.load(Array.from({ length: n + 1 }, (_, i) => info(i + 1)));
  for (let uid = 1; uid <= n; uid++) view.remember(content(uid));
  assert.equal(view.content(1)?.uid, 1); // 1 is now the most recently used
  view.remember(content(n + 1)); // at the limit: 2, the least recently used, goes
  assert.equal(view.content(2), undefined);
  assert.equal(view.content(1)?.uid, 1);
  assert.equal(view.content(n + 1)?.uid, n + 1);
  view.removeAll([1]);
  assert.equal(view.content(1), undefined);
  assert.equal(view.content(3)?.uid, 3);
  view.load([info(3)]);
  assert.equal(view.content(3), undefined);
});
