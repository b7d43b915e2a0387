// Proves the mailbox database end to end on real files and RocksDB: every transaction kind,
// IMAP numbers (UIDVALIDITY, UIDNEXT, modseqs, counts), expected failures as values, content
// stored once, and that reopening (clean or after a replay) gives back exactly the same state.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxDatabase } from './database.js';
import { nodeStorage, seededPrng, systemClock } from './io.js';
import { openRocksKv } from './state/rocks.js';
import { canonicalState } from './state/model.js';
import { begin } from './api.js';
import { MemoryKv } from './state/kv.js';
import { SimStorage } from './sim/storage.js';
import { VirtualClock } from './sim/clock.js';
import { expungedPerFolderMax } from './constants.js';

async function openAt(dir: string): Promise<MailboxDatabase> {
  return MailboxDatabase.open({ name: 'DB01', dir, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(7), openKv: openRocksKv });
}

const message = (n: number): Uint8Array => new TextEncoder().encode(`Subject: test ${n}\r\n\r\n${'body '.repeat(200)}${n}\r\n`);

test('transactions, IMAP numbers, failures and reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-db-'));
  try {
    let db = await openAt(dir);
    assert.equal((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: 100_000 }] })).ok, true);
    const folders = await db.folders('u1');
    assert.ok(folders.ok);
    assert.deepEqual(folders.value.map((f) => f.name).sort(), ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
    assert.equal(folders.value.find((f) => f.name === 'Sent')!.specialUse, '\\Sent');

    // Concurrent appends: group commit gives each its own UID, in order, and one content copy per hash.
    const appends = await Promise.all([1, 2, 3, 4, 1].map((n) => begin(db, 'u1').append('INBOX', message(n)).commit()));
    assert.ok(appends.every((r) => r.ok));
    const uids = appends.map((r) => (r.ok && r.value.results[0]!.op === 'append' ? r.value.results[0].uid : 0));
    assert.deepEqual(uids, [1, 2, 3, 4, 5]);
    assert.equal(db.durableState().contents.size, 4);

    let inbox = await db.listMessages('u1', 'inbox');
    assert.ok(inbox.ok);
    assert.equal(inbox.value.folder.messages, 5);
    assert.equal(inbox.value.folder.unseen, 5);
    assert.equal(inbox.value.folder.uidNext, 6);
    const modseqBefore = inbox.value.folder.modseqHighest;

    const store = await begin(db, 'u1').store('INBOX', [1, 2, 99], 'add', ['\\Seen']).commit();
    assert.ok(store.ok);
    assert.deepEqual(store.value.results[0], { op: 'store', changed: [1, 2], modified: [] });
    inbox = await db.listMessages('u1', 'INBOX', { changedSince: modseqBefore });
    assert.ok(inbox.ok);
    assert.deepEqual(inbox.value.messages.map((m) => m.uid), [1, 2]);
    assert.equal(inbox.value.folder.unseen, 3);
    assert.ok(inbox.value.folder.modseqHighest > modseqBefore);

    // CONDSTORE: UNCHANGEDSINCE below a message's modseq refuses that message only.
    const cond = await begin(db, 'u1').store('INBOX', [1, 3], 'add', ['$Important'], modseqBefore).commit();
    assert.ok(cond.ok);
    assert.deepEqual(cond.value.results[0], { op: 'store', changed: [3], modified: [1] });

    const move = await begin(db, 'u1').move('INBOX', [2, 3], 'Archive').copy('INBOX', [4], 'Trash').commit();
    assert.ok(move.ok);
    assert.deepEqual(move.value.results.map((r) => ('uids' in r ? r.uids : [])), [[1, 2], [1]]);
    const vanished = await db.listMessages('u1', 'INBOX', { changedSince: cond.value.modseqHighest });
    assert.ok(vanished.ok);
    assert.deepEqual(vanished.value.vanished, [2, 3]);

    // Expected failures are values and change nothing.
    const before = canonicalState(db.durableState());
    const missing = await begin(db, 'u1').append('INBOX', message(9)).append('Nope', message(10)).commit();
    assert.equal(missing.ok, false);
    assert.equal(!missing.ok && missing.code, 'NO_SUCH_FOLDER');
    const quota = await begin(db, 'u1').append('INBOX', new Uint8Array(200_000)).commit();
    assert.equal(!quota.ok && quota.code, 'OVER_QUOTA');
    const exists = await db.commit({ mailboxId: 'u1', ops: [{ op: 'createFolder', name: 'Sent' }] });
    assert.equal(!exists.ok && exists.code, 'FOLDER_EXISTS');
    const stale = await db.commit({ mailboxId: 'u1', ops: [{ op: 'expunge', folder: 'INBOX', uids: [1] }], expectUidValidity: { INBOX: 1 } });
    assert.equal(!stale.ok && stale.code, 'UIDVALIDITY_CHANGED');
    assert.equal(canonicalState(db.durableState()), before);

    // Hierarchy rename carries children; expunge; the bytes come back exactly.
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createFolder', name: 'Work' }, { op: 'createFolder', name: 'Work/2026' }] })).ok);
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'renameFolder', from: 'Work', to: 'Jobs' }] })).ok);
    const names = await db.folders('u1');
    assert.ok(names.ok && names.value.some((f) => f.name === 'Jobs/2026'));
    assert.ok((await begin(db, 'u1').expunge('INBOX', [1]).commit()).ok);
    const read = await db.readMessage('u1', 'Archive', 1);
    assert.ok(read.ok);
    assert.deepEqual(Buffer.from(read.value), Buffer.from(message(2)));

    const live = canonicalState(db.durableState());
    await db.close();
    db = await openAt(dir);
    assert.equal(db.openedShutdown, 'clean');
    assert.equal(db.replayedBatches, 0);
    assert.equal(canonicalState(db.durableState()), live);
    // Replay from zero into an empty store gives exactly the live state.
    const { MemoryKv } = await import('./state/kv.js');
    const rebuilt = await MailboxDatabase.rebuildFromLog(db.transactionLog(), new MemoryKv());
    assert.equal(canonicalState(rebuilt), live);
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged state store is thrown away and rebuilt from the log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-db-'));
  const { MemoryKv } = await import('./state/kv.js');
  let kv = new MemoryKv();
  let opens = 0;
  // The first open of each database open gets `kv`; a second one (after the state directory was removed) gets an empty store.
  const open = () => {
    opens = 0;
    return MailboxDatabase.open({ name: 'DB01', dir, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(3), openKv: async () => (opens++ === 0 ? kv : new MemoryKv()) });
  };
  try {
    let db = await open();
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
    for (let i = 0; i < 5; i++) assert.ok((await begin(db, 'u1').append('INBOX', message(i)).commit()).ok);
    const live = canonicalState(db.durableState());
    await db.close();
    kv = kv.reopen();
    assert.ok(kv.flipBit((bound) => Math.floor(bound / 2)) !== null);
    db = await open();
    assert.equal(db.rebuiltState, true);
    assert.equal(canonicalState(db.durableState()), live);
    const read = await db.readMessage('u1', 'INBOX', 3);
    assert.ok(read.ok);
    assert.deepEqual(Buffer.from(read.value), Buffer.from(message(2)));
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('UIDVALIDITY is never given out twice: not to a recreated folder, nor to a mailbox id deleted and created again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-db-'));
  try {
    const seen = new Set<number>();
    const uidValidities = async (db: MailboxDatabase): Promise<number[]> => {
      const folders = await db.folders('u1');
      assert.ok(folders.ok);
      return folders.value.map((f) => f.uidValidity);
    };
    const fresh = (values: number[]): void => {
      for (const v of values) {
        assert.ok(!seen.has(v), `UIDVALIDITY ${v} given out twice`);
        seen.add(v);
      }
    };
    let db = await openAt(dir);
    const create = () => db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] });
    assert.ok((await create()).ok);
    fresh(await uidValidities(db));
    // A folder deleted and created again, within the same second.
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'deleteFolder', name: 'Junk' }, { op: 'createFolder', name: 'Junk' }] })).ok);
    fresh((await uidValidities(db)).filter((v) => !seen.has(v)));
    assert.equal((await uidValidities(db)).length, 6);
    for (let round = 0; round < 2; round++) {
      assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'deleteMailbox', address: 'a@example.org' }] })).ok);
      if (round === 1) {
        // The retired UIDVALIDITY survives a reopen (it lives in the state store and the log).
        await db.close();
        db = await openAt(dir);
      }
      assert.ok((await create()).ok);
      fresh(await uidValidities(db));
    }
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('log truncation: whole segments below the checkpoint go, recovery and commits go on, rebuilding from the log refuses cleanly', async () => {
  const storage = new SimStorage(seededPrng(11));
  let kv = new MemoryKv();
  const clock = new VirtualClock(1_700_000_000_000);
  const open = () =>
    MailboxDatabase.open({ name: 'DB01', dir: '/db', storage, clock, prng: seededPrng(12), openKv: async () => kv, logSegmentBytesMax: 4096 });
  let db = await open();
  assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
  for (let n = 0; n < 30; n++) assert.ok((await begin(db, 'u1').append('INBOX', message(n)).commit()).ok);
  const checkpoint = db.status().checkpointPosition;
  assert.ok(checkpoint > 4 * 4096);

  const past = await db.truncateLog(checkpoint + 1);
  assert.equal(!past.ok && past.code, 'INVALID_ARGUMENT');
  const bad = await db.truncateLog(-1);
  assert.equal(!bad.ok && bad.code, 'INVALID_ARGUMENT');
  const done = await db.truncateLog(checkpoint);
  assert.ok(done.ok);
  assert.ok(done.value.removedSegments >= 3, `removed ${done.value.removedSegments}`);
  assert.ok(done.value.logStartPosition > 0 && done.value.logStartPosition <= checkpoint);
  assert.equal(db.status().logStartPosition, done.value.logStartPosition);
  const before = canonicalState(db.durableState());

  // Rebuilding from the log needs it from position 0: a clear refusal, not an assert.
  await assert.rejects(MailboxDatabase.rebuildFromLog(db.transactionLog(), new MemoryKv()), (error: Error) => error.name === 'DatabaseCorruptError' && /truncated/.test(error.message));

  // Power loss right after: the state store loses every unsynced write, but truncation synced
  // the checkpoint first, so recovery still finds everything it must replay.
  storage.crash();
  kv.crash(0);
  kv = kv.reopen();
  db = await open();
  assert.equal(canonicalState(db.durableState()), before);
  assert.equal(db.status().logStartPosition, done.value.logStartPosition);
  assert.ok((await begin(db, 'u1').append('INBOX', message(99)).commit()).ok);
  const inbox = await db.listMessages('u1', 'INBOX');
  assert.ok(inbox.ok);
  assert.equal(inbox.value.messages.length, 31);
  await db.close();

  // A state store lost after truncation cannot be rebuilt from the log: open says so.
  kv = new MemoryKv();
  await assert.rejects(open(), (error: Error) => error.name === 'DatabaseCorruptError' && /truncated/.test(error.message));
});

