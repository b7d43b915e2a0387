// Proves per-message prefixes on a real database (files and RocksDB): one content delivered to
// ten mailboxes with commitMany is stored once (one ContentStored, the log grows by about one
// copy), and every read sees prefix + content byte for byte: bytes, sizes, sections, BINARY,
// summaries, search on the prefix's fields, copies, moves and expunges (reference counts).
// Reopening, rebuilding from the log, a passive copy's replay and a log written with the
// MessageAppended v1 codec all give the same state; the codecs' bytes are pinned.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxDatabase } from './database.js';
import { nodeStorage, seededPrng, systemClock } from './io.js';
import { openRocksKv } from './state/rocks.js';
import { canonicalState, emptyState } from './state/model.js';
import { MemoryKv } from './state/kv.js';
import { planTransaction } from './state/plan.js';
import { TransactionLog } from './log/log.js';
import { EventType } from './events/types.js';
import { decodeEvent, encodeRecord } from './events/codec.js';
import * as v1 from './events/v1.js';
import { mixed, plain } from './mime/fixtures.js';
import { summarize } from './mime/parse.js';
import type { TxRequest } from './api.js';
import { commitManyRequestsMax } from './constants.js';

const openAt = (dir: string, role: 'active' | 'passive' = 'active'): Promise<MailboxDatabase> =>
  MailboxDatabase.open({ name: 'DB01', dir, role, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(5), openKv: openRocksKv, diskFreeBytesMin: 0 });
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'));
const prefixFor = (user: number): Uint8Array => bytes(`Return-Path: <sender@example.net>\r\nDelivered-To: user${user}@example.org\r\n`);
const whole = (prefix: Uint8Array, content: Uint8Array): Uint8Array => new Uint8Array(Buffer.concat([prefix, content]));
const users = Array.from({ length: 10 }, (_, i) => i + 1);

/** Runs `body` with a fresh directory, removed afterwards whatever happens. */
async function inTempDir(name: string, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), name));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function createUsers(db: MailboxDatabase): Promise<void> {
  const created = await db.commitMany(users.map((u) => ({ mailboxId: `u${u}`, ops: [{ op: 'createMailbox', address: `user${u}@example.org`, quotaBytes: null }] })));
  assert.ok(created.every((r) => r.ok));
}

const deliveries = (content: Uint8Array): TxRequest[] => users.map((u) => ({ mailboxId: `u${u}`, ops: [{ op: 'append', folder: 'INBOX', content, prefix: prefixFor(u), internalDateMs: 1_700_000_000_000 }] }));

