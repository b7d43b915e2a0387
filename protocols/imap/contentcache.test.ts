import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageContent } from '../../engine/api.js';
import { ContentCache } from './contentcache.js';

const summary = { envelope: { date: null, dateMs: null, subject: 'hello', from: [], sender: [], replyTo: [], to: [], cc: [], bcc: [], inReplyTo: null, messageId: '<a@b>' } };
const content = (emailId: string, uid: number): MessageContent => ({ uid, emailId, threadId: 'T' + emailId, sizeBytes: 10, internalDateMs: 0, summary }) as unknown as MessageContent;

test('content cache: a content is found by mailbox and email id, with the asking view’s UID', () => {
  const cache = new ContentCache(1 << 20, 1024);
  cache.rememberContent('mb1', content('M1', 7));
  assert.equal(cache.content('mb1', 'M1', 42)?.uid, 42);
  assert.equal(cache.content('mb1', 'M1', 42)?.emailId, 'M1');
  // Another mailbox's message of the same id is not this one.
  assert.equal(cache.content('mb2', 'M1', 42), undefined);
  assert.equal(cache.content('mb1', 'M2', 42), undefined);
});

test('content cache: message bytes up to the size limit are kept, one more byte is not', () => {
  const cache = new ContentCache(1 << 20, 100);
  cache.rememberMessage('mb', 'M1', new Uint8Array(100));
  cache.rememberMessage('mb', 'M2', new Uint8Array(101));
  assert.equal(cache.message('mb', 'M1')?.length, 100);
  assert.equal(cache.message('mb', 'M2'), undefined);
});

test('content cache: bounded in bytes, least recently used dropped first', () => {
  const cache = new ContentCache(4096, 4096);
  for (let i = 0; i < 3; i++) cache.rememberMessage('mb', `M${i}`, new Uint8Array(1000));
  assert.ok(cache.bytes <= 4096);
  assert.notEqual(cache.message('mb', 'M0'), undefined); // M0 is now the most recently used
  cache.rememberMessage('mb', 'M3', new Uint8Array(1000)); // past the bound: M1, the least recently used, goes
  assert.equal(cache.message('mb', 'M1'), undefined);
  for (const id of ['M0', 'M2', 'M3']) assert.notEqual(cache.message('mb', id), undefined, id);
  assert.ok(cache.bytes <= 4096, `${cache.bytes}`);
  // An entry bigger than the whole bound is not kept at all.
  const small = new ContentCache(512, 4096);
  small.rememberMessage('mb', 'M9', new Uint8Array(1000));
  assert.equal(small.message('mb', 'M9'), undefined);
  assert.equal(small.bytes, 0);
  assert.equal(small.size, 0);
});

test('content cache: the ENVELOPE is encoded once per UTF8=ACCEPT setting', () => {
  const cache = new ContentCache(1 << 20, 1024);
  const c = content('M1', 1);
  cache.rememberContent('mb', c);
  const plain = cache.envelope('mb', c, { utf8: false });
  assert.match(plain.toString(), /^\(NIL "hello" /);
  assert.equal(cache.envelope('mb', content('M1', 9), { utf8: false }), plain);
  const utf8 = cache.envelope('mb', c, { utf8: true });
  assert.notEqual(utf8, plain);
  assert.equal(cache.envelope('mb', c, { utf8: true }), utf8);
});
