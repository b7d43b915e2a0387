// Proves the one-time import of account documents from the files sessions 1-3 wrote into the
// mailbox database's log, on a real database (worker-less, real RocksDB): identities (with the
// addresses already seeded), submissions and the vacation response with whom it answered become
// documents under the same ids; the files are renamed; a second run imports nothing; a run after
// a crash that kept the rename from happening changes nothing (the kinds are written already);
// a mailbox whose database is not active here, or that no user owns, keeps its files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DirectoryUser } from '../engine/directory/directory.js';
import { MailboxDatabase } from '../engine/database.js';
import { nodeStorage, seededPrng, systemClock } from '../engine/io.js';
import { canonicalState } from '../engine/state/model.js';
import { openRocksKv } from '../engine/state/rocks.js';
import { accountDocumentsDir, importAccountDocumentFiles, importedSuffix, legacyDocumentFiles } from './documents.js';

const user = (mailboxId: string, database: string): DirectoryUser => ({ address: `${mailboxId}@example.org`, mailboxId, database, quotaBytes: null, displayName: mailboxId, aliases: [], createdAtMs: 0 });

test('account document files are imported into the log once, under their ids, and renamed', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-docimport-'));
  const db = await MailboxDatabase.open({ name: 'DB01', dir: join(dataDir, 'DB01'), storage: nodeStorage(), clock: systemClock(), prng: seededPrng(3), openKv: openRocksKv });
  try {
    assert.ok((await db.commit({ mailboxId: 'm1', ops: [{ op: 'createMailbox', address: 'm1@example.org', quotaBytes: null }] })).ok);
    const dir = join(accountDocumentsDir(dataDir), 'm1');
    mkdirSync(dir, { recursive: true });
    const identity = { name: 'M1', email: 'm1@example.org', replyTo: null, bcc: null, textSignature: '-- m1', htmlSignature: '', primary: true };
    writeFileSync(join(dir, legacyDocumentFiles.identities), JSON.stringify({ version: 3, nextId: 3, items: [{ id: 'I1', createdIn: 1, changedIn: 3, value: identity }], destroyed: [{ id: 'I2', createdIn: 2, changedIn: 3 }], forgottenUpTo: 0, extra: { seeded: ['m1@example.org', 'old-alias@example.org'] } }));
    const submission = { identityId: 'I1', emailId: 'Mabc', threadId: 'Tabc', envelope: { mailFrom: { email: 'm1@example.org', parameters: null }, rcptTo: [{ email: 'x@remote.test', parameters: null }] }, sendAt: '2026-11-01T00:00:00Z', undoStatus: 'final', deliveryStatus: {}, queueIds: {} };
    writeFileSync(join(dir, legacyDocumentFiles.submissions), JSON.stringify({ version: 1, nextId: 2, items: [{ id: 'S1', createdIn: 1, changedIn: 1, value: submission }], destroyed: [], forgottenUpTo: 0 }));
    const settings = { isEnabled: true, fromDate: null, toDate: null, subject: null, textBody: 'Away', htmlBody: null };
    writeFileSync(join(dir, legacyDocumentFiles.vacation), JSON.stringify({ version: 2, settings, replied: { 'b@remote.test': 2000, 'a@remote.test': 1000 } }));
    // Files of a mailbox on a database not active here, and of a mailbox nobody owns, stay.
    for (const other of ['m2', 'gone']) {
      mkdirSync(join(accountDocumentsDir(dataDir), other), { recursive: true });
      writeFileSync(join(accountDocumentsDir(dataDir), other, legacyDocumentFiles.vacation), JSON.stringify({ version: 1, settings, replied: {} }));
    }
    const lines: string[] = [];
    const run = () => importAccountDocumentFiles({ dataDir, users: async () => [user('m1', 'DB01'), user('m2', 'DB02')], apiFor: () => db, activeHere: (database) => database === 'DB01', log: (line) => lines.push(line) });

    assert.deepEqual(await run(), { imported: 3, alreadyThere: 0, left: 2 });
    const kinds = async (kind: string) => {
      const r = await db.documents('m1', kind);
      assert.ok(r.ok);
      return r.value.documents.map((d) => [d.id, d.value]);
    };
    assert.deepEqual(await kinds('identity'), [['I1', identity]]);
    assert.deepEqual((await kinds('identity-seeded')).map(([id]) => id).sort(), ['m1@example.org', 'old-alias@example.org'], 'a deleted seeded identity stays deleted');
    assert.deepEqual(await kinds('submission'), [['S1', submission]]);
    assert.deepEqual(await kinds('vacation'), [['singleton', settings]]);
    const replied = await db.documents('m1', 'vacation-replied');
    const vacation = await db.documents('m1', 'vacation');
    assert.ok(replied.ok && vacation.ok);
    assert.deepEqual(replied.value.documents.map((d) => [d.id, d.value]).sort(), [['a@remote.test', { atMs: 1000 }], ['b@remote.test', { atMs: 2000 }]]);
    assert.ok(replied.value.documents.every((d) => d.modseq > vacation.value.documents[0]!.modseq), 'answers count under the imported settings');
    for (const name of Object.values(legacyDocumentFiles)) {
      assert.ok(!existsSync(join(dir, name)) && existsSync(join(dir, name + importedSuffix)), `${name} renamed`);
    }
    assert.ok(existsSync(join(accountDocumentsDir(dataDir), 'm2', legacyDocumentFiles.vacation)) && existsSync(join(accountDocumentsDir(dataDir), 'gone', legacyDocumentFiles.vacation)));
    assert.ok(lines.some((l) => l.includes('gone is no user')));

    // Again: nothing to import. After a crash between the commit and the rename: nothing changes.
    const after = canonicalState(db.durableState());
    assert.deepEqual(await run(), { imported: 0, alreadyThere: 0, left: 2 });
    for (const name of Object.values(legacyDocumentFiles)) renameSync(join(dir, name + importedSuffix), join(dir, name));
    assert.deepEqual(await run(), { imported: 0, alreadyThere: 3, left: 2 });
    assert.equal(canonicalState(db.durableState()), after, 'the log holds each document once');
  } finally {
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
