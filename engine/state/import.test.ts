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
