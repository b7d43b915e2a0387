// Proves content search: the brute-force matcher's semantics (RFC 9051 6.4.4 text keys,
// case-insensitive over Unicode, decoded text), and that the index gives exactly the
// brute-force results on a generated corpus of varied messages and queries — through the
// crawl, the feed from durable batches, copies and expunges, and restarts that resume from the
// persisted snapshot (current, older than the state, damaged). SEARCH_SEED=n replays one run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxDatabase } from '../database.js';
import { nodeStorage, seededPrng, systemClock, type Clock } from '../io.js';
import { openRocksKv } from '../state/rocks.js';
import { begin } from '../api.js';
import { summarize } from '../mime/parse.js';
import { alternative, mixed, plain } from '../mime/fixtures.js';
import { criteriaNodesMax, searchValueCharsMax } from './constants.js';
import { generateCriterion, generateMessage } from './corpus.js';
import { fold, matches, searchText, type SearchText } from './text.js';
import type { ContentCriterion } from './types.js';
import { ContentIndex } from './index.js';
import { crc32c } from '../checksum.js';

const seed = Number(process.env.SEARCH_SEED ?? 8);

/** The system clock, whose yields (the indexer's slices wait on them) can be held: the backlog then stays until released. */
function holdableClock(): { clock: Clock; hold(): void; release(): void } {
  const system = systemClock();
  let held: Array<() => void> | null = null;
  return {
    clock: { ...system, sleep: (ms) => (held === null ? system.sleep(ms) : new Promise<void>((resolve) => held!.push(resolve))) },
    hold: () => void (held ??= []),
    release: () => {
      const waiting = held ?? [];
      held = null;
      for (const resolve of waiting) resolve();
    },
  };
}

test('brute force: text keys over decoded text, case-insensitive, HEADER presence', () => {
  const [alt, mix, pln] = [alternative, mixed, plain].map((bytes) => searchText(bytes, summarize(bytes)));
  const yes = (text: SearchText, criterion: ContentCriterion): void => assert.equal(matches(text, criterion), true, JSON.stringify(criterion));
  const no = (text: SearchText, criterion: ContentCriterion): void => assert.equal(matches(text, criterion), false, JSON.stringify(criterion));
  yes(alt!, { key: 'body', value: 'GRÜSSE bob' }); // quoted-printable UTF-8, ß folds to ss, case ignored
  yes(alt!, { key: 'body', value: 'Zeilenumbruch' }); // a soft line break joined the word
  no(alt!, { key: 'body', value: 'Renée' }); // a header word is not in the body...
  yes(alt!, { key: 'text', value: 'renée' }); // ...but in TEXT, decoded from RFC 2047
  yes(alt!, { key: 'subject', value: 'MÜNCHEN UND' });
  yes(alt!, { key: 'from', value: 'alice@example.org' });
  yes(alt!, { key: 'cc', value: 'eve' });
  no(alt!, { key: 'bcc', value: '' }); // no Bcc field: even the empty string does not match
  yes(alt!, { key: 'header', name: 'Message-ID', value: '' });
  yes(alt!, { key: 'header', name: 'references', value: 'root@example' });
  no(alt!, { key: 'header', name: 'X-Missing', value: '' });
  yes(mix!, { key: 'body', value: 'schöne grüße' }); // ISO-8859-1 quoted-printable
  yes(mix!, { key: 'body', value: 'Siehe Anhang' }); // the HTML part, as text
  yes(mix!, { key: 'body', value: 'original body' }); // the forwarded message's text...
  yes(mix!, { key: 'body', value: 'Subject: Original' }); // ...and its header fields
  yes(mix!, { key: 'body', value: 'notes' }); // a text attachment
  no(mix!, { key: 'body', value: 'PDF-1.4' }); // not a binary one
  yes(pln!, { key: 'body', value: 'one line two' }); // line breaks are whitespace
  yes(pln!, { key: 'and', of: [{ key: 'subject', value: 'cron' }, { key: 'not', of: { key: 'body', value: 'three' } }] });
  yes(pln!, { key: 'or', of: [{ key: 'subject', value: 'nothing' }, { key: 'from', value: 'ROOT' }] });
  assert.equal(fold('Straße ＡＢＣ  Ⅻ\r\n ﬁ'), 'strasse abc xii fi');
});

