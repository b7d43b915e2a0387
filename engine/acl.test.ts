// Proves that public-folder mailboxes, folder ACLs and folder addresses are durable engine state:
// they come back after a reopen, a replay from zero (an index rebuild, a passive copy) gives the
// same state, renames keep them, bad entries are refused as values and change nothing;
// sharedFolders answers at most sharedFoldersPerCallMax folders, oldest mailboxes first.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxDatabase } from './database.js';
import { nodeStorage, seededPrng, systemClock } from './io.js';
import { openRocksKv } from './state/rocks.js';
import { canonicalState } from './state/model.js';
import { MemoryKv } from './state/kv.js';
import { aclEntriesPerFolderMax, aclIdentifierBytesMax, sharedFoldersPerCallMax } from './constants.js';

const openAt = (dir: string): Promise<MailboxDatabase> =>
  MailboxDatabase.open({ name: 'DB01', dir, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(11), openKv: openRocksKv });

test('public-folder mailbox, ACLs and addresses survive reopen and replay from zero', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-acl-'));
  try {
    let db = await openAt(dir);
    assert.ok((await db.commit({ mailboxId: 'PF', ops: [{ op: 'createMailbox', address: 'public-folders@DB01', quotaBytes: null, public: true }] })).ok);
    const info = await db.mailbox('PF');
    assert.ok(info.ok && info.value.public === true && info.value.folders === 0, 'a public-folder mailbox starts without folders');
    const created = await db.commit({
      mailboxId: 'PF',
      ops: [
        { op: 'createFolder', name: 'Sales' },
        { op: 'setAcl', folder: 'Sales', identifier: 'anyone', rights: 'rl' },
        { op: 'setAcl', folder: 'Sales', identifier: 'bob@example.org', rights: 'aexltkpsiwr' },
        { op: 'setFolderAddress', folder: 'Sales', address: 'Sales@Example.org' },
      ],
    });
    assert.ok(created.ok);
    let folders = await db.folders('PF');
    assert.ok(folders.ok);
    assert.deepEqual(folders.value[0]!.acl, { anyone: 'lr', 'bob@example.org': 'lrswipkxtea' }, 'rights are kept in the RFC order');
    assert.equal(folders.value[0]!.address, 'sales@example.org');

    // Setting the same rights again writes nothing; removing an absent entry writes nothing.
    const modseq = created.value.modseqHighest;
    const same = await db.commit({ mailboxId: 'PF', ops: [{ op: 'setAcl', folder: 'Sales', identifier: 'anyone', rights: 'lr' }, { op: 'setAcl', folder: 'Sales', identifier: 'carol@example.org', rights: null }] });
    assert.ok(same.ok && same.value.modseqHighest === modseq);

    // Bad entries are values and change nothing.
    const before = canonicalState(db.durableState());
    const bad = [
      { op: 'setAcl', folder: 'Sales', identifier: 'x@example.org', rights: 'lrz' },
      { op: 'setAcl', folder: 'Sales', identifier: 'has space', rights: 'l' },
      { op: 'setAcl', folder: 'Sales', identifier: 'x'.repeat(aclIdentifierBytesMax + 1), rights: 'l' },
      { op: 'setAcl', folder: 'Nope', identifier: 'x@example.org', rights: 'l' },
      { op: 'setFolderAddress', folder: 'Sales', address: 'not an address' },
    ] as const;
    for (const op of bad) assert.equal((await db.commit({ mailboxId: 'PF', ops: [op] })).ok, false, JSON.stringify(op).slice(0, 60));
    assert.ok((await db.commit({ mailboxId: 'PF', ops: [{ op: 'setAcl', folder: 'Sales', identifier: 'x'.repeat(aclIdentifierBytesMax), rights: 'l' }] })).ok);
    assert.equal(canonicalState(db.durableState()) === before, false);

    // The per-folder entry limit, at the limit and one past it.
    assert.ok((await db.commit({ mailboxId: 'PF', ops: [{ op: 'createFolder', name: 'Big' }] })).ok);
    const fill = Array.from({ length: aclEntriesPerFolderMax }, (_, i) => ({ op: 'setAcl' as const, folder: 'Big', identifier: `u${i}@example.org`, rights: 'l' }));
    assert.ok((await db.commit({ mailboxId: 'PF', ops: fill })).ok);
    const over = await db.commit({ mailboxId: 'PF', ops: [{ op: 'setAcl', folder: 'Big', identifier: 'one-more@example.org', rights: 'l' }] });
    assert.equal(!over.ok && over.code, 'LIMIT');
    assert.ok((await db.commit({ mailboxId: 'PF', ops: [{ op: 'setAcl', folder: 'Big', identifier: 'u0@example.org', rights: 'lr' }] })).ok, 'changing an existing entry is not a new one');

    // A rename keeps the ACL and address; a personal mailbox's folder can carry an ACL too.
    assert.ok((await db.commit({ mailboxId: 'PF', ops: [{ op: 'renameFolder', from: 'Sales', to: 'Sales EMEA' }] })).ok);
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'setAcl', folder: 'INBOX', identifier: 'bob@example.org', rights: 'lr' }] })).ok);
    // sharedFolders: a personal folder whose ACL names bob, not the public-folder mailbox's, not bob's own.
    const shared = await db.sharedFolders('bob@example.org');
    assert.ok(shared.ok);
    assert.deepEqual(shared.value.map((s) => [s.mailboxId, s.address, s.folder.name, s.folder.acl]), [['u1', 'a@example.org', 'INBOX', { 'bob@example.org': 'lr' }]]);
    assert.deepEqual((await db.sharedFolders('a@example.org')).ok && (await db.sharedFolders('a@example.org')), { ok: true, value: [] });
    folders = await db.folders('PF');
    assert.ok(folders.ok);
    const renamed = folders.value.find((f) => f.name === 'Sales EMEA')!;
    assert.equal(renamed.address, 'sales@example.org');
    assert.equal(renamed.acl!['bob@example.org'], 'lrswipkxtea');

    const live = canonicalState(db.durableState());
    await db.close();
    db = await openAt(dir);
    assert.equal(canonicalState(db.durableState()), live, 'the state store gives back ACLs and addresses');
    const rebuilt = await MailboxDatabase.rebuildFromLog(db.transactionLog(), new MemoryKv());
    assert.equal(canonicalState(rebuilt), live, 'replaying the log from zero gives back ACLs and addresses');
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sharedFolders answers all sharedFoldersPerCallMax folders; one more shared folder is left out (the newest mailbox\'s)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-acl-'));
  try {
    const db = await openAt(dir);
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
    const names = Array.from({ length: sharedFoldersPerCallMax }, (_, i) => `Shared ${i}`);
    const sharing = names.flatMap((name) => [{ op: 'createFolder', name }, { op: 'setAcl', folder: name, identifier: 'bob@example.org', rights: 'lr' }] as const);
    assert.ok((await db.commit({ mailboxId: 'u1', ops: sharing })).ok);
    const atLimit = await db.sharedFolders('bob@example.org');
    assert.ok(atLimit.ok);
    assert.deepEqual(atLimit.value.map((s) => s.folder.name), names, 'at the limit: every shared folder');

    assert.ok((await db.commit({ mailboxId: 'u2', ops: [{ op: 'createMailbox', address: 'c@example.org', quotaBytes: null }] })).ok);
    assert.ok((await db.commit({ mailboxId: 'u2', ops: [{ op: 'setAcl', folder: 'INBOX', identifier: 'anyone', rights: 'lr' }] })).ok);
    const overLimit = await db.sharedFolders('bob@example.org');
    assert.ok(overLimit.ok);
    assert.deepEqual(overLimit.value.map((s) => s.folder.name), names, 'one more: the limit, the oldest mailbox\'s first');

    // One grant fewer in the older mailbox: the newer one's folder fits again.
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'setAcl', folder: 'Shared 0', identifier: 'bob@example.org', rights: null }] })).ok);
    const again = await db.sharedFolders('bob@example.org');
    assert.ok(again.ok);
    assert.equal(again.value.length, sharedFoldersPerCallMax);
    assert.deepEqual(again.value.at(-1)!.address, 'c@example.org');
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
