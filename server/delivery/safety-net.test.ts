// Proves the safety net's file: entries kept with group commit read back exactly; a torn
// tail (a crash mid-append) is cut at open and later appends still read; pruning removes only
// hours older than the retention; resubmit gives a database back what it lost and nothing it
// still holds, run after run; a v2 entry (one content, a prefix per delivery) resubmits each
// mailbox its own prefix + the shared content; the newest segment's zeros written ahead are read
// past and cut when it stops being the newest, at close and at the open after a crash.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxDatabase } from '../../engine/database.js';
import { nodeStorage, systemClock, systemPrng } from '../../engine/io.js';
import { MemoryKv } from '../../engine/state/kv.js';
import { type SafetyNetEntry, deliveredMessage } from '../../protocols/smtp/types.js';
import { safetyNetPreallocBytes, safetyNetSegmentMs } from './constants.js';
import { FileSafetyNet, encodeEntry, readSafetyNet, resubmit } from './safety-net.js';

const hour = safetyNetSegmentMs;
const t0 = 1_800_000_000_000 - (1_800_000_000_000 % hour);

function entry(id: string, timeMs: number, text: string, mailboxId = 'mbx1'): SafetyNetEntry {
  return {
    id,
    timeMs,
    mailFrom: 'from@remote.test',
    deliveries: [{ rcpt: 'u@example.org', address: 'u@example.org', database: 'DB01', mailboxId, contentIndex: 0 }],
    contents: [Buffer.from(`Subject: ${text}\r\n\r\n${text}\r\n`)],
  };
}

async function all(dir: string, fromMs = 0, toMs = Number.MAX_SAFE_INTEGER): Promise<SafetyNetEntry[]> {
  const out: SafetyNetEntry[] = [];
  await readSafetyNet(dir, fromMs, toMs, (e) => void out.push(e));
  return out;
}

test('keep, read back, cut a torn tail, prune by hour', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-snet-'));
  try {
    let now = t0 + 10;
    let net = await FileSafetyNet.open({ dir, nowMs: () => now });
    await Promise.all([net.keep(entry('a', t0 + 1, 'one')), net.keep(entry('b', t0 + 2, 'two')), net.keep(entry('c', t0 + hour + 5, 'three'))]);
    await net.close();
    assert.deepEqual((await all(dir)).map((e) => e.id), ['a', 'b', 'c']);
    assert.deepEqual(Buffer.from((await all(dir))[1]!.contents[0]!).toString(), 'Subject: two\r\n\r\ntwo\r\n');
    assert.deepEqual((await all(dir, t0 + 2, t0 + hour)).map((e) => e.id), ['b']);

    // A crash in the middle of an append leaves part of a record: cut at open, appends go on.
    const first = join(dir, readdirSync(dir).sort()[1]!);
    const sizeBefore = statSync(first).size;
    appendFileSync(first, Buffer.from([200, 0, 0, 0, 1, 2, 3]));
    net = await FileSafetyNet.open({ dir, nowMs: () => now });
    assert.equal(statSync(first).size, sizeBefore);
    await net.keep(entry('d', t0 + hour + 6, 'four'));
    assert.deepEqual((await all(dir)).map((e) => e.id), ['a', 'b', 'c', 'd']);

    now = t0 + 2 * 24 * hour + hour; // the first hour ended more than two days ago
    assert.equal(await net.prune(), 1);
    assert.deepEqual((await all(dir)).map((e) => e.id), ['c', 'd']);
    await net.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A safety-net directory and a database DB01 to resubmit into, both removed afterwards. */
async function withNetAndDatabase(body: (dir: string, db: MailboxDatabase) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'quire-snet-'));
  const dbDir = mkdtempSync(join(tmpdir(), 'quire-snet-db-'));
  const db = await MailboxDatabase.open({ name: 'DB01', dir: dbDir, storage: nodeStorage(), clock: systemClock(), prng: systemPrng(), openKv: async () => new MemoryKv() });
  try {
    await body(dir, db);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(dbDir, { recursive: true, force: true });
  }
}

test('resubmit appends what the mailbox lost, skips what it holds, and is idempotent', async () => {
  await withNetAndDatabase(async (dir, db) => {
    assert.ok((await db.commit({ mailboxId: 'mbx1', ops: [{ op: 'createMailbox', address: 'u@example.org', quotaBytes: null }] })).ok);
    const net = await FileSafetyNet.open({ dir, nowMs: () => t0 });
    const kept = [entry('a', t0 + 1, 'kept and delivered'), entry('b', t0 + 2, 'lost in failover'), entry('c', t0 + 3, 'also lost')];
    for (const e of kept) await net.keep(e);
    await net.close();
    // Only the first reached the database that survived.
    const delivered = kept[0]!;
    assert.ok((await db.commit({ mailboxId: 'mbx1', ops: [{ op: 'append', folder: 'INBOX', content: delivered.contents[0]!, internalDateMs: delivered.timeMs }] })).ok);

    const report = await resubmit({ dir, fromMs: t0, toMs: t0 + 10, database: 'DB01', api: db });
    assert.deepEqual(report, { examined: 3, resubmitted: 2, present: 1, failed: [] });
    const listing = await db.listMessages('mbx1', 'INBOX');
    assert.ok(listing.ok);
    const bodies = await Promise.all(listing.value.messages.map(async (m) => Buffer.from(((await db.readMessage('mbx1', 'INBOX', m.uid)) as { value: Uint8Array }).value).toString()));
    assert.deepEqual(bodies.sort(), kept.map((e) => Buffer.from(e.contents[0]!).toString()).sort());
    assert.deepEqual(listing.value.messages.map((m) => m.internalDateMs).sort(), [t0 + 1, t0 + 2, t0 + 3]);

    const again = await resubmit({ dir, fromMs: t0, toMs: t0 + 10, database: 'DB01', api: db });
    assert.deepEqual(again, { examined: 3, resubmitted: 0, present: 3, failed: [] });
    assert.deepEqual(await resubmit({ dir, fromMs: t0, toMs: t0 + 10, database: 'DB02', api: db }), { examined: 0, resubmitted: 0, present: 0, failed: [] });
  });
});

