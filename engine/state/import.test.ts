// The additive operations a mailbox move needs (server/moves.ts): a mailbox created `imported`
// (no default folders, no retired-UIDVALIDITY floor), folders with a given UIDVALIDITY, appends
// with a given UID, and a raised UIDNEXT. Each is checked at its limit and limit + 1, and the
// log replayed from zero gives the live state.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxDatabase } from '../database.js';
import { nodeStorage, seededPrng, systemClock } from '../io.js';
import { openRocksKv } from './rocks.js';
import { canonicalState } from './model.js';
import { MemoryKv } from './kv.js';
import type { TxOp } from '../api.js';
import { expungedPerFolderMax } from '../constants.js';

const content = (n: number): Uint8Array => new TextEncoder().encode(`Subject: imported ${n}\r\n\r\nbody ${n}\r\n`);

test('imported mailboxes take given UIDVALIDITYs, UIDs and UIDNEXTs only while they grow, and replay to the same state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-import-'));
  const db = await MailboxDatabase.open({ name: 'DB02', dir, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(3), openKv: openRocksKv });
  try {
    const commit = (ops: TxOp[]) => db.commit({ mailboxId: 'm1', ops });
    const code = async (ops: TxOp[]) => {
      const r = await commit(ops);
      return r.ok ? 'ok' : r.code;
    };
    assert.equal(await code([{ op: 'createMailbox', address: 'm@example.org', quotaBytes: null, imported: true }]), 'ok');
    const empty = await db.folders('m1');
    assert.ok(empty.ok && empty.value.length === 0, 'no default folders');
    assert.equal(await code([{ op: 'createFolder', name: 'INBOX', uidValidity: 0 }]), 'INVALID_ARGUMENT');
    assert.equal(await code([{ op: 'createFolder', name: 'INBOX', uidValidity: 2 ** 32 }]), 'INVALID_ARGUMENT');
    assert.equal(await code([{ op: 'createFolder', name: 'INBOX', uidValidity: 500 }, { op: 'createFolder', name: 'Old', uidValidity: 500 }]), 'INVALID_ARGUMENT', 'equal is not growing');
    assert.equal(await code([{ op: 'createFolder', name: 'INBOX', uidValidity: 500 }, { op: 'createFolder', name: 'Work', uidValidity: 501 }]), 'ok');
    assert.equal(await code([{ op: 'createFolder', name: 'Older', uidValidity: 501 }]), 'INVALID_ARGUMENT');

    assert.equal(await code([{ op: 'append', folder: 'INBOX', content: content(1), uid: 0 }]), 'INVALID_ARGUMENT');
    assert.equal(await code([{ op: 'append', folder: 'INBOX', content: content(1), uid: 3 }, { op: 'append', folder: 'INBOX', content: content(2), uid: 3 }]), 'INVALID_ARGUMENT');
    assert.equal(await code([{ op: 'append', folder: 'INBOX', content: content(1), uid: 3 }, { op: 'append', folder: 'INBOX', content: content(2), uid: 7 }]), 'ok');
    assert.equal(await code([{ op: 'append', folder: 'INBOX', content: content(3), uid: 7 }]), 'INVALID_ARGUMENT', 'below UIDNEXT 8');
    assert.equal(await code([{ op: 'append', folder: 'INBOX', content: content(3), uid: 8 }, { op: 'copy', folder: 'INBOX', uids: [3], to: 'Work' }]), 'INVALID_ARGUMENT', 'no copy beside given UIDs');
    assert.equal(await code([{ op: 'raiseUidNext', folder: 'INBOX', uidNext: 8 }]), 'INVALID_ARGUMENT', 'UIDNEXT is already 8');
    assert.equal(await code([{ op: 'raiseUidNext', folder: 'INBOX', uidNext: 9 }]), 'ok');
    const inbox = await db.listMessages('m1', 'INBOX');
    assert.ok(inbox.ok);
    assert.deepEqual([inbox.value.folder.uidValidity, inbox.value.folder.uidNext, inbox.value.messages.map((m) => m.uid)], [500, 9, [3, 7]]);
    assert.equal(await code([{ op: 'append', folder: 'INBOX', content: content(4) }]), 'ok');
    const next = await db.listMessages('m1', 'INBOX');
    assert.ok(next.ok && next.value.messages.at(-1)!.uid === 9, 'a planned UID follows the raised UIDNEXT');

    // Deleted and imported again: the retired UIDVALIDITYs may be used once more.
    assert.equal(await code([{ op: 'deleteMailbox', address: 'm@example.org' }]), 'ok');
    assert.equal(await code([{ op: 'createMailbox', address: 'm@example.org', quotaBytes: null, imported: true }]), 'ok');
    assert.equal(await code([{ op: 'createFolder', name: 'INBOX', uidValidity: 500 }]), 'ok');
    assert.equal(await code([{ op: 'append', folder: 'INBOX', content: content(5), uid: 4 }]), 'ok');

    const live = canonicalState(db.durableState());
    const rebuilt = await MailboxDatabase.rebuildFromLog(db.transactionLog(), new MemoryKv());
    assert.equal(canonicalState(rebuilt), live);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an importing mailbox takes the source's modseqs, ids, folder ids and expunge history until finishImport; the log replays to it", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-import-'));
  let db = await MailboxDatabase.open({ name: 'DB02', dir, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(4), openKv: openRocksKv });
  try {
    const code = async (mailboxId: string, ops: TxOp[]) => {
      const r = await db.commit({ mailboxId, ops });
      return r.ok ? 'ok' : r.code;
    };
    const history = (n: number) => Array.from({ length: n }, (_, i) => ({ uid: 100 + i, modseq: 10 + i }));
    // An ordinary mailbox refuses every import-only field.
    assert.equal(await code('plain', [{ op: 'createMailbox', address: 'p@example.org', quotaBytes: null }]), 'ok');
    for (const op of [
      { op: 'append', folder: 'INBOX', content: content(1), modseq: 5 },
      { op: 'append', folder: 'INBOX', content: content(1), emailId: 'Mabc' },
      { op: 'store', folder: 'INBOX', uids: [1], mode: 'set', flags: [], modseq: 9 },
      { op: 'createFolder', name: 'X', folderId: 50 },
      { op: 'importFolder', folder: 'INBOX', uidNext: 10, modseqHighest: 10, expunged: [], expungedDroppedModseq: 0 },
      { op: 'finishImport', modseqHighest: 10 },
    ] as TxOp[]) assert.equal(await code('plain', [op]), 'INVALID_ARGUMENT', op.op);

    assert.equal(await code('m2', [{ op: 'createMailbox', address: 'm2@example.org', quotaBytes: null, imported: true }]), 'ok');
    assert.equal((await db.mailbox('m2')).ok && (await db.mailbox('m2') as { value: { importing?: boolean } }).value.importing, true);
    assert.equal(await code('m2', [{ op: 'createFolder', name: 'INBOX', uidValidity: 700, folderId: 3 }]), 'ok');
    assert.equal(await code('m2', [{ op: 'createFolder', name: 'Work', uidValidity: 701, folderId: 3 }]), 'INVALID_ARGUMENT', 'folder ids only grow');
    assert.equal(await code('m2', [{ op: 'createFolder', name: 'Work', uidValidity: 701, folderId: 9 }]), 'ok');
    // Modseqs arrive out of order (UID order is not modseq order); ids as given.
    assert.equal(await code('m2', [
      { op: 'append', folder: 'INBOX', content: content(1), uid: 2, modseq: 40, emailId: 'Mfirst', threadId: 'Tfirst' },
      { op: 'append', folder: 'INBOX', content: content(2), uid: 5, modseq: 12, emailId: 'Msecond', threadId: 'Tfirst' },
    ]), 'ok');
    assert.equal(await code('m2', [{ op: 'append', folder: 'INBOX', content: content(3), uid: 6, modseq: 0 }]), 'INVALID_ARGUMENT');
    assert.equal(await code('m2', [{ op: 'append', folder: 'INBOX', content: content(3), uid: 6, emailId: 'bad id' }]), 'INVALID_ARGUMENT');
    // A store with a given modseq applies even when the flags are equal.
    assert.equal(await code('m2', [{ op: 'store', folder: 'INBOX', uids: [5], mode: 'set', flags: [], modseq: 45 }]), 'ok');
    const importFolder = (over: Partial<{ uidNext: number; modseqHighest: number; expunged: Array<{ uid: number; modseq: number }>; expungedDroppedModseq: number }>): TxOp =>
      ({ op: 'importFolder', folder: 'INBOX', uidNext: 9000, modseqHighest: 5000, expunged: [], expungedDroppedModseq: 0, ...over });
    assert.equal(await code('m2', [importFolder({ modseqHighest: 44 })]), 'INVALID_ARGUMENT', 'below a message modseq (45)');
    assert.equal(await code('m2', [importFolder({ uidNext: 5 })]), 'INVALID_ARGUMENT', 'below UIDNEXT 6');
    assert.equal(await code('m2', [importFolder({ expunged: [{ uid: 1, modseq: 30 }, { uid: 3, modseq: 20 }] })]), 'INVALID_ARGUMENT', 'history not ascending');
    assert.equal(await code('m2', [importFolder({ expunged: [{ uid: 1, modseq: 5001 }] })]), 'INVALID_ARGUMENT', 'history past HIGHESTMODSEQ');
    assert.equal(await code('m2', [importFolder({ expunged: history(expungedPerFolderMax + 1) })]), 'LIMIT');
    assert.equal(await code('m2', [importFolder({ expunged: history(expungedPerFolderMax), expungedDroppedModseq: 9 })]), 'ok');
    const listing = await db.listMessages('m2', 'INBOX', { changedSince: 39, history: true });
    assert.ok(listing.ok);
    assert.deepEqual(listing.value.messages.map((m) => [m.uid, m.modseq, m.emailId, m.threadId]), [[2, 40, 'Mfirst', 'Tfirst'], [5, 45, 'Msecond', 'Tfirst']]);
    assert.deepEqual([listing.value.folder.uidNext, listing.value.folder.modseqHighest, listing.value.folder.folderId], [9000, 5000, 3]);
    assert.equal(listing.value.vanished.length, expungedPerFolderMax - 30, 'VANISHED from the imported history');
    assert.equal((await db.listMessages('m2', 'INBOX', { changedSince: 8 })).ok && (await db.listMessages('m2', 'INBOX', { changedSince: 8 }) as { value: { vanishedIncomplete: boolean } }).value.vanishedIncomplete, true);

    assert.equal(await code('m2', [{ op: 'finishImport', modseqHighest: 4999 }]), 'INVALID_ARGUMENT', 'below a folder HIGHESTMODSEQ');
    assert.equal(await code('m2', [{ op: 'finishImport', modseqHighest: 6000 }, { op: 'setQuota', quotaBytes: null }]), 'INVALID_ARGUMENT', 'alone in its transaction');
    assert.equal(await code('m2', [{ op: 'finishImport', modseqHighest: 6000 }]), 'ok');
    assert.equal(await code('m2', [{ op: 'append', folder: 'INBOX', content: content(4), modseq: 7000 }]), 'INVALID_ARGUMENT', 'no longer importing');
    const appended = await db.commit({ mailboxId: 'm2', ops: [{ op: 'append', folder: 'INBOX', content: content(4) }] });
    assert.ok(appended.ok && appended.value.modseqHighest === 6001, 'planned modseqs continue above the imported highest');

    const live = canonicalState(db.durableState());
    const rebuilt = await MailboxDatabase.rebuildFromLog(db.transactionLog(), new MemoryKv());
    assert.equal(canonicalState(rebuilt), live);
    await db.close();
    db = await MailboxDatabase.open({ name: 'DB02', dir, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(5), openKv: openRocksKv });
    assert.equal(canonicalState(db.durableState()), live, 'the state store keeps it too');
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
