// Proves that account documents (JMAP identities, submissions, the vacation response) are
// engine state like mail: set, replaced and destroyed in the log with their own modseqs, checked
// as values (limits at the limit and one past it), durable across a reopen, the same after a
// rebuild from the log, and the same in a passive copy promoted by a failover (kill -9).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DocumentListing, MailboxApi } from './api.js';
import { documentBytesMax, documentIdBytesMax, documentKindsPerMailboxMax, documentsDestroyedKeptMax, documentsPerKindMax } from './constants.js';
import { MailboxDatabase } from './database.js';
import { nodeStorage, seededPrng, systemClock } from './io.js';
import { MemoryKv } from './state/kv.js';
import { canonicalState } from './state/model.js';
import { openRocksKv } from './state/rocks.js';
import { loadState, materialize } from './state/store.js';
import { emptyTouched } from './state/model.js';
import { until, withTwoCopies } from './replication/testing.js';

const openAt = (dir: string): Promise<MailboxDatabase> =>
  MailboxDatabase.open({ name: 'DB01', dir, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(5), openKv: openRocksKv });

async function listing(api: MailboxApi, kind: string, ids?: string[]): Promise<DocumentListing> {
  const r = await api.documents('m1', kind, ids === undefined ? {} : { ids });
  assert.ok(r.ok, JSON.stringify(r));
  return r.value;
}

