// Reseed by snapshot and lagged copies, through a real supervisor with real worker processes
// (embedded shipping): a reseed after the active copy truncated its log (refused before
// snapshots), an interrupted snapshot copy that goes on from what it verified, a damaged staged
// file found by its checksum, and a lagged copy that receives at once, replays late, holds the
// active copy's truncation at what it inspected, survives a restart of its worker without
// replaying early, and plays forward on demand; a reseed asked while the active copy's worker
// restarts waits for it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CopyStatus } from '../supervisor.js';
import { MailboxDatabase } from '../database.js';
import { nodeStorage, seededPrng, systemClock } from '../io.js';
import { openRocksKv } from '../state/rocks.js';
import { copySnapshot, SeedVerifyError, type SnapshotFile, type SnapshotSource } from './seed.js';
import { crc32c } from '../checksum.js';
import { append, appendRandom, checkAcknowledged, logBytes, randomMessage, until, withTwoCopies } from './testing.js';

const copyOf = (copies: CopyStatus[], copy: number): CopyStatus => copies.find((c) => c.copy === copy)!;
const qlogs = (copyDir: string): string[] => readdirSync(join(copyDir, 'log')).filter((n) => n.endsWith('.qlog')).sort();

const body = randomMessage;

test('reseed by snapshot after the active copy truncated its log: state + tail copied, verified, caught up', { timeout: 120_000 }, async () => {
  await withTwoCopies('quire-reseed-', { durability: 'sync', logSegmentBytesMax: 64 * 1024, checkpointDepthBytes: 64 * 1024, truncateIntervalMs: 50 }, async ({ dir, supervisor, lines, api }) => {
    const acknowledged = new Map<number, string>();
    const write = (count: number): Promise<void> => appendRandom(api, count, acknowledged);
    await write(30);
    await until(async () => copyOf(await supervisor.list(), 1).logStartPosition > 0, 20_000, 'the active copy to truncate its log');

    // Damage the passive copy beyond repair from its own files: its state store is gone and its
    // log was truncated, so only a reseed brings it back.
    await supervisor.suspend('DB01', 'MBX1', 2);
    await write(5);
    const reseeding = supervisor.reseed('DB01', 'MBX1', 2);
    // A second request for the same copy follows the running one instead of failing.
    await Promise.all([reseeding, supervisor.reseed('DB01', 'MBX1', 2)]);
    assert.ok(lines.some((l) => /MBX1#2: seeding from a snapshot of DB01\\MBX1#1: \d+ files, \d+ bytes, log [1-9]\d*\.\.\d+; writes held [\d.]+ ms/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /MBX1#2: seeded \d+ bytes \(\d+ copied, 0 kept from an interrupted reseed, all verified\)/.test(l)), lines.join('\n'));
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.snapshot')), [], 'the snapshot (hard links) is removed after the reseed');
    assert.ok(!existsSync(join(dir, 'b.seeding')), 'the staging folder was swapped in');
    assert.ok(Number(qlogs(join(dir, 'b'))[0]!.slice(0, 20)) > 0, 'the reseeded copy holds the log tail only');
    await write(5);
    await until(async () => {
      const l = await supervisor.list();
      return copyOf(l, 2).state === 'Healthy' && copyOf(l, 2).lastReplayedPosition === copyOf(l, 1).lastLogPosition;
    }, 20_000, 'the reseeded copy to catch up');
    // Every segment both copies still have holds the same bytes.
    for (const name of qlogs(join(dir, 'b'))) {
      if (!existsSync(join(dir, 'a', 'log', name))) continue;
      const mine = readFileSync(join(dir, 'b', 'log', name));
      const theirs = readFileSync(join(dir, 'a', 'log', name));
      assert.ok(mine.equals(theirs.subarray(0, mine.length)), `segment ${name} matches`);
    }
    await supervisor.switchover('DB01', 'MBX1', 2);
    assert.deepEqual(await checkAcknowledged(api, 'm1', acknowledged), { missing: [], wrong: [] }, 'the reseeded copy, now active, serves every acknowledged message');
  });
});

test('snapshot copy: an interrupted copy goes on from what it verified; a damaged staged file is copied again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-seedcopy-'));
  try {
    const source = join(dir, 'snap');
    mkdirSync(join(source, 'state'), { recursive: true });
    mkdirSync(join(source, 'log'), { recursive: true });
    const contents: Record<string, Buffer> = {
      'state/000007.sst': randomBytes(9 * 1024 * 1024 + 17),
      'state/MANIFEST-000005': randomBytes(3000),
      'log/00000000000000000000.qlog': randomBytes(6 * 1024 * 1024),
    };
    for (const [path, bytes] of Object.entries(contents)) writeFileSync(join(source, path), bytes);
    // The last segment is longer on disk than the snapshot's end: only its first bytes belong to it.
    const files: SnapshotFile[] = Object.entries(contents).map(([path, bytes]) => ({ path, bytes: path.startsWith('log/') ? bytes.length - 100 : bytes.length }));
    const total = files.reduce((sum, f) => sum + f.bytes, 0);
    const staging = join(dir, 'copy.seeding');

    // First run: stopped (as a killed server would be) after 6 MiB (the log, then the SST file).
    await assert.rejects(
      copySnapshot(source, staging, files, {
        source: 'DB01\\MBX1#1',
        onProgress: (done) => {
          if (done >= 6 * 1024 * 1024) throw new Error('interrupted');
        },
      }),
      /interrupted/,
    );
    // Second run: the staged prefix is kept (and checked with the whole file).
    let progressSeen = 0;
    const second = await copySnapshot(source, staging, files, { source: 'DB01\\MBX1#1', onProgress: (done) => (progressSeen = done) });
    assert.equal(second.bytesTotal, total);
    assert.equal(progressSeen, total);
    assert.ok(second.bytesReused >= 6 * 1024 * 1024, `reused ${second.bytesReused}`);
    assert.equal(second.bytesCopied + second.bytesReused, total);
    for (const f of files) assert.ok(readFileSync(join(staging, f.path)).equals(contents[f.path]!.subarray(0, f.bytes)), `${f.path} copied exactly`);

    // Third run: every file was verified, so nothing is copied again.
    const third = await copySnapshot(source, staging, files, { source: 'DB01\\MBX1#1' });
    assert.equal(third.bytesCopied, 0);

    // A staged file whose bytes went bad (a lost write) fails its check and is copied whole again.
    const sst = join(staging, 'state/000007.sst');
    const bad = readFileSync(sst);
    bad[12345]! ^= 0x40;
    writeFileSync(sst, bad.subarray(0, 8 * 1024 * 1024));
    const fourth = await copySnapshot(source, staging, files, { source: 'DB01\\MBX1#1' });
    assert.ok(readFileSync(sst).equals(contents['state/000007.sst']!), 'the damaged file was copied again');
    assert.equal(fourth.bytesCopied, 9 * 1024 * 1024 + 17);

    // Files staged from another copy are never reused.
    const other = await copySnapshot(source, staging, files, { source: 'DB01\\MBX2#1' });
    assert.equal(other.bytesReused, 0);

    // A snapshot file shorter than the manifest says is an error, not a short copy.
    await assert.rejects(copySnapshot(source, join(dir, 'x'), [{ path: 'state/MANIFEST-000005', bytes: 4000 }], { source: 's' }), /ended at 3000 of 4000/);
    assert.ok(new SeedVerifyError('x') instanceof Error);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lagged copy receives at once, replays late, holds truncation at what it inspected, and plays forward on demand', { timeout: 120_000 }, async () => {
  await withTwoCopies('quire-lagged-', { durability: 'sync', logSegmentBytesMax: 64 * 1024, checkpointDepthBytes: 0, truncateIntervalMs: 50 }, async ({ dir, supervisor, lines, api }) => {
    await until(async () => copyOf(await supervisor.list(), 2).replayQueueLength === 0 && copyOf(await supervisor.list(), 2).copyQueueLength === 0, 20_000, 'the copy current');
    const before = copyOf(await supervisor.list(), 2).lastReplayedPosition;

    await supervisor.setLag('DB01', 'MBX1', 2, { replayLagMs: 3_600_000, truncationLagMs: 0 });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'lag.json'), 'utf8')), { 'MBX1#2': { replayLagMs: 3_600_000, truncationLagMs: 0 } }, 'the lag is kept in lag.json');
    const positions: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await api.commit({ mailboxId: 'm1', ops: [{ op: 'append', folder: 'INBOX', content: new TextEncoder().encode(body(i, 6_000)) }] });
      assert.ok(r.ok);
      positions.push(r.value.position);
    }
    let lagged = await until(async () => {
      const c = copyOf(await supervisor.list(), 2);
      return c.copyQueueLength === 0 && c.lastInspectedPosition === positions.at(-1) ? c : null;
    }, 20_000, 'the lagged copy to receive everything');
    assert.equal(lagged.role, 'lagged');
    assert.equal(lagged.replayLagTimeMs, 3_600_000);
    assert.equal(lagged.lastReplayedPosition, before, 'nothing replayed inside the lag');
    assert.equal(lagged.replayQueueLength, lagged.lastInspectedPosition - before);

    // Truncation: the active keeps only what the lagged copy has not inspected; the lagged copy
    // keeps everything it has not replayed.
    await until(async () => copyOf(await supervisor.list(), 1).logStartPosition > before, 20_000, 'the active copy to truncate past what the lagged copy replayed');
    assert.ok(Number(qlogs(join(dir, 'b'))[0]!.slice(0, 20)) <= before, 'the lagged copy keeps its unreplayed log');

    // A restarted worker does not replay early (its arrival times start again).
    const pid = copyOf(await supervisor.list(), 2).pid!;
    process.kill(pid, 'SIGKILL');
    lagged = await until(async () => {
      const c = copyOf(await supervisor.list(), 2);
      return c.pid !== null && c.pid !== pid && c.state === 'Healthy' && c.lastInspectedPosition === positions.at(-1) ? c : null;
    }, 20_000, 'the lagged copy to restart and hold the whole log again');
    assert.equal(lagged.lastReplayedPosition, before, `still nothing replayed after a restart: ${JSON.stringify(lagged)}`);

    // Play forward to a position (the end of the 10th append), then to the end.
    const played = await supervisor.playForward('DB01', 'MBX1', 2, { position: positions[9]! + 1 });
    assert.equal(played.lastReplayedPosition, positions[9], `replayed the whole batches up to the position: ${JSON.stringify(played)} ${positions.join(',')}`);
    const all = await supervisor.playForward('DB01', 'MBX1', 2);
    assert.equal(all.lastReplayedPosition, positions.at(-1), `played forward to the end: ${JSON.stringify(all)}\n${lines.join('\n')}`);
    assert.equal(all.replayQueueLength, 0);
    assert.ok(lines.some((l) => /MBX1#2 played forward to/.test(l)));

    // Not lagged any more: new log is replayed at once again.
    await supervisor.setLag('DB01', 'MBX1', 2, { replayLagMs: 0, truncationLagMs: 0 });
    const r = await append(api, 'm1', body(99, 100));
    assert.ok('uid' in r);
    await until(async () => {
      const c = copyOf(await supervisor.list(), 2);
      return c.role === 'passive' && c.replayQueueLength === 0 && c.lastReplayedPosition === copyOf(await supervisor.list(), 1).lastLogPosition;
    }, 20_000, 'replay at once');
    assert.ok(logBytes(join(dir, 'b')).length > 0);
  });
});

