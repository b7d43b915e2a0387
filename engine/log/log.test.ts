// Proves the group commit pipeline of the transaction log on the simulated disk: callers are
// answered in log order and only after their batch is durable, marked durable (by the next
// batch's durable mark or the flush map) and handed to onDurable; a large group is split so its
// halves overlap, without ever reordering; an answered batch damaged later is refused at open
// even when only a later batch's mark says it was synced; a failed sync fails its batch and
// every later one and the log refuses further writes; and everything reads back byte for byte
// across segment rolls. A passive copy appending received batches takes its durable marks from
// them (no flush map per batch) and keeps the same recovery rule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransactionLog, type DurableBatch } from './log.js';
import { SimStorage } from '../sim/storage.js';
import { VirtualClock } from '../sim/clock.js';
import { seededPrng } from '../io.js';
import { batchSplitBytesMin, passiveMarkIdleMs } from '../constants.js';

const dir = '/db/log';

function record(n: number, bytes = 40): { type: number; version: number; payload: Uint8Array } {
  const payload = new Uint8Array(bytes);
  new DataView(payload.buffer).setUint32(0, n, true);
  payload.fill(n & 0xff, 4);
  return { type: 1, version: 1, payload };
}

async function openLog(storage: SimStorage, onDurable?: (batch: DurableBatch) => Promise<void> | void, segmentBytesMax?: number) {
  return TransactionLog.open({
    dir,
    storage,
    clock: new VirtualClock(0),
    ...(onDurable === undefined ? {} : { onDurable }),
    ...(segmentBytesMax === undefined ? {} : { segmentBytesMax }),
  });
}

test('answers in log order, only after the batch is durable and applied; reads back across segments', async () => {
  const storage = new SimStorage(seededPrng(1));
  const applied: Array<{ start: number; end: number; tags: unknown[] }> = [];
  let applying = false;
  const log = await openLog(
    storage,
    async (batch) => {
      assert.equal(applying, false, 'onDurable runs one batch at a time');
      applying = true;
      // onDurable gets the exact bytes the disk holds, already synced.
      const durable = storage.durableBytes(`${dir}/${'0'.repeat(20)}.qlog`);
      assert.ok(durable !== null);
      await Promise.resolve();
      applied.push({ start: batch.start, end: batch.end, tags: batch.appends.map((a) => a.tag) });
      applying = false;
    },
    4096,
  );
  const answered: number[] = [];
  const appends: Array<Promise<unknown>> = [];
  for (let wave = 0; wave < 20; wave++) {
    for (let i = 0; i < 7; i++) {
      const n = wave * 7 + i;
      appends.push(
        log.append([record(n), record(n + 1000)], n).then((result) => {
          // Its batch went through onDurable before the caller hears of it.
          assert.ok(applied.some((b) => b.tags.includes(n) && b.end === result.end));
          answered.push(n);
        }),
      );
    }
    await Promise.resolve();
  }
  await Promise.all(appends);
  assert.deepEqual(answered, [...answered].sort((a, b) => a - b), 'answered in append order');
  for (let i = 1; i < applied.length; i++) assert.equal(applied[i]!.start, applied[i - 1]!.end, 'batches applied back to back, in order');
  assert.ok(applied.length > 1 && applied.length < 140, `grouped into ${applied.length} batches`);
  const end = log.end;
  await log.close();

  const reopened = await openLog(storage);
  assert.equal(reopened.end, end);
  const seen: number[] = [];
  for await (const batch of reopened.read(0)) {
    for (const r of batch.records) seen.push(new DataView(r.payload.buffer, r.payload.byteOffset).getUint32(0, true));
  }
  const expected = answered.flatMap((n) => [n, n + 1000]);
  assert.deepEqual(seen, expected);
  assert.ok(storage.paths().filter((p) => p.endsWith('.qlog')).length > 1, 'segments rolled');
  await reopened.close();
});