test('one content for ten mailboxes: stored once, each reads back its own prefix + the content', async () => {
  await inTempDir('quire-prefix-', async (dir) => {
    const db = await openAt(dir);
    await createUsers(db);
    const before = db.status().lastLogPosition;
    const results = await db.commitMany(deliveries(mixed));
    assert.ok(results.every((r) => r.ok), JSON.stringify(results));
    const grew = db.status().lastLogPosition - before;
    // One ContentStored (the content deflated, its summary) and ten small MessageAppended records.
    let contentsStored = 0;
    for await (const batch of db.transactionLog().read(before)) {
      for (const record of batch.records) {
        const event = decodeEvent(record.type, record.version, record.payload);
        if (event.type === EventType.ContentStored) contentsStored += 1;
        if (event.type === EventType.MessageAppended) assert.equal(record.version, 2);
      }
    }
    assert.equal(contentsStored, 1);
    assert.equal(db.durableState().contents.size, 1);
    assert.equal(db.durableState().contents.values().next().value!.refs, 10);
    const one = await (async () => {
      const solo = await openAt(join(dir, 'solo'));
      await solo.commit({ mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'user1@example.org', quotaBytes: null }] });
      const at = solo.status().lastLogPosition;
      assert.ok((await solo.commit(deliveries(mixed)[0]!)).ok);
      const bytesOne = solo.status().lastLogPosition - at;
      await solo.close();
      return bytesOne;
    })();
    assert.ok(grew < one * 2, `ten recipients wrote ${grew} bytes of log, one wrote ${one}`);

    for (const u of users) {
      const expected = whole(prefixFor(u), mixed);
      const read = await db.readMessage(`u${u}`, 'INBOX', 1);
      assert.ok(read.ok);
      assert.deepEqual(Buffer.from(read.value), Buffer.from(expected), `user ${u} reads prefix + content`);
      const listed = await db.listMessages(`u${u}`, 'INBOX');
      assert.ok(listed.ok);
      assert.equal(listed.value.messages[0]!.sizeBytes, expected.length);
      assert.equal(listed.value.messages[0]!.prefixBytes, prefixFor(u).length);
      const summaries = await db.summaries(`u${u}`, 'INBOX', [1]);
      assert.ok(summaries.ok);
      assert.deepEqual(summaries.value[0]!.summary, summarize(expected));
      const field = await db.readPart(`u${u}`, 'INBOX', 1, { path: [], specifier: 'HEADER.FIELDS', fields: ['Delivered-To'] });
      assert.ok(field.ok);
      assert.equal(Buffer.from(field.value!).toString(), `Delivered-To: user${u}@example.org\r\n\r\n`);
    }
    const mailbox = await db.mailbox('u3');
    assert.ok(mailbox.ok);
    assert.equal(mailbox.value.usedBytes, prefixFor(3).length + mixed.length, 'quota counts the message as read');

    // Sections and BINARY of one recipient's copy are the whole message's.
    const expected3 = whole(prefixFor(3), mixed);
    const summary3 = summarize(expected3);
    for (const section of [{ path: [], specifier: 'HEADER' as const }, { path: [], specifier: 'TEXT' as const }, { path: [3, 2], specifier: 'MIME' as const }, { path: [2] }, { path: [1, 1, 1] }]) {
      const part = await db.readPart('u3', 'INBOX', 1, section);
      assert.ok(part.ok);
      const range = section.specifier === 'HEADER' ? [0, summary3.body.bodyStart] : null;
      if (range !== null) assert.deepEqual(Buffer.from(part.value!), Buffer.from(expected3.subarray(range[0]!, range[1]!)));
      else assert.ok(part.value !== null && Buffer.from(expected3).includes(Buffer.from(part.value)), JSON.stringify(section));
    }
    const binary = await db.readPart('u3', 'INBOX', 1, { path: [1, 1, 1] }, { binary: true });
    assert.ok(binary.ok && Buffer.from(binary.value!).toString('latin1').includes('Siehe Anhang'));

    // Search sees the prefix's fields (brute force while the index crawls, then the index) and the content's.
    assert.deepEqual(await db.search('u4', 'INBOX', { key: 'header', name: 'Delivered-To', value: 'user4@' }), { ok: true, value: [1] });
    assert.deepEqual(await db.search('u4', 'INBOX', { key: 'not', of: { key: 'text', value: 'user5@' } }), { ok: true, value: [1] });
    await db.startIndexing();
    assert.equal(db.status().searchIndex.state, 'Healthy');
    assert.deepEqual(await db.search('u4', 'INBOX', { key: 'header', name: 'Delivered-To', value: 'user4@' }), { ok: true, value: [1] });
    assert.deepEqual(await db.search('u4', 'INBOX', { key: 'header', name: 'Delivered-To', value: 'user5@' }), { ok: true, value: [] });
    assert.deepEqual(await db.search('u4', 'INBOX', { key: 'not', of: { key: 'header', name: 'Delivered-To', value: '' } }), { ok: true, value: [] });
    assert.deepEqual(await db.search('u4', 'INBOX', { key: 'text', value: 'user4' }), { ok: true, value: [1] });
    assert.deepEqual(await db.search('u4', 'INBOX', { key: 'and', of: [{ key: 'subject', value: 'report' }, { key: 'header', name: 'return-path', value: 'sender@example.net' }] }), { ok: true, value: [1] });

    // A copy and a move keep the prefix; expunges release the shared content only at the last reference.
    assert.ok((await db.commit({ mailboxId: 'u5', ops: [{ op: 'copy', folder: 'INBOX', uids: [1], to: 'Archive' }] })).ok);
    assert.ok((await db.commit({ mailboxId: 'u5', ops: [{ op: 'move', folder: 'Archive', uids: [1], to: 'Junk' }] })).ok);
    const moved = await db.readMessage('u5', 'Junk', 1);
    assert.ok(moved.ok);
    assert.deepEqual(Buffer.from(moved.value), Buffer.from(whole(prefixFor(5), mixed)));
    assert.equal(db.durableState().contents.values().next().value!.refs, 11);

    // Reopen (state store) and rebuild (log from zero) give the same state; so does a passive copy's replay.
    const live = canonicalState(db.durableState());
    const rebuilt = await MailboxDatabase.rebuildFromLog(db.transactionLog(), new MemoryKv());
    assert.equal(canonicalState(rebuilt), live);
    const batches: Array<{ start: number; bytes: Uint8Array }> = [];
    for await (const batch of db.transactionLog().read(0)) batches.push({ start: batch.start, bytes: batch.bytes.slice() });
    await db.close();
    const reopened = await openAt(dir);
    assert.equal(canonicalState(reopened.durableState()), live);
    const again = await reopened.readMessage('u7', 'INBOX', 1);
    assert.ok(again.ok);
    assert.deepEqual(Buffer.from(again.value), Buffer.from(whole(prefixFor(7), mixed)));

    const passive = await openAt(join(dir, 'passive'), 'passive');
    for (const batch of batches) await passive.receiveBatch(batch.bytes, batch.start);
    assert.equal(canonicalState(passive.durableState()), live);
    const replayed = await passive.readMessage('u8', 'INBOX', 1);
    assert.ok(replayed.ok);
    assert.deepEqual(Buffer.from(replayed.value), Buffer.from(whole(prefixFor(8), mixed)));
    await passive.close();

    for (const u of users) assert.ok((await reopened.commit({ mailboxId: `u${u}`, ops: [{ op: 'expunge', folder: 'INBOX', uids: [1] }] })).ok);
    assert.equal(reopened.durableState().contents.size, 1, 'the moved copy still holds the content');
    assert.ok((await reopened.commit({ mailboxId: 'u5', ops: [{ op: 'expunge', folder: 'Junk', uids: [1] }] })).ok);
    assert.equal(reopened.durableState().contents.size, 0);
    await reopened.close();
  });
});