test('the expunge history is capped; a listing asked for changes from before it says it is incomplete', async () => {
  const storage = new SimStorage(seededPrng(13));
  let kv = new MemoryKv();
  const clock = new VirtualClock(1_700_000_000_000);
  const open = () => MailboxDatabase.open({ name: 'DB01', dir: '/db', storage, clock, prng: seededPrng(14), openKv: async () => kv });
  let db = await open();
  assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
  const count = expungedPerFolderMax + 4;
  const body = message(0);
  const appended = await db.commit({ mailboxId: 'u1', ops: Array.from({ length: count }, () => ({ op: 'append' as const, folder: 'INBOX', content: body })) });
  assert.ok(appended.ok);
  const first = await begin(db, 'u1').expunge('INBOX', [1, 2, 3, 4, 5, 6]).commit();
  assert.ok(first.ok);
  const atFirst = first.value.modseqHighest;
  const rest = await begin(db, 'u1').expunge('INBOX', Array.from({ length: count - 6 }, (_, i) => i + 7)).commit();
  assert.ok(rest.ok);

  // Exactly at the limit: the newest expungedPerFolderMax expunges are kept, the 4 oldest dropped.
  const complete = await db.listMessages('u1', 'INBOX', { changedSince: atFirst });
  assert.ok(complete.ok);
  assert.equal(complete.value.vanishedIncomplete, false);
  assert.equal(complete.value.vanished.length, count - 6);
  const older = await db.listMessages('u1', 'INBOX', { changedSince: atFirst - 1 });
  assert.ok(older.ok);
  assert.equal(older.value.vanishedIncomplete, true, 'UIDs 1-4 are forgotten: the caller must resync');
  assert.deepEqual(older.value.vanished.slice(0, 2), [5, 6]);
  assert.equal(db.durableState().mailboxes.get('u1')!.folders.get(1)!.expunged.length, expungedPerFolderMax);
  const full = await db.listMessages('u1', 'INBOX');
  assert.ok(full.ok);
  assert.equal(full.value.vanishedIncomplete, false);

  // The cap and the dropped modseq survive reopen and equal a replay of the log.
  const before = canonicalState(db.durableState());
  await db.close();
  kv = kv.reopen();
  db = await open();
  assert.equal(canonicalState(db.durableState()), before);
  assert.equal(canonicalState(await MailboxDatabase.rebuildFromLog(db.transactionLog(), new MemoryKv())), before);
  await db.close();
});

