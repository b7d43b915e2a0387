// Proves the embedded transport with real worker processes: a passive copy stores exactly the
// active copy's log bytes (the files compare equal), suspend holds it back and resume catches
// it up, copy status shows the queues, a planned switchover moves the active role without a
// client noticing (the same routing object keeps working) and loses nothing, and a failover
// fences the old active so its writes are refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MailboxApi } from '../api.js';
import { Supervisor, type CopyStatus } from '../supervisor.js';
import { append, appendRandom, checkAcknowledged, createMailbox, logBytes, until, withTwoCopies } from './testing.js';
import type { DivergentTail } from './divergence.js';

const copyOf = (list: CopyStatus[], copy: number): CopyStatus => list.find((c) => c.copy === copy)!;

test('embedded shipping: byte-identical copies, suspend/resume, switchover and failover', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-embedded-'));
  const dirs = [join(dir, 'DB01', 'MBX1-1'), join(dir, 'DB01', 'MBX1-2')];
  const supervisor = new Supervisor({
    durability: 'sync',
    copies: [
      { database: 'DB01', server: 'MBX1', copy: 1, role: 'active', dir: dirs[0]! },
      { database: 'DB01', server: 'MBX1', copy: 2, role: 'passive', dir: dirs[1]! },
    ],
  });
  try {
    await supervisor.start();
    await until(async () => (await supervisor.list()).every((c) => c.state === 'Mounted' || c.state === 'Healthy'), 20_000, 'copies up');
    const api = supervisor.api('DB01');
    await createMailbox(api, 'm1', 'a@example.org');
    const acknowledged = new Map<number, string>();
    const write = async (n: number, tag: string): Promise<void> => {
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const body = `Subject: ${tag} ${i}\r\n\r\n${'y'.repeat(i * 37)}\r\n`;
          const r = await append(api, 'm1', body);
          assert.ok('uid' in r, `append refused: ${JSON.stringify(r)}`);
          acknowledged.set(r.uid, body);
        }),
      );
    };
    await write(40, 'first');

    // Sync mode: acknowledged means the passive copy has it, so the logs already match.
    let list = await supervisor.list();
    assert.equal(copyOf(list, 2).lastLogPosition, copyOf(list, 1).lastLogPosition);
    assert.equal(copyOf(list, 2).copyQueueLength, 0);
    assert.equal(copyOf(list, 2).state, 'Healthy');
    assert.equal(copyOf(list, 1).state, 'Mounted');
    assert.ok(logBytes(dirs[0]!).equals(logBytes(dirs[1]!)), 'passive log is byte-identical to the active log');

    // Suspended: the copy holds its place and its copy queue grows.
    await supervisor.suspend('DB01', 'MBX1', 2);
    await write(10, 'while suspended');
    list = await supervisor.list();
    assert.equal(copyOf(list, 2).state, 'Suspended');
    assert.ok(copyOf(list, 2).copyQueueLength > 0, 'copy queue grows while suspended');
    await supervisor.resume('DB01', 'MBX1', 2);
    await until(async () => copyOf(await supervisor.list(), 2).copyQueueLength === 0, 20_000, 'catch-up after resume');
    assert.ok(logBytes(dirs[0]!).equals(logBytes(dirs[1]!)));

    // Planned switchover while writers run: the same routing object serves throughout.
    const during = write(30, 'during switchover');
    await supervisor.switchover('DB01', 'MBX1', 2);
    await during;
    list = await supervisor.list();
    assert.equal(copyOf(list, 2).role, 'active');
    assert.equal(copyOf(list, 2).state, 'Mounted');
    assert.equal(copyOf(list, 1).role, 'passive');
    assert.ok(copyOf(list, 2).activationGeneration >= 2);
    await write(10, 'after switchover');
    await until(async () => {
      const l = await supervisor.list();
      return copyOf(l, 1).state === 'Healthy' && copyOf(l, 1).lastLogPosition === copyOf(l, 2).lastLogPosition;
    }, 20_000, 'old active to catch up as passive');
    assert.ok(logBytes(dirs[0]!).equals(logBytes(dirs[1]!)), 'logs still byte-identical after the roles swapped');
    let check = await checkAcknowledged(api, 'm1', acknowledged);
    assert.deepEqual(check, { missing: [], wrong: [] });

    // Failover away from copy 2: it is stopped for good; its client is told the database is unavailable.
    const old = supervisor.copyClient('DB01', 'MBX1', 2);
    await supervisor.failover('DB01', 'test');
    list = await supervisor.list();
    assert.equal(copyOf(list, 1).role, 'active');
    assert.equal(copyOf(list, 2).state, 'Failed');
    const refused = await old.commit({ mailboxId: 'm1', ops: [{ op: 'append', folder: 'INBOX', content: new TextEncoder().encode('Subject: zombie\r\n\r\n') }] });
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.code, 'DATABASE_UNAVAILABLE');
    await write(5, 'after failover');
    check = await checkAcknowledged(api, 'm1', acknowledged);
    assert.deepEqual(check, { missing: [], wrong: [] });

    // The failed copy rejoins as a passive copy and catches up.
    await supervisor.resume('DB01', 'MBX1', 2);
    await until(async () => {
      const l = await supervisor.list();
      return copyOf(l, 2).state === 'Healthy' && copyOf(l, 2).lastLogPosition === copyOf(l, 1).lastLogPosition;
    }, 20_000, 'failed copy to rejoin');
    assert.ok(logBytes(dirs[0]!).equals(logBytes(dirs[1]!)));

    // Reseed: the copy's files are replaced by a snapshot of the active copy (state + log tail);
    // it replays the tail past the snapshot's checkpoint and catches up.
    await supervisor.suspend('DB01', 'MBX1', 2);
    await write(10, 'before reseed');
    await supervisor.reseed('DB01', 'MBX1', 2);
    await until(async () => {
      const l = await supervisor.list();
      return copyOf(l, 2).state === 'Healthy' && copyOf(l, 2).lastLogPosition === copyOf(l, 1).lastLogPosition;
    }, 20_000, 'reseeded copy to catch up');
    assert.ok(logBytes(dirs[0]!).equals(logBytes(dirs[1]!)), 'the reseeded copy holds the same bytes');
    await supervisor.switchover('DB01', 'MBX1', 2);
    check = await checkAcknowledged(api, 'm1', acknowledged);
    assert.deepEqual(check, { missing: [], wrong: [] }, 'the reseeded copy, now active, serves every acknowledged message');
  } finally {
    await supervisor.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('async mode, kill -9 of the active worker: failover reads the last batches from its files and loses nothing acknowledged', { timeout: 120_000 }, async () => {
  const options = { durability: 'async' as const, mountDial: 'lossless' as const, restartsBeforeFailover: 0 };
  await withTwoCopies('quire-embedded-kill-', options, async ({ supervisor, lines, api }) => {
    const acknowledged = new Map<number, string>();
    let stop = false;
    let n = 0;
    const writers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const body = `Subject: async ${n++}\r\n\r\n${'a'.repeat((n * 71) % 2000)}\r\n`;
        const r = await append(api, 'm1', body);
        if ('uid' in r) acknowledged.set(r.uid, body);
        else {
          assert.equal(r.code, 'DATABASE_UNAVAILABLE', r.message);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    });
    const wait = <T>(fn: () => Promise<T | null | false> | T | null | false, ms: number, what: string): Promise<T> =>
      until(fn, ms, what).catch((error: Error) => {
        throw new Error(`${error.message}\n${lines.join('\n')}`);
      });
    for (let round = 0; round < 3; round++) {
      const before = acknowledged.size;
      await wait(() => acknowledged.size >= before + 100, 30_000, 'load');
      const active = (await supervisor.list()).find((c) => c.role === 'active')!;
      process.kill(active.pid!, 'SIGKILL');
      await wait(async () => (await supervisor.list()).some((c) => c.role === 'active' && c.state === 'Mounted' && c.server !== active.server), 30_000, 'failover');
      await supervisor.resume('DB01', active.server);
      await wait(async () => (await supervisor.list()).some((c) => c.server === active.server && c.state === 'Healthy'), 30_000, 'old copy back as passive');
    }
    stop = true;
    await Promise.all(writers);
    assert.deepEqual(await checkAcknowledged(api, 'm1', acknowledged), { missing: [], wrong: [] }, lines.join('\n'));
    assert.ok(!lines.some((l) => /not mounting|failed/.test(l)), lines.join('\n'));
  }, 'MBX2');
});