test('a prefix is checked: whole header fields, at most messagePrefixBytesMax; content without a header is stored whole', async () => {
  await inTempDir('quire-prefix-check-', async (dir) => {
    const db = await openAt(dir);
    await createUsers(db);
    const append = (prefix: Uint8Array, content: Uint8Array = plain) => db.commit({ mailboxId: 'u1', ops: [{ op: 'append', folder: 'INBOX', content, prefix }] });
    const code = (r: Awaited<ReturnType<typeof append>>): string => (r.ok ? 'ok' : r.code);
    assert.equal(code(await append(bytes('Delivered-To: a@b\n'))), 'INVALID_ARGUMENT', 'bare LF');
    assert.equal(code(await append(bytes('not a field\r\n'))), 'INVALID_ARGUMENT');
    assert.equal(code(await append(bytes('X: y\r\n\r\n'))), 'INVALID_ARGUMENT', 'a blank line ends a header: not in a prefix');
    const field = (total: number): Uint8Array => bytes(`X-Pad: ${'a'.repeat(total - 9)}\r\n`);
    assert.equal(field(4096).length, 4096);
    assert.equal(code(await append(field(4096))), 'ok', 'at the limit');
    assert.equal(code(await append(field(4097))), 'LIMIT', 'limit + 1');
    assert.equal(code(await append(bytes('X-Folded: a\r\n b\r\n'))), 'ok', 'folded fields');
    // Content that starts with a blank line or a fold cannot carry a prefix: stored whole, read the same.
    const headless = bytes('\r\njust a body\r\n');
    assert.equal(code(await append(prefixFor(1), headless)), 'ok');
    const listed = await db.listMessages('u1', 'INBOX');
    assert.ok(listed.ok);
    const last = listed.value.messages.at(-1)!;
    assert.equal(last.prefixBytes, undefined);
    const read = await db.readMessage('u1', 'INBOX', last.uid);
    assert.ok(read.ok);
    assert.deepEqual(Buffer.from(read.value), Buffer.from(whole(prefixFor(1), headless)));
    await db.close();
  });
});