test('a large group is split so two batches are in flight; each keeps its callers whole', async () => {
  const storage = new SimStorage(seededPrng(2));
  const batches: Array<{ start: number; end: number; appends: number }> = [];
  const log = await openLog(storage, (batch) => {
    batches.push({ start: batch.start, end: batch.end, appends: batch.appends.length });
  });
  const recordBytes = 64 * 1024;
  const count = Math.ceil((2 * batchSplitBytesMin) / recordBytes);
  await Promise.all(Array.from({ length: count }, (_, n) => log.append([record(n, recordBytes)])));
  assert.ok(batches.length >= 2, `split into ${batches.length} batches`);
  assert.equal(batches.reduce((sum, b) => sum + b.appends, 0), count);
  assert.ok(batches[0]!.appends < count, 'the first batch took part of the group');
  await log.close();
});

test('a failed sync fails its batch and every later one; the log then refuses writes', async () => {
  const storage = new SimStorage(seededPrng(3));
  const log = await openLog(storage);
  await log.append([record(1)]);
  const endBefore = log.end;
  // The next I/O calls are: write (batch A), write (batch B) or sync (A)... fail the sync of A.
  storage.failAfterOps(2);
  const first = log.append([record(2)]);
  await Promise.resolve();
  await Promise.resolve();
  const results = await Promise.allSettled([first, log.append([record(3)]), log.append([record(4)])]);
  assert.ok(results.every((r) => r.status === 'rejected'), JSON.stringify(results.map((r) => r.status)));
  assert.equal(log.end, endBefore, 'nothing after the failure counts as durable');
  await assert.rejects(log.append([record(5)]));
});

test('a batch waiting for the next one to carry its durable mark fails, never hangs, when that batch\'s sync fails', async () => {
  const storage = new SimStorage(seededPrng(14));
  const log = await openLog(storage);
  await log.append([record(1)]);
  const endBefore = log.end;
  // I/O calls from here: write A, sync A, write B (carrying A's mark), sync B: fail that one.
  storage.failAfterOps(3);
  const a = log.append([record(2)]);
  await Promise.resolve();
  const b = log.append([record(3)]);
  const results = await Promise.allSettled([a, b]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  assert.ok(log.end > endBefore, 'A itself was synced');
  await assert.rejects(log.append([record(4)]));
});

/** A Prng that answers `below` from a script, to aim SimStorage.flipBit at one byte. */
function aimed(...answers: number[]) {
  const prng = seededPrng(9);
  return { ...prng, below: (bound: number) => Math.min(answers.shift() ?? 0, bound - 1) };
}

test('after a dirty shutdown, a flipped bit in the last acknowledged batch is corruption; a torn unacknowledged one is cut', async () => {
  const storage = new SimStorage(seededPrng(4));
  const log = await openLog(storage);
  let lastStart = 0;
  for (let n = 0; n < 3; n++) lastStart = (await log.append([record(n, 200)])).start;
  const end = log.end;
  // Power loss with nothing in flight, then bit rot inside the last batch's payload.
  storage.crash();
  const segment = storage.paths().find((p) => p.endsWith('.qlog'))!;
  const flip = storage.flipBit(aimed(0, lastStart + 100, 3), (path) => path === segment);
  assert.equal(flip?.offset, lastStart + 100);
  await assert.rejects(openLog(storage), (error: Error) => error.name === 'LogCorruptError' && /crc/.test(error.message));

  // The same shape of damage from a write the power cut: never acknowledged, cut away.
  const storage2 = new SimStorage(seededPrng(5), { tornGarbageProbability: 1 });
  const log2 = await openLog(storage2);
  for (let n = 0; n < 2; n++) await log2.append([record(n, 200)]);
  const acknowledged = log2.end;
  let crashed = false;
  storage2.crashAfterOps(2, () => (crashed = true)); // the batch's write lands (maybe torn), its sync never runs
  void log2.append([record(9, 20_000)]);
  for (let i = 0; i < 50 && !crashed; i++) await Promise.resolve();
  assert.ok(crashed);
  assert.equal(storage2.stats.writesTorn, 1, 'this seed tears the write');
  const reopened = await openLog(storage2);
  assert.equal(reopened.end, acknowledged);
  await reopened.close();
  assert.ok(end > 0);
});

test('the flush map: one damaged slot falls back to the other; a log without one (older) gets one at open', async () => {
  const storage = new SimStorage(seededPrng(6));
  const log = await openLog(storage);
  for (let n = 0; n < 3; n++) await log.append([record(n)]);
  const end = log.end;
  await log.close();
  const mapPath = `${dir}/flush.map`;
  // Damage the slot written last: the other slot holds an earlier durable end, still true.
  const bytes = storage.durableBytes(mapPath)!;
  const newest = new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(8, true) > new DataView(bytes.buffer, bytes.byteOffset + 512).getBigUint64(8, true) ? 0 : 512;
  storage.flipBit(aimed(0, newest + 3, 0), (path) => path === mapPath);
  const reopened = await openLog(storage);
  assert.equal(reopened.end, end);
  await reopened.append([record(7)]);
  const after = reopened.end;
  await reopened.close();

  // Both slots damaged: how far the log was durable is unknown, so open refuses.
  storage.flipBit(aimed(0, 3, 0), (path) => path === mapPath);
  storage.flipBit(aimed(0, 512 + 3, 0), (path) => path === mapPath);
  await assert.rejects(openLog(storage), (error: Error) => error.name === 'LogCorruptError' && /flush map/.test(error.message));

  // No flush map at all (a log from before it): recovered by the older rule, then given one.
  await storage.remove(mapPath);
  await storage.syncDir(dir);
  const legacy = await openLog(storage);
  assert.equal(legacy.end, after);
  await legacy.close();
  assert.ok(storage.durableBytes(mapPath) !== null);
});

test('two logs in one process share the frame slots without overwriting each other in flight', async () => {
  const storage = new SimStorage(seededPrng(8));
  const logs = await Promise.all(['/a/log', '/b/log'].map((d) => TransactionLog.open({ dir: d, storage, clock: new VirtualClock(0) })));
  const appends: Array<Promise<unknown>> = [];
  for (let n = 0; n < 60; n++) {
    appends.push(logs[n % 2]!.append([record(n, 3000 + n)]));
    if (n % 7 === 0) await Promise.resolve();
  }
  await Promise.all(appends);
  for (const [index, log] of logs.entries()) {
    const seen: number[] = [];
    for await (const batch of log.read(0)) for (const r of batch.records) seen.push(new DataView(r.payload.buffer, r.payload.byteOffset).getUint32(0, true));
    assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => i * 2 + index));
    await log.close();
  }
});