test('index: adjacent pairs from different places do not make a phrase; one and two runs are exact', () => {
  const index = new ContentIndex();
  const doc = (body: string): SearchText => ({ headers: [['subject', 'x']], body });
  index.add('d1', doc('alpha beta. beta gamma'), 1);
  index.add('d2', doc('alpha beta gamma'), 1);
  index.add('d3', doc('東京都 don\'t'), 1);
  const ask = (value: string): Array<boolean | null> => index.evaluate({ key: 'body', value }, ['d1', 'd2', 'd3']);
  assert.deepEqual(ask('alpha beta gamma'), [null, null, false]); // three runs: candidates, verified later
  assert.deepEqual(ask('ta gam'), [true, true, false]); // two runs: exact
  assert.deepEqual(ask('beta. beta'), [true, false, false]);
  assert.deepEqual(ask('beta. '), [null, null, false]); // a separator at an end: verified
  assert.deepEqual(ask('京都'), [false, false, true]); // inside a run that Intl.Segmenter would split
  assert.deepEqual(ask("n't"), [false, false, true]);
  assert.deepEqual(ask('ALPHA'), [true, true, false]);
  assert.deepEqual(index.evaluate({ key: 'not', of: { key: 'body', value: 'alpha beta gamma' } }, ['d1', 'd2', 'd3', 'unindexed']), [null, null, true, null]);
});

test('a snapshot encoded in slices while documents are indexed and forgotten resumes to exactly a fresh rebuild', async () => {
  const prng = seededPrng(seed);
  const texts = new Map<string, { text: SearchText; size: number }>();
  const message = (k: number): string => {
    const bytes = generateMessage(prng, k, 30);
    texts.set(`c${k}`, { text: searchText(bytes, summarize(bytes)), size: bytes.length });
    return `c${k}`;
  };
  const build = (hashes: readonly string[]): ContentIndex => {
    const index = new ContentIndex();
    for (const hash of hashes) index.add(hash, texts.get(hash)!.text, texts.get(hash)!.size);
    return index;
  };
  const same = (a: Uint8Array, b: Uint8Array, what: string): void => assert.ok(Buffer.from(a).equals(Buffer.from(b)), what);
  // Without forgotten documents (postings written as held) and with some (compacted, renumbered).
  for (const forgottenBefore of [0, 15]) {
    let k = 0;
    const start = Array.from({ length: 150 }, () => message(k++));
    const index = build(start);
    for (const hash of start.slice(0, forgottenBefore)) index.remove(hash);
    const covered = start.slice(forgottenBefore);
    // Slices of 0 ms: it yields at every step, and each turn of the event loop indexes a new
    // message (sharing words with the covered ones, so their postings grow in place) and forgets a covered one.
    let encoding = true;
    const encoded = index.encodeSliced(42, crc32c, 0).finally(() => (encoding = false));
    const added: string[] = [];
    const forgotten: string[] = [];
    while (encoding) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!encoding) break;
      const hash = message(k++);
      index.add(hash, texts.get(hash)!.text, texts.get(hash)!.size);
      added.push(hash);
      if (forgotten.length < covered.length / 2) {
        forgotten.push(covered[forgotten.length * 2]!);
        index.remove(forgotten[forgotten.length - 1]!);
      }
    }
    const bytes = await encoded;
    assert.ok(added.length >= 10, `documents changed during the encode: ${added.length}`);
    // The snapshot is the index as it was when the encode began...
    same(bytes, build(covered).encode(42, crc32c), 'the sliced snapshot is a rebuild of what it covers');
    // ...and resuming from it (forget what is gone, index what is new) gives exactly a fresh rebuild of the index now.
    const resumed = ContentIndex.decode(bytes, crc32c);
    assert.equal(resumed.position, 42);
    for (const hash of forgotten) resumed.index.remove(hash);
    for (const hash of added) resumed.index.add(hash, texts.get(hash)!.text, texts.get(hash)!.size);
    const now = [...covered.filter((hash) => !forgotten.includes(hash)), ...added];
    same(resumed.index.encode(7, crc32c), build(now).encode(7, crc32c), 'the resumed index is a fresh rebuild');
    same(index.encode(7, crc32c), build(now).encode(7, crc32c), 'the live index is a fresh rebuild');
  }
});