test('account documents: set, replace, destroy, keepNewest, expectDocuments; limits; reopen and rebuild from the log give the same state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-docs-'));
  try {
    let db = await openAt(dir);
    assert.ok((await db.commit({ mailboxId: 'm1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
    const before = await db.mailbox('m1');
    assert.ok(before.ok);

    // Created: modseq and createdModseq from the mailbox's document counter, apart from mail modseqs.
    const set = await db.commit({ mailboxId: 'm1', ops: [{ op: 'setDocument', kind: 'identity', id: 'I1', value: { name: 'A', email: 'a@example.org' } }, { op: 'setDocument', kind: 'vacation', id: 'singleton', value: { isEnabled: true } }] });
    assert.ok(set.ok, JSON.stringify(set));
    assert.deepEqual(set.value.results, [{ op: 'setDocument', modseq: 1, state: 1 }, { op: 'setDocument', modseq: 2, state: 2 }]);
    assert.equal(set.value.modseqHighest, before.value.modseqHighest, 'a document change moves no mail modseq');
    let info = await db.mailbox('m1');
    assert.ok(info.ok);
    assert.deepEqual(info.value.documents, { identity: 1, vacation: 2 });

    // Replaced: new modseq, same createdModseq. The same value again writes nothing.
    const replaced = await db.commit({ mailboxId: 'm1', ops: [{ op: 'setDocument', kind: 'identity', id: 'I1', value: { name: 'A2', email: 'a@example.org' } }] });
    assert.ok(replaced.ok);
    const same = await db.commit({ mailboxId: 'm1', ops: [{ op: 'setDocument', kind: 'identity', id: 'I1', value: { name: 'A2', email: 'a@example.org' } }] });
    assert.ok(same.ok);
    assert.deepEqual(same.value.results, [{ op: 'setDocument', modseq: 3, state: 3 }], 'unchanged: the current modseq, no event');
    assert.equal(same.value.position, replaced.value.position, 'nothing was appended');
    let identities = await listing(db, 'identity');
    assert.deepEqual(identities.documents, [{ id: 'I1', value: { name: 'A2', email: 'a@example.org' }, modseq: 3, createdModseq: 1 }]);
    assert.equal(identities.modseqHighest, 3);

    // A read-modify-write: expectDocuments refuses a stale state with MODIFIED and changes nothing.
    const stale = await db.commit({ mailboxId: 'm1', expectDocuments: { identity: 1 }, ops: [{ op: 'setDocument', kind: 'identity', id: 'I2', value: {} }] });
    assert.equal(!stale.ok && stale.code, 'MODIFIED');
    const fresh = await db.commit({ mailboxId: 'm1', expectDocuments: { identity: 3, never: 0 }, ops: [{ op: 'setDocument', kind: 'identity', id: 'I2', value: { n: 2 } }] });
    assert.ok(fresh.ok, JSON.stringify(fresh));

    // Destroyed: the destruction is remembered (JMAP changes); destroying nothing writes nothing.
    const destroyed = await db.commit({ mailboxId: 'm1', ops: [{ op: 'destroyDocument', kind: 'identity', id: 'I2' }, { op: 'destroyDocument', kind: 'identity', id: 'nope' }] });
    assert.ok(destroyed.ok);
    assert.deepEqual(destroyed.value.results, [{ op: 'destroyDocument', modseq: 5, state: 5 }, { op: 'destroyDocument', modseq: 0, state: 5 }]);
    identities = await listing(db, 'identity');
    assert.deepEqual(identities.destroyed, [{ id: 'I2', createdModseq: 4, modseq: 5 }]);
    assert.deepEqual((await listing(db, 'identity', ['I1', 'I2'])).documents.map((d) => d.id), ['I1'], 'ids: only those that exist');

    // keepNewest: the least recently changed go, never the one set.
    for (let i = 0; i < 4; i++) assert.ok((await db.commit({ mailboxId: 'm1', ops: [{ op: 'setDocument', kind: 'submission', id: `S${i}`, value: { i }, keepNewest: 3 }] })).ok);
    const kept = await db.commit({ mailboxId: 'm1', ops: [{ op: 'setDocument', kind: 'submission', id: 'S1', value: { i: 'again' }, keepNewest: 2 }] });
    assert.ok(kept.ok && kept.value.results[0]!.op === 'setDocument');
    assert.deepEqual((kept.value.results[0] as { evicted?: string[] }).evicted, ['S2']);
    assert.deepEqual((await listing(db, 'submission')).documents.map((d) => d.id).sort(), ['S1', 'S3']);

    // Limits, as values that change nothing.
    const unchanged = canonicalState(db.durableState());
    const refused = async (op: Parameters<MailboxApi['commit']>[0]['ops'][number], code: string): Promise<void> => {
      const r = await db.commit({ mailboxId: 'm1', ops: [op] });
      assert.equal(!r.ok && r.code, code, JSON.stringify(op).slice(0, 80));
    };
    await refused({ op: 'setDocument', kind: 'Identity', id: 'x', value: 1 }, 'INVALID_ARGUMENT');
    await refused({ op: 'setDocument', kind: 'identity', id: '', value: 1 }, 'INVALID_ARGUMENT');
    await refused({ op: 'setDocument', kind: 'identity', id: 'x\n', value: 1 }, 'INVALID_ARGUMENT');
    await refused({ op: 'setDocument', kind: 'identity', id: 'x'.repeat(documentIdBytesMax + 1), value: 1 }, 'INVALID_ARGUMENT');
    await refused({ op: 'setDocument', kind: 'identity', id: 'x', value: undefined }, 'INVALID_ARGUMENT');
    await refused({ op: 'setDocument', kind: 'identity', id: 'x', value: 'y'.repeat(documentBytesMax - 1) }, 'LIMIT');
    await refused({ op: 'setDocument', kind: 'identity', id: 'x', value: 1, modseq: 99, createdModseq: 99 }, 'INVALID_ARGUMENT');
    await refused({ op: 'importDocuments', kind: 'identity', modseqHighest: 99, destroyed: [], destroyedDroppedModseq: 0 }, 'INVALID_ARGUMENT');
    assert.equal(canonicalState(db.durableState()), unchanged);
    assert.ok((await db.commit({ mailboxId: 'm1', ops: [{ op: 'setDocument', kind: 'identity', id: 'x'.repeat(documentIdBytesMax), value: 'y'.repeat(documentBytesMax - 2) }] })).ok, 'at the limits');
    // Kinds per mailbox: at the limit and one past it.
    const kinds = Array.from({ length: documentKindsPerMailboxMax - 3 }, (_, i) => ({ op: 'setDocument' as const, kind: `k${i}`, id: 'a', value: i }));
    assert.ok((await db.commit({ mailboxId: 'm1', ops: kinds })).ok);
    await refused({ op: 'setDocument', kind: 'one-more', id: 'a', value: 1 }, 'LIMIT');
    // Documents per kind: at the limit and one past it, unless keepNewest makes room.
    const many = Array.from({ length: documentsPerKindMax }, (_, i) => ({ op: 'setDocument' as const, kind: 'k0', id: `d${i}`, value: i }));
    assert.ok((await db.commit({ mailboxId: 'm1', ops: many.slice(1) })).ok);
    await refused({ op: 'setDocument', kind: 'k0', id: 'one-more', value: 1 }, 'LIMIT');
    assert.ok((await db.commit({ mailboxId: 'm1', ops: [{ op: 'setDocument', kind: 'k0', id: 'one-more', value: 1, keepNewest: documentsPerKindMax }] })).ok);
    // The destroyed history keeps the newest documentsDestroyedKeptMax and says what it dropped.
    const destroyAll = Array.from({ length: documentsDestroyedKeptMax + 5 }, (_, i) => ({ op: 'destroyDocument' as const, kind: 'k0', id: `d${i + 1}` }));
    assert.ok((await db.commit({ mailboxId: 'm1', ops: destroyAll })).ok);
    const k0 = await listing(db, 'k0');
    assert.equal(k0.destroyed.length, documentsDestroyedKeptMax);
    assert.ok(k0.destroyedDroppedModseq > 0 && k0.destroyedDroppedModseq < k0.destroyed[0]!.modseq);

    // The change feed names the kinds, and no folder.
    const seen: unknown[] = [];
    const unwatch = db.watch('m1', (change) => seen.push({ documents: change.documents, folders: change.folders.length, hierarchy: change.hierarchyChanged }));
    assert.ok((await db.commit({ mailboxId: 'm1', ops: [{ op: 'setDocument', kind: 'vacation', id: 'singleton', value: { isEnabled: false } }] })).ok);
    unwatch();
    assert.deepEqual(seen, [{ documents: ['vacation'], folders: 0, hierarchy: false }]);

    // The state store holds what memory holds, a reopen reads it back, a rebuild from the log agrees.
    const live = canonicalState(db.durableState());
    const kv = new MemoryKv();
    const touchedAll = emptyTouched();
    await kv.write(materialize(db.durableState(), collectAll(db, touchedAll)));
    assert.equal(canonicalState(await loadState(kv)), live, 'materialize then load round-trips documents');
    await db.close();
    db = await openAt(dir);
    assert.equal(canonicalState(db.durableState()), live, 'reopened');
    const rebuilt = await MailboxDatabase.rebuildFromLog(db.transactionLog(), new MemoryKv());
    assert.equal(canonicalState(rebuilt), live, 'rebuilt from the log');
    info = await db.mailbox('m1');
    assert.ok(info.ok);
    assert.deepEqual(info.value.documents?.identity, (await listing(db, 'identity')).modseqHighest);

    // Deleting the mailbox takes its documents from the store too.
    assert.ok((await db.commit({ mailboxId: 'm1', ops: [{ op: 'deleteMailbox', address: 'a@example.org' }] })).ok);
    await db.stateSettled();
    const afterDelete = canonicalState(db.durableState());
    await db.close();
    db = await openAt(dir);
    assert.equal(canonicalState(db.durableState()), afterDelete);
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Marks every mailbox, kind and document of the database as touched (a whole-state materialize). */
function collectAll(db: MailboxDatabase, touched: ReturnType<typeof emptyTouched>): ReturnType<typeof emptyTouched> {
  for (const m of db.durableState().mailboxes.values()) {
    touched.mailboxes.add(m.mailboxId);
    for (const f of m.folders.values()) {
      touched.folders.add(`${m.mailboxId}/${f.folderId}`);
      for (const message of f.messages) touched.messages.set(`${m.mailboxId}/${f.folderId}/${message.uid}`, true);
    }
    for (const [kind, k] of m.documents) {
      touched.documentKinds.add(JSON.stringify([m.mailboxId, kind]));
      for (const id of k.documents.keys()) touched.documents.add(JSON.stringify([m.mailboxId, kind, id]));
    }
  }
  for (const hash of db.durableState().contents.keys()) touched.contents.add(hash);
  return touched;
}

test('account documents survive the loss of the active copy: kill -9, failover to the passive copy', { timeout: 120_000 }, async () => {
  const options = { durability: 'sync' as const, mountDial: 'lossless' as const, restartsBeforeFailover: 0 };
  await withTwoCopies('quire-docs-failover-', options, async ({ supervisor, lines, api }) => {
    const ops = [
      { op: 'setDocument' as const, kind: 'identity', id: 'I1', value: { name: 'Alice', email: 'a@example.org', textSignature: '-- A' } },
      { op: 'setDocument' as const, kind: 'vacation', id: 'singleton', value: { isEnabled: true, textBody: 'Away' } },
      { op: 'setDocument' as const, kind: 'submission', id: 'S1', value: { emailId: 'M1', undoStatus: 'final' } },
      { op: 'setDocument' as const, kind: 'vacation-replied', id: 'bob@example.net', value: { atMs: 1 } },
    ];
    assert.ok((await api.commit({ mailboxId: 'm1', ops })).ok);
    assert.ok((await api.commit({ mailboxId: 'm1', ops: [{ op: 'destroyDocument', kind: 'submission', id: 'S1' }, { op: 'setDocument', kind: 'submission', id: 'S2', value: { emailId: 'M2' } }] })).ok);
    const wanted = await Promise.all(['identity', 'vacation', 'submission', 'vacation-replied'].map((kind) => listing(api, kind)));
    const active = (await supervisor.list()).find((c) => c.role === 'active')!;
    process.kill(active.pid!, 'SIGKILL');
    await until(async () => (await supervisor.list()).some((c) => c.role === 'active' && c.state === 'Mounted' && c.copy !== active.copy), 30_000, `failover\n${lines.join('\n')}`);
    const after = await Promise.all(['identity', 'vacation', 'submission', 'vacation-replied'].map((kind) => listing(api, kind)));
    assert.deepEqual(after, wanted, 'the promoted passive copy holds every document, state and destruction');
    // And it goes on from there: new modseqs grow past the old ones.
    const next = await api.commit({ mailboxId: 'm1', expectDocuments: { identity: wanted[0]!.modseqHighest }, ops: [{ op: 'setDocument', kind: 'identity', id: 'I2', value: {} }] });
    assert.ok(next.ok, JSON.stringify(next));
    assert.ok((next.value.results[0] as { modseq: number }).modseq > Math.max(...wanted.map((w) => w.modseqHighest)));
  });
});