test('a read in progress reads on to its end when segments before it are truncated meanwhile', async () => {
  // A passive copy replays (reads) while the supervisor truncates the segments its checkpoint
  // passed; the read must not lose its place in the segment list (it used to skip a segment:
  // a lagged copy's play-forward stopped a segment short, or read the wrong file).
  const storage = new SimStorage(seededPrng(9));
  const log = await openLog(storage, undefined, 4096);
  for (let n = 0; n < 40; n++) await log.append([record(n, 1000)]);
  const { segments } = log.segmentFiles();
  assert.ok(segments.length >= 5, `several segments (${segments.length})`);
  for (const from of [segments[1]!.start, segments.at(-2)!.start]) {
    const seen: number[] = [];
    let truncated = 0;
    for await (const batch of log.read(from)) {
      seen.push(new DataView(batch.records[0]!.payload.buffer, batch.records[0]!.payload.byteOffset).getUint32(0, true));
      if (truncated === 0) truncated = await log.truncateBefore(batch.end);
    }
    assert.ok(truncated >= 1, 'segments before the read went');
    const first = seen[0]!;
    assert.deepEqual(seen, Array.from({ length: 40 - first }, (_, i) => first + i), `every batch from ${from} to the end`);
  }
  await log.close();
});

test('under load a batch is marked durable by the next batch (few flush-map writes); a flip in an answered batch that only a later batch\'s mark covers is refused at open, found past the damage', async () => {
  const segment = `${dir}/${'0'.repeat(20)}.qlog`;
  /** Appends arriving while earlier ones are synced; crashes the power once `stop` says so in onDurable (the batch is marked, about to be answered). */
  const load = async (storage: SimStorage, stop: (batch: DurableBatch, index: number) => boolean) => {
    let index = 0;
    let crashed: DurableBatch | null = null;
    const log = await openLog(storage, (batch) => {
      if (crashed === null && stop(batch, index++)) {
        crashed = batch;
        storage.crash();
      }
    });
    for (let n = 0; n < 200 && crashed === null; n++) {
      void log.append([record(n, 300)]).catch(() => undefined);
      for (let i = 0; i < n % 5; i++) await Promise.resolve();
    }
    for (let i = 0; i < 200 && crashed === null; i++) await Promise.resolve();
    return { log, crashed: crashed as DurableBatch | null };
  };

  // Without a crash: far fewer flush-map writes than batches.
  const quiet = new SimStorage(seededPrng(11));
  const { log } = await load(quiet, () => false);
  await log.close();
  assert.ok(log.stats.batches >= 10, `batches ${log.stats.batches}`);
  assert.ok(log.stats.marks * 2 < log.stats.batches, `flush-map marks ${log.stats.marks} for ${log.stats.batches} batches`);

  // The power fails as the 8th batch is answered: only the 9th batch's mark says it was synced.
  const storage = new SimStorage(seededPrng(12));
  const { crashed } = await load(storage, (_, index) => index === 7);
  assert.ok(crashed !== null);
  const mapBytes = storage.durableBytes(`${dir}/flush.map`)!;
  const mapEnd = Math.max(...[0, 512].map((at) => Number(new DataView(mapBytes.buffer, mapBytes.byteOffset + at).getBigUint64(0, true))));
  assert.ok(mapEnd < crashed.end, `the flush map (${mapEnd}) does not cover the answered batch (${crashed.end})`);
  const copy = new SimStorage(seededPrng(13));
  await copy.mkdirp(dir);
  for (const path of storage.paths()) {
    const bytes = storage.durableBytes(path);
    if (bytes === null) continue;
    const file = await copy.open(path, { create: true });
    await file.write(0, bytes);
    await file.sync();
    await file.close();
  }
  await copy.syncDir(dir);
  const intact = await openLog(copy);
  assert.ok(intact.end >= crashed.end, `recovered to ${intact.end}, answered to ${crashed.end}`);
  await intact.close();
  const flip = storage.flipBit(aimed(0, crashed.start + 40, 1), (path) => path === segment);
  assert.equal(flip?.offset, crashed.start + 40);
  await assert.rejects(openLog(storage), (error: Error) => error.name === 'LogCorruptError' && /crc/.test(error.message));
});