/** A state store whose writes wait until released (or fail), to see what the engine does meanwhile. */
class HeldKv extends MemoryKv {
  held: Array<{ release(): void; fail(error: Error): void }> = [];
  override write(ops: Parameters<MemoryKv['write']>[0]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.held.push({ release: () => void super.write(ops).then(resolve, reject), fail: reject });
    });
  }
}

test('a commit answers before its state-store write lands; reads see it meanwhile; a failed state write stops the database and loses nothing', async () => {
  const storage = new SimStorage(seededPrng(21));
  const held = new HeldKv();
  let kv: MemoryKv = held;
  const clock = new VirtualClock(1_700_000_000_000);
  let failures = 0;
  const open = () => MailboxDatabase.open({ name: 'DB01', dir: '/db', storage, clock, prng: seededPrng(22), openKv: async () => kv, onFailure: () => failures++ });
  let db = await open();
  assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
  const first = await begin(db, 'u1').append('INBOX', message(1)).commit();
  assert.ok(first.ok);
  // Both batches answered while the first state write is still held (the second waits behind it).
  assert.equal(held.held.length, 1);
  const read = await db.readMessage('u1', 'INBOX', 1);
  assert.ok(read.ok);
  assert.deepEqual(read.value, message(1));
  const summaries = await db.summaries('u1', 'INBOX', [1]);
  assert.ok(summaries.ok && summaries.value[0]!.summary.envelope.subject === 'test 1');
  // The checkpoint is what the store holds: behind the log until the writes land.
  assert.ok(db.status().checkpointPosition < db.status().lastLogPosition);

  // Writes land in order, merged: one more write carries everything queued behind the first.
  held.held.shift()!.release();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(held.held.length, 1);
  held.held.shift()!.release();
  await db.stateSettled();
  assert.equal(held.held.length, 0);

  // A state write that fails: the answered commit is in the log; the database refuses writes and says so.
  const second = await begin(db, 'u1').append('INBOX', message(2)).commit();
  assert.ok(second.ok);
  held.held.shift()!.fail(new Error('injected state store failure'));
  await db.stateSettled();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(failures, 1);
  const refused = await begin(db, 'u1').append('INBOX', message(3)).commit();
  assert.equal(!refused.ok && refused.code, 'DATABASE_UNAVAILABLE');
  await db.close();

  // Reopen (what the supervisor's restart does): the log replays what the store missed.
  kv = held.reopen();
  db = await open();
  assert.equal(db.replayedBatches, 1);
  const inbox = await db.listMessages('u1', 'INBOX');
  assert.ok(inbox.ok);
  assert.deepEqual(inbox.value.messages.map((m) => m.uid), [1, 2]);
  const again = await db.readMessage('u1', 'INBOX', 2);
  assert.ok(again.ok);
  assert.deepEqual(again.value, message(2));
  await db.close();
});