test('a log written with the v1 MessageAppended codec replays and reads as before', async () => {
  await inTempDir('quire-prefix-v1-', async (dir) => {
    // Plan as the engine did before prefixes, and write every record with codec v1.
    const head = emptyState();
    const context = { clock: systemClock(), prng: seededPrng(9) };
    const log = await TransactionLog.open({ dir: join(dir, 'log'), storage: nodeStorage(), clock: systemClock() });
    for (const request of [
      { mailboxId: 'u1', ops: [{ op: 'createMailbox', address: 'user1@example.org', quotaBytes: null }] },
      { mailboxId: 'u1', ops: [{ op: 'append', folder: 'INBOX', content: mixed }, { op: 'append', folder: 'INBOX', content: plain }] },
    ] as TxRequest[]) {
      const plan = planTransaction(head, request, context);
      assert.ok(plan.ok);
      await log.append(plan.value.events.map((event) => ({ type: event.type, version: v1.codecVersion, payload: v1.encodeEvent(event) })));
    }
    await log.close();
    const db = await openAt(dir);
    const read = await db.readMessage('u1', 'INBOX', 1);
    assert.ok(read.ok);
    assert.deepEqual(Buffer.from(read.value), Buffer.from(mixed));
    const listed = await db.listMessages('u1', 'INBOX');
    assert.ok(listed.ok);
    assert.deepEqual(listed.value.messages.map((m) => [m.sizeBytes, m.prefixBytes]), [[mixed.length, undefined], [plain.length, undefined]]);
    // New appends after the old records are v2, with a prefix, in the same log.
    assert.ok((await db.commit({ mailboxId: 'u1', ops: [{ op: 'append', folder: 'INBOX', content: mixed, prefix: prefixFor(1) }] })).ok);
    assert.equal(db.durableState().contents.size, 2, 'the prefixed message shares the content the v1 record stored');
    const rebuilt = await MailboxDatabase.rebuildFromLog(db.transactionLog(), new MemoryKv());
    assert.equal(canonicalState(rebuilt), canonicalState(db.durableState()));
    await db.close();
  });
});

test('codec: MessageAppended v1 golden bytes decode; v2 carries the prefix raw after the JSON', () => {
  // A v1 record payload as the engine wrote it before prefixes (u32 LE JSON length, JSON, nothing after).
  const json = '{"mailboxId":"u1","folderId":1,"uid":1,"modseq":7,"emailId":"Mabc","threadId":"Tabc","hash":"00ff","sizeBytes":12,"internalDateMs":5,"flags":["\\\\Seen"]}';
  const golden = Buffer.concat([Buffer.from([json.length, 0, 0, 0]), Buffer.from(json)]);
  const event = decodeEvent(EventType.MessageAppended, 1, new Uint8Array(golden));
  assert.deepEqual(event, { type: EventType.MessageAppended, mailboxId: 'u1', folderId: 1, uid: 1, modseq: 7, emailId: 'Mabc', threadId: 'Tabc', hash: '00ff', sizeBytes: 12, internalDateMs: 5, flags: ['\\Seen'] });
  const prefix = bytes('Delivered-To: x@y\r\n');
  const encoded = encodeRecord({ ...event, sizeBytes: 12 + prefix.length, prefix } as typeof event);
  assert.equal(encoded.version, 2);
  assert.deepEqual(Buffer.from(encoded.payload.subarray(encoded.payload.length - prefix.length)), Buffer.from(prefix));
  assert.deepEqual(decodeEvent(encoded.type, encoded.version, encoded.payload), { ...event, sizeBytes: 12 + prefix.length, prefix });
  assert.throws(() => v1.encodeEvent({ ...event, prefix } as typeof event), /codec v2/);
  assert.throws(() => decodeEvent(EventType.FlagsSet, 2, encoded.payload), /not readable/);
});

test('codec: ContentStored writes its summary as the JSON it was sized with, byte for byte the documented layout', () => {
  const summary = summarize(mixed);
  const data = bytes('raw content');
  const event = { type: EventType.ContentStored, hash: '00ff', sizeBytes: data.length, compression: 'none', data, summary } as const;
  const encoded = encodeRecord(event);
  // u32 LE length, JSON of the event without type and data, the raw bytes.
  const json = Buffer.from(JSON.stringify({ hash: '00ff', sizeBytes: data.length, compression: 'none', summary }));
  assert.deepEqual(Buffer.from(encoded.payload), Buffer.concat([Buffer.from([json.length & 0xff, json.length >> 8, 0, 0]), json, Buffer.from(data)]));
  assert.equal(v1.summaryJson(summary), JSON.stringify(summary));
  assert.deepEqual(decodeEvent(encoded.type, encoded.version, encoded.payload), { ...event, summary: JSON.parse(JSON.stringify(summary)) });
});

