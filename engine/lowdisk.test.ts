// The low-disk guard: with the data directory's free space (read through the injected Storage)
// below the reserve, a database answers DISK_FULL to commits (IMAP NO [LIMIT], SMTP 452 4.3.1,
// HTTP 507) and a passive copy refuses shipped batches, nothing half-written; once space is freed
// writes go on, and everything acknowledged before and after is there after a reopen.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxDatabase } from './database.js';
import { errorInfo, imapAnswer, smtpAnswer } from './errors.js';
import { type Clock, type Storage, nodeStorage, seededPrng } from './io.js';
import { diskFreeCheckIntervalMs } from './constants.js';
import { openRocksKv } from './state/rocks.js';

const reserve = 100 * 1024 * 1024;

function world(): { storage: Storage; clock: Clock; setFree(bytes: number): void; advance(ms: number): void; reads: () => number } {
  const inner = nodeStorage();
  let free = 10 * reserve;
  let now = 0;
  let reads = 0;
  return {
    storage: {
      ...inner,
      async freeBytes() {
        reads += 1;
        return free;
      },
    },
    clock: { nowMs: () => 1_800_000_000_000 + now, monoMs: () => now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
    setFree: (bytes) => (free = bytes),
    advance: (ms) => (now += ms),
    reads: () => reads,
  };
}

const append = (db: MailboxDatabase, i: number) =>
  db.commit({ mailboxId: 'u1', ops: [{ op: 'append', folder: 'INBOX', content: new TextEncoder().encode(`Subject: ${i}\r\n\r\nbody ${i}\r\n`) }] });

/** Lets the background free-space reading (started by a stale check) land. */
const settle = () => new Promise((r) => setImmediate(r));

test('low disk: commits answer DISK_FULL until space is freed; nothing acknowledged is lost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-lowdisk-'));
  const w = world();
  const open = () => MailboxDatabase.open({ name: 'DB01', dir, storage: w.storage, clock: w.clock, prng: seededPrng(5), openKv: openRocksKv, diskFreeBytesMin: reserve });
  try {
    let db = await open();
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
    assert.ok((await append(db, 1)).ok);

    // The reserve is one byte short: the next reading (once the last one is stale) holds writes.
    w.setFree(reserve - 1);
    const readsBefore = w.reads();
    assert.ok((await append(db, 2)).ok, 'the last reading is fresh: the guard has not seen the change yet');
    assert.equal(w.reads(), readsBefore, 'no second reading inside the interval');
    w.advance(diskFreeCheckIntervalMs);
    await append(db, 3); // starts the fresh reading
    await settle();
    const refused = await append(db, 4);
    assert.ok(!refused.ok);
    assert.equal(refused.code, 'DISK_FULL');
    assert.match(refused.message, /low disk: 104857599 bytes free .* below the 104857600/);
    assert.equal(imapAnswer(refused), `NO [LIMIT] ${refused.message}`);
    assert.deepEqual(smtpAnswer(refused), { code: 452, enhanced: '4.3.1', message: refused.message });
    assert.equal(errorInfo('DISK_FULL').retriable, true);
    assert.equal(db.status().lowDisk, true);
    const listed = await db.listMessages('u1', 'INBOX');
    assert.ok(listed.ok, 'reads go on');

    // Exactly the reserve is enough.
    w.setFree(reserve);
    w.advance(diskFreeCheckIntervalMs);
    await append(db, 5);
    await settle();
    assert.ok((await append(db, 6)).ok);
    assert.equal(db.status().lowDisk, false);

    // 0 turns the guard off.
    await db.close();
    w.setFree(0);
    db = await MailboxDatabase.open({ name: 'DB01', dir, storage: w.storage, clock: w.clock, prng: seededPrng(6), openKv: openRocksKv, diskFreeBytesMin: 0 });
    assert.ok((await append(db, 7)).ok);
    await db.close();

    // At open the reading is taken before the first commit.
    db = await open();
    const atOpen = await append(db, 8);
    assert.equal(!atOpen.ok && atOpen.code, 'DISK_FULL');
    const uids = await db.listMessages('u1', 'INBOX');
    assert.ok(uids.ok);
    const acknowledged = uids.value.messages.map((m) => m.uid);
    assert.equal(acknowledged.length, 5, `every acknowledged append is there (${acknowledged})`);
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('low disk: a passive copy refuses a shipped batch before writing it, and takes it once space is freed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-lowdisk-passive-'));
  const w = world();
  try {
    const active = await MailboxDatabase.open({ name: 'DB01', dir: join(dir, 'a'), storage: nodeStorage(), clock: w.clock, prng: seededPrng(7), openKv: openRocksKv, diskFreeBytesMin: 0 });
    assert.ok((await active.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'a@example.org', quotaBytes: null }] })).ok);
    assert.ok((await append(active, 1)).ok);
    const batches: Array<{ start: number; bytes: Uint8Array }> = [];
    for await (const batch of active.transactionLog().read(0)) batches.push({ start: batch.start, bytes: batch.bytes.slice() });
    await active.close();

    const passive = await MailboxDatabase.open({ name: 'DB01', dir: join(dir, 'b'), role: 'passive', storage: w.storage, clock: w.clock, prng: seededPrng(8), openKv: openRocksKv, diskFreeBytesMin: reserve });
    await passive.receiveBatch(batches[0]!.bytes, batches[0]!.start);
    w.setFree(1);
    w.advance(diskFreeCheckIntervalMs);
    passive.status(); // a stale reading: this starts a fresh one
    await settle();
    await assert.rejects(passive.receiveBatch(batches[1]!.bytes, batches[1]!.start), /low disk/);
    assert.equal(passive.status().lastLogPosition, batches[1]!.start, 'nothing of the refused batch was written');
    w.setFree(reserve);
    w.advance(diskFreeCheckIntervalMs);
    passive.status();
    await settle();
    await passive.receiveBatch(batches[1]!.bytes, batches[1]!.start);
    assert.equal(passive.status().lastLogPosition, batches[1]!.start + batches[1]!.bytes.length);
    await passive.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