test('a passive copy runs one replay at a time: an operator play-forward and a received batch replay each batch once', async () => {
  const storage = new SimStorage(seededPrng(11));
  const clock = new VirtualClock(1_800_000_000_000);
  const options = { name: 'DB01', storage, clock, prng: seededPrng(12), openKv: async () => new MemoryKv(), diskFreeBytesMin: 0 };
  const active = await MailboxDatabase.open({ ...options, dir: '/a' });
  const passive = await MailboxDatabase.open({ ...options, dir: '/p', role: 'passive' });
  try {
    assert.ok((await active.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
    for (let n = 0; n < 8; n++) assert.ok((await active.commit({ mailboxId: 'u1', ops: [{ op: 'append', folder: 'INBOX', content: message(n) }] })).ok);
    const batches: Array<{ start: number; bytes: Uint8Array }> = [];
    for await (const batch of active.transactionLog().read(0)) batches.push({ start: batch.start, bytes: batch.bytes.slice() });
    // Received but held (a lagged copy): nothing replayed yet.
    for (const batch of batches.slice(0, -1)) await passive.receiveBatch(batch.bytes, batch.start, 0);
    const last = batches.at(-1)!;
    // The last batch's replay and an operator's play-forward to the end start together.
    await Promise.all([passive.receiveBatch(last.bytes, last.start), passive.playForward(active.status().lastLogPosition, { boundary: true })]);
    assert.equal(passive.status().replayedPosition, active.status().lastLogPosition);
    assert.deepEqual(canonicalState(passive.durableState()), canonicalState(active.durableState()), 'the same state: no batch applied twice');
  } finally {
    await passive.close();
    await active.close();
  }
});

test('a commit with nothing to write answers only once the changes it saw are durable (another caller’s same STORE)', async () => {
  const storage = new SimStorage(seededPrng(31));
  const clock = new VirtualClock(1_700_000_000_000);
  // Shipping (part of a batch's way to its answer) held for one batch, to see what a second caller is told meanwhile.
  let hold: Promise<void> | null = null;
  let release = (): void => undefined;
  const db = await MailboxDatabase.open({ name: 'DB01', dir: '/db', storage, clock, prng: seededPrng(32), openKv: async () => new MemoryKv(), onBatch: () => hold ?? undefined });
  assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
  assert.ok((await begin(db, 'u1').append('INBOX', message(1)).commit()).ok);
  hold = new Promise<void>((resolve) => (release = resolve));
  const store = { mailboxId: 'u1', ops: [{ op: 'store' as const, folder: 'INBOX', uids: [1], mode: 'add' as const, flags: ['\\Seen'] }] };
  let firstDone = false;
  let secondDone = false;
  const first = db.commit(store).then((r) => ((firstDone = true), r));
  // The same change again: planned on the head, which already has \Seen, so there is nothing to write.
  const second = db.commit(store).then((r) => ((secondDone = true), r));
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(firstDone, false, 'the first STORE waits for its batch');
  assert.equal(secondDone, false, 'the no-op STORE must not be answered before the change it saw is durable');
  hold = null;
  release();
  const [a, b] = await Promise.all([first, second]);
  assert.ok(a.ok && b.ok);
  assert.ok(b.value.position >= a.value.position, `the no-op answers at ${b.value.position}, past the change it saw (${a.value.position})`);
  await db.close();
});
