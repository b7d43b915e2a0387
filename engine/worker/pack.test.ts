// Proves that a listing's messages come through the packed form unchanged: every field, flag
// lists shared but equal (and frozen, so no reader can change another message's flags), the
// state's prefix turned into prefixBytes, and the empty listing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageInfo } from '../api.js';
import { packedListingMessagesMin, PackedListings, packedListingsMax, packMessages, unpackMessages, type PackableMessage } from './pack.js';

test('packed messages unpack to the same MessageInfo, field for field', () => {
  const flagChoices = [[], ['\\Seen'], ['\\Seen', '\\Flagged'], ['$Label with space?'], ['\\Flagged', '\\Seen']];
  const messages: MessageInfo[] = Array.from({ length: 500 }, (_, i) => ({
    uid: i * 3 + 1,
    modseq: 2 ** 40 + i,
    flags: flagChoices[i % flagChoices.length]!,
    sizeBytes: 100 + i,
    internalDateMs: Date.UTC(2026, 0, 1) + i * 1000,
    emailId: `M${i.toString(36)}`,
    threadId: `T${(i % 7).toString(36)}`,
    ...(i % 5 === 0 ? { prefixBytes: 40 + i } : {}),
  }));
  const back = unpackMessages(packMessages(messages));
  assert.deepEqual(back, messages);
  assert.equal(back[0]!.flags, back[5]!.flags, 'one array per distinct flag list');
  assert.notEqual(back[2]!.flags, back[4]!.flags, 'flag order is kept, so a reordered list is its own');
  assert.throws(() => (back[1]!.flags as string[]).push('\\Draft'), TypeError);
  assert.deepEqual(unpackMessages(packMessages([])), []);
});

test('the state\'s prefix becomes prefixBytes; no prefix leaves it out', () => {
  const base = { modseq: 1, flags: [], sizeBytes: 10, internalDateMs: 0, emailId: 'e', threadId: 't' };
  const state: PackableMessage[] = [{ ...base, uid: 1, prefix: 'X-A: b\r\n' }, { ...base, uid: 2 }];
  const [withPrefix, without] = unpackMessages(packMessages(state));
  assert.equal(withPrefix!.prefixBytes, 8);
  assert.equal('prefixBytes' in without!, false);
});

test('a large folder\'s kept listing: patched where modseqs rose, packed anew when the array grew, earlier answers unchanged', () => {
  const flagChoices = [[], ['\\Seen'], ['\\Flagged'], ['\\Seen', '$Work']];
  const messages: PackableMessage[] & Array<{ modseq: number; flags: string[] }> = Array.from({ length: packedListingMessagesMin + 10 }, (_, i) => ({
    uid: i + 1,
    modseq: 1 + (i % 50),
    flags: [...flagChoices[i % flagChoices.length]!],
    sizeBytes: 100 + i,
    internalDateMs: i,
    emailId: `M${i}`,
    threadId: `T${i % 9}`,
  }));
  const kept = new PackedListings();
  const first = kept.pack(messages);
  assert.deepEqual(unpackMessages(first), unpackMessages(packMessages(messages)));
  assert.equal(kept.pack(messages), first, 'nothing changed: the same listing');
  const firstCopy = unpackMessages(first);
  // Flag changes give the message a modseq above every other (the state model's rule).
  let modseq = 1000;
  for (const i of [0, 7, 4999, messages.length - 1]) {
    messages[i]!.modseq = ++modseq;
    messages[i]!.flags = i === 7 ? ['$New', '\\Seen'] : ['\\Answered'];
  }
  const second = kept.pack(messages);
  assert.deepEqual(unpackMessages(second), unpackMessages(packMessages(messages)));
  assert.deepEqual(unpackMessages(first), firstCopy, 'a listing handed out earlier does not change');
  messages.push({ uid: messages.length + 1, modseq: ++modseq, flags: [], sizeBytes: 1, internalDateMs: 0, emailId: 'X', threadId: 'Y' });
  assert.deepEqual(unpackMessages(kept.pack(messages)), unpackMessages(packMessages(messages)));
  // A small folder is packed each time.
  const small = messages.slice(0, 10);
  assert.notEqual(kept.pack(small), kept.pack(small));
  // Past packedListingsMax folders the oldest is dropped: it is packed anew (and still right).
  const beforeEviction = kept.pack(messages);
  assert.equal(kept.pack(messages), beforeEviction);
  for (let k = 0; k < packedListingsMax; k++) kept.pack(messages.slice());
  const again = kept.pack(messages);
  assert.notEqual(again, beforeEviction);
  assert.deepEqual(unpackMessages(again), unpackMessages(packMessages(messages)));
});