test('search limits: criteria nodes and string length, at the limit and one past it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-search-limits-'));
  try {
    const db = await MailboxDatabase.open({ name: 'DB01', dir, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(1), openKv: openRocksKv });
    assert.ok((await db.commit({ mailboxId: 'u', ops: [{ op: 'createMailbox', address: 'u@example.org', quotaBytes: null }] })).ok);
    assert.ok((await begin(db, 'u').append('INBOX', plain).commit()).ok);
    const leaves = (n: number): ContentCriterion => ({ key: 'or', of: Array.from({ length: n }, () => ({ key: 'body' as const, value: 'line' })) });
    assert.deepEqual(await db.search('u', 'INBOX', leaves(criteriaNodesMax - 1)), { ok: true, value: [1] });
    assert.equal((await db.search('u', 'INBOX', leaves(criteriaNodesMax))).ok, false);
    assert.deepEqual(await db.search('u', 'INBOX', { key: 'body', value: 'x'.repeat(searchValueCharsMax) }), { ok: true, value: [] });
    const over = await db.search('u', 'INBOX', { key: 'body', value: 'x'.repeat(searchValueCharsMax + 1) });
    assert.equal(over.ok ? 'ok' : over.code, 'LIMIT');
    const bad = await db.search('u', 'INBOX', { key: 'nonsense', value: 'x' } as unknown as ContentCriterion);
    assert.equal(bad.ok ? 'ok' : bad.code, 'INVALID_ARGUMENT');
    assert.equal((await db.search('u', 'Nope', { key: 'body', value: 'x' })).ok, false);
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`the index gives exactly the brute-force results on a generated corpus (SEARCH_SEED=${seed})`, { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-search-'));
  const prng = seededPrng(seed);
  const yields = holdableClock();
  // A small in-memory backlog (most new contents are read back from the store) and small slices, interleaved with the searches.
  const indexing = { backlogBytesMax: 20_000, sliceDocumentsMax: 3 };
  try {
    let db = await MailboxDatabase.open({ name: 'DB01', dir, storage: nodeStorage(), clock: yields.clock, prng: seededPrng(seed), openKv: openRocksKv, indexing });
    assert.ok((await db.commit({ mailboxId: 'u', ops: [{ op: 'createMailbox', address: 'u@example.org', quotaBytes: null }] })).ok);
    const appendMany = async (from: number, count: number): Promise<void> => {
      for (let n = from; n < from + count; n += 25) {
        const tx = begin(db, 'u');
        for (let k = n; k < Math.min(from + count, n + 25); k++) tx.append('INBOX', generateMessage(prng, k, 30));
        assert.ok((await tx.commit()).ok);
      }
    };
    await appendMany(0, 250);

    // The reference: every message matched by brute force, from its stored bytes.
    const texts = new Map<number, SearchText>(); // by UID: a UID's content never changes
    const reference = async (criterion: ContentCriterion, uids?: readonly number[]): Promise<number[]> => {
      const listing = await db.listMessages('u', 'INBOX');
      assert.ok(listing.ok);
      const out: number[] = [];
      for (const m of listing.value.messages) {
        if (uids !== undefined && !uids.includes(m.uid)) continue;
        let text = texts.get(m.uid);
        if (text === undefined) {
          const bytes = await db.readMessage('u', 'INBOX', m.uid);
          assert.ok(bytes.ok);
          texts.set(m.uid, (text = searchText(bytes.value, summarize(bytes.value))));
        }
        if (matches(text, criterion)) out.push(m.uid);
      }
      return out;
    };
    const samples: string[] = [];
    for (const uid of [1, 50, 100, 150, 200]) {
      const bytes = await db.readMessage('u', 'INBOX', uid);
      assert.ok(bytes.ok);
      const text = searchText(bytes.value, summarize(bytes.value));
      samples.push(text.body, text.headers.map(([n, v]) => `${n}: ${v}`).join('\n'));
    }
    let nonEmpty = 0;
    let partial = 0;
    const check = async (rounds: number, uids?: readonly number[]): Promise<void> => {
      for (let i = 0; i < rounds; i++) {
        const criterion = generateCriterion(prng, samples);
        const expected = await reference(criterion, uids);
        const got = await db.search('u', 'INBOX', criterion, uids === undefined ? {} : { uids });
        assert.ok(got.ok);
        assert.deepEqual(got.value, expected, `SEARCH_SEED=${seed}: ${JSON.stringify(criterion)}`);
        if (expected.length > 0) nonEmpty++;
        if (expected.length > 0 && expected.length < 250) partial++;
      }
    };

    assert.equal(db.status().searchIndex.state, 'Crawling');
    await check(40); // before the index exists: brute force
    await db.startIndexing();
    let status = db.status().searchIndex;
    assert.deepEqual([status.state, status.documents], ['Healthy', db.durableState().contents.size]);
    await check(300);

    // Fed from durable batches: new contents, copies, expunges. Held in the backlog first (its
    // yields held): searches are exact with contents not indexed, then while the slices run between them.
    yields.hold();
    await appendMany(250, 60);
    assert.ok((await begin(db, 'u').copy('INBOX', [3, 4, 5], 'Archive').expunge('INBOX', [1, 2, 3, 100, 260]).commit()).ok);
    status = db.status().searchIndex;
    assert.equal(status.backlogDocuments, 59); // 60 new, one expunged before it was indexed
    assert.ok(status.backlogUnread > 0 && status.backlogBytes > 0 && status.backlogBytes <= indexing.backlogBytesMax, JSON.stringify(status));
    assert.equal(status.documentsTotal, db.durableState().contents.size);
    await check(40, Array.from({ length: 30 }, (_, k) => 252 + 2 * k)); // even new UIDs only: the odd ones stay in the backlog
    status = db.status().searchIndex;
    assert.ok(status.backlogDocuments >= 29 && status.backlogDocuments < 59, `searched contents leave the backlog: ${status.backlogDocuments}`);
    await check(40, Array.from({ length: 90 }, (_, k) => 221 + k)); // old, indexed, searched, and still waiting
    yields.release();
    await check(60); // slices of 3 documents run between the searches
    await db.indexSettled();
    await check(100);
    status = db.status().searchIndex;
    assert.deepEqual([status.backlogDocuments, status.backlogBytes, status.lagMs], [0, 0, 0]);
    assert.deepEqual([status.state, status.documents], ['Healthy', db.durableState().contents.size]);
    assert.ok(status.bytes > 0 && status.contentBytes > 0);
    const archived = await db.search('u', 'Archive', { key: 'header', name: 'message-id', value: 'gen.3@' });
    assert.deepEqual(archived, { ok: true, value: [2] }); // INBOX UID 4 (gen.3), copied second
    const limited = await db.search('u', 'INBOX', { key: 'header', name: 'message-id', value: '' }, { uids: [4, 5, 999] });
    assert.deepEqual(limited, { ok: true, value: [4, 5] });
    assert.ok(nonEmpty > 150 && partial > 100, `the queries must be selective (non-empty ${nonEmpty}, partial ${partial})`);
    await db.close();

    // Restarts: the index resumes from its snapshot (written at close) instead of crawling again.
    const snapshot = join(dir, 'search', 'index.qsi');
    const reopen = async (): Promise<MailboxDatabase> => {
      const again = await MailboxDatabase.open({ name: 'DB01', dir, storage: nodeStorage(), clock: yields.clock, prng: seededPrng(seed + 1), openKv: openRocksKv, indexing });
      await again.startIndexing();
      const s = again.status().searchIndex;
      assert.deepEqual([s.state, s.documents], ['Healthy', again.durableState().contents.size]);
      return again;
    };
    db = await reopen();
    assert.equal(db.status().searchIndex.documentsLoaded, db.durableState().contents.size);
    await check(60);
    // A snapshot older than the state (a crash before the next one): stale documents forgotten, new ones caught up.
    const older = readFileSync(snapshot);
    await appendMany(310, 40);
    assert.ok((await begin(db, 'u').expunge('INBOX', [4, 5, 6, 7, 290]).commit()).ok);
    await db.indexSettled();
    await db.close();
    writeFileSync(snapshot, older);
    db = await reopen();
    const resumed = db.status().searchIndex;
    assert.ok(resumed.documentsLoaded > 200 && resumed.documentsLoaded < resumed.documents + 5, `resumed with ${resumed.documentsLoaded} of ${resumed.documents}`);
    await check(60);
    await db.close();
    // A damaged snapshot is thrown away and the index crawled again.
    const damaged = readFileSync(snapshot);
    damaged[damaged.length >> 1] ^= 0x40;
    writeFileSync(snapshot, damaged);
    db = await reopen();
    assert.equal(db.status().searchIndex.documentsLoaded, 0);
    await check(40);
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a passive copy indexes what it replayed once replay is quiet, exact meanwhile; promoted, it catches up at once; it resumes from its own snapshot', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'quire-search-passive-'));
  const prng = seededPrng(seed + 7);
  const open = (name: string, role: 'active' | 'passive', idleMs: number) =>
    MailboxDatabase.open({ name: 'DB01', dir: join(root, name), role, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(seed), openKv: openRocksKv, indexing: { idleMs, lagMsMax: 600_000 } });
  try {
    const active = await open('active', 'active', 0);
    // Replay is never quiet for long enough here: nothing is indexed until the promotion.
    let passive = await open('passive', 'passive', 600_000);
    await passive.startIndexing();
    assert.ok((await active.commit({ mailboxId: 'u', ops: [{ op: 'createMailbox', address: 'u@example.org', quotaBytes: null }] })).ok);
    const appendMany = async (from: number, count: number): Promise<void> => {
      for (let n = from; n < from + count; n += 20) {
        const tx = begin(active, 'u');
        for (let k = n; k < n + 20; k++) tx.append('INBOX', generateMessage(prng, k, 30));
        assert.ok((await tx.commit()).ok);
      }
    };
    await appendMany(0, 60);
    assert.ok((await begin(active, 'u').expunge('INBOX', [1, 2, 3]).commit()).ok);
    const ship = async (): Promise<void> => {
      for await (const batch of active.transactionLog().read(passive.status().lastLogPosition)) await passive.receiveBatch(batch.bytes, batch.start);
    };
    await ship();
    await new Promise((resolve) => setTimeout(resolve, 20));
    let status = passive.status().searchIndex;
    assert.deepEqual([status.state, status.mode, status.documents, status.backlogDocuments, status.documentsTotal], ['Healthy', 'idle', 0, 57, 57]);
    assert.ok(status.lagMs >= 20, `lag ${status.lagMs}`);
    const same = async (db: MailboxDatabase, uids?: readonly number[]): Promise<void> => {
      for (const value of ['quarterly', 'gen.10@', 'budget report', 'Straße', 'ﬁle']) {
        const criterion: ContentCriterion = { key: 'text', value };
        const options = uids === undefined ? {} : { uids };
        assert.deepEqual(await db.search('u', 'INBOX', criterion, options), await active.search('u', 'INBOX', criterion, options), value);
      }
    };
    await same(passive, [4, 5, 6, 7, 8, 9, 10]); // exact with the backlog; what a search verified is indexed
    status = passive.status().searchIndex;
    assert.deepEqual([status.documents, status.backlogDocuments], [7, 50]);
    // Promoted: live, and the backlog is indexed in slices.
    await passive.promote();
    await passive.indexSettled();
    status = passive.status().searchIndex;
    assert.deepEqual([status.mode, status.documents, status.backlogDocuments, status.lagMs], ['live', 57, 0, 0]);
    await same(passive);
    await passive.close();

    // A passive copy with a short idle time indexes once replay pauses, and resumes from its own snapshot.
    passive = await open('passive', 'passive', 50);
    await passive.startIndexing();
    status = passive.status().searchIndex;
    assert.deepEqual([status.state, status.documents, status.documentsLoaded], ['Healthy', 57, 57]);
    await appendMany(60, 40);
    await ship();
    assert.equal(passive.status().searchIndex.backlogDocuments, 40);
    await passive.indexSettled(); // 50 ms after the last batch
    status = passive.status().searchIndex;
    assert.deepEqual([status.mode, status.documents, status.backlogDocuments], ['idle', 97, 0]);
    await same(passive);
    await passive.close();
    await active.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
