// Reseed of a copy from the active copy on another server, end to end: two real `quire start`
// processes, Kafka, the schema registry and OpenLDAP (scripts/services), sync mode.
// `quire db reseed DB01 --copy MBX2#1` (run against MBX2, throttled) takes a snapshot on MBX1
// over the peer HTTPS API; kill -9 of MBX2 interrupts it, and its copy's files are removed. Back
// up with an empty log, the copy stops at the gap and its status names the command to run; the
// next reseed keeps what the first copied and verified, the copy catches up from Kafka, takes
// more mail, and holds the active copy's log byte for byte; then MBX1 dies and MBX2's reseeded
// copy, taking over, serves every acknowledged message over IMAP.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, closeQuietly, deliver, imapClient, subjects } from '../scripts/soak/cluster.js';

const bin = fileURLToPath(new URL('../../bin/quire.js', import.meta.url));

/** A copy's log by position up to `end`: its segments (named by their first position) laid end to end. */
function logFrom(dir: string, end: number): { start: number; bytes: Buffer } {
  const names = readdirSync(join(dir, 'log')).filter((n) => n.endsWith('.qlog')).sort();
  const starts = names.map((n) => Number(n.slice(0, 20)));
  const parts = names.map((n, i) => {
    const bytes = readFileSync(join(dir, 'log', n));
    return i + 1 < names.length ? bytes.subarray(0, starts[i + 1]! - starts[i]!) : bytes;
  });
  const start = starts[0] ?? 0;
  return { start, bytes: Buffer.concat(parts).subarray(0, end - start) };
}