test('a v2 entry (one content, each delivery its own prefix) resubmits prefix + content per mailbox, stored once, and recognises what is there', async () => {
  await withNetAndDatabase(async (dir, db) => {
    const users = ['mbx1', 'mbx2', 'mbx3'];
    for (const mailboxId of users) assert.ok((await db.commit({ mailboxId, ops: [{ op: 'createMailbox', address: `${mailboxId}@example.org`, quotaBytes: null }] })).ok);
    const prefix = (mailboxId: string): string => `Return-Path: <from@remote.test>\r\nDelivered-To: ${mailboxId}@example.org\r\n`;
    const shared: SafetyNetEntry = {
      id: 'v2',
      timeMs: t0 + 5,
      mailFrom: 'from@remote.test',
      deliveries: users.map((mailboxId) => ({ rcpt: `${mailboxId}@example.org`, address: `${mailboxId}@example.org`, database: 'DB01', mailboxId, contentIndex: 0, prefix: prefix(mailboxId) })),
      contents: [Buffer.from('Received: from x\r\nSubject: many\r\n\r\nto many\r\n')],
    };
    const net = await FileSafetyNet.open({ dir, nowMs: () => t0 });
    await net.keep(shared);
    await net.close();
    assert.deepEqual((await all(dir))[0], { ...shared, contents: [new Uint8Array(shared.contents[0]!)] }, 'read back as kept');
    // mbx1 kept its copy through the failover; the others lost theirs.
    const { prefix: p1, content } = deliveredMessage(shared, shared.deliveries[0]!);
    assert.ok((await db.commit({ mailboxId: 'mbx1', ops: [{ op: 'append', folder: 'INBOX', content, prefix: p1, internalDateMs: shared.timeMs }] })).ok);

    assert.deepEqual(await resubmit({ dir, fromMs: t0, toMs: t0 + 10, database: 'DB01', api: db }), { examined: 3, resubmitted: 2, present: 1, failed: [] });
    for (const mailboxId of users) {
      const read = await db.readMessage(mailboxId, 'INBOX', 1);
      assert.ok(read.ok);
      assert.equal(Buffer.from(read.value).toString(), prefix(mailboxId) + Buffer.from(shared.contents[0]!).toString());
    }
    assert.equal(db.durableState().contents.size, 1, 'the resubmitted copies share the content');
    assert.deepEqual(await resubmit({ dir, fromMs: t0, toMs: t0 + 10, database: 'DB01', api: db }), { examined: 3, resubmitted: 0, present: 3, failed: [] });
  });
});

test('the newest segment keeps zeros ahead of its records: read past while running, cut when a newer hour begins, at close and at the open after a crash', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-snet-zeros-'));
  try {
    const net = await FileSafetyNet.open({ dir, nowMs: () => t0 });
    const kept = [entry('a', t0 + 1, 'one'), entry('b', t0 + 2, 'two'), entry('c', t0 + 3, 'three')];
    for (const e of kept) await net.keep(e);
    const bytesOf = (entries: SafetyNetEntry[]) => entries.reduce((n, e) => n + encodeEntry(e).length, 0);
    const first = join(dir, `${t0}.snet`);
    assert.equal(statSync(first).size, bytesOf(kept.slice(0, 1)) + safetyNetPreallocBytes, 'zeros written ahead with the first append');
    assert.deepEqual((await all(dir)).map((e) => e.id), ['a', 'b', 'c'], 'a reader stops at the zeros');

    // The next hour's segment becomes the newest: the older one is cut to its records.
    await net.keep(entry('d', t0 + hour + 1, 'four'));
    assert.equal(statSync(first).size, bytesOf(kept));
    const second = join(dir, `${t0 + hour}.snet`);
    assert.ok(statSync(second).size > bytesOf([entry('d', t0 + hour + 1, 'four')]));

    // The process dies (the net is never closed): the next open cuts the zeros, appends go on.
    const reopened = await FileSafetyNet.open({ dir, nowMs: () => t0 + hour });
    assert.equal(statSync(second).size, bytesOf([entry('d', t0 + hour + 1, 'four')]));
    await reopened.keep(entry('e', t0 + hour + 2, 'five'));
    assert.deepEqual((await all(dir)).map((e) => e.id), ['a', 'b', 'c', 'd', 'e']);
    await reopened.close();
    assert.equal(statSync(second).size, bytesOf([entry('d', t0 + hour + 1, 'four'), entry('e', t0 + hour + 2, 'five')]), 'a clean close leaves no zeros');
    await net.close().catch(() => undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