test('log truncation: copies delete segments every copy has replayed; a suspended copy holds it, with a warning', { timeout: 120_000 }, async () => {
  const segments = (copyDir: string): number => readdirSync(join(copyDir, 'log')).filter((n) => n.endsWith('.qlog')).length;
  // The passive copy truncates below its own checkpoint: keep it shallow so this small load moves it.
  const options = { durability: 'sync' as const, logSegmentBytesMax: 64 * 1024, checkpointDepthBytes: 64 * 1024, truncateIntervalMs: 50 };
  await withTwoCopies('quire-embedded-truncate-', options, async ({ dir, supervisor, lines, api }) => {
    const write = (count: number): Promise<void> => appendRandom(api, count);
    await write(20);
    await until(async () => (await supervisor.list()).every((c) => c.logStartPosition > 0), 20_000, 'both copies to truncate');
    assert.ok(segments(join(dir, 'a')) < 5, `active keeps few segments (${segments(join(dir, 'a'))})`);

    await supervisor.suspend('DB01', 'MBX1', 2);
    const held = copyOf(await supervisor.list(), 2).lastReplayedPosition;
    await write(30);
    await until(() => lines.some((l) => /warning: .*MBX1#2 \(Suspended\) holds log truncation/.test(l)), 20_000, 'the truncation warning');
    const active = copyOf(await supervisor.list(), 1);
    assert.ok(active.logStartPosition <= held, `the active keeps what the suspended copy needs (${active.logStartPosition} <= ${held})`);
    assert.ok(active.lastLogPosition - active.logStartPosition > 30 * 10_000, 'the active log grows while a copy is suspended');

    await supervisor.resume('DB01', 'MBX1', 2);
    await until(async () => {
      const l = await supervisor.list();
      return copyOf(l, 2).lastLogPosition === copyOf(l, 1).lastLogPosition && copyOf(l, 1).logStartPosition > held;
    }, 30_000, 'catch-up after resume, then truncation past the hold');
    const r = await api.listMessages('m1', 'INBOX');
    assert.ok(r.ok && r.value.messages.length === 50);
  });
});

/**
 * A failover past a tail only the active copy has: MBX1 (active) and MBX2 acknowledge `common`,
 * then MBX1 acknowledges `tail` while MBX2 is suspended (async: durable on MBX1 only), hangs
 * (its catch-up read hangs with it) while MBX2 resumes, and MBX2 is failed over to. Returns both
 * sets of appends, MBX1's log end and the failover's outcome (settled).
 */
async function failoverPastATail(
  supervisor: Supervisor,
  api: MailboxApi,
): Promise<{ common: Map<number, string>; tail: Map<number, string>; oldEnd: number; failover: Promise<void> }> {
  const copyOf = async (server: string): Promise<CopyStatus> => (await supervisor.list()).find((c) => c.server === server)!;
  const common = new Map<number, string>();
  const tail = new Map<number, string>();
  for (let i = 0; i < 10; i++) {
    const body = `Subject: common ${i}\r\n\r\n`;
    const r = await append(api, 'm1', body);
    assert.ok('uid' in r);
    common.set(r.uid, body);
  }
  await until(async () => (await copyOf('MBX2')).lastLogPosition === (await copyOf('MBX1')).lastLogPosition, 30_000, 'passive caught up');
  await supervisor.suspend('DB01', 'MBX2');
  for (let i = 0; i < 5; i++) {
    const body = `Subject: only on the old active ${i}\r\n\r\n${'t'.repeat(100 + i)}\r\n`;
    const r = await append(api, 'm1', body);
    assert.ok('uid' in r);
    tail.set(r.uid, body);
  }
  const old = await copyOf('MBX1');
  process.kill(old.pid!, 'SIGSTOP');
  try {
    await supervisor.resume('DB01', 'MBX2');
    await until(async () => (await copyOf('MBX2')).state === 'Healthy', 30_000, 'MBX2 resumed');
    // failover() kills the hung worker (SIGKILL) before anything else.
    const failover = supervisor.failover('DB01', 'test: MBX1 hangs');
    await failover.catch(() => {});
    return { common, tail, oldEnd: old.lastLogPosition, failover };
  } finally {
    try {
      process.kill(old.pid!, 'SIGCONT');
    } catch {
      // killed by the failover
    }
  }
}

test('a lossy failover (copy last logs off): the old active comes back divergent, is cut back to the common point and reports its lost tail; a restart keeps the new active', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-embedded-diverge-'));
  const lines: string[] = [];
  const tails: DivergentTail[] = [];
  const options = {
    durability: 'async' as const,
    mountDial: 'best' as const,
    restartsBeforeFailover: 0,
    attemptCopyLastLogs: false,
    log: (line: string) => lines.push(line),
    onDivergentTail: (tail: DivergentTail) => void tails.push(tail),
    copies: [
      { database: 'DB01', server: 'MBX1', copy: 1, role: 'active' as const, dir: join(dir, 'a') },
      { database: 'DB01', server: 'MBX2', copy: 1, role: 'passive' as const, dir: join(dir, 'b') },
    ],
  };
  let supervisor = new Supervisor(options);
  const wait = <T>(fn: () => Promise<T | null | false> | T | null | false, what: string): Promise<T> =>
    until(fn, 30_000, what).catch((error: Error) => {
      throw new Error(`${error.message}\n${lines.join('\n')}`);
    });
  const copyOf = async (server: string): Promise<CopyStatus> => (await supervisor.list()).find((c) => c.server === server)!;
  try {
    await supervisor.start();
    await wait(async () => (await copyOf('MBX2')).state === 'Healthy', 'passive up');
    const api = supervisor.api('DB01');
    await createMailbox(api, 'm1', 'a@example.org');
    // MBX2 is activated without the last logs: a lossy failover, as when a server vanishes.
    const { common, tail: onlyOld, oldEnd, failover } = await failoverPastATail(supervisor, api);
    await failover;
    const tailSizes = [...onlyOld.values()].map((body) => Buffer.byteLength(body));
    const mounted = await copyOf('MBX2');
    assert.equal(mounted.role, 'active');
    assert.ok(mounted.lastLogPosition < oldEnd, `MBX2 mounted at ${mounted.lastLogPosition}, before the old end ${oldEnd}`);
    const commonPoint = mounted.lastLogPosition;
    // The new active writes at the positions the old tail holds.
    const after = new Map<number, string>();
    for (let i = 0; i < 3; i++) {
      const body = `Subject: on the new active ${i}\r\n\r\n`;
      const r = await append(api, 'm1', body);
      assert.ok('uid' in r, JSON.stringify(r));
      after.set(r.uid, body);
    }

    await supervisor.resume('DB01', 'MBX1');
    await wait(async () => {
      const c = await copyOf('MBX1');
      return c.state === 'Healthy' && c.lastLogPosition === (await copyOf('MBX2')).lastLogPosition;
    }, 'the old active to be cut back and catch up');
    assert.equal(tails.length, 1, lines.join('\n'));
    // The revived old active takes no writes, and its client is told why.
    const zombie = await supervisor.copyClient('DB01', 'MBX1').commit({ mailboxId: 'm1', ops: [{ op: 'append', folder: 'INBOX', content: new TextEncoder().encode('Subject: zombie\r\n\r\n') }] });
    assert.equal(zombie.ok, false);
    assert.equal(!zombie.ok && zombie.code, 'NOT_ACTIVE');
    assert.match(!zombie.ok ? zombie.message : '', /passive/);
    const tail = tails[0]!;
    assert.equal(tail.from, commonPoint);
    assert.equal(tail.to, oldEnd);
    assert.ok(tail.cut);
    assert.deepEqual(tail.appends.map((a) => a.sizeBytes), tailSizes, 'the tail names exactly the 5 appends only the old active had');
    assert.deepEqual([...new Set(tail.appends.map((a) => a.folder))], ['INBOX']);
    assert.ok(logBytes(join(dir, 'a')).equals(logBytes(join(dir, 'b'))), 'the cut-back copy is byte-identical to the new active');
    assert.equal(readFileSync(tail.savedTo).length, oldEnd - commonPoint, 'the cut-off bytes are kept');
    assert.deepEqual(await checkAcknowledged(api, 'm1', new Map([...common, ...after])), { missing: [], wrong: [] });

    // A restart keeps MBX2 active (activation.json), and the cut-back MBX1 stays a clean passive copy.
    await supervisor.stop();
    supervisor = new Supervisor(options);
    await supervisor.start();
    await wait(async () => (await copyOf('MBX1')).state === 'Healthy', 'MBX1 passive after the restart');
    assert.equal((await copyOf('MBX2')).role, 'active');
    assert.deepEqual(await checkAcknowledged(supervisor.api('DB01'), 'm1', new Map([...common, ...after])), { missing: [], wrong: [] });
    assert.equal(tails.length, 1);
  } finally {
    await supervisor.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('failover copies the last logs from the failed copy\'s files; without them the lossless mount dial refuses to mount', { timeout: 120_000 }, async () => {
  // Copy last logs on (the default): the tail only MBX1 had is read from its files, so the lossless dial mounts with nothing lost.
  await withTwoCopies('quire-embedded-lastlogs-', { durability: 'async', mountDial: 'lossless', restartsBeforeFailover: 0 }, async ({ supervisor, lines, api }) => {
    const { common, tail, oldEnd, failover } = await failoverPastATail(supervisor, api);
    await failover;
    const mounted = (await supervisor.list()).find((c) => c.server === 'MBX2')!;
    assert.equal(mounted.role, 'active');
    assert.equal(mounted.lastLogPosition, oldEnd, lines.join('\n'));
    assert.ok(lines.some((l) => /DB01: fetched \d+ bytes of log from DB01\\MBX1#1's files/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /failover to DB01\\MBX2#1 at generation \d+, log \d+, 0 bytes lost/.test(l)), lines.join('\n'));
    assert.deepEqual(await checkAcknowledged(api, 'm1', new Map([...common, ...tail])), { missing: [], wrong: [] });
  }, 'MBX2');
  // Copy last logs off: MBX2 lacks the tail, and the lossless dial (0 bytes) will not mount it.
  await withTwoCopies('quire-embedded-dial-', { durability: 'async', mountDial: 'lossless', restartsBeforeFailover: 0, attemptCopyLastLogs: false }, async ({ supervisor, lines, api }) => {
    const { failover } = await failoverPastATail(supervisor, api);
    await assert.rejects(failover, /DB01\\MBX2#1 lacks \d+ bytes of acknowledged log; the lossless mount dial allows 0: not mounting/);
    const copies = await supervisor.list();
    assert.ok(!copies.some((c) => c.role === 'active' && c.state === 'Mounted'), `nothing mounted: ${JSON.stringify(copies)}\n${lines.join('\n')}`);
  }, 'MBX2');
});