test('a prefix never changes how the content reads: fields the summary reads are refused, a header with no room for the prefix is stored whole', async () => {
  await inTempDir('quire-prefix-summary-', async (dir) => {
    const db = await openAt(dir);
    await createUsers(db);
    const prefix = prefixFor(1);
    const appended = async (prefixBytes: Uint8Array, content: Uint8Array) => {
      const r = await db.commit({ mailboxId: 'u1', ops: [{ op: 'append', folder: 'INBOX', content, prefix: prefixBytes }] });
      if (!r.ok) return r.code;
      const uid = (r.value.results[0] as { uid: number }).uid;
      const read = await db.readMessage('u1', 'INBOX', uid);
      const summaries = await db.summaries('u1', 'INBOX', [uid]);
      assert.ok(read.ok && summaries.ok);
      // What every reader sees: the summary of the bytes it reads, whatever was kept apart.
      assert.deepEqual(summaries.value[0]!.summary, summarize(read.value));
      assert.deepEqual(Buffer.from(read.value), Buffer.from(whole(prefixBytes, content)));
      return 'ok';
    };
    // A prefix holding a field the summary reads would change the envelope, structure or thread: refused.
    for (const field of ['Subject: injected', 'From: <a@b>', 'Message-ID: <x@y>', 'Content-Type: text/html', 'content-transfer-encoding: base64', 'References: <r@s>']) {
      assert.equal(await appended(bytes(`${field}\r\n`), plain), 'INVALID_ARGUMENT', field);
    }
    // A content header that fills headerFieldsMax or headerBytesMax: the whole message's parse
    // would drop its last fields behind the prefix, so the message is stored whole.
    const manyFields = bytes(`${Array.from({ length: 999 }, (_, i) => `X-F${i}: v`).join('\r\n')}\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n`);
    assert.equal(await appended(prefix, manyFields), 'ok');
    const longHeader = bytes(`X-Long: ${'a'.repeat(256 * 1024 - 40)}\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n`);
    assert.equal(await appended(prefix, longHeader), 'ok');
    assert.equal(await appended(prefix, plain), 'ok', 'trace fields over an ordinary content');
    await db.close();
  });
});

test('a commitMany larger than one batch (a content each recipient stores whole) is appended in several batches, each transaction whole in one', { timeout: 300_000 }, async () => {
  await inTempDir('quire-prefix-many-', async (dir) => {
    const db = await openAt(dir);
    await createUsers(db);
    // A header with no room for a prefix (headerFieldsMax fields): every recipient's copy is
    // stored whole, so eight recipients of a 12 MiB incompressible message need 96 MiB of log,
    // more than one batch (batchBytesMax) holds.
    const header = `${Array.from({ length: 999 }, (_, i) => `X-F${i}: v`).join('\r\n')}\r\nSubject: big\r\n\r\n`;
    const content = new Uint8Array(Buffer.concat([Buffer.from(header), seededPrng(3).bytes(12 * 1024 * 1024)]));
    const eight = deliveries(content).slice(0, 8);
    const results = await db.commitMany(eight);
    assert.deepEqual(results.map((r) => (r.ok ? 'ok' : r.code)), eight.map(() => 'ok'));
    assert.equal(db.durableState().contents.size, 8, 'each recipient stored whole');
    for (const u of users.slice(0, 8)) {
      const read = await db.readMessage(`u${u}`, 'INBOX', 1);
      assert.ok(read.ok, read.ok ? '' : read.message);
      assert.deepEqual(Buffer.from(read.value), Buffer.from(whole(prefixFor(u), content)));
    }
    assert.ok((await db.commit({ mailboxId: 'u9', ops: [{ op: 'append', folder: 'INBOX', content: plain }] })).ok, 'the database still takes writes');
    const live = canonicalState(db.durableState());
    await db.close();
    const reopened = await openAt(dir);
    assert.equal(canonicalState(reopened.durableState()), live);
    await reopened.close();
  });
});

test('commitMany takes commitManyRequestsMax requests; one more is refused whole with LIMIT', async () => {
  await inTempDir('quire-prefix-limit-', async (dir) => {
    const db = await openAt(dir);
    await createUsers(db);
    const subscribes = (n: number): TxRequest[] => Array.from({ length: n }, (_, i) => ({ mailboxId: `u${(i % users.length) + 1}`, ops: [{ op: 'subscribe', name: `F${i}`, subscribed: true }] }));
    const atLimit = await db.commitMany(subscribes(commitManyRequestsMax));
    assert.equal(atLimit.length, commitManyRequestsMax);
    assert.ok(atLimit.every((r) => r.ok), JSON.stringify(atLimit.find((r) => !r.ok)));
    const before = db.status().lastLogPosition;
    const over = await db.commitMany(subscribes(commitManyRequestsMax + 1));
    assert.equal(over.length, commitManyRequestsMax + 1);
    assert.ok(over.every((r) => !r.ok && r.code === 'LIMIT'));
    assert.equal(db.status().lastLogPosition, before, 'nothing of a refused commitMany is logged');
    await db.close();
  });
});