test('a copy is reseeded from the active copy on another server: interrupted, resumed, caught up, byte-identical, serving after a takeover', { timeout: 420_000 }, async () => {
  const started = Date.now();
  const cluster = await Cluster.start({ servers: 2, durability: 'sync' });
  /** The steps' times, printed at the end (what this test costs CI). */
  const steps: string[] = [];
  const step = (what: string): number => steps.push(`${((Date.now() - started) / 1000).toFixed(1)} s ${what}`);
  step('cluster up');
  const db01 = (i: number): Record<string, any> => cluster.list(i).find((c) => c.database === 'DB01')! as unknown as Record<string, any>;
  const copyDir = (i: number): string => join(cluster.servers[i]!.dataDir, 'databases', 'DB01', `MBX${i + 1}-1`);
  const acknowledged: string[] = [];
  const send = async (subject: string): Promise<void> => {
    assert.ok(await deliver(cluster, 0, subject), `LMTP 250 for ${subject}`);
    acknowledged.push(subject);
  };
  const caughtUp = (what: string) => cluster.until(() => {
    const copy = db01(1);
    return copy.state === 'Healthy' && copy.lastLogPosition === db01(0).lastLogPosition;
  }, 90_000, what);
  try {
    // Some megabytes of mail, so a throttled reseed is caught under way.
    const client = imapClient(cluster.ports(0).imap!);
    await client.connect();
    for (let i = 0; i < 8; i++) {
      const subject = `appended ${i}`;
      await client.append('INBOX', `From: alice@example.org\r\nSubject: ${subject}\r\n\r\n${randomBytes(300_000).toString('base64').replace(/(.{76})/g, '$1\r\n')}\r\n`);
      acknowledged.push(subject);
    }
    await closeQuietly(client);
    await caughtUp('MBX2 to catch up');
    step('filled, MBX2 current');

    // A throttled reseed of MBX2's copy from MBX1 (run against MBX2), interrupted by kill -9 of
    // MBX2 once it has copied some; the copy's own files are lost with it.
    const first = spawn(process.execPath, [bin, 'db', 'reseed', 'DB01', '--copy', 'MBX2#1', '--max-rate', '512K', '--data', cluster.servers[1]!.dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let bar = '';
    first.stderr!.on('data', (chunk: Buffer) => (bar += chunk.toString()));
    await cluster.until(() => {
      const copy = db01(1);
      return copy.state === 'Seeding' && copy.seedBytesCopied > 2 * 1024 * 1024 && copy.seedBytesCopied < copy.seedBytesTotal;
    }, 60_000, 'the reseed to be under way');
    assert.match(cluster.servers[1]!.output, /DB01\\MBX2#1: seeding from a snapshot of DB01\\MBX1#1 on MBX1: \d+ files, \d+ bytes, log \d+\.\.\d+/);
    assert.match(cluster.servers[0]!.output, /DB01\\MBX1#1: a snapshot for MBX2#1 to seed from/);
    await cluster.until(() => /\d+% [\d.]+ \/ [\d.]+ MiB [\d.]+ MiB\/s/.test(bar), 10_000, 'the progress bar');
    step('reseed under way');
    cluster.kill(1);
    await new Promise((resolve) => (first.exitCode !== null ? resolve(null) : first.once('exit', resolve)));
    assert.notEqual(first.exitCode, 0, 'the CLI reports the lost server');
    assert.ok(existsSync(join(`${copyDir(1)}.seeding`, 'seed.json')), 'the staged files stay for the next reseed');
    rmSync(copyDir(1), { recursive: true, force: true });

    // Back up with an empty log, the copy stops at the gap and its status says what to run.
    await cluster.startServer(1);
    await send('after the loss');
    await cluster.until(() => db01(1).state === 'Failed', 90_000, "MBX2's empty copy to stop at the gap");
    assert.match(String(db01(1).error), /gap.*reseed this copy: quire db reseed DB01 --copy MBX2#1/, JSON.stringify(db01(1)));
    step('MBX2 restarted empty, stopped at the gap');

    // The reseed goes on from what the first one copied and verified (--json: the copy's status).
    const second = spawnSync(process.execPath, [bin, 'db', 'reseed', 'DB01', '--copy', 'MBX2#1', '--json', '--data', cluster.servers[1]!.dataDir], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(second.status, 0, `${second.stderr}\n${cluster.servers[1]!.output.slice(-3000)}`);
    assert.match(second.stderr, /100% /);
    const status = JSON.parse(second.stdout) as Record<string, any>;
    assert.equal(status.server, 'MBX2');
    assert.equal(status.role, 'passive');
    step('reseeded');
    const seeded = /DB01\\MBX2#1: seeded (\d+) bytes \((\d+) copied, (\d+) kept from an interrupted reseed, all verified\)/;
    await cluster.until(() => seeded.test(cluster.servers[1]!.output), 10_000, 'the seeded line');
    const kept = seeded.exec(cluster.servers[1]!.output)!;
    assert.ok(Number(kept[3]) >= 512 * 1024, `the second reseed kept what the first copied (${kept[0]})`);
    // The snapshot served to MBX2 is removed on MBX1 once read.
    await cluster.until(() => readdirSync(join(cluster.servers[0]!.dataDir, 'databases', 'DB01')).every((n) => !n.includes('.snapshot')), 10_000, "MBX1's snapshot folder to be removed");

    // The peer routes take the peer token only, a folder-safe server name, and serve only files a live snapshot named.
    const peerToken = (JSON.parse(readFileSync(join(cluster.servers[0]!.dataDir, 'secrets', 'peer.json'), 'utf8')) as { token: string }).token;
    const ask = (path: string, body: unknown, token?: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const headers = { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) };
        const req = httpsRequest({ host: '127.0.0.1', port: cluster.ports(0).https!, path, method: 'POST', rejectUnauthorized: false, headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    assert.equal(await ask('/peer/v1/snapshot', { database: 'DB01', server: 'MBX2', copy: 1 }), 401);
    assert.equal(await ask('/peer/v1/snapshot', { database: 'DB01', server: 'MBX2', copy: 1 }, 'not-the-token'), 401);
    assert.equal(await ask('/peer/v1/snapshot', { database: 'DB01', server: '../MBX2', copy: 1 }, peerToken), 400);
    assert.equal(await ask('/peer/v1/snapshot/file', { id: 'none', path: '../../secrets/peer.json' }, peerToken), 404);

    // It catches up from Kafka, takes more mail, and its log is the active copy's, byte for byte.
    for (let n = 0; n < 3; n++) await send(`after the reseed ${n}`);
    await caughtUp('the reseeded copy to catch up');
    step('caught up');
    const end = db01(0).lastLogPosition as number;
    const [ours, theirs] = [logFrom(copyDir(1), end), logFrom(copyDir(0), end)];
    const from = Math.max(ours.start, theirs.start);
    assert.ok(from < end, `both copies hold log from ${from} (${ours.start}, ${theirs.start}) to ${end}`);
    assert.equal(ours.start + ours.bytes.length, end, "the reseeded copy's log reaches the active copy's end");
    assert.ok(ours.bytes.subarray(from - ours.start, end - ours.start).equals(theirs.bytes.subarray(from - theirs.start, end - theirs.start)), `the log from ${from} to ${end} is the active copy's, byte for byte`);

    // MBX1 dies: the reseeded copy takes over and serves every acknowledged message (sync: none lost).
    cluster.kill(0);
    await cluster.until(() => db01(1).role === 'active' && db01(1).state === 'Mounted', 90_000, 'MBX2 to take DB01 over');
    const present = await subjects(cluster, 1);
    assert.deepEqual(acknowledged.filter((s) => !present.has(s)), [], 'every acknowledged message is on the reseeded copy');
    step(`MBX2 took over, ${present.size} messages`);
  } finally {
    console.log(steps.join('\n'));
    const stuck = await cluster.stop();
    assert.deepEqual(stuck, [], 'the servers shut down cleanly on SIGTERM');
  }
});