test('a passive copy takes its durable marks from the batches it receives (few flush-map writes); a flip in a received batch only a later one marks is refused at open, a torn received batch is cut, `mark` and idleness write the flush map', async () => {
  const segment = `${dir}/${'0'.repeat(20)}.qlog`;
  const mapEnd = (storage: SimStorage): number => {
    const bytes = storage.durableBytes(`${dir}/flush.map`)!;
    return Math.max(...[0, 512].map((at) => Number(new DataView(bytes.buffer, bytes.byteOffset + at).getBigUint64(0, true))));
  };
  // An active log under load and one answering a single writer (its flush map marks every batch): the bytes it ships.
  const shipped: Array<{ start: number; bytes: Uint8Array }> = [];
  const active = await openLog(new SimStorage(seededPrng(21)), (batch) => void shipped.push({ start: batch.start, bytes: batch.bytes.slice() }));
  const appends: Array<Promise<unknown>> = [];
  for (let n = 0; n < 120; n++) {
    appends.push(active.append([record(n, 300)]));
    for (let i = 0; i < n % 5; i++) await Promise.resolve();
  }
  await Promise.all(appends);
  for (let n = 0; n < 10; n++) await active.append([record(n, 300)]);
  await active.close();
  assert.ok(shipped.length >= 20, `batches ${shipped.length}`);

  const receive = async (storage: SimStorage, clock: VirtualClock, count: number, stop?: number) => {
    const passive = await TransactionLog.open({ dir, storage, clock });
    for (const [index, batch] of shipped.slice(0, count).entries()) {
      await passive.appendFramed(batch.bytes, batch.start);
      if (index === stop) storage.crash();
    }
    return passive;
  };

  // A stream of received batches: the flush map is not written per batch; idleness writes it once.
  const quiet = new SimStorage(seededPrng(22));
  const clock = new VirtualClock(0);
  const passive = await receive(quiet, clock, shipped.length);
  assert.equal(passive.stats.marks, 0, 'no flush-map write while batches arrive');
  assert.ok(mapEnd(quiet) < passive.end);
  clock.advance(passiveMarkIdleMs);
  for (let i = 0; i < 20 && mapEnd(quiet) < passive.end; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(mapEnd(quiet), passive.end, 'an idle copy marks its tail');
  assert.equal(passive.stats.marks, 1);
  await passive.close();

  // The power fails after the 12th received batch: only the 13th batch's mark says it was synced.
  const storage = new SimStorage(seededPrng(23));
  const crashedAt = shipped[11]!;
  const crashed = await receive(storage, new VirtualClock(0), 13, 12);
  assert.ok(crashed.end > crashedAt.start + crashedAt.bytes.length);
  assert.ok(mapEnd(storage) <= crashedAt.start, `the flush map (${mapEnd(storage)}) does not cover the received batch at ${crashedAt.start}`);
  const flip = storage.flipBit(aimed(0, crashedAt.start + 60, 1), (path) => path === segment);
  assert.equal(flip?.offset, crashedAt.start + 60);
  await assert.rejects(TransactionLog.open({ dir, storage, clock: new VirtualClock(0) }), (error: Error) => error.name === 'LogCorruptError' && /crc/.test(error.message));

  // A received batch whose write the power cut (its sync never ran): never answered, cut away.
  const torn = new SimStorage(seededPrng(24), { tornGarbageProbability: 1 });
  const before = await receive(torn, new VirtualClock(0), 5);
  const answered = before.end;
  let cut = false;
  torn.crashAfterOps(2, () => (cut = true)); // the write lands (torn), its sync never runs
  void before.appendFramed(shipped[5]!.bytes, shipped[5]!.start);
  for (let i = 0; i < 50 && !cut; i++) await Promise.resolve();
  assert.ok(cut);
  assert.equal(torn.stats.writesTorn, 1, 'this seed tears the write');
  const reopened = await TransactionLog.open({ dir, storage: torn, clock: new VirtualClock(0) });
  assert.equal(reopened.end, answered);

  // `mark` (a sync-mode acknowledgement): the flush map covers the batch when the answer comes.
  await reopened.appendFramed(shipped[5]!.bytes, shipped[5]!.start, { mark: true });
  assert.equal(mapEnd(torn), reopened.end);
  await reopened.close();
});

test('a passive copy whose received batch fails to sync refuses further batches (a retry would be written past the failed one); reopened, it takes them again', async () => {
  const shipped: Array<{ start: number; bytes: Uint8Array }> = [];
  const active = await openLog(new SimStorage(seededPrng(31)), (batch) => void shipped.push({ start: batch.start, bytes: batch.bytes.slice() }));
  for (let n = 0; n < 8; n++) await active.append([record(n, 300)]);
  await active.close();

  const storage = new SimStorage(seededPrng(32));
  const passive = await TransactionLog.open({ dir, storage, clock: new VirtualClock(0) });
  for (const batch of shipped.slice(0, 3)) await passive.appendFramed(batch.bytes, batch.start);
  const failing = shipped[3]!;
  storage.failAfterOps(2); // the batch's write lands, its fdatasync fails
  await assert.rejects(passive.appendFramed(failing.bytes, failing.start));
  assert.equal(passive.end, failing.start);
  // Asked again (the transport retries from the copy's end): refused, not written after the failed write.
  await assert.rejects(passive.appendFramed(failing.bytes, failing.start));
  await passive.close();

  const reopened = await TransactionLog.open({ dir, storage, clock: new VirtualClock(0) });
  for (const batch of shipped) if (batch.start >= reopened.end) await reopened.appendFramed(batch.bytes, batch.start);
  const read: Uint8Array[] = [];
  for await (const batch of reopened.read(0)) read.push(batch.bytes.slice());
  assert.deepEqual(read.map((b) => Buffer.from(b).toString('hex')), shipped.map((b) => Buffer.from(b.bytes).toString('hex')));
  await reopened.close();
  assert.deepEqual(await TransactionLog.open({ dir, storage, clock: new VirtualClock(0) }).then(async (log) => [log.end, await log.close()][0]), shipped.at(-1)!.start + shipped.at(-1)!.bytes.length);
});
