// Proves the account documents' store on real files: an update is on disk (JSON) before it
// answers and later reads see it; updates of one document run one after the other; each
// document is read from disk once (a missing one too: local delivery asks every recipient for
// a vacation document), after that from memory; and the memory kept is bounded
// (documentCacheBytesMax, least recently used forgotten first).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileAccountDocuments, documentBytesMax, documentCacheBytesMax } from './documents.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'quire-documents-'));

test('update is durable JSON before it answers; concurrent updates of one document all count', async () => {
  const dir = scratch();
  try {
    const documents = new FileAccountDocuments(dir);
    const bumps = await Promise.all(Array.from({ length: 20 }, () => documents.update<{ n: number }, number>('m1', 'counter', (current) => ({ value: { n: (current?.n ?? 0) + 1 }, result: (current?.n ?? 0) + 1 }))));
    assert.deepEqual(bumps.map((b) => (b.ok ? b.value : -1)).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'm1', 'counter.json'), 'utf8')), { n: 20 });
    assert.deepEqual(await documents.read('m1', 'counter'), { ok: true, value: { n: 20 } });
    assert.deepEqual(await new FileAccountDocuments(dir).read('m1', 'counter'), { ok: true, value: { n: 20 } }, 'a new store (a restart) reads it from disk');
    assert.equal((await documents.read('m1', '../x')).ok, false, 'a name that is not a plain file name is refused');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('each document is read from disk once, a missing one too; then from memory', async () => {
  const dir = scratch();
  try {
    const documents = new FileAccountDocuments(dir);
    assert.deepEqual(await documents.read('m1', 'vacation'), { ok: true, value: null });
    await documents.update('m2', 'identities', () => ({ value: { a: 1 }, result: null }));
    // The disk taken away: a read that went to it would fail (ENOTDIR) or find nothing.
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, 'not a directory');
    assert.deepEqual(await documents.read('m1', 'vacation'), { ok: true, value: null }, 'a missing document is remembered as missing');
    assert.deepEqual(await documents.read('m2', 'identities'), { ok: true, value: { a: 1 } }, 'a written document is answered from memory');
    assert.equal((await documents.read('m3', 'vacation')).ok, false, 'one never read goes to the disk');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the documents kept in memory are bounded: the least recently used are read from disk again', async () => {
  const dir = scratch();
  try {
    const documents = new FileAccountDocuments(dir);
    const big = 'x'.repeat(documentBytesMax - 100);
    const count = Math.ceil(documentCacheBytesMax / big.length) + 2;
    for (let i = 0; i < count; i++) assert.ok((await documents.update(`m${i}`, 'big', () => ({ value: big, result: null }))).ok);
    for (let i = 0; i < count; i++) rmSync(join(dir, `m${i}`, 'big.json'));
    assert.deepEqual(await documents.read('m0', 'big'), { ok: true, value: null }, 'the oldest was forgotten: read from disk (gone now)');
    assert.deepEqual(await documents.read(`m${count - 1}`, 'big'), { ok: true, value: big }, 'the newest is still in memory');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