test('a reseed asked while the active copy restarts waits for it to mount again, then seeds from it', { timeout: 120_000 }, async () => {
  await withTwoCopies('quire-reseed-restart-', { durability: 'sync', restartsBeforeFailover: 50 }, async ({ supervisor, lines, api }) => {
    const acknowledged = new Map<number, string>();
    await appendRandom(api, 5, acknowledged);
    const pid = copyOf(await supervisor.list(), 1).pid!;
    process.kill(pid, 'SIGKILL');
    // The supervisor has seen the active worker go (said as it marks the copy Failed); it restarts
    // it (the failover budget is large) no sooner than 100 ms later.
    await until(() => lines.some((l) => l.includes(`worker ${pid} exited (SIGKILL); restarting`)), 20_000, 'the active copy to be seen down');
    await supervisor.reseed('DB01', 'MBX1', 2);
    const active = copyOf(await supervisor.list(), 1);
    assert.equal(active.role, 'active');
    assert.notEqual(active.pid, pid, 'seeded from the restarted worker');
    assert.ok(lines.some((l) => /MBX1#2: seeding from a snapshot of DB01\\MBX1#1/.test(l)), lines.join('\n'));
    await until(async () => {
      const l = await supervisor.list();
      return copyOf(l, 2).state === 'Healthy' && copyOf(l, 2).lastReplayedPosition === copyOf(l, 1).lastLogPosition;
    }, 20_000, 'the reseeded copy to catch up');
    assert.deepEqual(await checkAcknowledged(api, 'm1', acknowledged), { missing: [], wrong: [] });
  });
});

test("a snapshot carries the content index's snapshot: the copy opened on it resumes its index instead of crawling", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-seedindex-'));
  const open = (at: string) => MailboxDatabase.open({ name: 'DB01', dir: at, storage: nodeStorage(), clock: systemClock(), prng: seededPrng(5), openKv: openRocksKv, diskFreeBytesMin: 0 });
  try {
    let db = await open(join(dir, 'a'));
    assert.ok((await db.commit({ mailboxId: 'm', ops: [{ op: 'createMailbox', address: 'b@example.org', quotaBytes: null }] })).ok);
    for (let i = 0; i < 12; i++) {
      assert.ok((await db.commit({ mailboxId: 'm', ops: [{ op: 'append', folder: 'INBOX', content: new TextEncoder().encode(`Subject: ${i}\r\n\r\nword${i} text\r\n`) }] })).ok);
    }
    await db.close(); // writes the index's snapshot
    db = await open(join(dir, 'a'));
    const taken = await db.snapshot(join(dir, 'snap'));
    await db.close();
    assert.ok(taken.ok);
    const index = taken.value.files.find((f) => f.path === 'search/index.qsi');
    assert.ok(index !== undefined && index.bytes > 0, JSON.stringify(taken.value.files));
    await copySnapshot(join(dir, 'snap'), join(dir, 'b'), taken.value.files, { source: 'DB01\\MBX1#1' });
    assert.ok(readFileSync(join(dir, 'b', 'search', 'index.qsi')).equals(readFileSync(join(dir, 'a', 'search', 'index.qsi'))));
    const copy = await open(join(dir, 'b'));
    try {
      await copy.startIndexing();
      const status = copy.status().searchIndex;
      // Indexing runs off the commit path: the index's snapshot may miss the last documents, which the copy then indexes.
      assert.ok(status.documentsLoaded > 0, `${status.documentsLoaded} documents came from the snapshot`);
      assert.deepEqual([status.state, status.documents], ['Healthy', copy.durableState().contents.size]);
    } finally {
      await copy.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('snapshot copy from a source that starts where the staged prefix ends (another server): the prefix is checked by CRC32C, not sent again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-seedresume-'));
  try {
    const contents: Record<string, Buffer> = { 'log/00000000000000000000.qlog': randomBytes(10 * 1024 * 1024 + 123), 'state/000007.sst': randomBytes(3 * 1024 * 1024) };
    const files: SnapshotFile[] = Object.entries(contents).map(([path, bytes]) => ({ path, bytes: bytes.length }));
    const asked: Array<{ path: string; from: number }> = [];
    /** What server/peers.ts gives: reads from `from`, with the CRC32C of the bytes before it. */
    const remote: SnapshotSource = {
      async open(path, from) {
        asked.push({ path, from });
        const bytes = contents[path]!;
        let position = from;
        return {
          ...(from > 0 ? { prefixChecksum: crc32c(bytes.subarray(0, from)) } : {}),
          async read(into, length) {
            const n = Math.min(length, bytes.length - position);
            into.set(bytes.subarray(position, position + n));
            position += n;
            return n;
          },
          async close() {},
        };
      },
    };
    const interrupted = (staging: string) =>
      assert.rejects(
        copySnapshot(remote, staging, files, {
          source: 'DB01\\MBX1#1',
          onProgress: (done) => {
            if (done >= 5 * 1024 * 1024) throw new Error('interrupted');
          },
        }),
        /interrupted/,
      );
    const log = 'log/00000000000000000000.qlog';

    // Resumed: the log goes on from what was staged, which is never asked for again.
    const staging = join(dir, 'one');
    await interrupted(staging);
    asked.length = 0;
    const resumed = await copySnapshot(remote, staging, files, { source: 'DB01\\MBX1#1' });
    const from = asked.find((a) => a.path === log)!.from;
    assert.ok(from >= 4 * 1024 * 1024, `the log was asked from ${from}`);
    assert.ok(resumed.bytesReused >= from, `reused ${resumed.bytesReused}`);
    for (const f of files) assert.ok(readFileSync(join(staging, f.path)).equals(contents[f.path]!), `${f.path} copied exactly`);

    // A staged prefix that is not the snapshot's fails its CRC32C: the file is asked for whole.
    const other = join(dir, 'two');
    await interrupted(other);
    const staged = readFileSync(join(other, log));
    staged[100]! ^= 0x01;
    writeFileSync(join(other, log), staged);
    asked.length = 0;
    await copySnapshot(remote, other, files, { source: 'DB01\\MBX1#1' });
    assert.deepEqual(asked.filter((a) => a.path === log).map((a) => a.from > 0), [true, false]);
    assert.ok(readFileSync(join(other, log)).equals(contents[log]!), 'the damaged log was copied again');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
